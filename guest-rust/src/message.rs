//! The trait every generated message implements, so that typed streams ([`Source`],
//! [`Sink`]) and [`Any`] work with any message type.
//!
//! [`Source`]: crate::Source
//! [`Sink`]: crate::Sink
//! [`Any`]: crate::Any

use alloc::vec::Vec;

use crate::status::Status;
use crate::wire::DecodeError;

/// A protobuf message: its full name and its wire-format codec.
///
/// `bridge gen --rust-out` implements it for every message it generates (the methods
/// forward to the message's inherent `encode` and `decode`, which stay the ones a
/// method call finds); write it by hand only for a message type of your own.
pub trait Message: Sized {
    /// The message's full protobuf name, package included (`pricing.v1.QuoteRequest`).
    const FULL_NAME: &'static str;

    /// Appends the protobuf encoding to `buf`.
    fn encode(&self, buf: &mut Vec<u8>);

    /// Decodes a message from its protobuf encoding (refusing one that lacks a proto2
    /// `required` field, at any depth).
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// The full name of a proto2 `required` field that is not set, at any depth; `None`
    /// when every one is (always, for a message without required fields). Protobuf
    /// refuses to encode a message that lacks one: [`encode_checked`] and [`Sink`]
    /// do too.
    ///
    /// [`Sink`]: crate::Sink
    fn missing_required(&self) -> Option<&'static str> {
        None
    }

    /// The protobuf encoding.
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        Message::encode(self, &mut buf);
        buf
    }
}

/// The encoding of `message`, a method's response, or INTERNAL when it lacks a proto2
/// `required` field (protobuf refuses to serialize such a message): what the exports of
/// generated glue answer with.
pub fn encode_checked<M: Message>(message: &M) -> Result<Vec<u8>, Status> {
    match message.missing_required() {
        None => Ok(message.encode_to_vec()),
        Some(field) => Err(missing_required(M::FULL_NAME, field)),
    }
}

pub(crate) fn missing_required(message: &str, field: &str) -> Status {
    Status::internal(alloc::format!(
        "cannot encode {}: required field {} is not set",
        message,
        field
    ))
}
