//go:build wasip1

package guest

import "unsafe"

// bridgeABIv1 is the version marker: the host looks for an export named
// bridge_abi_v1 and never calls it.
//
//go:wasmexport bridge_abi_v1
func bridgeABIv1() {}

// The response of the last call, kept referenced so the garbage collector does not
// reclaim it while the host copies it out (the host copies a BORROWED payload before
// it calls into the instance again), and the buffer error envelopes are encoded into.
var (
	lastResponse []byte
	statusBuf    []byte
)

// Request is the request of a method export as a []byte. It aliases the host's
// buffer in guest memory: it is valid only during the call and must not be kept
// (copy what you need, e.g. string(b[i:j]) does). It is nil when reqLen is 0.
func Request(reqPtr, reqLen uint32) []byte {
	if reqLen == 0 {
		return nil
	}
	// unsafe.Add from nil rather than unsafe.Pointer(uintptr(reqPtr)), which go vet
	// flags; the address is that of a live buffer malloc handed to the host.
	return unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(reqPtr))), reqLen)
}

// Handle runs a method: it makes the request slice (see Request), calls fn with it
// and returns the packed result of fn's answer (see Borrowed and Fail).
//
//	//go:wasmexport pricing.v1.Pricing/Quote
//	func quote(reqPtr, reqLen uint32) uint64 {
//		return guest.Handle(reqPtr, reqLen, quoteImpl)
//	}
//
// A panic in fn is not recovered: it traps, and the host discards the instance.
func Handle(reqPtr, reqLen uint32, fn func(req []byte) ([]byte, error)) uint64 {
	beginCall()
	resp, err := fn(Request(reqPtr, reqLen))
	if err != nil {
		return Fail(err)
	}
	return Borrowed(resp)
}

// HandleServerStream runs a server-streaming method (docs/abi.md, section 14): fn gets
// the request, as Handle's fn does, and sends each response with Send. When fn returns
// nil the stream ends OK; an error ends it with that status, after the messages sent.
//
//	//go:wasmexport stream.v1.Numbers/Count
//	func count(reqPtr, reqLen uint32) uint64 {
//		return guest.HandleServerStream(reqPtr, reqLen, countImpl)
//	}
func HandleServerStream(reqPtr, reqLen uint32, fn func(req []byte) error) uint64 {
	beginCall()
	return endStream(fn(Request(reqPtr, reqLen)))
}

// HandleClientStream runs a client-streaming method, whose export the host calls with
// (0, 0): fn receives the requests with Recv until io.EOF, and its answer is returned
// as Handle returns it.
func HandleClientStream(fn func() ([]byte, error)) uint64 {
	beginCall()
	resp, err := fn()
	if err != nil {
		return Fail(err)
	}
	return Borrowed(resp)
}

// HandleBidiStream runs a bidirectional method, whose export the host calls with
// (0, 0): fn receives with Recv and sends with Send, in any order. When fn returns nil
// the stream ends OK; an error ends it with that status.
func HandleBidiStream(fn func() error) uint64 {
	beginCall()
	return endStream(fn())
}

// endStream is a streaming method's result: 0 (len 0: the stream ended OK), or the
// error envelope.
func endStream(err error) uint64 {
	if err != nil {
		return Fail(err)
	}
	return borrow(nil, false)
}

// Borrowed returns resp to the host as a BORROWED payload: no copy; the slice stays
// referenced by this package until the next call. An empty resp is returned as 0
// (len 0, ptr 0). A resp longer than MaxMessageLen is answered as RESOURCE_EXHAUSTED.
func Borrowed(resp []byte) uint64 {
	payload, isError := encodeResult(statusBuf, resp, nil)
	return borrow(payload, isError)
}

// Fail returns err to the host as a google.rpc.Status error envelope (see StatusOf
// for the code and message), encoded into a buffer this package reuses (BORROWED).
func Fail(err error) uint64 {
	if err == nil {
		err = &Status{Code: CodeUnknown, Message: "guest.Fail called with a nil error"}
	}
	payload, _ := encodeResult(statusBuf, nil, err)
	return borrow(payload, true)
}

func borrow(payload []byte, isError bool) uint64 {
	// The call ends here: its context must not reach the next one, also when a
	// hand-written export answers through Borrowed or Fail without Handle.
	beginCall()
	if isError {
		statusBuf = payload
	}
	if len(payload) == 0 {
		lastResponse = nil
		return Pack(0, 0, false, isError)
	}
	lastResponse = payload
	return Pack(addressOf(payload), uint32(len(payload)), true, isError)
}

// addressOf is the linear-memory address of a non-empty slice's first byte.
func addressOf(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}
