//! Loopback load generator for the admission webhook (written next).

fn main() {}
