// Package lsm applies the Linux security module settings of a runtime-spec
// config: process.apparmorProfile, process.selinuxLabel and
// linux.mountLabel. It talks to the kernel's own interfaces (the procfs
// attribute files and the context= mount option), as libapparmor's
// aa_change_onexec and libselinux's setexeccon do, and needs no library.
//
// Berth's init opens its attribute files (OpenAttrs) before it pivots into
// the rootfs, where there may be no /proc, and writes them just before the
// user switch: the kernel applies them at the execve of the user program.
package lsm

import (
	"errors"
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

// MountContext is the mount option that labels every file of a new
// filesystem instance with label. The quotes keep the commas of an MCS
// category list ("s0:c1,c2") inside the one option.
func MountContext(label string) string { return `context="` + label + `"` }

// SetFileLabel labels one file (for filesystems such as mqueue that do not
// take a context= option). path may be a /proc/self/fd magic link.
func SetFileLabel(path, label string) error {
	if err := unix.Setxattr(path, "security.selinux", []byte(label), 0); err != nil {
		return fmt.Errorf("setting SELinux label %q: %w", label, err)
	}
	return nil
}

// Attrs are a process's handles on its own LSM attribute files, for the
// settings a config asks for. The kernel only lets a thread write its own
// attributes, so they must be opened and written by the thread that execs.
type Attrs struct {
	apparmorProfile, selinuxLabel string
	// apparmorExec, selinuxExec and keyCreate are nil when not needed.
	apparmorExec, selinuxExec, keyCreate *os.File
}

// OpenAttrs opens the attribute files proc's settings need; keyring says
// whether the process will create a session keyring (labelled too).
func OpenAttrs(proc *specs.Process, keyring bool) (*Attrs, error) {
	a := &Attrs{}
	if proc == nil {
		return a, nil
	}
	var err error
	if proc.ApparmorProfile != "" {
		a.apparmorProfile = proc.ApparmorProfile
		// Since Linux 5.8 AppArmor has its own directory; attr/exec
		// belongs to whichever module came first.
		if a.apparmorExec, err = openAttr("apparmor/exec"); errors.Is(err, os.ErrNotExist) {
			a.apparmorExec, err = openAttr("exec")
		}
		if err != nil {
			return nil, fmt.Errorf("process.apparmorProfile: %w", err)
		}
	}
	if proc.SelinuxLabel != "" {
		a.selinuxLabel = proc.SelinuxLabel
		if a.selinuxExec, err = openAttr("exec"); err == nil && keyring {
			a.keyCreate, err = openAttr("keycreate")
		}
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("process.selinuxLabel: %w", err)
		}
	}
	return a, nil
}

func openAttr(name string) (*os.File, error) {
	return os.OpenFile("/proc/thread-self/attr/"+name, os.O_WRONLY|unix.O_CLOEXEC, 0)
}

// LabelKeyring makes the session keyring created next carry the process
// label, so the container's processes can use it.
func (a *Attrs) LabelKeyring() error {
	if a.keyCreate == nil {
		return nil
	}
	if _, err := a.keyCreate.WriteString(a.selinuxLabel); err != nil {
		return fmt.Errorf("process.selinuxLabel %q: labelling the session keyring: %w", a.selinuxLabel, err)
	}
	return nil
}

// ApplyOnExec asks the kernel to confine the program this thread execs
// next: the AppArmor profile ("exec PROFILE", as aa_change_onexec writes
// it) and the SELinux label.
func (a *Attrs) ApplyOnExec() error {
	if a.apparmorExec != nil {
		if _, err := a.apparmorExec.WriteString("exec " + a.apparmorProfile); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: %w", a.apparmorProfile, err)
		}
	}
	if a.selinuxExec != nil {
		if _, err := a.selinuxExec.WriteString(a.selinuxLabel); err != nil {
			return fmt.Errorf("process.selinuxLabel %q: %w", a.selinuxLabel, err)
		}
	}
	return nil
}

// Close closes the attribute files.
func (a *Attrs) Close() {
	for _, f := range []*os.File{a.apparmorExec, a.selinuxExec, a.keyCreate} {
		if f != nil {
			f.Close()
		}
	}
}
