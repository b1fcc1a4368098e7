package main

import (
	"fmt"
	"sort"
	"time"
)

// samples are the timings of one tool (or one step of one tool).
type samples []time.Duration

// quantile is the nearest-rank q-quantile (0.5 is the median).
func (s samples) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append(samples(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	i := int(q*float64(len(c))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c) {
		i = len(c) - 1
	}
	return c[i]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func ratio(d, base time.Duration) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", float64(d)/float64(base))
}
