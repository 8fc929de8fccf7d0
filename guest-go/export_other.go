//go:build !wasip1

// Outside wasip1 there is no guest memory to point into: these stand-ins let a guest
// package build natively (so its logic can be unit-tested with go test and checked
// with go vet), and panic if a method export is ever called there.

package guest

const notWasm = "bridge.dev/guest: method exports run only on GOOS=wasip1 GOARCH=wasm"

// Request is the request of a method export; see the wasip1 version. Natively it panics.
func Request(reqPtr, reqLen uint32) []byte { panic(notWasm) }

// Handle runs a method; see the wasip1 version. Natively it panics.
func Handle(reqPtr, reqLen uint32, fn func(req []byte) ([]byte, error)) uint64 {
	panic(notWasm)
}

// Borrowed returns a response to the host; see the wasip1 version. Natively it panics.
func Borrowed(resp []byte) uint64 { panic(notWasm) }

// Fail returns an error to the host; see the wasip1 version. Natively it panics.
func Fail(err error) uint64 { panic(notWasm) }

// Owned returns a response the host frees; see the wasip1 version. Natively it panics.
func Owned(resp []byte) uint64 { panic(notWasm) }

// HostCall calls a host method; see the wasip1 version. Natively it panics.
func HostCall(method string, req []byte) ([]byte, error) { panic(notWasm) }
