package plan

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The wire format berth-init reads (libcontainer/cinit/c/init.h): "BRTHPLN1"
// then records of u16 tag, u16 zero, u32 length and the payload. Integers
// are little-endian, strings carry a trailing NUL, groups nest records.
// The tag numbers below are checked against init.h by wire_test.go.

const magic = "BRTHPLN1"

// Top-level tags.
const (
	tMode        = 1
	tCgroupJoin  = 5
	tNSJoin      = 10
	tUnshare     = 11
	tUserMap     = 12
	tTimeOffset  = 13
	tFork        = 14
	tNewCgroupNS = 15
	tSetsid      = 16
	tRootFD      = 17
	tLoopback    = 18
	tHostname    = 19
	tDomainname  = 20
	tRootfs      = 30
	tHook        = 40
	tHookState   = 41
	tFifoFD      = 45
	tProcess     = 50
)

const (
	jFD    = 1
	jType  = 2
	jLabel = 3
	gFD    = 1
	gLabel = 2
)

const (
	rPath         = 1
	rHostNS       = 2
	rPrepProp     = 3
	rParentMount  = 4
	rMount        = 5
	rDev          = 6
	rPivot        = 7
	rSysctl       = 8
	rReadonly     = 9
	rMasked       = 10
	rMaskData     = 11
	rRootRdonly   = 12
	rRootProp     = 13
	rRuntimeHooks = 14
)

const (
	mKind       = 1
	mLabel      = 2
	mDest       = 3
	mSource     = 4
	mFSType     = 5
	mSrcFD      = 6
	mRecursive  = 7
	mAttrSet    = 8
	mAttrClr    = 9
	mRAttrSet   = 10
	mRAttrClr   = 11
	mProp       = 12
	mRProp      = 13
	mSBFlag     = 14
	mData       = 15
	mTmpCopyUp  = 16
	mKeepMode   = 17
	mFallback   = 18
	mRootLabel  = 19
	mProcOK     = 20
	mCgEntry    = 21
	mCgUnified  = 22
	mCgNew      = 23
	mCgEmptyOK  = 24
	mMSFlags    = 26
	cController = 1
	cPath       = 2
)

const (
	dDevice  = 1
	dSymlink = 2
	dOwned   = 3
	vPath    = 1
	vMode    = 2
	vRdev    = 3
	vUID     = 4
	vGID     = 5
	vLabel   = 6
	vBind    = 7
	lName    = 1
	lTarget  = 2
	yLabel   = 1
	yRel     = 2
	yValue   = 3
)

const (
	hKind    = 1
	hLabel   = 2
	hPath    = 3
	hArg     = 4
	hEnv     = 5
	hTimeout = 6
	sKind    = 1
	sPrefix  = 2
	sSuffix  = 3
)

const (
	pArg          = 1
	pEnv          = 2
	pCwd          = 3
	pUID          = 4
	pGID          = 5
	pGroup        = 6
	pUmask        = 7
	pCaps         = 8
	pNNP          = 9
	pRlimit       = 10
	pOOMScoreAdj  = 11
	pSched        = 12
	pIOPrio       = 13
	pPersonality  = 14
	pMemPolicy    = 15
	pAffinity     = 16
	pSeccomp      = 17
	pAppArmor     = 18
	pSELinux      = 19
	pKeyring      = 20
	pConsole      = 21
	pPreserveFDs  = 22
	pHomeLookup   = 23
	pLastCap      = 24
	pKeyringLabel = 25
	rlResource    = 1
	rlSoft        = 2
	rlHard        = 3
	rlLabel       = 4
	mpMode        = 1
	mpMask        = 2
	mpLabel       = 3
	scProg        = 1
	scFlags       = 2
	scNotify      = 3
	scEarly       = 4
	coFD          = 1
	coRows        = 2
	coCols        = 3
	coMount       = 4
)

// writer appends records; a group is written by a nested writer.
type writer struct {
	b   []byte
	err error
}

func (w *writer) raw(tag uint16, p []byte) {
	w.b = binary.LittleEndian.AppendUint16(w.b, tag)
	w.b = append(w.b, 0, 0)
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(p)))
	w.b = append(w.b, p...)
}

func (w *writer) flag(tag uint16, on bool) {
	if on {
		w.raw(tag, nil)
	}
}

func (w *writer) u32(tag uint16, v uint32) {
	w.raw(tag, binary.LittleEndian.AppendUint32(nil, v))
}

func (w *writer) u64(tag uint16, v uint64) {
	w.raw(tag, binary.LittleEndian.AppendUint64(nil, v))
}

// nonzero writes v only when it is set.
func (w *writer) nonzero(tag uint16, v uint64) {
	if v != 0 {
		w.u64(tag, v)
	}
}

func (w *writer) fd(tag uint16, fd int) {
	if fd >= 0 {
		w.u32(tag, uint32(fd))
	}
}

// str writes s; a NUL inside it would silently cut it short in C, so it
// is an error.
func (w *writer) str(tag uint16, s string) {
	if strings.IndexByte(s, 0) >= 0 && w.err == nil {
		w.err = fmt.Errorf("%q contains a NUL byte", s)
	}
	w.raw(tag, append([]byte(s), 0))
}

func (w *writer) optStr(tag uint16, s string) {
	if s != "" {
		w.str(tag, s)
	}
}

func (w *writer) strs(tag uint16, ss []string) {
	for _, s := range ss {
		w.str(tag, s)
	}
}

func (w *writer) group(tag uint16, fill func(g *writer)) {
	g := &writer{}
	fill(g)
	if g.err != nil && w.err == nil {
		w.err = g.err
	}
	w.raw(tag, g.b)
}

// Encode returns p in the wire format.
func (p *Plan) Encode() ([]byte, error) {
	w := &writer{b: []byte(magic)}
	w.u32(tMode, uint32(p.Mode))
	for _, j := range p.CgroupJoins {
		w.group(tCgroupJoin, func(g *writer) {
			g.u32(gFD, uint32(j.FD))
			g.str(gLabel, j.Label)
		})
	}
	for _, j := range p.Joins {
		w.group(tNSJoin, func(g *writer) {
			g.u32(jFD, uint32(j.FD))
			g.u32(jType, j.Type)
			g.str(jLabel, j.Label)
		})
	}
	w.nonzero(tUnshare, p.Unshare)
	w.flag(tUserMap, p.UserMap)
	w.strs(tTimeOffset, p.TimeOffsets)
	w.flag(tFork, p.Fork)
	w.flag(tNewCgroupNS, p.NewCgroupNS)
	w.flag(tSetsid, p.Setsid)
	w.fd(tRootFD, p.RootFD)
	w.flag(tLoopback, p.Loopback)
	if p.Hostname != nil {
		w.str(tHostname, *p.Hostname)
	}
	if p.Domainname != nil {
		w.str(tDomainname, *p.Domainname)
	}
	if p.Rootfs != nil {
		w.group(tRootfs, p.Rootfs.encode)
	}
	for _, h := range p.Hooks {
		w.group(tHook, h.encode)
	}
	for _, s := range p.HookStates {
		w.group(tHookState, func(g *writer) {
			g.u32(sKind, uint32(s.Kind))
			g.str(sPrefix, s.Prefix)
			g.str(sSuffix, s.Suffix)
		})
	}
	w.fd(tFifoFD, p.FifoFD)
	if p.Process != nil {
		w.group(tProcess, p.Process.encode)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

func (r *Rootfs) encode(w *writer) {
	w.str(rPath, r.Path)
	w.flag(rHostNS, r.HostNS)
	w.u64(rPrepProp, r.PrepProp)
	w.optStr(rParentMount, r.ParentMount)
	for i := range r.Mounts {
		w.group(rMount, r.Mounts[i].encode)
	}
	if r.Dev != nil {
		w.group(rDev, r.Dev.encode)
	}
	w.u32(rPivot, uint32(r.Pivot))
	for _, s := range r.Sysctls {
		w.group(rSysctl, func(g *writer) {
			g.str(yLabel, s.Label)
			g.str(yRel, s.Rel)
			g.str(yValue, s.Value)
		})
	}
	w.strs(rReadonly, r.Readonly)
	w.strs(rMasked, r.Masked)
	w.optStr(rMaskData, r.MaskData)
	w.flag(rRootRdonly, r.RootReadonly)
	w.nonzero(rRootProp, r.RootProp)
	w.flag(rRuntimeHooks, r.RuntimeHooks)
}

func (m *Mount) encode(w *writer) {
	w.u32(mKind, uint32(m.Kind))
	w.str(mLabel, m.Label)
	w.str(mDest, m.Dest)
	w.optStr(mSource, m.Source)
	w.optStr(mFSType, m.FSType)
	w.fd(mSrcFD, m.SrcFD)
	w.flag(mRecursive, m.Recursive)
	w.nonzero(mAttrSet, m.AttrSet)
	w.nonzero(mAttrClr, m.AttrClr)
	w.nonzero(mRAttrSet, m.RAttrSet)
	w.nonzero(mRAttrClr, m.RAttrClr)
	w.nonzero(mProp, m.Prop)
	w.nonzero(mRProp, m.RProp)
	w.strs(mSBFlag, m.SBFlags)
	w.strs(mData, m.Data)
	w.flag(mTmpCopyUp, m.TmpCopyUp)
	w.flag(mKeepMode, m.KeepMode)
	w.optStr(mFallback, m.Fallback)
	w.optStr(mRootLabel, m.RootLabel)
	w.flag(mProcOK, m.ProcOK)
	for _, c := range m.Cgroups {
		w.group(mCgEntry, func(g *writer) {
			g.str(cController, c.Controller)
			g.str(cPath, c.Path)
		})
	}
	w.optStr(mCgUnified, m.CgroupUnified)
	w.flag(mCgNew, m.CgroupNew)
	w.flag(mCgEmptyOK, m.CgroupEmptyOK)
	w.nonzero(mMSFlags, m.MSFlags)
}

func (d *Dev) encode(w *writer) {
	w.flag(dOwned, true)
	for _, v := range d.Devices {
		w.group(dDevice, func(g *writer) {
			g.str(vPath, v.Path)
			g.u32(vMode, v.Mode)
			g.u64(vRdev, v.Rdev)
			g.u32(vUID, v.UID)
			g.u32(vGID, v.GID)
			g.str(vLabel, v.Label)
			g.flag(vBind, v.Bind)
		})
	}
	for _, l := range d.Symlinks {
		w.group(dSymlink, func(g *writer) {
			g.str(lName, l.Name)
			g.str(lTarget, l.Target)
		})
	}
}

func (h *Hook) encode(w *writer) {
	w.u32(hKind, uint32(h.Kind))
	w.str(hLabel, h.Label)
	w.str(hPath, h.Path)
	w.strs(hArg, h.Args)
	w.strs(hEnv, h.Env)
	if h.Timeout > 0 {
		w.u32(hTimeout, h.Timeout)
	}
}

func (p *Process) encode(w *writer) {
	w.strs(pArg, p.Args)
	w.strs(pEnv, p.Env)
	w.optStr(pCwd, p.Cwd)
	w.u32(pUID, p.UID)
	w.u32(pGID, p.GID)
	for _, g := range p.Groups {
		w.u32(pGroup, g)
	}
	w.u32(pUmask, p.Umask)
	caps := make([]byte, 0, 40)
	for _, c := range p.Caps {
		caps = binary.LittleEndian.AppendUint64(caps, c)
	}
	w.raw(pCaps, caps)
	w.u32(pLastCap, uint32(p.LastCap))
	w.flag(pNNP, p.NoNewPrivs)
	for _, r := range p.Rlimits {
		w.group(pRlimit, func(g *writer) {
			g.u32(rlResource, r.Resource)
			g.u64(rlSoft, r.Soft)
			g.u64(rlHard, r.Hard)
			g.str(rlLabel, r.Label)
		})
	}
	if p.OOMScoreAdj != nil {
		w.u32(pOOMScoreAdj, uint32(int32(*p.OOMScoreAdj)))
	}
	if p.Sched != nil {
		w.raw(pSched, p.Sched)
	}
	if p.IOPrio != nil {
		w.u32(pIOPrio, *p.IOPrio)
	}
	if p.Personality != nil {
		w.u32(pPersonality, *p.Personality)
	}
	if mp := p.MemPolicy; mp != nil {
		w.group(pMemPolicy, func(g *writer) {
			g.u32(mpMode, mp.Mode)
			if mp.Mask != nil {
				g.raw(mpMask, mp.Mask)
			}
			g.str(mpLabel, mp.Label)
		})
	}
	if p.Affinity != nil {
		w.raw(pAffinity, p.Affinity)
	}
	if sc := p.Seccomp; sc != nil {
		w.group(pSeccomp, func(g *writer) {
			g.raw(scProg, sc.Program)
			g.u32(scFlags, sc.Flags)
			g.flag(scNotify, sc.Notify)
			g.flag(scEarly, sc.Early)
		})
	}
	w.optStr(pAppArmor, p.AppArmor)
	w.optStr(pSELinux, p.SELinux)
	w.optStr(pKeyring, p.Keyring)
	w.flag(pKeyringLabel, p.KeyringLabel)
	if c := p.Console; c != nil {
		w.group(pConsole, func(g *writer) {
			g.u32(coFD, uint32(c.FD))
			g.u32(coRows, c.Rows)
			g.u32(coCols, c.Cols)
			g.flag(coMount, c.Mount)
		})
	}
	if p.PreserveFDs > 0 {
		w.u32(pPreserveFDs, uint32(p.PreserveFDs))
	}
	w.flag(pHomeLookup, p.HomeLookup)
}
