package security_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// attack is one test against one runtime: a private directory, a copy of
// the runtime to attack (bin) and another to clean up with (the attack
// may have overwritten bin), and what the host must look like afterwards.
type attack struct {
	t     *testing.T
	rt    *runtimeKind
	dir   string
	bin   string
	clean string
	root  string // --root of every call
	user  uint32 // the uid runtime calls run as (0: root)
	gap   string

	mu         sync.Mutex
	breaches   []string
	containers []*container
	witnesses  []*witness
}

// eachRuntime runs the attack as a subtest per runtime: berth, then runc.
func eachRuntime(t *testing.T, f func(a *attack)) {
	for _, rt := range runtimes {
		t.Run(rt.name, func(t *testing.T) { f(newAttack(t, rt)) })
	}
}

func newAttack(t *testing.T, rt *runtimeKind) *attack {
	dir, err := os.MkdirTemp("", "sec-")
	must(t, err)
	// Mapped users (the rootless tests) must reach the bundles.
	must(t, os.Chmod(dir, 0o755))
	a := &attack{t: t, rt: rt, dir: dir, bin: filepath.Join(dir, rt.name), clean: filepath.Join(dir, "clean", rt.name),
		root: filepath.Join(dir, "state")}
	must(t, os.MkdirAll(filepath.Dir(a.clean), 0o755))
	must(t, copyFile(rt.pristine, a.bin))
	must(t, copyFile(rt.pristine, a.clean))
	// Cleanups run last-registered first: the verdict comes after the
	// containers are deleted and the host is checked.
	t.Cleanup(func() {
		a.checkHost()
		a.verdict()
		os.RemoveAll(dir)
	})
	t.Cleanup(a.removeContainers)
	return a
}

// callTimeout bounds a runtime call that is expected to return.
const callTimeout = 15 * time.Second

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runAsUser makes every runtime call of the attack run as an
// unprivileged host user, who owns the state directory.
func (a *attack) runAsUser(uid uint32) {
	a.t.Helper()
	a.user = uid
	must(a.t, os.MkdirAll(a.root, 0o700))
	must(a.t, os.Chown(a.root, int(uid), int(uid)))
}

// leakDir opens a host directory the way a careless caller leaves one
// open: without close-on-exec. The runtime gets it as fd 3+i for every
// i < n (the same directory many times, so that whichever fds the runtime
// reuses for itself, some survive).
func (a *attack) leakDir(path string, n int) []*os.File {
	a.t.Helper()
	var out []*os.File
	for i := 0; i < n; i++ {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(a.t, err)
		f := os.NewFile(uintptr(fd), path)
		a.t.Cleanup(func() { f.Close() })
		out = append(out, f)
	}
	return out
}
