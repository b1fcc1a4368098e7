package libcontainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The runtime and the init (or exec) process talk over one SOCK_SEQPACKET
// socket pair, so every write is one message. The C nsenter stage speaks
// short text lines ("usermap", "pid N", "error ..."); the Go stage speaks
// JSON syncMsg values. Nothing else crosses between them.

type syncType string

const (
	syncConfig     syncType = "config"      // runtime → init: the initConfig
	syncMounted    syncType = "mounted"     // init → runtime: mounts done, run prestart/createRuntime hooks
	syncHooksDone  syncType = "hooks-done"  // runtime → init: go on
	syncSeccompFD  syncType = "seccomp-fd"  // init → runtime: the listener fd rides along (SCM_RIGHTS)
	syncSeccompAck syncType = "seccomp-ack" // runtime → init: the fd was sent to the agent
	syncReady      syncType = "ready"       // init → runtime: waiting on the exec fifo / about to exec
	syncError      syncType = "error"       // init → runtime: setup failed, Error says why
)

type syncMsg struct {
	Type   syncType    `json:"type"`
	Error  string      `json:"error,omitempty"`
	Config *initConfig `json:"config,omitempty"`
}

type syncSocket struct {
	f *os.File
}

func newSyncPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("sync socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// maxSyncMsg bounds one message; the init config with a large seccomp
// profile is the biggest one.
const maxSyncMsg = 4 << 20

func (s *syncSocket) send(m *syncMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = s.f.Write(b)
	return err
}

func (s *syncSocket) sendFD(m *syncMsg, fd int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return unix.Sendmsg(int(s.f.Fd()), b, unix.UnixRights(fd), nil, 0)
}

// recvRaw reads one message and any fd passed with it (-1 if none).
func (s *syncSocket) recvRaw() ([]byte, int, error) {
	// Peek at the message's size first: a large buffer for every small
	// message would cost a garbage collection on the start path.
	size := 4096
	for {
		n, _, err := unix.Recvfrom(int(s.f.Fd()), nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n > size {
			size = min(n, maxSyncMsg)
		}
		break
	}
	buf := make([]byte, size)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(s.f.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, -1, err
		}
		if n == 0 {
			return nil, -1, errEOF
		}
		fd := -1
		if oobn > 0 {
			if cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cmsgs) > 0 {
				if fds, err := unix.ParseUnixRights(&cmsgs[0]); err == nil && len(fds) > 0 {
					fd = fds[0]
				}
			}
		}
		return buf[:n], fd, nil
	}
}

var errEOF = errors.New("the other side closed the sync socket")

// recv reads one JSON message; an "error" message becomes an error.
func (s *syncSocket) recv() (*syncMsg, int, error) {
	b, fd, err := s.recvRaw()
	if err != nil {
		return nil, -1, err
	}
	if len(b) > 0 && b[0] != '{' {
		text := strings.TrimSpace(string(b))
		if strings.HasPrefix(text, "error ") {
			return nil, fd, errors.New(strings.TrimPrefix(text, "error "))
		}
		return nil, fd, fmt.Errorf("unexpected message from the nsenter stage: %q", text)
	}
	var m syncMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fd, fmt.Errorf("decoding sync message: %w", err)
	}
	if m.Type == syncError {
		return &m, fd, errors.New(m.Error)
	}
	return &m, fd, nil
}

// expect reads one message and checks its type.
func (s *syncSocket) expect(t syncType) (*syncMsg, int, error) {
	m, fd, err := s.recv()
	if err != nil {
		return nil, fd, err
	}
	if m.Type != t {
		return nil, fd, fmt.Errorf("sync: got %q, want %q", m.Type, t)
	}
	return m, fd, nil
}

// nsenterStage drives the C stage's side of the conversation until it
// reports the final pid (when it forks) or hands over to the Go stage.
// writeMaps is called when the stage unshared a user namespace.
func (s *syncSocket) nsenterStage(writeMaps func() error, forks bool) (pid int, err error) {
	for {
		b, _, err := s.recvRaw()
		if err != nil {
			return 0, fmt.Errorf("namespace setup: %w", err)
		}
		line := strings.TrimSpace(string(b))
		switch {
		case line == "usermap":
			if err := writeMaps(); err != nil {
				return 0, err
			}
			if _, err := s.f.Write([]byte("ok\n")); err != nil {
				return 0, err
			}
			if !forks {
				return 0, nil
			}
		case strings.HasPrefix(line, "pid "):
			return strconv.Atoi(strings.TrimPrefix(line, "pid "))
		case strings.HasPrefix(line, "error "):
			return 0, errors.New(strings.TrimPrefix(line, "error "))
		default:
			return 0, fmt.Errorf("namespace setup: unexpected message %q", line)
		}
	}
}
