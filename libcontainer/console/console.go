// Package console makes a container's pseudo-terminal and hands its master
// to the caller's console socket, as runc does (SCM_RIGHTS, one fd).
package console

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Open allocates a pty from /dev/ptmx as seen by the calling process (inside
// the container, after pivot_root) and returns the master and the slave.
func Open() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, so no path lookup in
	// the container's /dev/pts can be raced.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	sfd := int(r)
	if errno != 0 {
		n, perr := unix.IoctlGetInt(fd, unix.TIOCGPTN)
		if perr != nil {
			master.Close()
			return nil, nil, fmt.Errorf("ptsname: %w", perr)
		}
		name := fmt.Sprintf("/dev/pts/%d", n)
		sfd, err = unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			master.Close()
			return nil, nil, fmt.Errorf("open %s: %w", name, err)
		}
	}
	return master, os.NewFile(uintptr(sfd), "pty-slave"), nil
}

// MountAsConsole bind-mounts the pty slave over /dev/console, as runc does,
// creating the file if needed without following a link the image put there.
func MountAsConsole(slave *os.File) error {
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create /dev/console: %w", err)
	}
	defer unix.Close(fd)
	src := fmt.Sprintf("/proc/self/fd/%d", slave.Fd())
	dst := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount the terminal on /dev/console: %w", err)
	}
	return nil
}

// SetSize applies process.consoleSize to a terminal.
func SetSize(f *os.File, size *specs.Box) error {
	if size == nil {
		return nil
	}
	ws := &unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("process.consoleSize: %w", err)
	}
	return nil
}

// Send passes f over the unix socket sock, with its name as the payload.
func Send(sock *os.File, f *os.File) error {
	name := []byte(f.Name())
	if err := unix.Sendmsg(int(sock.Fd()), name, unix.UnixRights(int(f.Fd())), nil, 0); err != nil {
		return fmt.Errorf("sending the terminal to the console socket: %w", err)
	}
	return nil
}

// Receive takes one fd sent with Send from sock.
func Receive(sock *os.File) (*os.File, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving the terminal: %w", err)
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cmsgs) != 1 {
		return nil, fmt.Errorf("receiving the terminal: no fd in the message")
	}
	fds, err := unix.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receiving the terminal: no fd in the message")
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}

// Dial connects to a console socket given by path.
func Dial(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("--console-socket %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}
