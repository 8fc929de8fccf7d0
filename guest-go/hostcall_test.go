package guest

import (
	"errors"
	"testing"
)

func TestDecodeStatusRoundTrip(t *testing.T) {
	for _, st := range []Status{
		{Code: CodeInvalidArgument, Message: "bad"},
		{Code: CodeUnimplemented, Message: "no method legacy.v1.Echo/Nope"},
		{Code: CodeUnauthenticated},
		{Code: CodeAborted, Message: "naïve"},
		{},
	} {
		got, err := DecodeStatus(AppendStatus(nil, st.Code, st.Message))
		if err != nil || got.Code != st.Code || got.Message != st.Message || got.Details != nil {
			t.Errorf("DecodeStatus(%v) = %v, %v", st, got, err)
		}
	}
}

func TestDecodeStatusHandComputed(t *testing.T) {
	// 08 03 | 12 03 'b' 'a' 'd', then details (field 3, an Any) and an unknown fixed32.
	b := []byte{0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd', 0x1A, 0x02, 0x0A, 0x00, 0x25, 1, 2, 3, 4}
	got, err := DecodeStatus(b)
	if err != nil || got.Code != CodeInvalidArgument || got.Message != "bad" {
		t.Fatalf("DecodeStatus = %v, %v", got, err)
	}
	// Fields in reverse order, and a repeated field: the last one wins.
	got, err = DecodeStatus([]byte{0x12, 0x01, 'x', 0x08, 0x05, 0x08, 0x0D})
	if err != nil || got.Code != CodeInternal || got.Message != "x" {
		t.Fatalf("DecodeStatus = %v, %v", got, err)
	}
}

func TestDecodeStatusOutOfRangeCodes(t *testing.T) {
	for _, b := range [][]byte{
		{0x08, 0x11}, // 17
		{0x08, 0x63}, // 99
		// -1 as an int32 field: ten bytes, sign-extended.
		{0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
	} {
		got, err := DecodeStatus(b)
		if err != nil || got.Code != CodeUnknown {
			t.Errorf("DecodeStatus(% x) = %v, %v", b, got, err)
		}
	}
}

func TestDecodeStatusRejectsMalformedInput(t *testing.T) {
	for _, b := range [][]byte{
		{0x12, 0x05, 'a'},        // length past the end
		{0x08},                   // truncated varint
		{0x12, 0x02, 0xFF, 0xFE}, // invalid UTF-8
		{0x00},                   // field number 0
		{0x0F},                   // wire type 7
	} {
		if got, err := DecodeStatus(b); err == nil {
			t.Errorf("DecodeStatus(% x) = %v, want an error", b, got)
		}
	}
}

func TestHostOutcome(t *testing.T) {
	resp, err := hostOutcome([]byte("pong"), false)
	if err != nil || string(resp) != "pong" {
		t.Fatalf("response: %q, %v", resp, err)
	}
	resp, err = hostOutcome(nil, false)
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("empty response: %#v, %v", resp, err)
	}

	_, err = hostOutcome(AppendStatus(nil, CodeNotFound, "sku X"), true)
	var st *Status
	if !errors.As(err, &st) || st.Code != CodeNotFound || st.Message != "sku X" {
		t.Fatalf("status: %v", err)
	}
	// Passed on by a handler, the host's code and message are kept.
	if code, msg := StatusOf(err); code != CodeNotFound || msg != "sku X" {
		t.Fatalf("StatusOf = %v, %q", code, msg)
	}

	cases := []struct {
		payload []byte
		code    Code
	}{
		{nil, CodeUnknown}, // empty status
		{AppendStatus(nil, CodeOK, "odd"), CodeUnknown}, // code 0 is not an error
		{[]byte{0x12, 0x05}, CodeInternal},              // undecodable
	}
	for _, c := range cases {
		_, err := hostOutcome(c.payload, true)
		if !errors.As(err, &st) || st.Code != c.code {
			t.Errorf("hostOutcome(% x, true) = %v, want code %v", c.payload, err, c.code)
		}
	}
	if _, err := hostOutcome(nil, true); err.Error() != "UNKNOWN: empty status from host" {
		t.Errorf("empty status: %v", err)
	}
}

func TestHostCallConstants(t *testing.T) {
	if HostModule != "bridge" || ImportHostCall != "host_call" || ImportHostResult != "host_result" {
		t.Error("host-call import names")
	}
	if HostResultFailed != -1 {
		t.Error("HostResultFailed")
	}
}
