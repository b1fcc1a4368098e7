package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var (
	// /proc/kcore, /proc/scsi and /proc/sysrq-trigger are not in every kernel
	// (not in this test machine's): the missing ones must be skipped.
	testMaskedPaths   = []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/scsi", "/proc/timer_list", "/sys/firmware", "/proc/irq"}
	testReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/interrupts", "/proc/sys", "/proc/sysrq-trigger", "/nope"}
)

func TestMaskedReadonlySysctlReadonlyRoot(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Root.Readonly = true
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
	)
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	spec.Linux.MaskedPaths = testMaskedPaths
	spec.Linux.ReadonlyPaths = testReadonlyPaths
	spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.accept_redirects": "0"}
	hostForward, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	probes := []probe{
		{Op: "read", Path: "/proc/keys"},                                // 0: empty
		{Op: "readdir", Path: "/proc/acpi"},                             // 1: empty
		{Op: "write", Path: "/proc/acpi/x", Data: "x"},                  // 2: EROFS
		{Op: "read", Path: "/proc/sys/net/ipv4/ip_forward"},             // 3: 1
		{Op: "write", Path: "/proc/sys/net/ipv4/ip_forward", Data: "0"}, // 4: EROFS
		{Op: "write", Path: "/etc/new", Data: "x"},                      // 5: EROFS (root ro)
		{Op: "write", Path: "/tmp/new", Data: "x"},                      // 6: ok
		{Op: "stat", Path: "/proc/acpi"},                                // 7
		{Op: "stat", Path: "/proc/irq"},                                 // 8
		{Op: "write", Path: "/proc/interrupts", Data: "h"},              // 9: EROFS
		{Op: "readdir", Path: "/sys/firmware"},                          // 10: empty
		{Op: "read", Path: "/proc/sys/net/ipv4/conf/all/accept_redirects"},
	}
	out := e.mustRun(Config{Spec: spec}, probes, runOpts{cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNET})
	t.Logf("Prepare+Pivot+Finish of a runc-like spec took %v", out.Elapsed)
	r := out.Results
	if r[0].Err != "" || r[0].Data != "" {
		t.Errorf("masked file /proc/keys: %q %s", r[0].Data, r[0].Err)
	}
	if r[1].Err != "" || r[1].Data != "" || r[10].Data != "" {
		t.Errorf("masked dirs list %q (%s), %q (%s)", r[1].Data, r[1].Err, r[10].Data, r[10].Err)
	}
	if r[2].Err != "read-only file system" {
		t.Errorf("write into masked dir: %q", r[2].Err)
	}
	if strings.TrimSpace(r[3].Data) != "1" || strings.TrimSpace(r[11].Data) != "0" {
		t.Errorf("sysctls read back %q, %q", r[3].Data, r[11].Data)
	}
	for i, what := range map[int]string{4: "/proc/sys", 5: "read-only root", 9: "/proc/interrupts"} {
		if r[i].Err != "read-only file system" {
			t.Errorf("write to %s: %q, want read-only file system", what, r[i].Err)
		}
	}
	if r[6].Err != "" {
		t.Errorf("tmpfs on a read-only root must stay writable: %s", r[6].Err)
	}
	// The masked dirs share one tmpfs.
	if r[7].Dev == 0 || r[7].Dev != r[8].Dev {
		t.Errorf("masked dirs on devices %d and %d, want one shared tmpfs", r[7].Dev, r[8].Dev)
	}
	if !hasOpt(mountAt(t, out.Mountinfo, "/").Options, "ro") {
		t.Error("/ is not ro in mountinfo")
	}
	sys := mountAt(t, out.Mountinfo, "/proc/sys")
	if !hasOpt(sys.Options, "ro") || !hasOpt(sys.Options, "nosuid") || !hasOpt(sys.Options, "nodev") || !hasOpt(sys.Options, "noexec") {
		t.Errorf("/proc/sys options %q: want ro plus the nosuid,nodev,noexec of proc", sys.Options)
	}
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if string(after) != string(hostForward) {
		t.Errorf("host ip_forward changed from %q to %q", hostForward, after)
	}
}

func TestSysctlErrors(t *testing.T) {
	e := newTestEnv(t)
	for key, want := range map[string]string{
		"net.ipv4..ip_forward": `linux.sysctl["net.ipv4..ip_forward"]: invalid key`,
		"kernel.no_such_thing": `linux.sysctl["kernel.no_such_thing"]: open /proc/sys/kernel/no_such_thing: no such file or directory`,
	} {
		spec := baseSpec()
		spec.Linux.Sysctl = map[string]string{key: "1"}
		out := e.run(Config{Spec: spec}, nil, runOpts{cloneflags: unix.CLONE_NEWPID})
		if out.Phase != "finish" || !strings.HasPrefix(out.Err, want) {
			t.Errorf("%s: got %s %q, want finish error %q", key, out.Phase, out.Err, want)
		}
	}
}

func TestNoPivot(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Linux.MaskedPaths = testMaskedPaths
	probes := []probe{
		{Op: "read", Path: "/etc/marker"},
		{Op: "exec", Path: "/bin/busybox", Data: "cat|/etc/marker"},
		{Op: "read", Path: "/proc/timer_list"},
	}
	out := e.mustRun(Config{Spec: spec, NoPivot: true}, probes, runOpts{cloneflags: unix.CLONE_NEWPID})
	if out.Results[0].Data != "inside-rootfs" || out.Results[1].Data != "inside-rootfs" {
		t.Errorf("after MS_MOVE+chroot: %+v", out.Results[:2])
	}
	if out.Results[2].Data != "" || out.Results[2].Err != "" {
		t.Errorf("masked path after chroot: %+v", out.Results[2])
	}
	if out.Cwd != "/" {
		t.Errorf("cwd %q", out.Cwd)
	}

	spec.Linux.RootfsPropagation = "rshared"
	out = e.mustRun(Config{Spec: spec, NoPivot: true}, probes[:1], runOpts{cloneflags: unix.CLONE_NEWPID})
	if out.Results[0].Data != "inside-rootfs" {
		t.Errorf("NoPivot with rshared: %+v", out.Results[0])
	}
}

func TestPropagation(t *testing.T) {
	e := newTestEnv(t)
	src := e.mkdir("src")
	spec := baseSpec()
	spec.Linux.RootfsPropagation = "shared"
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/shared", Source: src, Options: []string{"rbind", "rshared"}},
		specs.Mount{Destination: "/private", Source: src, Options: []string{"rbind", "rprivate"}},
		specs.Mount{Destination: "/unbindable", Source: src, Options: []string{"bind", "unbindable"}},
		specs.Mount{Destination: "/slave", Source: filepath.Join(e.rootfs, "shared"), Options: []string{"bind", "slave"}},
		specs.Mount{Destination: "/tmpfs-shared", Type: "tmpfs", Source: "tmpfs", Options: []string{"shared"}},
	)
	out := e.mustRun(Config{Spec: spec}, nil, runOpts{cloneflags: unix.CLONE_NEWPID})
	optional := func(mp string) string { return mountAt(t, out.Mountinfo, mp).Optional }
	if o := optional("/"); !strings.Contains(o, "shared:") {
		t.Errorf("rootfsPropagation shared: / has %q", o)
	}
	if o := optional("/shared"); !strings.Contains(o, "shared:") {
		t.Errorf("/shared has %q", o)
	}
	if o := optional("/private"); o != "" {
		t.Errorf("/private has %q", o)
	}
	if o := optional("/unbindable"); o != "unbindable" {
		t.Errorf("/unbindable has %q", o)
	}
	if o := optional("/slave"); !strings.HasPrefix(o, "master:") {
		t.Errorf("/slave has %q, want a slave of /shared", o)
	}
	if o := optional("/tmpfs-shared"); !strings.Contains(o, "shared:") {
		t.Errorf("/tmpfs-shared has %q", o)
	}

	// Default: rootfs private-ish (no propagation flags set by us on "/").
	spec = baseSpec()
	spec.Linux.RootfsPropagation = "private"
	out = e.mustRun(Config{Spec: spec}, nil, runOpts{})
	if o := mountAt(t, out.Mountinfo, "/").Optional; o != "" {
		t.Errorf("rootfsPropagation private: / has %q", o)
	}
	spec.Linux.RootfsPropagation = "unbindable"
	out = e.mustRun(Config{Spec: spec}, nil, runOpts{})
	if o := mountAt(t, out.Mountinfo, "/").Optional; o != "unbindable" {
		t.Errorf("rootfsPropagation unbindable: / has %q", o)
	}
	spec.Linux.RootfsPropagation = "rshared"
	out = e.mustRun(Config{Spec: spec}, nil, runOpts{})
	if o := mountAt(t, out.Mountinfo, "/proc").Optional; !strings.Contains(o, "shared:") {
		t.Errorf("rootfsPropagation rshared: /proc has %q", o)
	}
}
