//! Shared harnesses for the workspace's integration tests.
//!
//! * [`fake`]: `FakeAcme`, an in-process ACME server that verifies every
//!   JWS and can be scripted with the quirks of real and hostile servers.
//! * [`sim`]: drives a real `acme_core::client::Client` against it over
//!   HTTP/1.1 bytes on a virtual clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

pub mod fake;
pub mod sim;

/// Path of the workspace root, for tests that read committed data.
#[must_use]
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
