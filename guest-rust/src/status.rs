//! Application errors: gRPC codes and the `google.rpc.Status` envelope with its details
//! (docs/abi.md, section 5).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::message::Message;
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
/// serialized `google.rpc.Status { int32 code = 1; string message = 2; repeated
/// google.protobuf.Any details = 3; }`. The details reach a gRPC client in the
/// `grpc-status-details-bin` trailer (gRPC's rich error model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
    /// Messages that say more about the error (`google.rpc.ErrorInfo`, ...), each packed
    /// in an [`Any`].
    pub details: Vec<Any>,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The status with `detail` appended to its details:
    /// `Status::not_found("no sku").with_detail(Any::pack(&info))`.
    pub fn with_detail(mut self, detail: Any) -> Self {
        self.details.push(detail);
        self
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
        for detail in &self.details {
            wire::encode_bytes_field(buf, 3, &detail.encode_to_vec());
        }
    }

    /// The protobuf encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.message.len() + 8);
        self.encode_to(&mut buf);
        buf
    }

    /// Decodes a `google.rpc.Status`, details included; unknown fields are skipped. A
    /// code outside 0..=16 becomes `Unknown`.
    pub fn decode(bytes: &[u8]) -> Result<Status, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut code = 0i32;
        let mut message: &str = "";
        let mut details = Vec::new();
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::VARINT) => code = r.read_int32()?,
                (2, wire::LEN) => message = r.read_str()?,
                (3, wire::LEN) => details.push(Any::decode(r.read_bytes()?)?),
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        let code = u32::try_from(code)
            .ok()
            .and_then(Code::from_u32)
            .unwrap_or(Code::Unknown);
        let mut status = Status::new(code, message);
        status.details = details;
        Ok(status)
    }
}

/// `google.protobuf.Any`: a message of any type, as bytes, with the URL of its type.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Any {
    /// `type.googleapis.com/` and the message's full name, by convention.
    pub type_url: String,
    /// The message's protobuf encoding.
    pub value: Vec<u8>,
}

/// The prefix of the type URLs [`Any::pack`] writes, as the reference implementations do.
pub const TYPE_URL_PREFIX: &str = "type.googleapis.com/";

impl Any {
    pub fn new(type_url: impl Into<String>, value: Vec<u8>) -> Any {
        Any {
            type_url: type_url.into(),
            value,
        }
    }

    /// Packs a message: `type.googleapis.com/<full name>` and its encoding.
    pub fn pack<M: Message>(message: &M) -> Any {
        let mut type_url = String::with_capacity(TYPE_URL_PREFIX.len() + M::FULL_NAME.len());
        type_url.push_str(TYPE_URL_PREFIX);
        type_url.push_str(M::FULL_NAME);
        Any::new(type_url, message.encode_to_vec())
    }

    /// Whether this holds an `M`: the type URL's last segment is `M`'s full name.
    pub fn is<M: Message>(&self) -> bool {
        let name = match self.type_url.rfind('/') {
            Some(i) => &self.type_url[i + 1..],
            None => &self.type_url[..],
        };
        name == M::FULL_NAME
    }

    /// The `M` this holds; `Ok(None)` when it holds another type.
    pub fn unpack<M: Message>(&self) -> Result<Option<M>, DecodeError> {
        if !self.is::<M>() {
            return Ok(None);
        }
        M::decode(&self.value).map(Some)
    }
}

impl Message for Any {
    const FULL_NAME: &'static str = "google.protobuf.Any";

    fn encode(&self, buf: &mut Vec<u8>) {
        if !self.type_url.is_empty() {
            wire::encode_str_field(buf, 1, &self.type_url);
        }
        if !self.value.is_empty() {
            wire::encode_bytes_field(buf, 2, &self.value);
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let mut any = Any::default();
        while !r.is_empty() {
            match r.read_tag()? {
                (1, wire::LEN) => any.type_url = String::from(r.read_str()?),
                (2, wire::LEN) => any.value = r.read_bytes()?.to_vec(),
                (field, wire_type) => r.skip_field(field, wire_type)?,
            }
        }
        Ok(any)
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
    fn status_decodes_what_it_encodes_and_skips_unknown_fields() {
        let s = Status::new(Code::Aborted, "naïve");
        assert_eq!(Status::decode(&s.encode()), Ok(s.clone()));
        // A detail (field 3: an Any whose type_url is empty) and an unknown fixed32.
        let mut buf = s.encode();
        buf.extend_from_slice(&[0x1A, 0x02, 0x0A, 0x00, 0x25, 1, 2, 3, 4]);
        assert_eq!(
            Status::decode(&buf),
            Ok(s.with_detail(Any::new("", Vec::new())))
        );
        assert_eq!(Status::decode(&[0x08, 0x63]).unwrap().code, Code::Unknown);
        assert_eq!(
            Status::decode(&[0x12, 0x05]),
            Err(DecodeError::LengthOutOfBounds)
        );
        // A detail that does not decode fails the whole status.
        assert_eq!(
            Status::decode(&[0x1A, 0x02, 0x0A, 0x05]),
            Err(DecodeError::LengthOutOfBounds)
        );
    }

    #[test]
    fn details_encode_as_repeated_any() {
        // Status{code: 5, message: "x", details: [Any{type_url: "t/a", value: [1]}, Any{}]}
        let s = Status::not_found("x")
            .with_detail(Any::new("t/a", vec![1]))
            .with_detail(Any::default());
        let expected = [
            0x08, 0x05, 0x12, 0x01, b'x', // code, message
            0x1A, 0x08, 0x0A, 0x03, b't', b'/', b'a', 0x12, 0x01, 0x01, // first detail
            0x1A, 0x00, // the empty Any
        ];
        assert_eq!(s.encode(), expected);
        assert_eq!(Status::decode(&expected), Ok(s));
    }

    /// A message for the Any tests: `test.v1.Flag { bool on = 1; }`.
    #[derive(Debug, PartialEq)]
    struct Flag(bool);

    impl Message for Flag {
        const FULL_NAME: &'static str = "test.v1.Flag";

        fn encode(&self, buf: &mut Vec<u8>) {
            if self.0 {
                wire::encode_varint_field(buf, 1, 1);
            }
        }

        fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
            let mut r = Reader::new(bytes);
            let mut on = false;
            while !r.is_empty() {
                match r.read_tag()? {
                    (1, wire::VARINT) => on = r.read_bool()?,
                    (field, wire_type) => r.skip_field(field, wire_type)?,
                }
            }
            Ok(Flag(on))
        }
    }

    #[test]
    fn any_packs_and_unpacks_by_full_name() {
        let any = Any::pack(&Flag(true));
        assert_eq!(any.type_url, "type.googleapis.com/test.v1.Flag");
        assert_eq!(any.value, [0x08, 0x01]);
        assert!(any.is::<Flag>());
        assert!(!any.is::<Any>());
        assert_eq!(any.unpack::<Flag>(), Ok(Some(Flag(true))));
        assert_eq!(any.unpack::<Any>(), Ok(None));
        // Any URL whose last segment is the name will do; a bare name too.
        assert!(Any::new("example.com/x/test.v1.Flag", Vec::new()).is::<Flag>());
        assert!(Any::new("test.v1.Flag", Vec::new()).is::<Flag>());
        assert!(!Any::new("type.googleapis.com/test.v1.Flags", Vec::new()).is::<Flag>());
        assert_eq!(
            Any::new("/test.v1.Flag", vec![0x08]).unpack::<Flag>(),
            Err(DecodeError::Truncated)
        );
        // Any is a Message itself, and round-trips.
        assert_eq!(<Any as Message>::decode(&any.encode_to_vec()), Ok(any));
    }

    #[test]
    fn decode_errors_become_invalid_argument() {
        let s: Status = DecodeError::Truncated.into();
        assert_eq!(s.code, Code::InvalidArgument);
        assert_eq!(s.message, "cannot decode request: truncated message");
    }
}
