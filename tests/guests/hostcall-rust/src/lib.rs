//! A test guest for host calls (docs/abi.md, section 12).

use bridge_guest::{handle, host_call, Status};

/// Takes `<method>\n<payload>`, calls the host method with the payload and answers with
/// the host's response unchanged, or with the host's error.
#[export_name = "test.v1.Hosted/Relay"]
pub extern "C" fn relay_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
        let i = req
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Status::invalid_argument("want <method>\\n<payload>"))?;
        let method = core::str::from_utf8(&req[..i])
            .map_err(|_| Status::invalid_argument("method name is not UTF-8"))?;
        host_call(method, &req[i + 1..])
    })
}

/// Calls `legacy.v1.Echo/Say` twice with the request and answers with both responses,
/// concatenated.
#[export_name = "test.v1.Hosted/Twice"]
pub extern "C" fn twice_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
        let mut out = host_call("legacy.v1.Echo/Say", req)?;
        out.extend(host_call("legacy.v1.Echo/Say", req)?);
        Ok(out)
    })
}
