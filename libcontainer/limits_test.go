package libcontainer

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	helpers["limits"] = helperLimits
	helpers["limits-errors"] = helperLimitErrors
}

// runHelper re-executes the test binary as helper name and returns what it
// printed; the helper's own failures show in the error.
func runHelper(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v; stderr: %s", name, err, stderr.String())
	}
	return string(out)
}

func TestLimitErrorsBeforeAnySyscall(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"io class", setIOPriority(&specs.LinuxIOPriority{Class: "IOPRIO_CLASS_FAST", Priority: 1}),
			`process.ioPriority.class: unknown class "IOPRIO_CLASS_FAST"`},
		{"io priority high", setIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}),
			"process.ioPriority.priority 8: must be 0 to 7"},
		{"io priority negative", setIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: -1}),
			"process.ioPriority.priority -1: must be 0 to 7"},
		{"sched policy", setScheduler(&specs.Scheduler{Policy: "SCHED_FAST"}),
			`process.scheduler.policy: unknown policy "SCHED_FAST"`},
		{"sched iso", setScheduler(&specs.Scheduler{Policy: specs.SchedISO}),
			`process.scheduler.policy: unknown policy "SCHED_ISO"`},
		{"sched flag", setScheduler(&specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork, "SCHED_FLAG_NOPE"}}),
			`process.scheduler.flags[1]: unknown flag "SCHED_FLAG_NOPE"`},
		{"personality domain", setPersonality(&specs.LinuxPersonality{Domain: "LINUX64"}),
			`linux.personality.domain: unknown domain "LINUX64"`},
		{"personality flags", setPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}),
			"linux.personality.flags [ADDR_NO_RANDOMIZE]: no flags are supported"},
		{"rlimit type", applyProcessLimits(&specs.Process{Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_FOO", Soft: 1, Hard: 1}}}),
			`process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	if err := setPersonality(nil); err != nil {
		t.Errorf("setPersonality(nil) = %v", err)
	}
	if err := applyProcessLimits(&specs.Process{}); err != nil {
		t.Errorf("applyProcessLimits with nothing set = %v", err)
	}
}

// observed is what the limits helper sees after applying them.
type observed struct {
	NofileSoft, NofileHard uint64
	OOMScoreAdj            string
	Policy                 uint32
	Nice                   int32
	IOPrio                 int
	Personality            int
}

func helperLimits() int {
	runtime.LockOSThread() // scheduler, I/O priority and personality are per thread
	oom := 123
	proc := &specs.Process{
		Rlimits:     []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 200}},
		OOMScoreAdj: &oom,
		Scheduler:   &specs.Scheduler{Policy: specs.SchedBatch, Nice: 5},
		IOPriority:  &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6},
	}
	if err := applyProcessLimits(proc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := setPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux32}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var o observed
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	o.NofileSoft, o.NofileHard = rl.Cur, rl.Max
	b, _ := os.ReadFile("/proc/self/oom_score_adj")
	o.OOMScoreAdj = strings.TrimSpace(string(b))
	var attr schedAttr
	if _, _, e := unix.Syscall6(unix.SYS_SCHED_GETATTR, 0, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0, 0, 0); e != 0 {
		fmt.Fprintln(os.Stderr, "sched_getattr:", e)
		return 1
	}
	o.Policy, o.Nice = attr.Policy, attr.Nice
	r, _, _ := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0)
	o.IOPrio = int(r)
	r, _, _ = unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	o.Personality = int(r)
	json.NewEncoder(os.Stdout).Encode(o)
	return 0
}

// The real syscalls run in a re-executed child: they change the process.
func TestApplyProcessLimitsForReal(t *testing.T) {
	needRoot(t)
	var o observed
	if err := json.Unmarshal([]byte(runHelper(t, "limits")), &o); err != nil {
		t.Fatal(err)
	}
	want := observed{NofileSoft: 100, NofileHard: 200, OOMScoreAdj: "123", Policy: unix.SCHED_BATCH, Nice: 5,
		IOPrio: 2<<13 | 6, Personality: 0x0008}
	if o != want {
		t.Fatalf("after applying: %+v\nwant             %+v", o, want)
	}
}

func hasCap(capNum int) bool {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n&(1<<uint(capNum)) != 0
		}
	}
	return false
}

// helperLimitErrors prints one error per line for limits the kernel refuses.
func helperLimitErrors() int {
	runtime.LockOSThread()
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	errs := []error{
		applyProcessLimits(&specs.Process{Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: rl.Max + 1, Hard: rl.Max + 1}}}),
		applyProcessLimits(&specs.Process{Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 20, Hard: 10}}}),
		setScheduler(&specs.Scheduler{Policy: specs.SchedFIFO, Priority: 0}),
		func() error { v := 5000; return applyProcessLimits(&specs.Process{OOMScoreAdj: &v}) }(),
	}
	fmt.Printf("%d\n", rl.Max)
	for _, err := range errs {
		fmt.Println(err)
	}
	return 0
}

func TestLimitKernelErrors(t *testing.T) {
	needRoot(t)
	lines := strings.Split(strings.TrimSpace(runHelper(t, "limits-errors")), "\n")
	if len(lines) != 5 {
		t.Fatalf("helper printed %q", lines)
	}
	hard, _ := strconv.ParseUint(lines[0], 10, 64)
	const capSysResource = 24
	if hasCap(capSysResource) {
		if lines[1] != "<nil>" {
			t.Errorf("raising RLIMIT_NOFILE with CAP_SYS_RESOURCE: %s", lines[1])
		}
	} else if want := fmt.Sprintf("process.rlimits[0] (RLIMIT_NOFILE): hard limit %d is above the current hard limit %d, which needs CAP_SYS_RESOURCE: operation not permitted", hard+1, hard); lines[1] != want {
		t.Errorf("raising the hard limit: %s\nwant %s", lines[1], want)
	}
	if want := "process.rlimits[0] (RLIMIT_NOFILE soft=20 hard=10): invalid argument"; lines[2] != want {
		t.Errorf("soft above hard: %s\nwant %s", lines[2], want)
	}
	if want := "process.scheduler (policy SCHED_FIFO): sched_setattr: invalid argument"; lines[3] != want {
		t.Errorf("SCHED_FIFO priority 0: %s\nwant %s", lines[3], want)
	}
	if !strings.HasPrefix(lines[4], "process.oomScoreAdj 5000: ") {
		t.Errorf("oomScoreAdj 5000: %s", lines[4])
	}
}
