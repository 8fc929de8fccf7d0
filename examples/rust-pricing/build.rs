// On wasm32-wasi, malloc and free come from wasi-libc (bridge-guest cannot define them
// there without a duplicate-symbol link error), and the linker exports only what it is
// told to. A dependency's build script cannot pass linker flags to the crate that links
// it, so each wasi guest crate carries these lines. wasm32-unknown-unknown needs nothing.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-cdylib-link-arg=--export=malloc");
        println!("cargo:rustc-cdylib-link-arg=--export=free");
    }
}
