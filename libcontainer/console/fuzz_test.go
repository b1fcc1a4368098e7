package console

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzReceive sends what a console-socket peer might send, on a stream
// socket like the one --console-socket connects to: a payload with no fd,
// one fd or two. Receive must not panic, must fail when no fd came, and
// must name the fd it returns by the payload.
func FuzzReceive(f *testing.F) {
	for _, s := range []string{"/dev/ptmx", "", "x", "/dev/pts/3\x00junk"} {
		for fds := uint8(0); fds < 3; fds++ {
			f.Add([]byte(s), fds)
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte, nfds uint8) {
		if len(payload) > 4096 {
			payload = payload[:4096]
		}
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		send, recv := os.NewFile(uintptr(pair[0]), "send"), os.NewFile(uintptr(pair[1]), "recv")
		defer send.Close()
		defer recv.Close()
		var oob []byte
		var fds []int
		for i := 0; i < int(nfds%3); i++ {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			fds = append(fds, fd)
		}
		if len(fds) > 0 {
			oob = unix.UnixRights(fds...)
		}
		if len(payload) == 0 && len(oob) == 0 {
			send.Close() // the peer hangs up without sending
		} else if err := unix.Sendmsg(int(send.Fd()), payload, oob, nil, 0); err != nil {
			t.Fatal(err)
		}
		got, err := Receive(recv)
		if len(fds) == 0 {
			if err == nil {
				got.Close()
				t.Fatalf("Receive returned %s without an fd sent", got.Name())
			}
			return
		}
		if err != nil {
			if len(fds) == 1 {
				t.Fatalf("Receive of one fd with %q: %v", payload, err)
			}
			return
		}
		defer got.Close()
		if len(payload) > 0 && got.Name() != string(payload) {
			t.Fatalf("Receive named the fd %q, sent %q", got.Name(), payload)
		}
	})
}
