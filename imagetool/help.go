package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// --help, the man pages (`berth-image man DIR`) and the shell completions
// are all made from the command table and the flag definitions, so they
// cannot disagree. Flags are always read from a fresh flag set, so the
// defaults shown are the real ones, not values parsed so far.

// commandExamples are the examples of each command, for --help and man.
var commandExamples = map[string][]string{
	"pull": {
		"berth-image pull alpine                      # docker.io/library/alpine:latest",
		"berth-image pull docker://quay.io/ns/app:1.2",
		"berth-image --platform linux/arm64 pull alpine",
		"berth-image pull --repair alpine              # re-fetch blobs that fail verify",
	},
	"list":    {"berth-image list", "berth-image list --format json"},
	"inspect": {"berth-image inspect alpine", "berth-image inspect --raw docker://alpine", "berth-image --platform linux/arm64 inspect docker://alpine"},
	"rm":      {"berth-image rm alpine", "berth-image --platform linux/arm64 rm alpine"},
	"gc":      {"berth-image gc"},
	"verify":  {"berth-image verify", "berth-image verify alpine"},
	"copy": {
		"berth-image copy docker://alpine oci:/tmp/layout:alpine",
		"berth-image copy --all docker://reg.example/app:1 docker://mirror.example/app:1",
		"berth-image copy oci:/tmp/layout:alpine oci-archive:/tmp/alpine.tar",
	},
	"unpack":    {"berth-image unpack alpine ./bundle", "berth-image unpack --mode copy --volume /srv/data:/data app ./bundle"},
	"bundle":    {"berth-image bundle alpine ./bundle && berth run --bundle ./bundle c1", "berth-image bundle --rootless docker://alpine ./bundle"},
	"digest":    {"berth-image digest alpine", "berth-image --platform linux/amd64 digest docker://alpine"},
	"list-tags": {"berth-image list-tags docker.io/library/alpine", "berth-image list-tags --format json docker://localhost:5000/app"},
	"catalog":   {"berth-image catalog localhost:5000"},
	"delete":    {"berth-image delete docker://localhost:5000/app:old"},
	"sync": {
		"berth-image sync --src docker --dest docker localhost:5000/app mirror.example:5000/team",
		"berth-image sync --src yaml --dest dir images.yaml /srv/mirror",
	},
	"login":      {"berth-image login -u alice localhost:5000", "echo \"$PW\" | berth-image login -u alice --password-stdin localhost:5000"},
	"logout":     {"berth-image logout localhost:5000"},
	"completion": {"berth-image completion fish > ~/.config/fish/completions/berth-image.fish", "source <(berth-image completion bash)"},
	"man":        {"berth-image man /usr/local/share/man/man1"},
	"version":    {"berth-image version", "berth-image --version"},
}

// flagDoc is one flag as help and man show it.
type flagDoc struct {
	Name    string // without dashes
	Short   string // a one-letter alias, "" if none
	Arg     string // the value's name, "" for a boolean
	Usage   string
	Default string // "" when the zero value
}

// Spelled reads "-q, --quiet" or "--jobs N".
func (d flagDoc) Spelled() string {
	s := "--" + d.Name
	if d.Short != "" {
		s = "-" + d.Short + ", " + s
	}
	if d.Arg != "" {
		s += " " + d.Arg
	}
	return s
}

// flagDocs lists the flags define puts on a fresh flag set, aliases
// ("short for --x") folded into the flag they stand for.
func flagDocs(define func(*flag.FlagSet)) []flagDoc {
	if define == nil {
		return nil
	}
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	define(fs)
	var docs []flagDoc
	shorts := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if long, ok := strings.CutPrefix(usage, "short for --"); ok && len(f.Name) == 1 {
			shorts[long] = f.Name
			return
		}
		d := flagDoc{Name: f.Name, Arg: arg, Usage: usage, Default: f.DefValue}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			d.Arg = ""
		}
		switch d.Default {
		case "false", "0", "":
			d.Default = ""
		}
		docs = append(docs, d)
	})
	for i := range docs {
		docs[i].Short = shorts[docs[i].Name]
	}
	return docs
}

// globalFlagDocs are the flags every command takes.
func globalFlagDocs() []flagDoc {
	return flagDocs(func(fs *flag.FlagSet) {
		g := &Globals{}
		g.defaults()
		g.define(fs)
	})
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func writeFlags(w io.Writer, docs []flagDoc) {
	for _, d := range docs {
		fmt.Fprintf(w, "  %s\n        %s", d.Spelled(), d.Usage)
		if d.Default != "" {
			fmt.Fprintf(w, " (default %s)", d.Default)
		}
		fmt.Fprintln(w)
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: berth-image [global flags] COMMAND [flags] [args]\n\nCommands:\n")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-11s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintf(w, "\nGlobal flags (before or after COMMAND):\n")
	writeFlags(w, globalFlagDocs())
	fmt.Fprintf(w, "  --version\n        print the version and exit\n  -h, --help\n        show help (berth-image COMMAND --help for a command's)\n")
}

func printCommandUsage(w io.Writer, c *command, _ *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: berth-image %s [flags] %s\n\n%s\n", c.Name, c.Args, c.Summary)
	if ex := commandExamples[c.Name]; len(ex) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range ex {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if docs := flagDocs(c.Flags); len(docs) > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		writeFlags(w, docs)
	}
	fmt.Fprintf(w, "\nGlobal flags:\n")
	writeFlags(w, globalFlagDocs())
}

// roff escapes text for a man page.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

func manFlags(w io.Writer, docs []flagDoc) {
	for _, d := range docs {
		fmt.Fprintf(w, ".TP\n.B %s\n%s", roff(d.Spelled()), roff(d.Usage))
		if d.Default != "" {
			fmt.Fprintf(w, " (default %s)", roff(d.Default))
		}
		fmt.Fprintln(w)
	}
}

// writeManPages writes berth-image.1 and berth-image-COMMAND.1 into dir.
func writeManPages(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	write := func(name string, body func(w io.Writer)) error {
		var sb strings.Builder
		body(&sb)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			return err
		}
		written = append(written, p)
		return nil
	}
	head := func(w io.Writer, title, name, summary string) {
		fmt.Fprintf(w, ".TH %s 1 \"\" \"berth-image %s\" \"User Commands\"\n.SH NAME\n%s \\- %s\n", strings.ToUpper(title), roff(versionString()), roff(name), roff(summary))
	}
	err := write("berth-image.1", func(w io.Writer) {
		head(w, "berth-image", "berth-image", "pull, inspect, copy, sign-check and unpack OCI and Docker images")
		fmt.Fprintf(w, ".SH SYNOPSIS\n.B berth-image\n[\\fIglobal flags\\fR] \\fICOMMAND\\fR [\\fIflags\\fR] [\\fIargs\\fR]\n.SH COMMANDS\n")
		for _, n := range commandNames() {
			fmt.Fprintf(w, ".TP\n.BR berth\\-image\\-%s (1)\n%s\n", roff(n), roff(commands[n].Summary))
		}
		fmt.Fprintf(w, ".SH GLOBAL OPTIONS\n")
		manFlags(w, globalFlagDocs())
		fmt.Fprintf(w, ".TP\n.B \\-\\-version\nprint the version and exit\n.SH SEE ALSO\n.BR berth (8),\n.BR containers\\-policy.json (5)\n")
	})
	if err != nil {
		return written, err
	}
	for _, n := range commandNames() {
		c := commands[n]
		err := write("berth-image-"+n+".1", func(w io.Writer) {
			head(w, "berth-image-"+n, "berth-image-"+n, c.Summary)
			fmt.Fprintf(w, ".SH SYNOPSIS\n.B berth-image %s\n[\\fIflags\\fR] %s\n.SH DESCRIPTION\n%s\n", roff(n), roff(c.Args), roff(c.Summary))
			if docs := flagDocs(c.Flags); len(docs) > 0 {
				fmt.Fprintf(w, ".SH OPTIONS\n")
				manFlags(w, docs)
			}
			fmt.Fprintf(w, ".SH GLOBAL OPTIONS\n")
			manFlags(w, globalFlagDocs())
			if ex := commandExamples[n]; len(ex) > 0 {
				fmt.Fprintf(w, ".SH EXAMPLES\n.nf\n")
				for _, e := range ex {
					fmt.Fprintln(w, roff(e))
				}
				fmt.Fprintf(w, ".fi\n")
			}
			fmt.Fprintf(w, ".SH SEE ALSO\n.BR berth\\-image (1)\n")
		})
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
