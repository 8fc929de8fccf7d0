// Command faulty-go is a test guest that misbehaves on purpose, one way per method.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"bridge.dev/guest"
)

func main() {}

// hoard keeps what Alloc allocates reachable, so the GC cannot give it back.
var hoard [][]byte

// dirty is set by every method that never returns normally: an instance that answers
// Dirty with 1 is one whose call failed, and should never have served another.
var dirty byte

//go:wasmexport faulty.v1.Faulty/Panic
func panicExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		dirty = 1
		panic("boom: " + string(req))
	})
}

// Dirty answers 1 when this instance ran a call that did not return, else 0.
//
//go:wasmexport faulty.v1.Faulty/Dirty
func dirtyExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		return []byte{dirty}, nil
	})
}

// Sees answers with what the sandbox shows the guest, one "key=value" line each: the
// wall clock, the monotonic clock's progress, random bytes, the environment, the
// arguments and whether a file outside any grant can be opened.
//
//go:wasmexport faulty.v1.Faulty/Sees
func seesExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		start := time.Now()
		random := make([]byte, 16)
		if _, err := rand.Read(random); err != nil {
			return nil, err
		}
		_, fileErr := os.ReadFile("/etc/hostname")
		out := fmt.Sprintf(
			"wall_unix_ns=%d\nmonotonic_ns=%d\nrandom=%s\nenv=%d\nargs=%d\nfile_error=%v\n",
			start.UnixNano(), time.Since(start).Nanoseconds(), hex.EncodeToString(random),
			len(os.Environ()), len(os.Args), fileErr != nil,
		)
		return []byte(out), nil
	})
}

// Sleep sleeps for as many milliseconds as the request's decimal text says.
//
//go:wasmexport faulty.v1.Faulty/Sleep
func sleepExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		var ms int
		fmt.Sscan(string(req), &ms)
		dirty = 1
		time.Sleep(time.Duration(ms) * time.Millisecond)
		dirty = 0
		return req, nil
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
		dirty = 1
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
		dirty = 1
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
