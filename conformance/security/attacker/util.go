package main

import (
	"strconv"
	"syscall"
	"unsafe"
)

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func itoa(n int) string { return strconv.Itoa(n) }
