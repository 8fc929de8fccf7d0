//! Host calls: the guest calls a method the host implements (docs/abi.md, section 12).

// Off wasm32 only the tests use the target-independent half.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use alloc::format;
use alloc::vec::Vec;

use crate::status::{Code, Status};

/// Turns what the host handed back from a host call (its bytes, and whether they are a
/// `google.rpc.Status`) into `host_call`'s result. Target-independent so that it is
/// tested natively.
pub(crate) fn outcome(payload: Vec<u8>, error: bool) -> Result<Vec<u8>, Status> {
    if !error {
        return Ok(payload);
    }
    if payload.is_empty() {
        return Err(Status::new(Code::Unknown, "empty status from host"));
    }
    match Status::decode(&payload) {
        // An error with code OK breaks the ABI; never hand the caller a non-error.
        Ok(status) if status.code == Code::Ok => Err(Status::new(Code::Unknown, status.message)),
        Ok(status) => Err(status),
        Err(err) => Err(Status::internal(format!(
            "undecodable status from host: {}",
            err
        ))),
    }
}

#[cfg(target_arch = "wasm32")]
pub use self::wasm::host_call;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::outcome;
    use crate::abi::unpack;
    use crate::imports;
    use crate::status::Status;
    use alloc::vec::Vec;

    /// Calls a method the host implements, by its full gRPC name
    /// (`"legacy.v1.Inventory/Reserve"`), with an encoded request, and returns the
    /// encoded response.
    ///
    /// When the host method fails the error is the host's [`Status`], code, message and
    /// details kept (`UNIMPLEMENTED` for a method the host does not have), so a handler
    /// can pass it on with `?`. The host never calls back into the guest during a host
    /// call.
    pub fn host_call(method: &str, request: &[u8]) -> Result<Vec<u8>, Status> {
        // SAFETY: both ranges are live guest memory, read by the host during the call
        // only (section 12, step 1).
        let raw = unsafe {
            imports::host_call(
                method.as_ptr() as usize as u32,
                method.len() as u32,
                request.as_ptr() as usize as u32,
                request.len() as u32,
            )
        };
        let r = unpack(raw);
        match imports::collect(r.len) {
            Some(payload) => outcome(payload, r.error),
            None => Err(Status::internal("host_result failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn a_response_is_returned_as_is() {
        assert_eq!(outcome(b"pong".to_vec(), false), Ok(b"pong".to_vec()));
        assert_eq!(outcome(Vec::new(), false), Ok(Vec::new()));
    }

    #[test]
    fn a_status_keeps_its_code_message_and_details() {
        let status = Status::not_found("sku X");
        assert_eq!(outcome(status.encode(), true), Err(status));
        let detailed = Status::not_found("sku Y").with_detail(crate::Any::new("t/x", vec![7]));
        assert_eq!(outcome(detailed.encode(), true), Err(detailed));
        let unimplemented = Status::unimplemented("no method legacy.v1.Echo/Nope");
        assert_eq!(outcome(unimplemented.encode(), true), Err(unimplemented));
    }

    #[test]
    fn broken_statuses_become_errors_all_the_same() {
        assert_eq!(
            outcome(Vec::new(), true),
            Err(Status::new(Code::Unknown, "empty status from host"))
        );
        // Code 0 with a message: still an error.
        assert_eq!(
            outcome(vec![0x12, 0x03, b'o', b'd', b'd'], true),
            Err(Status::new(Code::Unknown, "odd"))
        );
        // A code above 16 is UNKNOWN (Status::decode).
        assert_eq!(
            outcome(vec![0x08, 0x63], true).unwrap_err().code,
            Code::Unknown
        );
        let err = outcome(vec![0x12, 0x05], true).unwrap_err();
        assert_eq!(err.code, Code::Internal);
        assert!(
            err.message.starts_with("undecodable status from host"),
            "{}",
            err
        );
    }

    #[test]
    fn the_import_names_match_the_spec() {
        use crate::abi::*;
        assert_eq!(
            (
                HOST_MODULE,
                IMPORT_HOST_CALL,
                IMPORT_HOST_RESULT,
                HOST_RESULT_FAILED
            ),
            ("bridge", "host_call", "host_result", -1)
        );
    }
}
