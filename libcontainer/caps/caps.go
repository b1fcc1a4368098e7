// Package caps resolves process.capabilities into the bit sets berth-init
// applies (libcontainer/cinit/c/process.c: the bounding set dropped before
// the user switch, effective, permitted and inheritable set with capset
// after it, ambient ones raised last).
package caps

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/sysfile"
	berthspecs "github.com/berthproject/berth/specs"
)

// Set is a capability configuration resolved to bit masks.
type Set struct {
	Bounding, Effective, Permitted, Inheritable, Ambient uint64
}

// Resolve turns names into bits; unknown names are an error naming the
// JSON path. Capabilities the running kernel does not know are left out,
// as runc does, so a config written for a newer kernel still runs.
func Resolve(c *specs.LinuxCapabilities) (*Set, error) {
	if c == nil {
		return &Set{}, nil
	}
	last := LastCap()
	var s Set
	for _, f := range []struct {
		name  string
		names []string
		bits  *uint64
	}{
		{"bounding", c.Bounding, &s.Bounding},
		{"effective", c.Effective, &s.Effective},
		{"permitted", c.Permitted, &s.Permitted},
		{"inheritable", c.Inheritable, &s.Inheritable},
		{"ambient", c.Ambient, &s.Ambient},
	} {
		for i, n := range f.names {
			v, ok := berthspecs.CapabilityValue(n)
			if !ok {
				return nil, fmt.Errorf("process.capabilities.%s[%d]: unknown capability %q", f.name, i, n)
			}
			if v <= last {
				*f.bits |= 1 << uint(v)
			}
		}
	}
	return &s, nil
}

var lastCap = -1

// LastCap is the highest capability number the running kernel knows.
func LastCap() int {
	if lastCap >= 0 {
		return lastCap
	}
	lastCap = 40 // CAP_CHECKPOINT_RESTORE, if /proc says nothing
	if b, err := sysfile.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			lastCap = v
		}
	}
	return lastCap
}

// Unavailable returns the capabilities s asks for that this process's
// bounding set lacks (a host can withhold some, as this project's CI
// machines withhold CAP_SYS_RESOURCE), and removes them from s: they can
// be granted by no one, and runtime-spec says to warn and go on.
func (s *Set) Unavailable() []int {
	var out []int
	for c := 0; c <= LastCap(); c++ {
		bit := uint64(1) << uint(c)
		if (s.Bounding|s.Effective|s.Permitted|s.Inheritable|s.Ambient)&bit == 0 {
			continue
		}
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil && in == 1 {
			continue
		}
		out = append(out, c)
		s.Bounding &^= bit
		s.Effective &^= bit
		s.Permitted &^= bit
		s.Inheritable &^= bit
		s.Ambient &^= bit
	}
	return out
}

// UnraisableAmbient lists the ambient capabilities that are not also
// permitted and inheritable: the kernel refuses to raise those, so Apply
// leaves them out (runc warns about them too).
func (s *Set) UnraisableAmbient() []int {
	var out []int
	for c := 0; c <= LastCap(); c++ {
		if s.Ambient&(1<<uint(c)) != 0 && s.Permitted&s.Inheritable&(1<<uint(c)) == 0 {
			out = append(out, c)
		}
	}
	return out
}
