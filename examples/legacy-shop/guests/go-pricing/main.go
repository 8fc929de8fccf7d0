// Command go_pricing implements shop.v1.Pricing in Go, compiled to WebAssembly by
// `bridge build`: line_total and vat_cents of the legacy shop's shopapp/pricing.py,
// ported one for one, the same limits giving the same errors.
//
// This file is yours: `bridge gen` never touches it. The glue in bridgegen/ is
// generated; refresh it after a schema change with (from examples/legacy-shop)
//
//	bridge gen -I proto proto/shop/v1/legacy_shop.proto --go-out guests/go-pricing/bridgegen
package main

import (
	"math"

	"bridge.dev/guest"

	"bridge.local/go_pricing/bridgegen"
)

func main() {}

const (
	maxUnitPriceCents  = 10_000_000
	maxQuantity        = 100_000
	maxDiscountPercent = 30 // the customer's and the bulk discount together
	maxNetCents        = 1_000_000_000_000
)

// bulkDiscounts are (from this quantity, percent off), the largest quantity first.
var bulkDiscounts = [...]struct{ minQuantity, percent int64 }{{50, 10}, {10, 5}}

// server implements bridgegen.PricingServer.
type server struct{}

func bulkDiscountPercent(quantity int64) int64 {
	for _, d := range bulkDiscounts {
		if quantity >= d.minQuantity {
			return d.percent
		}
	}
	return 0
}

// LineTotal is the price of an order line in cents after the customer's discount and
// the bulk discount, together at most 30%; the discount is rounded down to the cent.
func (server) LineTotal(req *bridgegen.LineTotalRequest) (*bridgegen.LineTotalResponse, error) {
	if req.UnitPriceCents < 0 || req.UnitPriceCents > maxUnitPriceCents {
		return nil, guest.Errorf(guest.CodeInvalidArgument,
			"unit_price_cents must be between 0 and %d, not %d", maxUnitPriceCents, req.UnitPriceCents)
	}
	if req.Quantity < 1 || req.Quantity > maxQuantity {
		return nil, guest.Errorf(guest.CodeInvalidArgument,
			"quantity must be between 1 and %d, not %d", maxQuantity, req.Quantity)
	}
	if req.DiscountPercent < 0 || req.DiscountPercent > 100 {
		return nil, guest.Errorf(guest.CodeInvalidArgument,
			"discount_percent must be between 0 and 100, not %d", req.DiscountPercent)
	}
	// At most 10^7 * 10^5 = 10^12 cents: no overflow below.
	gross := req.UnitPriceCents * req.Quantity
	percent := min(req.DiscountPercent+bulkDiscountPercent(req.Quantity), maxDiscountPercent)
	return &bridgegen.LineTotalResponse{TotalCents: gross - gross*percent/100}, nil
}

// Vat is the VAT on net_cents at rate_permille (190 is 19%), to the nearest cent.
func (server) Vat(req *bridgegen.VatRequest) (*bridgegen.VatResponse, error) {
	if req.NetCents < 0 || req.NetCents > maxNetCents {
		return nil, guest.Errorf(guest.CodeInvalidArgument,
			"net_cents must be between 0 and %d, not %d", maxNetCents, req.NetCents)
	}
	if req.RatePermille < 0 || req.RatePermille > 1000 {
		return nil, guest.Errorf(guest.CodeInvalidArgument,
			"rate_permille must be between 0 and 1000, not %d", req.RatePermille)
	}
	// At most 10^15, exact in a float64, as in Python.
	vat := math.Round(float64(req.NetCents*req.RatePermille) / 1000)
	return &bridgegen.VatResponse{VatCents: int64(vat)}, nil
}

func init() {
	bridgegen.RegisterPricingServer(server{})
}
