package main

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzParseArgs feeds command lines (arguments separated by NUL bytes) to
// the runc-style flag parser with exec's kinds of flags (string, bool,
// int, repeatable, short aliases, stopAt) and update's real flag table,
// and each argument to the value parsers the commands use. Nothing may
// panic; the positional arguments must come from the command line, in
// order; a value parser either fails or gives a value in range.
func FuzzParseArgs(f *testing.F) {
	for _, line := range []string{
		"ID",
		"--all\x00ID\x009",
		"ID\x00-s\x00--\x00x",
		"-d\x00--cwd\x00/tmp\x00-e\x00A=1\x00--env=B=2\x00--cap\x00CAP_KILL\x00ID\x00sh\x00-c\x00echo hi",
		"--preserve-fds=2\x00--tty\x00--user\x001000:1000\x00ID\x00--\x00/bin/true",
		"--cgroup\x00memory,cpu:/sub\x00--cgroup\x00pids:/x\x00ID\x00true",
		"--memory\x001g\x00--memory-swap=-1\x00--cpu-quota\x0010000\x00--pids-limit\x0010\x00ID",
		"--blkio-weight\x00999999\x00ID",
		"ID\x00KILL", "ID\x00SIGTERM", "ID\x0064", "ID\x00-1",
		"--kernel-memory\x002mib\x00ID",
		"--memory\x00inf\x00--memory-swap\x00NaN\x00--memory-reservation\x008200p\x00ID",
		"-", "--", "--=", "---x", "-h", "--help\x00x",
	} {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		for _, stopAt := range []int{0, 2} {
			fs := newFlags("exec")
			fs.String("process", "", "")
			fs.alias("p", "process")
			fs.Bool("detach", false, "")
			fs.alias("d", "detach")
			fs.String("cwd", "", "")
			fs.Int("preserve-fds", 0, "")
			var env listFlag
			fs.Var(&env, "env", "")
			fs.alias("e", "env")
			res := &specs.LinuxResources{}
			for _, u := range updateFlags {
				set := u.set
				fs.Func(u.name, u.usage, func(v string) error { return set(res, v) })
			}
			pos, err := fs.parseArgs(args, stopAt)
			if err != nil {
				continue
			}
			if !isSubsequence(pos, args) {
				t.Fatalf("parseArgs(%q, %d) = %q: not taken from the arguments in order", args, stopAt, pos)
			}
			if stopAt > 0 && len(pos) > stopAt {
				// After the program, every argument is the program's.
				tail := pos[stopAt:]
				if !slices.Equal(args[len(args)-len(tail):], tail) {
					t.Fatalf("parseArgs(%q, %d) = %q: the program's arguments were parsed", args, stopAt, pos)
				}
			}
		}
		for _, a := range args {
			if sig, err := parseSignal(a); err == nil && (sig < 0 || sig > 64) {
				t.Fatalf("parseSignal(%q) = %d", a, sig)
			}
			if n, err := parseBytes(a); err == nil && n < -1 {
				t.Fatalf("parseBytes(%q) = %d", a, n)
			}
			var u specs.User
			_ = parseUser(a, &u)
		}
		if paths, err := parseSubCgroups(args); err == nil && len(args) > 0 && len(paths) == 0 {
			t.Fatalf("parseSubCgroups(%q) accepted nothing", args)
		}
	})
}

// isSubsequence reports whether sub's elements appear in all, in order.
func isSubsequence(sub, all []string) bool {
	i := 0
	for _, a := range all {
		if i < len(sub) && sub[i] == a {
			i++
		}
	}
	return i == len(sub)
}
