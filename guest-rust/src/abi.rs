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
