//! shop.v1.Checkout in Rust, compiled to WebAssembly by `bridge build`. It prices the
//! cart with shop.v1.Inventory, which is still legacy Python: the host implements it and
//! `bridge_gen::shop::v1::InventoryClient` calls it.
//!
//! This file is yours: `bridge gen` never touches it. The glue in src/bridge_gen.rs is
//! generated; refresh it after a schema change with
//!
//! ```text
//! bridge gen -I proto/examples proto/examples/shop/v1/shop.proto --rust-out examples/rust-checkout/src
//! ```

mod bridge_gen;

use bridge_gen::shop::v1::{Cart, Checkout, InventoryClient, PriceRequest, Total};
use bridge_guest::{Code, Status};

/// The coupon that takes 10% off.
const COUPON: &str = "SAVE10";

pub struct Service;

impl Checkout for Service {
    /// Prices every line with Inventory.Price and takes 10% off with the coupon "SAVE10".
    /// A line with quantity 0 is INVALID_ARGUMENT; an SKU the host does not know
    /// (NOT_FOUND) is listed in unknown_skus; any other error of the host is returned as
    /// it is.
    fn sum(&self, request: Cart) -> Result<Total, Status> {
        for (i, line) in request.lines.iter().enumerate() {
            if line.quantity == 0 {
                return Err(Status::new(
                    Code::InvalidArgument,
                    format!("line {}: quantity must be at least 1", i),
                ));
            }
        }
        let mut total = Total::default();
        for line in &request.lines {
            let price = InventoryClient.price(&PriceRequest {
                sku: line.sku.clone(),
                ..Default::default()
            });
            let price = match price {
                Ok(price) => price,
                Err(status) if status.code == Code::NotFound => {
                    total.unknown_skus.push(line.sku.clone());
                    continue;
                }
                Err(status) => return Err(status),
            };
            total.subtotal_cents = price
                .unit_price_cents
                .checked_mul(i64::from(line.quantity))
                .and_then(|cents| total.subtotal_cents.checked_add(cents))
                .ok_or_else(|| Status::new(Code::InvalidArgument, "subtotal overflows int64"))?;
        }
        if request.coupon == COUPON {
            total.discount_cents = total.subtotal_cents / 10;
        }
        // Cannot overflow: the discount has the subtotal's sign and is smaller.
        total.total_cents = total.subtotal_cents - total.discount_cents;
        Ok(total)
    }
}

bridge_gen::shop::v1::export_checkout!(Service);
