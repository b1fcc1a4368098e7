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
	commands["exec"] = &command{usage: "exec [flags] ID [COMMAND [ARG...]]", short: "run another process in a container", run: cmdExec}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdExec(g *globals, args []string) error {
	fs := newFlags("exec")
	processFile := fs.String("process", "", "JSON file with the process to run (runtime-spec process)")
	fs.StringVar(processFile, "p", "", "short for --process")
	consoleSocket := fs.String("console-socket", "", "unix socket that receives the pty master")
	pidFile := fs.String("pid-file", "", "write the process's pid to this file")
	detach := fs.Bool("detach", false, "return once the process has started")
	fs.BoolVar(detach, "d", false, "short for --detach")
	tty := fs.Bool("tty", false, "allocate a terminal")
	fs.BoolVar(tty, "t", false, "short for --tty")
	cwd := fs.String("cwd", "", "working directory in the container")
	userSpec := fs.String("user", "", "uid[:gid] to run as")
	fs.StringVar(userSpec, "u", "", "short for --user")
	noNewPrivs := fs.Bool("no-new-privs", false, "set no_new_privs")
	preserveFDs := fs.Int("preserve-fds", 0, "pass this many extra fds (from 3) into the process")
	apparmor := fs.String("apparmor", "", "AppArmor profile for the process")
	processLabel := fs.String("process-label", "", "SELinux label for the process")
	var env, capsAdd, gids listFlag
	fs.Var(&env, "env", "KEY=VALUE to add to the environment (repeatable)")
	fs.Var(&env, "e", "short for --env")
	fs.Var(&capsAdd, "cap", "capability to add (repeatable)")
	fs.Var(&capsAdd, "c", "short for --cap")
	fs.Var(&gids, "additional-gids", "additional group id (repeatable)")
	fs.Var(&gids, "g", "short for --additional-gids")
	c, rest, err := load(g, fs, args, 1, -1)
	if err != nil {
		return err
	}
	var proc *specs.Process
	if *processFile != "" {
		if proc, err = berthspecs.LoadProcess(*processFile); err != nil {
			return err
		}
		if *tty {
			proc.Terminal = true
		}
	} else {
		if len(rest) < 2 {
			return fmt.Errorf("give a command after the container id, or --process")
		}
		if c.Config().Process == nil {
			return fmt.Errorf("container %q has no process in its config to start from: give --process", c.ID())
		}
		base := *c.Config().Process
		proc = &base
		proc.Args = rest[1:]
		proc.Terminal = *tty
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
	var sigs *relay
	if !*detach {
		sigs = catchSignals()
	}
	pid, err := c.Exec(&libcontainer.ExecOpts{
		Process: proc, ConsoleSocket: *consoleSocket, PreserveFDs: *preserveFDs, Subreaper: !*detach,
	})
	if err != nil {
		return err
	}
	if err := writePidFile(*pidFile, pid); err != nil {
		return err
	}
	if *detach {
		return nil
	}
	return &exitError{code: forwardAndWait(pid, sigs)}
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
	for _, set := range []*[]string{&pc.Bounding, &pc.Effective, &pc.Permitted, &pc.Ambient, &pc.Inheritable} {
		*set = append(append([]string{}, *set...), add...)
	}
	proc.Capabilities = &pc
}
