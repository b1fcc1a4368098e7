// Package expect reads, writes and checks the expected-results files of the
// validation suite: one file per runtime listing, for every validation
// program, its outcome and every assertion that is not expected to pass, each
// with a one-line reason.
//
// Format (line based, "#" starts a comment line):
//
//	program <name> pass ok=<n> skip=<n>
//	program <name> fail ok=<n> skip=<n>
//	  not-ok <id> "<description>" -- <reason>
//	  flaky <id> "<description>" -- <reason>
//
// <id> is the TAP assertion number ("<document>:<number>" for a later TAP
// document in the same output) or one of the checks the runner adds for what
// a program reports outside "not ok" lines: "exit" (non-zero exit status;
// the *_fail programs report only this way), "timeout", "tap" (no plan or a
// plan that does not match) and "yaml" (an error diagnostic printed instead of
// assertions, as the lifecycle programs such as prestart do).
//
// "flaky" marks an assertion whose outcome depends on timing in the suite
// itself: it is run and reported like any other, but neither its failure nor
// its passing changes the verdict. Its reason must say what the race is.
//
// Assertions not listed are expected to pass (or to be skipped by the suite
// itself). ok=<n> is the number of passing assertions: fewer passing
// assertions than recorded is a regression even without a new "not ok" line
// (for example when a program now stops early).
package expect

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Status is a program's overall outcome.
type Status string

const (
	// StatusPass: every assertion passed or was skipped by the suite.
	StatusPass Status = "pass"
	// StatusFail: some assertion or runner check failed.
	StatusFail Status = "fail"
)

// Failure is an assertion expected to fail (or, when Flaky, allowed to).
type Failure struct {
	ID          string
	Description string
	Reason      string
	Flaky       bool
}

// key identifies a failure: the id alone is not unique for the runner's own
// checks (a program may print more than one "yaml" error).
func (f Failure) key() string { return f.ID + "\x00" + f.Description }

// Program is the expected outcome of one validation program.
type Program struct {
	Name     string
	Status   Status
	OK       int
	Skip     int
	Failures []Failure
}

// File is an expected-results file.
type File struct {
	// Header holds the leading comment lines, kept when the file is rewritten.
	Header   []string
	Programs map[string]*Program
}

// placeholderReason marks an entry written by -record that nobody has
// explained yet; Load rejects it so unexplained failures cannot be checked in.
const placeholderReason = "TODO: explain"

var longNumberRE = regexp.MustCompile(`\d{6,}`)

// NormalizeDescription replaces long digit runs (random temp-dir and mount
// names some assertions print) so a description is stable between runs.
func NormalizeDescription(s string) string {
	return longNumberRE.ReplaceAllString(s, "N")
}

// Load reads an expected-results file in which every entry is explained.
func Load(path string) (*File, error) { return load(path, Parse) }

// LoadDraft reads an expected-results file that may still contain
// placeholder reasons, as -record writes it, to be recorded over.
func LoadDraft(path string) (*File, error) { return load(path, parse) }

func load(path string, parser func(io.Reader) (*File, error)) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("expected results: %w", err)
	}
	defer f.Close()
	ef, err := parser(f)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return ef, nil
}

// Parse reads an expected-results file and rejects placeholder reasons;
// errors are prefixed with "<line>: ".
func Parse(r io.Reader) (*File, error) {
	ef, err := parse(r)
	if err != nil {
		return nil, err
	}
	for _, name := range ef.Names() {
		for _, f := range ef.Programs[name].Failures {
			if f.Reason == placeholderReason {
				return nil, fmt.Errorf(" program %s, assertion %s %q: reason is still a placeholder %q: explain the failure", name, f.ID, f.Description, placeholderReason)
			}
		}
	}
	return ef, nil
}

func parse(r io.Reader) (*File, error) {
	ef := &File{Programs: map[string]*Program{}}
	var cur *Program
	sc := bufio.NewScanner(r)
	lineNo := 0
	seenEntry := false
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			if !seenEntry {
				ef.Header = append(ef.Header, line)
			}
			continue
		}
		seenEntry = true
		fail := func(format string, a ...any) (*File, error) {
			return nil, fmt.Errorf("%d: %s: %q", lineNo, fmt.Sprintf(format, a...), line)
		}
		switch fields := strings.Fields(trimmed); fields[0] {
		case "program":
			p, err := parseProgram(trimmed)
			if err != nil {
				return fail("%v", err)
			}
			if _, dup := ef.Programs[p.Name]; dup {
				return fail("program %s listed twice", p.Name)
			}
			ef.Programs[p.Name] = p
			cur = p
		case "not-ok", "flaky":
			flaky := fields[0] == "flaky"
			switch {
			case cur == nil:
				return fail("%s line must follow a program line", fields[0])
			case !flaky && cur.Status != StatusFail:
				return fail("not-ok line must follow a \"program <name> fail\" line")
			}
			fl, err := parseFailure(trimmed, fields[0])
			if err != nil {
				return fail("%v", err)
			}
			fl.Flaky = flaky
			for _, prev := range cur.Failures {
				if prev.key() == fl.key() {
					return fail("assertion %s %q of %s listed twice", fl.ID, fl.Description, cur.Name)
				}
			}
			cur.Failures = append(cur.Failures, fl)
		default:
			return fail("unknown entry %q (want program, not-ok or flaky)", fields[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, p := range ef.Programs {
		if p.Status == StatusFail && len(p.Failures) == 0 {
			return nil, fmt.Errorf("program %s: status fail but no not-ok lines", p.Name)
		}
	}
	return ef, nil
}

// splitReason splits "<entry> -- <reason>" and insists on a real reason.
func splitReason(s string, required bool) (entry, reason string, err error) {
	entry, reason, found := strings.Cut(s, " -- ")
	reason = strings.TrimSpace(reason)
	switch {
	case required && (!found || reason == ""):
		return "", "", fmt.Errorf("missing \" -- <reason>\"")
	case !required && found:
		return "", "", fmt.Errorf("passing entries carry no reason")
	}
	return strings.TrimSpace(entry), reason, nil
}

func parseProgram(line string) (*Program, error) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return nil, fmt.Errorf("want \"program <name> <pass|fail|error> ...\"")
	}
	p := &Program{Name: fields[1], Status: Status(fields[2])}
	switch p.Status {
	case StatusPass, StatusFail:
		if _, _, err := splitReason(line, false); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown status %q (want pass or fail)", fields[2])
	}
	seen := map[string]bool{}
	for _, kv := range fields[3:] {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("bad count %q (want ok=<n> or skip=<n>)", kv)
		}
		switch k {
		case "ok":
			p.OK = n
		case "skip":
			p.Skip = n
		default:
			return nil, fmt.Errorf("unknown count %q", k)
		}
		seen[k] = true
	}
	if !seen["ok"] || !seen["skip"] {
		return nil, fmt.Errorf("program %s needs both ok=<n> and skip=<n>", p.Name)
	}
	return p, nil
}

func parseFailure(line, keyword string) (Failure, error) {
	entry, reason, err := splitReason(line, true)
	if err != nil {
		return Failure{}, err
	}
	rest := strings.TrimSpace(strings.TrimPrefix(entry, keyword))
	id, rest, _ := strings.Cut(rest, " ")
	if id == "" {
		return Failure{}, fmt.Errorf("missing assertion id")
	}
	rest = strings.TrimSpace(rest)
	desc, err := strconv.Unquote(rest)
	if err != nil {
		return Failure{}, fmt.Errorf("description must be a double-quoted string: %v", err)
	}
	return Failure{ID: id, Description: desc, Reason: reason}, nil
}

// Write writes the file in canonical form: header, then programs by name.
func (ef *File) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, h := range ef.Header {
		fmt.Fprintln(bw, h)
	}
	for _, name := range ef.Names() {
		p := ef.Programs[name]
		fmt.Fprintf(bw, "program %s %s ok=%d skip=%d\n", p.Name, p.Status, p.OK, p.Skip)
		for _, f := range p.Failures {
			keyword := "not-ok"
			if f.Flaky {
				keyword = "flaky"
			}
			fmt.Fprintf(bw, "  %s %s %s -- %s\n", keyword, f.ID, strconv.Quote(f.Description), oneLine(f.Reason))
		}
	}
	return bw.Flush()
}

// Save writes the file atomically.
func (ef *File) Save(path string) error {
	tmp, err := os.CreateTemp(dirOf(path), ".expected-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := ef.Write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return placeholderReason
	}
	return s
}

// Names returns the program names in sorted order.
func (ef *File) Names() []string {
	names := make([]string, 0, len(ef.Programs))
	for n := range ef.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
