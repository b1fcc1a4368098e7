package sysfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadFileRegular(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 511, 512, 513, 70000} {
		want := bytes.Repeat([]byte("x"), n)
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: got %d bytes, %v", n, len(got), err)
		}
	}
}

// /proc files report size 0 and come in pieces: read to the end, as
// os.ReadFile does.
func TestReadFileProc(t *testing.T) {
	for _, p := range []string{"/proc/self/mountinfo", "/proc/self/status", "/proc/sys/kernel/cap_last_cap"} {
		got, err := ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(p)
		// status changes a little between reads (VmRSS and the like): compare the shape.
		if len(got) == 0 || strings.Count(string(got), "\n") != strings.Count(string(want), "\n") {
			t.Fatalf("%s: got %q, os.ReadFile %q", p, got, want)
		}
	}
}

func TestReadFileErrorsAsOS(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing")
	_, err := ReadFile(p)
	_, oserr := os.ReadFile(p)
	if !errors.Is(err, os.ErrNotExist) || err.Error() != oserr.Error() {
		t.Fatalf("got %v, os.ReadFile says %v", err, oserr)
	}
}

func TestReadFdLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, make([]byte, 100), 0o600)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := ReadFd(fd, p, 99); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("limit 99 of 100 bytes: %v", err)
	}
	if b, err := ReadFd(fd, p, 100); err != nil || len(b) != 100 {
		// the fd's offset is still 0: the first call failed on fstat's size
		t.Fatalf("limit 100 of 100 bytes: %d, %v", len(b), err)
	}
}

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("hello"), unix.O_CREAT|unix.O_EXCL, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("again"), unix.O_CREAT|unix.O_EXCL, 0o640); !errors.Is(err, os.ErrExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("O_EXCL over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Fatalf("read back %q", b)
	}
	if err := WriteFile(filepath.Join(p, "below-a-file"), nil, 0, 0); !errors.Is(err, unix.ENOTDIR) {
		t.Fatalf("path below a file: %v", err)
	}
}
