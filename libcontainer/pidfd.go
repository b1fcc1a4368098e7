package libcontainer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SendInitPidfd sends a pidfd of the container's init over sock (a
// connected AF_UNIX socket), as runc's --pidfd-socket does; the payload is
// runc's "standard". A nil sock does nothing.
func (c *Container) SendInitPidfd(sock *os.File) error {
	if sock == nil {
		return nil
	}
	pidfd, err := unix.PidfdOpen(c.state.InitPid, 0)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: pidfd_open %d: %w", c.state.InitPid, err)
	}
	defer unix.Close(pidfd)
	// The pid is the init's only if its start time still matches: the
	// pidfd then refers to the init whatever happens to the pid later.
	if !c.initAlive() {
		return fmt.Errorf("--pidfd-socket: container %q: its init has exited", c.state.ID)
	}
	return sendPidfd(sock, pidfd, "standard")
}

// SendPidfd sends a pidfd of pid (a process berth just started and has not
// reaped, so the pid cannot have been reused) over sock; the payload is
// runc's "setns". A nil sock does nothing.
func SendPidfd(sock *os.File, pid int) error {
	if sock == nil {
		return nil
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	return sendPidfd(sock, pidfd, "setns")
}

func sendPidfd(sock *os.File, pidfd int, name string) error {
	if err := unix.Sendmsg(int(sock.Fd()), []byte(name), unix.UnixRights(pidfd), nil, 0); err != nil {
		return fmt.Errorf("--pidfd-socket: sending the pidfd: %w", err)
	}
	return nil
}
