package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// PrepareMountSource builds spec.Mounts[i], a bind mount, as a detached
// mount with all its options and its idmapping applied, for
// Config.MountSources. The runtime calls it outside the container's user
// namespace; relative sources are resolved against bundle.
func PrepareMountSource(spec *specs.Spec, bundle string, i int) (*os.File, error) {
	if spec == nil || i < 0 || i >= len(spec.Mounts) {
		return nil, fmt.Errorf("mounts[%d]: no such mount", i)
	}
	sm := spec.Mounts[i]
	opts, err := parseSpecMountOptions(sm)
	if err != nil {
		return nil, mountError(i, sm.Destination, "%w", err)
	}
	if !opts.bind {
		return nil, mountError(i, sm.Destination, "not a bind mount")
	}
	var ns usernsCache
	defer ns.close()
	tree, err := sourceTree(sm, bundle, opts, &ns)
	if err != nil {
		return nil, mountError(i, sm.Destination, "%w", err)
	}
	return tree, nil
}

// usernsCache holds the user namespaces made for idmapped mounts, keyed by
// mapping, so that mounts with the same mapping share one.
type usernsCache map[string]*os.File

func (c *usernsCache) close() {
	for _, f := range *c {
		f.Close()
	}
}

// get returns a user namespace fd (owned by the cache) with sm's mapping.
func (c *usernsCache) get(sm specs.Mount) (int, error) {
	if len(sm.UIDMappings) == 0 || len(sm.GIDMappings) == 0 {
		return -1, errors.New("idmap needs both uidMappings and gidMappings")
	}
	uidMap, gidMap := formatIDMap(sm.UIDMappings), formatIDMap(sm.GIDMappings)
	key := uidMap + "|" + gidMap
	if f, ok := (*c)[key]; ok {
		return int(f.Fd()), nil
	}
	f, err := newUserNS(uidMap, gidMap)
	if err != nil {
		return -1, fmt.Errorf("uidMappings/gidMappings: %w", err)
	}
	if *c == nil {
		*c = usernsCache{}
	}
	(*c)[key] = f
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
	pidfd := int32(-1)
	pid, errno := forkIntoUserNS(&pidfd)
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
		unix.Close(int(pidfd))
	}()
	// The init may be in a new PID namespace while /proc is still the
	// host's: the child's number there is read from its pidfd's fdinfo,
	// which the kernel translates into the procfs's namespace.
	procPid, err := procfsPid(pidfd)
	if err != nil {
		return nil, err
	}
	dir := "/proc/" + strconv.Itoa(procPid) + "/"
	if err := os.WriteFile(dir+"uid_map", []byte(uidMap), 0); err != nil {
		return nil, fmt.Errorf("write uid_map %q: %w", uidMap, unwrapErrno(err))
	}
	if err := os.WriteFile(dir+"gid_map", []byte(gidMap), 0); err != nil {
		return nil, fmt.Errorf("write gid_map %q: %w", gidMap, unwrapErrno(err))
	}
	return os.OpenFile(dir+"ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// procfsPid returns the pid of the process behind pidfd as /proc sees it.
func procfsPid(pidfd int32) (int, error) {
	info, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(pidfd)))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(info), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("pidfd fdinfo: bad Pid line %q", line)
			}
			return pid, nil
		}
	}
	return 0, errors.New("pidfd fdinfo has no Pid line")
}

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

// forkIntoUserNS clones a child in a new user namespace that only waits to
// be killed, storing a pidfd for it in *pidfd. Between the runtime's
// BeforeFork and AfterFork nothing may grow the stack or touch the runtime,
// hence nosplit and raw syscalls only; the child keeps the signal mask
// BeforeFork set, so only SIGKILL reaches it.
//
//go:norace
//go:nosplit
func forkIntoUserNS(pidfd *int32) (pid uintptr, errno syscall.Errno) {
	runtimeBeforeFork()
	// clone's third argument (parent_tid) receives the pidfd. The first two
	// (flags, stack) are swapped on s390x, which Berth does not target.
	pid, _, errno = syscall.RawSyscall6(syscall.SYS_CLONE,
		uintptr(syscall.SIGCHLD|unix.CLONE_NEWUSER|unix.CLONE_PIDFD), 0, uintptr(unsafe.Pointer(pidfd)), 0, 0, 0)
	if errno != 0 || pid != 0 {
		runtimeAfterFork()
		return pid, errno
	}
	for {
		// ppoll with no fds and no timeout blocks forever.
		syscall.RawSyscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
	}
}

// sourceTree clones the source with open_tree(2) and applies every
// attribute to the detached copy: nothing is ever visible half-set, and the
// source's attributes that the options do not mention are kept, as the
// kernel demands for locked flags in user namespaces.
func sourceTree(sm specs.Mount, bundle string, opts *mountOptions, idmaps *usernsCache) (*os.File, error) {
	src := sm.Source
	if !filepath.IsAbs(src) && bundle != "" {
		src = filepath.Join(bundle, src)
	}
	tree, err := openTree(src, opts.recursive)
	if err != nil {
		return nil, fmt.Errorf("mount source %q: %w", sm.Source, unwrapErrno(err))
	}
	top := mountAttrFromFlags(opts.flags, opts.cleared)
	rec := opts.recAttr
	if opts.idmap {
		userns, err := idmaps.get(sm)
		if err != nil {
			tree.Close()
			return nil, err
		}
		a := &top
		if opts.recIdmap {
			a = &rec
		}
		a.Attr_set |= unix.MOUNT_ATTR_IDMAP
		a.Userns_fd = uint64(userns)
	}
	// Non-recursive options first, then recursive ones, like runc: "rro"
	// wins over "rw" on submounts.
	if err = setattr(tree, false, top); err == nil {
		err = setattr(tree, true, rec)
	}
	if err != nil {
		tree.Close()
		return nil, err
	}
	return tree, nil
}

// openTree returns a detached clone of the mount tree at path.
func openTree(path string, recursive bool) (*os.File, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return nil, &os.PathError{Op: "open_tree", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// setattr is mount_setattr(2) on the mount f is the root of; a no-op for
// an empty attr.
func setattr(f *os.File, recursive bool, attr unix.MountAttr) error {
	if attr == (unix.MountAttr{}) {
		return nil
	}
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(f.Fd()), "", flags, &attr); err != nil {
		return fmt.Errorf("mount_setattr(set=%#x clr=%#x propagation=%#x recursive=%v): %w",
			attr.Attr_set, attr.Attr_clr, attr.Propagation, recursive, err)
	}
	return nil
}

// unwrapErrno strips *os.PathError wrapping so that messages read
// `mount source "/nope": no such file or directory`.
func unwrapErrno(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
