package specs

import (
	"strconv"
	"strings"
)

// ConfigFile is the name of a bundle's configuration file, and the file
// name every config.json error starts with.
const ConfigFile = "config.json"

// FieldError is one problem with one value of a JSON config file. Its
// message is a single line: "config.json: process.args: must not be empty".
type FieldError struct {
	File string // "config.json", or "process.json" for an exec process
	Path string // JSON path of the value, like process.capabilities.bounding[2]; empty for the whole file
	Msg  string // what is wrong, naming the offending value
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Path + ": " + e.Msg
}

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
