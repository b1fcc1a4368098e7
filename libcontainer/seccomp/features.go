package seccomp

import (
	"maps"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go/features"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// Features reports what this build can do, for `berth features`. Archs and
// SupportedFlags are probed on a scratch filter, so they reflect the
// installed libseccomp and the running kernel: an architecture is listed
// only if it can join a filter for the native one.
func Features() features.Seccomp {
	enabled := true
	return features.Seccomp{
		Enabled:        &enabled,
		Actions:        sortedNames(actions),
		Operators:      sortedNames(operators),
		Archs:          supported(archs, func(f *libseccomp.ScmpFilter, a libseccomp.ScmpArch) error { return f.AddArch(a) }),
		KnownFlags:     sortedNames(flags),
		SupportedFlags: supported(flags, func(f *libseccomp.ScmpFilter, set func(*libseccomp.ScmpFilter) error) error { return set(f) }),
	}
}

func sortedNames[K ~string, V any](m map[K]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, string(k))
	}
	slices.Sort(names)
	return names
}

// supported returns the sorted names whose value try accepts, each tried
// on a fresh filter so that one attempt cannot affect another.
func supported[K ~string, V any](m map[K]V, try func(*libseccomp.ScmpFilter, V) error) []string {
	names := []string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			return names
		}
		if try(f, m[k]) == nil {
			names = append(names, string(k))
		}
		f.Release()
	}
	return names
}
