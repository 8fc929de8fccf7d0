//go:build wasip1 && !tinygo

// TinyGo exports malloc and free itself (with the same signatures), so these exist
// for standard Go only.

package guest

import "unsafe"

// live holds every buffer malloc handed out, and every owned response, by address:
// while a buffer is in it the garbage collector keeps it (Go's heap does not move
// objects), and free drops it.
var live = map[uint32][]uint64{}

// malloc allocates size bytes, 8-byte aligned (the buffer is a []uint64), and keeps
// them alive until free. It returns 0 for size 0 (the host never asks for 0).
//
//go:wasmexport malloc
func malloc(size uint32) uint32 {
	if size == 0 {
		return 0
	}
	buf := make([]uint64, (uint64(size)+7)/8)
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	live[ptr] = buf
	return ptr
}

// free releases a buffer malloc returned or an owned response. free(0) and free of
// an address this package did not hand out are no-ops.
//
//go:wasmexport free
func free(ptr uint32) {
	delete(live, ptr)
}

// Owned returns resp to the host as an owned payload (BORROWED = 0): it is copied
// into a buffer that stays alive until the host calls free on it, and resp itself may
// be reused right away. Use Borrowed (or Handle) unless a response must outlive the
// next call. An empty resp is returned as 0. Only with standard Go: under TinyGo the
// host's free is TinyGo's own, which does not know these buffers.
func Owned(resp []byte) uint64 {
	beginCall() // the call ends here (see borrow)
	payload, isError := encodeResult(nil, resp, nil)
	if len(payload) == 0 {
		return Pack(0, 0, false, isError)
	}
	buf := make([]uint64, (len(payload)+7)/8)
	dst := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(payload))
	copy(dst, payload)
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	live[ptr] = buf
	return Pack(ptr, uint32(len(payload)), false, isError)
}
