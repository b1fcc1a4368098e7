// Command berth is an OCI runtime with runc's command line: orchestrators
// call it by path with runc's flags and read its JSON and its JSON logs.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/berthproject/berth/libcontainer"
	_ "github.com/berthproject/berth/libcontainer/nsenter"
)

// Set by the Makefile with -ldflags.
var (
	version = "0.1.0-dev"
	commit  = ""
)

// globals are the flags that come before the command.
type globals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	rootless      string
}

// isRootless resolves --rootless: auto means "not running as root".
func (g *globals) isRootless() bool {
	switch g.rootless {
	case "true":
		return true
	case "false":
		return false
	}
	return os.Geteuid() != 0
}

type command struct {
	usage string // "create [flags] ID"
	short string
	run   func(g *globals, args []string) error
}

var commands = map[string]*command{}

func main() {
	// The runtime re-executes itself as the container's init; that path
	// must not parse flags or touch the log.
	if libcontainer.IsInit() {
		libcontainer.Init()
		os.Exit(1)
	}
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	g := &globals{}
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&g.root, "root", defaultRoot(), "directory for container state (tmpfs recommended)")
	fs.StringVar(&g.log, "log", "", "write log lines to this file instead of stderr")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.debug, "debug", false, "log debug messages")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "manage cgroups through systemd (cgroupsPath is slice:prefix:name)")
	fs.StringVar(&g.rootless, "rootless", "auto", "rootless mode: auto, true or false")
	showVersion := fs.Bool("version", false, "print the version")
	fs.BoolVar(showVersion, "v", false, "print the version")
	help := fs.Bool("help", false, "show help")
	fs.BoolVar(help, "h", false, "show help")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		printUsage(os.Stderr, fs)
		return 2
	}
	if *showVersion {
		printVersion()
		return 0
	}
	if *help || fs.NArg() == 0 {
		printUsage(os.Stdout, fs)
		if fs.NArg() == 0 && !*help {
			return 2
		}
		return 0
	}
	if g.rootless != "auto" && g.rootless != "true" && g.rootless != "false" {
		fmt.Fprintf(os.Stderr, "berth: --rootless %q: must be auto, true or false\n", g.rootless)
		return 2
	}
	if err := setupLog(g); err != nil {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		return 1
	}
	name := fs.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		return fail(g, fmt.Errorf("unknown command %q (see berth --help)", name))
	}
	if err := cmd.run(g, fs.Args()[1:]); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return fail(g, fmt.Errorf("%s: %w", name, err))
	}
	return 0
}

// exitError carries an exit status that is not a failure of berth itself,
// such as the container's own status from `run`.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// fail writes the error to the log (which the shim and conmon read) and,
// when the log is a file, to stderr too.
func fail(g *globals, err error) int {
	logrus.Error(err.Error())
	if g.log != "" {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
	}
	return 1
}

func setupLog(g *globals) error {
	switch g.logFormat {
	case "text":
		logrus.SetFormatter(&logrus.TextFormatter{DisableColors: g.log != ""})
	case "json":
		logrus.SetFormatter(&logrus.JSONFormatter{})
	default:
		return fmt.Errorf("--log-format %q: must be text or json", g.logFormat)
	}
	if g.debug {
		logrus.SetLevel(logrus.DebugLevel)
	}
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		logrus.SetOutput(f)
	}
	return nil
}

func defaultRoot() string {
	if os.Geteuid() != 0 {
		if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
			return filepath.Join(dir, "berth")
		}
	}
	return "/run/berth"
}

func printVersion() {
	fmt.Printf("berth version %s\n", version)
	if commit != "" {
		fmt.Printf("commit: %s\n", commit)
	}
	fmt.Printf("spec: %s\n", specVersion)
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "berth: an OCI container runtime with runc's command line")
	fmt.Fprintln(w, "\nUsage: berth [global flags] COMMAND [flags] [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].short)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// newFlags makes a command's flag set; its usage goes to stdout on --help.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		c := commands[name]
		fmt.Printf("Usage: berth %s\n\n%s\n\nFlags:\n", c.usage, c.short)
		fs.SetOutput(os.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses a command's flags and checks the number of arguments.
func parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return nil, err
	}
	rest := fs.Args()
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		want := fmt.Sprintf("%d", min)
		if max < 0 {
			want = fmt.Sprintf("at least %d", min)
		} else if max != min {
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return nil, fmt.Errorf("expects %s argument(s), got %d: %s (usage: berth %s)", want, len(rest), strings.Join(rest, " "), commands[fs.Name()].usage)
	}
	return rest, nil
}
