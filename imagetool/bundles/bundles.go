// Package bundles records what a bundle was made from, in the bundle
// (BUNDLE/.berth-bundle.json), so that repack can diff it against its
// image, and keeps a reference file per bundle in the store
// (<store>/bundles/<id>.json) so that gc keeps what live bundles use.
package bundles

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	rspec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// InfoFile is the bundle's record, beside config.json and rootfs/.
const InfoFile = ".berth-bundle.json"

// OverlayUpper is the writable layer of an overlay bundle, inside it.
const OverlayUpper = ".berth-overlay/upper"

// Info says what a bundle was made from.
type Info struct {
	// ID names the bundle's reference file in the store.
	ID string `json:"id"`
	// Image is the name the image was given as; Manifest its manifest.
	Image    string             `json:"image"`
	Manifest ocispec.Descriptor `json:"manifest"`
	// Store is the image store's directory.
	Store string `json:"store"`
	// Mode is overlay, copy or direct (rootless, from the blobs).
	Mode     string `json:"mode"`
	Rootless bool   `json:"rootless,omitempty"`
	// UIDMap and GIDMap shifted the owners on disk (--uid-map, --gid-map).
	UIDMap  []rspec.LinuxIDMapping `json:"uidMap,omitempty"`
	GIDMap  []rspec.LinuxIDMapping `json:"gidMap,omitempty"`
	Created time.Time              `json:"created"`
	// Layers are the cached layer digests an overlay rootfs mounts.
	Layers []string `json:"layers,omitempty"`
}

// NewID returns a fresh bundle id.
func NewID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Write records info in bundle dir. It is written once the rootfs is
// complete: its ctime is the moment after which a changed file of a copied
// rootfs may look unchanged by its metadata alone (see build.Diff).
func Write(dir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(dir, InfoFile)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read reads the record of bundle dir, and the ctime of the record file.
func Read(dir string) (Info, time.Time, error) {
	var info Info
	p := filepath.Join(dir, InfoFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return info, time.Time{}, fmt.Errorf("%s: not a bundle made by berth-image bundle or unpack (no %s)", dir, InfoFile)
	}
	if err != nil {
		return info, time.Time{}, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, time.Time{}, fmt.Errorf("%s: %v", p, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return info, time.Time{}, fmt.Errorf("%s: %w", p, err)
	}
	return info, time.Unix(st.Ctim.Unix()), nil
}
