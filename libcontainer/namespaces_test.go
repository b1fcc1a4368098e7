package libcontainer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fdRecorder stands in for spawn.addFD: it numbers files from 10 and keeps
// them, in order, for the test to check and close.
type fdRecorder struct{ files []*os.File }

func (r *fdRecorder) add(f *os.File) int {
	r.files = append(r.files, f)
	return 9 + len(r.files)
}

func (r *fdRecorder) close() {
	for _, f := range r.files {
		f.Close()
	}
}

func nsSpec(ns ...specs.LinuxNamespace) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{Namespaces: ns}}
}

func planEnv(p *nsPlan) string {
	if p.plan.Empty() {
		return ""
	}
	return strings.TrimPrefix(p.plan.Env(3)[0], "_BERTH_NSENTER=")
}

func TestPlanFastPath(t *testing.T) {
	var r fdRecorder
	p, err := planNamespaces(nsSpec(
		specs.LinuxNamespace{Type: specs.PIDNamespace},
		specs.LinuxNamespace{Type: specs.NetworkNamespace},
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace},
		specs.LinuxNamespace{Type: specs.UTSNamespace},
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
		specs.LinuxNamespace{Type: specs.UserNamespace},
	), r.add)
	if err != nil {
		t.Fatal(err)
	}
	want := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWUSER)
	if p.cloneFlags != want {
		t.Errorf("cloneFlags = %#x, want %#x (cgroup is unshared by the init later)", p.cloneFlags, want)
	}
	if !p.newCgroupNS || !p.userNS || p.forks || p.usermap || !p.plan.Empty() || len(r.files) != 0 {
		t.Errorf("plan = %+v, files %d; want cgroupns and userns, no stage", *p, len(r.files))
	}
	p, err = planNamespaces(nsSpec(), r.add)
	if err != nil || p.cloneFlags != 0 || !p.plan.Empty() || p.newCgroupNS || p.userNS {
		t.Errorf("no namespaces: plan %+v, %v", p, err)
	}
}

func TestPlanUnknownType(t *testing.T) {
	var r fdRecorder
	_, err := planNamespaces(nsSpec(specs.LinuxNamespace{Type: specs.PIDNamespace}, specs.LinuxNamespace{Type: "bogus"}), r.add)
	if err == nil || err.Error() != `config.json: linux.namespaces[1].type: unknown namespace "bogus"` {
		t.Fatalf("planNamespaces = %v", err)
	}
}

// A time namespace needs the stage: its offsets are written between
// unshare and the fork that enters it.
func TestPlanTimeNamespace(t *testing.T) {
	var r fdRecorder
	spec := nsSpec(
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.TimeNamespace},
	)
	spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
		"monotonic": {Secs: 7, Nanosecs: 9},
		"boottime":  {Secs: -3, Nanosecs: 0},
	}
	p, err := planNamespaces(spec, r.add)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("unshare:%d;timens:boottime:-3:0;timens:monotonic:7:9;fork", unix.CLONE_NEWNS|unix.CLONE_NEWTIME)
	if got := planEnv(p); got != want {
		t.Fatalf("plan %q, want %q", got, want)
	}
	if !p.forks || p.usermap || p.cloneFlags != 0 {
		t.Fatalf("plan %+v: want forks, no usermap, no clone flags", *p)
	}
}

func inoOf(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// Joins come first with the user namespace ahead of the others (followed
// by "root"), then what is unshared, then the fork for pid namespaces.
func TestPlanJoins(t *testing.T) {
	var r fdRecorder
	defer r.close()
	p, err := planNamespaces(nsSpec(
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"},
		specs.LinuxNamespace{Type: specs.MountNamespace},
		specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/proc/self/ns/ipc"},
		specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/self/ns/user"},
		specs.LinuxNamespace{Type: specs.PIDNamespace},
	), r.add)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("join:10;root;join:11;join:12;unshare:%d;fork", unix.CLONE_NEWNS|unix.CLONE_NEWPID)
	if got := planEnv(p); got != want {
		t.Fatalf("plan %q, want %q", got, want)
	}
	if len(r.files) != 3 {
		t.Fatalf("%d files passed, want 3", len(r.files))
	}
	for i, ns := range []string{"user", "net", "ipc"} {
		if inoOf(t, r.files[i]) != nsInode(t, "/proc/self/ns/"+ns) {
			t.Errorf("fd %d is not the %s namespace", 10+i, ns)
		}
	}
	if !p.forks || !p.userNS || p.usermap || p.cloneFlags != 0 {
		t.Fatalf("plan %+v: want forks and userNS, no usermap", *p)
	}
}

func TestPlanJoinPIDForksNewUserAsksMaps(t *testing.T) {
	var r fdRecorder
	defer r.close()
	p, err := planNamespaces(nsSpec(
		specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/self/ns/pid"},
		specs.LinuxNamespace{Type: specs.UserNamespace},
	), r.add)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("join:10;unshare:%d;fork", unix.CLONE_NEWUSER)
	if got := planEnv(p); got != want {
		t.Fatalf("plan %q, want %q", got, want)
	}
	if !p.forks || !p.usermap || !p.userNS {
		t.Fatalf("plan %+v: want forks, usermap and userNS", *p)
	}
	// Joining only a net namespace neither forks nor asks for maps.
	p, err = planNamespaces(nsSpec(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"}), r.add)
	if err != nil {
		t.Fatal(err)
	}
	if got := planEnv(p); got != "join:11" || p.forks || p.usermap {
		t.Fatalf("plan %q %+v, want join:11 only", got, *p)
	}
}

func TestOpenNamespace(t *testing.T) {
	f, err := openNamespace("/proc/self/ns/net", unix.CLONE_NEWNET)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()

	if _, err := openNamespace("/proc/self/ns/net", unix.CLONE_NEWNS); err == nil || err.Error() != "/proc/self/ns/net: a namespace of another type" {
		t.Errorf("net namespace as mount = %v", err)
	}
	regular := filepath.Join(t.TempDir(), "file")
	os.WriteFile(regular, nil, 0o600)
	if _, err := openNamespace(regular, unix.CLONE_NEWNET); err == nil || !strings.HasPrefix(err.Error(), regular+": not a namespace file: ") {
		t.Errorf("regular file = %v", err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := openNamespace(missing, unix.CLONE_NEWNET); err == nil || !strings.Contains(err.Error(), missing) || !os.IsNotExist(err) {
		t.Errorf("missing file = %v", err)
	}
}

func TestPlanBadPathNamesIndex(t *testing.T) {
	var r fdRecorder
	_, err := planNamespaces(nsSpec(
		specs.LinuxNamespace{Type: specs.PIDNamespace},
		specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/self/ns/net"},
	), r.add)
	if err == nil || err.Error() != "config.json: linux.namespaces[1].path: /proc/self/ns/net: a namespace of another type" {
		t.Fatalf("planNamespaces = %v", err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A failing plan closes the namespace files it had already opened.
func TestPlanErrorLeaksNoFDs(t *testing.T) {
	var r fdRecorder
	before := openFDs(t)
	_, err := planNamespaces(nsSpec(
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"},
		specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/proc/self/ns/ipc"},
		specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/self/ns/uts"},
	), r.add)
	if err == nil {
		t.Fatal("planNamespaces with a wrong path succeeded")
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d fds open after the failed plan, %d before: the namespace files already opened leaked", after, before)
	}
}
