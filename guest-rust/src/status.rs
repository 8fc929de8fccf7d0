//! Application errors: gRPC codes and the `google.rpc.Status` envelope (docs/abi.md, section 5).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::wire::{self, DecodeError, Reader};

/// A gRPC status code. An error returned to the host carries 1 to 16; `Ok` exists for
/// completeness (and decoding), and `handle` (wasm32) sends an `Err` with `Ok` as `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// All codes, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The numeric value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The code with this number, or `None` above 16.
    pub fn from_u32(value: u32) -> Option<Code> {
        Code::ALL.get(value as usize).copied()
    }

    /// The canonical name, as gRPC spells it (`INVALID_ARGUMENT`).
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An application error: what a handler returns as `Err`, sent to the host as a
/// serialized `google.rpc.Status { int32 code = 1; string message = 2; }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
        }
    }

    /// `INVALID_ARGUMENT`: the request is wrong (also what an undecodable request gets).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Status::new(Code::InvalidArgument, message)
    }

    /// `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Status::new(Code::NotFound, message)
    }

    /// `FAILED_PRECONDITION`.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Status::new(Code::FailedPrecondition, message)
    }

    /// `INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Status::new(Code::Internal, message)
    }

    /// `UNIMPLEMENTED`.
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Status::new(Code::Unimplemented, message)
    }

    /// Appends the protobuf encoding, fields in number order, proto3 defaults omitted:
    /// byte-identical to the reference implementations' output.
    pub fn encode_to(&self, buf: &mut Vec<u8>) {
        if self.code != Code::Ok {
            wire::encode_int32_field(buf, 1, self.code as i32);
        }
        if !self.message.is_empty() {
            wire::encode_str_field(buf, 2, &self.message);
        }
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.message.len() + 8);
        self.encode_to(&mut buf);
        buf
    }

    /// Decodes a `google.rpc.Status`; `details` (field 3) and unknown fields are skipped.
    /// A code outside 0..=16 becomes `Unknown`.
    pub fn decode(bytes: &[u8]) -> Result<Status, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut code = 0i32;
        let mut message: &str = "";
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::VARINT) => code = r.read_int32()?,
                (2, wire::LEN) => message = r.read_str()?,
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        let code = u32::try_from(code)
            .ok()
            .and_then(Code::from_u32)
            .unwrap_or(Code::Unknown);
        Ok(Status::new(code, message))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A request that cannot be decoded is `INVALID_ARGUMENT` (docs/abi.md, section 5), so
/// handlers can use `?` on decoder results.
impl From<DecodeError> for Status {
    fn from(err: DecodeError) -> Self {
        Status::invalid_argument(alloc::format!("cannot decode request: {}", err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn codes_are_numbered_like_grpc() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_u32(), i as u32);
            assert_eq!(Code::from_u32(i as u32), Some(*code));
        }
        assert_eq!(Code::from_u32(17), None);
        assert_eq!(Code::from_u32(u32::MAX), None);
        assert_eq!(Code::InvalidArgument as u32, 3);
        assert_eq!(Code::NotFound as u32, 5);
        assert_eq!(Code::FailedPrecondition as u32, 9);
        assert_eq!(Code::Unimplemented as u32, 12);
        assert_eq!(Code::Internal as u32, 13);
        assert_eq!(Code::Unauthenticated as u32, crate::abi::MAX_STATUS_CODE);
        assert_eq!(Code::DeadlineExceeded.to_string(), "DEADLINE_EXCEEDED");
    }

    #[test]
    fn status_encoding_matches_hand_computed_protobuf() {
        // Status{code: 3, message: "bad"}: 08 03 | 12 03 'b' 'a' 'd'
        assert_eq!(
            Status::invalid_argument("bad").encode(),
            [0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd']
        );
        // NOT_FOUND with the pricing example's message.
        let msg = "sku \"PLUM-9\" not found";
        let mut expected = vec![0x08, 0x05, 0x12, msg.len() as u8];
        expected.extend_from_slice(msg.as_bytes());
        assert_eq!(Status::not_found(msg).encode(), expected);
        // Empty message: the code only.
        assert_eq!(
            Status::new(Code::Unauthenticated, "").encode(),
            [0x08, 0x10]
        );
        // OK with no message is the empty message.
        assert!(Status::new(Code::Ok, "").encode().is_empty());
        // A 200-byte message takes a two-byte length.
        let long = "x".repeat(200);
        let enc = Status::internal(long.clone()).encode();
        assert_eq!(&enc[..5], &[0x08, 0x0D, 0x12, 0xC8, 0x01]);
        assert_eq!(&enc[5..], long.as_bytes());
    }

    #[test]
    fn status_decodes_what_it_encodes_and_skips_details() {
        let s = Status::new(Code::Aborted, "naïve");
        assert_eq!(Status::decode(&s.encode()), Ok(s.clone()));
        // details (field 3, an Any) and an unknown fixed32 are skipped.
        let mut buf = s.encode();
        buf.extend_from_slice(&[0x1A, 0x02, 0x0A, 0x00, 0x25, 1, 2, 3, 4]);
        assert_eq!(Status::decode(&buf), Ok(s));
        assert_eq!(Status::decode(&[0x08, 0x63]).unwrap().code, Code::Unknown);
        assert_eq!(
            Status::decode(&[0x12, 0x05]),
            Err(DecodeError::LengthOutOfBounds)
        );
    }

    #[test]
    fn decode_errors_become_invalid_argument() {
        let s: Status = DecodeError::Truncated.into();
        assert_eq!(s.code, Code::InvalidArgument);
        assert_eq!(s.message, "cannot decode request: truncated message");
    }
}
