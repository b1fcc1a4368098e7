// Package tap parses the Test Anything Protocol (version 13) streams that the
// runtime-tools validation programs print.
//
// Some validation programs print more than one TAP document to the same
// stdout (each with its own "TAP version" header and plan, numbering restarting
// at 1), so a Stream is a list of documents rather than a single one.
package tap

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Outcome is the result of one assertion.
type Outcome int

const (
	Pass Outcome = iota
	Fail
	Skip
	// Todo is a "not ok ... # TODO" line: a known failure the suite itself
	// does not count against the implementation.
	Todo
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "ok"
	case Fail:
		return "not ok"
	case Skip:
		return "skip"
	case Todo:
		return "todo"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Assertion is one "ok"/"not ok" line plus the diagnostics (YAML block and
// "#" comments) printed after it.
type Assertion struct {
	// ID identifies the assertion within its stream: its number, prefixed by
	// "<document>:" for documents after the first.
	ID          string
	Number      int
	Outcome     Outcome
	Description string
	// Directive is the text after "# SKIP" or "# TODO".
	Directive   string
	Line        string
	Diagnostics []string
}

// Document is one TAP document: header, assertions, plan.
type Document struct {
	// Plan is the N of "1..N", or -1 when the document has no plan.
	Plan       int
	Assertions []Assertion
	// Preamble holds diagnostics printed before the first assertion.
	Preamble []string
}

// Stream is everything a program printed on stdout.
type Stream struct {
	Documents []Document
	BailOut   string
}

var (
	assertionRE = regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$`)
	planRE      = regexp.MustCompile(`^1\.\.(\d+)\b`)
	directiveRE = regexp.MustCompile(`(?i)\s*#\s*(SKIP|TODO)\b\s*(.*)$`)
)

// Parse reads a TAP stream. It only fails on I/O errors; malformed structure
// (missing or wrong plans) is reported by Stream.Problems.
func Parse(r io.Reader) (*Stream, error) {
	s := &Stream{}
	cur := func() *Document {
		if len(s.Documents) == 0 {
			s.Documents = append(s.Documents, Document{Plan: -1})
		}
		return &s.Documents[len(s.Documents)-1]
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "TAP version"):
			s.Documents = append(s.Documents, Document{Plan: -1})
		case strings.HasPrefix(line, "Bail out!"):
			s.BailOut = strings.TrimSpace(strings.TrimPrefix(line, "Bail out!"))
		case planRE.MatchString(line):
			n, _ := strconv.Atoi(planRE.FindStringSubmatch(line)[1])
			d := cur()
			if d.Plan >= 0 {
				// A second plan in the same document: start a new one so
				// the mismatch shows up in Problems.
				s.Documents = append(s.Documents, Document{Plan: n})
			} else {
				d.Plan = n
			}
		case assertionRE.MatchString(line):
			d := cur()
			d.Assertions = append(d.Assertions, parseAssertion(line, len(s.Documents)-1, len(d.Assertions)+1))
		default:
			d := cur()
			if n := len(d.Assertions); n > 0 {
				d.Assertions[n-1].Diagnostics = append(d.Assertions[n-1].Diagnostics, line)
			} else {
				d.Preamble = append(d.Preamble, line)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading TAP: %w", err)
	}
	return s, nil
}

func parseAssertion(line string, doc, ordinal int) Assertion {
	m := assertionRE.FindStringSubmatch(line)
	a := Assertion{Line: line, Outcome: Pass, Number: ordinal}
	if m[1] == "not ok" {
		a.Outcome = Fail
	}
	if m[2] != "" {
		a.Number, _ = strconv.Atoi(m[2])
	}
	desc := m[3]
	if d := directiveRE.FindStringSubmatchIndex(desc); d != nil {
		kind := strings.ToUpper(desc[d[2]:d[3]])
		a.Directive = strings.TrimSpace(desc[d[4]:d[5]])
		desc = desc[:d[0]]
		switch {
		case kind == "SKIP":
			a.Outcome = Skip
		case kind == "TODO" && a.Outcome == Fail:
			a.Outcome = Todo
		}
	}
	a.Description = strings.TrimSpace(desc)
	a.ID = strconv.Itoa(a.Number)
	if doc > 0 {
		a.ID = fmt.Sprintf("%d:%d", doc, a.Number)
	}
	return a
}

// Assertions returns the assertions of all documents in order.
func (s *Stream) Assertions() []Assertion {
	var all []Assertion
	for _, d := range s.Documents {
		all = append(all, d.Assertions...)
	}
	return all
}

// Count returns how many assertions have each outcome.
func (s *Stream) Count() map[Outcome]int {
	c := map[Outcome]int{}
	for _, a := range s.Assertions() {
		c[a.Outcome]++
	}
	return c
}

// Problems lists what makes the stream structurally incomplete: a document
// without a plan, a plan that does not match the assertions, a bail out.
// An empty stream is not a problem: some validation programs report only
// through their exit status.
func (s *Stream) Problems() []string {
	var p []string
	if s.BailOut != "" {
		p = append(p, "bailed out: "+s.BailOut)
	}
	for i, d := range s.Documents {
		switch {
		case d.Plan < 0:
			p = append(p, fmt.Sprintf("TAP document %d has no plan (the program stopped early)", i+1))
		case d.Plan != len(d.Assertions):
			p = append(p, fmt.Sprintf("TAP document %d planned %d assertions but ran %d", i+1, d.Plan, len(d.Assertions)))
		}
	}
	return p
}

// DocumentErrors returns, per document index, the "error" values of YAML
// diagnostic blocks printed before the document's first assertion. The
// lifecycle programs (prestart, hooks, ...) make no assertions at all and
// report a failed check only this way, followed by the plan "1..0".
func (s *Stream) DocumentErrors() map[int][]string {
	out := map[int][]string{}
	for i, d := range s.Documents {
		for _, block := range yamlBlocks(d.Preamble) {
			var v struct {
				Error string `json:"error"`
			}
			// tap-go writes its YAML diagnostics as JSON, which is YAML.
			if json.Unmarshal([]byte(block), &v) == nil && v.Error != "" {
				out[i] = append(out[i], v.Error)
			}
		}
	}
	return out
}

// yamlBlocks returns the contents of the "---" ... "..." blocks in lines.
func yamlBlocks(lines []string) []string {
	var blocks []string
	var cur []string
	in := false
	for _, l := range lines {
		switch t := strings.TrimSpace(l); {
		case t == "---":
			in, cur = true, nil
		case t == "..." && in:
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, l)
		}
	}
	return blocks
}
