package guest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestCodeValues(t *testing.T) {
	codes := []Code{
		CodeOK, CodeCanceled, CodeUnknown, CodeInvalidArgument, CodeDeadlineExceeded,
		CodeNotFound, CodeAlreadyExists, CodePermissionDenied, CodeResourceExhausted,
		CodeFailedPrecondition, CodeAborted, CodeOutOfRange, CodeUnimplemented,
		CodeInternal, CodeUnavailable, CodeDataLoss, CodeUnauthenticated,
	}
	for i, c := range codes {
		if int(c) != i {
			t.Errorf("code %s = %d, want %d", c, c, i)
		}
	}
	if CodeInvalidArgument.String() != "INVALID_ARGUMENT" || CodeCanceled.String() != "CANCELLED" {
		t.Error("code names")
	}
	if Code(17).String() != "CODE(17)" {
		t.Errorf("Code(17).String() = %q", Code(17).String())
	}
}

func TestAppendStatus(t *testing.T) {
	tests := []struct {
		code Code
		msg  string
		want []byte
	}{
		// google.rpc.Status{code: 3, message: "bad"}: 08 03 | 12 03 'b' 'a' 'd'
		{CodeInvalidArgument, "bad", []byte{0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'}},
		// code 16, empty message: the message field is omitted.
		{CodeUnauthenticated, "", []byte{0x08, 0x10}},
		// code 0 is the proto3 default and is omitted (never sent by Handle).
		{CodeOK, "x", []byte{0x12, 0x01, 'x'}},
		// NOT_FOUND with a 20-byte message.
		{CodeNotFound, `sku "KIWI" not found`, append([]byte{0x08, 0x05, 0x12, 20}, `sku "KIWI" not found`...)},
		// a 200-byte message: the length is a two-byte varint 0xC8 0x01.
		{CodeInternal, string(bytes.Repeat([]byte("m"), 200)), append([]byte{0x08, 0x0D, 0x12, 0xC8, 0x01}, bytes.Repeat([]byte("m"), 200)...)},
	}
	for _, tt := range tests {
		got := AppendStatus(nil, tt.code, tt.msg)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("AppendStatus(%d, %q) = % x, want % x", tt.code, tt.msg, got, tt.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	err := Errorf(CodeNotFound, "sku %q not found", "X")
	if err.Error() != `NOT_FOUND: sku "X" not found` {
		t.Errorf("Error() = %q", err.Error())
	}
	var nilStatus *Status
	if nilStatus.Error() != "OK" {
		t.Error("nil *Status Error()")
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		code Code
		msg  string
	}{
		{Errorf(CodeInvalidArgument, "quantity must be at least %d", 1), CodeInvalidArgument, "quantity must be at least 1"},
		{NewStatus(CodeNotFound, "gone"), CodeNotFound, "gone"},
		{errors.New("boom"), CodeUnknown, "boom"},
		{fmt.Errorf("decoding: %w", NewStatus(CodeInvalidArgument, "bad")), CodeInvalidArgument, "decoding: INVALID_ARGUMENT: bad"},
		{NewStatus(CodeOK, "not an error"), CodeUnknown, "OK: not an error"},
		{NewStatus(17, "too high"), CodeUnknown, "CODE(17): too high"},
		{(*Status)(nil), CodeUnknown, "OK"},
	}
	for _, tt := range tests {
		code, msg := StatusOf(tt.err)
		if code != tt.code || msg != tt.msg {
			t.Errorf("StatusOf(%v) = %d, %q; want %d, %q", tt.err, code, msg, tt.code, tt.msg)
		}
	}
}

func TestEncodeResult(t *testing.T) {
	resp := []byte{0x0A, 0x01, 'A'}
	payload, isErr := encodeResult(nil, resp, nil)
	if isErr || &payload[0] != &resp[0] {
		t.Error("a successful response must be returned as it is, without a copy")
	}
	payload, isErr = encodeResult(nil, nil, nil)
	if isErr || len(payload) != 0 {
		t.Error("an empty response must stay empty")
	}
	scratch := make([]byte, 0, 64)
	payload, isErr = encodeResult(scratch, resp, Errorf(CodeInvalidArgument, "bad"))
	if !isErr || !bytes.Equal(payload, []byte{0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'}) {
		t.Errorf("error envelope = % x", payload)
	}
	if &payload[0] != &scratch[:1][0] {
		t.Error("the error envelope must reuse the scratch buffer")
	}
	payload, isErr = encodeResult(nil, nil, errors.New("plain"))
	if !isErr || !bytes.Equal(payload, []byte{0x08, 0x02, 0x12, 0x05, 'p', 'l', 'a', 'i', 'n'}) {
		t.Errorf("plain error envelope = % x", payload)
	}
}

func TestStatusDetailsRoundTrip(t *testing.T) {
	details := []Any{{TypeURL: "t/x.Y", Value: []byte{0x08, 0x01}}, {}}
	// google.rpc.Status{code: 3, message: "bad", details: [Any{"t/x.Y", 08 01}, Any{}]},
	// as Python's protobuf serializes it.
	want := []byte{
		0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd',
		0x1A, 0x0B, 0x0A, 0x05, 't', '/', 'x', '.', 'Y', 0x12, 0x02, 0x08, 0x01,
		0x1A, 0x00,
	}
	got := AppendStatus(nil, CodeInvalidArgument, "bad", details...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendStatus with details = % x, want % x", got, want)
	}
	st, err := DecodeStatus(got)
	if err != nil || st.Code != CodeInvalidArgument || st.Message != "bad" || len(st.Details) != 2 {
		t.Fatalf("DecodeStatus = %v, %v", st, err)
	}
	if st.Details[0].TypeURL != "t/x.Y" || !bytes.Equal(st.Details[0].Value, []byte{0x08, 0x01}) ||
		st.Details[1].TypeURL != "" || len(st.Details[1].Value) != 0 {
		t.Errorf("details = %+v", st.Details)
	}
	got[len(got)-4] = 0x77 // the decoded value is a copy
	if st.Details[0].Value[1] != 0x01 {
		t.Error("DecodeStatus aliases a detail's value")
	}
	// An Any of 200 bytes: a two-byte length prefix.
	big := Any{TypeURL: "u", Value: bytes.Repeat([]byte{7}, 200)}
	st, err = DecodeStatus(AppendStatus(nil, CodeInternal, "", big))
	if err != nil || len(st.Details) != 1 || !bytes.Equal(st.Details[0].Value, big.Value) {
		t.Errorf("big detail: %v, %v", st, err)
	}
	// A malformed detail is an error.
	if _, err := DecodeStatus([]byte{0x1A, 0x02, 0x0A, 0x05}); err == nil {
		t.Error("a truncated detail decoded")
	}
}

func TestErrorEnvelopeKeepsDetails(t *testing.T) {
	detail := Any{TypeURL: "type.googleapis.com/google.rpc.ErrorInfo", Value: []byte{0x0A, 0x01, 'x'}}
	st := &Status{Code: CodeFailedPrecondition, Message: "stale", Details: []Any{detail}}
	for _, err := range []error{st, fmt.Errorf("checking: %w", st)} {
		payload, isErr := encodeResult(nil, nil, err)
		got, derr := DecodeStatus(payload)
		if !isErr || derr != nil || got.Code != CodeFailedPrecondition || len(got.Details) != 1 ||
			got.Details[0].TypeURL != detail.TypeURL || !bytes.Equal(got.Details[0].Value, detail.Value) {
			t.Errorf("envelope of %v = %v, %v", err, got, derr)
		}
	}
	// A Status the ABI forbids becomes UNKNOWN, without its details.
	payload, _ := encodeResult(nil, nil, &Status{Code: CodeOK, Details: []Any{detail}})
	if got, _ := DecodeStatus(payload); got.Code != CodeUnknown || got.Details != nil {
		t.Errorf("OK status envelope = %v", got)
	}
}

func TestHostOutcomeKeepsDetails(t *testing.T) {
	detail := Any{TypeURL: "t/q", Value: []byte("v")}
	_, err := hostOutcome(AppendStatus(nil, CodeAborted, "retry", detail), true)
	var st *Status
	if !errors.As(err, &st) || st.Code != CodeAborted || len(st.Details) != 1 || st.Details[0].TypeURL != "t/q" {
		t.Fatalf("hostOutcome = %v", err)
	}
	// Passed on unchanged by a handler, the envelope is the host's, details included.
	payload, _ := encodeResult(nil, nil, err)
	if !bytes.Equal(payload, AppendStatus(nil, CodeAborted, "retry", detail)) {
		t.Errorf("passed-on envelope = % x", payload)
	}
}
