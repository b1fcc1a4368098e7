package plan

import (
	"bytes"
	"encoding/binary"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cNames maps each tag of berth-init's header to the Go constant that must
// have its value.
var cNames = map[string]int{
	"T_MODE": tMode, "T_CGROUP_JOIN": tCgroupJoin, "T_NS_JOIN": tNSJoin, "T_UNSHARE": tUnshare, "T_USERMAP": tUserMap,
	"T_TIME_OFFSET": tTimeOffset, "T_FORK": tFork, "T_NEW_CGROUPNS": tNewCgroupNS, "T_SETSID": tSetsid,
	"T_ROOT_FD": tRootFD, "T_LOOPBACK": tLoopback, "T_HOSTNAME": tHostname, "T_DOMAINNAME": tDomainname,
	"T_ROOTFS": tRootfs, "T_HOOK": tHook, "T_HOOK_STATE": tHookState, "T_FIFO_FD": tFifoFD, "T_PROCESS": tProcess,
	"MODE_CREATE": int(Create), "MODE_EXEC": int(Exec),
	"J_FD": jFD, "J_TYPE": jType, "J_LABEL": jLabel, "G_FD": gFD, "G_LABEL": gLabel,
	"R_PATH": rPath, "R_HOSTNS": rHostNS, "R_PREP_PROP": rPrepProp, "R_PARENT_MOUNT": rParentMount,
	"R_MOUNT": rMount, "R_DEV": rDev, "R_PIVOT": rPivot, "R_SYSCTL": rSysctl, "R_READONLY": rReadonly,
	"R_MASKED": rMasked, "R_MASK_DATA": rMaskData, "R_ROOT_RDONLY": rRootRdonly, "R_ROOT_PROP": rRootProp,
	"R_RUNTIME_HOOKS": rRuntimeHooks,
	"PIVOT_ROOT":      int(PivotRoot), "PIVOT_MOVE": int(PivotMove), "PIVOT_CHROOT": int(PivotChroot),
	"M_KIND": mKind, "M_LABEL": mLabel, "M_DEST": mDest, "M_SOURCE": mSource, "M_FSTYPE": mFSType,
	"M_SRC_FD": mSrcFD, "M_RECURSIVE": mRecursive, "M_ATTR_SET": mAttrSet, "M_ATTR_CLR": mAttrClr,
	"M_RATTR_SET": mRAttrSet, "M_RATTR_CLR": mRAttrClr, "M_PROP": mProp, "M_RPROP": mRProp,
	"M_SBFLAG": mSBFlag, "M_DATA": mData, "M_TMPCOPYUP": mTmpCopyUp, "M_KEEP_MODE": mKeepMode,
	"M_FALLBACK": mFallback, "M_ROOT_LABEL": mRootLabel, "M_PROC_OK": mProcOK, "M_CG_ENTRY": mCgEntry,
	"M_CG_UNIFIED": mCgUnified, "M_CG_NEW": mCgNew, "M_CG_EMPTY_OK": mCgEmptyOK, "M_MSFLAGS": mMSFlags,
	"MK_BIND": int(Bind), "MK_FS": int(FS), "MK_REMOUNT": int(Remount), "MK_CGROUP1": int(CgroupV1),
	"MK_CGROUP2": int(CgroupV2), "MK_FS_REMOUNT": int(FSRemount),
	"C_CONTROLLER": cController, "C_PATH": cPath,
	"D_DEVICE": dDevice, "D_SYMLINK": dSymlink, "D_OWNED": dOwned,
	"V_PATH": vPath, "V_MODE": vMode, "V_RDEV": vRdev, "V_UID": vUID, "V_GID": vGID, "V_LABEL": vLabel, "V_BIND": vBind,
	"L_NAME": lName, "L_TARGET": lTarget, "Y_LABEL": yLabel, "Y_REL": yRel, "Y_VALUE": yValue,
	"H_KIND": hKind, "H_LABEL": hLabel, "H_PATH": hPath, "H_ARG": hArg, "H_ENV": hEnv, "H_TIMEOUT": hTimeout,
	"HOOK_CREATE_CONTAINER": int(CreateContainer), "HOOK_START_CONTAINER": int(StartContainer), "HOOK_KINDS": 3,
	"S_KIND": sKind, "S_PREFIX": sPrefix, "S_SUFFIX": sSuffix,
	"P_ARG": pArg, "P_ENV": pEnv, "P_CWD": pCwd, "P_UID": pUID, "P_GID": pGID, "P_GROUP": pGroup,
	"P_UMASK": pUmask, "P_CAPS": pCaps, "P_NNP": pNNP, "P_RLIMIT": pRlimit, "P_OOM_SCORE_ADJ": pOOMScoreAdj,
	"P_SCHED": pSched, "P_IOPRIO": pIOPrio, "P_PERSONALITY": pPersonality, "P_MEMPOLICY": pMemPolicy,
	"P_AFFINITY": pAffinity, "P_SECCOMP": pSeccomp, "P_APPARMOR": pAppArmor, "P_SELINUX": pSELinux,
	"P_KEYRING": pKeyring, "P_CONSOLE": pConsole, "P_PRESERVE_FDS": pPreserveFDs, "P_HOME_LOOKUP": pHomeLookup,
	"P_LAST_CAP": pLastCap, "P_KEYRING_LABEL": pKeyringLabel,
	"RL_RESOURCE": rlResource, "RL_SOFT": rlSoft, "RL_HARD": rlHard, "RL_LABEL": rlLabel,
	"MP_MODE": mpMode, "MP_MASK": mpMask, "MP_LABEL": mpLabel,
	"SC_PROG": scProg, "SC_FLAGS": scFlags, "SC_NOTIFY": scNotify, "SC_EARLY": scEarly,
	"CO_FD": coFD, "CO_ROWS": coRows, "CO_COLS": coCols, "CO_MOUNT": coMount,
}

// TestTagsMatchInitHeader: the runtime and berth-init agree on every tag.
func TestTagsMatchInitHeader(t *testing.T) {
	b, err := os.ReadFile("../cinit/c/init.h")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)\b([A-Z][A-Z0-9]*_[A-Z0-9_]+) = (\d+)\b`)
	seen := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		name := m[1]
		v, _ := strconv.Atoi(m[2])
		want, ok := cNames[name]
		if !ok {
			t.Errorf("init.h has %s = %d, which wire.go does not know", name, v)
			continue
		}
		if want != v {
			t.Errorf("%s is %d in init.h but %d in wire.go", name, v, want)
		}
		seen[name] = true
	}
	for name := range cNames {
		if !seen[name] {
			t.Errorf("wire.go knows %s, which init.h does not define", name)
		}
	}
	if !strings.Contains(string(b), `#define PLAN_MAGIC "`+magic+`"`) {
		t.Errorf("init.h does not define PLAN_MAGIC as %q", magic)
	}
}

type record struct {
	tag  uint16
	data []byte
}

// records splits b (after the magic, if any) into its records.
func records(t *testing.T, b []byte) []record {
	t.Helper()
	var out []record
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("truncated header: %x", b)
		}
		tag, n := binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint32(b[4:])
		if b[2] != 0 || b[3] != 0 || int(n) > len(b)-8 {
			t.Fatalf("bad header %x", b[:8])
		}
		out = append(out, record{tag, b[8 : 8+n]})
		b = b[8+n:]
	}
	return out
}

func TestEncodeLayout(t *testing.T) {
	host := "box"
	adj := -5
	p := &Plan{Mode: Exec, RootFD: -1, FifoFD: -1, Hostname: &host, Setsid: true,
		CgroupJoins: []CgroupJoin{{FD: 9, Label: "v1 memory cgroup /m"}},
		Joins:       []Join{{FD: 7, Type: 0x40000000, Label: `linux.namespaces[0].path "/x"`}},
		Process:     &Process{Args: []string{"/bin/true", "a"}, Env: []string{"A=1"}, UID: 1000, Umask: 0o22, OOMScoreAdj: &adj}}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(magic)) {
		t.Fatalf("no magic: %q", b[:8])
	}
	top := records(t, b[len(magic):])
	var tags []uint16
	for _, r := range top {
		tags = append(tags, r.tag)
	}
	want := []uint16{tMode, tCgroupJoin, tNSJoin, tSetsid, tHostname, tProcess}
	if !slices.Equal(tags, want) {
		t.Fatalf("top-level tags %v, want %v (unset fields are left out)", tags, want)
	}
	if got := binary.LittleEndian.Uint32(top[0].data); got != uint32(Exec) {
		t.Errorf("mode %d", got)
	}
	if string(top[4].data) != "box\x00" {
		t.Errorf("hostname %q, want NUL-terminated", top[4].data)
	}
	if cj := records(t, top[1].data); len(cj) != 2 || binary.LittleEndian.Uint32(cj[0].data) != 9 || string(cj[1].data) != "v1 memory cgroup /m\x00" {
		t.Errorf("cgroup join group %v", cj)
	}
	join := records(t, top[2].data)
	if len(join) != 3 || binary.LittleEndian.Uint32(join[0].data) != 7 || string(join[2].data) != `linux.namespaces[0].path "/x"`+"\x00" {
		t.Errorf("join group %v", join)
	}
	proc := records(t, top[5].data)
	var args []string
	var oom int32
	for _, r := range proc {
		switch r.tag {
		case pArg:
			args = append(args, strings.TrimSuffix(string(r.data), "\x00"))
		case pOOMScoreAdj:
			oom = int32(binary.LittleEndian.Uint32(r.data))
		case pCaps:
			if len(r.data) != 40 {
				t.Errorf("caps are %d bytes, want 5 x 8", len(r.data))
			}
		}
	}
	if !slices.Equal(args, []string{"/bin/true", "a"}) || oom != -5 {
		t.Errorf("args %q oom %d", args, oom)
	}
}

func TestEncodeRefusesNUL(t *testing.T) {
	p := &Plan{Mode: Create, RootFD: -1, FifoFD: 3, Rootfs: &Rootfs{Path: "/r\x00oot"}}
	if _, err := p.Encode(); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("a NUL inside a string: %v, want an error (C would cut it short)", err)
	}
}
