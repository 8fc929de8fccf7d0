// Command go_checkout implements shop.v1.Checkout in Go, compiled to WebAssembly
// by `bridge build`. It prices the cart with shop.v1.Inventory, which is still legacy
// Python: the host implements it and bridgegen.InventoryClient calls it.
//
// This file is yours: `bridge gen` never touches it. The glue in bridgegen/ is
// generated; refresh it after a schema change with
//
//	bridge gen -I proto/examples proto/examples/shop/v1/shop.proto --go-out examples/go-checkout/bridgegen
package main

import (
	"errors"

	"bridge.dev/guest"

	"bridge.local/go_checkout/bridgegen"
)

func main() {}

// server implements bridgegen.CheckoutServer.
type server struct{}

// Sum prices every line with Inventory.Price and takes 10% off with the coupon
// "SAVE10". A line with quantity 0 is INVALID_ARGUMENT; an SKU the host does not know
// (NOT_FOUND) is listed in unknown_skus; any other error of the host is returned as
// it is.
func (server) Sum(req *bridgegen.Cart) (*bridgegen.Total, error) {
	for i, line := range req.Lines {
		if line.GetQuantity() == 0 {
			return nil, guest.Errorf(guest.CodeInvalidArgument, "line %d: quantity must be at least 1", i)
		}
	}
	total := &bridgegen.Total{}
	inventory := bridgegen.InventoryClient{}
	for _, line := range req.Lines {
		price, err := inventory.Price(&bridgegen.PriceRequest{Sku: line.GetSku()})
		var status *guest.Status
		if errors.As(err, &status) && status.Code == guest.CodeNotFound {
			total.UnknownSkus = append(total.UnknownSkus, line.GetSku())
			continue
		}
		if err != nil {
			return nil, err
		}
		total.SubtotalCents += price.GetUnitPriceCents() * int64(line.GetQuantity())
	}
	if req.Coupon == "SAVE10" {
		total.DiscountCents = total.SubtotalCents / 10
	}
	total.TotalCents = total.SubtotalCents - total.DiscountCents
	return total, nil
}

func init() {
	bridgegen.RegisterCheckoutServer(server{})
}
