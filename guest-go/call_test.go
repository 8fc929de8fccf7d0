package guest

import (
	"bytes"
	"errors"
	"testing"
)

// entry encodes a CallInfo.Entry field (metadata = 1) by hand.
func entry(key, value string) []byte {
	var e []byte
	e = AppendTag(e, 1, WireBytes)
	e = AppendString(e, key)
	e = AppendTag(e, 2, WireBytes)
	e = AppendBytes(e, []byte(value))
	return append(AppendTag(nil, 1, WireBytes), AppendBytes(nil, e)...)
}

func TestDecodeCallInfo(t *testing.T) {
	// Hand-computed: metadata {key: "a", value: "1"}: 0A 06 | 0A 01 'a' | 12 01 '1'.
	md, compressed, err := decodeCallInfo([]byte{0x0A, 0x06, 0x0A, 0x01, 'a', 0x12, 0x01, '1', 0x10, 0x01})
	if err != nil || len(md) != 1 || md["a"][0] != "1" || !compressed {
		t.Fatalf("decodeCallInfo = %v, %v, %v", md, compressed, err)
	}

	in := cat(
		entry("user-agent", "grpc-go/1.85.0"),
		entry("x-tenant", "acme"),
		entry("trace-bin", "\x00\xff\x01"),
		entry("x-tenant", "other"),
		[]byte{0x25, 1, 2, 3, 4}, // an unknown fixed32 field: skipped
	)
	md, compressed, err = decodeCallInfo(in)
	if err != nil || compressed {
		t.Fatalf("decodeCallInfo: %v, %v", compressed, err)
	}
	if got := md.Get("X-Tenant"); len(got) != 2 || got[0] != "acme" || got[1] != "other" {
		t.Errorf("x-tenant = %q", got)
	}
	if got := md["trace-bin"]; len(got) != 1 || got[0] != "\x00\xff\x01" {
		t.Errorf("trace-bin = %q", got)
	}
	if md.Get("missing") != nil || len(md) != 3 {
		t.Errorf("md = %v", md)
	}
	// The values are copies: the host's buffer may be reused.
	for i := range in {
		in[i] = 0
	}
	if md["x-tenant"][0] != "acme" || md["user-agent"][0] != "grpc-go/1.85.0" {
		t.Error("decodeCallInfo aliases its input")
	}

	md, compressed, err = decodeCallInfo(nil)
	if err != nil || md == nil || len(md) != 0 || compressed {
		t.Errorf("empty CallInfo = %v, %v, %v", md, compressed, err)
	}
}

func TestDecodeCallInfoRejectsMalformedInput(t *testing.T) {
	for _, b := range [][]byte{
		{0x0A, 0x05, 0x0A},                   // entry past the end
		{0x0A, 0x03, 0x0A, 0x02, 'a'},        // key past the end of the entry
		{0x0A, 0x04, 0x0A, 0x02, 0xC3, 0x28}, // key not UTF-8
		{0x10},                               // truncated varint
		{0x0F},                               // wire type 7
	} {
		if md, _, err := decodeCallInfo(b); err == nil {
			t.Errorf("decodeCallInfo(% x) = %v, want an error", b, md)
		}
	}
}

func TestParseRecv(t *testing.T) {
	tests := []struct {
		r    uint64
		want recvResult
	}{
		{0, recvResult{}},                      // the empty message
		{5 << LenShift, recvResult{length: 5}}, // 5 bytes pending
		{5<<LenShift | FlagRecvCompressed, recvResult{length: 5, compressed: true}},
		{FlagRecvEnd, recvResult{end: true}},                              // the client closed its stream
		{1<<ErrorBit | 7<<LenShift, recvResult{length: 7, isError: true}}, // a status pending
		// flags mean nothing beside ERROR
		{1<<ErrorBit | 7<<LenShift | FlagRecvEnd | FlagRecvCompressed, recvResult{length: 7, isError: true}},
		{MaxMessageLen << LenShift, recvResult{length: MaxMessageLen}},
	}
	for _, tt := range tests {
		if got := parseRecv(tt.r); got != tt.want {
			t.Errorf("parseRecv(%#x) = %+v, want %+v", tt.r, got, tt.want)
		}
	}
}

func TestSendOutcome(t *testing.T) {
	if err := sendOutcome(0); err != nil {
		t.Errorf("sendOutcome(0) = %v", err)
	}
	var st *Status
	if err := sendOutcome(StreamClosed); !errors.As(err, &st) || st.Code != CodeCanceled {
		t.Errorf("sendOutcome(StreamClosed) = %v", err)
	}
	if err := sendOutcome(7); !errors.As(err, &st) || st.Code != CodeInternal {
		t.Errorf("sendOutcome(7) = %v", err)
	}
}

func TestRecvStatus(t *testing.T) {
	var st *Status
	err := recvStatus(AppendStatus(nil, CodeDeadlineExceeded, "deadline passed"))
	if !errors.As(err, &st) || st.Code != CodeDeadlineExceeded || st.Message != "deadline passed" {
		t.Errorf("recvStatus(DEADLINE_EXCEEDED) = %v", err)
	}
	// An empty or broken status still ends the stream: CANCELLED.
	for _, b := range [][]byte{nil, {0x12, 0x05}, AppendStatus(nil, CodeOK, "")} {
		if err := recvStatus(b); !errors.As(err, &st) || st.Code != CodeCanceled {
			t.Errorf("recvStatus(% x) = %v", b, err)
		}
	}
}

func TestCompressionAlgorithm(t *testing.T) {
	for name, want := range map[string]int32{"gzip": CompressionGzip, "identity": CompressionNone, "": CompressionNone} {
		if got, ok := compressionAlgorithm(name); !ok || got != want {
			t.Errorf("compressionAlgorithm(%q) = %d, %v", name, got, ok)
		}
	}
	for _, name := range []string{"deflate", "GZIP", "snappy"} {
		if _, ok := compressionAlgorithm(name); ok {
			t.Errorf("compressionAlgorithm(%q) accepted", name)
		}
	}
}

func TestBeginCallForgetsTheLastCall(t *testing.T) {
	current = call{infoLoaded: true, metadata: MD{"a": {"1"}}, requestCompressed: true, recvCompressed: true}
	beginCall()
	if current.infoLoaded || current.metadata != nil || current.requestCompressed || current.recvCompressed {
		t.Errorf("after beginCall: %+v", current)
	}
}

func TestStreamConstants(t *testing.T) {
	// The values of docs/abi.md sections 14 and 15.
	if ImportStreamRecv != "stream_recv" || ImportStreamSend != "stream_send" ||
		ImportCallInfo != "call_info" || ImportDeadline != "deadline" ||
		ImportSetMetadata != "set_metadata" || ImportSetCompression != "set_compression" {
		t.Error("import names")
	}
	if FlagRecvEnd != 1 || FlagRecvCompressed != 2 || FlagSendUncompressed != 1 || StreamClosed != 1 {
		t.Error("stream flags")
	}
	if MetadataHeader != 0 || MetadataTrailer != 1 || MetadataRefused != -1 ||
		CompressionNone != 0 || CompressionGzip != 2 || NoDeadline != -1 {
		t.Error("context constants")
	}
	if !bytes.Equal(AppendTag(nil, 1, WireBytes), []byte{0x0A}) {
		t.Error("tag")
	}
}
