// Command sidecar-go is the sidecar tests' guest: calls that stay in flight until a
// deadline the test gives, a call that traps, and an answer that tells two builds apart.
package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"bridge.dev/guest"
)

func main() {}

// Answer replies with this build's answer.
//
//go:wasmexport sidecar.v1.Probe/Answer
func answerExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		return []byte(answer), nil
	})
}

// Hold says on stderr that it holds, sleeps until the deadline in the request (unix
// nanoseconds, in decimal) and then replies with this build's answer: a call the test
// knows to be in flight, without burning a core.
//
//go:wasmexport sidecar.v1.Probe/Hold
func holdExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		deadline, err := strconv.ParseInt(string(req), 10, 64)
		if err != nil {
			return nil, errors.New("the request is not a deadline in unix nanoseconds")
		}
		fmt.Fprintf(os.Stderr, "holding until %d\n", deadline)
		time.Sleep(time.Until(time.Unix(0, deadline)))
		return []byte(answer), nil
	})
}

// Trap panics: the instance is discarded, and the pool must make another.
//
//go:wasmexport sidecar.v1.Probe/Trap
func trapExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(req []byte) ([]byte, error) {
		panic("trap, as asked")
	})
}
