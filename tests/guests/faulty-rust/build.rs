// On wasm32-wasi, malloc and free come from wasi-libc and must be exported by name
// (docs/abi.md section 1); wasm32-unknown-unknown, bridge's default, needs nothing.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("wasi") {
        println!("cargo:rustc-cdylib-link-arg=--export=malloc");
        println!("cargo:rustc-cdylib-link-arg=--export=free");
    }
}
