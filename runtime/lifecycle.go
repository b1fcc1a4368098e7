package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer"
	"github.com/berthproject/berth/libcontainer/sysfile"
)

var specVersion = specs.Version

func init() {
	register(&command{name: "create", args: "<container-id>", short: "create a container from a bundle; its process waits for start", run: cmdCreate,
		desc: "Where \"<container-id>\" is your name for the container, unique under --root. The bundle\n" +
			"(--bundle, default the current directory) holds config.json and the root filesystem."})
	register(&command{name: "start", args: "<container-id>", short: "start the user process of a created container", run: cmdStart})
	register(&command{name: "state", args: "<container-id>", short: "print the state of a container as JSON", run: cmdState})
	register(&command{name: "kill", args: "<container-id> [signal]", short: "send a signal (default: SIGTERM) to the container's init process", run: cmdKill,
		desc: "Signals are numbers (9) or names (KILL, SIGKILL). Signal 0 sends nothing and\n" +
			"succeeds only while the container's init is alive."})
	register(&command{name: "delete", args: "<container-id>", short: "delete a container and everything it holds", run: cmdDelete})
	register(&command{name: "checkpoint", args: "<container-id>", short: "checkpoint a running container (not supported in this build)", run: cmdNoCRIU("checkpoint")})
	register(&command{name: "restore", args: "<container-id>", short: "restore a container from a checkpoint (not supported in this build)", run: cmdNoCRIU("restore")})
}

// createFlags are shared by create and run.
type createFlags struct {
	bundle, pidFile, consoleSocket, pidfdSocket string
	noPivot, noNewKeyring, noSubreaper          bool
	preserveFDs                                 int
}

func (f *createFlags) register(fs *flagSet) {
	fs.StringVar(&f.bundle, "bundle", ".", "path to the bundle directory (config.json and the root filesystem)")
	fs.alias("b", "bundle")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "path to an AF_UNIX socket that receives the pty master when process.terminal is true")
	fs.StringVar(&f.pidfdSocket, "pidfd-socket", "", "path to an AF_UNIX socket that receives a pidfd of the container's init")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the container process's pid to this file")
	fs.BoolVar(&f.noPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root (for ramfs roots)")
	fs.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "do not create a new session keyring")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many extra fds (from 3) into the container")
	fs.BoolVar(&f.noSubreaper, "no-subreaper", false, "accepted for runc compatibility: berth makes itself a subreaper only while it waits in the foreground")
}

func (f *createFlags) opts(g *globals, id string) *libcontainer.CreateOpts {
	return &libcontainer.CreateOpts{
		Root: g.root, ID: id, Bundle: f.bundle, ConsoleSocket: f.consoleSocket,
		NoPivot: f.noPivot, NoNewKeyring: f.noNewKeyring, PreserveFDs: f.preserveFDs,
		SystemdCgroup: g.systemdCgroup, Rootless: g.isRootless(),
	}
}

func cmdCreate(g *globals, args []string) error {
	var f createFlags
	fs := newFlags("create")
	f.register(fs)
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	o := f.opts(g, rest[0])
	if f.consoleSocket == "" && bundleWantsTerminal(o) {
		return errDetachTTY
	}
	pidfd, err := dialPidfdSocket(f.pidfdSocket)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	c, err := libcontainer.Create(o)
	if err != nil {
		return err
	}
	if err := c.SendInitPidfd(pidfd); err != nil {
		c.Delete(true)
		return err
	}
	return writePidFile(f.pidFile, c.InitPid())
}

// cmdNoCRIU answers checkpoint and restore: this build has no CRIU support.
func cmdNoCRIU(name string) func(*globals, []string) error {
	return func(g *globals, args []string) error {
		for _, a := range args {
			if a == "--" {
				break
			}
			if a == "-h" || a == "--help" || a == "-help" {
				printCommandHelp(os.Stdout, newFlags(name))
				return flag.ErrHelp
			}
		}
		return fmt.Errorf("not supported in this build: berth has no checkpoint/restore (CRIU) support")
	}
}

// writePidFile writes atomically, as the shim and conmon read it at once.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	tmp := path + ".berth-tmp"
	if err := sysfile.WriteFile(tmp, []byte(strconv.Itoa(pid)), unix.O_CREAT|unix.O_TRUNC, 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func cmdStart(g *globals, args []string) error {
	c, err := loadOne(g, "start", args)
	if err != nil {
		return err
	}
	return c.Start()
}

func cmdState(g *globals, args []string) error {
	c, err := loadOne(g, "state", args)
	if err != nil {
		return err
	}
	return printJSON(c.OCIState())
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdKill(g *globals, args []string) error {
	fs := newFlags("kill")
	all := fs.Bool("all", false, "send the signal to every process of the container")
	fs.alias("a", "all")
	rest, err := parse(fs, args, 1, 2)
	if err != nil {
		return err
	}
	// A bad signal is reported even for a container that does not exist.
	sig := unix.SIGTERM
	if len(rest) == 2 {
		if sig, err = parseSignal(rest[1]); err != nil {
			return err
		}
	}
	c, err := libcontainer.Load(g.root, rest[0])
	if err != nil {
		return err
	}
	return c.Signal(sig, *all)
}

// parseSignal takes 9, KILL, SIGKILL or kill.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		// 0 sends nothing: a probe that the init is alive.
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}

func cmdDelete(g *globals, args []string) error {
	fs := newFlags("delete")
	force := fs.Bool("force", false, "stop the container first if it is running; succeed if it does not exist")
	fs.alias("f", "force")
	rest, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *force {
		// Whatever the container's state, even a corrupt or half-made one.
		return libcontainer.ForceDelete(g.root, rest[0])
	}
	c, err := libcontainer.Load(g.root, rest[0])
	if err != nil {
		return err
	}
	return c.Delete(false)
}
