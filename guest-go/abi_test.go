package guest

import "testing"

func TestPack(t *testing.T) {
	tests := []struct {
		ptr, length       uint32
		borrowed, isError bool
		want              uint64
	}{
		{0, 0, false, false, 0},
		{0x10, 3, false, true, 0x8000000300000010},
		{0x10, 3, true, false, 0x4000000300000010},
		{0x10, 3, true, true, 0xC000000300000010},
		{0xFFFFFFFF, MaxMessageLen, true, true, 0xFFFFFFFFFFFFFFFF},
		{0xFFFFFFFF, MaxMessageLen, false, false, 0x3FFFFFFFFFFFFFFF},
		{0x12345678, 0x9ABCD, false, false, 0x0009ABCD12345678},
	}
	for _, tt := range tests {
		got := Pack(tt.ptr, tt.length, tt.borrowed, tt.isError)
		if got != tt.want {
			t.Errorf("Pack(%#x, %d, %v, %v) = %#x, want %#x", tt.ptr, tt.length, tt.borrowed, tt.isError, got, tt.want)
		}
		ptr, length, borrowed, isError := Unpack(got)
		if ptr != tt.ptr || length != tt.length || borrowed != tt.borrowed || isError != tt.isError {
			t.Errorf("Unpack(%#x) = %#x, %d, %v, %v", got, ptr, length, borrowed, isError)
		}
	}
}

func TestPackSignedView(t *testing.T) {
	// wasm hands the host a signed i64: an ERROR result is negative (abi.py's doctest).
	r := Pack(0x10, 3, false, true)
	if int64(r) != -0x7FFFFFFCFFFFFFF0 {
		t.Fatalf("int64(Pack(0x10, 3, false, true)) = %d", int64(r))
	}
}

func TestPackPanicsOnOversizedLength(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Pack with length 2^30 did not panic")
		}
	}()
	Pack(0, MaxMessageLen+1, false, false)
}

func TestConstants(t *testing.T) {
	if MaxMessageLen != 1<<LenBits-1 {
		t.Errorf("MaxMessageLen = %d, want 2^LenBits-1", MaxMessageLen)
	}
	if LenShift+LenBits != BorrowedBit || BorrowedBit+1 != ErrorBit || ErrorBit != 63 {
		t.Error("bit layout is inconsistent")
	}
	if MarkerPrefix+"1" != "bridge_abi_v1" || ABIVersion != 1 {
		t.Error("marker name is not bridge_abi_v1")
	}
	if MaxStatusCode != uint32(CodeUnauthenticated) {
		t.Error("MaxStatusCode is not the last gRPC code")
	}
}

func TestUnpackIgnoresNothingOutsideFields(t *testing.T) {
	// Every bit belongs to exactly one field.
	ptr, length, borrowed, isError := Unpack(0xFFFFFFFFFFFFFFFF)
	if ptr != 0xFFFFFFFF || length != MaxMessageLen || !borrowed || !isError {
		t.Fatal("Unpack(all ones) is wrong")
	}
}
