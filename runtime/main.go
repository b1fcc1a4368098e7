// updatemaxprocs=0: Go 1.25's runtime rereads the CPU limit every
// second with a background goroutine; berth's commands are short-lived or
// wait on one process, and GOMAXPROCS chosen at start is enough.

//go:debug updatemaxprocs=0

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

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer"
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

func main() {
	os.Exit(runMain(os.Args[1:]))
}

func runMain(args []string) int {
	// Whatever fds the caller leaked to berth (shims and shells do) must
	// never reach a hook or a container: all of them close on exec. Those
	// --preserve-fds names are passed on explicitly.
	unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	g := &globals{}
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&g.debug, "debug", false, "enable debug logging")
	fs.StringVar(&g.log, "log", "", "set the log file to write berth logs to (default is '/dev/stderr')")
	fs.StringVar(&g.logFormat, "log-format", "text", "set the log format ('text' (default), or 'json')")
	fs.StringVar(&g.root, "root", defaultRoot(), "root directory for storage of container state (this should be located in tmpfs)")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\" for e.g. \"system.slice:berth:434234\"")
	fs.StringVar(&g.rootless, "rootless", "auto", "ignore cgroup permission errors ('true', 'false', or 'auto')")
	help := fs.Bool("help", false, "show help")
	showVersion := fs.Bool("version", false, "print the version")
	fs.BoolVar(help, "h", false, "")
	fs.BoolVar(showVersion, "v", false, "")
	aliases := map[string]string{"help": "h", "version": "v"}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		printUsage(os.Stderr, fs, aliases)
		return 2
	}
	if *showVersion {
		printVersion()
		return 0
	}
	name := fs.Arg(0)
	if name == "help" || name == "h" {
		// `berth help COMMAND` is `berth COMMAND --help`.
		if fs.NArg() < 2 {
			*help = true
		} else {
			name, args = fs.Arg(1), []string{"--help"}
		}
	} else {
		args = fs.Args()[min(1, fs.NArg()):]
	}
	if *help || name == "" {
		printUsage(os.Stdout, fs, aliases)
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
	if err := libcontainer.CheckKillAt(); err != nil {
		return failCode(g, err, 2)
	}
	cmd, ok := commands[name]
	if !ok {
		return failCode(g, errNoHelpTopic(name), 3)
	}
	if err := cmd.run(g, args); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		code := 1
		var ue *codedError
		if errors.As(err, &ue) {
			code = ue.code
		}
		return failCode(g, fmt.Errorf("%s: %w", name, err), code)
	}
	return 0
}

// exitError carries an exit status that is not a failure of berth itself,
// such as the container's own status from `run`.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// fail writes the error to the log (which the shim and conmon read) and,
// when the log is a file, to stderr too.
func fail(g *globals, err error) int { return failCode(g, err, 1) }

func failCode(g *globals, err error, code int) int {
	logrus.Error(err.Error())
	if g.log != "" {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
	}
	return code
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
