//! Tests of the `consentry` binary as an operator runs it: start-up, faults, restarts, commands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod binary;
