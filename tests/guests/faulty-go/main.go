// Command faulty-go is a test guest that misbehaves on purpose, one way per method.
package main

import (
	"fmt"
	"os"

	"bridge.dev/guest"
)

func main() {}

// hoard keeps what Alloc allocates reachable, so the GC cannot give it back.
var hoard [][]byte

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

// Loop never returns.
//
//go:wasmexport faulty.v1.Faulty/Loop
func loopExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		n := 0
		for {
			n++
		}
	})
}

// Alloc allocates 1 MiB blocks and keeps them, without bound.
//
//go:wasmexport faulty.v1.Faulty/Alloc
func allocExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	})
}

// Grow allocates as many MiB as the request's first byte says, answers with their
// count, and lets them go: memory grows during the call.
//
//go:wasmexport faulty.v1.Faulty/Grow
func growExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		blocks := make([][]byte, int(req[0]))
		for i := range blocks {
			blocks[i] = make([]byte, 1<<20)
			blocks[i][0] = byte(i)
		}
		return []byte{byte(len(blocks))}, nil
	})
}

// Echo answers with the request: the soak tests' method.
//
//go:wasmexport faulty.v1.Faulty/Echo
func echoExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		return append([]byte(nil), req...), nil
	})
}
