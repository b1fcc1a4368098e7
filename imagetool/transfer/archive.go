package transfer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// extractArchive unpacks the OCI layout tar file into dir. Only the layout
// files are taken (oci-layout, index.json, blobs/<alg>/<hex>), as regular
// files; anything else is skipped, and names that would leave dir are
// refused. Blob contents are verified later, when they are copied out.
func extractArchive(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %v", file, err)
		}
		name := path.Clean("/" + hdr.Name)[1:] // drops "..", leading "/" and "./"
		if hdr.Typeflag != tar.TypeReg || !layoutFile(name) {
			continue
		}
		if name != path.Clean(hdr.Name) && "./"+name != hdr.Name {
			return fmt.Errorf("%s: entry %q escapes the layout", file, hdr.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", file, hdr.Name, err)
		}
	}
}

// layoutFile reports whether name is part of an OCI layout.
func layoutFile(name string) bool {
	if name == ocispec.ImageLayoutFile || name == ocispec.ImageIndexFile {
		return true
	}
	dir, hex := path.Split(name)
	alg := path.Base(dir)
	return hex != "" && path.Dir(path.Clean(dir)) == "blobs" && alg != "" && alg != "blobs"
}

// writeArchive writes the layout in dir as a tar file, atomically.
func writeArchive(dir, file string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	tw := tar.NewWriter(tmp)
	var names []string
	names = append(names, ocispec.ImageLayoutFile, ocispec.ImageIndexFile)
	err = filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	})
	for _, n := range names {
		if err != nil {
			break
		}
		err = addFile(tw, dir, n)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

func addFile(tw *tar.Writer, dir, name string) error {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(name), Mode: 0o644, Size: fi.Size(), ModTime: fi.ModTime()}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
