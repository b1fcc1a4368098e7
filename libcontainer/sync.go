package libcontainer

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The runtime and berth-init talk over one SOCK_SEQPACKET socket pair, so
// every write is one message. The init says "usermap", "pid N",
// "mounted", "seccomp-fd" (with the listener fd), "ready" or
// "error ERRNO TEXT"; the runtime answers "ok", "go", "hooks-done" or
// "seccomp-ack" (libcontainer/cinit/c/sync.c is the other side).

type syncSocket struct {
	f *os.File
}

// initAnswerLimit bounds each wait for berth-init's next message: its
// setup takes milliseconds, but a createContainer hook without a timeout or
// a mount that hangs must not keep `berth create` waiting for ever.
const initAnswerLimit = 10 * time.Minute

// errNoAnswer is a wait for berth-init that ran past its limit.
var errNoAnswer = fmt.Errorf("berth-init did not answer within %v", initAnswerLimit)

// setLimit bounds every receive (0: none, for an exec that waits for a
// paused container's resume, as runc's does).
func (s *syncSocket) setLimit(d time.Duration) error {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	return unix.SetsockoptTimeval(int(s.f.Fd()), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func newSyncPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

func (s *syncSocket) send(msg string) error {
	_, err := unix.Write(int(s.f.Fd()), []byte(msg))
	if err != nil {
		return fmt.Errorf("talking to berth-init: %w", err)
	}
	return nil
}

var errEOF = errors.New("berth-init hung up")

// recv reads one message and any fd passed with it (-1 if none). An
// "error" message becomes the error it describes, with the errno's text
// appended as Go prints it.
func (s *syncSocket) recv() (string, int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(s.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return "", -1, errNoAnswer
		}
		if err != nil {
			return "", -1, fmt.Errorf("talking to berth-init: %w", err)
		}
		if n == 0 {
			return "", -1, errEOF
		}
		fd := -1
		if oobn > 0 {
			if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cmsgs) > 0 {
				if fds, err := unix.ParseUnixRights(&cmsgs[0]); err == nil && len(fds) > 0 {
					fd = fds[0]
				}
			}
		}
		msg := string(buf[:n])
		if rest, ok := strings.CutPrefix(msg, "error "); ok {
			return "", fd, initError(rest)
		}
		return msg, fd, nil
	}
}

// initError turns "ERRNO TEXT" into an error; errno 0 means TEXT is all.
func initError(s string) error {
	num, text, _ := strings.Cut(s, " ")
	errno, err := strconv.Atoi(num)
	if err != nil {
		return errors.New(s)
	}
	if errno == 0 {
		return errors.New(text)
	}
	return fmt.Errorf("%s: %w", text, unix.Errno(errno))
}
