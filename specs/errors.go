package specs

import (
	"strconv"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// ConfigFile is the name of a bundle's configuration file, and the file
// name every config.json error starts with.
const ConfigFile = "config.json"

// IncompleteMarker, in a bundle directory, says the bundle is not finished:
// berth-image makes it first and removes it last (imagetool/unpack), so a
// bundle it was killed while making is refused by `berth create` rather
// than run with a half-made or unmounted rootfs.
const IncompleteMarker = ".berth-incomplete"

// FieldError is one problem with one value of a JSON config file. Its
// message is a single line: "config.json: process.args: must not be empty".
type FieldError struct {
	File string // "config.json", or "process.json" for an exec process
	Path string // JSON path of the value, like process.capabilities.bounding[2]; empty for the whole file
	Msg  string // what is wrong, naming the offending value
}

func (e *FieldError) Error() string {
	var b strings.Builder
	for _, part := range []string{e.File, e.Path} {
		if part != "" {
			b.WriteString(part)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in one config, in the order they
// were found: validation goes on past the first one, so a user fixes all
// of them in one round. Error prints one FieldError per line.
type ConfigErrors []*FieldError

func (e ConfigErrors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *FieldError.
func (e ConfigErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, fe := range e {
		errs[i] = fe
	}
	return errs
}

// Err is nil for an empty list and the list otherwise (never a typed nil).
func (e ConfigErrors) Err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// Add appends a FieldError.
func (e *ConfigErrors) Add(file, path, msg string) {
	*e = append(*e, &FieldError{File: file, Path: path, Msg: msg})
}

// InFile names file in every error that names none (the cgroups package
// checks linux.resources without knowing where they came from).
func (e ConfigErrors) InFile(file string) ConfigErrors {
	for _, fe := range e {
		if fe.File == "" {
			fe.File = file
		}
	}
	return e
}

// SplitErrors divides err into the FieldErrors it is made of (err may be
// a *FieldError, a ConfigErrors, or an errors.Join of those) and the other
// errors in it, such as a failure to read the host's state.
func SplitErrors(err error) (ConfigErrors, []error) {
	switch e := err.(type) {
	case nil:
		return nil, nil
	case *FieldError:
		return ConfigErrors{e}, nil
	case ConfigErrors:
		return e, nil
	case interface{ Unwrap() []error }:
		var fields ConfigErrors
		var other []error
		for _, inner := range e.Unwrap() {
			f, o := SplitErrors(inner)
			fields, other = append(fields, f...), append(other, o...)
		}
		return fields, other
	}
	return nil, []error{err}
}

// Check is a validation that only a runtime can make (seccomp syscall
// names, the host's cgroups), run by LoadBundleJSON with its own.
type Check func(*rspec.Spec) error

// fieldName appends object keys to a JSON path: plain identifiers after a
// dot, anything else (sysctl keys, clock names) as a quoted map key, so a
// key like "net.ipv4.ip_forward" stays one segment.
// FieldName is fieldName for the runtime's own messages about config
// fields, so they name map entries the way validation errors do.
func FieldName(parent string, keys ...string) string { return fieldName(parent, keys...) }

func fieldName(parent string, keys ...string) string {
	for _, key := range keys {
		switch {
		case !isIdentifier(key):
			parent += "[" + strconv.Quote(key) + "]"
		case parent == "":
			parent = key
		default:
			parent += "." + key
		}
	}
	return parent
}

func index(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// quoteList renders allowed values for an error message: "a", "b" or "c".
func quoteList(values []string) string {
	var b strings.Builder
	for i, v := range values {
		switch {
		case i == 0:
		case i == len(values)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(v))
	}
	return b.String()
}
