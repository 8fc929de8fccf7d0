"""Guest projects: find toolchains and build Go or Rust guests to wasm."""
