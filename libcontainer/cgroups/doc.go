// Package cgroups places a container's processes in a cgroup and applies the
// config's linux.resources to it.
//
// It is a thin layer over github.com/opencontainers/cgroups, which does the
// work for cgroup v1, v2 and systemd. What this package adds is:
//
//   - FromSpec / ContainerResources: the runtime-spec to library conversion,
//     with errors that name the JSON path of the bad value;
//   - Validate: host-aware checks (is the controller mounted here? does the
//     CPU exist?) that run before any cgroup is created;
//   - Manager: one object per container that creates, updates, freezes,
//     inspects and removes its cgroup, and can be re-loaded from the paths
//     persisted in the container state;
//   - HostMode and V1Mounts for the code that sets up /sys/fs/cgroup inside
//     the container on cgroup v1 hosts.
package cgroups
