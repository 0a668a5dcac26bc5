//! # acme-host
//!
//! The std adapter of `acme-core`: it will drive the core's state machine
//! over `TcpStream` + rustls and ship the `acme` command-line tool.
//!
//! This first version only re-exports the core, so that the workspace
//! layout is in place; the adapter arrives with its own issue.

pub use acme_core as core;
