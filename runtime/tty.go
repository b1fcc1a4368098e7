package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// errDetachTTY is runc's answer to a terminal nobody would receive.
var errDetachTTY = errors.New("cannot allocate tty if berth will detach without setting console socket")

// Bounds of the foreground terminal's waits.
const (
	// masterTimeout bounds the wait for the pty master on the internal
	// console socket. The init sends it during create, before create
	// returns, so it is normally already queued.
	masterTimeout = 10 * time.Second
	// drainTimeout bounds copying the container's last output after its
	// process exited: a process it left behind may keep the pty open.
	drainTimeout = 2 * time.Second
)

// foregroundTTY is `berth run` / `berth exec` with process.terminal and no
// --console-socket: berth makes a console socket of its own, receives the
// container's pty master there, and connects it to its own stdio as runc
// does: the caller's terminal in raw mode, input forwarded, output copied,
// window size followed, the terminal restored on every way out.
type foregroundTTY struct {
	dir      string
	listener *net.UnixListener
	master   *os.File
	host     *os.File      // the caller's terminal, nil when there is none
	saved    *unix.Termios // host's settings before raw mode
	outDone  chan struct{}
	closed   bool
}

// newForegroundTTY makes the private console socket; Path goes to
// libcontainer as --console-socket would.
func newForegroundTTY() (*foregroundTTY, error) {
	dir, err := os.MkdirTemp("", "berth-tty-")
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "console.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return &foregroundTTY{dir: dir, listener: l}, nil
}

// Path is the console socket's path.
func (t *foregroundTTY) Path() string { return t.listener.Addr().String() }

// attach receives the pty master and starts copying. Call it once the
// container's process has its terminal (create or exec returned).
func (t *foregroundTTY) attach() error {
	t.listener.SetDeadline(time.Now().Add(masterTimeout))
	conn, err := t.listener.AcceptUnix()
	if err != nil {
		return fmt.Errorf("terminal: waiting for the container's pty: %w", err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(masterTimeout))
	fd, err := receiveFD(conn)
	if err != nil {
		return err
	}
	// Non-blocking, so the final drain can honour a deadline.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("terminal: %w", err)
	}
	t.master = os.NewFile(uintptr(fd), "pty-master")
	t.host = hostTerminal()
	if t.host == nil {
		// Output goes to a file or a pipe: plain newlines there.
		if tio, err := unix.IoctlGetTermios(int(t.master.Fd()), unix.TCGETS); err == nil {
			tio.Oflag &^= unix.ONLCR
			unix.IoctlSetTermios(int(t.master.Fd()), unix.TCSETS, tio)
		}
	} else {
		t.resize()
		if err := t.makeRaw(); err != nil {
			return err
		}
	}
	t.outDone = make(chan struct{})
	go func() {
		defer close(t.outDone)
		io.Copy(os.Stdout, t.master) // ends with EIO once the last slave closes
	}()
	go t.forwardInput()
	return nil
}

// receiveFD takes the one fd the init sends on the console socket.
func receiveFD(conn *net.UnixConn) (int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return -1, fmt.Errorf("terminal: receiving the container's pty: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil && len(msgs) == 1 {
		if fds, err := unix.ParseUnixRights(&msgs[0]); err == nil && len(fds) == 1 {
			unix.CloseOnExec(fds[0])
			return fds[0], nil
		}
	}
	return -1, errors.New("terminal: the console socket received no pty")
}

// hostTerminal is the caller's terminal: whichever of stderr, stdout and
// stdin is one, else the controlling terminal, else nil.
func hostTerminal() *os.File {
	for _, f := range []*os.File{os.Stderr, os.Stdout, os.Stdin} {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			return f
		}
	}
	f, err := os.OpenFile("/dev/tty", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return f
}

// makeRaw puts the caller's terminal in raw mode (as cfmakeraw(3)): keys,
// ^C included, go to the container's terminal, which interprets them.
func (t *foregroundTTY) makeRaw() error {
	fd := int(t.host.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	saved := *tio
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN], tio.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, tio); err != nil {
		return fmt.Errorf("terminal: setting raw mode: %w", err)
	}
	t.saved = &saved
	return nil
}

// resize gives the container's terminal the caller's window size (on
// attach and on every SIGWINCH).
func (t *foregroundTTY) resize() {
	if t == nil || t.host == nil || t.master == nil {
		return
	}
	ws, err := unix.IoctlGetWinsize(int(t.host.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	if err := unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		logrus.Debugf("terminal: resizing the container's pty: %v", err)
	}
}

// forwardInput copies stdin to the container's terminal. At the end of an
// input that is not a terminal it types the end-of-file character, so the
// program reading its terminal sees the end (`echo ls | berth run`).
func (t *foregroundTTY) forwardInput() {
	io.Copy(t.master, os.Stdin)
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err == nil {
		return
	}
	eof := byte(4)
	if tio, err := unix.IoctlGetTermios(int(t.master.Fd()), unix.TCGETS); err == nil && tio.Cc[unix.VEOF] != 0 {
		eof = tio.Cc[unix.VEOF]
	}
	t.master.Write([]byte{eof})
}

// close copies what the container still wrote, restores the caller's
// terminal and removes the socket. Safe on every path, also before attach.
func (t *foregroundTTY) close() {
	if t == nil || t.closed {
		return
	}
	t.closed = true
	if t.outDone != nil {
		select {
		case <-t.outDone:
		case <-time.After(drainTimeout):
			t.master.SetReadDeadline(time.Now())
			<-t.outDone
		}
	}
	t.restore()
	if t.master != nil {
		t.master.Close()
	}
	t.listener.Close()
	os.RemoveAll(t.dir)
}

// restore puts the caller's terminal back as it was.
func (t *foregroundTTY) restore() {
	if t.saved != nil {
		unix.IoctlSetTermios(int(t.host.Fd()), unix.TCSETS, t.saved)
		t.saved = nil
	}
}

// dialPidfdSocket connects to --pidfd-socket before anything is created,
// so a bad path fails early. An empty path gives nil.
func dialPidfdSocket(path string) (*os.File, error) {
	if path == "" {
		return nil, nil
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket: %w", err)
	}
	defer conn.Close()
	f, err := conn.File()
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket: %w", err)
	}
	return f, nil
}
