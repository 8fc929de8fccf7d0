package main

// The business logic of pricing.v1.Pricing, on plain Go values; main.go wires it to
// the method exports.

import (
	"math"

	"bridge.dev/guest"
)

type catalogueEntry struct {
	name           string
	unitPriceCents int64
}

var catalogue = map[string]catalogueEntry{
	"APPLE-1": {"Apple", 50},
	"PEAR-2":  {"Pear", 75},
	"PLUM-3":  {"Plum", 120},
}

// normalizeSku splits sku on ASCII whitespace (space, \t, \n, \r, \v, \f), drops the
// empty parts, joins them with "-" and upper-cases ASCII letters; other bytes
// (including UTF-8 multi-byte sequences) are kept as they are.
func normalizeSku(sku string) string {
	out := make([]byte, 0, len(sku))
	pendingDash := false
	for i := 0; i < len(sku); i++ {
		c := sku[i]
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			pendingDash = len(out) > 0
			continue
		}
		if pendingDash {
			out = append(out, '-')
			pendingDash = false
		}
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

func quote(req *quoteRequest) (*quoteResponse, error) {
	sku := normalizeSku(req.Sku)
	if sku == "" {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "sku is required")
	}
	if req.Quantity == 0 {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "quantity must be at least 1")
	}
	if req.UnitPriceCents < 0 {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "unit_price_cents must not be negative")
	}
	qty := int64(req.Quantity)
	if req.UnitPriceCents > math.MaxInt64/qty {
		return nil, guest.Errorf(guest.CodeInvalidArgument, "subtotal overflows int64")
	}
	subtotal := req.UnitPriceCents * qty
	var discount int64
	if req.Quantity >= 10 {
		discount = subtotal / 10
	}
	currency := req.Currency
	if currency == "" {
		currency = "USD"
	}
	resp := &quoteResponse{
		Sku:           sku,
		SubtotalCents: subtotal,
		DiscountCents: discount,
		TotalCents:    subtotal - discount,
		Currency:      currency,
	}
	if discount > 0 {
		resp.Notes = []string{"volume discount 10%"}
	}
	return resp, nil
}

func lookup(req *lookupRequest) (*lookupResponse, error) {
	sku := normalizeSku(req.Sku)
	entry, ok := catalogue[sku]
	if !ok {
		return nil, guest.NewStatus(guest.CodeNotFound, `sku "`+sku+`" not found`)
	}
	return &lookupResponse{Sku: sku, Name: entry.name, UnitPriceCents: entry.unitPriceCents}, nil
}
