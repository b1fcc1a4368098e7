package specs

import (
	"fmt"
	"strings"
)

// ParseList parses a list such as "0-3,7" (CPUs, NUMA nodes) into its
// members, each below max. Blanks around items are allowed; an empty list
// has no members.
func ParseList(list string, max int) ([]int, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []int
	for item := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(item), "-")
		first, err := listIndex(lo, max)
		last := first
		if err == nil && isRange {
			last, err = listIndex(hi, max)
		}
		if err == nil && last < first {
			err = fmt.Errorf("range %d-%d is backwards", first, last)
		}
		if err != nil {
			return nil, fmt.Errorf("%q is not a list like \"0-3,7\": %w", list, err)
		}
		for i := first; i <= last; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}

// listIndex parses one decimal number below max (digits only: no sign).
func listIndex(s string, max int) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty element")
	}
	n := 0
	for _, ch := range s {
		if ch < '0' || ch > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		if n = n*10 + int(ch-'0'); n >= max {
			return 0, fmt.Errorf("%s is not below %d", s, max)
		}
	}
	return n, nil
}
