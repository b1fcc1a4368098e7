package specs

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseList parses a list such as "0-3,7" (CPUs, NUMA nodes) into its
// members, each below max. An empty list has none.
func ParseList(list string, max int) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	var out []int
	for item := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		first, err1 := strconv.Atoi(lo)
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || first < 0 || last < first {
			return nil, fmt.Errorf("%q is not a list like \"0-3,7\"", list)
		}
		if last >= max {
			return nil, fmt.Errorf("%q: %d is out of range (below %d)", list, last, max)
		}
		for i := first; i <= last; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
