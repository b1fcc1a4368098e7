package engines_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runtimeUnderTest is one OCI runtime as the engines see it: a wrapper
// script that logs every call, then runs the real binary.
type runtimeUnderTest struct {
	name    string // subtest name: runc or berth
	bin     string // the real runtime
	wrapper string // what podman is given with --runtime (basename = name)
	pathDir string // a directory whose "runc" is the wrapper: containerd's PATH
	callLog string // one line per call, exit status and error log tail
}

// The wrapper leaves stdio alone: an engine hands the container's stdio to
// the runtime as the runtime's own. It records the argv, the exit status and,
// when the call fails, the tail of the --log file the engine passed, where
// runtimes write their errors as JSON lines.
const wrapperScript = `#!/bin/sh
calls=%s
logfile= prev=
for a in "$@"; do
	case "$prev" in --log) logfile=$a ;; esac
	case "$a" in --log=*) logfile=${a#--log=} ;; esac
	prev=$a
done
echo "$$ call:$(printf ' %%s' "$@")" >>"$calls"
%s "$@"
rc=$?
echo "$$ exit: $rc" >>"$calls"
if [ "$rc" -ne 0 ] && [ -n "$logfile" ] && [ -f "$logfile" ]; then
	tail -n 3 "$logfile" | sed "s/^/$$ log: /" >>"$calls"
fi
exit "$rc"
`

func newRuntimeUnderTest(name, bin string) (*runtimeUnderTest, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("runtime %s: %w", name, err)
	}
	dir := filepath.Join(workDir, "wrap-"+name)
	rt := &runtimeUnderTest{name: name, bin: bin, wrapper: filepath.Join(dir, name),
		pathDir: filepath.Join(dir, "path"), callLog: filepath.Join(dir, "calls.log")}
	if err := os.MkdirAll(rt.pathDir, 0o755); err != nil {
		return nil, err
	}
	script := fmt.Sprintf(wrapperScript, shellQuote(rt.callLog), shellQuote(bin))
	if err := os.WriteFile(rt.wrapper, []byte(script), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(rt.wrapper, filepath.Join(rt.pathDir, "runc")); err != nil {
		return nil, err
	}
	return rt, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// runtimeCall is one invocation of the runtime by an engine.
type runtimeCall struct {
	args string // argv after the program name, space separated
	exit int    // -1 while it runs (or if the wrapper was killed)
	log  []string
}

func (c runtimeCall) String() string {
	s := fmt.Sprintf("%s  [exit %d]", c.args, c.exit)
	for _, l := range c.log {
		s += "\n      log: " + l
	}
	return s
}

// calls returns the runtime calls whose argv mentions id, in order.
func (rt *runtimeUnderTest) calls(t *testing.T, id string) []runtimeCall {
	t.Helper()
	var out []runtimeCall
	for _, c := range rt.allCalls(t) {
		if id != "" && containsWord(c.args, id) {
			out = append(out, c)
		}
	}
	return out
}

// anyCall reports whether some call has a word starting with idPrefix and
// contains every word of shape in order.
func (rt *runtimeUnderTest) anyCall(t *testing.T, idPrefix string, shape ...string) bool {
	t.Helper()
	for _, c := range rt.allCalls(t) {
		words := strings.Fields(c.args)
		for _, w := range words {
			if strings.HasPrefix(w, idPrefix) && hasSubsequence(words, shape) {
				return true
			}
		}
	}
	return false
}

// allCalls returns every call the runtime received, in order.
func (rt *runtimeUnderTest) allCalls(t *testing.T) []runtimeCall {
	t.Helper()
	b, err := os.ReadFile(rt.callLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("reading the runtime call log: %v", err)
	}
	var all []*runtimeCall
	byPid := map[string]*runtimeCall{}
	for _, line := range strings.Split(string(b), "\n") {
		pid, rest, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(rest, "call: "):
			c := &runtimeCall{args: strings.TrimPrefix(rest, "call: "), exit: -1}
			byPid[pid] = c
			all = append(all, c)
		case strings.HasPrefix(rest, "exit: ") && byPid[pid] != nil:
			byPid[pid].exit, _ = strconv.Atoi(strings.TrimPrefix(rest, "exit: "))
		case strings.HasPrefix(rest, "log: ") && byPid[pid] != nil:
			byPid[pid].log = append(byPid[pid].log, strings.TrimPrefix(rest, "log: "))
		}
	}
	out := make([]runtimeCall, len(all))
	for i, c := range all {
		out[i] = *c
	}
	return out
}

// containsWord reports whether args has id as a whole space-separated word.
func containsWord(args, id string) bool {
	for _, w := range strings.Fields(args) {
		if w == id {
			return true
		}
	}
	return false
}

// callReport lists the runtime's calls for id: the evidence a failure
// message carries so the runtime's author can reproduce it.
func (rt *runtimeUnderTest) callReport(t *testing.T, id string) string {
	t.Helper()
	calls := rt.calls(t, id)
	if len(calls) == 0 {
		return fmt.Sprintf("\n  (%s received no call for %s)", rt.name, id)
	}
	s := fmt.Sprintf("\n  calls %s received for %s:", rt.name, id)
	for _, c := range calls {
		s += "\n    " + c.String()
	}
	return s
}

// wantCall fails t unless the runtime received a call for id whose argv
// contains every word of shape in order (e.g. "kill", id, "9"), proving the
// engine really went through the runtime under test.
func (rt *runtimeUnderTest) wantCall(t *testing.T, id string, shape ...string) {
	t.Helper()
	for _, c := range rt.calls(t, id) {
		if hasSubsequence(strings.Fields(c.args), shape) {
			return
		}
	}
	t.Errorf("%s never received a call like %q%s", rt.name, strings.Join(shape, " "), rt.callReport(t, id))
}

func hasSubsequence(words, want []string) bool {
	i := 0
	for _, w := range words {
		if i < len(want) && w == want[i] {
			i++
		}
	}
	return i == len(want)
}

// wantCallsSucceeded fails t if any runtime call for id exited non-zero: in
// a flow that works, an engine's calls all succeed (a failing one is the
// runtime bug that broke it, even if the engine papered over it).
func (rt *runtimeUnderTest) wantCallsSucceeded(t *testing.T, id string) {
	t.Helper()
	for _, c := range rt.calls(t, id) {
		if c.exit != 0 {
			t.Errorf("%s failed a call:\n    %s%s", rt.name, c, rt.callReport(t, id))
			return
		}
	}
}
