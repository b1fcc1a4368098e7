// Package lsm applies the Linux security module settings of a runtime-spec
// config: process.apparmorProfile, process.selinuxLabel and
// linux.mountLabel. It talks to the kernel's own interfaces (the procfs
// attribute files and the context= mount option), as libapparmor's
// aa_change_onexec and libselinux's setexeccon do, and needs no library.
//
// berth-init writes the process's attribute files (through its verified
// procfs handle) just before the user switch: the kernel applies them at
// the execve of the user program (libcontainer/cinit/c/process.c). This
// package checks that the host runs the module a config asks for.
package lsm

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// AppArmorEnabled reports whether the host's kernel runs AppArmor.
func AppArmorEnabled() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false
	}
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && len(b) > 0 && b[0] == 'Y'
}

// selinuxMagic is SELINUX_MAGIC from <linux/magic.h>, selinuxfs's f_type.
const selinuxMagic = 0xf97cff8c

// SELinuxEnabled reports whether the host's kernel runs SELinux: selinuxfs
// is mounted and this process has a context.
func SELinuxEnabled() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/selinux", &st); err != nil || uint32(st.Type) != selinuxMagic {
		return false
	}
	b, err := os.ReadFile("/proc/self/attr/current")
	return err == nil && len(b) > 0 && string(b) != "kernel\x00" && string(b) != "kernel"
}

// CheckHost refuses settings for a security module the host does not run,
// naming the config field: a label or profile that is silently not applied
// would leave the container less confined than asked. file is the config
// file's name for the message ("config.json", "process.json").
func CheckHost(file string, proc *specs.Process, linux *specs.Linux) error {
	var selinuxField string
	switch {
	case proc != nil && proc.SelinuxLabel != "":
		selinuxField = "process.selinuxLabel"
	case linux != nil && linux.MountLabel != "":
		selinuxField = "linux.mountLabel"
	}
	if selinuxField != "" && !SELinuxEnabled() {
		return fmt.Errorf("%s: %s: SELinux is not enabled on this host", file, selinuxField)
	}
	if proc != nil && proc.ApparmorProfile != "" && !AppArmorEnabled() {
		return fmt.Errorf("%s: process.apparmorProfile %q: AppArmor is not enabled on this host", file, proc.ApparmorProfile)
	}
	return nil
}
