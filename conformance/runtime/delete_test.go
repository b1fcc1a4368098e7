package runtime_test

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDeleteCreatedNeedsForce: runtime.md#delete: deleting a container
// that is not stopped is an error and has no effect (runc 1.1.5 deletes a
// created one); --force removes it.
func TestDeleteCreatedNeedsForce(t *testing.T) {
	t.Parallel()
	runcGap(t, "runc 1.1.5 deletes a created container without --force")
	c := newContainer(t, "/bin/true")
	c.mustCreate()
	if r := c.rt("delete", c.ID); r.Code == 0 {
		t.Fatalf("delete of a created container succeeded: %s", r.describe())
	}
	if st := c.state(); st.Status != specs.StateCreated {
		t.Errorf("after a refused delete: status %q, want created", st.Status)
	}
	c.mustRT("delete", "--force", c.ID)
	if r := c.rt("state", c.ID); r.Code == 0 {
		t.Errorf("state after delete --force: %s", r.describe())
	}
}
