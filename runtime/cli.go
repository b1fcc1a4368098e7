package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// command is one berth subcommand, described the way runc's help shows it.
type command struct {
	name  string
	args  string // what follows "[command options]" in the usage line
	short string // one line, shown in `berth --help`
	desc  string // optional paragraphs after the usage line
	// stopAt > 0 ends flag parsing once that many positional arguments
	// are seen: exec's program and its arguments are never berth's flags.
	stopAt int
	run    func(g *globals, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// flagSet is a command's flags: Go's flag package with runc's spelling of
// aliases (--all, -a) in the help output.
type flagSet struct {
	*flag.FlagSet
	cmd     *command
	aliases map[string]string // long name -> short alias
}

// newFlags makes a command's flag set; its usage goes to stdout on -h.
func newFlags(name string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), cmd: commands[name], aliases: map[string]string{}}
	fs.SetOutput(io.Discard)
	fs.Usage = func() { printCommandHelp(os.Stdout, fs) }
	return fs
}

// alias makes short another name of the already defined flag long.
func (fs *flagSet) alias(short, long string) {
	f := fs.Lookup(long)
	if f == nil {
		panic("alias of undefined flag " + long)
	}
	fs.Var(f.Value, short, "")
	fs.aliases[long] = short
}

// longName is the flag's own name for one of its aliases.
func (fs *flagSet) longName(name string) string {
	for long, short := range fs.aliases {
		if short == name {
			return long
		}
	}
	return name
}

// parseArgs parses flags wherever they appear among the positional
// arguments, as runc does for every command but exec: `berth update ID
// --pids-limit 10` works. `--` ends the flags; with stopAt > 0, so does the
// stopAt-th positional argument.
func (fs *flagSet) parseArgs(args []string, stopAt int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" && !fs.endsInValue(args[:consumed-1]) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		if stopAt > 0 && len(pos) == stopAt {
			return append(pos, rest[1:]...), nil
		}
		args = rest[1:]
	}
}

// endsInValue reports whether the last of args is a flag still waiting
// for its value (so a "--" after it was that value, not the end of flags).
func (fs *flagSet) endsInValue(args []string) bool {
	if len(args) == 0 {
		return false
	}
	last := args[len(args)-1]
	if !strings.HasPrefix(last, "-") || strings.Contains(last, "=") {
		return false
	}
	f := fs.Lookup(strings.TrimLeft(last, "-"))
	if f == nil {
		return false
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// parse parses a command's flags and checks the number of arguments.
func parse(fs *flagSet, args []string, min, max int) ([]string, error) {
	rest, err := fs.parseArgs(args, fs.cmd.stopAt)
	if err != nil {
		return nil, err // on -h the flag package has printed the usage
	}
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		want := fmt.Sprintf("%d", min)
		if max < 0 {
			want = fmt.Sprintf("at least %d", min)
		} else if max != min {
			want = fmt.Sprintf("%d to %d", min, max)
		}
		return nil, fmt.Errorf("expects %s argument(s), got %d: %s (usage: berth %s [command options] %s)", want, len(rest), strings.Join(rest, " "), fs.Name(), fs.cmd.args)
	}
	return rest, nil
}

// printCommandHelp prints a command's help in runc's layout.
func printCommandHelp(w io.Writer, fs *flagSet) {
	c := fs.cmd
	fmt.Fprintf(w, "NAME:\n   berth %s - %s\n\nUSAGE:\n   berth %s [command options] %s\n", c.name, c.short, c.name, c.args)
	if c.desc != "" {
		fmt.Fprintf(w, "\n%s\n", c.desc)
	}
	fmt.Fprintf(w, "\nOPTIONS:\n")
	printFlags(w, fs.FlagSet, fs.aliases)
}

// printFlags lists flags as runc does: "--name value, -n value  usage".
func printFlags(w io.Writer, fs *flag.FlagSet, aliases map[string]string) {
	short := map[string]bool{}
	for _, s := range aliases {
		short[s] = true
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if short[f.Name] {
			return
		}
		spell := func(name string) string {
			s := "-" + name
			if len(name) > 1 {
				s = "--" + name
			}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				s += " value"
			}
			return s
		}
		names := spell(f.Name)
		if a, ok := aliases[f.Name]; ok {
			names += ", " + spell(a)
		}
		usage := f.Usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default: %q)", f.DefValue)
		}
		fmt.Fprintf(tw, "   %s\t%s\n", names, usage)
	})
	tw.Flush()
}

// printUsage is `berth --help`, in runc's layout.
func printUsage(w io.Writer, fs *flag.FlagSet, aliases map[string]string) {
	fmt.Fprintf(w, "NAME:\n   berth - an OCI container runtime with runc's command line\n\n")
	fmt.Fprintf(w, "USAGE:\n   berth [global options] command [command options] [arguments...]\n\n")
	fmt.Fprintf(w, "VERSION:\n   %s\n\nCOMMANDS:\n", version)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "   %s\t%s\n", n, commands[n].short)
	}
	fmt.Fprintf(tw, "   help, h\tShows a list of commands or help for one command\n")
	tw.Flush()
	fmt.Fprintf(w, "\nGLOBAL OPTIONS:\n")
	printFlags(w, fs, aliases)
}

// errNoHelpTopic is runc's answer to an unknown command (exit status 3).
func errNoHelpTopic(name string) error {
	return &codedError{code: 3, err: fmt.Errorf("No help topic for '%s'", name)}
}

// codedError is a failure with an exit status of its own.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }
