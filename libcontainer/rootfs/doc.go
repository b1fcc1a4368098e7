// Package rootfs builds a container's filesystem view from an OCI runtime
// spec. It runs inside the container init, after the init has entered its
// new mount namespace (or, for a config without one, in the host's: see
// hostns.go) and before it execs the user process.
//
// The work is split in three phases because OCI hooks run between them:
//
//	Prepare  mounts everything under the rootfs and populates /dev
//	         (createRuntime and createContainer hooks run after this)
//	Pivot    makes the rootfs the process's root (pivot_root, MS_MOVE+chroot,
//	         or chroot alone in the host's mount namespace)
//	Finish   sysctls, masked and read-only paths, read-only root, root propagation
//
// PrepareMountSource is the one piece that runs in the runtime rather than
// in the init: idmapped mounts of a container with its own user namespace
// must be built outside that namespace and handed over as mount fds.
//
// Every container-controlled path is resolved inside the rootfs with
// openat2(RESOLVE_IN_ROOT) (or filepath-securejoin's pathrs-lite when a path
// has to be created), and mounts target the resolved file descriptor, so a
// symlink in the image can never redirect a mount onto the host.
package rootfs
