//! `pricing.v1.Pricing/Quote` as an Extism plugin: the same handler as the bridge guest
//! in examples/rust-pricing, behind Extism's plugin ABI instead of the bridge ABI.
//!
//! Extism keeps a plugin's input and output in the memory of its *kernel*, a second
//! module the host links in as `extism:host/env`; the plugin reaches that memory only
//! through the kernel's functions. A call therefore copies the input in (eight bytes per
//! kernel call, then byte by byte), runs the handler, and copies the output the same way
//! into a block the kernel allocates. The copy helpers are written over closures so that
//! `cargo test` checks them natively; the wasm glue at the bottom hands them the imports.

use bridge_guest::Status;

/// Copy `len` bytes from a source that loads 8 little-endian bytes or 1 byte at an offset.
fn copy_in(len: u64, load_u64: impl Fn(u64) -> u64, load_u8: impl Fn(u64) -> u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let mut offset = 0;
    while offset + 8 <= len {
        out.extend_from_slice(&load_u64(offset).to_le_bytes());
        offset += 8;
    }
    while offset < len {
        out.push(load_u8(offset));
        offset += 1;
    }
    out
}

/// Copy `bytes` to a sink that stores 8 little-endian bytes or 1 byte at an offset.
fn copy_out(bytes: &[u8], mut store_u64: impl FnMut(u64, u64), mut store_u8: impl FnMut(u64, u8)) {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        store_u64(offset, u64::from_le_bytes(word));
        offset += 8;
    }
    for &byte in chunks.remainder() {
        store_u8(offset, byte);
        offset += 1;
    }
}

/// The text of the Extism error for a handler's `Err`: `<Code>: <message>`.
fn error_text(status: &Status) -> String {
    format!("{:?}: {}", status.code, status.message)
}

// ---------------------------------------------------------------------------
// The Extism plugin ABI: kernel imports and the exported function.

#[cfg(target_arch = "wasm32")]
mod plugin {
    use super::{copy_in, copy_out, error_text};

    // The kernel functions this plugin uses. Extism offsets and lengths are `u64` (wasm
    // `i64`); a byte travels as a wasm `i32`. An offset of 0 means "no memory".
    #[link(wasm_import_module = "extism:host/env")]
    extern "C" {
        fn input_length() -> u64;
        fn input_load_u8(offset: u64) -> u8;
        fn input_load_u64(offset: u64) -> u64;
        fn alloc(length: u64) -> u64;
        fn store_u8(offset: u64, value: u8);
        fn store_u64(offset: u64, value: u64);
        fn output_set(offset: u64, length: u64);
        fn error_set(offset: u64);
    }

    /// The call's input, copied out of kernel memory.
    fn input() -> Vec<u8> {
        // SAFETY: the kernel checks nothing but reads only inside the input it was given,
        // and `copy_in` asks for offsets below `input_length` only.
        unsafe {
            copy_in(
                input_length(),
                |offset| input_load_u64(offset),
                |offset| input_load_u8(offset),
            )
        }
    }

    /// `bytes` copied into a new kernel block; its offset, 0 when the kernel is out of
    /// memory (or `bytes` is empty).
    fn to_kernel(bytes: &[u8]) -> u64 {
        // SAFETY: every store lands inside the block of `bytes.len()` bytes just allocated.
        unsafe {
            let block = alloc(bytes.len() as u64);
            if block != 0 {
                copy_out(
                    bytes,
                    |offset, word| store_u64(block + offset, word),
                    |offset, byte| store_u8(block + offset, byte),
                );
            }
            block
        }
    }

    /// `quote: () -> i32`: the input is an encoded QuoteRequest, the output the encoded
    /// QuoteResponse; 0 on success, 1 with the Extism error set when the handler fails.
    #[no_mangle]
    pub extern "C" fn quote() -> i32 {
        match rust_pricing::quote(&input()) {
            Ok(response) => {
                if response.is_empty() {
                    return 0; // the kernel's output is empty after its per-call reset
                }
                let block = to_kernel(&response);
                if block == 0 {
                    return 2; // no room for the output (and none for a message either)
                }
                // SAFETY: `block` is a kernel block of exactly `response.len()` bytes.
                unsafe { output_set(block, response.len() as u64) };
                0
            }
            Err(status) => {
                let block = to_kernel(error_text(&status).as_bytes());
                if block != 0 {
                    // SAFETY: `block` is a kernel block holding the message.
                    unsafe { error_set(block) };
                }
                1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn copies_round_trip_every_length() {
        for len in 0..=33usize {
            let source: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let load_u64 = |offset: u64| {
                let start = offset as usize;
                assert!(start + 8 <= len, "u64 load past the end at {}", offset);
                let mut word = [0u8; 8];
                word.copy_from_slice(&source[start..start + 8]);
                u64::from_le_bytes(word)
            };
            let load_u8 = |offset: u64| source[offset as usize];
            let copied = copy_in(len as u64, load_u64, load_u8);
            assert_eq!(copied, source);

            let sink = RefCell::new(vec![0u8; len]);
            copy_out(
                &copied,
                |offset, word| {
                    let start = offset as usize;
                    sink.borrow_mut()[start..start + 8].copy_from_slice(&word.to_le_bytes());
                },
                |offset, byte| sink.borrow_mut()[offset as usize] = byte,
            );
            assert_eq!(sink.into_inner(), source);
        }
    }

    #[test]
    fn errors_name_the_code() {
        let status = Status::invalid_argument("sku is required");
        assert_eq!(error_text(&status), "InvalidArgument: sku is required");
    }

    #[test]
    fn quote_is_the_bridge_guests_handler() {
        // sku "apple 1", quantity 10, unit price 50: the bridge guest's own test case.
        let request = b"\x0a\x07apple 1\x10\x0a\x18\x32";
        let response = rust_pricing::quote(request).unwrap();
        assert!(response.starts_with(b"\x0a\x07APPLE-1"));
    }
}
