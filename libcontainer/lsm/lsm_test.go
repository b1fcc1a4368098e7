package lsm

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckHostNamesTheField(t *testing.T) {
	if err := CheckHost("config.json", &specs.Process{}, &specs.Linux{}); err != nil {
		t.Fatalf("CheckHost without LSM settings: %v", err)
	}
	cases := []struct {
		name    string
		enabled bool
		proc    *specs.Process
		linux   *specs.Linux
		want    string
	}{
		{"apparmor", AppArmorEnabled(), &specs.Process{ApparmorProfile: "berth-test"}, nil,
			`config.json: process.apparmorProfile "berth-test": AppArmor is not enabled on this host`},
		{"selinux label", SELinuxEnabled(), &specs.Process{SelinuxLabel: "system_u:system_r:container_t:s0"}, nil,
			`config.json: process.selinuxLabel: SELinux is not enabled on this host`},
		{"mount label", SELinuxEnabled(), nil, &specs.Linux{MountLabel: "system_u:object_r:container_file_t:s0"},
			`config.json: linux.mountLabel: SELinux is not enabled on this host`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckHost("config.json", c.proc, c.linux)
			if c.enabled {
				if err != nil {
					t.Errorf("the host runs the module, yet: %v", err)
				}
				return
			}
			if err == nil || err.Error() != c.want {
				t.Errorf("CheckHost = %v, want %s", err, c.want)
			}
		})
	}
}

// TestAttrsWrites: what reaches the attribute files is what libapparmor
// (aa_change_onexec) and libselinux (setexeccon, setkeycreatecon) write.
// Regular files stand in for the procfs ones, which only a host running
// the module accepts.
