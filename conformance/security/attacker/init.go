package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	"golang.org/x/sys/unix"
)

// inspectInitCmd attacks a container init that waits for `start`: if it is
// dumpable, a process of the container (or of another container in its
// pid namespace) can read its environment and memory (the config, with
// its secrets), see its fds (host paths), ptrace it, and reach host
// directories through /proc/PID/fd/N.
func inspectInitCmd(fs *flag.FlagSet, lg *logger) func() error {
	pid := fs.Int("pid", 1, "the init to inspect")
	secret := fs.String("secret", "", "value to look for in its environ and memory")
	name := fs.String("name", "", "file to create in every directory the init holds open")
	return func() error {
		in := &inspector{lg: lg, pid: *pid, secret: []byte(*secret)}
		in.environ()
		in.mem()
		fds := in.fds()
		in.ptrace()
		if *name != "" {
			in.createThrough(fds, *name)
		}
		lg.log(event.Event{Kind: "done"})
		return nil
	}
}

type inspector struct {
	lg     *logger
	pid    int
	secret []byte
}

func (in *inspector) proc(name string) string { return fmt.Sprintf("/proc/%d/%s", in.pid, name) }

func (in *inspector) environ() {
	b, err := os.ReadFile(in.proc("environ"))
	e := event.Event{Kind: "environ", PID: in.pid, Result: errName(err)}
	if err == nil {
		e.Found = len(in.secret) > 0 && bytes.Contains(b, in.secret)
		e.Detail = fmt.Sprintf("%d bytes", len(b))
	}
	in.lg.log(e)
}

// mem reads every readable mapping through /proc/PID/mem and looks for
// the secret; it reads at most 1 GiB.
func (in *inspector) mem() {
	e := event.Event{Kind: "mem", PID: in.pid}
	defer func() { in.lg.log(e) }()
	maps, err := os.Open(in.proc("maps"))
	if err == nil {
		defer maps.Close()
	}
	var mem *os.File
	if err == nil {
		if mem, err = os.Open(in.proc("mem")); err == nil {
			defer mem.Close()
		}
	}
	if err != nil {
		e.Result = errName(err)
		e.Detail = err.Error()
		return
	}
	var total, regions int
	var firstErr error
	buf := make([]byte, 1<<20)
	sc := bufio.NewScanner(maps)
	for sc.Scan() && total < 1<<30 && !e.Found {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]")) {
			continue
		}
		var start, end uint64
		if _, err := fmt.Sscanf(f[0], "%x-%x", &start, &end); err != nil {
			continue
		}
		regions++
		// Chunks overlap by the secret's length, so it is found across
		// a chunk boundary too.
		for off := start; off < end && !e.Found; {
			n := uint64(len(buf))
			if end-off < n {
				n = end - off
			}
			got, err := mem.ReadAt(buf[:n], int64(off))
			if got > 0 {
				total += got
				if len(in.secret) > 0 && bytes.Contains(buf[:got], in.secret) {
					e.Found = true
				}
			}
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				break
			}
			if n <= uint64(len(in.secret)) {
				break
			}
			off += n - uint64(len(in.secret))
		}
	}
	if total > 0 {
		e.Result = "ok"
	} else {
		e.Result = errName(firstErr)
	}
	e.Detail = fmt.Sprintf("read %d bytes from %d mappings", total, regions)
}

// fds lists the init's open fds and where they point; Found says whether
// any link could be read (the directory itself is readable by its owner
// even when the links are not).
func (in *inspector) fds() []int {
	ents, err := os.ReadDir(in.proc("fd"))
	if err != nil {
		in.lg.log(event.Event{Kind: "fds", PID: in.pid, Result: errName(err)})
		return nil
	}
	var fds []int
	var desc []string
	e := event.Event{Kind: "fds", PID: in.pid, Result: "ok"}
	for _, ent := range ents {
		n, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		fds = append(fds, n)
		target, err := os.Readlink(in.proc("fd/" + ent.Name()))
		if err != nil {
			target = errName(err)
		} else {
			e.Found = true
		}
		desc = append(desc, ent.Name()+" -> "+target)
	}
	sort.Ints(fds)
	e.Detail = strings.Join(desc, "; ")
	in.lg.log(e)
	return fds
}

// ptrace seizes the init, stops it, and lets it go again.
func (in *inspector) ptrace() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	e := event.Event{Kind: "ptrace", PID: in.pid}
	if err := unix.PtraceSeize(in.pid); err != nil {
		e.Result = errName(err)
		in.lg.log(e)
		return
	}
	e.Result = "ok"
	e.Detail = "seized"
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_INTERRUPT, uintptr(in.pid), 0, 0, 0, 0); errno == 0 {
		// Wait (bounded) for the stop, then detach.
		var ws unix.WaitStatus
		for i := 0; i < 200; i++ {
			if p, _ := unix.Wait4(in.pid, &ws, unix.WALL|unix.WNOHANG, nil); p == in.pid {
				e.Detail = "seized and stopped"
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	unix.PtraceDetach(in.pid)
	in.lg.log(e)
}

// createThrough creates name in every directory the init holds open,
// through the /proc/PID/fd/N magic link. Path is where the link pointed.
func (in *inspector) createThrough(fds []int, name string) {
	for _, n := range fds {
		link := in.proc("fd/" + strconv.Itoa(n))
		st, err := os.Stat(link)
		if err != nil || !st.IsDir() {
			continue
		}
		target, _ := os.Readlink(link)
		fd, err := unix.Open(link+"/"+name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Write(fd, []byte("written from a container through its init's fd\n"))
			unix.Close(fd)
		}
		in.lg.log(event.Event{Kind: "create", PID: in.pid, Path: target, Result: errName(err),
			Detail: "through fd " + strconv.Itoa(n)})
	}
}
