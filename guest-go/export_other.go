//go:build !wasip1

// Outside wasip1 there is no guest memory to point into: these stand-ins let a guest
// package build natively (so its logic can be unit-tested with go test and checked
// with go vet), and panic if a method export is ever called there.

package guest

import "time"

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

// HandleServerStream runs a server-streaming method; see the wasip1 version. Natively it panics.
func HandleServerStream(reqPtr, reqLen uint32, fn func(req []byte) error) uint64 {
	panic(notWasm)
}

// HandleClientStream runs a client-streaming method; see the wasip1 version. Natively it panics.
func HandleClientStream(fn func() ([]byte, error)) uint64 { panic(notWasm) }

// HandleBidiStream runs a bidirectional method; see the wasip1 version. Natively it panics.
func HandleBidiStream(fn func() error) uint64 { panic(notWasm) }

// Recv receives a request message; see the wasip1 version. Natively it panics.
func Recv() ([]byte, error) { panic(notWasm) }

// RecvCompressed tells whether the last message came compressed; see the wasip1 version.
// Natively it panics.
func RecvCompressed() bool { panic(notWasm) }

// Send sends a response message; see the wasip1 version. Natively it panics.
func Send(msg []byte) error { panic(notWasm) }

// SendUncompressed sends a response message uncompressed; see the wasip1 version.
// Natively it panics.
func SendUncompressed(msg []byte) error { panic(notWasm) }

// IncomingMetadata is the request's metadata; see the wasip1 version. Natively it panics.
func IncomingMetadata() MD { panic(notWasm) }

// RequestCompressed tells whether the request came compressed; see the wasip1 version.
// Natively it panics.
func RequestCompressed() bool { panic(notWasm) }

// Deadline is the time left; see the wasip1 version. Natively it panics.
func Deadline() (time.Duration, bool) { panic(notWasm) }

// SetHeader adds a response header; see the wasip1 version. Natively it panics.
func SetHeader(key, value string) error { panic(notWasm) }

// SetTrailer adds a response trailer; see the wasip1 version. Natively it panics.
func SetTrailer(key, value string) error { panic(notWasm) }

// SetCompression compresses the responses; see the wasip1 version. Natively it panics.
func SetCompression(name string) error { panic(notWasm) }
