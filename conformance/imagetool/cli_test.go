package imagetool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// commandList returns the command names `berth-image --help` lists.
func commandList(t *testing.T) []string {
	t.Helper()
	out := mustRun(t, nil, "--help")
	_, rest, _ := strings.Cut(out, "Commands:\n")
	block, _, _ := strings.Cut(rest, "\n\n")
	var names []string
	for _, l := range strings.Split(block, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	if len(names) < 10 {
		t.Fatalf("--help lists %d commands:\n%s", len(names), out)
	}
	return names
}

// TestHelpVersionAndManPages checks --version, that every command's
// --help spells flags with two dashes, has examples and shows the real
// defaults (not values given on the command line), and that the man pages
// made from the same source render cleanly and say the same.
func TestHelpVersionAndManPages(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		if out := mustRun(t, nil, args...); !strings.HasPrefix(out, "berth-image version ") {
			t.Errorf("%v printed %q", args, out)
		}
	}
	top := mustRun(t, nil, "--help")
	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+`)
	if m := singleDash.FindString(top); m != "" {
		t.Errorf("--help spells a long flag with one dash: %q", m)
	}
	names := commandList(t)
	for _, want := range []string{"pull", "inspect", "digest", "list-tags", "catalog", "delete", "verify", "completion", "man", "version"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("--help does not list %s", want)
		}
	}

	man := t.TempDir()
	mustRun(t, nil, "man", man)
	for _, n := range names {
		// Values given before the command must not show up as defaults.
		help := mustRun(t, nil, "--store", "/given/store", "--format", "json", n, "--help")
		if strings.Contains(help, "/given/store") || strings.Contains(help, `default json`) {
			t.Errorf("%s --help shows parsed values as defaults:\n%s", n, help)
		}
		if !strings.Contains(help, "--store DIR") || !strings.Contains(help, "(default text)") {
			t.Errorf("%s --help lacks the global flags with their defaults:\n%s", n, help)
		}
		if m := singleDash.FindString(help); m != "" {
			t.Errorf("%s --help spells a long flag with one dash: %q", n, m)
		}
		if !strings.Contains(help, "\nExamples:\n  berth-image ") {
			t.Errorf("%s --help has no examples (add them to commandExamples in imagetool/help.go):\n%s", n, help)
		}
		page := filepath.Join(man, "berth-image-"+n+".1")
		cmd := exec.Command("groff", "-man", "-Tascii", "-ww", page)
		var out, warn bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &warn
		if err := cmd.Run(); err != nil || warn.Len() > 0 {
			t.Errorf("groff %s: %v %s", page, err, &warn)
			continue
		}
		text := regexp.MustCompile(".\b").ReplaceAllString(out.String(), "") // drop overstrike
		for _, flagLine := range regexp.MustCompile(`(?m)^  (-\S+(?: \S+)*)$`).FindAllStringSubmatch(help, -1) {
			if !strings.Contains(text, flagLine[1]) {
				t.Errorf("man page of %s lacks %q, which --help shows", n, flagLine[1])
			}
		}
	}
	if _, err := os.Stat(filepath.Join(man, "berth-image.1")); err != nil {
		t.Fatal(err)
	}
}

// TestShellCompletion loads the generated scripts into bash, zsh and fish
// and asks each for completions as the shell would.
func TestShellCompletion(t *testing.T) {
	dir := t.TempDir()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		scripts[sh] = filepath.Join(dir, "c."+sh)
		if err := os.WriteFile(scripts[sh], []byte(mustRun(t, nil, "completion", sh)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shell := func(name string, script string) string {
		t.Helper()
		out, err := exec.Command(name, "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	for _, c := range []struct {
		line []string // the words; the last is being completed
		want string
	}{
		{[]string{"pu"}, "pull"},
		{[]string{"--store", "/x", "list-t"}, "list-tags"},
		{[]string{"pull", "--re"}, "--repair"},
		{[]string{"--platform", "linux/amd64", "inspect", "--ra"}, "--raw"},
		{[]string{"bundle", "--vol"}, "--volume"},
	} {
		words := append([]string{"berth-image"}, c.line...)
		bash := shell("bash", "source "+scripts["bash"]+"; COMP_WORDS=("+strings.Join(words, " ")+"); COMP_CWORD="+
			strconv.Itoa(len(words)-1)+"; _berth_image; printf '%s\\n' \"${COMPREPLY[@]}\"")
		fish := shell("fish", "source "+scripts["fish"]+"; complete -C '"+strings.Join(words, " ")+"'")
		// zsh: the widgets are stubbed to print what they are given.
		zsh := shell("zsh", "compdef() { : }; compadd() { shift; print -l -- \"$@\" }; "+
			"_describe() { local -a a; a=(\"${(@P)2}\"); print -l -- ${a%%:*} }; _files() { print FILES }; "+
			"source "+scripts["zsh"]+"; words=("+strings.Join(words, " ")+"); CURRENT="+strconv.Itoa(len(words))+"; PREFIX="+words[len(words)-1]+"; _berth-image")
		for sh, out := range map[string]string{"bash": bash, "fish": fish, "zsh": zsh} {
			found := false
			for _, l := range strings.Split(out, "\n") {
				found = found || strings.Fields(l + " x")[0] == c.want
			}
			if !found {
				t.Errorf("%s: completing %q does not offer %s:\n%s", sh, words, c.want, out)
			}
		}
	}
	// zsh registers the function for the command with compinit loaded.
	if out := shell("zsh", "autoload -U compinit; compinit -u -D; source "+scripts["zsh"]+"; print ${_comps[berth-image]}"); strings.TrimSpace(out) != "_berth-image" {
		t.Errorf("zsh: completion not registered: %q", out)
	}
}
