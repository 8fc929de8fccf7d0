//! A test guest for host calls (docs/abi.md, section 12).

use bridge_guest::{handle, host_call, Status};

// The SDK's own import, declared again to break the ABI on purpose (BadPointer).
#[link(wasm_import_module = "bridge")]
extern "C" {
    #[link_name = "host_call"]
    fn raw_host_call(method_ptr: u32, method_len: u32, req_ptr: u32, req_len: u32) -> u64;
}

/// 1 while a host call is under way: an instance whose call failed inside a host call
/// keeps it, and answers `Dirty` with 1 if it ever serves another call.
static mut DIRTY: u8 = 0;

fn set_dirty(value: u8) {
    // Safety: wasm32 guests are single-threaded and only this crate touches DIRTY.
    unsafe { core::ptr::write_volatile(&mut DIRTY, value) };
}

/// Takes `<method>\n<payload>`, calls the host method with the payload and answers with
/// the host's response unchanged, or with the host's error.
#[export_name = "test.v1.Hosted/Relay"]
pub extern "C" fn relay_export(ptr: u32, len: u32) -> u64 {
    set_dirty(1);
    let result = handle(ptr, len, |req| {
        let i = req
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| Status::invalid_argument("want <method>\\n<payload>"))?;
        let method = core::str::from_utf8(&req[..i])
            .map_err(|_| Status::invalid_argument("method name is not UTF-8"))?;
        host_call(method, &req[i + 1..])
    });
    set_dirty(0);
    result
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

/// Answers 1 when this instance ran a call that failed inside a host call.
#[export_name = "test.v1.Hosted/Dirty"]
pub extern "C" fn dirty_export(ptr: u32, len: u32) -> u64 {
    // Safety: as in set_dirty.
    handle(ptr, len, |_| Ok(vec![unsafe { core::ptr::read_volatile(&DIRTY) }]))
}

/// Calls the host with a method name outside its memory: an ABI violation.
#[export_name = "test.v1.Hosted/BadPointer"]
pub extern "C" fn bad_pointer_export(_ptr: u32, _len: u32) -> u64 {
    set_dirty(1);
    // Safety: the host checks the range and refuses it; nothing is read here.
    unsafe { raw_host_call(0xFFFF_FF00, 16, 0, 0) };
    set_dirty(0);
    0
}
