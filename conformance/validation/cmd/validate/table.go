package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berthproject/berth/conformance/validation/internal/expect"
)

// printTable prints a markdown table with one row per program and one column
// per expected-results file, for docs/conformance.md.
func printTable(w io.Writer, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("-table needs expected-results files as arguments")
	}
	var loaded []*expect.File
	names := map[string]bool{}
	header := "| program |"
	rule := "|---|"
	for _, f := range files {
		ef, err := expect.Load(f)
		if err != nil {
			return err
		}
		loaded = append(loaded, ef)
		for n := range ef.Programs {
			names[n] = true
		}
		header += " " + strings.TrimSuffix(filepath.Base(f), ".txt") + " |"
		rule += "---|"
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, rule)
	for _, n := range sorted {
		row := "| " + n + " |"
		for _, ef := range loaded {
			row += " " + cell(ef.Programs[n]) + " |"
		}
		fmt.Fprintln(w, row)
	}
	return nil
}

func cell(p *expect.Program) string {
	switch {
	case p == nil:
		return "—"
	case p.Status == expect.StatusFail:
		ids := make([]string, len(p.Failures))
		for i, f := range p.Failures {
			ids[i] = "#" + f.ID
			if f.Flaky {
				ids[i] += " (flaky)"
			}
		}
		return fmt.Sprintf("**fail** %s (%d ok)", strings.Join(ids, " "), p.OK)
	default:
		return fmt.Sprintf("pass (%d ok)", p.OK)
	}
}
