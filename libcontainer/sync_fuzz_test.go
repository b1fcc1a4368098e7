package libcontainer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FuzzSyncRecv sends arbitrary messages, as a broken or hostile berth-init
// could, over the real SOCK_SEQPACKET pair and reads them with recv.
// Nothing may panic or block; a message is returned as sent (up to the
// 4096-byte buffer), an "error " message becomes an error, an empty one
// means the init hung up.
func FuzzSyncRecv(f *testing.F) {
	for _, s := range []string{
		"usermap", "pid 4242", "mounted", "seccomp-fd", "ready",
		"error 2 mounts[0] (destination \"/x\"): create mount point",
		"error 0 hooks.createContainer[0] (/h): exit status 1",
		"error ", "error x", "error 99999999999999999999 overflow", "error -1 negative", "error 1",
		"", strings.Repeat("A", 5000),
	} {
		f.Add([]byte(s))
	}
	parent, child, err := newSyncPair()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { parent.Close(); child.Close() })
	s := &syncSocket{f: parent}
	if err := s.setLimit(5 * time.Second); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 8192 {
			msg = msg[:8192]
		}
		if _, err := unix.Write(int(child.Fd()), msg); err != nil {
			t.Fatal(err)
		}
		got, fd, err := s.recv()
		if fd != -1 {
			t.Fatalf("recv returned fd %d for a message without one", fd)
		}
		sent := string(msg[:min(len(msg), 4096)])
		switch {
		case len(msg) == 0:
			if !errors.Is(err, errEOF) {
				t.Fatalf("empty message: %q, %v; want errEOF", got, err)
			}
		case strings.HasPrefix(sent, "error "):
			if err == nil || got != "" {
				t.Fatalf("%q: got %q, %v; want an error", sent, got, err)
			}
		default:
			if err != nil || got != sent {
				t.Fatalf("%q: got %q, %v", sent, got, err)
			}
		}
	})
}

// FuzzInitError parses the "ERRNO TEXT" of an init's error message.
func FuzzInitError(f *testing.F) {
	for _, s := range []string{"2 no file", "0 text only", "x", "", "-5 neg", "4294967297 big", "1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := initError(s); err == nil {
			t.Fatalf("initError(%q) is nil", s)
		}
	})
}
