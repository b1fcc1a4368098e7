// Command validation runs the OCI runtime-tools validation suite (pinned in
// go.mod) against a runc-compatible runtime and checks the results against a
// checked-in expected-results file.
//
// Run it from this directory, as root:
//
//	go run ./cmd/validate [-runtime /path/to/runtime] [-run regexp] [-record] [-v]
//	go run ./cmd/validate -table expected/runc.txt expected/crun.txt expected/berth.txt
//
// The runtime defaults to $RUNTIME, else ../../bin/berth. The expected file
// defaults to expected/<runtime file name>.txt. The exit status is 1 when an
// assertion expected to pass does not pass now, 2 on setup errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/conformance/validation/internal/expect"
	"github.com/berthproject/berth/conformance/validation/internal/suite"
	"github.com/berthproject/berth/conformance/validation/internal/tap"
)

const modulePath = "github.com/berthproject/berth/conformance/validation"

type options struct {
	runtime  string
	expected string
	work     string
	busybox  string
	run      *regexp.Regexp
	timeout  time.Duration
	record   bool
	verbose  bool
	// buildOnly builds the programs into work/bin and stops; prebuilt
	// runs those instead of building (make vmtest's guest has no Go).
	buildOnly, prebuilt bool
}

func main() {
	var o options
	var runPattern string
	var table bool
	flag.StringVar(&o.runtime, "runtime", "", "runtime under test (default $RUNTIME, else ../../bin/berth)")
	flag.StringVar(&o.expected, "expected", "", "expected-results file (default expected/<runtime name>.txt)")
	flag.StringVar(&o.work, "work", "work", "work directory for binaries, rootfs, bundles and logs")
	flag.StringVar(&o.busybox, "busybox", "/bin/busybox", "static busybox to build the rootfs from")
	flag.StringVar(&runPattern, "run", "", "only run programs matching this regexp")
	flag.DurationVar(&o.timeout, "timeout", time.Minute, "timeout for each program (the slowest take about 15 s)")
	flag.BoolVar(&o.record, "record", false, "write the expected-results file from this run (keeps existing reasons)")
	flag.BoolVar(&o.verbose, "v", false, "print the TAP diagnostics of failing assertions")
	flag.BoolVar(&o.buildOnly, "build-only", false, "build the programs into <work>/bin and exit")
	flag.BoolVar(&o.prebuilt, "prebuilt", false, "run the programs already in <work>/bin (see -build-only) instead of building them")
	flag.BoolVar(&table, "table", false, "print a markdown table comparing the expected files given as arguments, then exit")
	flag.Parse()

	if table {
		if err := printTable(os.Stdout, flag.Args()); err != nil {
			fatal(err)
		}
		return
	}
	if flag.NArg() > 0 {
		fatal(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	var err error
	if o.run, err = regexp.Compile(runPattern); err != nil {
		fatal(fmt.Errorf("-run: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	regressions, err := run(ctx, o)
	if err != nil {
		fatal(err)
	}
	if regressions > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "validation:", err)
	os.Exit(2)
}

func run(ctx context.Context, o options) (regressions int, err error) {
	if o.record && o.run.String() != "" {
		return 0, fmt.Errorf("-record needs a full run (no -run)")
	}
	if err := checkModuleDir(); err != nil {
		return 0, err
	}
	if o.buildOnly {
		work, err := filepath.Abs(o.work)
		if err != nil {
			return 0, err
		}
		_, err = suite.Build(ctx, ".", work)
		return 0, err
	}
	if os.Geteuid() != 0 {
		return 0, fmt.Errorf("must run as root: the validation programs create containers")
	}
	if o.runtime == "" {
		o.runtime = os.Getenv("RUNTIME")
	}
	if o.runtime == "" {
		o.runtime = "../../bin/berth"
	}
	if o.runtime, err = filepath.Abs(o.runtime); err != nil {
		return 0, err
	}
	if st, err := os.Stat(o.runtime); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return 0, fmt.Errorf("runtime %s is not an executable file (%v); build it or set RUNTIME", o.runtime, err)
	}
	if o.expected == "" {
		o.expected = filepath.Join("expected", filepath.Base(o.runtime)+".txt")
	}
	var want *expect.File
	switch {
	case !o.record:
		if want, err = expect.Load(o.expected); err != nil {
			return 0, fmt.Errorf("%w (record one with -record)", err)
		}
	case fileExists(o.expected):
		// Recording over a draft keeps the reasons written so far.
		if want, err = expect.LoadDraft(o.expected); err != nil {
			return 0, err
		}
	}
	if o.work, err = filepath.Abs(o.work); err != nil {
		return 0, err
	}

	var programs []string
	if o.prebuilt {
		programs, err = suite.Built(o.work)
	} else {
		fmt.Printf("building runtime-tools validation programs into %s\n", o.work)
		programs, err = suite.Build(ctx, ".", o.work)
	}
	if err != nil {
		return 0, err
	}
	env := suite.Env{WorkDir: o.work, Runtime: o.runtime, Timeout: o.timeout}
	if err := env.Prepare(o.busybox); err != nil {
		return 0, err
	}
	logDir := filepath.Join(o.work, "logs", filepath.Base(o.runtime))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return 0, err
	}

	fmt.Printf("running %d programs against %s (logs in %s)\n\n", len(programs), o.runtime, logDir)
	var observed []*expect.Program
	var total struct{ pass, fail, ok, notOK, skip int }
	var cleanupErrs []string
	for _, name := range programs {
		if !o.run.MatchString(name) {
			continue
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("interrupted")
		}
		r := env.RunProgram(ctx, name)
		if r.StartErr != nil {
			return 0, fmt.Errorf("%s: %w", name, r.StartErr)
		}
		saveLogs(logDir, r)
		p := expect.Observe(name, r.Stream, expect.RunInfo{ExitCode: r.ExitCode, TimedOut: r.TimedOut})
		observed = append(observed, p)
		report(os.Stdout, r, p, o.verbose)
		if r.CleanupErr != nil {
			cleanupErrs = append(cleanupErrs, fmt.Sprintf("%s: %v", name, r.CleanupErr))
		}
		total.ok += p.OK
		total.notOK += len(p.Failures)
		total.skip += p.Skip
		if p.Status == expect.StatusPass {
			total.pass++
		} else {
			total.fail++
		}
	}
	fmt.Printf("\nTOTAL %d programs: %d pass, %d fail; assertions: %d ok, %d not ok, %d skipped\n",
		len(observed), total.pass, total.fail, total.ok, total.notOK, total.skip)
	for _, e := range cleanupErrs {
		fmt.Printf("CLEANUP FAILED %s\n", e)
	}

	if want != nil {
		var findings []expect.Finding
		ran := map[string]bool{}
		for _, p := range observed {
			ran[p.Name] = true
			findings = append(findings, expect.Check(want.Programs[p.Name], p)...)
		}
		// A listed program the pinned suite no longer has is a stale file.
		for _, name := range want.Names() {
			if !ran[name] && o.run.MatchString(name) {
				findings = append(findings, expect.Finding{Program: name, Regression: true, Message: "listed in the expected file but not run: the suite has no such program"})
			}
		}
		fmt.Printf("\nchecked against %s:\n", o.expected)
		improved := 0
		for _, f := range findings {
			fmt.Println("  " + f.String())
			if f.Regression {
				regressions++
			} else {
				improved++
			}
		}
		fmt.Printf("  %d regressions, %d improvements\n", regressions, improved)
	}
	if o.record {
		if err := os.MkdirAll(filepath.Dir(o.expected), 0o755); err != nil {
			return regressions, err
		}
		rec := expect.Record(want, observed)
		if len(rec.Header) == 0 {
			rec.Header = []string{
				"# Expected runtime-tools validation results for " + filepath.Base(o.runtime) + ".",
				"# Written by `go run ./cmd/validate -record`; every not-ok entry needs a one-line reason.",
				"# Format: see internal/expect/expect.go.",
			}
		}
		if err := rec.Save(o.expected); err != nil {
			return regressions, err
		}
		fmt.Printf("recorded %s (replace every \"TODO: explain\" with a reason)\n", o.expected)
	}
	if len(cleanupErrs) > 0 {
		return regressions, fmt.Errorf("cleanup failed for %d programs; see above", len(cleanupErrs))
	}
	return regressions, nil
}

// checkModuleDir makes sure we run in this module's directory: Build runs the
// go command here so that runtime-tools comes from the version pinned in go.mod.
func checkModuleDir() error {
	data, err := os.ReadFile("go.mod")
	if err != nil || !strings.Contains(string(data), "module "+modulePath+"\n") {
		return fmt.Errorf("run from the directory of %s (conformance/validation)", modulePath)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func saveLogs(dir string, r *suite.Run) {
	for ext, data := range map[string][]byte{".tap": r.Stdout, ".stderr": r.Stderr} {
		if err := os.WriteFile(filepath.Join(dir, r.Program+ext), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "validation: saving log:", err)
		}
	}
}

// report prints one program's line and, for failures, the TAP lines with
// their diagnostics and, when the exit status is non-zero, its stderr.
func report(w io.Writer, r *suite.Run, p *expect.Program, verbose bool) {
	fmt.Fprintf(w, "%-4s %-32s %4d ok %3d not ok %3d skip %6.1fs\n",
		strings.ToUpper(string(p.Status)), r.Program, p.OK, len(p.Failures), p.Skip, r.Duration.Seconds())
	if p.Status == expect.StatusPass {
		return
	}
	for _, a := range r.Stream.Assertions() {
		if a.Outcome == tap.Fail {
			fmt.Fprintf(w, "      %s\n", a.Line)
			printDiagnostics(w, a.Diagnostics, verbose)
		}
	}
	for _, f := range p.Failures {
		switch f.ID {
		case expect.IDExit, expect.IDTimeout, expect.IDTAP:
			fmt.Fprintf(w, "      [%s] %s\n", f.ID, f.Description)
		default:
			if strings.HasSuffix(f.ID, expect.IDYAML) {
				fmt.Fprintf(w, "      [%s] %s\n", f.ID, f.Description)
			}
		}
	}
	for _, pr := range r.Stream.Problems() {
		fmt.Fprintf(w, "        %s\n", pr)
	}
	if r.ExitCode != 0 || r.TimedOut {
		fmt.Fprintf(w, "      stderr:\n")
		printDiagnostics(w, strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n"), verbose)
	}
	if verbose {
		for _, d := range r.Stream.Documents {
			printDiagnostics(w, d.Preamble, verbose)
		}
		if len(r.Leftovers) > 0 {
			fmt.Fprintf(w, "      cleaned up: %s\n", strings.Join(r.Leftovers, ", "))
		}
	}
}

// printDiagnostics prints the diagnostics (YAML block, "#" comments) of a
// failing assertion, shortened unless verbose.
func printDiagnostics(w io.Writer, lines []string, verbose bool) {
	const maxLine, maxLines = 300, 20
	for i, l := range lines {
		if !verbose && i == maxLines {
			fmt.Fprintf(w, "        … %d more lines (-v shows all)\n", len(lines)-maxLines)
			break
		}
		if !verbose && len(l) > maxLine {
			l = l[:maxLine] + "…"
		}
		fmt.Fprintf(w, "        %s\n", l)
	}
}
