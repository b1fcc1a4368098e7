package nsenter

import (
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEmptyPlan(t *testing.T) {
	var p Plan
	if !p.Empty() {
		t.Fatal("a new plan is not empty")
	}
	p.Unshare(0) // nothing to unshare adds no step
	if !p.Empty() {
		t.Fatalf("Unshare(0) added a step: %q", p.steps)
	}
}

func TestPlanEnv(t *testing.T) {
	var p Plan
	p.Join(5)
	p.BecomeRoot()
	p.Join(6)
	p.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWTIME)
	p.TimeOffset("monotonic", -5, 10)
	p.TimeOffset("boottime", 86400, 0)
	p.Fork()
	if p.Empty() {
		t.Fatal("plan with steps reports Empty")
	}
	want := []string{
		"_BERTH_NSENTER=join:5;root;join:6;unshare:131200;timens:monotonic:-5:10;timens:boottime:86400:0;fork",
		"_BERTH_NSSYNC=9",
	}
	if got := p.Env(9); !reflect.DeepEqual(got, want) {
		t.Fatalf("Env = %q, want %q", got, want)
	}
}
