package libcontainer

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSyncRecvBoundedAndErrors(t *testing.T) {
	parent, child, err := newSyncPair()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	s := &syncSocket{f: parent}
	if err := s.setLimit(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := s.recv(); !errors.Is(err, errNoAnswer) {
		t.Fatalf("recv with nothing sent: %v, want errNoAnswer", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the bounded recv took %v", d)
	}
	// An error message becomes its error, with Go's errno text.
	for msg, want := range map[string]string{
		"error 2 mounts[0] (destination \"/x\"): create mount point": `mounts[0] (destination "/x"): create mount point: no such file or directory`,
		"error 0 hooks.createContainer[0] (/h): exit status 1":       "hooks.createContainer[0] (/h): exit status 1",
	} {
		if _, err := unix.Write(int(child.Fd()), []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.recv()
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %q", msg, err, want)
		}
		if strings.HasPrefix(msg, "error 2") && !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%q: the errno is not kept (%v)", msg, err)
		}
	}
	child.Close()
	if _, _, err := s.recv(); !errors.Is(err, errEOF) {
		t.Errorf("after the init hung up: %v, want errEOF", err)
	}
}
