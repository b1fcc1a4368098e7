package seccomp

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	berthspecs "github.com/berthproject/berth/specs"
)

// flagTsync is accepted for compatibility; runtime-spec has no constant
// for it because libseccomp always synchronises the filter to all threads.
const flagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

var actions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread, // as in runc and libseccomp
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

var operators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var archs = map[specs.Arch]libseccomp.ScmpArch{
	specs.ArchX86:         libseccomp.ArchX86,
	specs.ArchX86_64:      libseccomp.ArchAMD64,
	specs.ArchX32:         libseccomp.ArchX32,
	specs.ArchARM:         libseccomp.ArchARM,
	specs.ArchAARCH64:     libseccomp.ArchARM64,
	specs.ArchMIPS:        libseccomp.ArchMIPS,
	specs.ArchMIPS64:      libseccomp.ArchMIPS64,
	specs.ArchMIPS64N32:   libseccomp.ArchMIPS64N32,
	specs.ArchMIPSEL:      libseccomp.ArchMIPSEL,
	specs.ArchMIPSEL64:    libseccomp.ArchMIPSEL64,
	specs.ArchMIPSEL64N32: libseccomp.ArchMIPSEL64N32,
	specs.ArchPPC:         libseccomp.ArchPPC,
	specs.ArchPPC64:       libseccomp.ArchPPC64,
	specs.ArchPPC64LE:     libseccomp.ArchPPC64LE,
	specs.ArchS390:        libseccomp.ArchS390,
	specs.ArchS390X:       libseccomp.ArchS390X,
	specs.ArchPARISC:      libseccomp.ArchPARISC,
	specs.ArchPARISC64:    libseccomp.ArchPARISC64,
	specs.ArchRISCV64:     libseccomp.ArchRISCV64,
	specs.ArchLOONGARCH64: libseccomp.ArchLOONGARCH64,
	specs.ArchM68K:        libseccomp.ArchM68K,
	specs.ArchSH:          libseccomp.ArchSH,
	specs.ArchSHEB:        libseccomp.ArchSHEB,
}

// flags maps each known filter flag to the libseccomp attribute that
// requests it. The setters fail when libseccomp or the kernel is too old.
var flags = map[specs.LinuxSeccompFlag]func(*libseccomp.ScmpFilter) error{
	flagTsync:                              func(*libseccomp.ScmpFilter) error { return nil },
	specs.LinuxSeccompFlagLog:              func(f *libseccomp.ScmpFilter) error { return f.SetLogBit(true) },
	specs.LinuxSeccompFlagSpecAllow:        func(f *libseccomp.ScmpFilter) error { return f.SetSSB(true) },
	specs.LinuxSeccompFlagWaitKillableRecv: func(f *libseccomp.ScmpFilter) error { return f.SetWaitKill(true) },
}

// notifyForbidden lists syscalls that cannot use SCMP_ACT_NOTIFY: the init
// needs them after Load to hand the listener fd to the runtime, and a
// notification nobody can answer yet would hang it forever.
var notifyForbidden = map[string]bool{"write": true, "sendmsg": true}

// maxArgs is the number of syscall arguments seccomp can inspect.
const maxArgs = 6

// Filter is a validated profile compiled into a libseccomp filter. It has
// no effect on any process until Load.
type Filter struct {
	scmp   *libseccomp.ScmpFilter
	notify bool // the profile uses SCMP_ACT_NOTIFY
	// prog and flags are the exported program and its seccomp(2) flags
	// (see Export).
	prog  []unix.SockFilter
	flags uintptr
}

// rule is one entry of linux.seccomp.syscalls for one syscall name.
type rule struct {
	path   string // JSON path of the name, for error messages
	name   string
	nr     libseccomp.ScmpSyscall
	action libseccomp.ScmpAction
	conds  []libseccomp.ScmpCondition
}

// Validate reports every problem in cfg (see Check), or the first error
// libseccomp gives when it builds the filter; nil if Compile would succeed.
func Validate(cfg *specs.LinuxSeccomp) error {
	f, err := Compile(cfg)
	if err != nil {
		return err
	}
	f.Release()
	return nil
}

// Check reports every problem in cfg that can be found without building
// the filter (unknown actions, architectures, flags, operators and syscall
// names, misplaced errnoRet, SCMP_ACT_NOTIFY misuse), as
// berthspecs.ConfigErrors naming config.json and each JSON path; nil if
// there is none. It is cheap: create calls it with the rest of the config
// validation, so that all the config's errors are reported at once.
func Check(cfg *specs.LinuxSeccomp) error {
	if cfg == nil {
		return nil
	}
	_, _, _, errs := parse(cfg)
	return errs.Err()
}

// Compile validates cfg and builds its filter without loading it.
func Compile(cfg *specs.LinuxSeccomp) (*Filter, error) {
	if cfg == nil {
		return nil, fieldErr("linux.seccomp", "no profile given")
	}
	defaultAction, rules, notify, errs := parse(cfg)
	if len(errs) > 0 {
		return nil, errs
	}
	scmp, err := build(cfg, defaultAction, rules)
	if err != nil {
		return nil, err
	}
	var kflags uintptr
	for _, fl := range cfg.Flags {
		kflags |= kernelFlags[fl]
	}
	return &Filter{scmp: scmp, notify: notify, flags: kflags}, nil
}

// fieldErr is a problem with the profile at a JSON path of config.json.
func fieldErr(path, format string, args ...any) *berthspecs.FieldError {
	return &berthspecs.FieldError{File: berthspecs.ConfigFile, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// parse resolves cfg into the default action and one rule per syscall
// name, collecting every problem on the way.
func parse(cfg *specs.LinuxSeccomp) (libseccomp.ScmpAction, []rule, bool, berthspecs.ConfigErrors) {
	var errs berthspecs.ConfigErrors
	defaultAction, err := action(cfg.DefaultAction, cfg.DefaultErrnoRet, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
	if err != nil {
		errs = append(errs, err)
	} else if defaultAction == libseccomp.ActNotify {
		errs = append(errs, fieldErr("linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action (the init could not hand over the listener fd)"))
	}
	for i, a := range cfg.Architectures {
		if _, ok := archs[a]; !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "unknown architecture %q", a))
		}
	}
	for i, fl := range cfg.Flags {
		if _, ok := flags[fl]; !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("linux.seccomp.flags[%d]", i), "unknown flag %q", fl))
		}
	}
	rules, notify := parseSyscalls(cfg.Syscalls, &errs)
	if notify && cfg.ListenerPath == "" {
		errs = append(errs, fieldErr("linux.seccomp.listenerPath", "required when SCMP_ACT_NOTIFY is used"))
	}
	return defaultAction, rules, notify, errs
}

// parseSyscalls resolves every syscall entry into rules, one per name.
func parseSyscalls(syscalls []specs.LinuxSyscall, errs *berthspecs.ConfigErrors) (rules []rule, notify bool) {
	for i, sc := range syscalls {
		path := fmt.Sprintf("linux.seccomp.syscalls[%d]", i)
		act, err := action(sc.Action, sc.ErrnoRet, path+".action", path+".errnoRet")
		if err != nil {
			*errs = append(*errs, err)
		}
		conds := conditions(sc.Args, path, errs)
		if len(sc.Names) == 0 {
			*errs = append(*errs, fieldErr(path+".names", "must list at least one syscall"))
		}
		for j, name := range sc.Names {
			namePath := fmt.Sprintf("%s.names[%d]", path, j)
			// libseccomp resolves names of every architecture it knows
			// (to pseudo numbers for syscalls absent on this one), so an
			// error here means the name is unknown everywhere.
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				*errs = append(*errs, fieldErr(namePath, "unknown syscall %q", name))
				continue
			}
			if act == libseccomp.ActNotify && notifyForbidden[name] {
				*errs = append(*errs, fieldErr(namePath, "SCMP_ACT_NOTIFY cannot be used for %q (the init needs it to hand over the listener fd)", name))
				continue
			}
			rules = append(rules, rule{path: namePath, name: name, nr: nr, action: act, conds: conds})
		}
		notify = notify || act == libseccomp.ActNotify
	}
	return rules, notify
}

// action converts an OCI action and its optional errno into libseccomp's.
func action(name specs.LinuxSeccompAction, errnoRet *uint, path, errnoPath string) (libseccomp.ScmpAction, *berthspecs.FieldError) {
	act, ok := actions[name]
	if !ok {
		return libseccomp.ActInvalid, fieldErr(path, "unknown action %q", name)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if errnoRet != nil {
			return libseccomp.ActInvalid, fieldErr(errnoPath, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", name)
		}
		return act, nil
	}
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
	}
	// The kernel keeps 16 bits of data in the filter's return value.
	if code > 0xffff {
		return libseccomp.ActInvalid, fieldErr(errnoPath, "%d does not fit in 16 bits", code)
	}
	return act.SetReturnCode(int16(uint16(code))), nil
}

// conditions converts the args of one syscall entry.
func conditions(args []specs.LinuxSeccompArg, path string, errs *berthspecs.ConfigErrors) []libseccomp.ScmpCondition {
	var conds []libseccomp.ScmpCondition
	for i, a := range args {
		argPath := fmt.Sprintf("%s.args[%d]", path, i)
		op, ok := operators[a.Op]
		if !ok {
			*errs = append(*errs, fieldErr(argPath+".op", "unknown operator %q", a.Op))
			continue
		}
		if a.Index >= maxArgs {
			*errs = append(*errs, fieldErr(argPath+".index", "%d is out of range, syscalls have arguments 0 to %d", a.Index, maxArgs-1))
			continue
		}
		// For SCMP_CMP_MASKED_EQ the first operand is the mask and the
		// second the expected value; the other operators ignore the second.
		c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			*errs = append(*errs, fieldErr(argPath, "%v", err))
			continue
		}
		conds = append(conds, c)
	}
	return conds
}

// build creates the libseccomp filter; every libseccomp error is reported
// with the JSON path of the profile entry that caused it.
func build(cfg *specs.LinuxSeccomp, defaultAction libseccomp.ScmpAction, rules []rule) (*libseccomp.ScmpFilter, error) {
	scmp, err := libseccomp.NewFilter(defaultAction)
	if err != nil {
		return nil, fieldErr("linux.seccomp", "create filter: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			scmp.Release()
		}
	}()

	// The init sets no_new_privs itself when process.noNewPrivileges asks
	// for it; libseccomp must not force it on every container.
	if err := scmp.SetNoNewPrivsBit(false); err != nil {
		return nil, fieldErr("linux.seccomp", "clear no_new_privs attribute: %v", err)
	}
	// Report the kernel's errno (EACCES, EINVAL...) instead of ECANCELED.
	if err := scmp.SetRawRC(true); err != nil {
		return nil, fieldErr("linux.seccomp", "set raw return codes: %v", err)
	}
	for i, a := range cfg.Architectures {
		if err := scmp.AddArch(archs[a]); err != nil {
			return nil, fieldErr(fmt.Sprintf("linux.seccomp.architectures[%d]", i), "cannot add %s: %v", a, err)
		}
	}
	for i, fl := range cfg.Flags {
		if err := flags[fl](scmp); err != nil {
			return nil, fieldErr(fmt.Sprintf("linux.seccomp.flags[%d]", i), "%s is not supported: %v", fl, err)
		}
	}
	// A binary tree keeps long profiles (like Docker's) fast to evaluate;
	// libseccomp 2.5 misbehaves with it on tiny filters, hence the threshold.
	if len(rules) > 32 {
		if err := scmp.SetOptimize(2); err != nil {
			return nil, fieldErr("linux.seccomp", "enable binary tree optimisation: %v", err)
		}
	}
	for _, r := range rules {
		if err := addRule(scmp, r, defaultAction); err != nil {
			return nil, fieldErr(r.path, "cannot add rule for %q: %v", r.name, err)
		}
	}
	ok = true
	return scmp, nil
}

func addRule(scmp *libseccomp.ScmpFilter, r rule, defaultAction libseccomp.ScmpAction) error {
	if r.action == defaultAction {
		return nil // a no-op that libseccomp would reject
	}
	if len(r.conds) == 0 {
		return scmp.AddRule(r.nr, r.action)
	}
	if !sharesArgument(r.conds) {
		return scmp.AddRuleConditional(r.nr, r.action, r.conds)
	}
	// libseccomp refuses two comparisons of one argument in a rule;
	// like runc, turn each condition into a rule of its own.
	for _, c := range r.conds {
		if err := scmp.AddRuleConditional(r.nr, r.action, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

func sharesArgument(conds []libseccomp.ScmpCondition) bool {
	var seen [maxArgs]bool
	for _, c := range conds {
		if seen[c.Argument] {
			return true
		}
		seen[c.Argument] = true
	}
	return false
}

// Release frees the compiled filter without loading it.
func (f *Filter) Release() {
	if f.scmp != nil {
		f.scmp.Release()
		f.scmp = nil
	}
}
