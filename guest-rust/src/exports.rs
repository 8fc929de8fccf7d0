//! The exports every bridge module has (docs/abi.md, section 1), defined once here so a
//! guest crate gets them by depending on this one. wasm32 only.
//!
//! `#[no_mangle]` functions of a dependency end up in a `cdylib`'s exports: rustc passes
//! every C-level symbol of the crate graph to the linker with `--export`.

/// The ABI version marker (`MARKER_PREFIX` + `ABI_VERSION`); never called.
#[no_mangle]
pub extern "C" fn bridge_abi_v1() {}

// malloc/free. On wasm32-unknown-unknown there is no libc: they are defined here, on the
// Rust global allocator. On wasm32-wasi, wasi-libc (linked into every Rust wasi module)
// already defines `malloc` and `free`, and Rust's std allocator there *is* libc's malloc:
// defining them again fails the link with "duplicate symbol: malloc" (and would recurse
// if it linked). So on wasi the module exports libc's own malloc/free, which meet the
// ABI (aligned to at least 8 bytes, `free(0)` is a no-op). The linker exports them only
// when the guest crate asks: its build.rs passes `--export=malloc --export=free` to the
// linker for wasi targets (README.md; a library's build script cannot do it for the
// crate that links it).
#[cfg(not(target_os = "wasi"))]
mod heap {
    use alloc::alloc::{alloc, dealloc, Layout};

    /// Bytes in front of each block: its total size, keeping the 8-byte alignment.
    const HEADER: usize = 8;
    const ALIGN: usize = 8;

    /// `malloc(size: i32) -> i32`: `size` bytes, 8-byte aligned, `0` when out of memory.
    /// The block's total size is stored in the 8 bytes before the returned pointer,
    /// since `free` is not told the size.
    #[no_mangle]
    pub extern "C" fn malloc(size: usize) -> *mut u8 {
        // Rust objects may not exceed isize::MAX bytes (older Layout did not check).
        let total = match size.checked_add(HEADER) {
            Some(total) if total <= isize::MAX as usize => total,
            _ => return core::ptr::null_mut(),
        };
        let layout = match Layout::from_size_align(total, ALIGN) {
            Ok(layout) => layout,
            Err(_) => return core::ptr::null_mut(),
        };
        // SAFETY: `layout` has a non-zero size (at least HEADER).
        let base = unsafe { alloc(layout) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `base` is valid for `total >= HEADER` bytes and 8-byte aligned.
        unsafe {
            (base as *mut usize).write(total);
            base.add(HEADER)
        }
    }

    /// `free(ptr: i32)`: releases a pointer `malloc` returned; `free(0)` is a no-op.
    ///
    /// # Safety
    ///
    /// `ptr` is 0 or came from [`malloc`] and was not freed yet (the host's side of the
    /// ABI).
    #[no_mangle]
    pub unsafe extern "C" fn free(ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: by the contract above, `ptr` is HEADER bytes past the start of a block
        // `malloc` allocated with `Layout(total, ALIGN)` and whose header holds `total`.
        unsafe {
            let base = ptr.sub(HEADER);
            let total = (base as *const usize).read();
            dealloc(base, Layout::from_size_align_unchecked(total, ALIGN));
        }
    }
}

// wasm32-wasi: make the module a reactor. Rust links a wasi cdylib without wasi-libc's
// crt1-reactor.o, and when nothing calls `__wasm_call_ctors` the linker turns the module
// into a "command": it wraps every export (methods, malloc, free, the marker) in a
// `<name>.command_export` function that runs the constructors before and
// `__wasm_call_dtors` (atexit handlers, stdio flush) after each call. Defining
// `_initialize` as crt1-reactor.o does stops that: the host calls it once per instance
// (docs/abi.md, section 2) and the exports are the functions themselves.
#[cfg(target_os = "wasi")]
mod reactor {
    use core::sync::atomic::{AtomicBool, Ordering};

    extern "C" {
        /// Synthesized by the linker: runs the static constructors.
        fn __wasm_call_ctors();
    }

    static INITIALIZED: AtomicBool = AtomicBool::new(false);

    /// Runs the constructors; trapping when called twice, as crt1-reactor.o does.
    #[no_mangle]
    pub extern "C" fn _initialize() {
        if INITIALIZED.swap(true, Ordering::Relaxed) {
            core::arch::wasm32::unreachable();
        }
        // SAFETY: the linker-defined constructor list, run once before anything else.
        unsafe { __wasm_call_ctors() }
    }
}
