package caps

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	capChown   = 0
	capKill    = 5
	capNetRaw  = 13
	capSysAdm  = 21
	capCkptRst = 40
)

// Keep the main thread to TestMain's goroutine: a throwaway thread that
// changes its capabilities must never be the main one, which the runtime keeps
// (wedged) instead of ending, leaving the process changed.
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	os.Exit(m.Run())
}

func bit(c int) uint64 { return 1 << uint(c) }

func TestResolveNil(t *testing.T) {
	s, err := Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	if *s != (Set{}) {
		t.Fatalf("Resolve(nil) = %+v, want an empty set", *s)
	}
}

func TestResolveBits(t *testing.T) {
	s, err := Resolve(&specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"},
		Effective:   []string{"CAP_KILL"},
		Permitted:   []string{"CAP_KILL", "CAP_NET_RAW"},
		Inheritable: []string{"CAP_NET_RAW"},
		Ambient:     []string{"CAP_NET_RAW", "CAP_NET_RAW"}, // a repeat is harmless
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Set{
		Bounding:    bit(capChown) | bit(capKill) | bit(capSysAdm),
		Effective:   bit(capKill),
		Permitted:   bit(capKill) | bit(capNetRaw),
		Inheritable: bit(capNetRaw),
		Ambient:     bit(capNetRaw),
	}
	if *s != want {
		t.Fatalf("Resolve = %+v, want %+v", *s, want)
	}
}

func TestResolveUnknownNamesJSONPath(t *testing.T) {
	for _, tc := range []struct {
		caps *specs.LinuxCapabilities
		want string
	}{
		{&specs.LinuxCapabilities{Bounding: []string{"CAP_NOPE"}}, `process.capabilities.bounding[0]: unknown capability "CAP_NOPE"`},
		{&specs.LinuxCapabilities{Effective: []string{"CAP_KILL", "KILL"}}, `process.capabilities.effective[1]: unknown capability "KILL"`},
		{&specs.LinuxCapabilities{Permitted: []string{"cap_chown"}}, `process.capabilities.permitted[0]: unknown capability "cap_chown"`},
		{&specs.LinuxCapabilities{Inheritable: []string{""}}, `process.capabilities.inheritable[0]: unknown capability ""`},
		{&specs.LinuxCapabilities{Ambient: []string{"CAP_CHOWN", "CAP_CHOWN", "CAP_FOO"}}, `process.capabilities.ambient[2]: unknown capability "CAP_FOO"`},
	} {
		s, err := Resolve(tc.caps)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Resolve(%+v) = %v, %v; want error %q", *tc.caps, s, err, tc.want)
		}
	}
}

func TestLastCapMatchesProc(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if got := LastCap(); got != want {
		t.Fatalf("LastCap() = %d, /proc says %d", got, want)
	}
}

// A capability the running kernel does not know is left out, not an error.
func TestResolveLeavesOutCapsAboveLastCap(t *testing.T) {
	LastCap()
	saved := lastCap
	lastCap = capCkptRst - 1
	defer func() { lastCap = saved }()
	s, err := Resolve(&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounding != bit(capChown) {
		t.Fatalf("bounding = %#x, want only CAP_CHOWN (%#x)", s.Bounding, bit(capChown))
	}
}

func TestUnraisableAmbient(t *testing.T) {
	s := &Set{
		Permitted:   bit(capChown) | bit(capNetRaw) | bit(capKill),
		Inheritable: bit(capNetRaw) | bit(capSysAdm),
		Ambient:     bit(capChown) | bit(capNetRaw) | bit(capSysAdm),
	}
	got := s.UnraisableAmbient()
	if len(got) != 2 || got[0] != capChown || got[1] != capSysAdm {
		t.Fatalf("UnraisableAmbient = %v, want [%d %d]", got, capChown, capSysAdm)
	}
	if got := (&Set{Ambient: 0}).UnraisableAmbient(); len(got) != 0 {
		t.Fatalf("no ambient: UnraisableAmbient = %v, want none", got)
	}
}

// threadCaps reads the Cap* lines of the calling thread.
func threadCaps(t *testing.T) map[string]uint64 {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Error(err)
		return nil
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.HasPrefix(k, "Cap") {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Errorf("%s: %v", line, err)
			}
			out[k] = n
		}
	}
	return out
}

// onThrowawayThread runs f on an OS thread that dies afterwards: capability
// sets are per thread, so the test process keeps its own.
func onThrowawayThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f()
	}()
	<-done
}

func TestUnavailable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root")
	}
	var missing []int
	var s Set
	onThrowawayThread(func() {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_NICE, 0, 0, 0); err != nil {
			t.Errorf("drop CAP_SYS_NICE: %v", err)
			return
		}
		s = Set{Bounding: 1<<unix.CAP_SYS_NICE | 1<<unix.CAP_CHOWN, Effective: 1 << unix.CAP_SYS_NICE, Permitted: 1 << unix.CAP_SYS_NICE}
		missing = s.Unavailable()
	})
	if len(missing) != 1 || missing[0] != unix.CAP_SYS_NICE {
		t.Errorf("Unavailable = %v, want [%d]", missing, unix.CAP_SYS_NICE)
	}
	if s.Bounding != 1<<unix.CAP_CHOWN || s.Effective != 0 || s.Permitted != 0 {
		t.Errorf("after Unavailable: %+v", s)
	}
}
