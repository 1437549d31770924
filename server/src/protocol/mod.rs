//! The protocol core: plain Rust over typed requests and an injected `now`, no HTTP types.
//! Handlers in `crate::http` extract, call into here, and map the result.

pub mod error;
