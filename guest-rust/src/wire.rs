//! Protobuf wire-format primitives (<https://protobuf.dev/programming-guides/encoding/>).
//!
//! Encoding appends to a `Vec<u8>`; decoding reads a borrowed slice through [`Reader`].
//! Everything here is safe Rust. The decoder never panics and never indexes out of
//! bounds, whatever the input: lengths are checked with checked arithmetic (a length
//! varint can claim up to `2^64 - 1` bytes), and every failure is a [`DecodeError`].
//!
//! Decoding follows what the reference implementations accept: non-minimal varints of
//! up to 10 bytes are fine, `int32`/`uint32`/`enum` keep the low 32 bits of the varint,
//! and a field whose wire type does not match its declaration is an unknown field for the
//! message decoder to skip (that is the caller's choice; see [`Reader::skip_field`]).

use alloc::vec::Vec;
use core::fmt;

/// Wire type 0: `int32, int64, uint32, uint64, sint32, sint64, bool, enum`.
pub const VARINT: u8 = 0;
/// Wire type 1: `fixed64, sfixed64, double`.
pub const FIXED64: u8 = 1;
/// Wire type 2: `string, bytes, embedded messages, packed repeated fields`.
pub const LEN: u8 = 2;
/// Wire type 3: start of a group (proto2's groups: a nested message between a start-
/// and an end-group tag of the same number).
pub const SGROUP: u8 = 3;
/// Wire type 4: end of a group.
pub const EGROUP: u8 = 4;
/// Wire type 5: `fixed32, sfixed32, float`.
pub const FIXED32: u8 = 5;

/// The smallest valid field number.
pub const MIN_FIELD_NUMBER: u32 = 1;
/// The largest valid field number, `2^29 - 1`.
pub const MAX_FIELD_NUMBER: u32 = 536870911;
/// The longest varint: 10 bytes carry 64 bits.
pub const MAX_VARINT_LEN: usize = 10;
/// How deeply [`Reader::skip_field`] follows nested groups (protobuf's default
/// recursion limit).
pub const MAX_GROUP_DEPTH: usize = 100;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended in the middle of a value.
    Truncated,
    /// A varint longer than 10 bytes, or whose 10th byte carries more than bit 63.
    VarintOverflow,
    /// A length-delimited field claims more bytes than are left.
    LengthOutOfBounds,
    /// Wire type 6 or 7.
    InvalidWireType(u8),
    /// Field number 0 or above `2^29 - 1` (the tag's varint, shifted right by 3).
    InvalidFieldNumber(u64),
    /// An end-group tag with no matching start-group tag, or one for another field.
    UnexpectedEndGroup,
    /// A start-group tag with no matching end-group tag before the input ended.
    UnterminatedGroup,
    /// Messages nested more than 100 deep (protobuf's default recursion limit; map
    /// entries and groups inside messages count as levels too), as generated decoders
    /// count them.
    RecursionLimit,
    /// Groups nested more than [`MAX_GROUP_DEPTH`] deep, found by
    /// [`Reader::skip_field`] (a group skipped as an unknown field).
    GroupRecursionLimit,
    /// A `string` field that is not valid UTF-8.
    InvalidUtf8,
    /// A proto2 `required` field is not set (its full name), at any depth of a decoded
    /// message: protobuf refuses such a message.
    MissingRequired(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::Truncated => f.write_str("truncated message"),
            DecodeError::VarintOverflow => f.write_str("varint overflows 64 bits"),
            DecodeError::LengthOutOfBounds => {
                f.write_str("length-delimited field runs past the end of the message")
            }
            DecodeError::InvalidWireType(w) => write!(f, "invalid wire type {}", w),
            DecodeError::InvalidFieldNumber(n) => write!(f, "invalid field number {}", n),
            DecodeError::UnexpectedEndGroup => f.write_str("unexpected end-group tag"),
            DecodeError::UnterminatedGroup => f.write_str("unterminated group"),
            DecodeError::RecursionLimit => f.write_str("messages nested more than 100 deep"),
            DecodeError::GroupRecursionLimit => f.write_str("groups nested too deeply"),
            DecodeError::InvalidUtf8 => f.write_str("string field is not valid UTF-8"),
            DecodeError::MissingRequired(field) => {
                write!(f, "missing required field {}", field)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding

/// Number of bytes `value` takes as a varint (1 to 10).
pub const fn varint_len(value: u64) -> usize {
    // 1 + floor(bit_length / 7), with 0 taking one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    (bits + 6) / 7
}

/// Appends `value` as a base-128 varint.
pub fn encode_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// ZigZag-maps a signed 32-bit value (`sint32`): 0, -1, 1, -2 ... become 0, 1, 2, 3 ...
pub const fn encode_zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Inverse of [`encode_zigzag32`].
pub const fn decode_zigzag32(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// ZigZag-maps a signed 64-bit value (`sint64`).
pub const fn encode_zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Inverse of [`encode_zigzag64`].
pub const fn decode_zigzag64(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// The varint of a tag: `field << 3 | wire_type`.
pub const fn tag(field: u32, wire_type: u8) -> u64 {
    ((field as u64) << 3) | (wire_type & 7) as u64
}

/// Appends a field's tag. `field` must be a valid field number (1 to `2^29 - 1`); that is
/// the schema's business, so it is not checked here.
pub fn encode_tag(buf: &mut Vec<u8>, field: u32, wire_type: u8) {
    encode_varint(buf, tag(field, wire_type));
}

/// Appends an `int32` or `enum` value: negative values are sign-extended to 64 bits
/// (always 10 bytes), as protobuf does.
pub fn encode_int32(buf: &mut Vec<u8>, value: i32) {
    encode_varint(buf, value as i64 as u64);
}

/// Appends an `int64` value (two's complement, negative values take 10 bytes).
pub fn encode_int64(buf: &mut Vec<u8>, value: i64) {
    encode_varint(buf, value as u64);
}

/// Appends a `sint32` value (ZigZag varint).
pub fn encode_sint32(buf: &mut Vec<u8>, value: i32) {
    encode_varint(buf, encode_zigzag32(value) as u64);
}

/// Appends a `sint64` value (ZigZag varint).
pub fn encode_sint64(buf: &mut Vec<u8>, value: i64) {
    encode_varint(buf, encode_zigzag64(value));
}

/// Appends a `bool` value (one byte, 0 or 1).
pub fn encode_bool(buf: &mut Vec<u8>, value: bool) {
    buf.push(value as u8);
}

/// Appends four little-endian bytes (`fixed32`, `sfixed32` as `u32`, `float` bits).
pub fn encode_fixed32(buf: &mut Vec<u8>, value: u32) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends eight little-endian bytes (`fixed64`, `sfixed64` as `u64`, `double` bits).
pub fn encode_fixed64(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Appends a `float` (IEEE 754 bits as `fixed32`).
pub fn encode_float(buf: &mut Vec<u8>, value: f32) {
    encode_fixed32(buf, value.to_bits());
}

/// Appends a `double` (IEEE 754 bits as `fixed64`).
pub fn encode_double(buf: &mut Vec<u8>, value: f64) {
    encode_fixed64(buf, value.to_bits());
}

/// Appends a length prefix and `bytes` (the payload of a `LEN` field, without its tag).
pub fn encode_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    encode_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Appends a length prefix and the UTF-8 bytes of `s`.
pub fn encode_str(buf: &mut Vec<u8>, s: &str) {
    encode_bytes(buf, s.as_bytes());
}

// Field-level helpers: tag plus value. The `*_field` helpers always write; proto3
// implicit-presence fields skip their default themselves (`if v != 0 { ... }`), which
// keeps the output byte-identical to the reference implementations.

/// Appends a varint field (tag and raw varint value).
pub fn encode_varint_field(buf: &mut Vec<u8>, field: u32, value: u64) {
    encode_tag(buf, field, VARINT);
    encode_varint(buf, value);
}

/// Appends an `int32`/`enum` field.
pub fn encode_int32_field(buf: &mut Vec<u8>, field: u32, value: i32) {
    encode_tag(buf, field, VARINT);
    encode_int32(buf, value);
}

/// Appends an `int64` field.
pub fn encode_int64_field(buf: &mut Vec<u8>, field: u32, value: i64) {
    encode_tag(buf, field, VARINT);
    encode_int64(buf, value);
}

/// Appends a `bytes` (or embedded message) field.
pub fn encode_bytes_field(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    encode_tag(buf, field, LEN);
    encode_bytes(buf, bytes);
}

/// Appends a `string` field.
pub fn encode_str_field(buf: &mut Vec<u8>, field: u32, s: &str) {
    encode_bytes_field(buf, field, s.as_bytes());
}

// ---------------------------------------------------------------------------
// Decoding

/// A cursor over an encoded message. Every read either advances past a whole value and
/// returns it, or fails with a [`DecodeError`]; after an error the position is
/// unspecified and the reader should be dropped.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The bytes read since position `start` (an earlier [`position`](Self::position)):
    /// what generated decoders keep of a field they do not know. Empty when `start` is
    /// not behind the current position.
    pub fn read_since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }

    /// Takes the next `n` bytes.
    fn take(&mut self, n: usize, err: DecodeError) -> Result<&'a [u8], DecodeError> {
        let rest = self.remaining();
        if n > rest.len() {
            return Err(err);
        }
        let (head, _) = rest.split_at(n);
        self.pos += n; // pos + n <= buf.len(): cannot overflow
        Ok(head)
    }

    /// Reads a base-128 varint of up to 10 bytes.
    pub fn read_varint(&mut self) -> Result<u64, DecodeError> {
        let rest = self.remaining();
        let mut value: u64 = 0;
        for (i, &byte) in rest.iter().take(MAX_VARINT_LEN).enumerate() {
            if i == MAX_VARINT_LEN - 1 && byte > 1 {
                // The 10th byte holds bit 63 only; more is overflow (or a continuation).
                return Err(DecodeError::VarintOverflow);
            }
            value |= ((byte & 0x7F) as u64) << (7 * i);
            if byte < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        if rest.len() >= MAX_VARINT_LEN {
            Err(DecodeError::VarintOverflow)
        } else {
            Err(DecodeError::Truncated)
        }
    }

    /// Reads a tag and returns `(field_number, wire_type)`; fails on field number 0,
    /// a field number above `2^29 - 1`, or wire type 6 or 7.
    pub fn read_tag(&mut self) -> Result<(u32, u8), DecodeError> {
        let raw = self.read_varint()?;
        let field = raw >> 3;
        if field < MIN_FIELD_NUMBER as u64 || field > MAX_FIELD_NUMBER as u64 {
            return Err(DecodeError::InvalidFieldNumber(field));
        }
        let wire_type = (raw & 7) as u8;
        if wire_type > FIXED32 {
            return Err(DecodeError::InvalidWireType(wire_type));
        }
        Ok((field as u32, wire_type))
    }

    /// `int32` or `enum`: the low 32 bits of the varint, as protobuf reads them.
    pub fn read_int32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.read_varint()? as i32)
    }

    /// `int64`.
    pub fn read_int64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.read_varint()? as i64)
    }

    /// `uint32`: the low 32 bits of the varint.
    pub fn read_uint32(&mut self) -> Result<u32, DecodeError> {
        Ok(self.read_varint()? as u32)
    }

    /// `uint64`.
    pub fn read_uint64(&mut self) -> Result<u64, DecodeError> {
        self.read_varint()
    }

    /// `sint32` (ZigZag; the low 32 bits of the varint).
    pub fn read_sint32(&mut self) -> Result<i32, DecodeError> {
        Ok(decode_zigzag32(self.read_varint()? as u32))
    }

    /// `sint64` (ZigZag).
    pub fn read_sint64(&mut self) -> Result<i64, DecodeError> {
        Ok(decode_zigzag64(self.read_varint()?))
    }

    /// `bool`: any non-zero varint is true.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_varint()? != 0)
    }

    /// Four little-endian bytes (`fixed32`).
    pub fn read_fixed32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4, DecodeError::Truncated)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Eight little-endian bytes (`fixed64`).
    pub fn read_fixed64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8, DecodeError::Truncated)?;
        Ok(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ]))
    }

    /// `sfixed32`.
    pub fn read_sfixed32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.read_fixed32()? as i32)
    }

    /// `sfixed64`.
    pub fn read_sfixed64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.read_fixed64()? as i64)
    }

    /// `float`.
    pub fn read_float(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_bits(self.read_fixed32()?))
    }

    /// `double`.
    pub fn read_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(self.read_fixed64()?))
    }

    /// A length-delimited payload (`bytes`, an embedded message, a packed field),
    /// borrowed from the input.
    pub fn read_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_varint()?;
        // A u64 length may not fit in usize (wasm32): then it is certainly too long.
        let len = usize::try_from(len).map_err(|_| DecodeError::LengthOutOfBounds)?;
        self.take(len, DecodeError::LengthOutOfBounds)
    }

    /// A `string` payload, checked to be UTF-8, borrowed from the input.
    pub fn read_str(&mut self) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(self.read_bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Skips the value of a field whose tag [`read_tag`](Self::read_tag) just returned:
    /// what a message decoder does with unknown fields (and with known fields that
    /// arrive with an unexpected wire type, as the reference implementations do).
    ///
    /// A group (`SGROUP`) is skipped up to its matching `EGROUP`, following nested
    /// groups up to [`MAX_GROUP_DEPTH`]; a stray `EGROUP` is an error.
    pub fn skip_field(&mut self, field: u32, wire_type: u8) -> Result<(), DecodeError> {
        match wire_type {
            VARINT => self.read_varint().map(drop),
            FIXED64 => self.take(8, DecodeError::Truncated).map(drop),
            LEN => self.read_bytes().map(drop),
            FIXED32 => self.take(4, DecodeError::Truncated).map(drop),
            SGROUP => self.skip_group(field),
            EGROUP => Err(DecodeError::UnexpectedEndGroup),
            other => Err(DecodeError::InvalidWireType(other)),
        }
    }

    /// Skips to the end-group tag matching `field`, without recursion.
    fn skip_group(&mut self, field: u32) -> Result<(), DecodeError> {
        let mut open: Vec<u32> = Vec::new();
        open.push(field);
        while let Some(&innermost) = open.last() {
            if self.is_empty() {
                return Err(DecodeError::UnterminatedGroup);
            }
            let (f, w) = self.read_tag()?;
            match w {
                SGROUP => {
                    if open.len() >= MAX_GROUP_DEPTH {
                        return Err(DecodeError::GroupRecursionLimit);
                    }
                    open.push(f);
                }
                EGROUP => {
                    if f != innermost {
                        return Err(DecodeError::UnexpectedEndGroup);
                    }
                    open.pop();
                }
                _ => self.skip_field(f, w)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn varint_bytes(v: u64) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_varint(&mut buf, v);
        buf
    }

    #[test]
    fn varint_table() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (150, &[0x96, 0x01]),
            (300, &[0xAC, 0x02]),
            (16383, &[0xFF, 0x7F]),
            (16384, &[0x80, 0x80, 0x01]),
            (u32::MAX as u64, &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
            (
                1 << 63,
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            ),
            (
                u64::MAX,
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ),
        ];
        for &(value, bytes) in cases {
            assert_eq!(varint_bytes(value), bytes, "encode {}", value);
            assert_eq!(varint_len(value), bytes.len(), "len {}", value);
            let mut r = Reader::new(bytes);
            assert_eq!(r.read_varint(), Ok(value), "decode {}", value);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn varint_len_at_every_boundary() {
        for shift in 0..64 {
            let v = 1u64 << shift;
            assert_eq!(varint_len(v), varint_bytes(v).len(), "1<<{}", shift);
            assert_eq!(
                varint_len(v - 1),
                varint_bytes(v - 1).len(),
                "(1<<{})-1",
                shift
            );
        }
    }

    #[test]
    fn negative_int32_is_sign_extended_to_ten_bytes() {
        let mut buf = Vec::new();
        encode_int32(&mut buf, -1);
        assert_eq!(
            buf,
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(Reader::new(&buf).read_int32(), Ok(-1));

        let mut buf = Vec::new();
        encode_int32(&mut buf, i32::MIN);
        assert_eq!(
            buf,
            [0x80, 0x80, 0x80, 0x80, 0xF8, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(Reader::new(&buf).read_int32(), Ok(i32::MIN));

        let mut buf = Vec::new();
        encode_int64(&mut buf, -2);
        assert_eq!(
            buf,
            [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        );
        assert_eq!(Reader::new(&buf).read_int64(), Ok(-2));
    }

    #[test]
    fn int32_and_uint32_keep_the_low_bits() {
        // 2^32 + 5 read as uint32 / int32 is 5, as in the reference decoders.
        let buf = varint_bytes((1u64 << 32) + 5);
        assert_eq!(Reader::new(&buf).read_uint32(), Ok(5));
        assert_eq!(Reader::new(&buf).read_int32(), Ok(5));
        // A 5-byte encoding of -1 as int32 (not sign-extended) is still -1.
        let buf = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F];
        assert_eq!(Reader::new(&buf).read_int32(), Ok(-1));
    }

    #[test]
    fn non_minimal_varints_are_accepted() {
        assert_eq!(Reader::new(&[0x80, 0x00]).read_varint(), Ok(0));
        assert_eq!(Reader::new(&[0x81, 0x80, 0x80, 0x00]).read_varint(), Ok(1));
        let ten = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(Reader::new(&ten).read_varint(), Ok(0));
    }

    #[test]
    fn varint_errors() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], DecodeError::Truncated),
            (&[0x80], DecodeError::Truncated),
            (&[0xFF, 0xFF, 0xFF], DecodeError::Truncated),
            (&[0xFF; 9], DecodeError::Truncated),
            // 10th byte with more than bit 63.
            (
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
                DecodeError::VarintOverflow,
            ),
            (
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
                DecodeError::VarintOverflow,
            ),
            // 10th byte with the continuation bit: an 11-byte varint.
            (
                &[
                    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x81, 0x00,
                ],
                DecodeError::VarintOverflow,
            ),
            (&[0x80; 11], DecodeError::VarintOverflow),
            (&[0x80; 10], DecodeError::VarintOverflow),
        ];
        for &(bytes, err) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(r.read_varint(), Err(err), "{:02X?}", bytes);
            assert_eq!(r.position(), 0, "a failed read does not advance");
        }
    }

    #[test]
    fn zigzag_table() {
        let cases32: &[(i32, u32)] = &[
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (2, 4),
            (i32::MAX, 0xFFFFFFFE),
            (i32::MIN, 0xFFFFFFFF),
        ];
        for &(signed, unsigned) in cases32 {
            assert_eq!(encode_zigzag32(signed), unsigned);
            assert_eq!(decode_zigzag32(unsigned), signed);
        }
        let cases64: &[(i64, u64)] = &[
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, 0xFFFFFFFFFFFFFFFE),
            (i64::MIN, 0xFFFFFFFFFFFFFFFF),
        ];
        for &(signed, unsigned) in cases64 {
            assert_eq!(encode_zigzag64(signed), unsigned);
            assert_eq!(decode_zigzag64(unsigned), signed);
        }
        let mut buf = Vec::new();
        encode_sint32(&mut buf, -64);
        encode_sint64(&mut buf, 64);
        assert_eq!(buf, [0x7F, 0x80, 0x01]);
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_sint32(), Ok(-64));
        assert_eq!(r.read_sint64(), Ok(64));
        assert!(r.is_empty());
    }

    #[test]
    fn fixed_table() {
        let mut buf = Vec::new();
        encode_fixed32(&mut buf, 0x12345678);
        encode_fixed64(&mut buf, 0x0102030405060708);
        encode_float(&mut buf, 1.5);
        encode_double(&mut buf, -2.0);
        assert_eq!(
            buf,
            [
                0x78, 0x56, 0x34, 0x12, //
                0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, //
                0x00, 0x00, 0xC0, 0x3F, //
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0,
            ]
        );
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_fixed32(), Ok(0x12345678));
        assert_eq!(r.read_fixed64(), Ok(0x0102030405060708));
        assert_eq!(r.read_float(), Ok(1.5));
        assert_eq!(r.read_double(), Ok(-2.0));
        assert!(r.is_empty());
        assert_eq!(
            Reader::new(&[0xFF, 0xFF, 0xFF, 0xFF]).read_sfixed32(),
            Ok(-1)
        );
        assert_eq!(
            Reader::new(&[0xFE; 8]).read_sfixed64(),
            Ok(0xFEFEFEFEFEFEFEFEu64 as i64)
        );
    }

    #[test]
    fn fixed_errors() {
        assert_eq!(
            Reader::new(&[1, 2, 3]).read_fixed32(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[1, 2, 3, 4, 5, 6, 7]).read_fixed64(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[]).read_fixed32(), Err(DecodeError::Truncated));
    }

    #[test]
    fn tag_table() {
        let cases: &[(u32, u8, &[u8])] = &[
            (1, VARINT, &[0x08]),
            (1, LEN, &[0x0A]),
            (2, VARINT, &[0x10]),
            (15, FIXED32, &[0x7D]),
            (16, VARINT, &[0x80, 0x01]),
            (2047, LEN, &[0xFA, 0x7F]),
            (MAX_FIELD_NUMBER, FIXED64, &[0xF9, 0xFF, 0xFF, 0xFF, 0x0F]),
        ];
        for &(field, wire_type, bytes) in cases {
            let mut buf = Vec::new();
            encode_tag(&mut buf, field, wire_type);
            assert_eq!(buf, bytes, "encode {} {}", field, wire_type);
            let mut r = Reader::new(bytes);
            assert_eq!(r.read_tag(), Ok((field, wire_type)));
            assert!(r.is_empty());
        }
        for wire_type in [SGROUP, EGROUP] {
            let mut buf = Vec::new();
            encode_tag(&mut buf, 3, wire_type);
            assert_eq!(Reader::new(&buf).read_tag(), Ok((3, wire_type)));
        }
    }

    #[test]
    fn tag_errors() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], DecodeError::Truncated),
            (&[0x00], DecodeError::InvalidFieldNumber(0)),
            (&[0x02], DecodeError::InvalidFieldNumber(0)),
            (&[0x0E], DecodeError::InvalidWireType(6)),
            (&[0x0F], DecodeError::InvalidWireType(7)),
            // Field 2^29 (one above the maximum).
            (
                &[0x80, 0x80, 0x80, 0x80, 0x10],
                DecodeError::InvalidFieldNumber(1 << 29),
            ),
            // A tag above u32: field number 2^32.
            (
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
                DecodeError::InvalidFieldNumber(1 << 32),
            ),
            (&[0xFF; 11], DecodeError::VarintOverflow),
            (&[0x80], DecodeError::Truncated),
        ];
        for &(bytes, err) in cases {
            assert_eq!(Reader::new(bytes).read_tag(), Err(err), "{:02X?}", bytes);
        }
    }

    #[test]
    fn bytes_and_strings() {
        let mut buf = Vec::new();
        encode_bytes(&mut buf, b"");
        encode_str(&mut buf, "héllo");
        encode_bytes(&mut buf, &[0xFF; 200]);
        let mut expected = vec![0x00, 0x06, b'h', 0xC3, 0xA9, b'l', b'l', b'o', 0xC8, 0x01];
        expected.extend_from_slice(&[0xFF; 200]);
        assert_eq!(buf, expected);
        let mut r = Reader::new(&buf);
        assert_eq!(r.read_bytes(), Ok(&b""[..]));
        assert_eq!(r.read_str(), Ok("héllo"));
        assert_eq!(r.read_bytes(), Ok(&[0xFFu8; 200][..]));
        assert!(r.is_empty());
    }

    #[test]
    fn field_helpers() {
        let mut buf = Vec::new();
        encode_str_field(&mut buf, 1, "ab");
        encode_int64_field(&mut buf, 2, 300);
        encode_int32_field(&mut buf, 3, -1);
        encode_varint_field(&mut buf, 4, 1);
        encode_bytes_field(&mut buf, 5, &[9]);
        assert_eq!(
            buf,
            [
                0x0A, 0x02, b'a', b'b', //
                0x10, 0xAC, 0x02, //
                0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, //
                0x20, 0x01, //
                0x2A, 0x01, 0x09,
            ]
        );
    }

    #[test]
    fn bytes_errors() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[], DecodeError::Truncated),
            (&[0x05, b'a', b'b'], DecodeError::LengthOutOfBounds),
            (&[0x01], DecodeError::LengthOutOfBounds),
            (&[0x80], DecodeError::Truncated),
            // Length 2^64 - 1: must not overflow pos + len.
            (
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
                DecodeError::LengthOutOfBounds,
            ),
            // Length 2^32 (truncates to 0 in a careless u32 cast).
            (
                &[0x80, 0x80, 0x80, 0x80, 0x10],
                DecodeError::LengthOutOfBounds,
            ),
            (&[0xFF; 11], DecodeError::VarintOverflow),
        ];
        for &(bytes, err) in cases {
            assert_eq!(Reader::new(bytes).read_bytes(), Err(err), "{:02X?}", bytes);
        }
        assert_eq!(
            Reader::new(&[0x02, 0xC3, 0x28]).read_str(),
            Err(DecodeError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0x01, 0xFF]).read_str(),
            Err(DecodeError::InvalidUtf8)
        );
        // A truncated UTF-8 sequence.
        assert_eq!(
            Reader::new(&[0x01, 0xC3]).read_str(),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn skip_every_wire_type() {
        let mut buf = Vec::new();
        encode_varint_field(&mut buf, 1, 300);
        encode_tag(&mut buf, 2, FIXED64);
        encode_fixed64(&mut buf, 7);
        encode_bytes_field(&mut buf, 3, b"xyz");
        encode_tag(&mut buf, 4, FIXED32);
        encode_fixed32(&mut buf, 7);
        // Group 5 containing a varint, a nested group 6 and a string.
        encode_tag(&mut buf, 5, SGROUP);
        encode_varint_field(&mut buf, 1, 1);
        encode_tag(&mut buf, 6, SGROUP);
        encode_tag(&mut buf, 6, EGROUP);
        encode_str_field(&mut buf, 2, "in");
        encode_tag(&mut buf, 5, EGROUP);
        encode_varint_field(&mut buf, 7, 42);

        let mut r = Reader::new(&buf);
        let mut seen = Vec::new();
        while !r.is_empty() {
            let (field, wire_type) = r.read_tag().unwrap();
            if field == 7 {
                assert_eq!(r.read_varint(), Ok(42));
            } else {
                r.skip_field(field, wire_type).unwrap();
            }
            seen.push(field);
        }
        assert_eq!(seen, [1, 2, 3, 4, 5, 7]);
    }

    fn skip_all(bytes: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(bytes);
        while !r.is_empty() {
            let (field, wire_type) = r.read_tag()?;
            r.skip_field(field, wire_type)?;
        }
        Ok(())
    }

    #[test]
    fn skip_errors() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[0x08], DecodeError::Truncated),
            (&[0x08, 0x80], DecodeError::Truncated),
            (&[0x09, 1, 2, 3, 4, 5, 6, 7], DecodeError::Truncated),
            (&[0x0A, 0x02, b'a'], DecodeError::LengthOutOfBounds),
            (&[0x0D, 1, 2, 3], DecodeError::Truncated),
            (&[0x0C], DecodeError::UnexpectedEndGroup),
            (&[0x0B], DecodeError::UnterminatedGroup),
            (&[0x0B, 0x08, 0x01], DecodeError::UnterminatedGroup),
            // Group 1 closed by an end-group for field 2.
            (&[0x0B, 0x14], DecodeError::UnexpectedEndGroup),
            (&[0x0B, 0x0E], DecodeError::InvalidWireType(6)),
            (&[0x0B, 0x00], DecodeError::InvalidFieldNumber(0)),
            (&[0x0F, 0x00], DecodeError::InvalidWireType(7)),
        ];
        for &(bytes, err) in cases {
            assert_eq!(skip_all(bytes), Err(err), "{:02X?}", bytes);
        }
        let mut r = Reader::new(&[0x00]);
        assert_eq!(r.skip_field(1, 6), Err(DecodeError::InvalidWireType(6)));
    }

    #[test]
    fn deeply_nested_groups_hit_the_limit_without_recursion() {
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            encode_tag(&mut deep, 1, SGROUP);
        }
        assert_eq!(skip_all(&deep), Err(DecodeError::GroupRecursionLimit));

        let mut ok = Vec::new();
        for _ in 0..MAX_GROUP_DEPTH {
            encode_tag(&mut ok, 1, SGROUP);
        }
        for _ in 0..MAX_GROUP_DEPTH {
            encode_tag(&mut ok, 1, EGROUP);
        }
        assert_eq!(skip_all(&ok), Ok(()));
    }

    /// xorshift64*: deterministic, no dependencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545F4914F6CDD1D)
        }
        fn bytes(&mut self, max_len: usize) -> Vec<u8> {
            let len = (self.next() as usize) % (max_len + 1);
            let mut out = Vec::with_capacity(len);
            for _ in 0..len {
                // Bias towards bytes that make interesting varints and tags.
                let b = match self.next() % 4 {
                    0 => 0xFF,
                    1 => 0x80 | (self.next() as u8 & 0x0F),
                    _ => self.next() as u8,
                };
                out.push(b);
            }
            out
        }
    }

    #[test]
    fn fuzz_garbage_never_panics() {
        let mut rng = Rng(0x9E3779B97F4A7C15);
        for _ in 0..200_000 {
            let input = rng.bytes(24);
            // Walk it as a message.
            let _ = skip_all(&input);
            // And as a sequence of arbitrary reads.
            let mut r = Reader::new(&input);
            for _ in 0..8 {
                let before = r.position();
                let ok = match rng.next() % 10 {
                    0 => r.read_varint().is_ok(),
                    1 => r.read_tag().is_ok(),
                    2 => r.read_fixed32().is_ok(),
                    3 => r.read_fixed64().is_ok(),
                    4 => r.read_bytes().is_ok(),
                    5 => r.read_str().is_ok(),
                    6 => r.read_sint64().is_ok(),
                    7 => r
                        .skip_field((rng.next() % 4) as u32, (rng.next() % 8) as u8)
                        .is_ok(),
                    8 => r.read_int32().is_ok(),
                    _ => r.read_bool().is_ok(),
                };
                assert!(r.position() <= input.len());
                if !ok {
                    break;
                }
                assert!(r.position() >= before);
            }
            assert_eq!(r.remaining().len(), input.len() - r.position());
        }
    }

    #[test]
    fn fuzz_round_trips() {
        let mut rng = Rng(12345);
        for _ in 0..50_000 {
            let v = rng.next() >> (rng.next() % 64);
            let s = v as i64;
            let field = 1 + (rng.next() as u32 % MAX_FIELD_NUMBER);
            let blob = rng.bytes(40);
            let mut buf = Vec::new();
            encode_tag(&mut buf, field, LEN);
            encode_bytes(&mut buf, &blob);
            encode_varint(&mut buf, v);
            encode_sint64(&mut buf, s);
            encode_int32(&mut buf, s as i32);
            encode_fixed64(&mut buf, v);
            let mut r = Reader::new(&buf);
            assert_eq!(r.read_tag(), Ok((field, LEN)));
            assert_eq!(r.read_bytes(), Ok(&blob[..]));
            assert_eq!(r.read_varint(), Ok(v));
            assert_eq!(r.read_sint64(), Ok(s));
            assert_eq!(r.read_int32(), Ok(s as i32));
            assert_eq!(r.read_fixed64(), Ok(v));
            assert!(r.is_empty());
        }
    }
}
