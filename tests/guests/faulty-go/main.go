// Command faulty-go is a test guest that misbehaves on purpose, one way per method.
package main

import (
	"fmt"
	"os"

	"bridge.dev/guest"
)

func main() {}

//go:wasmexport faulty.v1.Faulty/Panic
func panicExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		panic("boom: " + string(req))
	})
}

// Print writes to stdout and stderr, then echoes the request.
//
//go:wasmexport faulty.v1.Faulty/Print
func printExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		fmt.Printf("out: %s\n", req)
		fmt.Fprintf(os.Stderr, "err: %s\n", req)
		return req, nil
	})
}
