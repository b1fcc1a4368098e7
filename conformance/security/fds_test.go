package security_test

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/berthproject/berth/conformance/probe/report"
	"golang.org/x/sys/unix"
)

// CVE-2024-21626's other half: no fd of the host reaches the container's
// process, whatever its caller leaked (a directory, a file, a pipe) and
// whatever the runtime opened for itself: only stdio, for create, run and
// exec.

// leakMixed leaks a watched host directory, a host file and a pipe, each
// without close-on-exec, as fds 3 to 3+3n-1.
func (a *attack) leakMixed(n int) []*os.File {
	a.t.Helper()
	dir := a.hostDir("leaked")
	var out []*os.File
	for i := 0; i < n; i++ {
		out = append(out, a.leakDir(dir, 1)...)
		fd, err := unix.Open(filepath.Join(dir, "host-file"), unix.O_RDWR, 0)
		must(a.t, err)
		var p [2]int
		must(a.t, unix.Pipe(p[:]))
		unix.Close(p[0])
		for _, f := range []*os.File{os.NewFile(uintptr(fd), "host-file"), os.NewFile(uintptr(p[1]), "pipe")} {
			a.t.Cleanup(func() { f.Close() })
			out = append(out, f)
		}
	}
	return out
}

func (a *attack) checkFDs(how string, rep report.Report) {
	a.t.Helper()
	var extra []string
	for fd, target := range rep.FDs {
		if fd > 2 {
			extra = append(extra, strconv.Itoa(fd)+" -> "+target)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		a.escaped("%s: fds beyond stdio reached the container's process: %v", how, extra)
	}
}

func TestNoHostFDInContainer(t *testing.T) {
	eachRuntime(t, func(a *attack) {
		leak := a.leakMixed(4)
		run := a.newContainer(probeArgs()...)
		run.run(callOpts{leak: leak}, false)
		rep, ok := run.probeReport()
		if !ok {
			a.t.Fatalf("run: no probe report in %q", readQuiet(run.out))
		}
		a.checkFDs("run", rep)

		created := a.newContainer("/bin/sh", "-c", "/probe > /report/probe; sleep 30")
		if r := created.create(callOpts{leak: leak}); r.code != 0 {
			a.t.Fatalf("%s", r)
		}
		if r := created.start(callOpts{leak: leak}); r.code != 0 {
			a.t.Fatalf("%s", r)
		}
		var out string
		for deadline := time.Now().Add(5 * time.Second); out == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			out = readQuiet(filepath.Join(created.report, "probe"))
		}
		if rep, ok = decodeReport(out); !ok {
			a.t.Fatalf("create: no probe report in %q", out)
		}
		a.checkFDs("create and start", rep)

		r := created.exec(callOpts{leak: leak}, nil, probeArgs()...)
		if rep, ok = decodeReport(r.stdout); !ok {
			a.t.Fatalf("exec: no probe report: %s", r)
		}
		a.checkFDs("exec", rep)
	})
}
