package libcontainer

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
	"github.com/berthproject/berth/libcontainer/seccomp"
)

// planSeccomp compiles linux.seccomp into the BPF program berth-init
// loads: libseccomp runs here, at most once (cache serves a profile
// compiled before). Without no_new_privs the init loads it before the
// user switch, while it still has CAP_SYS_ADMIN.
func planSeccomp(spec *specs.Spec, noNewPrivs bool, cache seccomp.Cache) (*plan.Seccomp, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	c, err := cache.CompileCached(spec.Linux.Seccomp)
	if err != nil {
		return nil, err
	}
	return &plan.Seccomp{Program: c.Program, Flags: c.Flags, Notify: c.Notify, Early: !noNewPrivs}, nil
}

// seccompCache is the cache of compiled profiles under a runtime root.
// "@" cannot start a container id, so the directory is never taken for
// a container's.
func seccompCache(root string) seccomp.Cache {
	return seccomp.Cache{Dir: filepath.Join(root, "@seccomp"), Max: 32}
}

// sendSeccompListener hands the init's seccomp listener to the agent at
// linux.seccomp.listenerPath, with the container's state.
func sendSeccompListener(spec *specs.Spec, fd int, st specs.State) error {
	defer unix.Close(fd)
	sc := spec.Linux.Seccomp
	return seccomp.SendListenerFD(sc.ListenerPath, fd, specs.ContainerProcessState{
		Pid:      st.Pid,
		Metadata: sc.ListenerMetadata,
		State:    st,
	})
}
