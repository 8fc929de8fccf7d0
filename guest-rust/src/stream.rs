//! The messages of a streaming call (docs/abi.md, section 14): the raw functions on bytes,
//! and the typed [`Source`] and [`Sink`] that generated glue hands a streaming method.
//!
//! ```ignore
//! // A bidirectional method, by hand: every request back, as it comes.
//! #[export_name = "echo.v1.Echo/Chat"]
//! pub extern "C" fn chat(ptr: u32, len: u32) -> u64 {
//!     bridge_guest::handle(ptr, len, |_| {
//!         while let Some(message) = bridge_guest::stream::recv()? {
//!             bridge_guest::stream::send(&message)?;
//!         }
//!         Ok(Vec::new()) // a stream ends with no payload
//!     })
//! }
//! ```
//!
//! An `Err` from `recv` or `send` means the call is over (the client cancelled or went
//! away, or the deadline passed): the method should return at once, and what it returns
//! is not delivered. Off wasm32 (native `cargo test`) there is no call: `recv` answers
//! the end of the stream and `send` CANCELLED; test streaming methods natively with
//! [`Source::from_messages`] and [`Sink::in_memory`].

// Off wasm32 only the tests use the target-independent half.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;

use crate::abi::{unpack, MAX_MESSAGE_LEN, RECV_COMPRESSED, RECV_END, SEND_UNCOMPRESSED};
use crate::message::Message;
use crate::status::{Code, Status};
use crate::wire::DecodeError;

/// What `stream_recv` answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recv {
    /// A request of `len` bytes is pending (nothing to collect when `len == 0`).
    Message { len: u32, compressed: bool },
    /// The client closed its stream.
    End,
    /// The call is over; a status of `len` bytes is pending.
    Over { len: u32 },
}

pub(crate) fn parse_recv(raw: u64) -> Recv {
    let r = unpack(raw);
    let flags = r.ptr;
    if r.error {
        Recv::Over { len: r.len }
    } else if flags & RECV_END != 0 {
        Recv::End
    } else {
        Recv::Message {
            len: r.len,
            compressed: flags & RECV_COMPRESSED != 0,
        }
    }
}

/// The status of a call that is over, from the host's envelope (`CANCELLED` or
/// `DEADLINE_EXCEEDED`); `CANCELLED` when it gave none.
pub(crate) fn over(envelope: Option<Vec<u8>>) -> Status {
    match envelope {
        Some(bytes) if !bytes.is_empty() => match crate::host::outcome(bytes, true) {
            Err(status) => status,
            Ok(_) => closed(),
        },
        _ => closed(),
    }
}

/// What `send` answers once the call is over: the host does not say why.
pub(crate) fn closed() -> Status {
    Status::new(
        Code::Cancelled,
        "the call is over: the client cancelled or went away, or the deadline passed",
    )
}

/// A message that cannot be sent, whatever the host's limit.
fn too_large(len: usize) -> Status {
    Status::new(
        Code::ResourceExhausted,
        format!(
            "response message of {} bytes exceeds the ABI limit of {} bytes",
            len, MAX_MESSAGE_LEN
        ),
    )
}

/// The next request message of the call; `Ok(None)` once the client has closed its
/// stream (then always). An `Err` (`CANCELLED`, `DEADLINE_EXCEEDED`) means the call is
/// over: return. In a unary or server-streaming call the stream is closed at once (its
/// one request is the handler's argument).
pub fn recv() -> Result<Option<Vec<u8>>, Status> {
    imp::recv()
}

/// Whether the message [`recv`] last returned arrived compressed.
pub fn recv_compressed() -> bool {
    imp::recv_compressed()
}

/// Sends one response message (the host copies it). An `Err` (`CANCELLED`) means the
/// call is over and the message was dropped: return. Blocks while the caller is more
/// than the host's window behind.
pub fn send(message: &[u8]) -> Result<(), Status> {
    imp::send(message, 0)
}

/// [`send`], leaving this message uncompressed although the call compresses its
/// responses ([`crate::context::set_compression`]).
pub fn send_uncompressed(message: &[u8]) -> Result<(), Status> {
    imp::send(message, SEND_UNCOMPRESSED)
}

pub(crate) fn begin_call() {
    imp::begin_call();
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{closed, over, parse_recv, too_large, Recv};
    use crate::abi::{MAX_MESSAGE_LEN, STREAM_CLOSED};
    use crate::imports::{self, Global};
    use crate::status::Status;
    use alloc::vec::Vec;

    /// Whether the message `recv` last returned came compressed; reset per call.
    static COMPRESSED: Global<bool> = Global::new(false);

    pub(super) fn begin_call() {
        COMPRESSED.with(|c| *c = false);
    }

    pub(super) fn recv() -> Result<Option<Vec<u8>>, Status> {
        // SAFETY: an import without arguments.
        let answer = parse_recv(unsafe { imports::stream_recv() });
        COMPRESSED.with(|c| *c = false);
        match answer {
            Recv::End => Ok(None),
            Recv::Over { len } => Err(over(imports::collect(len))),
            Recv::Message { len, compressed } => match imports::collect(len) {
                Some(message) => {
                    COMPRESSED.with(|c| *c = compressed);
                    Ok(Some(message))
                }
                None => Err(Status::internal("host_result failed")),
            },
        }
    }

    pub(super) fn recv_compressed() -> bool {
        COMPRESSED.with(|c| *c)
    }

    pub(super) fn send(message: &[u8], flags: u32) -> Result<(), Status> {
        if message.len() > MAX_MESSAGE_LEN as usize {
            return Err(too_large(message.len()));
        }
        // SAFETY: the range is live guest memory, copied by the host before it returns.
        let rc = unsafe {
            imports::stream_send(
                message.as_ptr() as usize as u32,
                message.len() as u32,
                flags,
            )
        };
        match rc {
            0 => Ok(()),
            STREAM_CLOSED => Err(closed()),
            other => Err(Status::internal(alloc::format!(
                "stream_send answered {}",
                other
            ))),
        }
    }
}

/// Native stand-ins: no call, so no requests, and nobody to send to.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::closed;
    use crate::status::Status;
    use alloc::vec::Vec;

    pub(super) fn begin_call() {}

    pub(super) fn recv() -> Result<Option<Vec<u8>>, Status> {
        Ok(None)
    }

    pub(super) fn recv_compressed() -> bool {
        false
    }

    pub(super) fn send(message: &[u8], _flags: u32) -> Result<(), Status> {
        if message.len() > super::MAX_MESSAGE_LEN as usize {
            return Err(super::too_large(message.len()));
        }
        Err(closed())
    }
}

// ---------------------------------------------------------------------------
// Typed streams

enum Feed {
    /// The call's requests, from the host.
    #[cfg(target_arch = "wasm32")]
    Host,
    /// Requests given in advance (tests); an `Err` stays at the front, as the host
    /// answers the same once a call is over.
    Memory(VecDeque<Result<Vec<u8>, Status>>),
}

/// The requests of a client-streaming or bidirectional call, as messages of type `T`.
///
/// `recv` gives the next one; the `Iterator` gives `Some(Ok(request))` for each,
/// `Some(Err(status))` once if the call ends early or a request does not decode
/// (`INVALID_ARGUMENT`), then `None`:
///
/// ```ignore
/// fn sum(&self, requests: &mut Source<Number>) -> Result<Number, Status> {
///     let mut total = 0;
///     for number in requests {
///         total += number?.value;
///     }
///     Ok(Number { value: total })
/// }
/// ```
pub struct Source<T> {
    feed: Feed,
    compressed: bool,
    done: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T: Message> Source<T> {
    /// The running call's requests (what generated glue gives a method).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host() -> Self {
        Source::with_feed(Feed::Host)
    }

    fn with_feed(feed: Feed) -> Self {
        Source {
            feed,
            compressed: false,
            done: false,
            _type: PhantomData,
        }
    }

    /// A source of these messages, then the end of the stream: for native tests of a
    /// streaming method.
    pub fn from_messages<I: IntoIterator<Item = T>>(messages: I) -> Self {
        Source::from_results(messages.into_iter().map(Ok))
    }

    /// A source of these messages, up to the first `Err`, which it then answers for good
    /// (the call is over: `Status::new(Code::Cancelled, ...)` is a client that went
    /// away): for native tests.
    pub fn from_results<I: IntoIterator<Item = Result<T, Status>>>(items: I) -> Self {
        let mut queue = VecDeque::new();
        for item in items {
            let failed = item.is_err();
            queue.push_back(item.map(|message| message.encode_to_vec()));
            if failed {
                break;
            }
        }
        Source::with_feed(Feed::Memory(queue))
    }

    /// The next request; `Ok(None)` once the client has closed its stream. An `Err` is
    /// the end of the call (`CANCELLED`, `DEADLINE_EXCEEDED`: return), or a request that
    /// does not decode (`INVALID_ARGUMENT`).
    pub fn recv(&mut self) -> Result<Option<T>, Status> {
        self.compressed = false;
        let bytes = match &mut self.feed {
            #[cfg(target_arch = "wasm32")]
            Feed::Host => {
                let message = recv()?;
                self.compressed = recv_compressed();
                message
            }
            Feed::Memory(queue) => match queue.front() {
                None => None,
                Some(Err(status)) => return Err(status.clone()),
                Some(Ok(_)) => queue.pop_front().and_then(Result::ok),
            },
        };
        match bytes {
            None => Ok(None),
            Some(bytes) => T::decode(&bytes)
                .map(Some)
                .map_err(|err: DecodeError| Status::from(err)),
        }
    }

    /// Whether the request [`Source::recv`] last returned arrived compressed.
    pub fn recv_compressed(&self) -> bool {
        self.compressed
    }
}

impl<T: Message> Iterator for Source<T> {
    type Item = Result<T, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.recv() {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(status) => {
                self.done = true;
                Some(Err(status))
            }
        }
    }
}

impl<T> fmt::Debug for Source<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feed = match &self.feed {
            #[cfg(target_arch = "wasm32")]
            Feed::Host => "host",
            Feed::Memory(_) => "memory",
        };
        f.debug_struct("Source")
            .field("feed", &feed)
            .field("done", &self.done)
            .finish()
    }
}

enum Out {
    /// The call's responses, to the host.
    #[cfg(target_arch = "wasm32")]
    Host,
    /// Responses kept (tests), with their uncompressed flags; `closed_after` is the
    /// number taken before the call is over.
    Memory {
        sent: Vec<(Vec<u8>, bool)>,
        closed_after: Option<usize>,
    },
}

/// The responses of a server-streaming or bidirectional call, as messages of type `T`.
///
/// An `Err` from `send` means the call is over (`CANCELLED`): the message was dropped,
/// and the method should return, with `?`:
///
/// ```ignore
/// fn count(&self, request: CountRequest, responses: &mut Sink<Number>) -> Result<(), Status> {
///     for value in 0..request.to {
///         responses.send(&Number { value })?;
///     }
///     Ok(())
/// }
/// ```
pub struct Sink<T> {
    out: Out,
    /// The encoding buffer, reused from message to message.
    buf: Vec<u8>,
    _type: PhantomData<fn(&T)>,
}

impl<T: Message> Sink<T> {
    /// The running call's responses (what generated glue gives a method).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host() -> Self {
        Sink::with_out(Out::Host)
    }

    fn with_out(out: Out) -> Self {
        Sink {
            out,
            buf: Vec::new(),
            _type: PhantomData,
        }
    }

    /// A sink that keeps what is sent ([`Sink::messages`]): for native tests.
    pub fn in_memory() -> Self {
        Sink::with_out(Out::Memory {
            sent: Vec::new(),
            closed_after: None,
        })
    }

    /// An in-memory sink whose call is over after `n` messages: the next `send` answers
    /// `CANCELLED`, as when a client goes away. For native tests.
    pub fn closing_after(n: usize) -> Self {
        Sink::with_out(Out::Memory {
            sent: Vec::new(),
            closed_after: Some(n),
        })
    }

    /// Sends one response; `Err(CANCELLED)` once the call is over (return then), and
    /// INTERNAL for a message that lacks a proto2 required field (nothing is sent).
    pub fn send(&mut self, message: &T) -> Result<(), Status> {
        self.send_flagged(message, false)
    }

    /// [`Sink::send`], leaving this message uncompressed although the call compresses
    /// its responses.
    pub fn send_uncompressed(&mut self, message: &T) -> Result<(), Status> {
        self.send_flagged(message, true)
    }

    fn send_flagged(&mut self, message: &T, uncompressed: bool) -> Result<(), Status> {
        if let Some(field) = message.missing_required() {
            return Err(crate::message::missing_required(T::FULL_NAME, field));
        }
        self.buf.clear();
        message.encode(&mut self.buf);
        match &mut self.out {
            #[cfg(target_arch = "wasm32")]
            Out::Host if uncompressed => send_uncompressed(&self.buf),
            #[cfg(target_arch = "wasm32")]
            Out::Host => send(&self.buf),
            Out::Memory { sent, closed_after } => {
                if *closed_after == Some(sent.len()) {
                    return Err(closed());
                }
                sent.push((self.buf.clone(), uncompressed));
                Ok(())
            }
        }
    }

    /// What an in-memory sink took, decoded (empty for the host's).
    pub fn messages(&self) -> Result<Vec<T>, DecodeError> {
        match &self.out {
            #[cfg(target_arch = "wasm32")]
            Out::Host => Ok(Vec::new()),
            Out::Memory { sent, .. } => sent.iter().map(|(bytes, _)| T::decode(bytes)).collect(),
        }
    }

    /// For each message an in-memory sink took, whether it was sent uncompressed.
    pub fn uncompressed_flags(&self) -> Vec<bool> {
        match &self.out {
            #[cfg(target_arch = "wasm32")]
            Out::Host => Vec::new(),
            Out::Memory { sent, .. } => sent.iter().map(|&(_, flag)| flag).collect(),
        }
    }
}

impl<T> fmt::Debug for Sink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Sink");
        match &self.out {
            #[cfg(target_arch = "wasm32")]
            Out::Host => d.field("out", &"host"),
            Out::Memory { sent, .. } => d.field("sent", &sent.len()),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{pack, ERROR_BIT, LEN_SHIFT};
    use crate::wire::{self, Reader};
    use alloc::vec;

    #[test]
    fn recv_answers_parse_as_the_spec_says() {
        assert_eq!(
            parse_recv(5u64 << LEN_SHIFT),
            Recv::Message {
                len: 5,
                compressed: false
            }
        );
        assert_eq!(
            parse_recv((7u64 << LEN_SHIFT) | RECV_COMPRESSED as u64),
            Recv::Message {
                len: 7,
                compressed: true
            }
        );
        // The empty message: nothing to collect.
        assert_eq!(
            parse_recv(0),
            Recv::Message {
                len: 0,
                compressed: false
            }
        );
        assert_eq!(parse_recv(RECV_END as u64), Recv::End);
        assert_eq!(
            parse_recv((1u64 << ERROR_BIT) | (9u64 << LEN_SHIFT)),
            Recv::Over { len: 9 }
        );
        // ERROR wins over flags; the layout is pack's, with flags for the pointer.
        assert_eq!(
            parse_recv(pack(RECV_END, 3, false, true)),
            Recv::Over { len: 3 }
        );
    }

    #[test]
    fn a_call_that_is_over_has_the_hosts_status_or_cancelled() {
        let deadline = Status::new(Code::DeadlineExceeded, "deadline exceeded");
        assert_eq!(over(Some(deadline.encode())), deadline);
        assert_eq!(over(None).code, Code::Cancelled);
        assert_eq!(over(Some(Vec::new())).code, Code::Cancelled);
        assert_eq!(over(Some(vec![0x12, 0x09])).code, Code::Internal); // undecodable
        assert_eq!(closed().code, Code::Cancelled);
    }

    #[test]
    fn natively_there_is_no_call() {
        begin_call();
        assert_eq!(recv(), Ok(None));
        assert!(!recv_compressed());
        assert_eq!(send(b"x").unwrap_err().code, Code::Cancelled);
        assert_eq!(send_uncompressed(b"").unwrap_err().code, Code::Cancelled);
    }

    /// `test.v1.Number { int64 value = 1; }`
    #[derive(Debug, Clone, PartialEq)]
    struct Number(i64);

    impl Message for Number {
        const FULL_NAME: &'static str = "test.v1.Number";

        fn encode(&self, buf: &mut Vec<u8>) {
            if self.0 != 0 {
                wire::encode_int64_field(buf, 1, self.0);
            }
        }

        fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
            let mut r = Reader::new(bytes);
            let mut value = 0;
            while !r.is_empty() {
                match r.read_tag()? {
                    (1, wire::VARINT) => value = r.read_int64()?,
                    (field, wire_type) => r.skip_field(field, wire_type)?,
                }
            }
            Ok(Number(value))
        }
    }

    /// A client-streaming method as generated code would call it.
    fn sum(requests: &mut Source<Number>) -> Result<Number, Status> {
        let mut total = 0;
        for number in requests {
            total += number?.0;
        }
        Ok(Number(total))
    }

    /// A bidirectional method: each request doubled, until the stream ends.
    fn double(requests: &mut Source<Number>, responses: &mut Sink<Number>) -> Result<(), Status> {
        while let Some(n) = requests.recv()? {
            responses.send(&Number(2 * n.0))?;
        }
        Ok(())
    }

    #[test]
    fn sources_iterate_until_the_end() {
        let mut source = Source::from_messages(vec![Number(1), Number(0), Number(-5)]);
        assert_eq!(sum(&mut source), Ok(Number(-4)));
        assert_eq!(source.next(), None); // fused
        assert_eq!(source.recv(), Ok(None)); // and the end is for good
        assert_eq!(sum(&mut Source::from_messages(vec![])), Ok(Number(0)));
        assert!(!source.recv_compressed());
    }

    #[test]
    fn sources_end_with_the_calls_error_for_good() {
        let cancelled = Status::new(Code::Cancelled, "client went away");
        let items = vec![Ok(Number(1)), Err(cancelled.clone()), Ok(Number(2))];
        let mut source = Source::from_results(items);
        assert_eq!(source.recv(), Ok(Some(Number(1))));
        assert_eq!(source.recv(), Err(cancelled.clone()));
        assert_eq!(source.recv(), Err(cancelled.clone()));
        let mut source = Source::from_results(vec![Ok(Number(1)), Err(cancelled.clone())]);
        assert_eq!(sum(&mut source), Err(cancelled.clone()));
        let collected: Vec<_> =
            Source::from_results(vec![Ok(Number(3)), Err(cancelled.clone())]).collect();
        assert_eq!(collected, vec![Ok(Number(3)), Err(cancelled)]);
    }

    #[test]
    fn an_undecodable_request_is_invalid_argument() {
        let mut source: Source<Number> = Source::with_feed(Feed::Memory(
            vec![Ok(vec![0x08, 0x01]), Ok(vec![0x08])]
                .into_iter()
                .collect(),
        ));
        assert_eq!(source.next(), Some(Ok(Number(1))));
        let err = source.next().unwrap().unwrap_err();
        assert_eq!(err.code, Code::InvalidArgument);
        assert_eq!(err.message, "cannot decode request: truncated message");
        assert_eq!(source.next(), None);
    }

    #[test]
    fn sinks_keep_what_is_sent_and_close_when_told() {
        let mut sink = Sink::in_memory();
        let mut source = Source::from_messages(vec![Number(1), Number(2), Number(0)]);
        assert_eq!(double(&mut source, &mut sink), Ok(()));
        assert_eq!(sink.messages(), Ok(vec![Number(2), Number(4), Number(0)]));
        sink.send_uncompressed(&Number(9)).unwrap();
        assert_eq!(sink.uncompressed_flags(), vec![false, false, false, true]);

        let mut sink = Sink::closing_after(1);
        let mut source = Source::from_messages(vec![Number(1), Number(2), Number(3)]);
        assert_eq!(
            double(&mut source, &mut sink).unwrap_err().code,
            Code::Cancelled
        );
        assert_eq!(sink.messages(), Ok(vec![Number(2)]));
        // The method stopped at the closed stream: the third request was never read.
        assert_eq!(source.recv(), Ok(Some(Number(3))));
        assert_eq!(
            format!("{:?} {:?}", sink, source),
            "Sink { sent: 1 } Source { feed: \"memory\", done: false }"
        );
    }
}
