package security_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket listens where --console-socket points, takes the pty
// master the runtime sends (SCM_RIGHTS) and reads it until the container
// is gone, so that nothing blocks on a full terminal.
func (a *attack) consoleSocket() string {
	a.t.Helper()
	// sun_path holds 108 bytes: a short directory of its own.
	dir, err := os.MkdirTemp("", "sec-cs-")
	must(a.t, err)
	path := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	must(a.t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		oob := make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(make([]byte, 256), oob)
		if err != nil {
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m)
			for _, fd := range fds {
				master := os.NewFile(uintptr(fd), "pty-master")
				go func() { io.Copy(io.Discard, master); master.Close() }()
			}
		}
	}()
	a.t.Cleanup(func() {
		l.Close()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		os.RemoveAll(dir)
	})
	return path
}

// CVE-2025-52565: with process.terminal the runtime bind-mounts the pty
// over /dev/console, creating the file first. When /dev comes from a
// volume or the image, /dev/console can be a symlink: a runtime that
// follows it truncates (O_CREAT|O_TRUNC) and overmounts the link's target,
// a file of the attacker's choice. It must not follow it.
func TestConsoleSymlink(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		a.runcGap("runc 1.1.5 creates and mounts /dev/console through a symlink (CVE-2025-52565, fixed in 1.2.8)")
		c := a.newContainer("/bin/sh", "-c", "/probe --stat /dev/console --stat /etc/console-target > /report/probe")
		target := filepath.Join(c.rootfs, "etc", "console-target")
		must(a.t, os.WriteFile(target, []byte("the image's file\n"), 0o644))
		c.devFromVolume(map[string]string{"console": "/etc/console-target", "ptmx": "pts/ptmx"})
		c.spec.Process.Terminal = true
		if r := c.create(callOpts{}, "--console-socket", a.consoleSocket()); r.code != 0 {
			a.t.Logf("refused: %s", r)
			return
		}
		if b := readQuiet(target); b != "the image's file\n" {
			a.escaped("the runtime opened /dev/console's symlink target /etc/console-target for writing (now %q)", b)
		}
		c.mustStart()
		deadline := time.Now().Add(5 * time.Second)
		var out string
		for time.Now().Before(deadline) {
			if out = readQuiet(filepath.Join(c.report, "probe")); out != "" {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		rep, ok := decodeReport(out)
		if !ok {
			a.t.Fatalf("the container's probe reported nothing: %q", out)
		}
		st := rep.Stats["/etc/console-target"]
		a.t.Logf("/dev/console: %+v; /etc/console-target: %+v", rep.Stats["/dev/console"], st)
		if st.Type == "char" {
			a.escaped("the pty was mounted over /etc/console-target, the target of the image's /dev/console symlink (char %d:%d)", st.Major, st.Minor)
		}
	})
}
