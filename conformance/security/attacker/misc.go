package main

import (
	"flag"
	"os"
	"path/filepath"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	"golang.org/x/sys/unix"
)

// escapeCwdCmd is CVE-2024-21626's payload: a process whose working
// directory a runtime left on the host reports it (the kernel's getcwd
// says "(unreachable)" for a directory outside the process's root) and
// creates a file there and in its parent.
func escapeCwdCmd(fs *flag.FlagSet, lg *logger) func() error {
	name := fs.String("name", "escaped", "file to create in . and ..")
	return func() error {
		buf := make([]byte, 4096)
		n, _, errno := unix.Syscall(unix.SYS_GETCWD, uintptr(unsafePointer(buf)), uintptr(len(buf)), 0)
		e := event.Event{Kind: "cwd", Result: errName(errnoErr(errno))}
		if errno == 0 && n > 0 {
			e.Path = string(buf[:n-1])
		}
		lg.log(e)
		for _, p := range []string{*name, "../" + *name} {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err == nil {
				f.WriteString("written by a container process through its working directory\n")
				f.Close()
			}
			lg.log(event.Event{Kind: "create", Path: p, Result: errName(err)})
		}
		lg.log(event.Event{Kind: "done"})
		return nil
	}
}

// mkdirCgroupsCmd tries to create (and then removes) a cgroup below the
// container's own cgroup and below its parent, in every hierarchy mounted
// under /sys/fs/cgroup (-cgroup names them relative to each hierarchy's
// root, e.g. berth-sec/ID): with a read-only /sys every attempt must fail.
// It touches no other cgroup of the host.
func mkdirCgroupsCmd(fs *flag.FlagSet, lg *logger) func() error {
	name := fs.String("name", "escaped", "cgroup to create")
	own := fs.String("cgroup", "", "the container's cgroup path in each hierarchy")
	return func() error {
		hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
		for _, h := range hierarchies {
			for _, parent := range []string{filepath.Join(h, *own), filepath.Join(h, filepath.Dir(*own))} {
				if st, err := os.Lstat(parent); err != nil || !st.IsDir() {
					continue
				}
				p := filepath.Join(parent, *name)
				err := os.Mkdir(p, 0o755)
				if err == nil {
					os.Remove(p)
				}
				lg.log(event.Event{Kind: "mkdir", Path: p, Result: errName(err)})
			}
		}
		lg.log(event.Event{Kind: "done"})
		return nil
	}
}

// swapCmd exchanges two paths (a directory and a symlink, say) as fast as
// it can, to race a runtime that resolves a path and then uses it.
func swapCmd(fs *flag.FlagSet, lg *logger) func() error {
	a := fs.String("a", "", "first path")
	b := fs.String("b", "", "second path")
	d := fs.Duration("for", 10*time.Second, "how long to swap")
	stop := fs.String("stop", "", "stop when this file exists")
	return func() error {
		lg.log(event.Event{Kind: "ready"})
		s := newStopper(*d, *stop)
		var n int
		var lastErr error
		for !s.done() {
			if err := unix.Renameat2(unix.AT_FDCWD, *a, unix.AT_FDCWD, *b, unix.RENAME_EXCHANGE); err != nil {
				lastErr = err
			} else {
				n++
			}
		}
		e := event.Event{Kind: "swap", Result: errName(lastErr), Detail: itoa(n) + " exchanges"}
		if n > 0 {
			e.Result = "ok"
		}
		lg.log(e)
		lg.log(event.Event{Kind: "done"})
		return nil
	}
}
