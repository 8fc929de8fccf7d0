//! The call's context (docs/abi.md, section 15): the request's metadata, whether the
//! request came compressed, the time left before the deadline; response headers,
//! trailers and compression.
//!
//! ```ignore
//! use bridge_guest::context::{self, Compression};
//!
//! let tenant = context::metadata_value("x-tenant");     // Option<Vec<u8>>
//! if let Some(left) = context::deadline() { /* budget the work */ }
//! context::set_header("x-served-by", "rust")?;          // before the first message
//! context::set_trailer("x-rows", rows.to_string())?;
//! context::set_compression(Compression::Gzip)?;
//! ```
//!
//! Each function imports what it needs on wasm32, only when the guest uses it. Off
//! wasm32 (native `cargo test`) there is no call: no metadata, no deadline, nothing
//! compressed, and what is set is accepted and dropped.

// Off wasm32 only the tests use the target-independent half.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use crate::status::Status;
use crate::wire::{self, DecodeError, Reader};

/// A response compression a guest may ask for (gRPC's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Responses leave uncompressed.
    None,
    /// Responses are compressed with gzip, when the client accepts it.
    Gzip,
}

impl Compression {
    /// The algorithm's number on the ABI (`COMPRESSION_NONE`, `COMPRESSION_GZIP`).
    pub const fn as_i32(self) -> i32 {
        match self {
            Compression::None => crate::abi::COMPRESSION_NONE,
            Compression::Gzip => crate::abi::COMPRESSION_GZIP,
        }
    }

    /// The name gRPC gives it (`identity`, `gzip`).
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "identity",
            Compression::Gzip => "gzip",
        }
    }
}

/// What `call_info` gives: the request's metadata, in the order it came, and whether the
/// request (of a unary or server-streaming call) arrived compressed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CallInfo {
    pub metadata: Vec<(String, Vec<u8>)>,
    pub request_compressed: bool,
}

impl CallInfo {
    /// Decodes `message CallInfo { repeated Entry metadata = 1; bool request_compressed
    /// = 2; }` with `message Entry { string key = 1; bytes value = 2; }`.
    pub(crate) fn decode(bytes: &[u8]) -> Result<CallInfo, DecodeError> {
        let mut info = CallInfo::default();
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::LEN) => {
                    let mut e = Reader::new(r.read_bytes()?);
                    let (mut key, mut value): (&str, &[u8]) = ("", &[]);
                    while !e.is_empty() {
                        match e.read_tag()? {
                            (1, wire::LEN) => key = e.read_str()?,
                            (2, wire::LEN) => value = e.read_bytes()?,
                            (field, wire_type) => e.skip_field(field, wire_type)?,
                        }
                    }
                    info.metadata.push((String::from(key), value.to_vec()));
                }
                (2, wire::VARINT) => info.request_compressed = r.read_bool()?,
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        Ok(info)
    }

    fn value(&self, key: &str) -> Option<Vec<u8>> {
        let key = key.to_ascii_lowercase();
        self.metadata
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
}

/// `deadline()`'s answer: nanoseconds left (`0` once it has passed), or `NO_DEADLINE`.
pub(crate) fn deadline_of(raw: i64) -> Option<Duration> {
    if raw < 0 {
        None
    } else {
        Some(Duration::from_nanos(raw as u64))
    }
}

/// `set_metadata`'s or `set_compression`'s answer as a result: the host refuses what
/// breaks its rules, and says no more, so the error says what the rules are.
pub(crate) fn refused(what: &str, rc: i32) -> Result<(), Status> {
    if rc == 0 {
        return Ok(());
    }
    Err(Status::internal(format!(
        "the host refused {}: keys are 1 to 255 characters of 0-9 a-z - _ . not starting \
         with grpc-, text values printable ASCII, headers and compression set before the \
         first response message",
        what
    )))
}

/// The request's metadata, in the order it came: lowercase keys; a key ending in `-bin`
/// carries binary bytes, others printable ASCII. gRPC's own headers (`grpc-*`,
/// `content-type`, ...) are left out, `user-agent` is not. Read from the host once per
/// call.
pub fn metadata() -> Vec<(String, Vec<u8>)> {
    imp::with_info(|info| info.metadata.clone())
}

/// The first value of the request metadata's `key` (matched in lowercase), if any.
pub fn metadata_value(key: &str) -> Option<Vec<u8>> {
    imp::with_info(|info| info.value(key))
}

/// Whether the request of this unary or server-streaming call arrived compressed (a
/// streamed request says it with [`crate::stream::recv_compressed`]).
pub fn request_compressed() -> bool {
    imp::with_info(|info| info.request_compressed)
}

/// The time left before the call's deadline (zero once it has passed), or `None` when the
/// call has none. Asked of the host anew each time.
pub fn deadline() -> Option<Duration> {
    deadline_of(imp::deadline())
}

/// Adds a response header; a key may be added more than once, and is lowercased (gRPC
/// keys are). Headers leave with the first response message (or the end of the call):
/// after that the host refuses them. A key ending in `-bin` takes any bytes; others
/// printable ASCII.
pub fn set_header(key: &str, value: impl AsRef<[u8]>) -> Result<(), Status> {
    let rc = imp::set_metadata(crate::abi::METADATA_HEADER, &lowercase(key), value.as_ref());
    refused(&format!("the header {:?}", key), rc)
}

/// Adds a response trailer, sent when the call ends (with its status, error or not); the
/// rules are [`set_header`]'s, but trailers may be added until the method returns.
pub fn set_trailer(key: &str, value: impl AsRef<[u8]>) -> Result<(), Status> {
    let rc = imp::set_metadata(
        crate::abi::METADATA_TRAILER,
        &lowercase(key),
        value.as_ref(),
    );
    refused(&format!("the trailer {:?}", key), rc)
}

/// The key as the host wants it: lowercase ASCII (other characters are left for the
/// host to refuse).
fn lowercase(key: &str) -> alloc::borrow::Cow<'_, str> {
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        alloc::borrow::Cow::Owned(key.to_ascii_lowercase())
    } else {
        alloc::borrow::Cow::Borrowed(key)
    }
}

/// Asks for this call's responses to be compressed (`Gzip`) or not (`None`), before the
/// first response message. A message sent with `send_uncompressed` stays uncompressed.
pub fn set_compression(compression: Compression) -> Result<(), Status> {
    let rc = imp::set_compression(compression.as_i32());
    refused(&format!("set_compression({})", compression.name()), rc)
}

/// Forgets what the SDK learnt about the previous call; every export runs it first.
pub(crate) fn begin_call() {
    imp::begin_call();
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::CallInfo;
    use crate::abi::unpack;
    use crate::imports::{self, Global};

    /// The call's `CallInfo`, read on first use and dropped when the next call starts.
    static INFO: Global<Option<CallInfo>> = Global::new(None);

    pub(super) fn begin_call() {
        INFO.with(|info| *info = None);
        crate::stream::begin_call();
    }

    fn fetch() -> CallInfo {
        // SAFETY: an import without arguments.
        let raw = unpack(unsafe { imports::call_info() });
        // A host that cannot give its own call info is broken; the call goes on without.
        imports::collect(raw.len)
            .and_then(|bytes| CallInfo::decode(&bytes).ok())
            .unwrap_or_default()
    }

    pub(super) fn with_info<R>(f: impl FnOnce(&CallInfo) -> R) -> R {
        // `fetch` calls imports only, never `INFO.with`.
        INFO.with(|info| f(info.get_or_insert_with(fetch)))
    }

    pub(super) fn deadline() -> i64 {
        // SAFETY: an import without arguments.
        unsafe { imports::deadline() }
    }

    pub(super) fn set_metadata(kind: i32, key: &str, value: &[u8]) -> i32 {
        // SAFETY: both ranges are live guest memory, read during the import only.
        unsafe {
            imports::set_metadata(
                kind,
                key.as_ptr() as usize as u32,
                key.len() as u32,
                value.as_ptr() as usize as u32,
                value.len() as u32,
            )
        }
    }

    pub(super) fn set_compression(algorithm: i32) -> i32 {
        // SAFETY: an import of one integer.
        unsafe { imports::set_compression(algorithm) }
    }
}

/// Native stand-ins: no call, so nothing to read and nothing refused.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::CallInfo;

    pub(super) fn begin_call() {}

    pub(super) fn with_info<R>(f: impl FnOnce(&CallInfo) -> R) -> R {
        f(&CallInfo::default())
    }

    pub(super) fn deadline() -> i64 {
        crate::abi::NO_DEADLINE
    }

    pub(super) fn set_metadata(_kind: i32, _key: &str, _value: &[u8]) -> i32 {
        0
    }

    pub(super) fn set_compression(_algorithm: i32) -> i32 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{COMPRESSION_GZIP, COMPRESSION_NONE, NO_DEADLINE};
    use crate::status::Code;
    use alloc::vec;

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        wire::encode_str_field(&mut e, 1, key);
        wire::encode_bytes_field(&mut e, 2, value);
        let mut out = Vec::new();
        wire::encode_bytes_field(&mut out, 1, &e);
        out
    }

    #[test]
    fn call_info_decodes_metadata_in_order_and_the_compressed_flag() {
        let mut bytes = entry("x-tenant", b"acme");
        bytes.extend(entry("trace-bin", &[0, 255, 10]));
        bytes.extend(entry("x-tenant", b"second"));
        bytes.extend([0x10, 0x01]); // request_compressed = true
        bytes.extend([0x1D, 1, 2, 3, 4]); // an unknown fixed32: skipped
        let info = CallInfo::decode(&bytes).unwrap();
        assert_eq!(
            info.metadata,
            vec![
                (String::from("x-tenant"), b"acme".to_vec()),
                (String::from("trace-bin"), vec![0, 255, 10]),
                (String::from("x-tenant"), b"second".to_vec()),
            ]
        );
        assert!(info.request_compressed);
        assert_eq!(info.value("X-Tenant"), Some(b"acme".to_vec()));
        assert_eq!(info.value("absent"), None);
        assert_eq!(CallInfo::decode(&[]), Ok(CallInfo::default()));
    }

    #[test]
    fn call_info_entries_may_miss_fields_and_bad_bytes_fail() {
        // An entry with a key and no value, and an empty entry.
        let mut bytes = vec![0x0A, 0x03, 0x0A, 0x01, b'k', 0x0A, 0x00];
        let info = CallInfo::decode(&bytes).unwrap();
        assert_eq!(
            info.metadata,
            vec![(String::from("k"), Vec::new()), (String::new(), Vec::new())]
        );
        bytes.extend([0x0A, 0x05]);
        assert_eq!(
            CallInfo::decode(&bytes),
            Err(DecodeError::LengthOutOfBounds)
        );
        // A key that is not UTF-8.
        assert_eq!(
            CallInfo::decode(&[0x0A, 0x03, 0x0A, 0x01, 0xFF]),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn deadlines_are_durations_or_none() {
        assert_eq!(deadline_of(NO_DEADLINE), None);
        assert_eq!(deadline_of(-7), None);
        assert_eq!(deadline_of(0), Some(Duration::ZERO));
        assert_eq!(
            deadline_of(1_500_000_000),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            deadline_of(i64::MAX),
            Some(Duration::from_nanos(i64::MAX as u64))
        );
    }

    #[test]
    fn refusals_are_internal_errors_that_name_the_rules() {
        assert_eq!(refused("x", 0), Ok(()));
        let err = refused("the header \"Bad Key\"", -1).unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert!(err
            .message
            .starts_with("the host refused the header \"Bad Key\": "));
        assert!(err.message.contains("grpc-"), "{}", err.message);
    }

    #[test]
    fn keys_are_lowercased() {
        assert_eq!(lowercase("X-Served-By"), "x-served-by");
        assert!(matches!(lowercase("x-a"), alloc::borrow::Cow::Borrowed(_)));
        assert_eq!(lowercase("Ünï-X"), "Ünï-x"); // the host refuses it
    }

    #[test]
    fn compression_numbers_follow_grpc() {
        assert_eq!(Compression::None.as_i32(), COMPRESSION_NONE);
        assert_eq!(Compression::Gzip.as_i32(), COMPRESSION_GZIP);
        assert_eq!(Compression::Gzip.name(), "gzip");
    }

    #[test]
    fn natively_there_is_no_call() {
        begin_call();
        assert!(metadata().is_empty());
        assert_eq!(metadata_value("x"), None);
        assert!(!request_compressed());
        assert_eq!(deadline(), None);
        assert_eq!(set_header("x-a", "b"), Ok(()));
        assert_eq!(set_trailer("x-a-bin", [0u8, 1]), Ok(()));
        assert_eq!(set_compression(Compression::Gzip), Ok(()));
    }
}
