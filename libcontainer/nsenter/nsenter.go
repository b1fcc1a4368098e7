// Package nsenter joins namespaces before the Go runtime starts.
//
// Importing it links a C constructor into the binary; the constructor does
// nothing unless the parent set _BERTH_NSENTER (see nsenter.c for the plan
// format). Plan builds that plan on the parent's side.
package nsenter

// #cgo CFLAGS: -Wall -O2
import "C"
