package seccomp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Compiled is a profile turned into what berth-init loads.
type Compiled struct {
	Program []byte // struct sock_filter[]
	Flags   uint32 // SECCOMP_FILTER_FLAG_*
	Notify  bool   // the program uses SCMP_ACT_NOTIFY
}

// Cache keeps compiled programs in a directory, keyed by the profile's
// content. libseccomp needs 10-25 ms of CPU for an engine's default
// profile (about 350 syscalls on three architectures) and engines give
// every container and every exec the same one; a hit costs one small
// read. The key covers everything the program depends on besides the
// profile: the architecture, libseccomp's version and the kernel API
// level it detected.
type Cache struct {
	Dir string // "" disables the cache
	// Max is how many programs are kept; the oldest go first.
	Max int
}

// cacheMagic starts every cache file; the version changes with the format.
const cacheMagic = "BRTHBPF1"

// maxCacheFile bounds what is read back: the kernel loads at most 4096
// instructions (BPF_MAXINSNS) per filter.
const maxCacheFile = 16 + 4096*8

// CompileCached is Compile and Export, served from c when the same
// profile was compiled before. A profile is only ever stored after it
// compiled, so a hit needs no validation; a missing, unreadable or
// corrupt entry is compiled again and rewritten. Cache errors never fail
// the caller: the cache only saves time.
func (c Cache) CompileCached(cfg *specs.LinuxSeccomp) (*Compiled, error) {
	key := ""
	if c.Dir != "" {
		if k, err := cacheKey(cfg); err == nil {
			key = k
			if got, err := c.read(key); err == nil {
				return got, nil
			}
		}
	}
	f, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	if err := f.Export(); err != nil {
		return nil, err
	}
	prog, flags, notify := f.Program()
	out := &Compiled{Program: prog, Flags: flags, Notify: notify}
	if key != "" {
		c.write(key, out)
	}
	return out, nil
}

func cacheKey(cfg *specs.LinuxSeccomp) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	api, _ := libseccomp.GetAPI()
	maj, min, mic := libseccomp.GetLibraryVersion()
	h := sha256.New()
	fmt.Fprintf(h, "%s %s libseccomp %d.%d.%d api %d\n", cacheMagic, runtime.GOARCH, maj, min, mic, api)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c Cache) read(key string) (*Compiled, error) {
	fd, err := unix.Open(filepath.Join(c.Dir, key), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), key)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheFile+1))
	if err != nil {
		return nil, err
	}
	return decodeCached(b)
}

// decodeCached parses magic, flags (uint32), notify (one byte), three
// bytes of padding, then the program.
func decodeCached(b []byte) (*Compiled, error) {
	const header = len(cacheMagic) + 8
	if len(b) > maxCacheFile || len(b) <= header || !bytes.HasPrefix(b, []byte(cacheMagic)) || (len(b)-header)%8 != 0 || b[header-4] > 1 {
		return nil, errors.New("seccomp cache: corrupt entry")
	}
	return &Compiled{
		Flags:   binary.LittleEndian.Uint32(b[len(cacheMagic):]),
		Notify:  b[header-4] == 1,
		Program: b[header:],
	}, nil
}

func encodeCached(p *Compiled) []byte {
	b := make([]byte, 0, len(cacheMagic)+8+len(p.Program))
	b = append(b, cacheMagic...)
	b = binary.LittleEndian.AppendUint32(b, p.Flags)
	notify := byte(0)
	if p.Notify {
		notify = 1
	}
	b = append(b, notify, 0, 0, 0)
	return append(b, p.Program...)
}

// write stores p atomically (a temporary file renamed into place), then
// trims the cache to Max entries.
func (c Cache) write(key string, p *Compiled) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(c.Dir, ".tmp-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(encodeCached(p))
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), filepath.Join(c.Dir, key)) != nil {
		os.Remove(tmp.Name())
		return
	}
	c.trim()
}

func (c Cache) trim() {
	if c.Max <= 0 {
		return
	}
	entries, err := os.ReadDir(c.Dir)
	if err != nil || len(entries) <= c.Max {
		return
	}
	type aged struct {
		name string
		mod  int64
	}
	var all []aged
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod < all[j].mod })
	for _, a := range all[:len(all)-c.Max] {
		os.Remove(filepath.Join(c.Dir, a.name))
	}
}
