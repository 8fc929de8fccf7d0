//! The test guest of tests/codegen/test_rust.py, on code that `bridge.codegen.rust`
//! generates (the test writes it, it is not checked in):
//!
//! - src/bridge_gen.rs from proto/examples/kitchen/v1/kitchen.proto: `kitchen.v1.Kitchen`,
//!   where Echo answers with its request (decoded and encoded again) and Ping with an
//!   empty message, exported with the macro's default module path;
//! - src/generated/pricing_gen.rs from proto/examples/pricing/v1/pricing.proto, mounted
//!   one module down and exported with an explicit module path: only Quote is
//!   implemented, the other methods answer UNIMPLEMENTED.
#![deny(warnings)]

mod bridge_gen;

mod generated {
    pub mod pricing_gen;
}

use bridge_gen::google::protobuf::Empty;
use bridge_gen::kitchen::v1::{Everything, Kitchen};
use bridge_guest::Status;
use generated::pricing_gen::pricing::v1::{Pricing, QuoteRequest, QuoteResponse};

/// `kitchen.v1.Kitchen`: a unit struct.
pub struct Host;

impl Kitchen for Host {
    fn echo(&self, request: Everything) -> Result<Everything, Status> {
        Ok(request)
    }

    fn ping(&self, _request: Empty) -> Result<Empty, Status> {
        Ok(Empty::default())
    }
}

bridge_gen::kitchen::v1::export_kitchen!(Host);

/// `pricing.v1.Pricing`, Quote only: a value with a field, given as a const expression.
pub struct Prices {
    pub note: &'static str,
}

impl Pricing for Prices {
    fn quote(&self, request: QuoteRequest) -> Result<QuoteResponse, Status> {
        let total = request
            .unit_price_cents
            .checked_mul(i64::from(request.quantity))
            .ok_or_else(|| Status::invalid_argument("total overflows int64"))?;
        Ok(QuoteResponse {
            sku: request.sku,
            total_cents: total,
            notes: vec![self.note.to_string()],
            ..QuoteResponse::default()
        })
    }
}

generated::pricing_gen::pricing::v1::export_pricing!(
    Prices { note: "generated" },
    crate::generated::pricing_gen
);
