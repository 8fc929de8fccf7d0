//! Guest side of the bridge ABI v1 (docs/abi.md) for Rust modules compiled to wasm32.
//!
//! Depending on this crate gives a `cdylib` the exports every bridge module needs
//! (`bridge_abi_v1`, `malloc`, `free`, and `_initialize` on wasm32-wasi, where `malloc`
//! and `free` need two lines of build.rs: see README.md), and:
//!
//! - `handle` (wasm32 only) to write a method export in one line, and
//!   `handle_server_streaming`, `handle_client_streaming`, `handle_bidi_streaming`, the
//!   typed entry points of streaming methods that generated glue uses (section 14);
//! - [`stream`]: a streaming call's messages, raw (`recv`, `send`) or typed ([`Source`],
//!   [`Sink`]); [`context`]: the call's metadata, deadline and compression (section 15);
//! - `host_call` (wasm32 only) to call a method the host implements (section 12);
//! - [`Status`]/[`Code`] for application errors, with [`Any`] details (section 5);
//! - [`Message`], which generated messages implement, and [`wire`], the protobuf
//!   wire-format primitives that hand-written and generated message code use.
//!
//! ```ignore
//! #[export_name = "pricing.v1.Pricing/Quote"]
//! pub extern "C" fn quote(req_ptr: u32, req_len: u32) -> u64 {
//!     bridge_guest::handle(req_ptr, req_len, |request: &[u8]| {
//!         let response: Vec<u8> = /* decode, compute, encode */;
//!         Ok(response) // or Err(Status::invalid_argument("..."))
//!     })
//! }
//! ```
//!
//! The crate is `no_std` (with `alloc`) outside tests because nothing here needs std, so
//! it costs nothing: a std guest (the normal case, and the only one on rustc 1.63) links
//! it unchanged. A `no_std` guest must bring its own `#[global_allocator]` and
//! `#[panic_handler]`, and before Rust 1.68 a `no_std` artifact that allocates also
//! needs the unstable `#[alloc_error_handler]`, so on the 1.63 toolchain guests use std;
//! std's panic handler then serves this crate too. The tests run natively with std.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

extern crate alloc;

// The scratch slot of `handle` relies on a single thread (see call.rs).
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("bridge-guest assumes single-threaded wasm32 (no `atomics` target feature)");

pub mod abi;
mod call;
pub mod context;
#[cfg(target_arch = "wasm32")]
mod exports;
mod host;
#[cfg(target_arch = "wasm32")]
mod imports;
mod message;
mod status;
pub mod stream;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub use call::{handle, handle_bidi_streaming, handle_client_streaming, handle_server_streaming};
pub use context::Compression;
#[cfg(target_arch = "wasm32")]
pub use host::host_call;
pub use message::{encode_checked, Message};
pub use status::{Any, Code, Status, TYPE_URL_PREFIX};
pub use stream::{Sink, Source};
pub use wire::DecodeError;
