package libcontainer

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/plan"
	"github.com/berthproject/berth/libcontainer/seccomp"
)

func compileSeccomp(spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	return seccomp.Compile(spec.Linux.Seccomp)
}

// planSeccomp compiles linux.seccomp into the BPF program berth-init
// loads: libseccomp runs here, once. Without no_new_privs the init loads
// it before the user switch, while it still has CAP_SYS_ADMIN.
func planSeccomp(spec *specs.Spec, noNewPrivs bool) (*plan.Seccomp, error) {
	f, err := compileSeccomp(spec)
	if err != nil || f == nil {
		return nil, err
	}
	if err := f.Export(); err != nil {
		return nil, err
	}
	prog, flags, notify := f.Program()
	return &plan.Seccomp{Program: prog, Flags: flags, Notify: notify, Early: !noNewPrivs}, nil
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
