package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer"
	berthspecs "github.com/berthproject/berth/specs"
)

func init() {
	register(&command{name: "exec", args: "<container-id> <command> [args...]  || -p process.json <container-id>", short: "run another process in a container", run: cmdExec,
		// Flags may come after the id, but never after the program:
		// `berth exec ID sh -c ...` runs sh -c.
		stopAt: 2,
		desc:   "Flags end at the command (or at --): \"berth exec ID ls -l\" runs ls -l."})
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// execFlags are exec's options.
type execFlags struct {
	processFile, consoleSocket, pidFile, cwd, userSpec string
	apparmor, processLabel, pidfdSocket                string
	detach, wantTTY, noNewPrivs, ignorePaused          bool
	preserveFDs                                        int
	env, capsAdd, gids, cgroupArgs                     listFlag
}

func cmdExec(g *globals, args []string) error {
	var f execFlags
	fs := newFlags("exec")
	fs.StringVar(&f.processFile, "process", "", "JSON file with the process to run (runtime-spec process)")
	fs.alias("p", "process")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the process's pid to this file")
	fs.BoolVar(&f.detach, "detach", false, "return once the process has started")
	fs.alias("d", "detach")
	fs.BoolVar(&f.wantTTY, "tty", false, "allocate a pseudo-terminal")
	fs.alias("t", "tty")
	fs.StringVar(&f.cwd, "cwd", "", "working directory in the container")
	fs.StringVar(&f.userSpec, "user", "", "uid[:gid] to run as")
	fs.alias("u", "user")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many extra fds (from 3) into the process")
	fs.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile for the process")
	fs.StringVar(&f.processLabel, "process-label", "", "SELinux label for the process")
	fs.Var(&f.env, "env", "KEY=VALUE to add to the environment (repeatable)")
	fs.alias("e", "env")
	fs.Var(&f.capsAdd, "cap", "capability to add (repeatable)")
	fs.alias("c", "cap")
	fs.Var(&f.gids, "additional-gids", "additional group id (repeatable)")
	fs.alias("g", "additional-gids")
	fs.StringVar(&f.pidfdSocket, "pidfd-socket", "", "path to an AF_UNIX socket that receives a pidfd of the new process")
	fs.Var(&f.cgroupArgs, "cgroup", "run the process in an existing sub-cgroup: <path> (all hierarchies) or <controller>[,<controller>...]:<path> (repeatable)")
	fs.BoolVar(&f.ignorePaused, "ignore-paused", false, "allow exec in a paused container (the process starts once it is resumed)")
	rest, err := parse(fs, args, 1, -1)
	if err != nil {
		return err
	}
	// Past the arguments, every failure to start the process exits 255,
	// as runc's exec does: a caller tells it apart from the process's own
	// exit status (a missing container included).
	err = runExec(g, &f, rest)
	var exited *exitError
	if err != nil && !errors.As(err, &exited) {
		return &codedError{code: 255, err: err}
	}
	return err
}

// runExec starts the process in container rest[0] and, unless detached,
// waits for it and returns its exit status as an *exitError.
func runExec(g *globals, f *execFlags, rest []string) error {
	c, err := libcontainer.Load(g.root, rest[0])
	if err != nil {
		return err
	}
	proc, err := execProcess(c, f, rest[1:])
	if err != nil {
		return err
	}
	subCgroups, err := parseSubCgroups(f.cgroupArgs)
	if err != nil {
		return err
	}
	sock := f.consoleSocket
	var tty *foregroundTTY
	if proc.Terminal && sock == "" {
		if f.detach {
			return errDetachTTY
		}
		if tty, err = newForegroundTTY(); err != nil {
			return err
		}
		defer tty.close()
		sock = tty.Path()
	}
	pidfd, err := dialPidfdSocket(f.pidfdSocket)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	var sigs *relay
	if !f.detach {
		if sigs, err = catchSignals(); err != nil {
			return err
		}
	}
	pid, err := c.Exec(&libcontainer.ExecOpts{
		Process: proc, ConsoleSocket: sock, PreserveFDs: f.preserveFDs, Subreaper: !f.detach,
		SubCgroups: subCgroups, IgnorePaused: f.ignorePaused,
	})
	if err != nil {
		return err
	}
	if err := libcontainer.SendPidfd(pidfd, pid); err != nil {
		return err
	}
	if err := writePidFile(f.pidFile, pid); err != nil {
		return err
	}
	if tty != nil {
		if err := tty.attach(); err != nil {
			return err
		}
		sigs.onWinch = tty.resize
	}
	if f.detach {
		return nil
	}
	code := forwardAndWait(pid, sigs)
	tty.close()
	return &exitError{code: code}
}

// execProcess is the process to run: the --process file, or the
// container's own process with args and the flags' changes.
func execProcess(c *libcontainer.Container, f *execFlags, args []string) (*specs.Process, error) {
	var proc *specs.Process
	if f.processFile != "" {
		proc, err := berthspecs.LoadProcess(f.processFile)
		if err != nil {
			return nil, err
		}
		if f.wantTTY {
			proc.Terminal = true
		}
		return withLabels(proc, f), nil
	}
	if len(args) < 1 {
		return nil, fmt.Errorf("give a command after the container id, or --process")
	}
	config, err := c.Spec()
	if err != nil {
		return nil, err
	}
	if config.Process == nil {
		return nil, fmt.Errorf("container %q has no process in its config to start from: give --process", c.ID())
	}
	base := *config.Process
	proc = &base
	proc.Args = args
	proc.Terminal = f.wantTTY
	proc.Env = append(append([]string{}, base.Env...), f.env...)
	if f.cwd != "" {
		proc.Cwd = f.cwd
	}
	if f.userSpec != "" {
		if err := parseUser(f.userSpec, &proc.User); err != nil {
			return nil, err
		}
	}
	for _, gs := range f.gids {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: not a number", gs)
		}
		proc.User.AdditionalGids = append(proc.User.AdditionalGids, uint32(gid))
	}
	if f.noNewPrivs {
		proc.NoNewPrivileges = true
	}
	if len(f.capsAdd) > 0 {
		addCaps(proc, f.capsAdd)
	}
	return withLabels(proc, f), nil
}

// withLabels applies --apparmor and --process-label, which as with runc
// override the process file's settings too.
func withLabels(proc *specs.Process, f *execFlags) *specs.Process {
	if f.apparmor != "" {
		proc.ApparmorProfile = f.apparmor
	}
	if f.processLabel != "" {
		proc.SelinuxLabel = f.processLabel
	}
	return proc
}

// parseSubCgroups reads exec's --cgroup values, as runc does: one bare
// path (every hierarchy, the cgroup v2 form) or controller[,...]:path
// entries (cgroup v1), each controller at most once.
func parseSubCgroups(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	paths := map[string]string{}
	for _, a := range args {
		ctrls, path, ok := strings.Cut(a, ":")
		if !ok {
			if len(args) != 1 {
				return nil, fmt.Errorf("--cgroup %q: give <controller>:<path> when --cgroup is repeated", a)
			}
			paths[""] = a
			continue
		}
		for _, ctrl := range strings.Split(ctrls, ",") {
			if ctrl == "" {
				return nil, fmt.Errorf("--cgroup %q: empty controller name", a)
			}
			if _, dup := paths[ctrl]; dup {
				return nil, fmt.Errorf("--cgroup: controller %s given more than once", ctrl)
			}
			paths[ctrl] = path
		}
	}
	return paths, nil
}

func parseUser(s string, u *specs.User) error {
	uidS, gidS, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidS, 10, 32)
	if err != nil {
		return fmt.Errorf("--user %q: uid must be a number", s)
	}
	u.UID = uint32(uid)
	if hasGid {
		gid, err := strconv.ParseUint(gidS, 10, 32)
		if err != nil {
			return fmt.Errorf("--user %q: gid must be a number", s)
		}
		u.GID = uint32(gid)
	}
	return nil
}

// addCaps adds names to every capability set, as runc's exec --cap does.
func addCaps(proc *specs.Process, add []string) {
	var pc specs.LinuxCapabilities
	if proc.Capabilities != nil {
		pc = *proc.Capabilities
	}
	// Not to the inheritable set (CVE-2022-29162: a program with file
	// capabilities could then gain them), as runc since 1.1.2; ambient
	// only when the container already has inheritable ones, without
	// which the kernel refuses ambient capabilities anyway.
	sets := []*[]string{&pc.Bounding, &pc.Effective, &pc.Permitted}
	if len(pc.Inheritable) > 0 {
		sets = append(sets, &pc.Ambient)
	}
	for _, set := range sets {
		*set = append(append([]string{}, *set...), add...)
	}
	proc.Capabilities = &pc
}
