// Package progress reports download progress: per-layer bars on a
// terminal, one line per layer otherwise, or JSON events.
package progress

import "fmt"

// Bytes formats n with a binary unit, e.g. "12.3 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
