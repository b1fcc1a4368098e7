package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

func init() {
	register(&command{name: "events", args: "<container-id>", short: "print container events (oom) and statistics as JSON lines", run: cmdEvents,
		desc: "Prints an {\"type\":\"oom\"} event each time the kernel OOM-kills a process of the\n" +
			"container and a \"stats\" event every --interval, until the container stops."})
}

// oomPoll is how often events reads the cgroup's OOM kill counter: cheap
// (one small cgroup file) and prompt enough for a person or an engine.
const oomPoll = 100 * time.Millisecond

// event is runc's `events` JSON object.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

func cmdEvents(g *globals, args []string) error {
	fs := newFlags("events")
	stats := fs.Bool("stats", false, "print the container's statistics once and exit")
	interval := fs.Duration("interval", 5*time.Second, "interval between statistics")
	c, _, err := load(g, fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *interval <= 0 {
		return errors.New("--interval must be greater than 0")
	}
	if c.Status() == specs.StateStopped {
		return fmt.Errorf("container with id %s is not running", c.ID())
	}
	enc := json.NewEncoder(os.Stdout)
	printStats := func() error {
		s, err := c.Stats()
		if err != nil {
			return err
		}
		return enc.Encode(event{Type: "stats", ID: c.ID(), Data: s})
	}
	if *stats {
		return printStats()
	}
	ooms, err := c.OOMKills()
	if err != nil {
		return err
	}
	nextStats := time.Now().Add(*interval)
	// Lasts as long as the container runs: the stream is what was asked
	// for. Each round is bounded by oomPoll.
	for {
		stopped := c.Status() == specs.StateStopped
		if n, err := c.OOMKills(); err == nil {
			for ; ooms < n; ooms++ {
				if err := enc.Encode(event{Type: "oom", ID: c.ID()}); err != nil {
					return err
				}
			}
		}
		if stopped {
			return nil
		}
		if time.Now().After(nextStats) {
			if err := printStats(); err != nil {
				logrus.Warnf("events: %v", err)
			}
			nextStats = nextStats.Add(*interval)
		}
		time.Sleep(oomPoll)
	}
}
