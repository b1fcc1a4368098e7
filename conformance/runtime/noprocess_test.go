package runtime_test

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCreateWithoutProcess: process is OPTIONAL in config.md; such a
// container is created, and start fails with a clear error (runtime.md).
func TestCreateWithoutProcess(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 refuses a config without process at create")
	c := newContainer(t)
	c.Spec.Process = nil
	c.mustCreate()
	if st := c.state(); st.Status != specs.StateCreated {
		t.Fatalf("status %q after create, want created", st.Status)
	}
	r := c.rt("start", c.ID)
	if r.Code == 0 || !strings.Contains(r.Stderr, "no process") {
		t.Errorf("start of a container without process: %s", r.describe())
	}
	c.mustRT("delete", "--force", c.ID)
}
