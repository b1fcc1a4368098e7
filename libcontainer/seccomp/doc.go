// Package seccomp compiles the OCI runtime-spec seccomp profile
// (linux.seccomp) into a libseccomp filter and loads it into the kernel.
//
// The runtime calls [Validate] (or [Compile]) early, so a bad profile is
// reported with its JSON path before any container state exists. The
// container init calls [Compile] and then [Filter.Load] as the last step
// before execve. When the profile uses SCMP_ACT_NOTIFY, Load returns the
// seccomp listener fd; the init hands it to the runtime process, which
// forwards it to the seccomp agent at linux.seccomp.listenerPath with
// [SendListenerFD]. [Features] reports what this build supports for
// `berth features`.
//
// Semantics follow runc so that profiles written for it (Docker, containerd,
// Podman) behave the same: SCMP_ACT_KILL kills the thread, errnoRet defaults
// to EPERM, rules whose action equals the default action are dropped, and
// when one rule has several conditions on the same argument each condition
// becomes a rule of its own (libseccomp cannot AND comparisons of one
// argument, so they are ORed instead).
package seccomp
