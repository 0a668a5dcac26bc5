#![doc = include_str!("../README.md")]
#![no_std]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("acme-embassy: the `defmt` and `log` features are mutually exclusive");

pub mod dns01;
pub mod driver;
pub mod http01;
pub mod persist;
mod record_guard;
pub mod tls;

pub use acme_core;
