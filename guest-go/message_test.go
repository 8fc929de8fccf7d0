package guest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// raw is a Marshaler of fixed bytes.
type raw []byte

func (r raw) MarshalAppend(b []byte) []byte { return append(b, r...) }

func TestAppendMessageLengths(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 1 << 21} {
		body := rep(0xAB, n)
		got := AppendMessage([]byte{0x0A}, raw(body))
		want := AppendBytes([]byte{0x0A}, body)
		if !bytes.Equal(got, want) {
			t.Fatalf("length %d: the prefix or the moved body is wrong", n)
		}
	}
}

func TestFixLengthNested(t *testing.T) {
	// A message of 200 bytes inside one of 1 + 2 + 200: both prefixes grow.
	b := append([]byte{}, 0)
	outer := len(b)
	b = append(b, 0x0A, 0)
	inner := len(b)
	b = append(b, rep(1, 200)...)
	b = FixLength(b, inner)
	b = FixLength(b, outer)
	want := AppendBytes(nil, AppendBytes([]byte{0x0A}, rep(1, 200)))
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x", b[:8])
	}
}

func TestCloneBytes(t *testing.T) {
	in := []byte{1, 2, 3}
	out := CloneBytes(in)
	in[0] = 9
	if !bytes.Equal(out, []byte{1, 2, 3}) {
		t.Fatal("the copy aliases its input")
	}
	if empty := CloneBytes(nil); empty == nil || len(empty) != 0 {
		t.Fatal("an empty copy must be empty and not nil: a set bytes field")
	}
}

func TestSortedKeys(t *testing.T) {
	ints := map[int32]string{5: "", -1: "", 0: "", -1 << 31: "", 1<<31 - 1: ""}
	if got := fmt.Sprint(SortedKeys(ints)); got != "[-2147483648 -1 0 5 2147483647]" {
		t.Fatal(got)
	}
	u := map[uint64]bool{1 << 63: true, 0: true, 7: true}
	if got := fmt.Sprint(SortedKeys(u)); got != "[0 7 9223372036854775808]" {
		t.Fatal(got)
	}
	s := map[string]int{"b": 0, "": 0, "a": 0, "ab": 0, "\xff": 0, "é": 0}
	if got := fmt.Sprintf("%q", SortedKeys(s)); got != `["" "a" "ab" "b" "é" "\xff"]` {
		t.Fatal(got) // byte order, as protobuf's deterministic output
	}
	if got := SortedKeys(map[string]int(nil)); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestBoolKeys(t *testing.T) {
	if got := fmt.Sprint(BoolKeys(map[bool]int{true: 1, false: 0})); got != "[false true]" {
		t.Fatal(got)
	}
	if got := fmt.Sprint(BoolKeys(map[bool]int{true: 1})); got != "[true]" {
		t.Fatal(got)
	}
}

func TestFormatEnum(t *testing.T) {
	for v, want := range map[int32]string{0: "0", 7: "7", -1: "-1", -1 << 31: "-2147483648"} {
		if got := FormatEnum(v); got != want {
			t.Fatalf("%d: %q", v, got)
		}
	}
}

func TestRequiredError(t *testing.T) {
	var err error = &RequiredError{Field: "p.M.f"}
	if err.Error() != "proto: required field p.M.f not set" {
		t.Fatal(err)
	}
	var re *RequiredError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &re) || re.Field != "p.M.f" {
		t.Fatal("errors.As does not find the field")
	}
	if ErrDepth.Error() != "proto: messages nested more than 100 deep" {
		t.Fatal(ErrDepth)
	}
}
