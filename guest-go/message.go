package guest

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
)

// The helpers of generated message code (bridge gen --go-out): every generated package
// uses these instead of carrying its own copy. They are exported for generated code,
// and usable by hand-written codecs too.

// MaxDepth is how deeply messages may nest in a decoded message (the outermost is 0).
// As in upb (Python's protobuf), a map entry is a level (its value message one more),
// and so is each group, known or unknown: one level deeper than the message or group
// holding it.
const MaxDepth = 100

// ErrDepth is the error of a message or map entry nested more than MaxDepth deep (a
// group's is ErrGroupDepth).
var ErrDepth = errors.New("proto: messages nested more than 100 deep")

// RequiredError is the error of a proto2 message that lacks a required field: when it
// is decoded (the guest answers INVALID_ARGUMENT) or before a reply is encoded (the
// guest answers INTERNAL), as protobuf refuses to parse or serialize such a message.
type RequiredError struct {
	Field string // the field's full name: pkg.Message.field
}

func (e *RequiredError) Error() string {
	return "proto: required field " + e.Field + " not set"
}

// Marshaler is a generated message: it appends its encoding to b.
type Marshaler interface {
	MarshalAppend(b []byte) []byte
}

// AppendMessage appends m length-delimited (a nil *T message encodes as empty).
func AppendMessage(b []byte, m Marshaler) []byte {
	b = append(b, 0)
	start := len(b)
	b = m.MarshalAppend(b)
	return FixLength(b, start)
}

// FixLength writes the length of b[start:] as the varint before it: the caller
// reserved one byte at b[start-1] (a length below 128 fits it), and a longer length
// moves the value up.
func FixLength(b []byte, start int) []byte {
	n := len(b) - start
	size := SizeVarint(uint64(n))
	if size == 1 {
		b[start-1] = byte(n)
		return b
	}
	for i := 1; i < size; i++ {
		b = append(b, 0)
	}
	copy(b[start-1+size:], b[start:start+n])
	AppendVarint(b[:start-1], uint64(n))
	return b
}

// CloneBytes copies a bytes value out of the input, which is only valid during a
// call. The copy of an empty value is empty but not nil (a set proto2 or optional
// bytes field).
func CloneBytes(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// SortedKeys returns m's keys in ascending order, so that maps encode
// deterministically.
func SortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// BoolKeys returns m's keys in ascending order: false, then true.
func BoolKeys[V any](m map[bool]V) []bool {
	keys := make([]bool, 0, 2)
	for _, k := range [2]bool{false, true} {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// FormatEnum is the decimal form of an enum number that has no name.
func FormatEnum(v int32) string {
	return strconv.FormatInt(int64(v), 10)
}
