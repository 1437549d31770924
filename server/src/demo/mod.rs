pub mod bank;
pub mod phone;

pub mod seed;

pub use seed::{DEMO_CLIENT_ID, DemoReport, seed};
