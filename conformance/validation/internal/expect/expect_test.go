package expect

import (
	"bytes"
	"strings"
	"testing"

	"github.com/berthproject/berth/conformance/validation/internal/tap"
)

const sample = `# header comment
program default pass ok=270 skip=39
program delete fail ok=3 skip=0
  not-ok 2 "attempting to ` + "`delete`" + ` a container that is not ` + "`stopped`" + ` MUST generate an error" -- runc deletes created containers
program hooks fail ok=0 skip=0
  not-ok yaml "Hooks MUST be called in the listed order" -- the suite expects v1.0 prestart timing
`

func TestParseWriteRoundTrip(t *testing.T) {
	ef, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ef.Programs) != 3 || ef.Programs["delete"].Failures[0].ID != "2" || ef.Programs["hooks"].Failures[0].ID != "yaml" {
		t.Fatalf("parsed %+v", ef.Programs)
	}
	var buf bytes.Buffer
	if err := ef.Write(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != sample {
		t.Fatalf("round trip changed the file:\n%s", buf.String())
	}
}

func TestParseRejects(t *testing.T) {
	cases := map[string]string{
		"placeholder reason":   "program a fail ok=1 skip=0\n  not-ok 2 \"x\" -- TODO: explain\n",
		"no reason on not-ok":  "program a fail ok=1 skip=0\n  not-ok 2 \"x\"\n",
		"reason on pass":       "program a pass ok=1 skip=0 -- why\n",
		"orphan not-ok":        "  not-ok 2 \"x\" -- r\n",
		"not-ok under pass":    "program a pass ok=1 skip=0\n  not-ok 2 \"x\" -- r\n",
		"fail without not-ok":  "program a fail ok=1 skip=0\n",
		"duplicate program":    "program a pass ok=1 skip=0\nprogram a pass ok=1 skip=0\n",
		"duplicate assertion":  "program a fail ok=1 skip=0\n  not-ok 2 \"x\" -- r\n  not-ok 2 \"x\" -- r\n",
		"unknown status":       "program a flaky ok=1 skip=0\n",
		"missing counts":       "program a pass ok=1\n",
		"unquoted description": "program a fail ok=1 skip=0\n  not-ok 2 x -- r\n",
	}
	for name, in := range cases {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
}

func observe(t *testing.T, name, stream string, run RunInfo) *Program {
	t.Helper()
	s, err := tap.Parse(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	return Observe(name, s, run)
}

func TestObserve(t *testing.T) {
	p := observe(t, "x", "TAP version 13\nok 1 - a\nnot ok 2 - b /tmp/target1686332243\nok 3 # SKIP c\n1..3\n", RunInfo{})
	if p.Status != StatusFail || p.OK != 1 || p.Skip != 1 || len(p.Failures) != 1 {
		t.Fatalf("got %+v", p)
	}
	if p.Failures[0].Description != "b /tmp/targetN" {
		t.Errorf("description not normalized: %q", p.Failures[0].Description)
	}
	checks := []struct {
		name, stream string
		run          RunInfo
		wantIDs      string
	}{
		{"clean", "TAP version 13\nok 1 - a\n1..1\n", RunInfo{}, ""},
		{"no output, exit 0", "", RunInfo{}, "tap"},
		{"non-zero exit", "TAP version 13\nok 1 - a\n1..1\n", RunInfo{ExitCode: 1}, "exit"},
		{"timeout", "TAP version 13\nok 1 - a\n", RunInfo{TimedOut: true}, "tap,timeout"},
		{"yaml error instead of assertions", "TAP version 13\n  ---\n  {\"error\": \"bad\\nRefer to: x\"}\n  ...\n1..0\n", RunInfo{}, "yaml"},
		{"plan mismatch", "TAP version 13\n1..2\nok 1 - a\n", RunInfo{}, "tap"},
	}
	if p := observe(t, "process_rlimits_fail", "", RunInfo{}); p.Status != StatusPass {
		t.Errorf("a silent-on-pass program with no output must pass: %+v", p)
	}
	for _, c := range checks {
		p := observe(t, "x", c.stream, c.run)
		var ids []string
		for _, f := range p.Failures {
			ids = append(ids, f.ID)
		}
		if got := strings.Join(ids, ","); got != c.wantIDs {
			t.Errorf("%s: failures %q, want %q", c.name, got, c.wantIDs)
		}
		if (c.wantIDs == "") != (p.Status == StatusPass) {
			t.Errorf("%s: status %s", c.name, p.Status)
		}
	}
}

func TestCheck(t *testing.T) {
	want, err := Parse(strings.NewReader(`program p fail ok=2 skip=0
  not-ok 3 "known" -- reason
program f fail ok=0 skip=0
  not-ok exit "program exits with status 1" -- reason
`))
	if err != nil {
		t.Fatal(err)
	}
	regressions := func(f []Finding) (n int) {
		for _, x := range f {
			if x.Regression {
				n++
			}
		}
		return n
	}
	cases := []struct {
		name            string
		program, stream string
		run             RunInfo
		regressions     int
		improvements    int
	}{
		{"same as expected", "p", "ok 1 - a\nok 2 - b\nnot ok 3 - known\n1..3\n", RunInfo{}, 0, 0},
		{"new failure", "p", "ok 1 - a\nnot ok 2 - b\nnot ok 3 - known\n1..3\n", RunInfo{}, 2, 0}, // not-ok 2 and ok count drop
		{"fixed", "p", "ok 1 - a\nok 2 - b\nok 3 - known\n1..3\n", RunInfo{}, 0, 2},               // not-ok 3 gone, one more ok
		{"stops early", "p", "ok 1 - a\n", RunInfo{ExitCode: 1}, 3, 1},                            // tap, exit, ok count drop; known 3 gone
		{"description changed", "p", "ok 1 - a\nok 2 - b\nnot ok 3 - other\n1..3\n", RunInfo{}, 1, 1},
		{"unlisted program", "new", "ok 1 - a\n1..1\n", RunInfo{}, 1, 0},
		{"expected exit failure persists", "f", "ok 1 - a\n1..1\n", RunInfo{ExitCode: 1}, 0, 1}, // one more ok than recorded
		{"expected exit failure fixed", "f", "ok 1 - a\n1..1\n", RunInfo{}, 0, 2},
	}
	for _, c := range cases {
		stream := c.stream
		if stream != "" {
			stream = "TAP version 13\n" + stream
		}
		got := observe(t, c.program, stream, c.run)
		f := Check(want.Programs[c.program], got)
		if r := regressions(f); r != c.regressions || len(f)-r != c.improvements {
			t.Errorf("%s: findings %v, want %d regressions and %d improvements", c.name, f, c.regressions, c.improvements)
		}
	}
}

func TestRecordKeepsReasons(t *testing.T) {
	old, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	del := observe(t, "delete", "TAP version 13\nok 1 - a\nnot ok 2 - attempting to `delete` a container that is not `stopped` MUST generate an error\nnot ok 3 - new\n1..3\n", RunInfo{})
	hooks := observe(t, "hooks", "TAP version 13\n  ---\n  {\"error\": \"Hooks MUST be called in the listed order\\nRefer to: x\"}\n  ...\n1..0\n", RunInfo{})
	rec := Record(old, []*Program{del, hooks})
	if r := rec.Programs["delete"].Failures[0].Reason; r != "runc deletes created containers" {
		t.Errorf("kept reason = %q", r)
	}
	if r := rec.Programs["delete"].Failures[1].Reason; r != placeholderReason {
		t.Errorf("new failure reason = %q", r)
	}
	if r := rec.Programs["hooks"].Failures[0].Reason; r != "the suite expects v1.0 prestart timing" {
		t.Errorf("yaml failure reason = %q", r)
	}
	var buf bytes.Buffer
	if err := rec.Write(&buf); err != nil {
		t.Fatal(err)
	}
	// The placeholder must make the recorded file unloadable until explained.
	if _, err := Parse(&buf); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Fatalf("recorded file with a placeholder was accepted: %v", err)
	}
}

func TestFlaky(t *testing.T) {
	want, err := Parse(strings.NewReader(`program killsig pass ok=3 skip=0
  flaky 2 "kill sends the signal" -- the suite signals before the shell installed its trap
`))
	if err != nil {
		t.Fatal(err)
	}
	failing := observe(t, "killsig", "TAP version 13\nok 1 - a\nnot ok 2 - kill sends the signal\nok 3 - c\n1..3\n", RunInfo{})
	if f := Check(want.Programs["killsig"], failing); len(f) != 0 {
		t.Errorf("flaky failure reported: %v", f)
	}
	passing := observe(t, "killsig", "TAP version 13\nok 1 - a\nok 2 - kill sends the signal\nok 3 - c\n1..3\n", RunInfo{})
	if f := Check(want.Programs["killsig"], passing); len(f) != 0 {
		t.Errorf("flaky pass reported: %v", f)
	}
	other := observe(t, "killsig", "TAP version 13\nnot ok 1 - a\nnot ok 2 - kill sends the signal\nok 3 - c\n1..3\n", RunInfo{})
	if f := Check(want.Programs["killsig"], other); len(f) != 2 {
		t.Errorf("a real failure next to a flaky one must be a regression (and the ok count drop): %v", f)
	}
	rec := Record(want, []*Program{failing})
	fs := rec.Programs["killsig"].Failures
	if len(fs) != 1 || !fs[0].Flaky || fs[0].Reason != "the suite signals before the shell installed its trap" {
		t.Errorf("Record lost the flaky entry: %+v", fs)
	}
	var buf bytes.Buffer
	if err := rec.Write(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	if _, err := Parse(strings.NewReader(text)); err != nil || !strings.Contains(text, "  flaky 2 ") {
		t.Errorf("recorded file %q does not round-trip: %v", text, err)
	}
}

func TestSameIDDifferentDescriptions(t *testing.T) {
	want, err := Parse(strings.NewReader(`program poststart fail ok=0 skip=0
  flaky yaml "hook ran before the process wrote" -- race
  not-ok yaml "the process never ran" -- runtime bug
`))
	if err != nil {
		t.Fatal(err)
	}
	yamlErr := func(msg string) string {
		return "TAP version 13\n  ---\n  {\"error\": \"" + msg + "\"}\n  ...\n1..0\n"
	}
	if f := Check(want.Programs["poststart"], observe(t, "poststart", yamlErr("the process never ran"), RunInfo{})); len(f) != 0 {
		t.Errorf("the listed failure was reported: %v", f)
	}
	if f := Check(want.Programs["poststart"], observe(t, "poststart", yamlErr("hook ran before the process wrote"), RunInfo{})); len(f) != 1 || f[0].Regression {
		t.Errorf("want one improvement (the not-ok one no longer fails), got %v", f)
	}
	if f := Check(want.Programs["poststart"], observe(t, "poststart", yamlErr("something else"), RunInfo{})); len(f) != 2 || !f[0].Regression {
		t.Errorf("want a regression for the new error and an improvement, got %v", f)
	}
}
