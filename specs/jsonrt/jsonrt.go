//go:build goexperiment.jsonv2

// Package jsonrt holds what the code specs/jsongen generates calls. The
// decoders: one function per kind of JSON value, each reading the next
// value into its target as encoding/json would, or returning false to
// leave the whole input to encoding/json (see specs/jsongen for why and
// when). The encoders: Member.
//
// null leaves a scalar or a struct as it is and sets a pointer, slice or
// map to nil, as encoding/json does.
package jsonrt

import (
	"encoding/json"
	"encoding/json/jsontext"
	"strconv"
	"unsafe"
)

// Object reads a JSON object into v, calling field for each member: field
// reads the member's value, or returns false (a name it does not know
// that encoding/json might match, or a bad value).
func Object[T any](d *jsontext.Decoder, v *T, field func(*jsontext.Decoder, *T, string) bool) bool {
	tok, err := d.ReadToken()
	if err != nil {
		return false
	}
	switch tok.Kind() {
	case 'n':
		return true
	case '{':
	default:
		return false
	}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil || !field(d, v, name.String()) {
			return false
		}
	}
	_, err = d.ReadToken()
	return err == nil
}

// Unknown skips the value of a member named none of names, unless
// encoding/json might match it to one of them anyway: it matches names
// without regard to case. Conservative: any non-ASCII byte counts, and
// so do '-' and '_'.
func Unknown(d *jsontext.Decoder, name string, names []string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return false
		}
	}
	key := foldKey(name)
	for _, n := range names {
		if foldKey(n) == key {
			return false
		}
	}
	return d.SkipValue() == nil
}

func foldKey(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == '_':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// Ptr reads a value, or null, into *p.
func Ptr[E any](d *jsontext.Decoder, p **E, elem func(*jsontext.Decoder, *E) bool) bool {
	if d.PeekKind() == 'n' {
		_, err := d.ReadToken()
		*p = nil
		return err == nil
	}
	e := new(E)
	if !elem(d, e) {
		return false
	}
	*p = e
	return true
}

// Slice reads an array into *s: [] makes an empty slice, not nil.
func Slice[E any](d *jsontext.Decoder, s *[]E, elem func(*jsontext.Decoder, *E) bool) bool {
	tok, err := d.ReadToken()
	if err != nil {
		return false
	}
	switch tok.Kind() {
	case 'n':
		*s = nil
		return true
	case '[':
	default:
		return false
	}
	out := []E{}
	for d.PeekKind() != ']' {
		var e E
		if !elem(d, &e) {
			return false
		}
		out = append(out, e)
	}
	if _, err := d.ReadToken(); err != nil {
		return false
	}
	*s = out
	return true
}

// Map reads an object with string keys into *m.
func Map[K ~string, E any](d *jsontext.Decoder, m *map[K]E, elem func(*jsontext.Decoder, *E) bool) bool {
	tok, err := d.ReadToken()
	if err != nil {
		return false
	}
	switch tok.Kind() {
	case 'n':
		*m = nil
		return true
	case '{':
	default:
		return false
	}
	out := map[K]E{}
	for d.PeekKind() != '}' {
		name, err := d.ReadToken()
		if err != nil {
			return false
		}
		k := K(name.String()) // before the value's read voids name
		var e E
		if !elem(d, &e) {
			return false
		}
		out[k] = e
	}
	if _, err := d.ReadToken(); err != nil {
		return false
	}
	*m = out
	return true
}

// next reads one token for a scalar: set when it is of one of the kinds
// given (then the caller sets its target), ok false on a read error or
// another kind; a null is ok and not set (the target stays as it is).
func next(d *jsontext.Decoder, kinds string) (tok jsontext.Token, set, ok bool) {
	tok, err := d.ReadToken()
	if err != nil {
		return tok, false, false
	}
	k := byte(tok.Kind())
	if k == 'n' {
		return tok, false, true
	}
	for i := 0; i < len(kinds); i++ {
		if kinds[i] == k {
			return tok, true, true
		}
	}
	return tok, false, false
}

// String reads a string.
func String[T ~string](d *jsontext.Decoder, v *T) bool {
	tok, set, ok := next(d, `"`)
	if set {
		*v = T(tok.String())
	}
	return ok
}

// Bool reads true or false.
func Bool[T ~bool](d *jsontext.Decoder, v *T) bool {
	tok, set, ok := next(d, "tf")
	if set {
		*v = T(tok.Bool())
	}
	return ok
}

// Int reads an integer that fits T.
func Int[T ~int | ~int8 | ~int16 | ~int32 | ~int64](d *jsontext.Decoder, v *T) bool {
	tok, set, ok := next(d, "0")
	if !set {
		return ok
	}
	n, err := strconv.ParseInt(tok.String(), 10, 64)
	if err != nil || int64(T(n)) != n {
		return false
	}
	*v = T(n)
	return true
}

// Uint reads a non-negative integer that fits T.
func Uint[T ~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64](d *jsontext.Decoder, v *T) bool {
	tok, set, ok := next(d, "0")
	if !set {
		return ok
	}
	n, err := strconv.ParseUint(tok.String(), 10, 64)
	if err != nil || uint64(T(n)) != n {
		return false
	}
	*v = T(n)
	return true
}

// Float reads a number that T holds without overflow.
func Float[T ~float32 | ~float64](d *jsontext.Decoder, v *T) bool {
	tok, set, ok := next(d, "0")
	if !set {
		return ok
	}
	n, err := strconv.ParseFloat(tok.String(), int(8*unsafe.Sizeof(*v)))
	if err != nil {
		return false
	}
	*v = T(n)
	return true
}

// Unmarshaler hands the value's bytes to u's UnmarshalJSON, as
// encoding/json does; null is left to encoding/json.
func Unmarshaler(d *jsontext.Decoder, u json.Unmarshaler) bool {
	raw, err := d.ReadValue()
	return err == nil && raw.Kind() != 'n' && u.UnmarshalJSON(raw) == nil
}

// Fallback hands one value to encoding/json, for the kinds the generated
// code leaves to it (interfaces, byte slices, text unmarshalers): none is
// a struct, so that is cheap.
func Fallback(d *jsontext.Decoder, v any) bool {
	raw, err := d.ReadValue()
	return err == nil && json.Unmarshal(raw, v) == nil
}

// Member appends a struct member's name (quoted, with its colon), after
// a comma unless it is the first (*sep false).
func Member(b []byte, sep *bool, name string) []byte {
	if *sep {
		b = append(b, ',')
	}
	*sep = true
	return append(b, name...)
}
