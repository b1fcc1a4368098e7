package expect

import (
	"fmt"
	"strings"

	"github.com/berthproject/berth/conformance/validation/internal/tap"
)

// IDs of the checks the runner adds to a program's TAP assertions.
const (
	IDExit    = "exit"
	IDTimeout = "timeout"
	IDTAP     = "tap"
	IDYAML    = "yaml"
)

// RunInfo is what the runner saw of a program apart from its TAP output.
type RunInfo struct {
	// ExitCode is -1 when the program was killed by a signal.
	ExitCode int
	TimedOut bool
}

// SilentOnPass lists the programs whose pass is printing nothing at all:
// they expect the runtime to refuse the config and print runtimetest's
// report (or an error and exit 1) only when it does not. For every other
// program an empty stdout means nothing was checked, which is a failure.
var SilentOnPass = map[string]bool{
	"process_capabilities_fail": true,
	"process_rlimits_fail":      true,
}

// Observe summarises one program run as a Program entry: its TAP assertions
// plus the runner's own checks (exit status, timeout, TAP structure and
// error diagnostics printed instead of assertions).
func Observe(name string, s *tap.Stream, run RunInfo) *Program {
	p := &Program{Name: name, Status: StatusPass}
	fail := func(id, desc string) {
		p.Failures = append(p.Failures, Failure{ID: id, Description: NormalizeDescription(desc)})
	}
	for _, a := range s.Assertions() {
		switch a.Outcome {
		case tap.Pass:
			p.OK++
		case tap.Skip:
			p.Skip++
		case tap.Fail:
			fail(a.ID, a.Description)
		}
	}
	for doc := 0; doc < len(s.Documents); doc++ {
		for _, e := range s.DocumentErrors()[doc] {
			id := IDYAML
			if doc > 0 {
				id = fmt.Sprintf("%d:%s", doc, IDYAML)
			}
			first, _, _ := strings.Cut(e, "\n")
			fail(id, first)
		}
	}
	switch {
	case len(s.Documents) == 0 && !SilentOnPass[name]:
		fail(IDTAP, "no TAP output")
	case len(s.Problems()) > 0:
		// The problem text carries counts; the description must stay stable.
		fail(IDTAP, "TAP output is incomplete")
	}
	switch {
	case run.TimedOut:
		fail(IDTimeout, "program timed out")
	case run.ExitCode < 0:
		fail(IDExit, "program was killed by a signal")
	case run.ExitCode != 0:
		fail(IDExit, fmt.Sprintf("program exits with status %d", run.ExitCode))
	}
	if len(p.Failures) > 0 {
		p.Status = StatusFail
	}
	return p
}

// Finding is one difference between the expected and the actual outcome.
type Finding struct {
	Program string
	// Regression is true when something expected to pass does not pass now;
	// false for improvements (the expected file should be updated).
	Regression bool
	Message    string
}

func (f Finding) String() string {
	kind := "IMPROVED"
	if f.Regression {
		kind = "REGRESSION"
	}
	return fmt.Sprintf("%s %s: %s", kind, f.Program, f.Message)
}

// Check compares an actual outcome with the expected one (nil when the
// program has no entry, which is itself a regression: every program must be
// listed).
func Check(want, got *Program) []Finding {
	reg := func(format string, a ...any) Finding {
		return Finding{Program: got.Name, Regression: true, Message: fmt.Sprintf(format, a...)}
	}
	imp := func(format string, a ...any) Finding {
		return Finding{Program: got.Name, Message: fmt.Sprintf(format, a...)}
	}
	if want == nil {
		return []Finding{reg("no entry in the expected-results file (status now %s)", got.Status)}
	}
	var out []Finding
	expectedFail := map[string]Failure{}
	for _, f := range want.Failures {
		expectedFail[f.key()] = f
	}
	stillFailing := map[string]bool{}
	flakyFailing := 0
	for _, f := range got.Failures {
		if w, ok := expectedFail[f.key()]; ok {
			stillFailing[f.key()] = true
			if w.Flaky {
				flakyFailing++
			}
			continue
		}
		out = append(out, reg("%s %q now fails", f.ID, f.Description))
	}
	// A flaky assertion that fails this time is one pass fewer.
	if got.OK+flakyFailing < want.OK {
		out = append(out, reg("%d assertions pass, expected %d", got.OK, want.OK))
	}
	for _, f := range want.Failures {
		if !stillFailing[f.key()] && !f.Flaky {
			out = append(out, imp("%s %q no longer fails", f.ID, f.Description))
		}
	}
	if got.OK > want.OK {
		out = append(out, imp("%d assertions pass, expected only %d", got.OK, want.OK))
	}
	return out
}

// Record builds a new expected file from actual outcomes, keeping the reasons
// of entries that still apply from old (which may be nil). Entries without a
// known reason get a placeholder that Load rejects until someone explains it.
func Record(old *File, actual []*Program) *File {
	nf := &File{Programs: map[string]*Program{}}
	if old != nil {
		nf.Header = old.Header
	}
	for _, got := range actual {
		p := *got
		p.Failures = append([]Failure(nil), got.Failures...)
		var prev *Program
		if old != nil {
			prev = old.Programs[p.Name]
		}
		// Flaky entries stay, whatever this run's outcome was.
		var failures []Failure
		flaky := map[string]bool{}
		if prev != nil {
			for _, pf := range prev.Failures {
				if pf.Flaky {
					failures = append(failures, pf)
					flaky[pf.key()] = true
				}
			}
		}
		for _, f := range p.Failures {
			if flaky[f.key()] {
				continue
			}
			f.Reason = placeholderReason
			if prev != nil {
				for _, pf := range prev.Failures {
					if pf.key() == f.key() {
						f.Reason = pf.Reason
					}
				}
			}
			failures = append(failures, f)
		}
		p.Failures = failures
		nf.Programs[p.Name] = &p
	}
	return nf
}
