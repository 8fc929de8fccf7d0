//! ABI v1 constants and the packing of a method's `i64` result (docs/abi.md, section 4).
//!
//! These mirror `bridge/abi.py`; `tests/unit/test_abi_agreement.py` reads the constant
//! declarations below with a regular expression, so keep each declaration on one line,
//! its value a plain decimal or hex literal (no expressions, no `_` separators).

/// The ABI version this crate speaks; the module exports `bridge_abi_v1`.
pub const ABI_VERSION: u32 = 1;
/// Prefix of the version-marker export (`bridge_abi_v` + version).
pub const MARKER_PREFIX: &str = "bridge_abi_v";
/// Bits 0-31 of a result: the payload's address.
pub const PTR_MASK: u64 = 0xFFFFFFFF;
/// The payload length starts at bit 32.
pub const LEN_SHIFT: u32 = 32;
/// The payload length is 30 bits wide (bits 32-61).
pub const LEN_BITS: u32 = 30;
/// The largest payload (and request) length: `2^30 - 1`.
pub const MAX_MESSAGE_LEN: u32 = 1073741823;
/// Bit 62: the guest keeps the buffer; the host must not free it.
pub const BORROWED_BIT: u32 = 62;
/// Bit 63: the payload is a `google.rpc.Status`.
pub const ERROR_BIT: u32 = 63;
/// The largest gRPC status code an error envelope may carry (`UNAUTHENTICATED`).
pub const MAX_STATUS_CODE: u32 = 16;
/// The import module of the host calls (docs/abi.md, section 12).
pub const HOST_MODULE: &str = "bridge";
/// The import that runs a host method.
pub const IMPORT_HOST_CALL: &str = "host_call";
/// The import that copies a host call's outcome into guest memory.
pub const IMPORT_HOST_RESULT: &str = "host_result";
/// What `host_result` returns when it copies nothing.
pub const HOST_RESULT_FAILED: i32 = -1;

// Streams (docs/abi.md, section 14) and the call context (section 15): imports of the
// module `bridge`, each imported only by a module that uses it.

/// `stream_recv() -> i64`: the next request message of the call.
pub const IMPORT_STREAM_RECV: &str = "stream_recv";
/// `stream_send(ptr, len, flags) -> i32`: send one response message.
pub const IMPORT_STREAM_SEND: &str = "stream_send";
/// `call_info() -> i64`: the request's metadata (a pending `CallInfo`).
pub const IMPORT_CALL_INFO: &str = "call_info";
/// `deadline() -> i64`: nanoseconds left, or `NO_DEADLINE`.
pub const IMPORT_DEADLINE: &str = "deadline";
/// `set_metadata(kind, key_ptr, key_len, value_ptr, value_len) -> i32`.
pub const IMPORT_SET_METADATA: &str = "set_metadata";
/// `set_compression(algorithm) -> i32`.
pub const IMPORT_SET_COMPRESSION: &str = "set_compression";
/// Flag of `stream_recv` (bit 0): the client closed its stream, no more requests.
pub const RECV_END: u32 = 1;
/// Flag of `stream_recv` (bit 1): the pending request arrived compressed.
pub const RECV_COMPRESSED: u32 = 2;
/// Flag of `stream_send` (bit 0): send this message uncompressed.
pub const SEND_UNCOMPRESSED: u32 = 1;
/// What `stream_send` returns when the call is over and the message was dropped.
pub const STREAM_CLOSED: i32 = 1;
/// `set_metadata` kind: a response header.
pub const METADATA_HEADER: i32 = 0;
/// `set_metadata` kind: a response trailer.
pub const METADATA_TRAILER: i32 = 1;
/// What `set_metadata` returns when it refuses the entry.
pub const METADATA_REFUSED: i32 = -1;
/// `set_compression` algorithm: no compression.
pub const COMPRESSION_NONE: i32 = 0;
/// `set_compression` algorithm: gzip (gRPC's numbering).
pub const COMPRESSION_GZIP: i32 = 2;
/// What `deadline` returns when the call has no deadline.
pub const NO_DEADLINE: i64 = -1;

/// Packs a method result: `error<<63 | borrowed<<62 | len<<32 | ptr`.
///
/// # Panics
///
/// When `len > MAX_MESSAGE_LEN`: such a length cannot be represented, and trapping is
/// safer than handing the host a truncated length. `handle` (wasm32) never does this.
pub fn pack(ptr: u32, len: u32, borrowed: bool, error: bool) -> u64 {
    assert!(
        len <= MAX_MESSAGE_LEN,
        "payload length does not fit in 30 bits"
    );
    ((error as u64) << ERROR_BIT)
        | ((borrowed as u64) << BORROWED_BIT)
        | ((len as u64) << LEN_SHIFT)
        | ptr as u64
}

/// A method result, unpacked by [`unpack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unpacked {
    pub ptr: u32,
    pub len: u32,
    pub borrowed: bool,
    pub error: bool,
}

/// Unpacks a method result; the inverse of [`pack`]. Takes the raw bits (an `i64` seen
/// by wasm can be converted with `as u64`).
pub fn unpack(raw: u64) -> Unpacked {
    Unpacked {
        ptr: (raw & PTR_MASK) as u32,
        len: ((raw >> LEN_SHIFT) & MAX_MESSAGE_LEN as u64) as u32,
        borrowed: (raw >> BORROWED_BIT) & 1 == 1,
        error: (raw >> ERROR_BIT) & 1 == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_agree_with_each_other() {
        assert_eq!(MAX_MESSAGE_LEN as u64, (1u64 << LEN_BITS) - 1);
        assert_eq!(PTR_MASK, u32::MAX as u64);
        assert_eq!(LEN_SHIFT + LEN_BITS, BORROWED_BIT);
        assert_eq!(BORROWED_BIT + 1, ERROR_BIT);
        // The marker export in exports.rs is spelled out; keep it in step.
        assert_eq!(format!("{}{}", MARKER_PREFIX, ABI_VERSION), "bridge_abi_v1");
    }

    #[test]
    fn pack_matches_the_spec_example() {
        assert_eq!(pack(0x10, 3, false, true), 0x8000000300000010);
        assert_eq!(pack(0x10, 3, false, true) as i64, -0x7FFFFFFCFFFFFFF0);
        assert_eq!(pack(0, 0, false, false), 0);
        assert_eq!(pack(0x10, 3, true, false), 0x4000000300000010);
        assert_eq!(pack(u32::MAX, MAX_MESSAGE_LEN, true, true), u64::MAX);
    }

    #[test]
    fn unpack_inverts_pack() {
        let cases = [
            (0u32, 0u32, false, false),
            (0x10, 3, false, true),
            (8, 1, true, false),
            (u32::MAX, MAX_MESSAGE_LEN, true, true),
            (0xDEADBEEF, 12345, false, false),
        ];
        for &(ptr, len, borrowed, error) in &cases {
            let got = unpack(pack(ptr, len, borrowed, error));
            assert_eq!(
                got,
                Unpacked {
                    ptr,
                    len,
                    borrowed,
                    error
                }
            );
        }
        assert_eq!(
            unpack(-0x7FFFFFFCFFFFFFF0i64 as u64),
            Unpacked {
                ptr: 16,
                len: 3,
                borrowed: false,
                error: true
            }
        );
    }

    #[test]
    #[should_panic]
    fn pack_refuses_a_length_over_30_bits() {
        let _ = pack(0, MAX_MESSAGE_LEN + 1, false, false);
    }
}
