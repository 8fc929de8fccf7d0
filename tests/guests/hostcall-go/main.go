// Command hostcall-go is a test guest for host calls (docs/abi.md, section 12).
package main

import (
	"bytes"

	"bridge.dev/guest"
)

func main() {}

// Relay takes "<method>\n<payload>", calls the host method with the payload and
// answers with the host's response unchanged, or with the host's error.
//
//go:wasmexport test.v1.Hosted/Relay
func relayExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, relay)
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
