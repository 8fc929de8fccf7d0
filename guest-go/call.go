package guest

import "strings"

// The platform-independent part of streams and the call context (docs/abi.md,
// sections 14 and 15): the state a call keeps, and the decoding of what the host
// hands over. The imports that use them are in call_wasip1.go.

// MD is a call's metadata: lowercase keys, each with its values in the order they
// came. The value of a key ending in "-bin" holds raw bytes (gRPC carries them in
// base64; the guest gets them decoded); other values are printable ASCII.
type MD map[string][]string

// Get returns the values of key (matched without regard to case), or nil.
func (md MD) Get(key string) []string {
	return md[strings.ToLower(key)]
}

// call is what the SDK keeps about the call in progress. Handle and the streaming
// entry points reset it when a call starts: one instance serves many calls, one at a
// time, and nothing of one call's context may leak into the next.
type call struct {
	infoLoaded        bool
	metadata          MD
	requestCompressed bool
	recvCompressed    bool
}

var current call

// beginCall forgets the previous call's context.
func beginCall() {
	current = call{}
}

// decodeCallInfo decodes call_info's CallInfo message:
//
//	message CallInfo {
//	  message Entry { string key = 1; bytes value = 2; }
//	  repeated Entry metadata = 1;
//	  bool request_compressed = 2;
//	}
//
// Unknown fields are skipped. The result never aliases b.
func decodeCallInfo(b []byte) (md MD, requestCompressed bool, err error) {
	md = MD{}
	for len(b) > 0 {
		num, wt, n, err := ConsumeTag(b)
		if err != nil {
			return nil, false, err
		}
		b = b[n:]
		switch {
		case num == 1 && wt == WireBytes:
			entry, n, err := ConsumeBytes(b)
			if err != nil {
				return nil, false, err
			}
			b = b[n:]
			key, value, err := decodeEntry(entry)
			if err != nil {
				return nil, false, err
			}
			md[key] = append(md[key], value)
		case num == 2 && wt == WireVarint:
			v, n, err := ConsumeVarint(b)
			if err != nil {
				return nil, false, err
			}
			b = b[n:]
			requestCompressed = v != 0
		default:
			n, err := ConsumeFieldValue(b, num, wt)
			if err != nil {
				return nil, false, err
			}
			b = b[n:]
		}
	}
	return md, requestCompressed, nil
}

// decodeEntry decodes a CallInfo.Entry; string() copies the value out of b.
func decodeEntry(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		num, wt, n, err := ConsumeTag(b)
		if err != nil {
			return "", "", err
		}
		b = b[n:]
		switch {
		case num == 1 && wt == WireBytes:
			key, n, err = ConsumeString(b)
		case num == 2 && wt == WireBytes:
			var v []byte
			v, n, err = ConsumeBytes(b)
			value = string(v)
		default:
			n, err = ConsumeFieldValue(b, num, wt)
		}
		if err != nil {
			return "", "", err
		}
		b = b[n:]
	}
	return key, value, nil
}

// recvResult is stream_recv's answer taken apart: ERROR<<63 | len<<32 | flags.
type recvResult struct {
	length     uint32
	end        bool // the client closed its stream
	compressed bool // the pending message arrived compressed
	isError    bool // the call is over; a google.rpc.Status of length bytes is pending
}

func parseRecv(r uint64) recvResult {
	// The low 32 bits carry flags where a method's result has its pointer.
	flags, length, _, isError := Unpack(r)
	return recvResult{
		length:     length,
		end:        !isError && flags&FlagRecvEnd != 0,
		compressed: !isError && flags&FlagRecvCompressed != 0,
		isError:    isError,
	}
}

// errStreamClosed is Send's error once the call is over.
func errStreamClosed() error {
	return &Status{Code: CodeCanceled, Message: "the call is over: the client cancelled or went away, or the deadline passed"}
}

// sendOutcome turns stream_send's answer into Send's error.
func sendOutcome(r int32) error {
	switch r {
	case 0:
		return nil
	case StreamClosed:
		return errStreamClosed()
	}
	return Errorf(CodeInternal, "stream_send answered %d", r)
}

// recvStatus turns the status pending after an ERROR from stream_recv into Recv's
// error: CANCELLED or DEADLINE_EXCEEDED, as the host says.
func recvStatus(payload []byte) error {
	st, err := DecodeStatus(payload)
	if err != nil || st.Code == CodeOK {
		return errStreamClosed()
	}
	return st
}

// compressionAlgorithm is set_compression's number for a gRPC encoding name.
func compressionAlgorithm(name string) (int32, bool) {
	switch name {
	case "gzip":
		return CompressionGzip, true
	case "identity", "":
		return CompressionNone, true
	}
	return 0, false
}
