//! End-to-end tests of the resource APIs through the real listeners.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod aisp;
mod events;
mod pisp;
#[allow(
    dead_code,
    reason = "shared by the test modules; not every module uses every helper"
)]
mod support;
