// Package killpoint is a test hook of the shipped berth-image binary: with
// BERTH_IMAGE_TEST_KILL_AT=<step> in its environment, berth-image SIGKILLs
// itself when it first reaches that step, so that the crash-safety test
// (conformance/imagetool crash_test.go) can check that a pull, bundle, rm
// or gc killed anywhere leaves a consistent store. It gives nothing a
// caller could not do with kill -9. It is the same idea as the runtime's
// BERTH_TEST_KILL_AT (libcontainer/killpoint.go), with berth-image's own
// steps: imagetool never imports libcontainer.
package killpoint

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Env names the variable that selects the step.
const Env = "BERTH_IMAGE_TEST_KILL_AT"

// The steps, each named by what has just been done.
const (
	// pull (and the pull phase of bundle)
	BlobPartial   = "blob-partial"   // a blob download has some of its bytes in tmp/, not all
	BlobCommitted = "blob-committed" // a blob renamed into blobs/, blobs/ not synced, nothing refers to it
	PullStored    = "pull-stored"    // every blob of the image stored, index.json not updated
	IndexTemp     = "index-temp"     // an index.json update (pull, rm) written to a temp file, not renamed
	IndexWritten  = "index-written"  // index.json replaced, the command not finished
	// bundle
	UnpackLayer  = "unpack-layer"  // a layer half extracted (into the layer cache or a rootfs)
	BundleRootfs = "bundle-rootfs" // rootfs complete in the temp bundle dir, config.json not written
	BundleTrack  = "bundle-track"  // config.json and .berth-bundle.json written, no reference in the store
	BundleSwap   = "bundle-swap"   // reference recorded, bundle not renamed into place
	BundleMount  = "bundle-mount"  // overlay bundle renamed into place, rootfs not mounted
	BundleDone   = "bundle-done"   // bundle complete and mounted, its incomplete marker not removed
	// gc
	GCSweep = "gc-sweep" // gc removed one unreferenced blob, others remain
	GCCache = "gc-cache" // gc moved a layer cache entry aside, not yet removed it
)

// Steps lists every step, in the order a pull, bundle, rm and gc meet them.
var Steps = []string{
	BlobPartial, BlobCommitted, PullStored, IndexTemp, IndexWritten,
	UnpackLayer, BundleRootfs, BundleTrack, BundleSwap, BundleMount, BundleDone,
	GCSweep, GCCache,
}

var at = os.Getenv(Env)

// Check refuses a BERTH_IMAGE_TEST_KILL_AT that names no step, listing
// them: a misspelt step would make a crash test pass without crashing.
func Check() error {
	if at == "" || slices.Contains(Steps, at) {
		return nil
	}
	return fmt.Errorf("%s=%q names no step; the steps are: %s", Env, at, strings.Join(Steps, " "))
}

// Armed reports whether the hook names step (for callers that must do
// some work to tell whether they reached it).
func Armed(step string) bool { return at == step }

// At SIGKILLs berth-image at step when the hook names it.
func At(step string) {
	if at != step {
		return
	}
	unix.Kill(unix.Getpid(), unix.SIGKILL)
	for {
		time.Sleep(time.Second) // SIGKILL cannot be caught: never reached
	}
}
