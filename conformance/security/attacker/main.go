// Command attacker is the in-container half of the security suite
// (conformance/security). Each subcommand is one attack on the runtime,
// run as a container process; it writes what it tried and what happened
// to the file named by -log (in a directory the test bind-mounts from the
// host), one event.Event a line. It is built static (CGO_ENABLED=0) so
// that it runs in a busybox rootfs.
//
//	watch-exe      hold /proc/PID/exe of every process that runs the runtime's
//	               binary and try to open it for writing (CVE-2019-5736)
//	inspect-init   read a waiting init's environ and memory, list its fds,
//	               ptrace it, create files through its directory fds
//	escape-cwd     report the working directory and create files relative to it
//	               (CVE-2024-21626)
//	mkdir-cgroups  try to create a cgroup in every hierarchy under /sys/fs/cgroup
//	swap           exchange two paths in a loop (mount and mkdir races)
//
// Attacks stop by themselves: every loop has a deadline (-for) and, where
// the test needs to end it early, a stop file (-stop).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/conformance/security/event"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: attacker watch-exe|inspect-init|escape-cwd|mkdir-cgroups|swap [flags]")
		os.Exit(2)
	}
	cmds := map[string]func(*flag.FlagSet, *logger) func() error{
		"watch-exe":     watchExeCmd,
		"inspect-init":  inspectInitCmd,
		"escape-cwd":    escapeCwdCmd,
		"mkdir-cgroups": mkdirCgroupsCmd,
		"swap":          swapCmd,
	}
	mk, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "attacker: unknown attack %q\n", os.Args[1])
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	logPath := fs.String("log", "/report/events", "file the events are appended to")
	lg := &logger{}
	run := mk(fs, lg)
	fs.Parse(os.Args[2:])
	f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attacker:", err)
		os.Exit(1)
	}
	lg.f = f
	if err := run(); err != nil {
		lg.log(event.Event{Kind: "error", Result: err.Error()})
		fmt.Fprintln(os.Stderr, "attacker:", err)
		os.Exit(1)
	}
}

// logger appends events; every line is written with one write(2), so the
// test never reads half of one.
type logger struct{ f *os.File }

func (l *logger) log(e event.Event) {
	b, _ := json.Marshal(e)
	l.f.Write(append(b, '\n'))
}

// errName is an error as its errno name (EACCES) when it has one, "ok"
// for none.
func errName(err error) string {
	var errno syscall.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno) && unix.ErrnoName(errno) != "":
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// stopper ends a loop at its deadline or when the stop file appears.
type stopper struct {
	deadline time.Time
	file     string
	checked  time.Time
}

func newStopper(d time.Duration, file string) *stopper {
	return &stopper{deadline: time.Now().Add(d), file: file}
}

// done is cheap to call in a tight loop: the stop file is looked at
// every 20ms.
func (s *stopper) done() bool {
	now := time.Now()
	if now.After(s.deadline) {
		return true
	}
	if s.file != "" && now.Sub(s.checked) > 20*time.Millisecond {
		s.checked = now
		if _, err := os.Lstat(s.file); err == nil {
			return true
		}
	}
	return false
}
