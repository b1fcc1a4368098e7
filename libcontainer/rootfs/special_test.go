package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestIdmappedBindMount(t *testing.T) {
	e := newTestEnv(t)
	src := e.mkdir("src")
	e.mkdir("src/sub")
	e.writeFile("src/root-owned", "x", 0o644)
	f := e.writeFile("src/owned-by-1000", "x", 0o644)
	if err := os.Chown(f, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/idmapped", Source: src, Options: []string{"rbind", "idmap"}, UIDMappings: idmap, GIDMappings: idmap},
		// Same mapping: shares the user namespace made for the first.
		specs.Mount{Destination: "/idmapped2", Source: src, Options: []string{"bind", "ridmap"}, UIDMappings: idmap, GIDMappings: idmap},
		specs.Mount{Destination: "/plain", Source: src, Options: []string{"bind"}},
	)
	probes := []probe{
		{Op: "stat", Path: "/idmapped/root-owned"},
		{Op: "stat", Path: "/idmapped/owned-by-1000"},
		{Op: "stat", Path: "/idmapped2/owned-by-1000"},
		{Op: "stat", Path: "/plain/owned-by-1000"},
	}
	out := e.mustRun(Config{Spec: spec}, probes, runOpts{cloneflags: unix.CLONE_NEWPID})
	r := out.Results
	want := [][2]uint32{{100000, 100000}, {101000, 101000}, {101000, 101000}, {1000, 1000}}
	for i, w := range want {
		if r[i].Err != "" || r[i].UID != w[0] || r[i].GID != w[1] {
			t.Errorf("%s: owner %d:%d (%s), want %d:%d", probes[i].Path, r[i].UID, r[i].GID, r[i].Err, w[0], w[1])
		}
	}
	if m := mountAt(t, out.Mountinfo, "/idmapped"); !hasOpt(m.Options, "idmapped") {
		t.Errorf("/idmapped options %q lack idmapped", m.Options)
	}
	// The source itself is untouched.
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil || st.Uid != 1000 {
		t.Errorf("source owner changed: %d %v", st.Uid, err)
	}
}

// TestIdmappedMountInUserNamespace: the runtime prepares the idmapped
// mount outside the container's user namespace, the init attaches it.
func TestIdmappedMountInUserNamespace(t *testing.T) {
	e := newTestEnv(t)
	f := e.writeFile("src/owned-by-0", "x", 0o644)
	spec := baseSpec()
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	idmap := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1234, Size: 1}}
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/idmapped", Source: "src", Options: []string{"bind", "idmap", "ro"}, UIDMappings: idmap, GIDMappings: idmap})
	idx := len(spec.Mounts) - 1

	// Without the prepared source the init must refuse, not guess.
	out := e.run(Config{Spec: spec, UserNS: true}, nil, runOpts{cloneflags: unix.CLONE_NEWPID, userns: true})
	if out.Phase != "prepare" || !strings.Contains(out.Err, "must be made by the runtime") {
		t.Fatalf("idmap in a userns without MountSources: %s %q", out.Phase, out.Err)
	}

	tree, err := PrepareMountSource(spec, e.dir, idx)
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	cfg := Config{Spec: spec, UserNS: true, MountSources: map[int]int{idx: 4}}
	out = e.mustRun(cfg, []probe{{Op: "stat", Path: "/idmapped/owned-by-0"}, {Op: "write", Path: "/idmapped/new", Data: "x"}},
		runOpts{cloneflags: unix.CLONE_NEWPID, userns: true, extraFiles: []*os.File{tree}})
	if r := out.Results[0]; r.Err != "" || r.UID != 1234 || r.GID != 1234 {
		t.Errorf("through the prepared idmapped mount: %+v", r)
	}
	if out.Results[1].Err != "read-only file system" {
		t.Errorf("ro on the prepared mount: %q", out.Results[1].Err)
	}
	var st unix.Stat_t
	if err := unix.Stat(f, &st); err != nil || st.Uid != 0 {
		t.Errorf("source owner changed: %d %v", st.Uid, err)
	}
	if _, err := PrepareMountSource(spec, e.dir, 0); err == nil || !strings.Contains(err.Error(), "not a bind mount") {
		t.Errorf("PrepareMountSource of /proc: %v", err)
	}
}

func TestCgroupV1Emulation(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range []string{"/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/unified/cgroup.procs"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("this test needs the hybrid cgroup layout of the test machine: %v", err)
		}
	}
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	)
	cfg := Config{
		Spec: spec,
		CgroupMounts: []CgroupMount{
			// The container's cgroups are the root ones here: we only read.
			{Controller: "cpu,cpuacct", Path: "/sys/fs/cgroup/cpu"},
			{Controller: "memory", Path: "/sys/fs/cgroup/memory"},
			{Controller: "name=systemd", Path: "/sys/fs/cgroup/systemd"},
		},
		Cgroup2Path: "/sys/fs/cgroup/unified",
	}
	probes := []probe{
		{Op: "readdir", Path: "/sys/fs/cgroup"},
		{Op: "lstat", Path: "/sys/fs/cgroup/cpu"},
		{Op: "read", Path: "/sys/fs/cgroup/cpuacct/cpu.shares"},
		{Op: "write", Path: "/sys/fs/cgroup/memory/memory.limit_in_bytes", Data: "1"},
		{Op: "write", Path: "/sys/fs/cgroup/newfile", Data: "1"},
		{Op: "stat", Path: "/sys/fs/cgroup/unified/cgroup.procs"},
		{Op: "stat", Path: "/sys/fs/cgroup/systemd"},
	}
	out := e.mustRun(cfg, probes, runOpts{cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNET})
	r := out.Results
	if r[0].Data != "cpu cpu,cpuacct cpuacct memory systemd unified" {
		t.Errorf("/sys/fs/cgroup lists %q (%s)", r[0].Data, r[0].Err)
	}
	if r[1].Mode&unix.S_IFMT != unix.S_IFLNK || r[1].Data != "cpu,cpuacct" {
		t.Errorf("cpu: mode %o -> %q", r[1].Mode, r[1].Data)
	}
	if strings.TrimSpace(r[2].Data) == "" {
		t.Errorf("cpu.shares through the symlink: %q %s", r[2].Data, r[2].Err)
	}
	if r[3].Err != "read-only file system" || r[4].Err != "read-only file system" {
		t.Errorf("writes into a ro cgroup mount: %q, %q", r[3].Err, r[4].Err)
	}
	if r[5].Err != "" || r[6].Err != "" {
		t.Errorf("unified/systemd: %s, %s", r[5].Err, r[6].Err)
	}
	if m := mountAt(t, out.Mountinfo, "/sys/fs/cgroup/memory"); m.FSType != "cgroup" || !hasOpt(m.Options, "ro") {
		t.Errorf("memory mount: %s %s", m.FSType, m.Options)
	}
}

// TestCgroupV1Namespace: with a cgroup namespace each hierarchy is a real
// cgroup mount whose root is the container's cgroup.
func TestCgroupV1Namespace(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	)
	cfg := Config{Spec: spec, CgroupMounts: []CgroupMount{
		{Controller: "pids", Path: "/sys/fs/cgroup/pids"},
		{Controller: "name=systemd", Path: "/sys/fs/cgroup/systemd"},
	}}
	out := e.mustRun(cfg, []probe{{Op: "stat", Path: "/sys/fs/cgroup/pids/cgroup.procs"}, {Op: "readdir", Path: "/sys/fs/cgroup"}},
		runOpts{cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP})
	if out.Results[0].Err != "" || out.Results[1].Data != "pids systemd" {
		t.Errorf("cgroupns v1: %+v", out.Results)
	}
	pids := mountAt(t, out.Mountinfo, "/sys/fs/cgroup/pids")
	if pids.FSType != "cgroup" || pids.Root != "/" || !strings.Contains(pids.VFSOptions, "pids") || !hasOpt(pids.Options, "ro") {
		t.Errorf("pids mount: %+v", pids)
	}
}

func TestCgroupV2Bind(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	)
	out := e.mustRun(Config{Spec: spec, Cgroup2Path: "/sys/fs/cgroup/unified"},
		[]probe{{Op: "stat", Path: "/sys/fs/cgroup/cgroup.procs"}, {Op: "write", Path: "/sys/fs/cgroup/cgroup.procs", Data: "1"}},
		runOpts{cloneflags: unix.CLONE_NEWPID})
	if out.Results[0].Err != "" || out.Results[1].Err != "read-only file system" {
		t.Errorf("cgroup2 bind: %+v", out.Results)
	}
	if m := mountAt(t, out.Mountinfo, "/sys/fs/cgroup"); m.FSType != "cgroup2" {
		t.Errorf("/sys/fs/cgroup is %s", m.FSType)
	}
}

// TestUserNamespace runs the whole setup as root of a new user namespace:
// devices must be bind-mounted, sysfs falls back to a bind of the host's,
// and read-only remounts must keep the flags the kernel locked.
func TestUserNamespace(t *testing.T) {
	e := newTestEnv(t)
	spec := baseSpec()
	spec.Root.Readonly = true
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		specs.Mount{Destination: "/new/deep/dir", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
	)
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	spec.Linux.MaskedPaths = testMaskedPaths
	spec.Linux.ReadonlyPaths = testReadonlyPaths
	spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
	probes := []probe{
		{Op: "lstat", Path: "/dev/null"},
		{Op: "write", Path: "/dev/null", Data: "x"},
		{Op: "lstat", Path: "/dev/fuse"},
		{Op: "readdir", Path: "/sys/kernel"},
		{Op: "write", Path: "/proc/sys/kernel/hostname", Data: "x"},
		{Op: "write", Path: "/etc/x", Data: "x"},
		{Op: "write", Path: "/tmp/x", Data: "x"},
		{Op: "openrw", Path: "/dev/ptmx"},
		{Op: "write", Path: "/new/deep/dir/x", Data: "x"},
	}
	out := e.mustRun(Config{Spec: spec, UserNS: true}, probes,
		runOpts{cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWIPC, userns: true})
	r := out.Results
	if r[0].Mode&unix.S_IFMT != unix.S_IFCHR || r[0].Major != 1 || r[0].Minor != 3 || r[1].Err != "" {
		t.Errorf("/dev/null in a userns: %+v / write %s", r[0], r[1].Err)
	}
	if r[2].Mode&unix.S_IFMT != unix.S_IFCHR || r[2].Major != 10 || r[2].Minor != 229 {
		t.Errorf("/dev/fuse in a userns: %+v", r[2])
	}
	if null := mountAt(t, out.Mountinfo, "/dev/null"); null.FSType != "devtmpfs" {
		t.Errorf("/dev/null should be a bind of the host's devtmpfs node, is %s", null.FSType)
	}
	if r[3].Err != "" || r[3].Data == "" {
		t.Errorf("/sys (bind fallback) unreadable: %s", r[3].Err)
	}
	if r[4].Err != "read-only file system" || r[5].Err != "read-only file system" {
		t.Errorf("read-only paths/root in a userns: %q, %q", r[4].Err, r[5].Err)
	}
	if r[6].Err != "" {
		t.Errorf("/tmp: %s", r[6].Err)
	}
	if r[7].Err != "" {
		t.Errorf("/dev/ptmx: %s", r[7].Err)
	}
	if r[8].Err != "" {
		t.Errorf("tmpfs at a created deep mount point: %s", r[8].Err)
	}
	if mq := mountAt(t, out.Mountinfo, "/dev/mqueue"); mq.FSType != "mqueue" {
		t.Errorf("/dev/mqueue is %s", mq.FSType)
	}
}

func TestTmpcopyup(t *testing.T) {
	e := newTestEnv(t)
	e.writeFile("rootfs/var/lib/app/data.txt", "from-image", 0o640)
	e.mkdir("rootfs/var/lib/app/nested/deeper")
	if err := os.Symlink("data.txt", filepath.Join(e.rootfs, "var/lib/app/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(e.rootfs, "var/lib/app/data.txt"), 123, 456); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.rootfs, "var/lib/app"), 0o750); err != nil {
		t.Fatal(err)
	}
	spec := baseSpec()
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/var/lib/app", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "nosuid", "size=1m"}},
	)
	probes := []probe{
		{Op: "read", Path: "/var/lib/app/data.txt"},
		{Op: "stat", Path: "/var/lib/app/data.txt"},
		{Op: "lstat", Path: "/var/lib/app/link"},
		{Op: "stat", Path: "/var/lib/app/nested/deeper"},
		{Op: "stat", Path: "/var/lib/app"},
		{Op: "write", Path: "/var/lib/app/data.txt", Data: "changed"},
	}
	out := e.mustRun(Config{Spec: spec}, probes, runOpts{cloneflags: unix.CLONE_NEWPID})
	r := out.Results
	if r[0].Data != "from-image" || r[1].Mode != unix.S_IFREG|0o640 || r[1].UID != 123 || r[1].GID != 456 {
		t.Errorf("copied file: %q mode %o owner %d:%d", r[0].Data, r[1].Mode, r[1].UID, r[1].GID)
	}
	if r[2].Data != "data.txt" || r[3].Err != "" || r[4].Mode != unix.S_IFDIR|0o750 {
		t.Errorf("link %q, nested %s, root mode %o", r[2].Data, r[3].Err, r[4].Mode)
	}
	if r[5].Err != "" {
		t.Errorf("write: %s", r[5].Err)
	}
	if m := mountAt(t, out.Mountinfo, "/var/lib/app"); m.FSType != "tmpfs" || !strings.Contains(m.VFSOptions, "size=1024k") {
		t.Errorf("mount: %s %s", m.FSType, m.VFSOptions)
	}
	// The write went to the tmpfs, not to the image.
	if b, _ := os.ReadFile(filepath.Join(e.rootfs, "var/lib/app/data.txt")); string(b) != "from-image" {
		t.Errorf("image file changed to %q", b)
	}
}
