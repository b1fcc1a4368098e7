package main

import (
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

func cmdExec(g *globals, args []string) error {
	fs := newFlags("exec")
	processFile := fs.String("process", "", "JSON file with the process to run (runtime-spec process)")
	fs.alias("p", "process")
	consoleSocket := fs.String("console-socket", "", "unix socket that receives the pty master")
	pidFile := fs.String("pid-file", "", "write the process's pid to this file")
	detach := fs.Bool("detach", false, "return once the process has started")
	fs.alias("d", "detach")
	wantTTY := fs.Bool("tty", false, "allocate a pseudo-terminal")
	fs.alias("t", "tty")
	cwd := fs.String("cwd", "", "working directory in the container")
	userSpec := fs.String("user", "", "uid[:gid] to run as")
	fs.alias("u", "user")
	noNewPrivs := fs.Bool("no-new-privs", false, "set no_new_privs")
	preserveFDs := fs.Int("preserve-fds", 0, "pass this many extra fds (from 3) into the process")
	apparmor := fs.String("apparmor", "", "AppArmor profile for the process")
	processLabel := fs.String("process-label", "", "SELinux label for the process")
	var env, capsAdd, gids listFlag
	fs.Var(&env, "env", "KEY=VALUE to add to the environment (repeatable)")
	fs.alias("e", "env")
	fs.Var(&capsAdd, "cap", "capability to add (repeatable)")
	fs.alias("c", "cap")
	fs.Var(&gids, "additional-gids", "additional group id (repeatable)")
	fs.alias("g", "additional-gids")
	pidfdSocket := fs.String("pidfd-socket", "", "path to an AF_UNIX socket that receives a pidfd of the new process")
	var cgroupArgs listFlag
	fs.Var(&cgroupArgs, "cgroup", "run the process in an existing sub-cgroup: <path> (all hierarchies) or <controller>[,<controller>...]:<path> (repeatable)")
	ignorePaused := fs.Bool("ignore-paused", false, "allow exec in a paused container (the process starts once it is resumed)")
	c, rest, err := load(g, fs, args, 1, -1)
	if err != nil {
		return err
	}
	var proc *specs.Process
	if *processFile != "" {
		if proc, err = berthspecs.LoadProcess(*processFile); err != nil {
			return err
		}
		if *wantTTY {
			proc.Terminal = true
		}
	} else {
		if len(rest) < 2 {
			return fmt.Errorf("give a command after the container id, or --process")
		}
		config, err := c.Spec()
		if err != nil {
			return err
		}
		if config.Process == nil {
			return fmt.Errorf("container %q has no process in its config to start from: give --process", c.ID())
		}
		base := *config.Process
		proc = &base
		proc.Args = rest[1:]
		proc.Terminal = *wantTTY
		proc.Env = append(append([]string{}, base.Env...), env...)
		if *cwd != "" {
			proc.Cwd = *cwd
		}
		if *userSpec != "" {
			if err := parseUser(*userSpec, &proc.User); err != nil {
				return err
			}
		}
		for _, gs := range gids {
			gid, err := strconv.ParseUint(gs, 10, 32)
			if err != nil {
				return fmt.Errorf("--additional-gids %q: not a number", gs)
			}
			proc.User.AdditionalGids = append(proc.User.AdditionalGids, uint32(gid))
		}
		if *noNewPrivs {
			proc.NoNewPrivileges = true
		}
		if len(capsAdd) > 0 {
			addCaps(proc, capsAdd)
		}
	}
	// As with runc, these override the process file's settings too.
	if *apparmor != "" {
		proc.ApparmorProfile = *apparmor
	}
	if *processLabel != "" {
		proc.SelinuxLabel = *processLabel
	}
	subCgroups, err := parseSubCgroups(cgroupArgs)
	if err != nil {
		return err
	}
	sock := *consoleSocket
	var tty *foregroundTTY
	if proc.Terminal && sock == "" {
		if *detach {
			return errDetachTTY
		}
		if tty, err = newForegroundTTY(); err != nil {
			return err
		}
		defer tty.close()
		sock = tty.Path()
	}
	pidfd, err := dialPidfdSocket(*pidfdSocket)
	if err != nil {
		return err
	}
	defer pidfd.Close()
	var sigs *relay
	if !*detach {
		sigs = catchSignals()
	}
	pid, err := c.Exec(&libcontainer.ExecOpts{
		Process: proc, ConsoleSocket: sock, PreserveFDs: *preserveFDs, Subreaper: !*detach,
		SubCgroups: subCgroups, IgnorePaused: *ignorePaused,
	})
	if err != nil {
		// runc's status when the process could not be started, which
		// tells it apart from the process's own exit status.
		return &codedError{code: 255, err: err}
	}
	if err := libcontainer.SendPidfd(pidfd, pid); err != nil {
		return err
	}
	if err := writePidFile(*pidFile, pid); err != nil {
		return err
	}
	if tty != nil {
		if err := tty.attach(); err != nil {
			return err
		}
		sigs.onWinch = tty.resize
	}
	if *detach {
		return nil
	}
	code := forwardAndWait(pid, sigs)
	tty.close()
	return &exitError{code: code}
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
