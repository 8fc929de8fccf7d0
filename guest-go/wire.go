package guest

import (
	"errors"
	"unicode/utf8"
)

// WireType is a protobuf wire type, the low three bits of a field's tag.
type WireType uint8

// The protobuf wire types. 6 and 7 are invalid.
const (
	WireVarint     WireType = 0
	WireFixed64    WireType = 1
	WireBytes      WireType = 2
	WireStartGroup WireType = 3
	WireEndGroup   WireType = 4
	WireFixed32    WireType = 5
)

// MinFieldNumber and MaxFieldNumber bound a valid field number (1 .. 2^29-1).
const (
	MinFieldNumber = 1
	MaxFieldNumber = 536870911
)

// MaxGroupDepth is how deeply groups may nest inside a field that is being skipped
// (ConsumeFieldValueWithin takes another limit).
const MaxGroupDepth = 100

// MaxVarintLen is the longest a varint may be (a uint64 in 7-bit groups).
const MaxVarintLen = 10

// MaxTagLen is the longest a tag or a length prefix may be: the varint of a uint32.
// upb (Python's protobuf) refuses a longer one, even a padded one of small value, and
// so do ConsumeTag and ConsumeBytes; a value's varint may take MaxVarintLen bytes.
const MaxTagLen = 5

// Decoding errors. Every Consume and Skip function returns one of these (or nil),
// never panics, and never reads outside the slice it is given.
var (
	ErrTruncated     = errors.New("proto: unexpected end of input")
	ErrOverflow      = errors.New("proto: varint overflows 64 bits")
	ErrTagTooLong    = errors.New("proto: tag longer than 5 bytes")
	ErrLengthTooLong = errors.New("proto: length prefix longer than 5 bytes")
	ErrLength        = errors.New("proto: length runs past the end of the input")
	ErrWireType      = errors.New("proto: invalid wire type")
	ErrFieldNumber   = errors.New("proto: invalid field number")
	ErrEndGroup      = errors.New("proto: unmatched end group")
	ErrGroupDepth    = errors.New("proto: groups nested too deeply")
	ErrInvalidUTF8   = errors.New("proto: string field contains invalid UTF-8")
)

// ---- encoding ----

// AppendVarint appends v as a base-128 varint (1 to 10 bytes).
func AppendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// SizeVarint is the number of bytes AppendVarint writes for v.
func SizeVarint(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeTag is a field's key: num<<3 | wt.
func EncodeTag(num uint32, wt WireType) uint64 {
	return uint64(num)<<3 | uint64(wt&7)
}

// AppendTag appends a field's key, num<<3 | wt, as a varint. num should be in
// MinFieldNumber..MaxFieldNumber; it is not checked.
func AppendTag(b []byte, num uint32, wt WireType) []byte {
	return AppendVarint(b, EncodeTag(num, wt))
}

// SizeTag is the number of bytes AppendTag writes for field num.
func SizeTag(num uint32) int {
	return SizeVarint(EncodeTag(num, 0))
}

// EncodeZigzag maps a signed integer to an unsigned one so small magnitudes stay
// small (0, -1, 1, -2 -> 0, 1, 2, 3): the sint32/sint64 encoding.
func EncodeZigzag(v int64) uint64 {
	return uint64(v<<1) ^ uint64(v>>63)
}

// DecodeZigzag is the inverse of EncodeZigzag (sint64).
func DecodeZigzag(v uint64) int64 {
	return int64(v>>1) ^ -int64(v&1)
}

// DecodeZigzag32 decodes a sint32 from its varint value: the low 32 bits, zigzag-decoded.
func DecodeZigzag32(v uint64) int32 {
	u := uint32(v)
	return int32(u>>1) ^ -int32(u&1)
}

// AppendZigzag32 appends a sint32 value (zigzag, then varint).
func AppendZigzag32(b []byte, v int32) []byte {
	return AppendVarint(b, uint64(uint32(v<<1)^uint32(v>>31)))
}

// AppendZigzag64 appends a sint64 value (zigzag, then varint).
func AppendZigzag64(b []byte, v int64) []byte {
	return AppendVarint(b, EncodeZigzag(v))
}

// AppendInt32 appends an int32 value: negative values are sign-extended to 64 bits
// and so take 10 bytes, as protobuf requires.
func AppendInt32(b []byte, v int32) []byte {
	return AppendVarint(b, uint64(int64(v)))
}

// AppendInt64 appends an int64 value (negative values take 10 bytes).
func AppendInt64(b []byte, v int64) []byte {
	return AppendVarint(b, uint64(v))
}

// AppendBool appends a bool as a varint 0 or 1.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendFixed32 appends v as 4 little-endian bytes (fixed32, sfixed32, float bits).
func AppendFixed32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// AppendFixed64 appends v as 8 little-endian bytes (fixed64, sfixed64, double bits).
func AppendFixed64(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24),
		byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// AppendBytes appends v length-delimited: its length as a varint, then its bytes.
func AppendBytes(b []byte, v []byte) []byte {
	b = AppendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// AppendString appends v length-delimited, like AppendBytes.
func AppendString(b []byte, v string) []byte {
	b = AppendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// SizeBytes is the number of bytes AppendBytes writes for a value of length n.
func SizeBytes(n int) int {
	return SizeVarint(uint64(n)) + n
}

// ---- decoding ----

// ConsumeVarint reads a varint from the start of b and returns its value and how
// many bytes it took. It fails with ErrTruncated when b ends inside the varint and
// with ErrOverflow when the varint is longer than 10 bytes or its 10th byte carries
// more than the one bit left of a uint64. Non-minimal encodings (0x80 0x00) are
// accepted, as protobuf parsers do.
func ConsumeVarint(b []byte) (v uint64, n int, err error) {
	for i := 0; i < MaxVarintLen; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		if i == MaxVarintLen-1 && c > 1 {
			return 0, 0, ErrOverflow
		}
		v |= uint64(c&0x7F) << (7 * uint(i))
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, ErrOverflow
}

// consumeShort reads the varint of a tag or a length prefix, of MaxTagLen bytes at
// most: a longer one fails with tooLong, wherever its value would fit.
func consumeShort(b []byte, tooLong error) (v uint64, n int, err error) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1, nil // the common case: one byte
	}
	for i := 0; i < MaxTagLen; i++ {
		if i >= len(b) {
			return 0, 0, ErrTruncated
		}
		c := b[i]
		v |= uint64(c&0x7F) << (7 * uint(i))
		if c < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, tooLong
}

// ConsumeTag reads a field key and returns its field number and wire type. It fails
// with ErrTruncated when b ends inside the key, with ErrTagTooLong when the key takes
// more than MaxTagLen bytes (as upb does, even when padded: 0x88 0x80 0x80 0x80 0x80
// 0x00 is field 1), and on a field number of 0 or above MaxFieldNumber and wire types
// 6 and 7.
func ConsumeTag(b []byte) (num uint32, wt WireType, n int, err error) {
	v, n, err := consumeShort(b, ErrTagTooLong)
	if err != nil {
		return 0, 0, 0, err
	}
	if v>>3 < MinFieldNumber || v>>3 > MaxFieldNumber {
		return 0, 0, 0, ErrFieldNumber
	}
	wt = WireType(v & 7)
	if wt > WireFixed32 {
		return 0, 0, 0, ErrWireType
	}
	return uint32(v >> 3), wt, n, nil
}

// ConsumeFixed32 reads 4 little-endian bytes.
func ConsumeFixed32(b []byte) (v uint32, n int, err error) {
	if len(b) < 4 {
		return 0, 0, ErrTruncated
	}
	v = uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	return v, 4, nil
}

// ConsumeFixed64 reads 8 little-endian bytes.
func ConsumeFixed64(b []byte) (v uint64, n int, err error) {
	if len(b) < 8 {
		return 0, 0, ErrTruncated
	}
	v = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	return v, 8, nil
}

// ConsumeBytes reads a length-delimited value and returns it as a sub-slice of b (no
// copy: it aliases b). It fails with ErrLengthTooLong when the length prefix takes
// more than MaxTagLen bytes (as upb does, even when padded) and with ErrLength when
// the length runs past the end of b.
func ConsumeBytes(b []byte) (v []byte, n int, err error) {
	length, n, err := consumeShort(b, ErrLengthTooLong)
	if err != nil {
		return nil, 0, err
	}
	if length > uint64(len(b)-n) {
		return nil, 0, ErrLength
	}
	end := n + int(length)
	return b[n:end:end], end, nil
}

// ConsumeString reads a length-delimited value as a string (a copy). It fails with
// ErrInvalidUTF8 when the bytes are not valid UTF-8, as proto3 string fields must be.
func ConsumeString(b []byte) (v string, n int, err error) {
	raw, n, err := ConsumeBytes(b)
	if err != nil {
		return "", 0, err
	}
	if !utf8.Valid(raw) {
		return "", 0, ErrInvalidUTF8
	}
	return string(raw), n, nil
}

// SkipField returns how many bytes the value of a field with wire type wt takes at
// the start of b (b starts just after the field's tag). A group (WireStartGroup) is
// skipped through its matching end-group tag, nesting at most MaxGroupDepth deep; the
// numbers of nested groups are checked against their end tags, but the outermost
// group's number is unknown here: use ConsumeFieldValue to check it too. A stray
// WireEndGroup fails with ErrEndGroup.
func SkipField(b []byte, wt WireType) (n int, err error) {
	return skipValue(b, 0, wt, MaxGroupDepth)
}

// ConsumeFieldValue is SkipField for a field whose number is known: a group must end
// with an end-group tag of the same number. Unknown fields are skipped with it.
func ConsumeFieldValue(b []byte, num uint32, wt WireType) (n int, err error) {
	return skipValue(b, num, wt, MaxGroupDepth)
}

// ConsumeFieldValueWithin is ConsumeFieldValue with groups nesting at most levels deep
// (0: no group at all) instead of MaxGroupDepth. upb counts a group as one level
// deeper than the message or group that holds it, toward the one limit of message
// nesting: a decoder that does the same passes the levels its limit leaves below the
// message being decoded (limit - depth).
func ConsumeFieldValueWithin(b []byte, num uint32, wt WireType, levels int) (n int, err error) {
	return skipValue(b, num, wt, levels)
}

// ConsumeField reads a whole field, its tag and value, and returns its number, wire
// type and length. It is a convenience for skipping fields one after another.
func ConsumeField(b []byte) (num uint32, wt WireType, n int, err error) {
	num, wt, n, err = ConsumeTag(b)
	if err != nil {
		return 0, 0, 0, err
	}
	m, err := skipValue(b[n:], num, wt, MaxGroupDepth)
	if err != nil {
		return 0, 0, 0, err
	}
	return num, wt, n + m, nil
}

// skipValue skips one field value; num 0 means "the group's number is not known".
// Groups may nest levels deep.
func skipValue(b []byte, num uint32, wt WireType, levels int) (int, error) {
	switch wt {
	case WireVarint:
		_, n, err := ConsumeVarint(b)
		return n, err
	case WireFixed32:
		_, n, err := ConsumeFixed32(b)
		return n, err
	case WireFixed64:
		_, n, err := ConsumeFixed64(b)
		return n, err
	case WireBytes:
		_, n, err := ConsumeBytes(b)
		return n, err
	case WireStartGroup:
		if levels <= 0 {
			return 0, ErrGroupDepth
		}
		n := 0
		for {
			if n >= len(b) {
				return 0, ErrTruncated
			}
			inner, iwt, m, err := ConsumeTag(b[n:])
			if err != nil {
				return 0, err
			}
			n += m
			if iwt == WireEndGroup {
				if num != 0 && inner != num {
					return 0, ErrEndGroup
				}
				return n, nil
			}
			m, err = skipValue(b[n:], inner, iwt, levels-1)
			if err != nil {
				return 0, err
			}
			n += m
		}
	case WireEndGroup:
		return 0, ErrEndGroup
	default:
		return 0, ErrWireType
	}
}
