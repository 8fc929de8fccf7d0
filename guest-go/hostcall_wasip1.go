//go:build wasip1

package guest

import (
	"runtime"
	"unsafe"
)

// The host-call imports (docs/abi.md, section 12). A module imports them only when
// it calls HostCall: the linker drops unreachable imports.

//go:wasmimport bridge host_call
func hostCall(methodPtr, methodLen, reqPtr, reqLen uint32) uint64

//go:wasmimport bridge host_result
func hostResult(dstPtr, dstLen uint32) int32

// HostCall calls a method the host implements, by its full gRPC name
// ("legacy.v1.Inventory/Reserve"), with an encoded request, and returns the encoded
// response. The response is a new slice, the caller's to keep; an empty response is
// a non-nil empty slice.
//
// When the host method fails the error is a *Status with the host's code and message
// (UNIMPLEMENTED for a method the host does not have), so a handler can return it
// unchanged to pass it on to its own caller. The host never calls back into the guest
// during a host call.
func HostCall(method string, req []byte) ([]byte, error) {
	var methodPtr, reqPtr uint32
	if len(method) > 0 {
		methodPtr = uint32(uintptr(unsafe.Pointer(unsafe.StringData(method))))
	}
	if len(req) > 0 {
		reqPtr = addressOf(req)
	}
	r := hostCall(methodPtr, uint32(len(method)), reqPtr, uint32(len(req)))
	// Go's heap does not move objects; this only keeps them reachable until here.
	runtime.KeepAlive(method)
	runtime.KeepAlive(req)

	_, length, _, isError := Unpack(r)
	buf, err := collect(length)
	if err != nil {
		return nil, err
	}
	return hostOutcome(buf, isError)
}
