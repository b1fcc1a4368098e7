//go:build !(linux && amd64 && cgo)

package clonexec

import (
	"errors"
	"syscall"
)

// ErrUnsupported is returned by Start, which only linux/amd64 builds with
// cgo have: use syscall.ForkExec.
var ErrUnsupported = errors.New("clonexec: not available in this build")

// Supported is false where Start is not available.
func Supported(*syscall.SysProcAttr) bool { return false }

// Start is not available in this build: use syscall.ForkExec.
func Start(string, []string, []uintptr, *syscall.SysProcAttr) (int, error) {
	return 0, ErrUnsupported
}
