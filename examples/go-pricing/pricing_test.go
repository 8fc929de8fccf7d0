package main

// Native tests of the logic and the hand-written encoding; the expected bytes were
// produced by Python protobuf's SerializeToString. The wasm build is checked against
// Python protobuf end to end by the repository's Python tests.

import (
	"encoding/hex"
	"errors"
	"math"
	"testing"

	"bridge.dev/guest"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNormalizeSku(t *testing.T) {
	tests := map[string]string{
		"":                 "",
		"   ":              "",
		"apple 1":          "APPLE-1",
		"  pear\t2  ":      "PEAR-2",
		"a\v b\fc\r\nd":    "A-B-C-D",
		"already-NORMAL":   "ALREADY-NORMAL",
		"héllo wörld":      "HéLLO-WöRLD",
		"x\u00a0y":         "X\u00a0Y", // NBSP is not ASCII whitespace
		"z\x00z":           "Z\x00Z",
		"many   spaces  x": "MANY-SPACES-X",
	}
	for in, want := range tests {
		if got := normalizeSku(in); got != want {
			t.Errorf("normalizeSku(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	resp, err := quote(&quoteRequest{Sku: " apple 1 ", Quantity: 12, UnitPriceCents: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := "0a074150504c452d3110d804183c209c042a035553443213766f6c756d6520646973636f756e7420313025"
	if got := hex.EncodeToString(resp.marshal(nil)); got != want {
		t.Errorf("Quote response = %s, want %s", got, want)
	}
	resp, err = quote(&quoteRequest{Sku: "x", Quantity: 9, UnitPriceCents: 0})
	if err != nil || hex.EncodeToString(resp.marshal(nil)) != "0a01582a03555344" {
		t.Errorf("zero-price quote = %+v, %v", resp, err)
	}
	errs := []struct {
		req  quoteRequest
		code guest.Code
		msg  string
	}{
		{quoteRequest{Sku: " \t ", Quantity: 1}, guest.CodeInvalidArgument, "sku is required"},
		{quoteRequest{Sku: "a", Quantity: 0}, guest.CodeInvalidArgument, "quantity must be at least 1"},
		{quoteRequest{Sku: "a", Quantity: 1, UnitPriceCents: -1}, guest.CodeInvalidArgument, "unit_price_cents must not be negative"},
		{quoteRequest{Sku: "a", Quantity: 2, UnitPriceCents: math.MaxInt64/2 + 1}, guest.CodeInvalidArgument, "subtotal overflows int64"},
	}
	for _, tt := range errs {
		_, err := quote(&tt.req)
		var st *guest.Status
		if !errors.As(err, &st) || st.Code != tt.code || st.Message != tt.msg {
			t.Errorf("quote(%+v) error = %v, want %s: %s", tt.req, err, tt.code, tt.msg)
		}
	}
	if resp, err := quote(&quoteRequest{Sku: "a", Quantity: 1, UnitPriceCents: math.MaxInt64}); err != nil || resp.TotalCents != math.MaxInt64 {
		t.Errorf("max price = %+v, %v", resp, err)
	}
}

func TestQuoteResponseEncoding(t *testing.T) {
	m := quoteResponse{Sku: "X", SubtotalCents: -1, Currency: "EUR", Notes: []string{"", "a"}}
	if got := hex.EncodeToString(m.marshal(nil)); got != "0a015810ffffffffffffffffff012a034555523200320161" {
		t.Errorf("encoding = %s", got)
	}
	if got := (&quoteResponse{}).marshal(nil); len(got) != 0 {
		t.Errorf("default message encodes to % x", got)
	}
}

func TestLookup(t *testing.T) {
	resp, err := lookup(&lookupRequest{Sku: "pear  2"})
	if err != nil || hex.EncodeToString(resp.marshal(nil)) != "0a06504541522d32120450656172184b" {
		t.Errorf("lookup = %+v, %v", resp, err)
	}
	_, err = lookup(&lookupRequest{Sku: "kiwi 9"})
	if code, msg := guest.StatusOf(err); code != guest.CodeNotFound || msg != `sku "KIWI-9" not found` {
		t.Errorf("lookup(kiwi) error = %v", err)
	}
}

func TestDecodeQuoteRequest(t *testing.T) {
	var req quoteRequest
	if err := req.unmarshal(unhex(t, "0a06706561722032100318b5ffffffffffffffff012203455552")); err != nil {
		t.Fatal(err)
	}
	if req != (quoteRequest{Sku: "pear 2", Quantity: 3, UnitPriceCents: -75, Currency: "EUR"}) {
		t.Errorf("decoded %+v", req)
	}
	// Unknown fields (varint, fixed64, group, a known number with a wrong wire type) are skipped.
	req = quoteRequest{}
	msg := unhex(t, "7805"+"8101"+"0101010101010101"+"9b0108019c01"+"1500000000"+"0a0161"+"1007")
	if err := req.unmarshal(msg); err != nil || req != (quoteRequest{Sku: "a", Quantity: 7}) {
		t.Errorf("with unknown fields: %+v, %v", req, err)
	}
	// The last occurrence of a field wins; uint32 takes the low 32 bits of the varint.
	req = quoteRequest{}
	if err := req.unmarshal(unhex(t, "0a01610a0162"+"10ffffffff1f")); err != nil || req.Sku != "b" || req.Quantity != math.MaxUint32 {
		t.Errorf("repeated field: %+v, %v", req, err)
	}
	for _, bad := range []string{"1080", "0a0561", "0001", "0f", "0c", "0b14", "10ffffffffffffffffffff01", "0a02c328"} {
		if err := new(quoteRequest).unmarshal(unhex(t, bad)); err == nil {
			t.Errorf("malformed %s decoded without error", bad)
		}
		if err := new(lookupRequest).unmarshal(unhex(t, bad)); err == nil {
			t.Errorf("malformed %s decoded without error (lookup)", bad)
		}
	}
}
