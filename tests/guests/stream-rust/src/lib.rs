//! stream.v1.Numbers (../stream-go/proto/stream/v1/numbers.proto, the schema this guest
//! shares with tests/guests/stream-go) on the generated Rust glue: one RPC of each kind,
//! and Inspect, which reads and shapes its call's context. It answers as
//! tests/guests/stream-go does. tests/guests/conftest.py generates the glue into src/ of a
//! copy of this folder and builds it; tests/guests/test_stream_guests.py calls it
//! in-process. By hand, from this folder:
//!
//! ```text
//! bridge gen -I ../stream-go/proto ../stream-go/proto/stream/v1/numbers.proto --rust-out src
//! bridge build . -o /tmp/stream-rust.wasm
//! ```

mod bridge_gen;

use core::sync::atomic::{AtomicI64, Ordering};

use bridge_gen::stream::v1::{
    AddRequest, Chat, CountRequest, Entry, InspectReply, InspectRequest, Number, Numbers, Total,
};
use bridge_guest::context::{self, Compression};
use bridge_guest::{Any, Code, Sink, Source, Status};

/// How many calls this instance was told were over (a send or a receive failed).
static CLOSED: AtomicI64 = AtomicI64::new(0);

// The SDK's own import, declared again to ask for an algorithm `Compression` cannot name.
#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "bridge")]
extern "C" {
    #[link_name = "set_compression"]
    fn raw_set_compression(algorithm: i32) -> i32;
}

/// Asks for deflate (gRPC's 1), which the ABI does not offer: `false` when refused.
#[cfg(target_arch = "wasm32")]
fn set_deflate() -> bool {
    // SAFETY: an import of one integer.
    unsafe { raw_set_compression(1) == 0 }
}

#[cfg(not(target_arch = "wasm32"))]
fn set_deflate() -> bool {
    false
}

/// Passes a failed send or receive on, counting it.
fn over(status: Status) -> Status {
    CLOSED.fetch_add(1, Ordering::Relaxed);
    status // the call is over: what the method returns is not delivered
}

/// A stream.v1.Number.
fn number(value: i64) -> Number {
    Number {
        value,
        ..Default::default()
    }
}

/// A status with one detail, a stream.v1.Number{value: 42}.
fn number_status(code: Code, message: impl Into<String>) -> Status {
    Status::new(code, message).with_detail(Any::pack(&number(42)))
}

pub struct Service;

impl Numbers for Service {
    fn add(&self, request: AddRequest) -> Result<Number, Status> {
        Ok(number(request.a + request.b))
    }

    fn count(&self, request: CountRequest, responses: &mut Sink<Number>) -> Result<(), Status> {
        if request.compress {
            context::set_compression(Compression::Gzip)?;
        }
        if request.headers {
            context::set_header("x-count-from", request.from.to_string())?;
        }
        let mut sent = 0;
        for value in request.from..request.to {
            if request.fail_after > 0 && sent == request.fail_after {
                let message = format!("failed after {} messages", sent);
                return Err(number_status(Code::Aborted, message));
            }
            let message = number(value);
            let result = if request.compress && sent % 2 == 1 {
                responses.send_uncompressed(&message)
            } else {
                responses.send(&message)
            };
            result.map_err(over)?;
            sent += 1;
            if request.headers && sent == 1 {
                let late = match context::set_header("x-late", "1") {
                    Ok(()) => "accepted",
                    Err(_) => "refused",
                };
                context::set_trailer("x-late-header", late)?;
            }
        }
        if request.headers {
            context::set_trailer("x-sent", sent.to_string())?;
        }
        Ok(())
    }

    fn sum(&self, requests: &mut Source<Number>) -> Result<Total, Status> {
        let mut total = Total::default();
        // `while let` rather than `for`: the loop body asks the source about the message.
        while let Some(number) = requests.recv().map_err(|status| match status.code {
            Code::InvalidArgument => status, // a request that does not decode
            _ => over(status),
        })? {
            if number.value < 0 {
                let message = format!("negative number {}", number.value);
                return Err(Status::invalid_argument(message));
            }
            total.sum += number.value;
            total.count += 1;
            if requests.recv_compressed() {
                total.compressed += 1;
            }
        }
        Ok(total)
    }

    fn echo(&self, requests: &mut Source<Chat>, responses: &mut Sink<Chat>) -> Result<(), Status> {
        for chat in requests {
            let mut chat = chat.map_err(over)?;
            if chat.text == "fail" {
                return Err(Status::failed_precondition("asked to fail"));
            }
            chat.text = chat.text.to_uppercase();
            let result = if chat.uncompressed {
                responses.send_uncompressed(&chat)
            } else {
                responses.send(&chat)
            };
            result.map_err(over)?;
        }
        Ok(())
    }

    fn inspect(&self, request: InspectRequest) -> Result<InspectReply, Status> {
        let mut reply = InspectReply {
            closed: CLOSED.load(Ordering::Relaxed),
            request_compressed: context::request_compressed(),
            ..Default::default()
        };
        // In the order it came, unlike Go's map.
        let metadata = context::metadata();
        for (key, value) in &metadata {
            reply.metadata.push(Entry {
                key: key.clone(),
                value: value.clone(),
                ..Default::default()
            });
        }
        if let Some(left) = context::deadline() {
            reply.has_deadline = true;
            reply.deadline_ms = left.as_millis() as i64;
        }
        let tries = [
            ("bad key", "bad key", "x"),
            ("grpc- key", "grpc-status", "0"),
            ("non-ASCII text", "x-text", "caf\u{e9}"),
        ];
        for (what, key, value) in tries {
            if context::set_header(key, value).is_err() {
                reply.refused.push(what.to_string());
            }
        }
        if !set_deflate() {
            reply.refused.push("deflate".to_string());
        }
        if request.compress {
            context::set_compression(Compression::Gzip)?;
        }
        // Keys are lowercased, as gRPC does; a -bin value is raw bytes.
        context::set_header("X-Inspected", "yes")?;
        let keys: std::collections::BTreeSet<&str> =
            metadata.iter().map(|(k, _)| k.as_str()).collect();
        context::set_trailer("x-keys", keys.len().to_string())?;
        context::set_trailer("x-raw-bin", [0x00, 0x01, 0xff])?;
        // Host clients exist on wasm32 only.
        #[cfg(target_arch = "wasm32")]
        if request.ask_host {
            // The host's status, details included, passed on as it is.
            bridge_gen::stream::v1::OracleClient.ask(&number(7))?;
        }
        if request.fail_code != 0 {
            let code = Code::from_u32(request.fail_code as u32).unwrap_or(Code::Unknown);
            return Err(number_status(code, "asked to fail"));
        }
        Ok(reply)
    }
}

bridge_gen::stream::v1::export_numbers!(Service);

#[cfg(test)]
mod tests {
    //! The methods natively, on in-memory streams.
    use super::*;

    #[test]
    fn count_sends_until_the_stream_closes() {
        let mut responses = Sink::closing_after(3);
        let request = CountRequest {
            to: 10,
            ..Default::default()
        };
        let err = Service.count(request, &mut responses).unwrap_err();
        assert_eq!(err.code, Code::Cancelled);
        let values: Vec<i64> = responses
            .messages()
            .unwrap()
            .iter()
            .map(|n| n.value)
            .collect();
        assert_eq!(values, [0, 1, 2]);
    }

    #[test]
    fn sum_and_echo_on_in_memory_streams() {
        let numbers = (1..=4).map(number);
        let total = Service.sum(&mut Source::from_messages(numbers)).unwrap();
        assert_eq!((total.sum, total.count), (10, 4));
        let chats = ["a", "b"].iter().map(|t| Chat {
            text: t.to_string(),
            uncompressed: *t == "b",
            ..Default::default()
        });
        let mut responses = Sink::in_memory();
        Service
            .echo(&mut Source::from_messages(chats), &mut responses)
            .unwrap();
        let texts: Vec<String> = responses
            .messages()
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(texts, ["A", "B"]);
        assert_eq!(responses.uncompressed_flags(), [false, true]);
    }
}
