package cgroups

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkCreateDestroy measures what `berth run` pays for its cgroup:
// New (validation, path lookup), Create (mkdir and limits in every
// hierarchy) and Destroy.
func BenchmarkCreateDestroy(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Fatal("needs root")
	}
	res := lifecycleResources(b)
	for i := 0; b.Loop(); i++ {
		id := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
		m, err := New(Options{ContainerID: id, Resources: res})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Create(); err != nil {
			b.Fatal(err)
		}
		if err := m.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}
