//! kubectl-csplease binary
fn main() {}
