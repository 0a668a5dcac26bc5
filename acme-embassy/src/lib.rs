//! # acme-embassy
//!
//! The device adapter of `acme-core`: firmware links it to enrol its own
//! certificate at boot, with no heap.
//!
//! * [`driver::run`] drives the core's state machine over any
//!   `embedded-io-async` stream a [`driver::Connector`] opens, through the
//!   core's HTTP/1.1 codec, sleeping with embassy-time.
//! * [`tls::TlsConnector`] opens verified TLS 1.3 connections with
//!   embedded-tls over embassy-net sockets (see its docs for exactly what
//!   is verified).
//! * [`http01`] serves http-01 from the device's own listener;
//!   dns-01 is the application's [`driver::ChallengeSolver`].
//! * [`persist`] keeps the core's snapshot in NOR flash
//!   (`sequential-storage`) so a reboot resumes the same account and order.
//!
//! Every buffer is the application's: socket and TLS record buffers
//! ([`tls::TlsBuffers`]), HTTP buffers ([`driver::DriverBuffers`]) and the
//! client's own state.
#![no_std]

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("acme-embassy: the `defmt` and `log` features are mutually exclusive");

pub mod driver;
pub mod http01;
pub mod persist;
pub mod tls;

pub use acme_core as core;
