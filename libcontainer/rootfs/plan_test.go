package rootfs

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
)

func planSpec() *specs.Spec {
	return &specs.Spec{
		Root: &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "gid=5"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/data/", Type: "bind", Source: "data", Options: []string{"rbind", "rro", "nosuid", "rprivate"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "ro"}},
		},
		Linux: &specs.Linux{
			Sysctl:        map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "9"},
			MaskedPaths:   []string{"/proc/kcore"},
			ReadonlyPaths: []string{"/proc/sys"},
			Devices:       []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
		},
	}
}

func TestPlanMounts(t *testing.T) {
	r, err := Plan(&Config{Spec: planSpec(), Rootfs: "/b/rootfs", Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != "/b/rootfs" || r.Pivot != plan.PivotRoot || !r.RootReadonly || r.PrepProp != unix.MS_SLAVE|unix.MS_REC || r.RootProp != 0 {
		t.Errorf("root: %+v", r)
	}
	if len(r.Mounts) != 6 {
		t.Fatalf("%d mounts, want 6", len(r.Mounts))
	}
	dev := r.Mounts[1]
	if dev.Kind != plan.FS || dev.FSType != "tmpfs" || dev.AttrSet != unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_STRICTATIME ||
		strings.Join(dev.Data, ",") != "mode=755,size=65536k" || dev.KeepMode || len(dev.SBFlags) != 0 {
		t.Errorf("/dev tmpfs: %+v", dev)
	}
	pts := r.Mounts[2]
	if strings.Join(pts.Data, ",") != "newinstance,gid=5,ptmxmode=0666" {
		t.Errorf("devpts gets ptmxmode=0666 when it has none: %q", pts.Data)
	}
	sys := r.Mounts[3]
	if sys.AttrSet&unix.MOUNT_ATTR_RDONLY == 0 || strings.Join(sys.SBFlags, ",") != "ro" || sys.Fallback != "" {
		t.Errorf("sysfs ro: attrs %#x sbflags %q fallback %q", sys.AttrSet, sys.SBFlags, sys.Fallback)
	}
	data := r.Mounts[4]
	if ro := r.Mounts[3]; ro.RAttrSet != 0 {
		t.Errorf("sysfs is no bind: no recursive attributes, got %#x", ro.RAttrSet)
	}
	if data.Kind != plan.Bind || data.Source != "/b/data" || data.Dest != "/data" || !data.Recursive ||
		data.RAttrSet != unix.MOUNT_ATTR_RDONLY || data.AttrSet != unix.MOUNT_ATTR_NOSUID || data.RProp != unix.MS_PRIVATE ||
		data.Label != `mounts[4] (destination "/data/")` || data.SrcFD != -1 {
		t.Errorf("rbind: %+v", data)
	}
	tmp := r.Mounts[5]
	if !tmp.TmpCopyUp || !tmp.KeepMode || len(tmp.SBFlags) != 0 || tmp.AttrSet&unix.MOUNT_ATTR_RDONLY == 0 {
		t.Errorf("tmpcopyup ro: the superblock must stay writable for the copy, the mount read-only: %+v", tmp)
	}
	if len(r.Sysctls) != 2 || r.Sysctls[0].Rel != "kernel/shmmax" || r.Sysctls[1].Rel != "net/ipv4/ip_forward" ||
		r.Sysctls[1].Label != `linux.sysctl["net.ipv4.ip_forward"]` {
		t.Errorf("sysctls (sorted, as paths): %+v", r.Sysctls)
	}
	if len(r.Masked) != 1 || len(r.Readonly) != 1 {
		t.Errorf("masked %q readonly %q", r.Masked, r.Readonly)
	}
}

// TestPlanRbindReadOnly: "ro" on an rbind is recursive (runc 1.2), unless
// "rrw" asks for writable submounts.
func TestPlanRbindReadOnly(t *testing.T) {
	s := planSpec()
	s.Mounts = []specs.Mount{
		{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "ro"}},
		{Destination: "/a", Type: "bind", Source: "/a", Options: []string{"bind", "ro"}},
		{Destination: "/b", Type: "bind", Source: "/b", Options: []string{"rbind", "ro", "rrw"}},
	}
	r, err := Plan(&Config{Spec: s, Rootfs: "/b/rootfs"})
	if err != nil {
		t.Fatal(err)
	}
	if m := r.Mounts[0]; m.AttrSet&unix.MOUNT_ATTR_RDONLY == 0 || m.RAttrSet&unix.MOUNT_ATTR_RDONLY == 0 {
		t.Errorf("rbind,ro: %+v", m)
	}
	if m := r.Mounts[1]; m.RAttrSet != 0 {
		t.Errorf("bind,ro is not recursive: %+v", m)
	}
	if m := r.Mounts[2]; m.RAttrSet&unix.MOUNT_ATTR_RDONLY != 0 || m.RAttrClr&unix.MOUNT_ATTR_RDONLY == 0 {
		t.Errorf("rbind,ro,rrw keeps writable submounts: %+v", m)
	}
}

func TestPlanDev(t *testing.T) {
	r, err := Plan(&Config{Spec: planSpec(), Rootfs: "/b/rootfs"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Dev == nil {
		t.Fatal("no /dev planned, but /dev is not bound from elsewhere")
	}
	byPath := map[string]plan.Device{}
	for _, d := range r.Dev.Devices {
		byPath[d.Path] = d
	}
	null := byPath["/dev/null"]
	if null.Mode != unix.S_IFCHR|0o666 || null.Rdev != unix.Mkdev(1, 3) || null.Bind {
		t.Errorf("/dev/null: %+v", null)
	}
	fuse := byPath["/dev/fuse"]
	if fuse.Rdev != unix.Mkdev(10, 229) || fuse.Label != `linux.devices[0] (path "/dev/fuse")` {
		t.Errorf("/dev/fuse: %+v", fuse)
	}
	if len(r.Dev.Symlinks) < 4 || r.Dev.Symlinks[0] != (plan.Symlink{Name: "fd", Target: "/proc/self/fd"}) {
		t.Errorf("symlinks %+v", r.Dev.Symlinks)
	}
	_, kcore := os.Lstat("/proc/kcore")
	hasCore := false
	for _, l := range r.Dev.Symlinks {
		hasCore = hasCore || l.Name == "core"
	}
	if hasCore != (kcore == nil) {
		t.Errorf("/dev/core planned %v, but /proc/kcore exists: %v", hasCore, kcore == nil)
	}

	// In a user namespace the host's nodes are bound instead (mknod is
	// refused there), and sysfs may fall back to the host's.
	r, err = Plan(&Config{Spec: planSpec(), Rootfs: "/b/rootfs", UserNS: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range r.Dev.Devices {
		if !d.Bind {
			t.Errorf("%s is not bound from the host in a user namespace", d.Path)
		}
	}
	if r.Mounts[3].Fallback != "/sys" {
		t.Errorf("sysfs fallback %q, want /sys", r.Mounts[3].Fallback)
	}

	// A bound /dev is the caller's: nothing is made in it.
	s := planSpec()
	s.Mounts[1] = specs.Mount{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}
	if r, err = Plan(&Config{Spec: s, Rootfs: "/b/rootfs"}); err != nil || r.Dev != nil {
		t.Errorf("with /dev bound: dev %+v, %v", r.Dev, err)
	}
}

func TestPlanPropagationAndPivot(t *testing.T) {
	s := planSpec()
	s.Linux.RootfsPropagation = "rshared"
	r, err := Plan(&Config{Spec: s, Rootfs: "/", NoPivot: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.PrepProp != unix.MS_SHARED|unix.MS_REC || r.RootProp != unix.MS_SHARED|unix.MS_REC || r.ParentMount != "/" || r.Pivot != plan.PivotMove {
		t.Errorf("rshared + --no-pivot: %+v", r)
	}
	s.Linux.RootfsPropagation = "unbindable"
	if r, err = Plan(&Config{Spec: s, Rootfs: "/b/rootfs", HostMountNS: true}); err != nil {
		t.Fatal(err)
	}
	// Unbindable would forbid the binds: applied after the pivot only.
	if r.PrepProp != unix.MS_SLAVE|unix.MS_REC || r.RootProp != unix.MS_UNBINDABLE || r.Pivot != plan.PivotChroot || !r.HostNS {
		t.Errorf("unbindable, no mount namespace: %+v", r)
	}
}

func TestPlanCgroups(t *testing.T) {
	s := planSpec()
	s.Mounts = []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid"}}}
	s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}
	r, err := Plan(&Config{Spec: s, Rootfs: "/b/rootfs", CgroupMounts: []CgroupMount{{Controller: "cpu,cpuacct", Path: "/sys/fs/cgroup/cpu,cpuacct/x"}},
		Cgroup2Path: "/sys/fs/cgroup/unified/x"})
	if err != nil {
		t.Fatal(err)
	}
	m := r.Mounts[0]
	if m.Kind != plan.CgroupV1 || !m.CgroupNew || len(m.Cgroups) != 1 || m.Cgroups[0].Controller != "cpu,cpuacct" ||
		m.CgroupUnified != "/sys/fs/cgroup/unified/x" || m.AttrSet&unix.MOUNT_ATTR_RDONLY == 0 {
		t.Errorf("v1 emulation in a cgroup namespace: %+v", m)
	}
	s.Linux.Namespaces = nil
	if r, err = Plan(&Config{Spec: s, Rootfs: "/b/rootfs", Cgroup2Path: "/sys/fs/cgroup/x", UserNS: true}); err != nil {
		t.Fatal(err)
	}
	if m = r.Mounts[0]; m.Kind != plan.CgroupV2 || m.CgroupNew || m.CgroupUnified != "/sys/fs/cgroup/x" || m.CgroupEmptyOK {
		t.Errorf("v2 without a cgroup namespace binds the container's cgroup: %+v", m)
	}
	if r, err = Plan(&Config{Spec: s, Rootfs: "/b/rootfs", UserNS: true}); err != nil {
		t.Fatal(err)
	}
	if m = r.Mounts[0]; !m.CgroupNew || !m.CgroupEmptyOK {
		t.Errorf("rootless without a cgroup of its own: %+v", m)
	}
}

func TestPlanLabelsAndSources(t *testing.T) {
	s := planSpec()
	s.Linux.MountLabel = "system_u:object_r:container_file_t:s0:c1,c2"
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue"},
		specs.Mount{Destination: "/idm", Type: "bind", Source: "/src", Options: []string{"bind", "idmap"}})
	r, err := Plan(&Config{Spec: s, Rootfs: "/b/rootfs", MountSources: map[int]int{7: 9}})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Mounts[1].Data; got[len(got)-1] != "context="+s.Linux.MountLabel {
		t.Errorf("tmpfs data %q: want the context last, unquoted (fsconfig takes it whole)", got)
	}
	for _, i := range []int{0, 3} { // proc, sysfs: the kernel's own labels
		for _, d := range r.Mounts[i].Data {
			if strings.HasPrefix(d, "context=") {
				t.Errorf("%s got a context", r.Mounts[i].FSType)
			}
		}
	}
	if mq := r.Mounts[6]; mq.RootLabel != s.Linux.MountLabel {
		t.Errorf("mqueue root label %q", mq.RootLabel)
	}
	if idm := r.Mounts[7]; idm.SrcFD != 9 || idm.Kind != plan.Bind {
		t.Errorf("idmapped mount made by the runtime: %+v", idm)
	}
	if r.MaskData != "context="+s.Linux.MountLabel {
		t.Errorf("mask tmpfs option %q", r.MaskData)
	}
	// Without the runtime's source an idmapped mount is refused.
	if _, err := Plan(&Config{Spec: s, Rootfs: "/b/rootfs"}); err == nil || !strings.Contains(err.Error(), "mounts[7]") {
		t.Errorf("idmap without a prepared source: %v", err)
	}
}

func TestPlanErrorsNameTheEntry(t *testing.T) {
	for _, tc := range []struct {
		edit func(*specs.Spec)
		want string
	}{
		{func(s *specs.Spec) { s.Mounts[0].Destination = "" }, "mounts[0].destination: empty"},
		{func(s *specs.Spec) { s.Mounts[4].Options = append(s.Mounts[4].Options, "rdonly") }, `mounts[4] (destination "/data/"): options: unknown option "rdonly" for a bind mount`},
		{func(s *specs.Spec) { s.Mounts[3].Options = []string{"tmpcopyup"} }, `mounts[3] (destination "/sys"): tmpcopyup is only valid for tmpfs mounts`},
		{func(s *specs.Spec) { s.Mounts[0].Type = "" }, `mounts[0] (destination "/proc"): type is required`},
		{func(s *specs.Spec) { s.Linux.Devices[0].Type = "x" }, `linux.devices[0] (path "/dev/fuse"): type "x"`},
		{func(s *specs.Spec) { s.Linux.Devices[0].Path = "dev/fuse" }, `linux.devices[0] (path "dev/fuse"): path must be an absolute file path`},
		{func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"net..x": "1"} }, `linux.sysctl["net..x"]: invalid key`},
		{func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, `linux.rootfsPropagation: unknown value "sideways"`},
	} {
		s := planSpec()
		tc.edit(s)
		if _, err := Plan(&Config{Spec: s, Rootfs: "/b/rootfs"}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	if _, err := Plan(&Config{Spec: planSpec(), Rootfs: "rootfs"}); err == nil || !strings.Contains(err.Error(), "root.path") {
		t.Errorf("relative rootfs: %v", err)
	}
}
