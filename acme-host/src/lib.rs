#![doc = include_str!("../README.md")]

pub mod chain;
pub mod driver;
pub mod error;
pub mod ops;
pub mod pebble;
pub mod responders;
pub mod store;
pub mod tls;
pub mod transport;

pub use acme_core;
pub use error::HostError;
