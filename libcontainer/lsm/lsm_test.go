package lsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestMountContext(t *testing.T) {
	// The quotes keep an MCS category list inside one mount option.
	if got, want := MountContext("system_u:object_r:container_file_t:s0:c1,c2"),
		`context="system_u:object_r:container_file_t:s0:c1,c2"`; got != want {
		t.Errorf("MountContext = %s, want %s", got, want)
	}
}

// TestCheckHostNamesTheField: on a host without the module, each setting is
// refused with the config field that asks for it.
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
func TestAttrsWrites(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := &Attrs{
		apparmorProfile: "berth-test", selinuxLabel: "system_u:system_r:container_t:s0:c1,c2",
		apparmorExec: open("apparmor-exec"), selinuxExec: open("exec"), keyCreate: open("keycreate"),
	}
	if err := a.LabelKeyring(); err != nil {
		t.Fatal(err)
	}
	if err := a.ApplyOnExec(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	for name, want := range map[string]string{
		"apparmor-exec": "exec berth-test",
		"exec":          "system_u:system_r:container_t:s0:c1,c2",
		"keycreate":     "system_u:system_r:container_t:s0:c1,c2",
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, want)
		}
	}
}

// TestOpenAttrsNothingAsked: a process without LSM settings opens nothing,
// so the init works the same on every host.
func TestOpenAttrsNothingAsked(t *testing.T) {
	a, err := OpenAttrs(&specs.Process{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.apparmorExec != nil || a.selinuxExec != nil || a.keyCreate != nil {
		t.Errorf("attribute files opened without settings")
	}
	if err := a.LabelKeyring(); err != nil {
		t.Error(err)
	}
	if err := a.ApplyOnExec(); err != nil {
		t.Error(err)
	}
	a.Close()
	if _, err := OpenAttrs(nil, false); err != nil {
		t.Error(err)
	}
}

// TestOpenAttrsReal: the files exist on any kernel with an LSM framework;
// writing is left to hosts that run the module.
func TestOpenAttrsReal(t *testing.T) {
	if _, err := os.Stat("/proc/thread-self/attr/exec"); err != nil {
		t.Skip("no /proc/thread-self/attr/exec:", err)
	}
	a, err := OpenAttrs(&specs.Process{ApparmorProfile: "p", SelinuxLabel: "l"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.apparmorExec == nil || a.selinuxExec == nil || a.keyCreate == nil {
		t.Fatalf("not all attribute files opened")
	}
	if !strings.HasPrefix(a.selinuxExec.Name(), "/proc/thread-self/attr/") {
		t.Errorf("opened %s", a.selinuxExec.Name())
	}
}
