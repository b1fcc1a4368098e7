// Package rootfs plans a container's filesystem from an OCI runtime spec:
// Plan turns root, mounts, /dev, sysctls, masked and read-only paths and
// propagation into the steps berth-init applies inside the container's
// mount namespace (libcontainer/cinit/c: mount.c, dev.c, finish.c), with
// every option parsed and every entry checked here, in Go, once.
//
// Two pieces run in the runtime itself: PrepareMountSource builds idmapped
// mounts, which only a process outside the container's user namespace can
// make, and hands them to the init as detached mount fds; and, for a
// config without a mount namespace (hostns.go), MountID and
// DetachHostMounts find and remove the private bind of the rootfs that
// holds the container's mounts in the host's mount table.
//
// berth-init resolves every container-controlled path inside the rootfs
// with openat2(RESOLVE_IN_ROOT), creates missing mount points relative to
// verified fds, and attaches detached mounts to the resolved fds, so a
// symlink in the image can never redirect a mount onto the host.
package rootfs
