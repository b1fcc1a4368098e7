package rootfs

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"
)

// mountOptions is mounts[i].options split by where each option goes.
type mountOptions struct {
	bind      bool    // "bind" or "rbind"
	recursive bool    // "rbind"
	flags     uintptr // MS_* flags to set
	cleared   uintptr // MS_* flags explicitly cleared ("rw", "suid", ...)

	// propagation is the last non-recursive ("private") and recursive
	// ("rprivate") propagation option; 0 when absent.
	propagation, recPropagation uintptr

	// recAttr holds the AT_RECURSIVE mount_setattr(2) options ("rro", ...).
	recAttr unix.MountAttr

	idmap, recIdmap bool // "idmap", "ridmap"
	tmpcopyup       bool
	// data is the filesystem-specific options passed to mount(2) as-is.
	data []string
}

type flagOption struct {
	clear bool
	flag  uintptr
}

// flagOptions are the mount(8) filesystem-independent options.
var flagOptions = map[string]flagOption{
	"defaults":      {false, 0},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"nosuid":        {false, unix.MS_NOSUID},
	"suid":          {true, unix.MS_NOSUID},
	"nodev":         {false, unix.MS_NODEV},
	"dev":           {true, unix.MS_NODEV},
	"noexec":        {false, unix.MS_NOEXEC},
	"exec":          {true, unix.MS_NOEXEC},
	"sync":          {false, unix.MS_SYNCHRONOUS},
	"async":         {true, unix.MS_SYNCHRONOUS},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"remount":       {false, unix.MS_REMOUNT},
	"mand":          {false, unix.MS_MANDLOCK},
	"nomand":        {true, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"atime":         {true, unix.MS_NOATIME},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"diratime":      {true, unix.MS_NODIRATIME},
	"relatime":      {false, unix.MS_RELATIME},
	"norelatime":    {true, unix.MS_RELATIME},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"iversion":      {false, unix.MS_I_VERSION},
	"noiversion":    {true, unix.MS_I_VERSION},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"silent":        {false, unix.MS_SILENT},
	"loud":          {true, unix.MS_SILENT},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
}

type propagationOption struct {
	recursive bool
	flag      uintptr
}

var propagationOptions = map[string]propagationOption{
	"private":     {false, unix.MS_PRIVATE},
	"rprivate":    {true, unix.MS_PRIVATE},
	"shared":      {false, unix.MS_SHARED},
	"rshared":     {true, unix.MS_SHARED},
	"slave":       {false, unix.MS_SLAVE},
	"rslave":      {true, unix.MS_SLAVE},
	"unbindable":  {false, unix.MS_UNBINDABLE},
	"runbindable": {true, unix.MS_UNBINDABLE},
}

// recAttrOptions are the recursive options applied with
// mount_setattr(AT_RECURSIVE). The atime ones are an enum in the kernel: each
// sets one value and clears MOUNT_ATTR__ATIME; "ratime", "rnorelatime" and
// "rnostrictatime" mean "back to the kernel default or the strict mode" like
// their mount(8) counterparts do.
var recAttrOptions = map[string]unix.MountAttr{
	"rro":            {Attr_set: unix.MOUNT_ATTR_RDONLY},
	"rrw":            {Attr_clr: unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {Attr_set: unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {Attr_clr: unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {Attr_set: unix.MOUNT_ATTR_NODEV},
	"rdev":           {Attr_clr: unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {Attr_set: unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {Attr_clr: unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {Attr_set: unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {Attr_clr: unix.MOUNT_ATTR_NODIRATIME},
	"rnosymfollow":   {Attr_set: unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {Attr_clr: unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rnoatime":       {Attr_set: unix.MOUNT_ATTR_NOATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	"ratime":         {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	"rrelatime":      {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	"rnorelatime":    {Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	"rstrictatime":   {Attr_set: unix.MOUNT_ATTR_STRICTATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
	"rnostrictatime": {Attr_set: unix.MOUNT_ATTR_RELATIME, Attr_clr: unix.MOUNT_ATTR__ATIME},
}

// parseMountOptions sorts options into flags, attributes and data. Later
// options override earlier ones ("ro,rw" is rw), as with mount(8). Options
// it does not know are filesystem-specific data; for bind mounts, which
// take no data, they are an error because they would be silently ignored.
func parseMountOptions(options []string) (*mountOptions, error) {
	o := &mountOptions{}
	for i, opt := range options {
		if f, ok := flagOptions[opt]; ok {
			if f.clear {
				o.flags &^= f.flag
				o.cleared |= f.flag
			} else {
				o.flags |= f.flag
				o.cleared &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[opt]; ok {
			if p.recursive {
				o.recPropagation = p.flag
			} else {
				o.propagation = p.flag
			}
			continue
		}
		if a, ok := recAttrOptions[opt]; ok {
			o.recAttr.Attr_clr |= a.Attr_clr
			o.recAttr.Attr_set &^= a.Attr_clr
			o.recAttr.Attr_set |= a.Attr_set
			o.recAttr.Attr_clr &^= a.Attr_set
			if a.Attr_clr&unix.MOUNT_ATTR__ATIME != 0 {
				// The kernel demands the whole atime field in attr_clr
				// whenever an atime value is set.
				o.recAttr.Attr_clr |= unix.MOUNT_ATTR__ATIME
			}
			continue
		}
		switch opt {
		case "bind":
			o.bind = true
		case "rbind":
			o.bind, o.recursive = true, true
		case "idmap":
			o.idmap = true
		case "ridmap":
			o.idmap, o.recIdmap = true, true
		case "tmpcopyup":
			o.tmpcopyup = true
		case "":
			// buildah sends "" for `buildah run -v`; runc ignores it.
			continue
		default:
			if strings.ContainsRune(opt, ',') {
				return nil, fmt.Errorf("options[%d] %q contains a comma; give one option per entry", i, opt)
			}
			o.data = append(o.data, opt)
		}
	}
	if o.bind {
		// A bind mount has no filesystem data: key=value options (a
		// mode=755 carried over from a tmpfs entry) are ignored, as the
		// kernel and runc ignore them, but an unknown bare word is most
		// likely a mistyped flag ("rdonly") and must not be dropped.
		for _, d := range o.data {
			if !strings.ContainsRune(d, '=') {
				return nil, fmt.Errorf("unknown option %q for a bind mount", d)
			}
		}
		o.data = nil
	}
	if o.tmpcopyup && o.bind {
		return nil, fmt.Errorf("tmpcopyup is only valid for tmpfs mounts")
	}
	return o, nil
}

// parseSpecMountOptions parses a mount's options together with its
// uidMappings/gidMappings.
func parseSpecMountOptions(sm specs.Mount) (*mountOptions, error) {
	opts, err := parseMountOptions(sm.Options)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if len(sm.UIDMappings) > 0 || len(sm.GIDMappings) > 0 {
		// Mappings imply an idmapped mount even without the option.
		opts.idmap = true
	}
	if opts.idmap && !opts.bind {
		return nil, errors.New("idmap and ridmap are only supported on bind mounts")
	}
	return opts, nil
}

// mountAttrFromFlags converts the per-mount MS_* flags that a bind mount can
// change into mount_setattr(2) attributes. Superblock flags (sync, dirsync,
// mand, lazytime, iversion, silent) cannot be changed through a bind mount
// without changing the source filesystem, so, as runc does, they are not
// applied to bind mounts.
func mountAttrFromFlags(set, cleared uintptr) unix.MountAttr {
	var a unix.MountAttr
	pairs := []struct {
		ms   uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
		{unix.MS_NOSYMFOLLOW, unix.MOUNT_ATTR_NOSYMFOLLOW},
	}
	for _, p := range pairs {
		if set&p.ms != 0 {
			a.Attr_set |= p.attr
		} else if cleared&p.ms != 0 {
			a.Attr_clr |= p.attr
		}
	}
	// atime is one value: the strongest requested one wins, as in the kernel.
	switch {
	case set&unix.MS_NOATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_NOATIME
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
	case set&unix.MS_STRICTATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_STRICTATIME
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
	case set&unix.MS_RELATIME != 0:
		a.Attr_set |= unix.MOUNT_ATTR_RELATIME
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
	case cleared&unix.MS_NOATIME != 0:
		// "atime": leave noatime for the kernel default.
		a.Attr_set |= unix.MOUNT_ATTR_RELATIME
		a.Attr_clr |= unix.MOUNT_ATTR__ATIME
	}
	return a
}

// mountData joins filesystem data options for mount(2).
func (o *mountOptions) mountData() string { return strings.Join(o.data, ",") }

// hasData reports whether a data option with the given key ("mode") is set.
func (o *mountOptions) hasData(key string) bool {
	for _, d := range o.data {
		if d == key || strings.HasPrefix(d, key+"=") {
			return true
		}
	}
	return false
}
