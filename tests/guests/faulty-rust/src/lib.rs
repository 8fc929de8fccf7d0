//! A test guest that misbehaves on purpose, one way per method.

use bridge_guest::handle;

static mut HOARD: Vec<Vec<u8>> = Vec::new();

/// Set by every method that never returns normally: an instance that answers `Dirty`
/// with 1 is one whose call failed, and should never have served another.
static mut DIRTY: u8 = 0;

fn set_dirty() {
    // Safety: wasm32 guests are single-threaded and only these methods touch DIRTY.
    unsafe { core::ptr::write_volatile(&mut DIRTY, 1) };
}

#[export_name = "faulty.v1.Faulty/Panic"]
pub extern "C" fn panic_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
        set_dirty();
        panic!("boom: {}", req.len())
    })
}

/// Answers 1 when this instance ran a call that did not return, else 0.
#[export_name = "faulty.v1.Faulty/Dirty"]
pub extern "C" fn dirty_export(ptr: u32, len: u32) -> u64 {
    // Safety: as in set_dirty.
    handle(ptr, len, |_| Ok(vec![unsafe { core::ptr::read_volatile(&DIRTY) }]))
}

#[export_name = "faulty.v1.Faulty/Loop"]
pub extern "C" fn loop_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
        set_dirty();
        let mut n = req.len() as u64;
        loop {
            // A volatile write keeps the loop from being optimised away (rustc 1.63
            // has no stable black_box).
            unsafe { core::ptr::write_volatile(&mut n, n.wrapping_add(1)) };
        }
    })
}

#[export_name = "faulty.v1.Faulty/Alloc"]
pub extern "C" fn alloc_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |_| {
        set_dirty();
        loop {
            // Safety: wasm32 guests are single-threaded and nothing else touches HOARD.
            unsafe { HOARD.push(vec![1u8; 1 << 20]) };
        }
    })
}

#[export_name = "faulty.v1.Faulty/Grow"]
pub extern "C" fn grow_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
        let blocks: Vec<Vec<u8>> = (0..req[0]).map(|i| vec![i; 1 << 20]).collect();
        Ok(vec![blocks.len() as u8])
    })
}

#[export_name = "faulty.v1.Faulty/Echo"]
pub extern "C" fn echo_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| Ok(req.to_vec()))
}

/// On wasm32-wasi only (wasm32-unknown-unknown has no clock): what the sandbox shows,
/// one `key=value` line each, as faulty-go's Sees.
#[cfg(target_os = "wasi")]
#[export_name = "faulty.v1.Faulty/Sees"]
pub extern "C" fn sees_export(ptr: u32, len: u32) -> u64 {
    use std::time::{Instant, SystemTime, UNIX_EPOCH};
    handle(ptr, len, |_| {
        let start = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let out = format!(
            "wall_unix_ns={}\nmonotonic_ns={}\nenv={}\nargs={}\nfile_error={}\n",
            wall,
            start.elapsed().as_nanos(),
            std::env::vars().count(),
            std::env::args().count(),
            std::fs::read("/etc/hostname").is_err(),
        );
        Ok(out.into_bytes())
    })
}
