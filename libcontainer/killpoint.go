package libcontainer

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// KillAtEnv is a test hook of the shipped binary: with
// BERTH_TEST_KILL_AT=<step>, berth SIGKILLs itself when it reaches that
// step, so the crash-safety tests (conformance/runtime reliability_test.go)
// can check that `delete --force` cleans up after a berth killed anywhere.
// It gives nothing a caller could not do with kill(1); docs/architecture.md
// describes it.
const KillAtEnv = "BERTH_TEST_KILL_AT"

// The steps, each named by the command it is in and what has just been
// done.
const (
	StepCreateDir     = "create-dir"     // state dir made and locked, no state yet
	StepCreateState   = "create-state"   // first state written (no init pid), no cgroup
	StepCreateCgroup  = "create-cgroup"  // cgroup made, no init
	StepCreateInit    = "create-init"    // init started in the cgroup, not ready
	StepCreateReady   = "create-ready"   // init ready (hooks run), state not yet final
	StepCreateSaved   = "create-saved"   // final state saved, create not returned
	StepStartOpened   = "start-opened"   // exec fifo opened, init not yet answered
	StepStartReleased = "start-released" // init released, fifo not removed
	StepExecPlaced    = "exec-placed"    // exec process in the cgroup, not ready
	StepExecReady     = "exec-ready"     // exec process ready, pid not reported
	StepUpdateCgroup  = "update-cgroup"  // cgroup files written, state not saved
	StepUpdateSaved   = "update-saved"   // state saved, update not returned
	StepDeleteKilled  = "delete-killed"  // processes killed, cgroup still there
	StepDeleteCgroup  = "delete-cgroup"  // cgroup removed, mounts and state still there
	StepDeleteCleaned = "delete-cleaned" // all but the state dir removed
	StepStateTemp     = "state-temp"     // any state write: temp file written, not renamed
)

// KillSteps lists every step, in the order a container meets them.
var KillSteps = []string{
	StepCreateDir, StepCreateState, StepCreateCgroup, StepCreateInit, StepCreateReady, StepCreateSaved,
	StepStartOpened, StepStartReleased,
	StepExecPlaced, StepExecReady,
	StepUpdateCgroup, StepUpdateSaved,
	StepDeleteKilled, StepDeleteCgroup, StepDeleteCleaned,
	StepStateTemp,
}

var killAt = os.Getenv(KillAtEnv)

// CheckKillAt refuses a BERTH_TEST_KILL_AT that names no step, listing
// them: a misspelt step would make a crash test pass without crashing.
func CheckKillAt() error {
	if killAt == "" || slices.Contains(KillSteps, killAt) {
		return nil
	}
	return fmt.Errorf("%s=%q names no step; the steps are: %s", KillAtEnv, killAt, strings.Join(KillSteps, " "))
}

// killPoint SIGKILLs berth at step when the test hook names it.
func killPoint(step string) {
	if killAt != step {
		return
	}
	unix.Kill(unix.Getpid(), unix.SIGKILL)
	for {
		time.Sleep(time.Second) // SIGKILL cannot be caught: never reached
	}
}
