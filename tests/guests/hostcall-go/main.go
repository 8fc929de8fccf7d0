// Command hostcall-go is a test guest for host calls (docs/abi.md, section 12).
package main

import (
	"bytes"

	"bridge.dev/guest"
)

func main() {}

// The SDK's own import, declared again to break the ABI on purpose (BadPointer).
//
//go:wasmimport bridge host_call
func rawHostCall(methodPtr, methodLen, reqPtr, reqLen uint32) uint64

// dirty is 1 while a host call is under way: an instance whose call failed inside a
// host call keeps it, and answers Dirty with 1 if it ever serves another call.
var dirty byte

// Relay takes "<method>\n<payload>", calls the host method with the payload and
// answers with the host's response unchanged, or with the host's error.
//
//go:wasmexport test.v1.Hosted/Relay
func relayExport(reqPtr, reqLen uint32) uint64 {
	dirty = 1
	r := guest.Handle(reqPtr, reqLen, relay)
	dirty = 0
	return r
}

// Dirty answers 1 when this instance ran a call that failed inside a host call.
//
//go:wasmexport test.v1.Hosted/Dirty
func dirtyExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		return []byte{dirty}, nil
	})
}

// BadPointer calls the host with a method name outside its memory: an ABI violation.
//
//go:wasmexport test.v1.Hosted/BadPointer
func badPointerExport(reqPtr, reqLen uint32) uint64 {
	dirty = 1
	rawHostCall(0xFFFF_FF00, 16, 0, 0)
	dirty = 0
	return 0
}

func relay(req []byte) ([]byte, error) {
	i := bytes.IndexByte(req, '\n')
	if i < 0 {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "want <method>\\n<payload>")
	}
	return guest.HostCall(string(req[:i]), req[i+1:])
}

// Twice calls legacy.v1.Echo/Say twice with the request and answers with both
// responses, concatenated.
//
//go:wasmexport test.v1.Hosted/Twice
func twiceExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, twice)
}

func twice(req []byte) ([]byte, error) {
	first, err := guest.HostCall("legacy.v1.Echo/Say", req)
	if err != nil {
		return nil, err
	}
	second, err := guest.HostCall("legacy.v1.Echo/Say", req)
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}
