package specs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
)

// LoadBundle reads <bundleDir>/config.json and validates it (see Validate).
// Every error names the file and, where there is one, the JSON path of the
// offending value: "config.json: process.user.uid: cannot unmarshal string
// into uint32", or the line and column of a syntax error:
// "config.json:3:14: invalid character '}' ...".
func LoadBundle(bundleDir string) (*rspec.Spec, error) {
	spec, _, err := LoadBundleJSON(bundleDir)
	return spec, err
}

// LoadBundleJSON is LoadBundle that also returns config.json's bytes, for
// a runtime that keeps the config as given. The checks run on the decoded
// config after Validate, whatever it found: every FieldError of Validate
// and of the checks is reported at once, as one ConfigErrors (one line
// each), followed by any other error a check returned.
func LoadBundleJSON(bundleDir string, checks ...Check) (*rspec.Spec, []byte, error) {
	data, err := os.ReadFile(filepath.Join(bundleDir, ConfigFile))
	if err != nil {
		return nil, nil, ConfigReadError(err)
	}
	spec, err := ParseBundleJSON(bundleDir, data, checks...)
	if err != nil {
		return nil, nil, err
	}
	return spec, data, nil
}

// UnmarshalSpec is json.Unmarshal of a runtime spec, with the generated
// decoder first (see decodeJSON).
func UnmarshalSpec(data []byte, spec *rspec.Spec) error {
	if decodeSpecFast(data, spec) {
		return nil
	}
	*spec = rspec.Spec{}
	return json.Unmarshal(data, spec)
}

// ConfigReadError is the error LoadBundleJSON returns when config.json
// cannot be read, for a caller that reads it itself.
func ConfigReadError(err error) error { return fmt.Errorf("%s: %w", ConfigFile, err) }

// ParseBundleJSON is LoadBundleJSON of config.json's bytes already read
// (the runtime reads them once, without os.File's round trips).
func ParseBundleJSON(bundleDir string, data []byte, checks ...Check) (*rspec.Spec, error) {
	var spec rspec.Spec
	if err := decodeJSON(ConfigFile, data, &spec); err != nil {
		return nil, err
	}
	fields, other := SplitErrors(Validate(&spec, bundleDir))
	for _, check := range checks {
		f, o := SplitErrors(check(&spec))
		fields, other = append(fields, f...), append(other, o...)
	}
	if err := errors.Join(append([]error{fields.Err()}, other...)...); err != nil {
		if len(other) == 0 {
			return nil, fields
		}
		return nil, err
	}
	return &spec, nil
}

// LoadProcess reads a process.json as given to `exec --process` and
// validates it like config.json's process (see ValidateProcess). Errors
// name the file by its base name and paths relative to the process object:
// "process.json: args: must not be empty".
func LoadProcess(path string) (*rspec.Process, error) {
	name := filepath.Base(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var p rspec.Process
	if err := decodeJSON(name, data, &p); err != nil {
		return nil, err
	}
	if err := ValidateProcess(&p, name); err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeJSON unmarshals data into v and turns encoding/json's errors into
// one-line messages a user can act on. Unknown fields are accepted, as the
// runtime spec requires (config.md "Extensibility").
func decodeJSON(file string, data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return &FieldError{File: file, Msg: "file is empty"}
	}
	// The generated decoders first (decode_gen.go): they take the plain
	// configs engines write, without encoding/json's reflection.
	switch v := v.(type) {
	case *rspec.Spec:
		if decodeSpecFast(data, v) {
			return nil
		}
		*v = rspec.Spec{}
	case *rspec.Process:
		if decodeProcessFast(data, v) {
			return nil
		}
		*v = rspec.Process{}
	}
	// json.Unmarshal (rather than a Decoder) also rejects trailing data
	// after the top-level value.
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		line, col := lineColumn(data, syntaxErrorAt(data, syntaxErr))
		return fmt.Errorf("%s:%d:%d: %w", file, line, col, syntaxErr)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		path, ok := jsonPathAt(data, typeErr.Offset)
		if !ok {
			path = typeErr.Field // without array indices, but better than nothing
		}
		return &FieldError{File: file, Path: path,
			Msg: fmt.Sprintf("cannot unmarshal %s into %s", typeErr.Value, jsonTypeName(typeErr.Type))}
	}
	return fmt.Errorf("%s: %w", file, err)
}

// syntaxErrorAt is the offset of the byte a syntax error is about. The
// classic encoding/json counts the offending byte in Offset, the v2-based
// one (GOEXPERIMENT=jsonv2, which berth is built with) stops before it;
// the message names the byte, which tells them apart.
func syntaxErrorAt(data []byte, e *json.SyntaxError) int64 {
	at := max(e.Offset-1, 0)
	msg := e.Error()
	if i := strings.Index(msg, "invalid character '"); i >= 0 && i+19 < len(msg) {
		c := msg[i+19]
		if at < int64(len(data)) && data[at] != c {
			// Past the blanks up to the offending byte.
			for j := e.Offset; j < int64(len(data)); j++ {
				if data[j] == c {
					return j
				}
				if !isJSONSpace(data[j]) {
					break
				}
			}
		}
	}
	return at
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lineColumn converts a byte offset into a 1-based line and column.
func lineColumn(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonTypeName names a Go type the way a config author thinks of it:
// a string-based enum is a "string", a struct is an "object".
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Interface:
		return "value"
	}
	return t.Kind().String()
}

// jsonPathAt returns the JSON path (like process.rlimits[1].soft) of the
// value that ends at byte offset off, or of the object or array whose
// opening delimiter ends there; this is where json.UnmarshalTypeError's
// Offset points. Only run on the error path, so speed does not matter.
func jsonPathAt(data []byte, off int64) (string, bool) {
	type frame struct {
		path    string
		array   bool
		n       int    // arrays: index of the next element
		key     string // objects: key of the next value
		wantKey bool   // objects: the next string token is a key
	}
	var stack []frame
	next := func() string { // path of the value about to be read
		if len(stack) == 0 {
			return ""
		}
		f := &stack[len(stack)-1]
		if f.array {
			return index(f.path, f.n)
		}
		return fieldName(f.path, f.key)
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		if f := &stack[len(stack)-1]; f.array {
			f.n++
		} else {
			f.wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path := next()
			if dec.InputOffset() >= off {
				return path, true
			}
			stack = append(stack, frame{path: path, array: tok == json.Delim('['), wantKey: tok == json.Delim('{')})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			if dec.InputOffset() >= off {
				return next(), true
			}
			valueDone()
		}
	}
}
