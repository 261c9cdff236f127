//! csplease-wasm binary
fn main() {}
