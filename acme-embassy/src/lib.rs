//! # acme-embassy
//!
//! The device adapter of `acme-core`: it will drive the core's state
//! machine over embassy-net sockets and embedded-tls, with no heap.
//!
//! This first version only re-exports the core, so that the workspace
//! layout is in place; the adapter arrives with its own issue.
#![no_std]

pub use acme_core as core;
