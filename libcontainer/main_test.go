package libcontainer

import (
	"os"
	"runtime"
	"testing"
)

// helperEnv makes the re-executed test binary run one helper (see
// runHelper) instead of the tests: for code that changes the whole process.
const helperEnv = "BERTH_LIBCONTAINER_TEST_HELPER"

var helpers = map[string]func() int{}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		h, ok := helpers[name]
		if !ok {
			os.Stderr.WriteString("unknown helper " + name + "\n")
			os.Exit(3)
		}
		os.Exit(h())
	}
	// Keep the main thread to this goroutine: a throwaway thread that
	// changes namespaces must never be the main one, which the runtime
	// keeps (wedged) instead of ending.
	runtime.LockOSThread()
	os.Exit(m.Run())
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root")
	}
}
