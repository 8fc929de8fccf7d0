//! `pricing.v1.Pricing` (proto/examples/pricing/v1/pricing.proto) as a hand-written Rust
//! bridge guest: three functions of a legacy pricing module, exported under their gRPC
//! method names, with the protobuf messages encoded and decoded by hand on
//! `bridge_guest::wire` (code generation will write this part later).
//!
//! Build: `cargo build --release --target wasm32-unknown-unknown` (or `wasm32-wasi`,
//! which needs the build.rs next to this crate). The handlers are plain functions from
//! request bytes to response bytes, so `cargo test` checks them natively; the wasm
//! exports at the bottom are one line each.

use bridge_guest::wire::{self, Reader};
use bridge_guest::{DecodeError, Status};

// ---------------------------------------------------------------------------
// Messages. Decoders borrow strings from the request, take the last value of a repeated
// scalar field (proto3 semantics), and skip unknown fields and fields whose wire type does
// not match the schema, as the reference implementations do. Encoders write fields in
// number order and omit proto3 defaults, so the bytes equal Python's SerializeToString.

/// `message QuoteRequest { string sku = 1; uint32 quantity = 2; int64 unit_price_cents = 3; string currency = 4; }`
#[derive(Debug, Default, PartialEq, Eq)]
struct QuoteRequest<'a> {
    sku: &'a str,
    quantity: u32,
    unit_price_cents: i64,
    currency: &'a str,
}

impl<'a> QuoteRequest<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut msg = QuoteRequest::default();
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::LEN) => msg.sku = r.read_str()?,
                (2, wire::VARINT) => msg.quantity = r.read_uint32()?,
                (3, wire::VARINT) => msg.unit_price_cents = r.read_int64()?,
                (4, wire::LEN) => msg.currency = r.read_str()?,
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        Ok(msg)
    }
}

/// `message QuoteResponse { string sku = 1; int64 subtotal_cents = 2; int64 discount_cents = 3;
/// int64 total_cents = 4; string currency = 5; repeated string notes = 6; }`
#[derive(Debug, Default, PartialEq, Eq)]
struct QuoteResponse<'a> {
    sku: &'a str,
    subtotal_cents: i64,
    discount_cents: i64,
    total_cents: i64,
    currency: &'a str,
    notes: Vec<&'a str>,
}

impl QuoteResponse<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        if !self.sku.is_empty() {
            wire::encode_str_field(&mut buf, 1, self.sku);
        }
        if self.subtotal_cents != 0 {
            wire::encode_int64_field(&mut buf, 2, self.subtotal_cents);
        }
        if self.discount_cents != 0 {
            wire::encode_int64_field(&mut buf, 3, self.discount_cents);
        }
        if self.total_cents != 0 {
            wire::encode_int64_field(&mut buf, 4, self.total_cents);
        }
        if !self.currency.is_empty() {
            wire::encode_str_field(&mut buf, 5, self.currency);
        }
        for note in &self.notes {
            wire::encode_str_field(&mut buf, 6, note);
        }
        buf
    }
}

/// The request of NormalizeSku and Lookup: `message { string sku = 1; }`.
#[derive(Debug, Default, PartialEq, Eq)]
struct SkuRequest<'a> {
    sku: &'a str,
}

impl<'a> SkuRequest<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut msg = SkuRequest::default();
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::LEN) => msg.sku = r.read_str()?,
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        Ok(msg)
    }
}

/// `message NormalizeSkuResponse { string sku = 1; }`
fn encode_normalize_sku_response(sku: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    if !sku.is_empty() {
        wire::encode_str_field(&mut buf, 1, sku);
    }
    buf
}

/// `message LookupResponse { string sku = 1; string name = 2; int64 unit_price_cents = 3; }`
fn encode_lookup_response(sku: &str, name: &str, unit_price_cents: i64) -> Vec<u8> {
    let mut buf = Vec::new();
    if !sku.is_empty() {
        wire::encode_str_field(&mut buf, 1, sku);
    }
    if !name.is_empty() {
        wire::encode_str_field(&mut buf, 2, name);
    }
    if unit_price_cents != 0 {
        wire::encode_int64_field(&mut buf, 3, unit_price_cents);
    }
    buf
}

// ---------------------------------------------------------------------------
// The legacy logic.

/// The ASCII whitespace a SKU is split on: space, \t, \n, \r, \v (0x0B) and \f (0x0C).
/// (`char::is_ascii_whitespace` leaves out \v, so it is not used.)
fn is_sku_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0B' | '\x0C')
}

/// Canonical SKU: whitespace-separated parts joined with `-`, ASCII letters upper-cased
/// (other characters unchanged). All whitespace gives the empty string.
fn normalize(sku: &str) -> String {
    let mut out = String::with_capacity(sku.len());
    for part in sku.split(is_sku_space).filter(|part| !part.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(part);
    }
    out.make_ascii_uppercase();
    out
}

/// The built-in catalogue: normalized SKU to (name, unit price in cents).
fn catalogue(sku: &str) -> Option<(&'static str, i64)> {
    match sku {
        "APPLE-1" => Some(("Apple", 50)),
        "PEAR-2" => Some(("Pear", 75)),
        "PLUM-3" => Some(("Plum", 120)),
        _ => None,
    }
}

/// From this many items on, 10% off.
const VOLUME_DISCOUNT_MIN_QUANTITY: u32 = 10;

// ---------------------------------------------------------------------------
// Handlers: request bytes to response bytes or a Status.

/// `rpc Quote(QuoteRequest) returns (QuoteResponse)`
pub fn quote(request: &[u8]) -> Result<Vec<u8>, Status> {
    let req = QuoteRequest::decode(request)?;
    let sku = normalize(req.sku);
    if sku.is_empty() {
        return Err(Status::invalid_argument("sku is required"));
    }
    if req.quantity == 0 {
        return Err(Status::invalid_argument("quantity must be at least 1"));
    }
    if req.unit_price_cents < 0 {
        return Err(Status::invalid_argument(
            "unit_price_cents must not be negative",
        ));
    }
    let subtotal = req
        .unit_price_cents
        .checked_mul(i64::from(req.quantity))
        .ok_or_else(|| Status::invalid_argument("subtotal overflows int64"))?;
    let discount = if req.quantity >= VOLUME_DISCOUNT_MIN_QUANTITY {
        subtotal / 10
    } else {
        0
    };
    let mut notes = Vec::new();
    if discount > 0 {
        notes.push("volume discount 10%");
    }
    let response = QuoteResponse {
        sku: &sku,
        subtotal_cents: subtotal,
        discount_cents: discount,
        total_cents: subtotal - discount,
        currency: if req.currency.is_empty() {
            "USD"
        } else {
            req.currency
        },
        notes,
    };
    Ok(response.encode())
}

/// `rpc NormalizeSku(NormalizeSkuRequest) returns (NormalizeSkuResponse)`
pub fn normalize_sku(request: &[u8]) -> Result<Vec<u8>, Status> {
    let req = SkuRequest::decode(request)?;
    Ok(encode_normalize_sku_response(&normalize(req.sku)))
}

/// `rpc Lookup(LookupRequest) returns (LookupResponse)`
pub fn lookup(request: &[u8]) -> Result<Vec<u8>, Status> {
    let req = SkuRequest::decode(request)?;
    let sku = normalize(req.sku);
    match catalogue(&sku) {
        Some((name, unit_price_cents)) => Ok(encode_lookup_response(&sku, name, unit_price_cents)),
        None => Err(Status::not_found(format!("sku \"{}\" not found", sku))),
    }
}

// ---------------------------------------------------------------------------
// The wasm exports (docs/abi.md, section 3): `(req_ptr: i32, req_len: i32) -> i64`,
// named after the full gRPC method name. `bridge_abi_v1`, `malloc` and `free` come from
// bridge-guest.

#[cfg(target_arch = "wasm32")]
mod exports {
    #[export_name = "pricing.v1.Pricing/Quote"]
    pub extern "C" fn quote(req_ptr: u32, req_len: u32) -> u64 {
        bridge_guest::handle(req_ptr, req_len, super::quote)
    }

    #[export_name = "pricing.v1.Pricing/NormalizeSku"]
    pub extern "C" fn normalize_sku(req_ptr: u32, req_len: u32) -> u64 {
        bridge_guest::handle(req_ptr, req_len, super::normalize_sku)
    }

    #[export_name = "pricing.v1.Pricing/Lookup"]
    pub extern "C" fn lookup(req_ptr: u32, req_len: u32) -> u64 {
        bridge_guest::handle(req_ptr, req_len, super::lookup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_guest::Code;

    fn quote_request(sku: &str, quantity: u32, unit_price_cents: i64, currency: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        if !sku.is_empty() {
            wire::encode_str_field(&mut buf, 1, sku);
        }
        if quantity != 0 {
            wire::encode_varint_field(&mut buf, 2, quantity as u64);
        }
        if unit_price_cents != 0 {
            wire::encode_int64_field(&mut buf, 3, unit_price_cents);
        }
        if !currency.is_empty() {
            wire::encode_str_field(&mut buf, 4, currency);
        }
        buf
    }

    fn sku_request(sku: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        wire::encode_str_field(&mut buf, 1, sku);
        buf
    }

    fn code_of(result: Result<Vec<u8>, Status>) -> (Code, String) {
        let status = result.unwrap_err();
        (status.code, status.message)
    }

    #[test]
    fn normalize_table() {
        let cases = [
            ("apple 1", "APPLE-1"),
            ("  pear\t\t2\n", "PEAR-2"),
            ("a\x0Bb\x0Cc\rd", "A-B-C-D"),
            ("", ""),
            (" \t\n ", ""),
            ("äpfel x", "äPFEL-X"),
            ("already-NORMAL", "ALREADY-NORMAL"),
            ("a\u{a0}b", "A\u{a0}B"), // NBSP is not ASCII whitespace
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{:?}", input);
        }
    }

    #[test]
    fn quote_with_volume_discount() {
        let got = quote(&quote_request(" apple 1 ", 10, 50, "")).unwrap();
        let mut want = Vec::new();
        wire::encode_str_field(&mut want, 1, "APPLE-1");
        wire::encode_int64_field(&mut want, 2, 500);
        wire::encode_int64_field(&mut want, 3, 50);
        wire::encode_int64_field(&mut want, 4, 450);
        wire::encode_str_field(&mut want, 5, "USD");
        wire::encode_str_field(&mut want, 6, "volume discount 10%");
        assert_eq!(got, want);
    }

    #[test]
    fn quote_without_discount_omits_defaults() {
        let got = quote(&quote_request("plum 3", 1, 0, "EUR")).unwrap();
        assert_eq!(got, b"\x0a\x06PLUM-3\x2a\x03EUR");
    }

    #[test]
    fn quote_errors() {
        let cases = [
            (quote_request(" ", 1, 1, ""), "sku is required"),
            (quote_request("x", 0, 1, ""), "quantity must be at least 1"),
            (
                quote_request("x", 1, -1, ""),
                "unit_price_cents must not be negative",
            ),
            (
                quote_request("x", 2, i64::MAX, ""),
                "subtotal overflows int64",
            ),
        ];
        for (request, message) in cases {
            assert_eq!(
                code_of(quote(&request)),
                (Code::InvalidArgument, message.to_string())
            );
        }
    }

    #[test]
    fn lookup_found_and_missing() {
        let got = lookup(&sku_request("pear  2")).unwrap();
        assert_eq!(got, b"\x0a\x06PEAR-2\x12\x04Pear\x18\x4b");
        assert_eq!(
            code_of(lookup(&sku_request("kiwi 9"))),
            (Code::NotFound, "sku \"KIWI-9\" not found".to_string())
        );
    }

    #[test]
    fn empty_normalization_is_an_empty_response() {
        assert_eq!(normalize_sku(&sku_request(" ")), Ok(Vec::new()));
        assert_eq!(normalize_sku(&[]), Ok(Vec::new()));
    }

    #[test]
    fn unknown_and_mismatched_fields_are_skipped() {
        let mut request = Vec::new();
        wire::encode_varint_field(&mut request, 1, 7); // sku with the wrong wire type
        wire::encode_str_field(&mut request, 99, "ignored");
        wire::encode_str_field(&mut request, 1, "first");
        wire::encode_str_field(&mut request, 1, "plum 3"); // last one wins
        assert_eq!(normalize_sku(&request).unwrap(), b"\x0a\x06PLUM-3");
    }

    #[test]
    fn malformed_requests_are_invalid_argument() {
        let cases: [&[u8]; 5] = [
            b"\x0a\x05ab",       // string runs past the end
            b"\x0a\x02\xc3\x28", // invalid UTF-8
            b"\x00",             // field number 0
            b"\x0f",             // wire type 7
            b"\x10\x80",         // truncated varint
        ];
        for request in cases {
            assert_eq!(
                code_of(quote(request)).0,
                Code::InvalidArgument,
                "{:02X?}",
                request
            );
            assert_eq!(
                code_of(lookup(request)).0,
                Code::InvalidArgument,
                "{:02X?}",
                request
            );
        }
    }
}
