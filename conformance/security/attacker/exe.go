package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	"golang.org/x/sys/unix"
)

// payload is what a successful attack writes at the start of the runtime's
// binary: the test sees its checksum change.
var payload = []byte("#!/bin/sh\necho the runtime binary was overwritten from a container\n")

type fileID struct{ dev, ino uint64 }

func fstatID(fd int) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileID{}, err
	}
	return fileID{st.Dev, st.Ino}, nil
}

func statID(path string) (fileID, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return fileID{}, false
	}
	return fileID{st.Dev, st.Ino}, true
}

// held is an executable of another process, opened read-only while that
// process ran it, which the watcher then tries to reopen for writing.
type held struct {
	fd     int
	pid    int
	target bool
	memfd  bool // a memory file (a runtime's copy of itself)
	done   bool
}

// watcher is CVE-2019-5736's attacker: it watches the container's pid
// namespace for a process running a binary that is neither its own nor
// busybox (the runtime entering the container, or run as a script's
// interpreter), keeps /proc/PID/exe open, and once the runtime is no
// longer running (ETXTBSY until then) reopens it through /proc/self/fd
// for writing. Only the file the test names (-dev, -ino: the runtime copy
// under test) is written to; other executables are opened for writing
// and closed, to show whether they could have been.
type watcher struct {
	lg      *logger
	target  fileID
	ignore  []fileID
	onlyPID int
	held    []*held
	handled map[int]bool // pids held or ignored
	denied  map[int]bool // pids whose exe we could not open, logged once
	maxPID  int
}

func watchExeCmd(fs *flag.FlagSet, lg *logger) func() error {
	dev := fs.Uint64("dev", 0, "st_dev of the runtime binary under attack")
	ino := fs.Uint64("ino", 0, "st_ino of the runtime binary under attack")
	pid := fs.Int("pid", 0, "watch only this pid (0: every process)")
	d := fs.Duration("for", 10*time.Second, "how long to watch")
	stop := fs.String("stop", "", "stop when this file exists")
	return func() error {
		w := &watcher{lg: lg, target: fileID{*dev, *ino}, onlyPID: *pid,
			handled: map[int]bool{}, denied: map[int]bool{}}
		for _, p := range []string{"/proc/self/exe", "/bin/busybox"} {
			if id, ok := statID(p); ok {
				w.ignore = append(w.ignore, id)
			}
		}
		w.maxPID = os.Getpid()
		w.run(newStopper(*d, *stop))
		return nil
	}
}

func (w *watcher) run(s *stopper) {
	w.lg.log(event.Event{Kind: "ready", PID: os.Getpid()})
	lastScan := time.Time{}
	for !s.done() {
		if w.onlyPID > 0 {
			w.try(w.onlyPID)
		} else {
			// New processes get the next pids: trying those first
			// catches one that runs the runtime for well under a
			// millisecond; a scan of /proc now and then finds the rest.
			for p := w.maxPID + 1; p <= w.maxPID+4; p++ {
				w.try(p)
			}
			if time.Since(lastScan) > time.Millisecond {
				w.scan()
				lastScan = time.Now()
			}
		}
		w.tryWrites()
	}
	for _, h := range w.held {
		if !h.done {
			w.lg.log(event.Event{Kind: "write", PID: h.pid, Target: h.target, Result: "ETXTBSY",
				Detail: "the file was still being executed when the watch ended"})
		}
	}
	w.lg.log(event.Event{Kind: "done"})
}

func (w *watcher) scan() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		if p, err := strconv.Atoi(e.Name()); err == nil {
			if p > w.maxPID {
				w.maxPID = p
			}
			w.try(p)
		}
	}
}

func (w *watcher) try(pid int) {
	if w.handled[pid] || pid == os.Getpid() {
		return
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/exe", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT || err == unix.ESRCH {
		return
	}
	if pid > w.maxPID {
		w.maxPID = pid
	}
	if err != nil {
		// The process may become accessible later (a runtime that
		// drops its capabilities): keep trying, log once.
		if !w.denied[pid] {
			w.denied[pid] = true
			w.lg.log(event.Event{Kind: "denied", PID: pid, Cmdline: cmdline(pid), Result: errName(err)})
		}
		return
	}
	id, err := fstatID(fd)
	if err != nil {
		unix.Close(fd)
		return
	}
	for _, ig := range w.ignore {
		if id == ig {
			unix.Close(fd)
			if w.onlyPID == 0 {
				w.handled[pid] = true
			}
			return
		}
	}
	w.handled[pid] = true
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	h := &held{fd: fd, pid: pid, target: id == w.target, memfd: strings.HasPrefix(exe, "/memfd:")}
	w.held = append(w.held, h)
	w.lg.log(event.Event{Kind: "held", PID: pid, Exe: exe, Cmdline: cmdline(pid), Target: h.target,
		Detail: fmt.Sprintf("dev %d ino %d", id.dev, id.ino)})
}

// tryWrites reopens every held executable for writing; ETXTBSY means a
// process still runs it, so that one is tried again on the next round.
func (w *watcher) tryWrites() {
	for _, h := range w.held {
		if h.done {
			continue
		}
		fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", h.fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == unix.ETXTBSY {
			continue
		}
		h.done = true
		e := event.Event{Kind: "write", PID: h.pid, Target: h.target}
		switch {
		case err != nil:
			e.Result = errName(err)
			e.Detail = "open for writing"
		case h.target:
			n, werr := unix.Pwrite(fd, payload, 0)
			e.Result = errName(werr)
			e.Detail = fmt.Sprintf("wrote %d bytes", n)
		case h.memfd:
			// The runtime's private copy: sealed, a write must fail.
			n, werr := unix.Pwrite(fd, payload, 0)
			e.Result = errName(werr)
			e.Detail = fmt.Sprintf("wrote %d bytes to the runtime's memfd copy", n)
		default:
			e.Result = "ok"
			e.Detail = "opened for writing; not the file under test, nothing written"
		}
		if fd >= 0 {
			unix.Close(fd)
		}
		unix.Close(h.fd)
		w.lg.log(e)
	}
}
