//! Shared helpers for the workspace's integration tests.
//!
//! The simulation server and the Pebble harness live here as they arrive.

/// Path of the workspace root, for tests that read committed data.
#[must_use]
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
