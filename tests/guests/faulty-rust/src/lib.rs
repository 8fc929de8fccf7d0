//! A test guest that misbehaves on purpose, one way per method.

use bridge_guest::handle;

static mut HOARD: Vec<Vec<u8>> = Vec::new();

#[export_name = "faulty.v1.Faulty/Panic"]
pub extern "C" fn panic_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| panic!("boom: {}", req.len()))
}

#[export_name = "faulty.v1.Faulty/Loop"]
pub extern "C" fn loop_export(ptr: u32, len: u32) -> u64 {
    handle(ptr, len, |req| {
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
    handle(ptr, len, |_| loop {
        // Safety: wasm32 guests are single-threaded and nothing else touches HOARD.
        unsafe { HOARD.push(vec![1u8; 1 << 20]) };
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
