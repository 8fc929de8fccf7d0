//! The imports of the module `bridge` (docs/abi.md, sections 12, 14 and 15), declared once,
//! and the per-instance state the SDK keeps between them. wasm32 only.
//!
//! A module imports a function only when it calls it: the linker drops unreferenced
//! imports, so a unary guest without host calls imports nothing from `bridge`.

use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

#[link(wasm_import_module = "bridge")]
extern "C" {
    pub(crate) fn host_call(method_ptr: u32, method_len: u32, req_ptr: u32, req_len: u32) -> u64;
    pub(crate) fn host_result(dst_ptr: u32, dst_len: u32) -> i32;
    pub(crate) fn stream_recv() -> u64;
    pub(crate) fn stream_send(ptr: u32, len: u32, flags: u32) -> i32;
    pub(crate) fn call_info() -> u64;
    pub(crate) fn deadline() -> i64;
    pub(crate) fn set_metadata(
        kind: i32,
        key_ptr: u32,
        key_len: u32,
        value_ptr: u32,
        value_len: u32,
    ) -> i32;
    pub(crate) fn set_compression(algorithm: i32) -> i32;
}

/// Collects the host's pending outcome of `len` bytes (`host_call`, `stream_recv`,
/// `call_info`) with `host_result`; `None` when the host refuses to copy it.
pub(crate) fn collect(len: u32) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` is `len` writable bytes; the host writes at most that many.
    let got = unsafe { host_result(buf.as_mut_ptr() as usize as u32, len) };
    if got < 0 || got as u32 != len {
        return None;
    }
    Some(buf)
}

/// A global of the instance, for state the SDK keeps across imports within one call.
///
/// Why this is sound: a wasm32 module without the `atomics` feature has exactly one
/// thread (lib.rs refuses threaded builds), and the ABI says calls into an instance never
/// overlap and no export is re-entered during a call. `with` is the only access, and the
/// closures given to it in this crate never call `with` on the same global, so no two
/// references to the value ever coexist.
pub(crate) struct Global<T>(UnsafeCell<T>);

// SAFETY: single-threaded target, see above.
unsafe impl<T> Sync for Global<T> {}

impl<T> Global<T> {
    pub(crate) const fn new(value: T) -> Self {
        Global(UnsafeCell::new(value))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: see the type's doc; the reference does not outlive `f`.
        f(unsafe { &mut *self.0.get() })
    }
}
