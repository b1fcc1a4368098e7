package tap

import (
	"strings"
	"testing"
)

func TestParseOutcomesAndDiagnostics(t *testing.T) {
	in := `TAP version 13
ok 1 - has expected hostname
  ---
  {
    "actual": "mrsdalloway"
  }
  ...
not ok 2 - memory kernel is set correctly
# expect: 50593792, actual: 9223372036854771712
ok 3 # SKIP linux.sysctl not set
not ok 4 - flaky thing # TODO not implemented
1..4
`
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Problems(); len(p) != 0 {
		t.Fatalf("unexpected problems: %v", p)
	}
	as := s.Assertions()
	if len(as) != 4 {
		t.Fatalf("got %d assertions, want 4", len(as))
	}
	want := []struct {
		id      string
		outcome Outcome
		desc    string
	}{
		{"1", Pass, "has expected hostname"},
		{"2", Fail, "memory kernel is set correctly"},
		{"3", Skip, ""},
		{"4", Todo, "flaky thing"},
	}
	for i, w := range want {
		if as[i].ID != w.id || as[i].Outcome != w.outcome || as[i].Description != w.desc {
			t.Errorf("assertion %d = %+v, want id %s outcome %s desc %q", i, as[i], w.id, w.outcome, w.desc)
		}
	}
	if as[2].Directive != "linux.sysctl not set" {
		t.Errorf("skip directive = %q", as[2].Directive)
	}
	if len(as[0].Diagnostics) != 5 || as[1].Diagnostics[0] != "# expect: 50593792, actual: 9223372036854771712" {
		t.Errorf("diagnostics not attached: %q / %q", as[0].Diagnostics, as[1].Diagnostics)
	}
	c := s.Count()
	if c[Pass] != 1 || c[Fail] != 1 || c[Skip] != 1 || c[Todo] != 1 {
		t.Errorf("counts = %v", c)
	}
}

func TestProblems(t *testing.T) {
	cases := map[string]struct {
		in   string
		want string // substring of the joined problems; "" means none
	}{
		"complete":         {"TAP version 13\nok 1 - a\n1..1\n", ""},
		"plan first":       {"TAP version 13\n1..2\nok 1 - a\nok 2 - b\n", ""},
		"no plan":          {"TAP version 13\nok 1 - a\n", "has no plan"},
		"short":            {"TAP version 13\n1..3\nok 1 - a\n", "planned 3 assertions but ran 1"},
		"nothing ran":      {"TAP version 13\n1..0\n", ""},
		"empty":            {"", ""},
		"bail out":         {"TAP version 13\nok 1 - a\nBail out! disk full\n1..1\n", "bailed out: disk full"},
		"two documents":    {"TAP version 13\nok 1 - a\n1..1\nTAP version 13\n1..0\n", ""},
		"two plans in one": {"TAP version 13\nok 1 - a\n1..1\n1..0\n", ""},
	}
	for name, c := range cases {
		s, err := Parse(strings.NewReader(c.in))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(s.Problems(), "; ")
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("%s: problems %q, want %q", name, got, c.want)
		}
	}
}

func TestLaterDocumentIDs(t *testing.T) {
	s, err := Parse(strings.NewReader("TAP version 13\nok 1 - a\n1..1\nTAP version 13\nnot ok 1 - b\n1..1\n"))
	if err != nil {
		t.Fatal(err)
	}
	as := s.Assertions()
	if len(as) != 2 || as[0].ID != "1" || as[1].ID != "1:1" {
		t.Fatalf("ids = %+v", as)
	}
}

func TestDocumentErrors(t *testing.T) {
	in := `TAP version 13
  ---
  {
    "error": "Pre-start hooks MUST be called after the ` + "`start`" + ` operation is called\nRefer to: https://example"
  }
  ...
1..0
TAP version 13
ok 1 - a
  ---
  {
    "error": "attached to an assertion, not a document error"
  }
  ...
1..1
`
	s, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	got := s.DocumentErrors()
	if len(got) != 1 || len(got[0]) != 1 || !strings.HasPrefix(got[0][0], "Pre-start hooks MUST") {
		t.Fatalf("DocumentErrors = %v", got)
	}
}
