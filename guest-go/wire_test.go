package guest

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var varintTests = []struct {
	v    uint64
	wire []byte
}{
	{0, []byte{0x00}},
	{1, []byte{0x01}},
	{127, []byte{0x7F}},
	{128, []byte{0x80, 0x01}},
	{300, []byte{0xAC, 0x02}},
	{16383, []byte{0xFF, 0x7F}},
	{16384, []byte{0x80, 0x80, 0x01}},
	{math.MaxUint32, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}},
	{1 << 63, cat(rep(0x80, 9), []byte{0x01})},
	{math.MaxUint64, cat(rep(0xFF, 9), []byte{0x01})},
}

func TestVarint(t *testing.T) {
	for _, tt := range varintTests {
		got := AppendVarint(nil, tt.v)
		if !bytes.Equal(got, tt.wire) {
			t.Errorf("AppendVarint(%d) = % x, want % x", tt.v, got, tt.wire)
		}
		if SizeVarint(tt.v) != len(tt.wire) {
			t.Errorf("SizeVarint(%d) = %d, want %d", tt.v, SizeVarint(tt.v), len(tt.wire))
		}
		v, n, err := ConsumeVarint(append(tt.wire, 0xAA, 0xBB)) // trailing bytes are not read
		if err != nil || v != tt.v || n != len(tt.wire) {
			t.Errorf("ConsumeVarint(% x) = %d, %d, %v", tt.wire, v, n, err)
		}
	}
}

func TestVarintAppends(t *testing.T) {
	got := AppendVarint([]byte{0xEE}, 300)
	if !bytes.Equal(got, []byte{0xEE, 0xAC, 0x02}) {
		t.Errorf("AppendVarint does not append: % x", got)
	}
}

func TestSignedVarints(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"int32 -1", AppendInt32(nil, -1), cat(rep(0xFF, 9), []byte{0x01})},
		{"int32 min", AppendInt32(nil, math.MinInt32), []byte{0x80, 0x80, 0x80, 0x80, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}},
		{"int32 max", AppendInt32(nil, math.MaxInt32), []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x07}},
		{"int64 -1", AppendInt64(nil, -1), cat(rep(0xFF, 9), []byte{0x01})},
		{"int64 -2", AppendInt64(nil, -2), cat([]byte{0xFE}, rep(0xFF, 8), []byte{0x01})},
		{"int64 min", AppendInt64(nil, math.MinInt64), cat(rep(0x80, 9), []byte{0x01})},
		{"int64 300", AppendInt64(nil, 300), []byte{0xAC, 0x02}},
		{"bool true", AppendBool(nil, true), []byte{0x01}},
		{"bool false", AppendBool(nil, false), []byte{0x00}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s = % x, want % x", tt.name, tt.got, tt.want)
		}
	}
	// A negative int32 decodes back through int32(v).
	v, n, err := ConsumeVarint(AppendInt32(nil, -5))
	if err != nil || n != 10 || int32(v) != -5 || int64(v) != -5 {
		t.Errorf("negative int32 round trip: %d %d %v", v, n, err)
	}
}

func TestZigzag(t *testing.T) {
	tests := []struct {
		v int64
		z uint64
	}{
		{0, 0}, {-1, 1}, {1, 2}, {-2, 3}, {2, 4},
		{2147483647, 4294967294}, {-2147483648, 4294967295},
		{math.MaxInt64, math.MaxUint64 - 1}, {math.MinInt64, math.MaxUint64},
	}
	for _, tt := range tests {
		if got := EncodeZigzag(tt.v); got != tt.z {
			t.Errorf("EncodeZigzag(%d) = %d, want %d", tt.v, got, tt.z)
		}
		if got := DecodeZigzag(tt.z); got != tt.v {
			t.Errorf("DecodeZigzag(%d) = %d, want %d", tt.z, got, tt.v)
		}
		if !bytes.Equal(AppendZigzag64(nil, tt.v), AppendVarint(nil, tt.z)) {
			t.Errorf("AppendZigzag64(%d)", tt.v)
		}
		if tt.v >= math.MinInt32 && tt.v <= math.MaxInt32 {
			if !bytes.Equal(AppendZigzag32(nil, int32(tt.v)), AppendVarint(nil, tt.z)) {
				t.Errorf("AppendZigzag32(%d) = % x", tt.v, AppendZigzag32(nil, int32(tt.v)))
			}
			if got := DecodeZigzag32(tt.z); got != int32(tt.v) {
				t.Errorf("DecodeZigzag32(%d) = %d", tt.z, got)
			}
		}
	}
	// sint32 takes the low 32 bits of the varint, as protobuf does.
	if got := DecodeZigzag32(1<<32 | 3); got != -2 {
		t.Errorf("DecodeZigzag32 does not truncate to 32 bits: %d", got)
	}
	if got := AppendZigzag32(nil, math.MinInt32); !bytes.Equal(got, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F}) {
		t.Errorf("AppendZigzag32(min) = % x", got)
	}
}

func TestFixed(t *testing.T) {
	b32 := AppendFixed32(nil, 0x01020304)
	if !bytes.Equal(b32, []byte{0x04, 0x03, 0x02, 0x01}) {
		t.Errorf("AppendFixed32 = % x", b32)
	}
	b64 := AppendFixed64(nil, 0x0102030405060708)
	if !bytes.Equal(b64, []byte{0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}) {
		t.Errorf("AppendFixed64 = % x", b64)
	}
	if v, n, err := ConsumeFixed32(append(b32, 0xFF)); v != 0x01020304 || n != 4 || err != nil {
		t.Errorf("ConsumeFixed32 = %#x %d %v", v, n, err)
	}
	if v, n, err := ConsumeFixed64(append(b64, 0xFF)); v != 0x0102030405060708 || n != 8 || err != nil {
		t.Errorf("ConsumeFixed64 = %#x %d %v", v, n, err)
	}
	// float bits: 1.5f = 0x3FC00000, 1.5 = 0x3FF8000000000000
	if got := AppendFixed32(nil, math.Float32bits(1.5)); !bytes.Equal(got, []byte{0x00, 0x00, 0xC0, 0x3F}) {
		t.Errorf("float 1.5 = % x", got)
	}
	if got := AppendFixed64(nil, math.Float64bits(1.5)); !bytes.Equal(got, []byte{0, 0, 0, 0, 0, 0, 0xF8, 0x3F}) {
		t.Errorf("double 1.5 = % x", got)
	}
	for i := 0; i < 4; i++ {
		if _, _, err := ConsumeFixed32(b32[:i]); err != ErrTruncated {
			t.Errorf("ConsumeFixed32 of %d bytes: %v", i, err)
		}
	}
	for i := 0; i < 8; i++ {
		if _, _, err := ConsumeFixed64(b64[:i]); err != ErrTruncated {
			t.Errorf("ConsumeFixed64 of %d bytes: %v", i, err)
		}
	}
}

func TestTag(t *testing.T) {
	tests := []struct {
		num  uint32
		wt   WireType
		wire []byte
	}{
		{1, WireVarint, []byte{0x08}},
		{1, WireBytes, []byte{0x0A}},
		{2, WireBytes, []byte{0x12}},
		{6, WireBytes, []byte{0x32}},
		{1, WireFixed64, []byte{0x09}},
		{1, WireFixed32, []byte{0x0D}},
		{3, WireStartGroup, []byte{0x1B}},
		{3, WireEndGroup, []byte{0x1C}},
		{15, WireVarint, []byte{0x78}},
		{16, WireVarint, []byte{0x80, 0x01}},
		{MaxFieldNumber, WireFixed32, []byte{0xFD, 0xFF, 0xFF, 0xFF, 0x0F}},
	}
	for _, tt := range tests {
		got := AppendTag(nil, tt.num, tt.wt)
		if !bytes.Equal(got, tt.wire) {
			t.Errorf("AppendTag(%d, %d) = % x, want % x", tt.num, tt.wt, got, tt.wire)
		}
		if SizeTag(tt.num) != len(tt.wire) {
			t.Errorf("SizeTag(%d) = %d", tt.num, SizeTag(tt.num))
		}
		num, wt, n, err := ConsumeTag(tt.wire)
		if err != nil || num != tt.num || wt != tt.wt || n != len(tt.wire) {
			t.Errorf("ConsumeTag(% x) = %d %d %d %v", tt.wire, num, wt, n, err)
		}
	}
}

func TestBytesAndString(t *testing.T) {
	if got := AppendBytes(nil, nil); !bytes.Equal(got, []byte{0x00}) {
		t.Errorf("AppendBytes(nil) = % x", got)
	}
	if got := AppendString(nil, "testing"); !bytes.Equal(got, []byte{0x07, 't', 'e', 's', 't', 'i', 'n', 'g'}) {
		t.Errorf("AppendString = % x", got)
	}
	long := rep('x', 300)
	got := AppendBytes(nil, long)
	if !bytes.Equal(got[:2], []byte{0xAC, 0x02}) || len(got) != 302 || SizeBytes(300) != 302 {
		t.Errorf("AppendBytes(300 bytes) header = % x", got[:2])
	}
	v, n, err := ConsumeBytes(append(got, 0x99))
	if err != nil || n != 302 || !bytes.Equal(v, long) {
		t.Errorf("ConsumeBytes = %d %v", n, err)
	}
	if cap(v) != len(v) {
		t.Error("ConsumeBytes must cap the sub-slice so appending to it cannot overwrite the input")
	}
	s, n, err := ConsumeString([]byte{0x03, 0xC3, 0xA9, 'a', 'z'})
	if err != nil || n != 4 || s != "éa" {
		t.Errorf("ConsumeString = %q %d %v", s, n, err)
	}
	if v, n, err := ConsumeBytes([]byte{0x00}); err != nil || n != 1 || len(v) != 0 {
		t.Errorf("ConsumeBytes(empty) = %v %d %v", v, n, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	type consumer func([]byte) error
	varint := func(b []byte) error { _, _, err := ConsumeVarint(b); return err }
	tag := func(b []byte) error { _, _, _, err := ConsumeTag(b); return err }
	bytes_ := func(b []byte) error { _, _, err := ConsumeBytes(b); return err }
	str := func(b []byte) error { _, _, err := ConsumeString(b); return err }
	skip := func(wt WireType) consumer {
		return func(b []byte) error { _, err := SkipField(b, wt); return err }
	}
	skipNum := func(num uint32, wt WireType) consumer {
		return func(b []byte) error { _, err := ConsumeFieldValue(b, num, wt); return err }
	}
	field := func(b []byte) error { _, _, _, err := ConsumeField(b); return err }

	deep := cat(bytes.Repeat([]byte{0x0B}, MaxGroupDepth+1), bytes.Repeat([]byte{0x0C}, MaxGroupDepth+1))
	okDeep := cat(bytes.Repeat([]byte{0x0B}, MaxGroupDepth-1), bytes.Repeat([]byte{0x0C}, MaxGroupDepth))

	tests := []struct {
		name string
		fn   consumer
		in   []byte
		want error
	}{
		{"varint empty", varint, nil, ErrTruncated},
		{"varint continuation at end", varint, []byte{0x80}, ErrTruncated},
		{"varint 9 continuation bytes", varint, rep(0xFF, 9), ErrTruncated},
		{"varint 10th byte 2", varint, cat(rep(0xFF, 9), []byte{0x02}), ErrOverflow},
		{"varint 10th byte 0x7F", varint, cat(rep(0x80, 9), []byte{0x7F}), ErrOverflow},
		{"varint 11 bytes", varint, cat(rep(0x80, 10), []byte{0x00}), ErrOverflow},
		{"varint 10 padded bytes ok", varint, cat(rep(0x80, 9), []byte{0x00}), nil},
		{"tag empty", tag, nil, ErrTruncated},
		{"tag truncated", tag, []byte{0x80}, ErrTruncated},
		{"tag overlong", tag, rep(0xFF, 11), ErrTagTooLong},
		{"tag of 6 bytes", tag, []byte{0x98, 0x86, 0x80, 0x80, 0x80, 0x00, 0x01}, ErrTagTooLong},
		{"tag padded to 10 bytes", tag, cat([]byte{0x88}, rep(0x80, 8), []byte{0x00}), ErrTagTooLong},
		{"tag of 5 continuation bytes at the end", tag, rep(0x80, 5), ErrTagTooLong},
		{"tag truncated in 4 bytes", tag, rep(0x80, 4), ErrTruncated},
		{"tag field 0", tag, []byte{0x00}, ErrFieldNumber},
		{"tag field 0 bytes", tag, []byte{0x02}, ErrFieldNumber},
		{"tag field 2^29", tag, []byte{0x80, 0x80, 0x80, 0x80, 0x10}, ErrFieldNumber},
		{"tag field 2^32 >> 3", tag, []byte{0x80, 0x80, 0x80, 0x80, 0x7F}, ErrFieldNumber},
		{"tag field huge", tag, cat(rep(0xFF, 9), []byte{0x01}), ErrTagTooLong},
		{"tag wire type 6", tag, []byte{0x0E}, ErrWireType},
		{"tag wire type 7", tag, []byte{0x0F}, ErrWireType},
		{"bytes empty", bytes_, nil, ErrTruncated},
		{"bytes length truncated", bytes_, []byte{0x80}, ErrTruncated},
		{"bytes past end", bytes_, []byte{0x03, 'a', 'b'}, ErrLength},
		{"bytes length 2^32-1", bytes_, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 'a'}, ErrLength},
		{"bytes length max uint64", bytes_, cat(rep(0xFF, 9), []byte{0x01}), ErrLengthTooLong},
		{"bytes length of 6 bytes", bytes_, []byte{0x82, 0x80, 0x80, 0x80, 0x80, 0x00, 'a', 'b'}, ErrLengthTooLong},
		{"bytes length truncated in 4 bytes", bytes_, rep(0x80, 4), ErrTruncated},
		{"string length of 6 bytes", str, []byte{0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'a'}, ErrLengthTooLong},
		{"string invalid utf8", str, []byte{0x02, 0xC3, 0x28}, ErrInvalidUTF8},
		{"string surrogate", str, []byte{0x03, 0xED, 0xA0, 0x80}, ErrInvalidUTF8},
		{"string past end", str, []byte{0x05, 'a'}, ErrLength},
		{"skip varint truncated", skip(WireVarint), []byte{0xFF}, ErrTruncated},
		{"skip fixed32 truncated", skip(WireFixed32), []byte{1, 2, 3}, ErrTruncated},
		{"skip fixed64 truncated", skip(WireFixed64), []byte{1, 2, 3, 4, 5, 6, 7}, ErrTruncated},
		{"skip bytes past end", skip(WireBytes), []byte{0x02, 0x00}, ErrLength},
		{"skip end group", skip(WireEndGroup), []byte{}, ErrEndGroup},
		{"skip wire type 6", skip(6), []byte{0x00}, ErrWireType},
		{"skip wire type 7", skip(7), []byte{0x00}, ErrWireType},
		{"skip group unterminated", skip(WireStartGroup), []byte{0x08, 0x01}, ErrTruncated},
		{"skip group empty input", skip(WireStartGroup), nil, ErrTruncated},
		{"skip group bad inner", skip(WireStartGroup), []byte{0x0A, 0x05}, ErrLength},
		{"skip group inner field 0", skip(WireStartGroup), []byte{0x00}, ErrFieldNumber},
		{"skip group nested mismatch", skip(WireStartGroup), []byte{0x13, 0x1C, 0x0C}, ErrEndGroup},
		{"skip group too deep", skip(WireStartGroup), deep, ErrGroupDepth},
		{"skip group at depth limit", skip(WireStartGroup), okDeep, nil},
		{"skip group, 6-byte inner tag", skip(WireStartGroup), []byte{0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x0C}, ErrTagTooLong},
		{"skip group, 6-byte inner length", skip(WireStartGroup), []byte{0x0A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0C}, ErrLengthTooLong},
		{"skip bytes, 6-byte length", skip(WireBytes), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrLengthTooLong},
		{"group number mismatch", skipNum(1, WireStartGroup), []byte{0x14}, ErrEndGroup},
		{"group number match", skipNum(2, WireStartGroup), []byte{0x08, 0x01, 0x14}, nil},
		{"field end group at top", field, []byte{0x0C}, ErrEndGroup},
		{"field truncated value", field, []byte{0x08}, ErrTruncated},
		{"field bad tag", field, []byte{0x0F, 0x00}, ErrWireType},
	}
	for _, tt := range tests {
		err := tt.fn(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
}

// ConsumeFieldValueWithin counts the group being skipped and each one inside it as a
// level, against its own limit.
func TestConsumeFieldValueWithin(t *testing.T) {
	// groups(g): the value of field 1 as g nested groups, the outermost's start tag
	// already read (as a decoder reads it before skipping).
	groups := func(g int) []byte {
		return cat(bytes.Repeat([]byte{0x0B}, g-1), bytes.Repeat([]byte{0x0C}, g))
	}
	tests := []struct {
		groups, levels int
		want           error
	}{
		{1, 0, ErrGroupDepth},
		{1, 1, nil},
		{2, 1, ErrGroupDepth},
		{2, 2, nil},
		{50, 50, nil},
		{51, 50, ErrGroupDepth},
		{MaxGroupDepth, MaxGroupDepth, nil},
		{MaxGroupDepth + 1, MaxGroupDepth, ErrGroupDepth},
		{3, -1, ErrGroupDepth},
	}
	for _, tt := range tests {
		in := groups(tt.groups)
		n, err := ConsumeFieldValueWithin(in, 1, WireStartGroup, tt.levels)
		if !errors.Is(err, tt.want) || (err == nil && n != len(in)) {
			t.Errorf("%d groups within %d levels: %d, %v; want %v", tt.groups, tt.levels, n, err, tt.want)
		}
	}
	// Other wire types need no level.
	for _, in := range []struct {
		wt WireType
		b  []byte
	}{{WireVarint, []byte{0x01}}, {WireBytes, []byte{0x01, 'a'}}, {WireFixed32, []byte{1, 2, 3, 4}}} {
		if n, err := ConsumeFieldValueWithin(in.b, 1, in.wt, 0); err != nil || n != len(in.b) {
			t.Errorf("wire type %d within 0 levels: %d, %v", in.wt, n, err)
		}
	}
	// ConsumeFieldValue is ConsumeFieldValueWithin(MaxGroupDepth).
	if _, err := ConsumeFieldValue(groups(MaxGroupDepth+1), 1, WireStartGroup); err != ErrGroupDepth {
		t.Errorf("ConsumeFieldValue of %d groups: %v", MaxGroupDepth+1, err)
	}
}

// The errors of tags and lengths over 5 bytes name the cause, not an overflow.
func TestLongPrefixErrorText(t *testing.T) {
	if ErrTagTooLong.Error() != "proto: tag longer than 5 bytes" {
		t.Errorf("ErrTagTooLong = %q", ErrTagTooLong)
	}
	if ErrLengthTooLong.Error() != "proto: length prefix longer than 5 bytes" {
		t.Errorf("ErrLengthTooLong = %q", ErrLengthTooLong)
	}
}

func TestSkipField(t *testing.T) {
	tests := []struct {
		name string
		wt   WireType
		in   []byte
		n    int
	}{
		{"varint", WireVarint, []byte{0xAC, 0x02, 0x99}, 2},
		{"fixed32", WireFixed32, []byte{1, 2, 3, 4, 5}, 4},
		{"fixed64", WireFixed64, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, 8},
		{"bytes", WireBytes, []byte{0x02, 'h', 'i', 0x08}, 3},
		{"empty group", WireStartGroup, []byte{0x0C, 0x08}, 1},
		// group { 1: varint 150, 2: "hi", 3: group { 4: fixed32 } } end(1)
		{"group", WireStartGroup, cat(
			[]byte{0x08, 0x96, 0x01},
			[]byte{0x12, 0x02, 'h', 'i'},
			[]byte{0x1B, 0x25, 1, 2, 3, 4, 0x1C},
			[]byte{0x0C, 0xFF}), 15},
	}
	for _, tt := range tests {
		n, err := SkipField(tt.in, tt.wt)
		if err != nil || n != tt.n {
			t.Errorf("SkipField(%s) = %d, %v; want %d", tt.name, n, err, tt.n)
		}
	}
}

func TestConsumeFieldWalk(t *testing.T) {
	// A QuoteRequest-like message with an unknown group and an unknown fixed64 field.
	msg := cat(
		[]byte{0x0A, 0x03, 'a', 'b', 'c'},    // 1: "abc"
		[]byte{0x3B, 0x08, 0x01, 0x3C},       // 7: group { 1: 1 }
		[]byte{0x10, 0x0A},                   // 2: 10
		[]byte{0x41, 1, 2, 3, 4, 5, 6, 7, 8}, // 8: fixed64
	)
	var nums []uint32
	for b := msg; len(b) > 0; {
		num, _, n, err := ConsumeField(b)
		if err != nil {
			t.Fatalf("ConsumeField: %v", err)
		}
		nums = append(nums, num)
		b = b[n:]
	}
	if len(nums) != 4 || nums[0] != 1 || nums[1] != 7 || nums[2] != 2 || nums[3] != 8 {
		t.Errorf("fields = %v", nums)
	}
}

// FuzzConsumeField walks arbitrary input field by field: the decoder must never
// panic, always make progress, never report more bytes than it was given, and agree
// with itself when a value is re-encoded.
func FuzzConsumeField(f *testing.F) {
	seeds := [][]byte{
		nil,
		{0x08, 0x96, 0x01},
		{0x0A, 0x03, 'a', 'b', 'c', 0x10, 0x0A, 0x18, 0x32, 0x22, 0x03, 'E', 'U', 'R'},
		{0x0B, 0x08, 0x01, 0x0C},
		{0x0B, 0x13, 0x1C, 0x0C},
		{0x0C},
		{0x0F},
		{0x00},
		{0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F},
		cat(rep(0xFF, 10), []byte{0x01}),
		cat([]byte{0x08}, rep(0xFF, 9), []byte{0x01}),
		{0x0D, 1, 2, 3},
		{0x09, 1, 2, 3, 4, 5, 6, 7},
		bytes.Repeat([]byte{0x0B}, 200),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for b := data; len(b) > 0; {
			num, wt, n, err := ConsumeField(b)
			if err != nil {
				if n != 0 {
					t.Fatalf("error %v with n = %d", err, n)
				}
				break
			}
			if n <= 0 || n > len(b) {
				t.Fatalf("ConsumeField consumed %d of %d bytes", n, len(b))
			}
			if num < MinFieldNumber || num > MaxFieldNumber || wt > WireFixed32 || wt == WireEndGroup {
				t.Fatalf("ConsumeField returned field %d wire type %d", num, wt)
			}
			_, _, tn, _ := ConsumeTag(b)
			if tn > MaxTagLen {
				t.Fatalf("ConsumeTag read a tag of %d bytes", tn)
			}
			if m, err := ConsumeFieldValue(b[tn:], num, wt); err != nil || tn+m != n {
				t.Fatalf("ConsumeFieldValue disagrees: %d+%d != %d (%v)", tn, m, n, err)
			}
			b = b[n:]
		}
	})
}

// FuzzConsumeVarint checks ConsumeVarint against AppendVarint on arbitrary input.
func FuzzConsumeVarint(f *testing.F) {
	for _, tt := range varintTests {
		f.Add(tt.wire)
	}
	f.Add(cat(rep(0xFF, 9), []byte{0x02}))
	f.Add(rep(0x80, 12))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := ConsumeVarint(data)
		if err != nil {
			if n != 0 || v != 0 {
				t.Fatalf("error %v with v = %d, n = %d", err, v, n)
			}
			return
		}
		if n < 1 || n > MaxVarintLen || n > len(data) {
			t.Fatalf("n = %d for % x", n, data)
		}
		canon := AppendVarint(nil, v)
		if len(canon) > n {
			t.Fatalf("canonical encoding of %d is longer than the input's", v)
		}
		if v2, n2, err := ConsumeVarint(canon); err != nil || v2 != v || n2 != len(canon) {
			t.Fatalf("round trip of %d failed", v)
		}
		// The same bytes as a length-delimited value never reach past the end.
		if bv, bn, err := ConsumeBytes(data); err == nil && (bn > len(data) || len(bv) > len(data)) {
			t.Fatal("ConsumeBytes reached past the end")
		} else if err == nil && bn-len(bv) > MaxTagLen {
			t.Fatalf("ConsumeBytes read a length prefix of %d bytes", bn-len(bv))
		}
		// A length prefix is too long exactly when its first MaxTagLen bytes all continue.
		long := len(data) >= MaxTagLen
		for _, c := range data[:min(len(data), MaxTagLen)] {
			long = long && c >= 0x80
		}
		if _, _, err := ConsumeBytes(data); (err == ErrLengthTooLong) != long {
			t.Fatalf("ConsumeBytes(% x): %v", data, err)
		}
	})
}
