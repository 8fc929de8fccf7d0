//! shop.v1.Stock in Rust, compiled to WebAssembly by `bridge build`: reorder_quantity of
//! the legacy shop's shopapp/stock.py, ported one for one, the same limits giving the
//! same errors.
//!
//! This file is yours: `bridge gen` never touches it. The glue in src/bridge_gen.rs is
//! generated; refresh it after a schema change with (from examples/legacy-shop)
//!
//! ```text
//! bridge gen -I proto proto/shop/v1/legacy_shop.proto --rust-out guests/rust-stock/src
//! ```

mod bridge_gen;

use bridge_gen::shop::v1::{ReorderQuantityRequest, ReorderQuantityResponse, Stock};
use bridge_guest::Status;

/// An order covers this many days of demand beyond the reorder point.
const ORDER_CYCLE_DAYS: i64 = 14;
const MAX_UNITS: i64 = 10_000_000;
const MAX_DAILY_DEMAND: i64 = 1_000_000;
const MAX_DAYS: i64 = 365;
const MAX_PACK_SIZE: i64 = 10_000;

fn check(name: &str, value: i64, low: i64, high: i64) -> Result<(), Status> {
    if value < low || value > high {
        return Err(Status::invalid_argument(format!(
            "{} must be between {} and {}, not {}",
            name, low, high, value
        )));
    }
    Ok(())
}

pub struct Service;

impl Stock for Service {
    /// How much of an article to order now. The reorder point is
    /// daily_demand * (lead_time_days + safety_days); at or below it, order enough to
    /// reach it plus ORDER_CYCLE_DAYS of demand, rounded up to whole packs.
    fn reorder_quantity(
        &self,
        request: ReorderQuantityRequest,
    ) -> Result<ReorderQuantityResponse, Status> {
        check("on_hand", request.on_hand, 0, MAX_UNITS)?;
        check("reserved", request.reserved, 0, MAX_UNITS)?;
        check("daily_demand", request.daily_demand, 0, MAX_DAILY_DEMAND)?;
        check("lead_time_days", request.lead_time_days, 0, MAX_DAYS)?;
        check("safety_days", request.safety_days, 0, MAX_DAYS)?;
        check("pack_size", request.pack_size, 1, MAX_PACK_SIZE)?;
        // Every product below is at most 10^6 * 744 units: no overflow.
        let available = request.on_hand - request.reserved;
        let reorder_point = request.daily_demand * (request.lead_time_days + request.safety_days);
        if available > reorder_point {
            return Ok(ReorderQuantityResponse {
                quantity: 0,
                reorder_point,
                ..Default::default()
            });
        }
        // Not negative, since available <= reorder_point.
        let shortfall = reorder_point + request.daily_demand * ORDER_CYCLE_DAYS - available;
        let packs = (shortfall + request.pack_size - 1) / request.pack_size;
        Ok(ReorderQuantityResponse {
            quantity: packs * request.pack_size,
            reorder_point,
            ..Default::default()
        })
    }
}

bridge_gen::shop::v1::export_stock!(Service);
