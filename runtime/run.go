package main

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer"
)

func init() {
	commands["run"] = &command{usage: "run [flags] ID", short: "create and start a container; wait for it unless --detach", run: cmdRun}
}

func cmdRun(g *globals, args []string) error {
	var f createFlags
	fs := newFlags("run")
	f.register(fs)
	detach := fs.Bool("detach", false, "return once the container has started")
	fs.BoolVar(detach, "d", false, "short for --detach")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	o := f.opts(g, rest[0])
	o.Subreaper = !*detach
	var sigs *relay
	if !*detach {
		sigs = catchSignals()
	}
	c, err := libcontainer.Create(o)
	if err != nil {
		return err
	}
	if err := writePidFile(f.pidFile, c.InitPid()); err != nil {
		c.Delete(true)
		return err
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return err
	}
	if *detach {
		return nil
	}
	code := forwardAndWait(c.InitPid(), sigs)
	if err := c.Delete(true); err != nil {
		return err
	}
	return &exitError{code: code}
}

// relay holds the signals that arrive for the container. Subscribing to
// every signal takes a millisecond or more (one sigaction each), so it is
// done in the background while the container is created.
type relay struct {
	ch    chan os.Signal
	ready chan struct{}
}

func catchSignals() *relay {
	r := &relay{ch: make(chan os.Signal, 64), ready: make(chan struct{})}
	go func() {
		signal.Notify(r.ch)
		close(r.ready)
	}()
	return r
}

// forwardAndWait relays signals to the container's process until it exits,
// reaping any orphans the container leaves to us meanwhile, and returns its
// exit status as a shell would (128+N when killed by signal N).
func forwardAndWait(pid int, sigs *relay) int {
	<-sigs.ready
	go func() {
		for s := range sigs.ch {
			if sig := s.(unix.Signal); sig != unix.SIGCHLD && sig != unix.SIGURG {
				unix.Kill(pid, sig)
			}
		}
	}()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 255
		}
		if wpid != pid {
			continue
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus()
		case ws.Signaled():
			return 128 + int(ws.Signal())
		}
	}
}
