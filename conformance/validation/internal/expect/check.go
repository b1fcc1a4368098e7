package expect

import (
	"fmt"
	"strings"

	"github.com/berthproject/berth/conformance/validation/internal/tap"
)

// Observe summarises one program run as a Program entry. runProblems are
// what went wrong outside the TAP stream (exit status, timeout); together
// with the stream's own problems they make the status "error".
func Observe(name string, s *tap.Stream, runProblems []string) *Program {
	p := &Program{Name: name, Status: StatusPass}
	for _, a := range s.Assertions() {
		switch a.Outcome {
		case tap.Pass:
			p.OK++
		case tap.Skip:
			p.Skip++
		case tap.Fail:
			p.Failures = append(p.Failures, Failure{ID: a.ID, Description: NormalizeDescription(a.Description)})
		}
	}
	problems := append(append([]string(nil), runProblems...), s.Problems()...)
	switch {
	case len(problems) > 0:
		p.Status = StatusError
		p.Reason = strings.Join(problems, "; ")
	case len(p.Failures) > 0:
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
	if want.Status == StatusError {
		if got.Status != StatusError {
			return []Finding{imp("expected error (%s) but it now completes with status %s", want.Reason, got.Status)}
		}
		return nil
	}
	var out []Finding
	if got.Status == StatusError {
		out = append(out, reg("did not complete: %s", got.Reason))
	}
	expectedFail := map[string]Failure{}
	for _, f := range want.Failures {
		expectedFail[f.ID] = f
	}
	stillFailing := map[string]bool{}
	for _, f := range got.Failures {
		w, ok := expectedFail[f.ID]
		if ok && w.Description == f.Description {
			stillFailing[f.ID] = true
			continue
		}
		out = append(out, reg("assertion %s %q now fails", f.ID, f.Description))
	}
	if got.OK < want.OK {
		out = append(out, reg("%d assertions pass, expected at least %d", got.OK, want.OK))
	}
	if got.Status != StatusError {
		for _, f := range want.Failures {
			if !stillFailing[f.ID] {
				out = append(out, imp("assertion %s %q no longer fails", f.ID, f.Description))
			}
		}
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
		if p.Status == StatusError {
			// The observed error text (exit status, plan mismatch) is a
			// symptom, not a reason: keep the explained reason if any.
			p.Reason = placeholderReason
			if prev != nil && prev.Status == StatusError {
				p.Reason = prev.Reason
			}
			p.Failures = nil
		}
		for i, f := range p.Failures {
			p.Failures[i].Reason = placeholderReason
			if prev == nil {
				continue
			}
			for _, pf := range prev.Failures {
				if pf.ID == f.ID && pf.Description == f.Description {
					p.Failures[i].Reason = pf.Reason
				}
			}
		}
		nf.Programs[p.Name] = &p
	}
	return nf
}
