package runtime_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/probe/report"
	"golang.org/x/sys/unix"
)

// consoleSocket is the orchestrator's end of --console-socket: it receives
// the pty master the runtime sends with SCM_RIGHTS and collects what the
// container writes to its terminal.
type consoleSocket struct {
	Path   string
	master chan *os.File

	mu  sync.Mutex
	out bytes.Buffer
}

func newConsoleSocket(t *testing.T) *consoleSocket {
	t.Helper()
	// Socket paths are limited to 108 bytes: keep it short.
	dir, err := os.MkdirTemp("", "cs")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	cs := &consoleSocket{Path: filepath.Join(dir, "s"), master: make(chan *os.File, 1)}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cs.Path, Net: "unix"})
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		f := receiveFD(conn)
		cs.master <- f
		if f == nil {
			return
		}
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			cs.mu.Lock()
			cs.out.Write(buf[:n])
			cs.mu.Unlock()
			if err != nil { // EIO once the last slave fd is closed
				return
			}
		}
	}()
	return cs
}

// receiveFD reads one message carrying one fd over SCM_RIGHTS.
func receiveFD(conn *net.UnixConn) *os.File {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n]))
}

// waitMaster waits for the runtime to send the pty master.
func (cs *consoleSocket) waitMaster(t *testing.T) *os.File {
	t.Helper()
	select {
	case f := <-cs.master:
		if f == nil {
			t.Fatalf("the console socket did not receive a pty master fd")
		}
		t.Cleanup(func() { f.Close() })
		return f
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing connected to the console socket")
		return nil
	}
}

// waitReport waits until a whole probe report has arrived on the terminal
// (the pty may deliver it in several reads) and decodes it.
func (cs *consoleSocket) waitReport(t *testing.T) report.Report {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs.mu.Lock()
		out := cs.out.String()
		cs.mu.Unlock()
		var rep report.Report
		if i := strings.Index(out, "{"); i >= 0 && json.Unmarshal([]byte(strings.TrimSpace(out[i:])), &rep) == nil {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("no whole probe report arrived on the terminal; got %q", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
