package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/sysfile"
)

// StartInside has fork start a process that is born in the (existing)
// cgroup, so a container's processes never run outside it and none has to
// be moved afterwards. Call Create first for a new container.
//
// Moving a process with cgroup.procs waits for an RCU grace period (5-16 ms
// measured on a v1 host, the biggest single cost of creating a container);
// a thread that moves itself through "tasks" does not. So the calling
// thread joins the v1 hierarchies, forks (the child inherits its cgroups),
// and moves back. The unified hierarchy is joined with CLONE_INTO_CGROUP
// through sys. fork must fork from the calling goroutine's thread, as
// syscall.ForkExec does. placed is false when the thread could not join
// (e.g. without the rights to): the caller then moves the process that
// will run the container's program in with AddPid.
//
// The v1 memory and freezer hierarchies are the exception: the kernel
// charges what the clone allocates (the new namespaces, a network
// namespace most of all) to the memory cgroup it happens in, which for a
// container with a small limit is more than all the rest of its start; and
// the thread of a paused container's exec (--ignore-paused) would freeze
// itself, unkillable until the resume. So the thread does not join them:
// the child joins them itself, through the "tasks" files ChildJoins opened
// (byChild), as the first thing it does. Moving it by its pid instead
// would cost the grace period this function exists to avoid; that is
// done only for what byChild lacks.
func (m *Manager) StartInside(sys *syscall.SysProcAttr, byChild []ChildJoin, fork func() (int, error)) (pid int, placed bool, err error) {
	if m.unitPending {
		return m.startUnitWith(fork)
	}
	paths := maps.Clone(m.Paths())
	var late []string // joined by the child's pid after the fork
	for _, ctrl := range childControllers {
		if dir := paths[ctrl]; dir != "" {
			if !slices.ContainsFunc(byChild, func(j ChildJoin) bool { return j.Controller == ctrl }) {
				late = append(late, dir)
			}
			delete(paths, ctrl)
		}
	}
	if dir := paths[""]; dir != "" {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, false, fmt.Errorf("cgroup %s: %w", m.name, &os.PathError{Op: "open", Path: dir, Err: err})
		}
		defer unix.Close(fd)
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	type result struct {
		pid    int
		placed bool
		err    error
	}
	done := make(chan result)
	// A goroutine of its own: if the thread cannot be moved back, it
	// stays locked and exits with the goroutine, so no other goroutine
	// ever runs in the container's cgroup.
	go func() {
		runtime.LockOSThread()
		joined := false
		back, err := threadCgroups(paths)
		if err == nil {
			if err = joinThread(paths); err == nil {
				joined = true
			} else if err := joinThread(back); err != nil {
				done <- result{0, false, fmt.Errorf("cgroup %s: moving berth's thread back: %w", m.name, err)}
				return
			}
		}
		if !joined {
			logrus.Debugf("cgroup %s: the forking thread could not join it (%v); the process is moved in after the fork", m.name, err)
		}
		pid, err := fork()
		viaSystemd := false
		if err != nil && sys.UseCgroupFD && m.systemd && m.rootless && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) {
			// A user's scope lives in the subtree delegated to its user
			// manager, and the caller (in a login session's scope) may not
			// move processes there itself; its systemd may.
			sys.UseCgroupFD = false
			pid, err = fork()
			viaSystemd = err == nil
		}
		if viaSystemd {
			if aerr := m.attachViaSystemd(pid); aerr != nil {
				done <- result{pid, true, aerr}
				return
			}
		}
		if joined {
			if jerr := joinThread(back); jerr != nil {
				done <- result{pid, true, fmt.Errorf("cgroup %s: moving berth's thread back: %w", m.name, jerr)}
				return
			}
			for _, dir := range late {
				if err != nil {
					break
				}
				if merr := writeTasks(dir, strconv.Itoa(pid)); merr != nil {
					logrus.Debugf("cgroup %s: moving pid %d into %s: %v; the process is moved in through cgroup.procs", m.name, pid, dir, merr)
					joined = false
					break
				}
			}
		}
		runtime.UnlockOSThread()
		// With only the unified hierarchy, CLONE_INTO_CGROUP placed it.
		done <- result{pid, joined || (len(paths) <= 1 && len(late) == 0), err}
	}()
	r := <-done
	return r.pid, r.placed, r.err
}

// childControllers are the v1 hierarchies the forking thread does not
// join, in the order the child joins them (the freezer last: joining a
// frozen one stops the child).
var childControllers = []string{"memory", "freezer"}

// ChildJoin is a v1 cgroup the child moves itself into.
type ChildJoin struct {
	Controller string
	// Tasks is the cgroup's "tasks" file, open for writing.
	Tasks *os.File
	// Label names it in errors: "v1 memory cgroup /sys/fs/cgroup/...".
	Label string
}

// ChildJoins opens the "tasks" file of each v1 hierarchy that StartInside
// leaves to the child (see there), for the child to write "0" into: the
// caller passes them to the child and to StartInside, and closes them
// once the child has started. A file that cannot be opened (no rights)
// is left out: StartInside then moves the child by pid.
func (m *Manager) ChildJoins() []ChildJoin {
	if m.unitPending {
		return nil
	}
	paths := m.Paths()
	var out []ChildJoin
	for _, ctrl := range childControllers {
		dir := paths[ctrl]
		if dir == "" {
			continue
		}
		// Opened without os.OpenFile's poller registration (see sysfile).
		tasks := filepath.Join(dir, "tasks")
		fd, err := unix.Open(tasks, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			logrus.Debugf("cgroup %s: open %s: %v; the process is moved in by pid", m.name, tasks, err)
			continue
		}
		out = append(out, ChildJoin{Controller: ctrl, Tasks: os.NewFile(uintptr(fd), tasks), Label: fmt.Sprintf("v1 %s cgroup %s", ctrl, dir)})
	}
	return out
}

// joinThread moves the calling thread (only) into the v1 cgroup dirs.
func joinThread(dirs map[string]string) error {
	for ctrl, dir := range dirs {
		if ctrl == "" {
			continue
		}
		if err := writeTasks(dir, "0"); err != nil {
			return err
		}
	}
	return nil
}

// writeTasks writes tid to dir's "tasks" file (twice per hierarchy on
// every create and exec: with plain system calls, see sysfile).
func writeTasks(dir, tid string) error {
	return sysfile.WriteFile(filepath.Join(dir, "tasks"), []byte(tid), 0, 0)
}

// threadCgroups returns the calling thread's cgroup dir in each v1
// hierarchy that like has.
func threadCgroups(like map[string]string) (map[string]string, error) {
	own, err := ownCgroups("/proc/thread-self/cgroup")
	if err != nil {
		return nil, err
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(like))
	for _, mnt := range mounts {
		rel, err := mnt.GetOwnCgroup(own)
		if err != nil {
			continue
		}
		for _, s := range mnt.Subsystems {
			// A named hierarchy is "name=systemd" in /proc/self/cgroup and
			// the paths, "systemd" in the mount's subsystems.
			for _, key := range []string{s, "name=" + s} {
				if _, ok := like[key]; ok {
					out[key] = filepath.Join(mnt.Mountpoint, rel)
				}
			}
		}
	}
	for ctrl := range like {
		if _, ok := out[ctrl]; !ok && ctrl != "" {
			return nil, fmt.Errorf("no mount found for cgroup controller %q", ctrl)
		}
	}
	return out, nil
}

// startUnitWith forks the container's first process and has systemd start
// the container's scope with it: systemd moves it in (through D-Bus, as
// for runc's systemd driver) before StartInside returns. The process is
// not born in the scope, which cannot exist without it.
func (m *Manager) startUnitWith(fork func() (int, error)) (int, bool, error) {
	pid, err := fork()
	if err != nil {
		return pid, false, err
	}
	if err := m.create(pid); err != nil {
		return pid, true, err
	}
	m.unitPending = false
	return pid, true, nil
}
