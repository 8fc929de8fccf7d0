//! The trait every generated message implements, so that typed streams ([`Source`],
//! [`Sink`]) and [`Any`] work with any message type.
//!
//! [`Source`]: crate::Source
//! [`Sink`]: crate::Sink
//! [`Any`]: crate::Any

use alloc::vec::Vec;

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

    /// Decodes a message from its protobuf encoding.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;

    /// The protobuf encoding.
    fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        Message::encode(self, &mut buf);
        buf
    }
}
