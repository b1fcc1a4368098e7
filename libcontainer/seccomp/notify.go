package seccomp

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SendListenerFD connects to the seccomp agent's unix socket at
// listenerPath and sends, in one message, the container process state as
// JSON with the seccomp listener fd attached (SCM_RIGHTS), as runtime-spec
// requires for SCMP_ACT_NOTIFY. st.Fds is set to ["seccompFd"] and an empty
// st.Version to the runtime-spec version; the caller fills in Pid,
// Metadata (linux.seccomp.listenerMetadata) and State. fd stays open.
func SendListenerFD(listenerPath string, fd int, st specs.ContainerProcessState) error {
	st.Fds = []string{specs.SeccompFdName}
	if st.Version == "" {
		st.Version = specs.Version
	}
	msg, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode container process state: %w", err)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: listenerPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("linux.seccomp.listenerPath: connect to seccomp agent: %w", err)
	}
	defer conn.Close()
	n, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("send seccomp listener fd to %s: %w", listenerPath, err)
	}
	if n != len(msg) {
		return fmt.Errorf("send seccomp listener fd to %s: short write (%d of %d bytes)", listenerPath, n, len(msg))
	}
	return nil
}
