// Command berth-image pulls images from registries into a local OCI-layout
// store and turns them into bundles.
//
// Each command lives in its own cmd_*.go file and adds itself to the
// commands table from an init function, so commands can be added without
// touching this file. Global flags (see Globals) are accepted both before
// and after the command name.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berthproject/berth/imagetool/killpoint"
)

// command is one berth-image sub-command.
type command struct {
	// Name is the word on the command line, e.g. "pull".
	Name string
	// Args describes the positional arguments for the usage line, e.g. "REF".
	Args string
	// Summary is a one-line description for the command list.
	Summary string
	// Flags, when set, defines the command's own flags on fs.
	Flags func(fs *flag.FlagSet)
	// Run executes the command with the positional arguments left after
	// flag parsing. Returning a usageError prints the usage and exits 2.
	Run func(ctx context.Context, g *Globals, args []string) error
}

// commands holds every registered command by name.
var commands = map[string]*command{}

// register adds c to the command table; called from init functions.
func register(c *command) {
	if _, dup := commands[c.Name]; dup {
		panic("berth-image: command registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// usageError marks an error caused by wrong command-line usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef returns a usageError; commands use it for wrong argument counts.
func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// wantArgs checks the number of positional arguments.
func wantArgs(args []string, n int, what string) error {
	if len(args) != n {
		return usagef("expected %s, got %d argument(s)", what, len(args))
	}
	return nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so that it returns a status code.
func run(argv []string, stdout, stderr io.Writer) int {
	if err := killpoint.Check(); err != nil {
		fmt.Fprintf(stderr, "berth-image: %v\n", err)
		return 2
	}
	g := &Globals{Stdout: stdout, Stderr: stderr}
	g.defaults()

	top := flag.NewFlagSet("berth-image", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	g.define(top)
	showVersion := top.Bool("version", false, "print the version and exit")
	if err := top.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "berth-image: %v\n", err)
		printUsage(stderr)
		return 2
	}
	rest := top.Args()
	if *showVersion {
		fmt.Fprintln(stdout, "berth-image version "+versionString())
		return 0
	}
	if len(rest) == 0 {
		printUsage(stderr)
		return 2
	}
	name := rest[0]
	if name == "help" {
		printUsage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "berth-image: unknown command %q\n", name)
		printUsage(stderr)
		return 2
	}

	fs := flag.NewFlagSet("berth-image "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.define(fs)
	if cmd.Flags != nil {
		cmd.Flags(fs)
	}
	args, err := parseInterleaved(fs, rest[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandUsage(stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(stderr, "berth-image %s: %v\n", name, err)
		printCommandUsage(stderr, cmd, fs)
		return 2
	}
	if err := g.finish(); err != nil {
		fmt.Fprintf(stderr, "berth-image: %v\n", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.Run(ctx, g, args); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "berth-image %s: %v\n", name, err)
			printCommandUsage(stderr, cmd, fs)
			return 2
		}
		fmt.Fprintf(stderr, "berth-image %s: %v\n", name, oneLine(err))
		return 1
	}
	return 0
}

// parseInterleaved parses flags that may appear between positional
// arguments ("pull REF --quiet"), returning the positional ones in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// oneLine keeps error output to a single line even when a library error
// embeds newlines (registry error bodies often do).
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
