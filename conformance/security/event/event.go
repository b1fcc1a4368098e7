// Package event is the record the in-container attacker
// (conformance/security/attacker) writes, one JSON object a line, for the
// security suite to read from the host: what it tried and what happened.
package event

import (
	"bufio"
	"encoding/json"
	"os"
)

// Event is one step of an attack.
type Event struct {
	// Kind names the step: ready, denied, held, write, done, environ, mem,
	// fds, ptrace, create, cwd, mkdir, swap, error.
	Kind string `json:"kind"`
	PID  int    `json:"pid,omitempty"`
	// Exe is the readlink of /proc/PID/exe, Cmdline its command line.
	Exe     string `json:"exe,omitempty"`
	Cmdline string `json:"cmdline,omitempty"`
	// Target is set when a held executable is the file the test named
	// (same device and inode): the runtime binary under attack.
	Target bool   `json:"target,omitempty"`
	Path   string `json:"path,omitempty"`
	// Result is "ok" on success, else an errno name (EACCES) or a message.
	Result string `json:"result,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Found says whether a secret was found (environ, mem).
	Found bool `json:"found,omitempty"`
}

// OK reports whether the step succeeded.
func (e Event) OK() bool { return e.Result == "ok" }

// ReadFile reads the events written so far; a last line still being
// written is left out.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}
