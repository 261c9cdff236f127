//! lease-logic
