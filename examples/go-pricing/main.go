// Command go-pricing is a hand-written bridge guest in Go: pricing.v1.Pricing from
// proto/examples/pricing/v1/pricing.proto as three method exports (docs/abi.md).
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o /tmp/go-pricing.wasm .
package main

import "bridge.dev/guest"

func main() {}

// out is the response buffer, reused from call to call: guest.Handle returns it
// BORROWED, and the host copies it out before it calls into this instance again.
var out []byte

// badRequest is the INVALID_ARGUMENT answer to a request that cannot be decoded.
func badRequest(err error) error {
	return guest.Errorf(guest.CodeInvalidArgument, "malformed request: %v", err)
}

//go:wasmexport pricing.v1.Pricing/Quote
func quoteExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(b []byte) ([]byte, error) {
		var req quoteRequest
		if err := req.unmarshal(b); err != nil {
			return nil, badRequest(err)
		}
		resp, err := quote(&req)
		if err != nil {
			return nil, err
		}
		out = resp.marshal(out[:0])
		return out, nil
	})
}

//go:wasmexport pricing.v1.Pricing/NormalizeSku
func normalizeSkuExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(b []byte) ([]byte, error) {
		var req normalizeSkuRequest
		if err := req.unmarshal(b); err != nil {
			return nil, badRequest(err)
		}
		resp := normalizeSkuResponse{Sku: normalizeSku(req.Sku)}
		out = resp.marshal(out[:0])
		return out, nil
	})
}

//go:wasmexport pricing.v1.Pricing/Lookup
func lookupExport(reqPtr, reqLen uint32) uint64 {
	return guest.Handle(reqPtr, reqLen, func(b []byte) ([]byte, error) {
		var req lookupRequest
		if err := req.unmarshal(b); err != nil {
			return nil, badRequest(err)
		}
		resp, err := lookup(&req)
		if err != nil {
			return nil, err
		}
		out = resp.marshal(out[:0])
		return out, nil
	})
}
