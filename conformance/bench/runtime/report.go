package main

import (
	"fmt"
	"io"
	"strings"
)

// report writes the markdown section: the `run` table with ratios to
// runc, the lifecycle steps, and a note per tool measured differently.
func report(w io.Writer, o *options, tools, steppers []*tool, steps map[*tool]map[string]samples) {
	var runc *tool
	for _, t := range tools {
		if t.name == "runc" {
			runc = t
		}
	}
	fmt.Fprintf(w, "## Runtime start path: berth vs runc vs crun\n\n### `run` of /bin/true\n\n")
	fmt.Fprintf(w, "create + start + wait + delete (`RUNTIME run --bundle B ID` in the foreground) of a busybox-static bundle "+
		"made from `berth spec` (terminal false, args `/bin/true`), each runtime with its own `--root` under /run. "+
		"%d timed runs per tool after %d warmup runs, interleaved round-robin in one process (the order rotates each round), "+
		"timed from fork to reaped exit, all at nice %d. CPU is user + system time of the command and of the processes it waited for "+
		"(wait4's rusage: the runtime, its init and the container's process), which other load on the machine disturbs less than wall time.\n\n", o.runs, o.warmup, o.nice)
	fmt.Fprintln(w, "| tool | median | p90 | min | median vs runc | CPU median | CPU vs runc |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, t := range tools {
		if t.skip != "" {
			fmt.Fprintf(w, "| %s | %s | | | | | |\n", t.name, t.skip)
			continue
		}
		med, cpu := t.runs.quantile(0.5), t.cpu.quantile(0.5)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", t.name, ms(med), ms(t.runs.quantile(0.9)),
			ms(t.runs.quantile(0)), ratio(med, runc.runs.quantile(0.5)), ms(cpu), ratio(cpu, runc.cpu.quantile(0.5)))
	}
	fmt.Fprintln(w)
	for _, t := range tools {
		if t.note != "" {
			fmt.Fprintf(w, "* %s: %s.\n", t.name, t.note)
		}
	}

	if o.steps == 0 {
		return
	}
	fmt.Fprintf(w, "\n### Lifecycle steps\n\n")
	fmt.Fprintf(w, "Median of %d rounds, one container running `sleep` per runtime per round (interleaved likewise); "+
		"delete runs once the runtime reports the container stopped after `kill KILL`.\n\n", o.steps)
	header := []string{"step"}
	align := []string{"---"}
	for _, t := range steppers {
		header = append(header, t.name)
		align = append(align, "---:")
	}
	fmt.Fprintf(w, "| %s |\n|%s|\n", strings.Join(header, " | "), strings.Join(align, "|"))
	sum := make([]float64, len(steppers))
	for _, step := range stepNames {
		row := []string{step}
		for i, t := range steppers {
			med := steps[t][step].quantile(0.5)
			sum[i] += float64(med)
			row = append(row, ms(med))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	row := []string{"sum of medians"}
	for i := range steppers {
		row = append(row, fmt.Sprintf("%.2f ms", sum[i]/1e6))
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
}
