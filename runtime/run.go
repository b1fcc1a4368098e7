package main

import (
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer"
	"github.com/berthproject/berth/runtime/sigrelay"
)

func init() {
	register(&command{name: "run", args: "<container-id>", short: "create and start a container; wait for it unless --detach", run: cmdRun,
		desc: "With process.terminal true and no --console-socket, the container gets a new\n" +
			"pseudo-terminal connected to berth's own: raw mode while it runs, input\n" +
			"forwarded, window size followed."})
}

func cmdRun(g *globals, args []string) error {
	var f createFlags
	fs := newFlags("run")
	f.register(fs)
	detach := fs.Bool("detach", false, "return once the container has started")
	fs.alias("d", "detach")
	keep := fs.Bool("keep", false, "do not delete the container after it exits")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	o := f.opts(g, rest[0])
	var tty *foregroundTTY
	if f.consoleSocket == "" && bundleWantsTerminal(o) {
		if *detach {
			return errDetachTTY
		}
		if tty, err = newForegroundTTY(); err != nil {
			return err
		}
		defer tty.close()
		o.ConsoleSocket = tty.Path()
	}
	pidfd, err := dialPidfdSocket(f.pidfdSocket)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	// berth must reap the init that a forking nsenter stage leaves it
	// while it waits (--no-subreaper is accepted, not obeyed, for that).
	o.Subreaper = !*detach
	var sigs *relay
	if !*detach {
		if sigs, err = catchSignals(); err != nil {
			return err
		}
	}
	c, err := libcontainer.Create(o)
	if err != nil {
		return err
	}
	if err := c.SendInitPidfd(pidfd); err != nil {
		c.Delete(true)
		return err
	}
	if err := writePidFile(f.pidFile, c.InitPid()); err != nil {
		c.Delete(true)
		return err
	}
	if tty != nil {
		if err := tty.attach(); err != nil {
			c.Delete(true)
			return err
		}
		sigs.onWinch = tty.resize
	}
	if err := c.Start(); err != nil {
		c.Delete(true)
		return err
	}
	if *detach {
		return nil
	}
	code := forwardAndWait(c.InitPid(), sigs)
	tty.close()
	if !*keep {
		if err := c.Delete(true); err != nil {
			return err
		}
	}
	return &exitError{code: code}
}

// bundleWantsTerminal reads process.terminal from the bundle's config,
// and keeps what it read and decoded for Create, so that config.json is
// read and decoded once. Errors are left for Create to report with their
// context.
func bundleWantsTerminal(o *libcontainer.CreateOpts) bool {
	b, err := libcontainer.ReadBundleConfig(o.Bundle)
	if err != nil {
		return false
	}
	o.ConfigJSON = b
	spec, err := libcontainer.ParseBundleConfig(o.Bundle, b)
	if err != nil {
		return false
	}
	o.Spec = spec
	return spec.Process != nil && spec.Process.Terminal
}

// relay holds the signals that arrive for the container (sigrelay says
// how they are caught, and why not with os/signal alone).
type relay struct {
	ch chan os.Signal
	// onWinch, when set, handles SIGWINCH instead of forwarding it: the
	// container's terminal follows berth's, and the kernel signals the
	// container's foreground process group itself.
	onWinch func()
}

func catchSignals() (*relay, error) {
	r := &relay{ch: make(chan os.Signal, 64)}
	if err := sigrelay.Catch(r.ch); err != nil {
		return nil, err
	}
	return r, nil
}

// forwardAndWait relays signals to the container's process until it exits,
// reaping any orphans the container leaves to us meanwhile, and returns its
// exit status as a shell would (128+N when killed by signal N).
func forwardAndWait(pid int, sigs *relay) int {
	go func() {
		for s := range sigs.ch {
			sig := s.(unix.Signal)
			switch {
			case sig == unix.SIGCHLD || sig == unix.SIGURG:
			case sig == unix.SIGWINCH && sigs.onWinch != nil:
				sigs.onWinch()
			default:
				logrus.Debugf("forwarding signal %d (%v) to pid %d", int(sig), sig, pid)
				unix.Kill(pid, sig)
			}
		}
	}()
	for {
		var ws unix.WaitStatus
		// Unbounded on purpose: `run` and `exec` last as long as the
		// container's process; every signal berth gets is forwarded to it.
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
			logrus.Debugf("process %d exited with status %d", pid, ws.ExitStatus())
			return ws.ExitStatus()
		case ws.Signaled():
			logrus.Debugf("process %d was killed by signal %d (%v)", pid, int(ws.Signal()), ws.Signal())
			return 128 + int(ws.Signal())
		}
	}
}
