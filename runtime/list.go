package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/berthproject/berth/libcontainer"
)

func init() {
	register(&command{name: "list", short: "list containers", run: cmdList})
}

// listEntry matches runc's `list --format json` objects.
type listEntry struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     string            `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

func cmdList(g *globals, args []string) error {
	fs := newFlags("list")
	format := fs.String("format", "table", "table or json")
	fs.alias("f", "format")
	quiet := fs.Bool("quiet", false, "print only the ids")
	fs.alias("q", "quiet")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	cs, err := libcontainer.List(g.root)
	if err != nil {
		return err
	}
	if *quiet {
		for _, c := range cs {
			fmt.Println(c.ID())
		}
		return nil
	}
	entries := make([]listEntry, 0, len(cs))
	for _, c := range cs {
		st := c.OCIState()
		entries = append(entries, listEntry{
			OCIVersion: st.Version, ID: st.ID, Pid: st.Pid, Status: string(st.Status), Bundle: st.Bundle,
			Rootfs: st.Rootfs, Created: st.Created, Annotations: st.Annotations, Owner: c.Owner(),
		})
	}
	switch *format {
	case "json":
		return printJSON(entries)
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, e := range entries {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Pid, e.Status, e.Bundle, e.Created, e.Owner)
		}
		return w.Flush()
	default:
		return fmt.Errorf("--format %q: must be table or json", *format)
	}
}
