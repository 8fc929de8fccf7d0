//go:build wasip1

package guest

import (
	"io"
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// The stream and call-context imports (docs/abi.md, sections 14 and 15). The linker
// drops the imports a module never reaches, so a guest imports only what it uses, and
// a unary guest that uses none of them stays loadable by any ABI v1 host.

//go:wasmimport bridge stream_recv
func streamRecv() uint64

//go:wasmimport bridge stream_send
func streamSend(ptr, length, flags uint32) int32

//go:wasmimport bridge call_info
func callInfo() uint64

//go:wasmimport bridge deadline
func deadlineNanos() int64

//go:wasmimport bridge set_metadata
func setMetadata(kind int32, keyPtr, keyLen, valuePtr, valueLen uint32) int32

//go:wasmimport bridge set_compression
func setCompression(algorithm int32) int32

// Recv returns the call's next request message, a new slice that is the caller's.
// It blocks until the client sends one. It returns io.EOF once the client has closed
// its stream (and again on every later call), and a *Status (CANCELLED or
// DEADLINE_EXCEEDED) when the call ended before that: the method should then return,
// as what it answers is not delivered. In a unary or server-streaming call it returns
// io.EOF at once: the one request is the method's argument.
func Recv() ([]byte, error) {
	current.recvCompressed = false
	res := parseRecv(streamRecv())
	if res.end {
		return nil, io.EOF
	}
	buf, err := collect(res.length)
	if err != nil {
		return nil, err
	}
	if res.isError {
		return nil, recvStatus(buf)
	}
	current.recvCompressed = res.compressed
	return buf, nil
}

// RecvCompressed reports whether the message Recv last returned arrived compressed
// (a sidecar's client compressed it; in-process requests never are).
func RecvCompressed() bool {
	return current.recvCompressed
}

// Send sends one response message of a server-streaming or bidirectional call; the
// host copies msg before Send returns, so the caller may reuse it. It blocks while the
// caller is behind by the host's window of messages. It returns nil, or a *Status
// (CANCELLED) when the call is over (the client cancelled or went away, or the deadline
// passed): the message is dropped and the method should return.
func Send(msg []byte) error {
	return send(msg, 0)
}

// SendUncompressed is Send for a message that goes uncompressed although the call's
// responses are compressed (SetCompression).
func SendUncompressed(msg []byte) error {
	return send(msg, FlagSendUncompressed)
}

func send(msg []byte, flags uint32) error {
	var ptr uint32
	if len(msg) > 0 {
		ptr = addressOf(msg)
	}
	r := streamSend(ptr, uint32(len(msg)), flags)
	runtime.KeepAlive(msg)
	return sendOutcome(r)
}

// collect copies the outcome the host holds pending (length bytes) into a new slice.
func collect(length uint32) ([]byte, error) {
	if length == 0 {
		return []byte{}, nil
	}
	buf := make([]byte, length)
	if got := hostResult(addressOf(buf), length); got != int32(length) {
		return nil, &Status{Code: CodeInternal, Message: "host_result failed"}
	}
	return buf, nil
}

// IncomingMetadata is the request's metadata (gRPC's own headers left out). It is read
// from the host once per call; the map is shared by the calls of IncomingMetadata
// within a call, so do not modify it.
func IncomingMetadata() MD {
	loadCallInfo()
	return current.metadata
}

// RequestCompressed reports whether the request of a unary or server-streaming call
// arrived compressed (see RecvCompressed for a stream's messages).
func RequestCompressed() bool {
	loadCallInfo()
	return current.requestCompressed
}

func loadCallInfo() {
	if current.infoLoaded {
		return
	}
	_, length, _, _ := Unpack(callInfo())
	buf, err := collect(length)
	if err != nil {
		panic("bridge.dev/guest: cannot collect the call's CallInfo: " + err.Error())
	}
	md, compressed, err := decodeCallInfo(buf)
	if err != nil {
		// The host broke its side of the ABI: no guest can go on from here.
		panic("bridge.dev/guest: the host's CallInfo does not decode: " + err.Error())
	}
	current.infoLoaded = true
	current.metadata = md
	current.requestCompressed = compressed
}

// Deadline is the time left until the call's deadline (0 once it has passed), and
// false when the call has none. It is read from the host anew on every call.
func Deadline() (time.Duration, bool) {
	ns := deadlineNanos()
	if ns < 0 {
		return 0, false
	}
	return time.Duration(ns), true
}

// SetHeader adds a response header; a key may be added more than once. Keys are
// lowercased, as gRPC does. It fails (a *Status, INTERNAL) when the host refuses the
// entry: a key that is not 1 to 255 characters of 0-9 a-z - _ . or that starts with
// "grpc-", a text value (key not ending in "-bin") that is not printable ASCII, or a
// header added once the response headers have left (at the first Send, or when the
// call ends).
func SetHeader(key, value string) error {
	return addMetadata(MetadataHeader, "header", key, value)
}

// SetTrailer adds a response trailer, sent when the call ends (also with an error);
// the rules are SetHeader's, but trailers may be added until the method returns.
func SetTrailer(key, value string) error {
	return addMetadata(MetadataTrailer, "trailer", key, value)
}

func addMetadata(kind int32, what, key, value string) error {
	key = strings.ToLower(key)
	r := setMetadata(kind, stringAddress(key), uint32(len(key)), stringAddress(value), uint32(len(value)))
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	if r != 0 {
		return Errorf(CodeInternal, "the host refused the response %s %q: keys are 1 to 255 "+
			"characters of 0-9 a-z - _ . not starting with grpc-, text values printable ASCII, "+
			"and headers are set before the first message", what, key)
	}
	return nil
}

// SetCompression asks for this call's responses to be compressed: "gzip", or
// "identity" for none. A sidecar compresses when its client accepts gzip; in-process
// responses never are. It fails (a *Status, INTERNAL) for another name, and once the
// response headers have left (at the first Send).
func SetCompression(name string) error {
	algorithm, ok := compressionAlgorithm(name)
	if !ok {
		return Errorf(CodeInternal, "unknown compression %q: use \"gzip\" or \"identity\"", name)
	}
	if setCompression(algorithm) != 0 {
		return Errorf(CodeInternal, "the host refused compression %q: the response headers have already left", name)
	}
	return nil
}

// stringAddress is the linear-memory address of s's bytes (0 for "").
func stringAddress(s string) uint32 {
	if len(s) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s))))
}
