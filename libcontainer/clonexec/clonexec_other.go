//go:build !(linux && amd64 && cgo)

package clonexec

import (
	"errors"
	"syscall"
)

// Available says this build has Start: only linux/amd64 with cgo.
const Available = false

// ErrNoClone3 is returned by Start where it is not available.
var ErrNoClone3 = errors.New("clonexec is not available in this build")

// Supported is false where Start is not available.
func Supported(*syscall.SysProcAttr) bool { return false }

// Start is not available in this build: use syscall.ForkExec.
func Start(string, []string, []uintptr, *syscall.SysProcAttr) (int, error) {
	return 0, ErrNoClone3
}
