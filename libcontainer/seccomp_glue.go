package libcontainer

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/libcontainer/seccomp"
)

func compileSeccomp(spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux == nil || spec.Linux.Seccomp == nil {
		return nil, nil
	}
	return seccomp.Compile(spec.Linux.Seccomp)
}

// loadSeccomp installs the filter; with SCMP_ACT_NOTIFY the listener fd
// goes to the runtime, which hands it to the agent in its own namespaces.
func loadSeccomp(f *seccomp.Filter, sock *syncSocket) error {
	fd, err := f.Load()
	if err != nil {
		return err
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if err := sock.sendFD(&syncMsg{Type: syncSeccompFD}, fd); err != nil {
		return fmt.Errorf("passing the seccomp listener to the runtime: %w", err)
	}
	_, _, err = sock.expect(syncSeccompAck)
	return err
}

// sendSeccompListener is the runtime's side of loadSeccomp.
func sendSeccompListener(spec *specs.Spec, fd int, st specs.State) error {
	defer unix.Close(fd)
	sc := spec.Linux.Seccomp
	return seccomp.SendListenerFD(sc.ListenerPath, fd, specs.ContainerProcessState{
		Pid:      st.Pid,
		Metadata: sc.ListenerMetadata,
		State:    st,
	})
}
