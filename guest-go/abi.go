// Package guest is the Go side of the bridge ABI v1 (docs/abi.md): it exports the
// version marker, malloc and free, turns a method export's (req_ptr, req_len) into a
// []byte and a handler's result into the packed i64, and provides the protobuf wire
// primitives that hand-written and generated method code encode and decode with.
//
// It builds with standard Go (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared)
// and with TinyGo, and has no dependencies outside the standard library. The wire
// primitives, the ABI constants and the status envelope are plain Go and are tested
// natively; the exports and the pointer handling exist only on wasip1.
package guest

// The constants below mirror bridge/abi.py; tests/unit/test_abi_agreement.py parses
// this block (one constant a line, untyped, as a plain decimal or hex literal) and
// fails when the two drift apart.
const (
	// ABIVersion is the ABI version this package speaks; it exports bridge_abi_v1.
	ABIVersion = 1

	// MarkerPrefix is the prefix of the version-marker export (bridge_abi_vN).
	MarkerPrefix = "bridge_abi_v"

	// PtrMask selects the payload address, bits 0-31 of a result.
	PtrMask = 0xFFFFFFFF

	// LenShift is the position of the payload length in a result.
	LenShift = 32

	// LenBits is the width of the payload length in a result.
	LenBits = 30

	// MaxMessageLen is the largest payload (and request) in bytes, 2^30 - 1.
	MaxMessageLen = 1073741823

	// BorrowedBit is set when the guest keeps the payload buffer (the host must not free it).
	BorrowedBit = 62

	// ErrorBit is set when the payload is a google.rpc.Status rather than the response.
	ErrorBit = 63

	// MaxStatusCode is the largest gRPC code an error envelope may carry (codes are 1..16).
	MaxStatusCode = 16

	// HostModule is the import module of the host calls (docs/abi.md, section 12).
	HostModule = "bridge"

	// ImportHostCall is the import that runs a host method.
	ImportHostCall = "host_call"

	// ImportHostResult is the import that copies a host call's outcome into guest memory.
	ImportHostResult = "host_result"

	// HostResultFailed is what host_result returns when it copies nothing.
	HostResultFailed = -1

	// ImportStreamRecv is the import that waits for the call's next request message
	// (docs/abi.md, section 14).
	ImportStreamRecv = "stream_recv"

	// ImportStreamSend is the import that sends one response message of the call.
	ImportStreamSend = "stream_send"

	// ImportCallInfo is the import that hands over the request's metadata (section 15).
	ImportCallInfo = "call_info"

	// ImportDeadline is the import that tells the time left until the call's deadline.
	ImportDeadline = "deadline"

	// ImportSetMetadata is the import that adds a response header or trailer.
	ImportSetMetadata = "set_metadata"

	// ImportSetCompression is the import that asks for compressed responses.
	ImportSetCompression = "set_compression"

	// FlagRecvEnd is set in stream_recv's result when the client closed its stream.
	FlagRecvEnd = 1

	// FlagRecvCompressed is set in stream_recv's result when the message came compressed.
	FlagRecvCompressed = 2

	// FlagSendUncompressed asks stream_send to send this message uncompressed.
	FlagSendUncompressed = 1

	// StreamClosed is what stream_send returns when the call is over.
	StreamClosed = 1

	// MetadataHeader is set_metadata's kind for a response header.
	MetadataHeader = 0

	// MetadataTrailer is set_metadata's kind for a response trailer.
	MetadataTrailer = 1

	// MetadataRefused is what set_metadata and set_compression return when they refuse.
	MetadataRefused = -1

	// CompressionNone is set_compression's algorithm for uncompressed responses.
	CompressionNone = 0

	// CompressionGzip is set_compression's algorithm for gzip (gRPC's numbering).
	CompressionGzip = 2

	// NoDeadline is what deadline returns when the call has no deadline.
	NoDeadline = -1
)

// Pack builds a method export's result from its parts:
// isError<<63 | borrowed<<62 | length<<32 | ptr.
//
// It panics (a trap, on wasm) when length does not fit in LenBits bits: a result
// that would corrupt the flag bits is a bug in the caller, never a valid answer.
func Pack(ptr, length uint32, borrowed, isError bool) uint64 {
	if length > MaxMessageLen {
		panic("guest.Pack: payload length exceeds MaxMessageLen")
	}
	r := uint64(length)<<LenShift | uint64(ptr)
	if borrowed {
		r |= 1 << BorrowedBit
	}
	if isError {
		r |= 1 << ErrorBit
	}
	return r
}

// Unpack splits a method export's result into its parts; it is the inverse of Pack.
func Unpack(r uint64) (ptr, length uint32, borrowed, isError bool) {
	ptr = uint32(r & PtrMask)
	length = uint32(r>>LenShift) & MaxMessageLen
	borrowed = (r>>BorrowedBit)&1 == 1
	isError = (r>>ErrorBit)&1 == 1
	return ptr, length, borrowed, isError
}
