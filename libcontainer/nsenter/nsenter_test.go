package nsenter

// These tests re-execute the test binary, which links the C constructor,
// with a plan in _BERTH_NSENTER: the constructor runs before the Go runtime
// (and so before TestMain), and the re-executed binary then reports what it
// sees as JSON on stdout.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const helperEnv = "BERTH_NSENTER_TEST_REPORT"

// report is what the re-executed binary saw once the constructor was done.
type report struct {
	Pid       int
	UID, GID  int
	NetIno    uint64
	UserIno   uint64
	Monotonic int64 // seconds
	UIDMap    string
	PlanLeft  bool   // _BERTH_NSENTER still set
	Fd3       string // what fd 3 is now, "" if closed
}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		writeReport()
		os.Exit(0)
	}
	// Keep the main thread to this goroutine: a throwaway thread that
	// changes namespaces must never be the main one, which the runtime
	// would keep (wedged) instead of ending, leaving /proc/self changed.
	runtime.LockOSThread()
	os.Exit(m.Run())
}

func nsIno(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

func writeReport() {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	uidMap, _ := os.ReadFile("/proc/self/uid_map")
	_, planLeft := os.LookupEnv("_BERTH_NSENTER")
	fd3, _ := os.Readlink("/proc/self/fd/3")
	json.NewEncoder(os.Stdout).Encode(report{
		Pid: os.Getpid(), UID: os.Getuid(), GID: os.Getgid(),
		NetIno: nsIno("/proc/self/ns/net"), UserIno: nsIno("/proc/self/ns/user"),
		Monotonic: ts.Sec, UIDMap: strings.Join(strings.Fields(string(uidMap)), " "),
		PlanLeft: planLeft, Fd3: fd3,
	})
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root")
	}
}

// stage is a re-executed test binary running a plan; files become its fds
// 3, 4, ... and the sync socket comes last.
type stage struct {
	cmd  *exec.Cmd
	sync *os.File // the parent's end
	out  strings.Builder
}

func startStage(t *testing.T, plan string, files ...*os.File) *stage {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child")
	defer child.Close()
	s := &stage{sync: parent}
	t.Cleanup(func() { parent.Close() })
	files = append(files, child)
	s.cmd = exec.Command(os.Args[0], "-test.run=^$")
	s.cmd.ExtraFiles = files
	s.cmd.Env = []string{
		helperEnv + "=1",
		"_BERTH_NSENTER=" + plan,
		"_BERTH_NSSYNC=" + strconv.Itoa(3+len(files)-1),
	}
	s.cmd.Stdout = &s.out
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return s
}

// recv reads one message of the C stage, or "" at EOF.
func (s *stage) recv(t *testing.T) string {
	t.Helper()
	s.sync.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, err := s.sync.Read(buf)
	if err != nil && n == 0 {
		return ""
	}
	return string(buf[:n])
}

// wait waits for the stage and decodes its report.
func (s *stage) wait(t *testing.T) (report, error) {
	t.Helper()
	err := s.cmd.Wait()
	var r report
	if err == nil {
		if jerr := json.Unmarshal([]byte(s.out.String()), &r); jerr != nil {
			t.Fatalf("stage output %q: %v", s.out.String(), jerr)
		}
	}
	return r, err
}

// newNetNS makes a network namespace on a throwaway thread and returns a
// file that keeps it alive.
func newNetNS(t *testing.T) *os.File {
	t.Helper()
	ch := make(chan *os.File)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies, the fd keeps the namespace
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Error(err)
		}
		ch <- f
	}()
	f := <-ch
	if f == nil {
		t.FailNow()
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestNoPlanDoesNothing(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = []string{helperEnv + "=1"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.NetIno != nsIno("/proc/self/ns/net") {
		t.Fatal("the constructor changed namespaces without a plan")
	}
}

func TestJoinNetNamespace(t *testing.T) {
	needRoot(t)
	ns := newNetNS(t)
	want := nsIno(fmt.Sprintf("/proc/self/fd/%d", ns.Fd()))
	if want == nsIno("/proc/self/ns/net") {
		t.Fatal("the new namespace is the test's own")
	}
	s := startStage(t, "join:3", ns)
	r, err := s.wait(t)
	if err != nil {
		t.Fatalf("stage failed: %v; it said %q", err, s.recv(t))
	}
	if r.NetIno != want {
		t.Fatalf("stage is in net namespace %d, want %d", r.NetIno, want)
	}
	if r.PlanLeft {
		t.Error("_BERTH_NSENTER is still set for the Go program")
	}
	// The Go runtime may reuse fd 3, but not for the namespace.
	if strings.HasPrefix(r.Fd3, "net:") {
		t.Errorf("the namespace fd is still open after the join: fd 3 is %s", r.Fd3)
	}
}

func TestErrorStepsReported(t *testing.T) {
	needRoot(t)
	regular, err := os.CreateTemp(t.TempDir(), "notns")
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	for _, tc := range []struct {
		plan  string
		files []*os.File
		want  string
	}{
		{"join:3", []*os.File{regular}, "error nsenter: setns 3: Invalid argument\n"},
		{"join:77", nil, "error nsenter: setns 77: Bad file descriptor\n"},
		{"bogus:1", nil, "error nsenter: unknown step bogus: Invalid argument\n"},
		{"join", nil, "error nsenter: unknown step join: Invalid argument\n"},
	} {
		files := tc.files
		if files == nil {
			// Keep the sync socket at fd 4 so "join:3" style steps
			// never hit it by accident.
			files = []*os.File{regular}
		}
		s := startStage(t, tc.plan, files...)
		_, err := s.wait(t)
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("plan %q: stage ended with %v, want exit status 1", tc.plan, err)
		}
		if got := s.recv(t); got != tc.want {
			t.Errorf("plan %q: stage said %q, want %q", tc.plan, got, tc.want)
		}
		if s.out.Len() != 0 {
			t.Errorf("plan %q: the Go program ran after an error: %q", tc.plan, s.out.String())
		}
	}
}

// unshare of a pid namespace then fork: the intermediate reports the pid of
// its child, which is pid 1 of the new namespace.
func TestUnsharePIDAndFork(t *testing.T) {
	needRoot(t)
	s := startStage(t, fmt.Sprintf("unshare:%d;fork", unix.CLONE_NEWPID))
	msg := s.recv(t)
	pid, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(msg, "pid "), "\n"))
	if err != nil || !strings.HasPrefix(msg, "pid ") || pid <= 1 {
		t.Fatalf("intermediate said %q, want \"pid N\\n\"", msg)
	}
	r, err := s.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pid != 1 {
		t.Fatalf("forked child has pid %d in its namespace, want 1", r.Pid)
	}
	if r.Pid == s.cmd.Process.Pid {
		t.Fatal("the report came from the intermediate, not the child")
	}
}

// With CLONE_NEWUSER the stage asks for id maps and waits for "ok", then
// becomes root of the new namespace.
func TestUnshareUserAsksForMaps(t *testing.T) {
	needRoot(t)
	s := startStage(t, fmt.Sprintf("unshare:%d", unix.CLONE_NEWUSER))
	if msg := s.recv(t); msg != "usermap\n" {
		t.Fatalf("stage said %q, want \"usermap\\n\"", msg)
	}
	pid := s.cmd.Process.Pid
	for _, m := range []string{"uid_map", "gid_map"} {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, m), []byte("0 100000 65536"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.sync.Write([]byte("ok\n")); err != nil {
		t.Fatal(err)
	}
	r, err := s.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if r.UID != 0 || r.GID != 0 || r.UIDMap != "0 100000 65536" {
		t.Fatalf("stage runs as %d:%d with uid_map %q, want 0:0 in \"0 100000 65536\"", r.UID, r.GID, r.UIDMap)
	}
}

func TestUnshareUserWithoutOK(t *testing.T) {
	needRoot(t)
	s := startStage(t, fmt.Sprintf("unshare:%d", unix.CLONE_NEWUSER))
	if msg := s.recv(t); msg != "usermap\n" {
		t.Fatalf("stage said %q, want \"usermap\\n\"", msg)
	}
	s.sync.Write([]byte("no\n"))
	if _, err := s.wait(t); err == nil {
		t.Fatal("the stage went on without \"ok\"")
	}
	if msg := s.recv(t); !strings.HasPrefix(msg, "error nsenter: waiting for parent") {
		t.Fatalf("stage said %q, want an error about waiting for the parent", msg)
	}
}

// A joined user namespace, then "root": the rest runs as its uid 0.
func TestJoinUserNamespaceAndBecomeRoot(t *testing.T) {
	needRoot(t)
	holder := exec.Command("sleep", "30")
	holder.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 1000}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 1000}},
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { holder.Process.Kill(); holder.Wait() }()
	userns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", holder.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer userns.Close()
	want := nsIno(fmt.Sprintf("/proc/self/fd/%d", userns.Fd()))

	s := startStage(t, "join:3;root", userns)
	r, err := s.wait(t)
	if err != nil {
		t.Fatalf("stage failed: %v; it said %q", err, s.recv(t))
	}
	if r.UserIno != want || r.UID != 0 || r.GID != 0 || r.UIDMap != "0 200000 1000" {
		t.Fatalf("stage: user ns %d uid %d gid %d map %q; want ns %d as 0:0 with map \"0 200000 1000\"",
			r.UserIno, r.UID, r.GID, r.UIDMap, want)
	}
}

// A time namespace's offsets apply to the forked child.
func TestTimeNamespaceOffset(t *testing.T) {
	needRoot(t)
	var now unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	s := startStage(t, fmt.Sprintf("unshare:%d;timens:monotonic:86400:0;fork", unix.CLONE_NEWTIME))
	if msg := s.recv(t); !strings.HasPrefix(msg, "pid ") {
		t.Fatalf("intermediate said %q, want \"pid N\"", msg)
	}
	r, err := s.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Monotonic - now.Sec; d < 86400 || d > 86400+30 {
		t.Fatalf("child's monotonic clock is %ds ahead, want about 86400", d)
	}
}
