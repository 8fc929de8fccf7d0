//! The glue of a method export: request slice in, packed `u64` out (docs/abi.md, section 4).

// Off wasm32 only the tests use the target-independent half.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use alloc::format;
use alloc::vec::Vec;

use crate::abi::MAX_MESSAGE_LEN;
use crate::status::{Code, Status};

/// What a handler's result becomes on the wire, before it is stored and packed.
/// Target-independent so that it is tested natively.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// A response of zero bytes: `ptr = 0, len = 0`.
    Empty,
    /// The response bytes.
    Response(Vec<u8>),
    /// A serialized `google.rpc.Status`.
    Error(Vec<u8>),
}

pub(crate) fn reply(result: Result<Vec<u8>, Status>) -> Reply {
    reply_within(result, MAX_MESSAGE_LEN as usize)
}

/// [`reply`] with the payload limit as a parameter (tests use a small one).
fn reply_within(result: Result<Vec<u8>, Status>, limit: usize) -> Reply {
    let status = match result {
        Ok(bytes) if bytes.is_empty() => return Reply::Empty,
        Ok(bytes) if bytes.len() <= limit => return Reply::Response(bytes),
        Ok(bytes) => Status::new(
            Code::ResourceExhausted,
            format!(
                "response of {} bytes exceeds the ABI limit of {} bytes",
                bytes.len(),
                limit
            ),
        ),
        Err(status) => status,
    };
    Reply::Error(error_envelope(status, limit))
}

/// The envelope of an error: code 0 (a rule break for the host) is sent as UNKNOWN; an
/// envelope too long for the limit loses its details, then the end of its message (cut
/// at a character boundary).
fn error_envelope(mut status: Status, limit: usize) -> Vec<u8> {
    if status.code == Code::Ok {
        status.code = Code::Unknown;
    }
    if !status.details.is_empty() {
        let envelope = status.encode();
        if envelope.len() <= limit {
            return envelope;
        }
        status.details.clear();
    }
    // Room for the two tags, the code and a length prefix of up to 5 bytes.
    let max_message = limit.saturating_sub(16);
    if status.message.len() > max_message {
        let mut cut = max_message;
        while !status.message.is_char_boundary(cut) {
            cut -= 1;
        }
        status.message.truncate(cut);
    }
    status.encode()
}

#[cfg(target_arch = "wasm32")]
pub use self::wasm::{
    handle, handle_bidi_streaming, handle_client_streaming, handle_server_streaming,
};

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{reply, Reply};
    use crate::abi::pack;
    use crate::message::Message;
    use crate::status::Status;
    use crate::stream::{Sink, Source};
    use alloc::vec::Vec;
    use core::cell::UnsafeCell;

    /// The scratch slot: the last response (or error envelope) handed to the host as
    /// BORROWED, kept alive until the next call replaces it.
    ///
    /// Why this is sound: a wasm32 module without the `atomics` feature has exactly one
    /// thread (the compile_error! in lib.rs refuses threaded builds), and the ABI says
    /// calls into an instance never overlap and no export is re-entered during a call.
    /// Only `clear_slot` and `put_slot` touch the cell, and neither keeps a reference
    /// past its return, so no two references to the Vec ever coexist.
    struct Slot(UnsafeCell<Vec<u8>>);

    // SAFETY: single-threaded target, see above.
    unsafe impl Sync for Slot {}

    static SCRATCH: Slot = Slot(UnsafeCell::new(Vec::new()));

    /// Frees the previous payload: the host copied it before calling us again.
    fn clear_slot() {
        // SAFETY: see `Slot`; the old Vec is moved out and dropped here.
        let old = unsafe { core::mem::take(&mut *SCRATCH.0.get()) };
        drop(old);
    }

    /// Stores `bytes` and returns `(ptr, len)` of the stored buffer.
    fn put_slot(bytes: Vec<u8>) -> (u32, u32) {
        let (ptr, len) = (bytes.as_ptr() as usize as u32, bytes.len() as u32);
        // SAFETY: see `Slot`. Moving a Vec does not move its heap buffer, so `ptr` stays
        // valid until the slot is cleared by the next call.
        unsafe { *SCRATCH.0.get() = bytes };
        (ptr, len)
    }

    /// What every export does first: the previous call's payload and context go.
    fn begin() {
        clear_slot();
        crate::context::begin_call();
    }

    /// Packs a handler's result for the host (see `handle`).
    fn finish(result: Result<Vec<u8>, Status>) -> u64 {
        match reply(result) {
            Reply::Empty => 0,
            Reply::Response(bytes) => {
                let (ptr, len) = put_slot(bytes);
                pack(ptr, len, true, false)
            }
            Reply::Error(bytes) => {
                let (ptr, len) = put_slot(bytes);
                pack(ptr, len, true, true)
            }
        }
    }

    /// The request the host passed to the export (see `handle` for what the arguments
    /// must be); the slice must not escape the handler.
    fn request<'a>(req_ptr: u32, req_len: u32) -> &'a [u8] {
        if req_len == 0 {
            return &[];
        }
        // SAFETY: the host's side of the ABI (section 4): `req_len` bytes at `req_ptr`
        // are a live buffer it wrote, untouched until we return, and
        // `req_len <= 2^30 - 1` so the range fits in the address space.
        unsafe { core::slice::from_raw_parts(req_ptr as usize as *const u8, req_len as usize) }
    }

    /// Runs a method: `f` gets the request bytes and returns the encoded response or a
    /// [`Status`]. The result is packed for the host:
    ///
    /// - `Ok` with bytes: the bytes stay in a scratch slot until the next call and are
    ///   returned as BORROWED (no copy, no malloc);
    /// - `Ok` with no bytes: `0` (`ptr = 0, len = 0`);
    /// - `Err(status)`: the serialized `google.rpc.Status` in the scratch slot, returned
    ///   as ERROR | BORROWED. A `Code::Ok` status is sent as `UNKNOWN`; a response over
    ///   `MAX_MESSAGE_LEN` becomes `RESOURCE_EXHAUSTED`.
    ///
    /// Panics are not caught: they trap, and the host discards the instance
    /// (docs/abi.md, section 6).
    ///
    /// `req_ptr`/`req_len` must be the arguments the host passed to the export: by the
    /// ABI, `req_len` bytes at `req_ptr` are the request, owned by the host and valid for
    /// the duration of the call only, so `f` cannot keep the slice. `req_len == 0` never
    /// reads memory (`req_ptr` may then be 0).
    ///
    /// It also serves a streaming method written on bytes with [`crate::stream`]: such a
    /// method returns `Ok` with no bytes (section 14). Every entry point forgets the
    /// previous call's context ([`crate::context`]) before `f` runs.
    pub fn handle<F>(req_ptr: u32, req_len: u32, f: F) -> u64
    where
        F: FnOnce(&[u8]) -> Result<Vec<u8>, Status>,
    {
        begin();
        finish(f(request(req_ptr, req_len)))
    }

    /// Runs a server-streaming method: `f` gets the request bytes and the call's
    /// responses, and returns `Ok(())` when the stream ends well (the export returns 0)
    /// or the `Status` that ends it, after the messages sent. As [`handle`] otherwise.
    pub fn handle_server_streaming<Out, F>(req_ptr: u32, req_len: u32, f: F) -> u64
    where
        Out: Message,
        F: FnOnce(&[u8], &mut Sink<Out>) -> Result<(), Status>,
    {
        begin();
        let mut responses = Sink::host();
        finish(f(request(req_ptr, req_len), &mut responses).map(|()| Vec::new()))
    }

    /// Runs a client-streaming method (the host calls its export with `(0, 0)`): `f`
    /// gets the call's requests and returns the encoded response or a `Status`, as for
    /// [`handle`].
    pub fn handle_client_streaming<In, F>(req_ptr: u32, req_len: u32, f: F) -> u64
    where
        In: Message,
        F: FnOnce(&mut Source<In>) -> Result<Vec<u8>, Status>,
    {
        let _ = (req_ptr, req_len);
        begin();
        let mut requests = Source::host();
        finish(f(&mut requests))
    }

    /// Runs a bidirectional method (called with `(0, 0)`): `f` gets the call's requests
    /// and responses, and returns as for [`handle_server_streaming`].
    pub fn handle_bidi_streaming<In, Out, F>(req_ptr: u32, req_len: u32, f: F) -> u64
    where
        In: Message,
        Out: Message,
        F: FnOnce(&mut Source<In>, &mut Sink<Out>) -> Result<(), Status>,
    {
        let _ = (req_ptr, req_len);
        begin();
        let (mut requests, mut responses) = (Source::host(), Sink::host());
        finish(f(&mut requests, &mut responses).map(|()| Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    #[test]
    fn empty_response_is_empty() {
        assert_eq!(reply(Ok(Vec::new())), Reply::Empty);
    }

    #[test]
    fn response_bytes_pass_through() {
        assert_eq!(
            reply(Ok(vec![0x0A, 0x01, b'A'])),
            Reply::Response(vec![0x0A, 0x01, b'A'])
        );
    }

    #[test]
    fn errors_become_status_envelopes() {
        assert_eq!(
            reply(Err(Status::not_found("x"))),
            Reply::Error(vec![0x08, 0x05, 0x12, 0x01, b'x'])
        );
        // An error with code OK would be a rule break: it is sent as UNKNOWN (2).
        assert_eq!(
            reply(Err(Status::new(Code::Ok, ""))),
            Reply::Error(vec![0x08, 0x02])
        );
    }

    #[test]
    fn oversized_responses_become_resource_exhausted() {
        match reply_within(Ok(vec![1; 41]), 40) {
            Reply::Error(bytes) => {
                let back = Status::decode(&bytes).unwrap();
                assert_eq!(back.code, Code::ResourceExhausted);
                assert!(back.message.starts_with("response of 41 bytes"));
                assert!(bytes.len() <= 40);
            }
            other => panic!("unexpected {:?}", other),
        }
        assert_eq!(
            reply_within(Ok(vec![1; 40]), 40),
            Reply::Response(vec![1; 40])
        );
    }

    #[test]
    fn details_travel_in_the_envelope_unless_it_is_too_long() {
        let detailed = Status::not_found("x").with_detail(crate::Any::new("t/a", vec![1; 8]));
        assert_eq!(
            reply(Err(detailed.clone())),
            Reply::Error(detailed.encode())
        );
        // Over the limit: the details go first.
        match reply_within(Err(detailed), 20) {
            Reply::Error(bytes) => assert_eq!(bytes, Status::not_found("x").encode()),
            other => panic!("unexpected {:?}", other),
        }
    }

    #[test]
    fn oversized_messages_are_cut_on_a_char_boundary() {
        let message: String = core::iter::repeat('é').take(100).collect();
        match reply_within(Err(Status::internal(message)), 40) {
            Reply::Error(bytes) => {
                assert!(bytes.len() <= 40);
                let back = Status::decode(&bytes).unwrap();
                assert_eq!(back.code, Code::Internal);
                assert!(back.message.chars().all(|c| c == 'é'));
            }
            other => panic!("unexpected {:?}", other),
        }
    }
}
