package guest

import (
	"errors"
	"fmt"
	"strconv"
)

// Code is a gRPC status code, the code field of a google.rpc.Status.
type Code uint32

// The gRPC status codes. An error envelope carries one of 1..16; CodeOK is never sent.
const (
	CodeOK                 Code = 0
	CodeCanceled           Code = 1
	CodeUnknown            Code = 2
	CodeInvalidArgument    Code = 3
	CodeDeadlineExceeded   Code = 4
	CodeNotFound           Code = 5
	CodeAlreadyExists      Code = 6
	CodePermissionDenied   Code = 7
	CodeResourceExhausted  Code = 8
	CodeFailedPrecondition Code = 9
	CodeAborted            Code = 10
	CodeOutOfRange         Code = 11
	CodeUnimplemented      Code = 12
	CodeInternal           Code = 13
	CodeUnavailable        Code = 14
	CodeDataLoss           Code = 15
	CodeUnauthenticated    Code = 16
)

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// String is the code's canonical name, as in google.rpc.Code: "INVALID_ARGUMENT".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "CODE(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Status is an application error with a gRPC code. A method handler returns one (or
// an error wrapping one) to answer with that code; every other error is sent as
// CodeUnknown. Details, when there are any, travel with it as the details of the
// google.rpc.Status envelope (gRPC's rich error model: a sidecar's client finds them in
// the grpc-status-details-bin trailer); a host method's status comes with its own.
type Status struct {
	Code    Code
	Message string
	Details []Any
}

// Any is a google.protobuf.Any: a serialized message and the URL of its type, for
// example "type.googleapis.com/google.rpc.ErrorInfo". Status details are Anys.
type Any struct {
	TypeURL string
	Value   []byte
}

// Errorf returns a *Status with the code and a message formatted as by fmt.Sprintf.
func Errorf(code Code, format string, args ...any) error {
	return &Status{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewStatus returns a *Status with the code and message as they are.
func NewStatus(code Code, message string) *Status {
	return &Status{Code: code, Message: message}
}

// Error is "CODE: message", for example "NOT_FOUND: sku \"X\" not found".
func (s *Status) Error() string {
	if s == nil {
		return "OK"
	}
	return s.Code.String() + ": " + s.Message
}

// AppendStatus appends a serialized google.rpc.Status{code, message, details} to b:
// field 1 (int32 code, varint), field 2 (string message) and field 3 (each detail, a
// google.protobuf.Any), the first two omitted when they are the proto3 default, which is
// byte for byte what protobuf's serializers produce.
func AppendStatus(b []byte, code Code, message string, details ...Any) []byte {
	if code != 0 {
		b = AppendTag(b, 1, WireVarint)
		// int32 field: a value above MaxInt32 would be negative and sign-extended.
		b = AppendVarint(b, uint64(int64(int32(code))))
	}
	if message != "" {
		b = AppendTag(b, 2, WireBytes)
		b = AppendString(b, message)
	}
	for _, d := range details {
		b = AppendTag(b, 3, WireBytes)
		b = AppendVarint(b, uint64(sizeAny(d)))
		b = AppendAny(b, d)
	}
	return b
}

// AppendAny appends the fields of a google.protobuf.Any (type_url = 1, value = 2, each
// omitted when empty) to b, without a length prefix.
func AppendAny(b []byte, a Any) []byte {
	if a.TypeURL != "" {
		b = AppendTag(b, 1, WireBytes)
		b = AppendString(b, a.TypeURL)
	}
	if len(a.Value) > 0 {
		b = AppendTag(b, 2, WireBytes)
		b = AppendBytes(b, a.Value)
	}
	return b
}

// sizeAny is the length of AppendAny's output.
func sizeAny(a Any) int {
	n := 0
	if a.TypeURL != "" {
		n += SizeTag(1) + SizeBytes(len(a.TypeURL))
	}
	if len(a.Value) > 0 {
		n += SizeTag(2) + SizeBytes(len(a.Value))
	}
	return n
}

// StatusOf is the code and message an error is answered with. A *Status (or an
// error wrapping one, found with errors.As) keeps its code; its message is the
// Status's Message when err is the Status itself and err.Error() when it is wrapped.
// Any other error, and a Status whose code is OK or above MaxStatusCode (which the
// ABI forbids), becomes CodeUnknown with err.Error() as the message.
func StatusOf(err error) (Code, string) {
	code, msg, _ := statusParts(err)
	return code, msg
}

// statusParts is StatusOf with the Status's details, which a valid Status keeps
// whether err is the Status itself or wraps it.
func statusParts(err error) (Code, string, []Any) {
	var st *Status
	if errors.As(err, &st) && st != nil && st.Code != CodeOK && st.Code <= MaxStatusCode {
		if e, ok := err.(*Status); ok && e == st {
			return st.Code, st.Message, st.Details
		}
		return st.Code, err.Error(), st.Details
	}
	return CodeUnknown, err.Error(), nil
}

// encodeResult turns a handler's answer into the payload to hand back and whether it
// is an error envelope. Error envelopes are appended to scratch (which is reused). It
// is the platform-independent core of Handle and is tested natively.
func encodeResult(scratch []byte, resp []byte, err error) (payload []byte, isError bool) {
	if err == nil && len(resp) > MaxMessageLen {
		err = Errorf(CodeResourceExhausted,
			"response of %d bytes exceeds the ABI limit of %d bytes", len(resp), MaxMessageLen)
	}
	if err != nil {
		code, msg, details := statusParts(err)
		return AppendStatus(scratch[:0], code, msg, details...), true
	}
	return resp, false
}

// DecodeStatus decodes a serialized google.rpc.Status: field 1 (int32 code), field 2
// (string message) and field 3 (details, each a google.protobuf.Any, copied out of b);
// unknown fields are skipped. A code outside 0..MaxStatusCode becomes CodeUnknown.
// Truncated or malformed input is an error.
func DecodeStatus(b []byte) (*Status, error) {
	st := &Status{}
	for len(b) > 0 {
		num, wt, n, err := ConsumeTag(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		switch {
		case num == 1 && wt == WireVarint:
			v, n, err := ConsumeVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			// int32 field: the low 32 bits, as a signed value.
			code := int32(v)
			if code < 0 || code > MaxStatusCode {
				st.Code = CodeUnknown
			} else {
				st.Code = Code(code)
			}
		case num == 2 && wt == WireBytes:
			v, n, err := ConsumeString(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			st.Message = v
		case num == 3 && wt == WireBytes:
			v, n, err := ConsumeBytes(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			a, err := decodeAny(v)
			if err != nil {
				return nil, err
			}
			st.Details = append(st.Details, a)
		default:
			n, err := ConsumeFieldValue(b, num, wt)
			if err != nil {
				return nil, err
			}
			b = b[n:]
		}
	}
	return st, nil
}

// decodeAny decodes a google.protobuf.Any; the value is copied out of b.
func decodeAny(b []byte) (Any, error) {
	var a Any
	for len(b) > 0 {
		num, wt, n, err := ConsumeTag(b)
		if err != nil {
			return Any{}, err
		}
		b = b[n:]
		switch {
		case num == 1 && wt == WireBytes:
			a.TypeURL, n, err = ConsumeString(b)
		case num == 2 && wt == WireBytes:
			var v []byte
			v, n, err = ConsumeBytes(b)
			a.Value = append([]byte(nil), v...)
		default:
			n, err = ConsumeFieldValue(b, num, wt)
		}
		if err != nil {
			return Any{}, err
		}
		b = b[n:]
	}
	return a, nil
}

// hostOutcome turns what the host handed back from a host call (its bytes and whether
// they are a google.rpc.Status) into HostCall's result. It is the platform-independent
// core of HostCall and is tested natively.
func hostOutcome(payload []byte, isError bool) ([]byte, error) {
	if !isError {
		if payload == nil {
			payload = []byte{}
		}
		return payload, nil
	}
	if len(payload) == 0 {
		return nil, &Status{Code: CodeUnknown, Message: "empty status from host"}
	}
	st, err := DecodeStatus(payload)
	if err != nil {
		return nil, Errorf(CodeInternal, "undecodable status from host: %v", err)
	}
	if st.Code == CodeOK {
		// An error with code OK breaks the ABI; never hand the caller a non-error.
		st.Code = CodeUnknown
	}
	return nil, st
}
