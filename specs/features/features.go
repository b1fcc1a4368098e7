// Package features describes what this build of berth implements, for
// `berth features` (runtime-spec features.md).
package features

import (
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/berthproject/berth/specs"
)

// AnnotationVersion is the features annotation under which the runtime
// reports its own version; Static cannot know it, so the caller adds it.
const AnnotationVersion = "io.github.berthproject.berth.version"

// mountOptions are the mounts[].options that libcontainer/rootfs
// recognizes: the runtime-spec's Linux table plus "rnodev". Anything else
// is passed to the filesystem as data, so it is not listed here
// (features.md: "does not contain filesystem-specific options").
var mountOptions = []string{
	"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync",
	"exec", "idmap", "iversion", "lazytime", "loud", "mand", "noatime",
	"nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand",
	"norelatime", "nostrictatime", "nosuid", "nosymfollow", "private",
	"ratime", "rbind", "rdev", "rdiratime", "relatime", "remount", "rexec",
	"ridmap", "rnoatime", "rnodev", "rnodiratime", "rnoexec", "rnorelatime",
	"rnostrictatime", "rnosuid", "rnosymfollow", "ro", "rprivate",
	"rrelatime", "rro", "rrw", "rshared", "rslave", "rstrictatime", "rsuid",
	"rsymfollow", "runbindable", "rw", "shared", "silent", "slave",
	"strictatime", "suid", "symfollow", "sync", "tmpcopyup", "unbindable",
}

// Static returns the features that are fixed at build time; each call
// returns a fresh value the caller may change.
//
// Linux.Seccomp is left nil: the runtime fills it in from
// libcontainer/seccomp, which knows the libseccomp it was built with.
// Intel RDT is reported as not enabled, matching specs.Validate, which
// refuses configs that use it. AppArmor and SELinux are enabled in the sense of
// features-linux.md: berth supports them, whether or not this host runs
// them (create then refuses the config, naming the field).
func Static() *features.Features {
	yes := func() *bool { b := true; return &b }
	no := func() *bool { b := false; return &b }

	var nss []string
	for _, t := range specs.NamespaceTypes() {
		nss = append(nss, string(t))
	}
	return &features.Features{
		OCIVersionMin: specs.MinVersion,
		OCIVersionMax: specs.MaxVersion,
		Hooks: []string{
			"prestart", "createRuntime", "createContainer",
			"startContainer", "poststart", "poststop",
		},
		MountOptions: append([]string(nil), mountOptions...),
		Linux: &features.Linux{
			Namespaces:   nss,
			Capabilities: specs.CapabilityNames(),
			// libcontainer/cgroups drives opencontainers/cgroups: the fs
			// managers for v1 and v2, the systemd one for system and user
			// (rootless) instances, and the rdma controller on both. v1
			// is tested on the development host; v2, both systemd
			// managers and rdma by make vmtest (conformance/vm).
			Cgroup: &features.Cgroup{
				V1:          yes(),
				V2:          yes(),
				Systemd:     yes(),
				SystemdUser: yes(),
				Rdma:        yes(),
			},
			Apparmor: &features.Apparmor{Enabled: yes()},
			Selinux:  &features.Selinux{Enabled: yes()},
			IntelRdt: &features.IntelRdt{Enabled: no()},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: yes()},
			},
			NetDevices: &features.NetDevices{Enabled: yes()},
			MemoryPolicy: &features.MemoryPolicy{
				Modes: specs.MemoryPolicyModes(),
				Flags: specs.MemoryPolicyFlags(),
			},
		},
	}
}
