package libcontainer

import (
	"errors"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func syncPair(t *testing.T) (parent, child *syncSocket) {
	t.Helper()
	p, c, err := newSyncPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(); c.Close() })
	return &syncSocket{f: p}, &syncSocket{f: c}
}

func isCloexec(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.FD_CLOEXEC != 0
}

func TestSyncPairIsSeqpacketCloexec(t *testing.T) {
	p, c := syncPair(t)
	for _, s := range []*syncSocket{p, c} {
		typ, err := unix.GetsockoptInt(int(s.f.Fd()), unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil || typ != unix.SOCK_SEQPACKET {
			t.Errorf("%s: socket type %d (%v), want SOCK_SEQPACKET", s.f.Name(), typ, err)
		}
		if !isCloexec(t, int(s.f.Fd())) {
			t.Errorf("%s is not close-on-exec", s.f.Name())
		}
	}
}

func TestSyncJSONRoundTrip(t *testing.T) {
	p, c := syncPair(t)
	cfg := &initConfig{Spec: &specs.Spec{Version: "1.2.0", Process: &specs.Process{Args: []string{"sh", "-c", "true"}}},
		Rootfs: "/r", FifoFD: 7, ConsoleFD: -1, PreserveFDs: 2, MountSources: map[int]int{3: 9},
		State: specs.State{ID: "sync"}}
	if err := p.send(&syncMsg{Type: syncConfig, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	m, fd, err := c.expect(syncConfig)
	if err != nil {
		t.Fatal(err)
	}
	if fd != -1 {
		t.Errorf("a message without fd came with fd %d", fd)
	}
	got := m.Config
	if got.Rootfs != "/r" || got.FifoFD != 7 || got.ConsoleFD != -1 || got.PreserveFDs != 2 ||
		got.MountSources[3] != 9 || got.State.ID != "sync" || strings.Join(got.Spec.Process.Args, " ") != "sh -c true" {
		t.Fatalf("received config %+v", got)
	}
	// Messages stay apart: two sends are two receives.
	c.send(&syncMsg{Type: syncMounted})
	c.send(&syncMsg{Type: syncReady})
	if _, _, err := p.expect(syncMounted); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.expect(syncReady); err != nil {
		t.Fatal(err)
	}
}

// Messages larger than the first guess of 4096 bytes arrive whole.
func TestSyncLargeMessage(t *testing.T) {
	p, c := syncPair(t)
	for _, size := range []int{4000, 4097, 150 << 10} {
		env := []string{"BIG=" + strings.Repeat("x", size)}
		if err := p.send(&syncMsg{Type: syncConfig, Config: &initConfig{Spec: &specs.Spec{Process: &specs.Process{Env: env}}}}); err != nil {
			t.Fatalf("send %d bytes: %v", size, err)
		}
		m, _, err := c.expect(syncConfig)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if got := m.Config.Spec.Process.Env[0]; len(got) != size+4 {
			t.Fatalf("%d bytes: received env of %d bytes", size, len(got))
		}
	}
}

func TestSyncFDPassing(t *testing.T) {
	p, c := syncPair(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := c.sendFD(&syncMsg{Type: syncSeccompFD}, int(w.Fd())); err != nil {
		t.Fatal(err)
	}
	w.Close()
	m, fd, err := p.recv()
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != syncSeccompFD || fd < 0 {
		t.Fatalf("recv = %+v, fd %d; want seccomp-fd with an fd", m, fd)
	}
	defer unix.Close(fd)
	if !isCloexec(t, fd) {
		t.Error("a received fd is not close-on-exec")
	}
	if _, err := unix.Write(fd, []byte("through the passed fd")); err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if string(buf[:n]) != "through the passed fd" {
		t.Fatalf("pipe read %q", buf[:n])
	}
}

func TestSyncErrors(t *testing.T) {
	p, c := syncPair(t)

	// The C stage's text lines.
	c.f.Write([]byte("error nsenter: setns 5: Invalid argument\n"))
	if _, _, err := p.recv(); err == nil || err.Error() != "nsenter: setns 5: Invalid argument" {
		t.Errorf("recv of an error line = %v", err)
	}
	c.f.Write([]byte("usermap\n"))
	if _, _, err := p.recv(); err == nil || err.Error() != `unexpected message from the nsenter stage: "usermap"` {
		t.Errorf("recv of a stray line = %v", err)
	}
	// The Go stage's error message.
	c.send(&syncMsg{Type: syncError, Error: "process.cwd \"/nope\": no such file or directory"})
	m, _, err := p.recv()
	if err == nil || err.Error() != `process.cwd "/nope": no such file or directory` || m == nil || m.Type != syncError {
		t.Errorf("recv of an error message = %+v, %v", m, err)
	}
	c.send(&syncMsg{Type: syncError, Error: "boom"})
	if _, _, err := p.expect(syncReady); err == nil || err.Error() != "boom" {
		t.Errorf("expect with an error message = %v, want the error", err)
	}
	c.f.Write([]byte(`{"type": `))
	if _, _, err := p.recv(); err == nil || !strings.HasPrefix(err.Error(), "decoding sync message: ") {
		t.Errorf("recv of broken JSON = %v", err)
	}
	c.send(&syncMsg{Type: syncReady})
	if _, _, err := p.expect(syncMounted); err == nil || err.Error() != `sync: got "ready", want "mounted"` {
		t.Errorf("expect of the wrong type = %v", err)
	}
	c.f.Close()
	if _, _, err := p.recv(); !errors.Is(err, errEOF) {
		t.Errorf("recv after the other side closed = %v, want errEOF", err)
	}
}

func TestNsenterStage(t *testing.T) {
	t.Run("usermap-then-pid", func(t *testing.T) {
		p, c := syncPair(t)
		c.f.Write([]byte("usermap\n"))
		c.f.Write([]byte("pid 4242\n"))
		mapped := false
		pid, err := p.nsenterStage(func() error { mapped = true; return nil }, true)
		if err != nil || pid != 4242 || !mapped {
			t.Fatalf("nsenterStage = %d, %v (maps written: %v); want 4242 after writing maps", pid, err, mapped)
		}
		buf := make([]byte, 16)
		n, _ := c.f.Read(buf)
		if string(buf[:n]) != "ok\n" {
			t.Fatalf("the stage was answered %q, want \"ok\\n\"", buf[:n])
		}
	})
	t.Run("usermap-no-fork", func(t *testing.T) {
		p, c := syncPair(t)
		c.f.Write([]byte("usermap\n"))
		pid, err := p.nsenterStage(func() error { return nil }, false)
		if err != nil || pid != 0 {
			t.Fatalf("nsenterStage = %d, %v; want to return after the maps", pid, err)
		}
	})
	t.Run("maps-fail", func(t *testing.T) {
		p, c := syncPair(t)
		c.f.Write([]byte("usermap\n"))
		_, err := p.nsenterStage(func() error { return errors.New("writing uid_map: boom") }, true)
		if err == nil || err.Error() != "writing uid_map: boom" {
			t.Fatalf("nsenterStage = %v, want the maps error", err)
		}
		// The stage was not told to go on.
		unix.SetNonblock(int(c.f.Fd()), true)
		if n, _ := unix.Read(int(c.f.Fd()), make([]byte, 8)); n > 0 {
			t.Fatal("the stage got an answer although the maps failed")
		}
	})
	for _, tc := range []struct{ line, want string }{
		{"error nsenter: fork : Resource temporarily unavailable\n", "nsenter: fork : Resource temporarily unavailable"},
		{"hello\n", `namespace setup: unexpected message "hello"`},
		{"pid x\n", ""}, // any error
	} {
		p, c := syncPair(t)
		c.f.Write([]byte(tc.line))
		if _, err := p.nsenterStage(func() error { return nil }, true); err == nil || (tc.want != "" && err.Error() != tc.want) {
			t.Errorf("stage said %q: nsenterStage = %v, want %q", tc.line, err, tc.want)
		}
	}
	p, c := syncPair(t)
	c.f.Close()
	if _, err := p.nsenterStage(func() error { return nil }, true); !errors.Is(err, errEOF) || !strings.HasPrefix(err.Error(), "namespace setup: ") {
		t.Errorf("nsenterStage after EOF = %v", err)
	}
}
