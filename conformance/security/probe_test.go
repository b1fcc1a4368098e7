package security_test

import (
	"encoding/json"
	"strings"

	"github.com/berthproject/berth/conformance/probe/report"
)

// probeArgs runs conformance/probe with requests (see its doc comment).
func probeArgs(requests ...string) []string { return append([]string{"/probe"}, requests...) }

// probeReport decodes the probe's report from the container's output; ok
// is false when the probe did not print one (the container never ran).
func (c *container) probeReport() (rep report.Report, ok bool) {
	return decodeReport(readQuiet(c.out))
}

// decodeReport finds the probe's JSON report in out.
func decodeReport(out string) (rep report.Report, ok bool) {
	i := strings.Index(out, "{")
	if i < 0 {
		return rep, false
	}
	return rep, json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep) == nil
}
