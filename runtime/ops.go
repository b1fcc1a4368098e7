package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/berthproject/berth/libcontainer"
)

func init() {
	register(&command{name: "pause", args: "<container-id>", short: "freeze every process of a container", run: cmdPause})
	register(&command{name: "resume", args: "<container-id>", short: "thaw a paused container", run: cmdResume})
	register(&command{name: "ps", args: "<container-id> [ps options]", short: "list the processes of a container", run: cmdPs})
}

// loadOne is load for a command that takes only the id.
func loadOne(g *globals, name string, args []string) (*libcontainer.Container, error) {
	c, _, err := load(g, newFlags(name), args, 1, 1)
	return c, err
}

// load parses a command's flags and arguments (min to max of them, the
// container id first) and loads that container.
func load(g *globals, fs *flagSet, args []string, min, max int) (*libcontainer.Container, []string, error) {
	rest, err := parse(fs, args, min, max)
	if err != nil {
		return nil, nil, err
	}
	c, err := libcontainer.Load(g.root, rest[0])
	return c, rest, err
}

func cmdPause(g *globals, args []string) error {
	c, err := loadOne(g, "pause", args)
	if err != nil {
		return err
	}
	return c.Pause()
}

func cmdResume(g *globals, args []string) error {
	c, err := loadOne(g, "resume", args)
	if err != nil {
		return err
	}
	return c.Resume()
}

func cmdPs(g *globals, args []string) error {
	fs := newFlags("ps")
	format := fs.String("format", "table", "table or json")
	fs.alias("f", "format")
	c, _, err := load(g, fs, args, 1, -1)
	if err != nil {
		return err
	}
	pids, err := c.Processes()
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		return json.NewEncoder(os.Stdout).Encode(pids)
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 8, 1, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tCMD")
		for _, pid := range pids {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			fmt.Fprintf(w, "%d\t%s\n", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
		return w.Flush()
	default:
		return fmt.Errorf("--format %q: must be table or json", *format)
	}
}
