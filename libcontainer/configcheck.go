package libcontainer

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/libcontainer/cgroups"
	"github.com/berthproject/berth/libcontainer/seccomp"
)

// checkRuntimeConfig finds the config errors that only the runtime can
// judge: the seccomp profile (syscall names, which libseccomp knows) and
// linux.resources (against this host's cgroups). berthspecs.LoadBundleJSON
// runs it with its own validation and reports the FieldErrors of both
// together, one per line, so that `berth create` names every bad field of
// a config at once, before anything is created.
func checkRuntimeConfig(spec *specs.Spec) error {
	if spec.Linux == nil {
		return nil // checkCreatable refuses it
	}
	return errors.Join(seccomp.Check(spec.Linux.Seccomp), cgroups.CheckSpec(spec.Linux))
}
