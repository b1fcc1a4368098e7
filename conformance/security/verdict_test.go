package security_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// outcome is what one attack did against one runtime.
type outcome struct {
	test, runtime string
	gap           string   // why the runtime is known to let it through; "" if not
	breaches      []string // what got through; none means defended
	broken        bool     // the test failed for another reason
}

var (
	outcomesMu sync.Mutex
	outcomes   []outcome
)

// escaped records that the attack got through, and how. Unless the test
// is a known gap for this runtime, it fails the test at the end.
func (a *attack) escaped(format string, args ...any) {
	a.t.Helper()
	msg := fmt.Sprintf(format, args...)
	a.t.Logf("ESCAPE: %s", msg)
	a.mu.Lock()
	a.breaches = append(a.breaches, msg)
	a.mu.Unlock()
}

// berthGap marks the test as one berth is known to fail today (the issue
// and section that track the defence). It changes nothing for runc.
func (a *attack) berthGap(why string) { a.knownGap("berth", why) }

// runcGap marks the test as one Debian's runc 1.1.5 is known to fail: the
// escape predates its fix, or runc never defended it.
func (a *attack) runcGap(why string) { a.knownGap("runc", why) }

func (a *attack) knownGap(runtime, why string) {
	if a.rt.name == runtime {
		a.gap = why
		a.t.Logf("known gap of %s: %s", runtime, why)
	}
}

// verdict runs last, after every container of the attack is gone and the
// host has been checked: escapes fail the test unless it is a known gap;
// either way the outcome goes into the table printed at the end.
func (a *attack) verdict() {
	a.mu.Lock()
	o := outcome{test: strings.TrimSuffix(a.t.Name(), "/"+a.rt.name), runtime: a.rt.name, gap: a.gap,
		breaches: append([]string(nil), a.breaches...)}
	a.mu.Unlock()
	o.broken = a.t.Failed()
	switch {
	case len(o.breaches) > 0 && o.gap == "":
		for _, b := range o.breaches {
			a.t.Errorf("the attack got through %s: %s", a.rt.name, b)
		}
	case len(o.breaches) > 0:
		a.t.Logf("known gap, not failing the suite: %s let the attack through (%s)", a.rt.name, o.gap)
	case o.gap != "" && !o.broken:
		a.t.Logf("marked as a known gap of %s (%s) but defended: the mark can go", a.rt.name, o.gap)
	}
	outcomesMu.Lock()
	outcomes = append(outcomes, o)
	outcomesMu.Unlock()
}

func (o outcome) result() string {
	switch {
	case o.broken && len(o.breaches) == 0:
		return "TEST FAILED"
	case len(o.breaches) > 0:
		return "ESCAPED: " + o.breaches[0]
	}
	return "defended"
}

// resultsFile keeps the last run's table: `go test` shows a passing
// package's output only with -v, so `make test` prints this file.
const resultsFile = "work/results.txt"

// printResults prints every attack's result per runtime, then the known
// gaps with this run's result, so the mark of a fixed one can be removed.
func printResults() {
	outcomesMu.Lock()
	defer outcomesMu.Unlock()
	if len(outcomes) == 0 {
		return
	}
	sort.SliceStable(outcomes, func(i, j int) bool {
		if outcomes[i].test != outcomes[j].test {
			return outcomes[i].test < outcomes[j].test
		}
		return outcomes[i].runtime < outcomes[j].runtime
	})
	var b strings.Builder
	b.WriteString("Attack results (berth: a copy of bin/berth; runc: a copy of " + runcPath + "):\n")
	for _, o := range outcomes {
		fmt.Fprintf(&b, "  %-44s %-6s %s\n", o.test, o.runtime, short(o.result(), 110))
	}
	var gaps []string
	for _, o := range outcomes {
		if o.gap == "" {
			continue
		}
		r := "still escapes"
		switch {
		case o.broken && len(o.breaches) == 0:
			r = "test failed"
		case len(o.breaches) == 0:
			r = "DEFENDED: remove the mark"
		}
		gaps = append(gaps, fmt.Sprintf("  %s %s/%s: %s [%s]", o.runtime, o.test, o.runtime, o.gap, r))
	}
	if len(gaps) > 0 {
		b.WriteString("Known gaps (they run and report, an escape there does not fail the suite):\n")
		b.WriteString(strings.Join(gaps, "\n") + "\n")
	}
	fmt.Print(b.String())
	if os.MkdirAll(filepath.Dir(resultsFile), 0o755) == nil {
		os.WriteFile(resultsFile, []byte(b.String()), 0o644)
	}
}

func short(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}
