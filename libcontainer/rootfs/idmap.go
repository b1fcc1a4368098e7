package rootfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	_ "unsafe" // for go:linkname

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// idmapUserNS returns a user namespace whose mapping is mounts[i]'s
// uidMappings/gidMappings, for MOUNT_ATTR_IDMAP.
// The fd stays owned by the mounter or, for Config.IDMapUserNS, the caller.
func (m *mounter) idmapUserNS(i int, sm specs.Mount) (int, error) {
	if fd, ok := m.c.IDMapUserNS[i]; ok {
		return fd, nil
	}
	if len(sm.UIDMappings) == 0 || len(sm.GIDMappings) == 0 {
		return -1, errors.New("idmap needs both uidMappings and gidMappings (or a user namespace from the runtime)")
	}
	if m.c.UserNS {
		// Maps written from inside the container's user namespace would be
		// relative to it, not to the host as the spec means.
		return -1, errors.New("idmap inside a user namespace needs a mapping namespace created by the runtime (Config.IDMapUserNS)")
	}
	uidMap, gidMap := formatIDMap(sm.UIDMappings), formatIDMap(sm.GIDMappings)
	key := uidMap + "|" + gidMap
	if f, ok := m.idmaps[key]; ok {
		return int(f.Fd()), nil
	}
	f, err := newUserNS(uidMap, gidMap)
	if err != nil {
		return -1, fmt.Errorf("uidMappings/gidMappings: %w", err)
	}
	if m.idmaps == nil {
		m.idmaps = map[string]*os.File{}
	}
	m.idmaps[key] = f
	return int(f.Fd()), nil
}

func formatIDMap(ms []specs.LinuxIDMapping) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	return b.String()
}

// newUserNS creates a user namespace with the given uid_map and gid_map
// contents and returns an fd to it. A user namespace cannot be unshared by
// a multi-threaded process, so a child is cloned into one, mapped, pinned
// through /proc/<pid>/ns/user and killed.
func newUserNS(uidMap, gidMap string) (_ *os.File, retErr error) {
	pid, errno := forkIntoUserNS()
	if errno != 0 {
		return nil, fmt.Errorf("clone(CLONE_NEWUSER): %w", errno)
	}
	defer func() {
		_ = unix.Kill(int(pid), unix.SIGKILL)
		for {
			if _, err := unix.Wait4(int(pid), nil, 0, nil); err != unix.EINTR {
				break
			}
		}
	}()
	dir := "/proc/" + strconv.Itoa(int(pid)) + "/"
	if err := os.WriteFile(dir+"uid_map", []byte(uidMap), 0); err != nil {
		return nil, fmt.Errorf("write uid_map %q: %w", uidMap, unwrapErrno(err))
	}
	if err := os.WriteFile(dir+"gid_map", []byte(gidMap), 0); err != nil {
		return nil, fmt.Errorf("write gid_map %q: %w", gidMap, unwrapErrno(err))
	}
	return os.OpenFile(dir+"ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

// forkIntoUserNS clones a child in a new user namespace that only waits to
// be killed. Between the runtime's BeforeFork and AfterFork nothing may grow
// the stack or touch the runtime, hence nosplit and raw syscalls only; the
// child keeps the signal mask BeforeFork set, so only SIGKILL reaches it.
//
//go:norace
//go:nosplit
func forkIntoUserNS() (pid uintptr, errno syscall.Errno) {
	runtimeBeforeFork()
	pid, _, errno = syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD|unix.CLONE_NEWUSER), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		runtimeAfterFork()
		return pid, errno
	}
	for {
		// ppoll with no fds and no timeout blocks forever.
		syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
	}
}
