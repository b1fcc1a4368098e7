package console

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Keep the main thread to TestMain's goroutine: a throwaway thread that
// changes its mount namespace must never be the main one, which the runtime keeps
// (wedged) instead of ending, leaving the process changed.
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root")
	}
}

func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, slave, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

func TestOpenIsAWorkingPty(t *testing.T) {
	needRoot(t)
	master, slave := openPty(t)
	for _, f := range []*os.File{master, slave} {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s is not close-on-exec (flags %#x, %v)", f.Name(), fl, err)
		}
	}
	if _, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil {
		t.Fatalf("slave is not a terminal: %v", err)
	}
	// Bytes typed on the master reach the slave as a line.
	if _, err := master.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := slave.Read(buf)
	if err != nil || string(buf[:n]) != "hello\n" {
		t.Fatalf("slave read %q, %v; want \"hello\\n\"", buf[:n], err)
	}
	// And output of the slave reaches the master (ONLCR makes \r\n).
	if _, err := slave.Write([]byte("out\n")); err != nil {
		t.Fatal(err)
	}
	// The master sees the echo of "hello" first, then the output.
	var seen string
	for !strings.Contains(seen, "out\r\n") {
		n, err = master.Read(buf)
		if err != nil {
			t.Fatalf("master read %q, %v", seen, err)
		}
		seen += string(buf[:n])
	}
	if seen != "hello\r\nout\r\n" {
		t.Fatalf("master read %q, want the echo then the output", seen)
	}
	// The slave is the master's peer: same pty number.
	ptn, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(slave.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if int(unix.Minor(st.Rdev)) != ptn {
		t.Fatalf("slave is /dev/pts/%d, master says %d", unix.Minor(st.Rdev), ptn)
	}
}

func TestSetSize(t *testing.T) {
	needRoot(t)
	master, slave := openPty(t)
	if err := SetSize(slave, nil); err != nil {
		t.Fatalf("SetSize(nil) = %v", err)
	}
	if err := SetSize(slave, &specs.Box{Height: 33, Width: 121}); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(master.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Row != 33 || ws.Col != 121 {
		t.Fatalf("window size %dx%d, want 33 rows x 121 cols", ws.Row, ws.Col)
	}
	f, err := os.CreateTemp(t.TempDir(), "notatty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := SetSize(f, &specs.Box{Height: 1, Width: 1}); err == nil || !strings.HasPrefix(err.Error(), "process.consoleSize: ") {
		t.Fatalf("SetSize on a regular file = %v, want a process.consoleSize error", err)
	}
}

func socketPair(t *testing.T) (a, b *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b = os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestSendReceive(t *testing.T) {
	needRoot(t)
	master, slave := openPty(t)
	a, b := socketPair(t)
	if err := Send(a, master); err != nil {
		t.Fatal(err)
	}
	got, err := Receive(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Name() != "/dev/ptmx" {
		t.Errorf("received name %q, want /dev/ptmx", got.Name())
	}
	if got.Fd() == master.Fd() {
		t.Fatal("Receive returned the sender's own fd")
	}
	// The received fd drives the same terminal.
	if _, err := got.Write([]byte("via socket\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := slave.Read(buf)
	if string(buf[:n]) != "via socket\n" {
		t.Fatalf("slave read %q after writing to the received master", buf[:n])
	}
	fl, err := unix.FcntlInt(got.Fd(), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("received fd is not close-on-exec")
	}
}

func TestReceiveWithoutFD(t *testing.T) {
	a, b := socketPair(t)
	if _, err := a.Write([]byte("no fd here")); err != nil {
		t.Fatal(err)
	}
	if _, err := Receive(b); err == nil || err.Error() != "receiving the terminal: no fd in the message" {
		t.Fatalf("Receive = %v, want a no-fd error", err)
	}
	a.Close()
	if _, err := Receive(b); err == nil {
		t.Fatal("Receive on a closed socket succeeded")
	}
}

func TestDial(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		accepted <- b
	}()
	f, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hi"))
	f.Close()
	if b := <-accepted; string(b) != "hi" {
		t.Fatalf("listener read %q, want \"hi\"", b)
	}
	missing := filepath.Join(t.TempDir(), "missing.sock")
	if _, err := Dial(missing); err == nil || !strings.HasPrefix(err.Error(), "--console-socket "+missing+": ") {
		t.Fatalf("Dial(missing) = %v, want an error naming --console-socket and the path", err)
	}
}

// inPrivateDev runs f on a throwaway thread with its own mount namespace
// and a tmpfs on /dev holding only a new devpts instance, as a container's
// /dev does, so /dev/console can be made without touching the host. (A pty
// from the host's devpts could not be bind-mounted there: a bind source
// must be in the caller's mount namespace.)
func inPrivateDev(t *testing.T, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread and its namespace die with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		if err := unix.Mount("berth-console-test", "/dev", "tmpfs", 0, ""); err != nil {
			t.Errorf("tmpfs on /dev: %v", err)
			return
		}
		if err := os.Mkdir("/dev/pts", 0o755); err != nil {
			t.Error(err)
			return
		}
		if err := unix.Mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666"); err != nil {
			t.Errorf("devpts: %v", err)
			return
		}
		if err := os.Symlink("pts/ptmx", "/dev/ptmx"); err != nil {
			t.Error(err)
			return
		}
		f()
	}()
	<-done
}

func TestMountAsConsole(t *testing.T) {
	needRoot(t)
	var slaveSt unix.Stat_t
	inPrivateDev(t, func() {
		master, slave, err := Open()
		if err != nil {
			t.Error(err)
			return
		}
		defer master.Close()
		defer slave.Close()
		if err := unix.Fstat(int(slave.Fd()), &slaveSt); err != nil {
			t.Error(err)
			return
		}
		if err := MountAsConsole(slave); err != nil {
			t.Error(err)
			return
		}
		var st unix.Stat_t
		if err := unix.Stat("/dev/console", &st); err != nil {
			t.Error(err)
			return
		}
		if st.Rdev != slaveSt.Rdev {
			t.Errorf("/dev/console is device %#x, want the pty slave %#x", st.Rdev, slaveSt.Rdev)
		}
	})
	// The host's /dev/console is not the pty.
	var host unix.Stat_t
	if err := unix.Stat("/dev/console", &host); err == nil && host.Rdev == slaveSt.Rdev {
		t.Fatal("the bind mount leaked onto the host's /dev/console")
	}
}

// An image's /dev/console symlink is not followed.
func TestMountAsConsoleRefusesSymlink(t *testing.T) {
	needRoot(t)
	_, slave := openPty(t)
	target := filepath.Join(t.TempDir(), "escaped")
	inPrivateDev(t, func() {
		if err := os.Symlink(target, "/dev/console"); err != nil {
			t.Error(err)
			return
		}
		if err := MountAsConsole(slave); err == nil || !strings.HasPrefix(err.Error(), "create /dev/console: ") {
			t.Errorf("MountAsConsole over a symlink = %v, want a create error", err)
		}
	})
	if _, err := os.Lstat(target); err == nil {
		t.Fatal("MountAsConsole followed /dev/console's symlink and created its target")
	}
}
