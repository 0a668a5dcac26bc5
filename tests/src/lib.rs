//! Shared harnesses for the workspace's integration tests.
//!
//! * [`cli`]: runs the `acme` tool as a process with a watchdog, and
//!   snapshots a state directory's files.
//! * [`fake`]: `FakeAcme`, an in-process ACME server that verifies every
//!   JWS and can be scripted with the quirks of real and hostile servers.
//! * [`fault_proxy`]: a fault-injecting HTTPS proxy in front of Pebble
//!   (resets, truncation, stalls, scripted and hostile answers).
//! * [`fleet`]: many devices enrolling at once against one Pebble (the
//!   fleet benchmark and its CI test).
//! * [`sim`]: drives a real `acme_core::client::Client` against it over
//!   HTTP/1.1 bytes on a virtual clock.
//! * [`relay`]: a TCP relay that counts connections and bytes and delays
//!   each direction (the wire-efficiency benchmark's).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use acme_host::error::HostError;
use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};

pub mod cli;
pub mod fake;
pub mod fault_proxy;
pub mod fleet;
pub mod relay;
pub mod sim;

/// Starts a Pebble that validates every challenge at once, never rejects a
/// good nonce, never reuses an authorization and offers an alternate chain
/// (a second root): the fleet's, the kill test's and the hostile cases'.
/// Panics, with the install command, when Pebble is missing.
#[must_use]
pub fn start_pebble_always_valid() -> LocalPebble {
    let options = PebbleOptions {
        env: [
            ("PEBBLE_VA_ALWAYS_VALID", "1"),
            ("PEBBLE_WFE_NONCEREJECT", "0"),
            ("PEBBLE_AUTHZREUSE", "0"),
            // A second root, so that an alternate chain is offered.
            ("PEBBLE_ALTERNATE_ROOTS", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        http01_port: free_port().unwrap(),
        tls_alpn01_port: free_port().unwrap(),
        ..PebbleOptions::default()
    };
    match LocalPebble::start(&options) {
        Ok(p) => p,
        Err(HostError::Usage(message)) => panic!("{message}"),
        Err(e) => panic!("starting Pebble: {e}"),
    }
}

/// A command's exit status and both outputs, for assertion messages.
#[must_use]
pub fn describe_output(output: &std::process::Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Checks, with the `openssl` CLI and independently of our code, that a
/// chain (leaf first, DER) verifies up to `root_pem`. The PEM files it
/// needs are written into a `chain-check` directory under `dir` (so they
/// never replace a file of the caller's, such as Pebble's TLS root).
pub fn assert_chain_verifies(dir: &std::path::Path, root_pem: &str, ders: &[Vec<u8>]) {
    let dir = dir.join("chain-check");
    std::fs::create_dir_all(&dir).unwrap();
    let root_path = dir.join("root.pem");
    let leaf_path = dir.join("leaf.pem");
    let rest_path = dir.join("intermediates.pem");
    std::fs::write(&root_path, root_pem).unwrap();
    std::fs::write(&leaf_path, acme_host::chain::pem_of(&ders[0])).unwrap();
    let rest: String = ders[1..]
        .iter()
        .map(|d| acme_host::chain::pem_of(d))
        .collect();
    std::fs::write(&rest_path, rest).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&root_path)
        .arg("-untrusted")
        .arg(&rest_path)
        .arg(&leaf_path)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "chain does not verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Path of the workspace root, for tests that read committed data.
#[must_use]
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// Writes a fresh self-signed P-256 CA certificate (PEM), from a key that
/// is then thrown away, to `dir/other-ca.pem` and returns its path: a
/// trust anchor that trusts nothing a test's Pebble serves.
///
/// # Panics
/// When the `openssl` command is missing or fails.
#[must_use]
pub fn unrelated_ca(dir: &std::path::Path) -> std::path::PathBuf {
    let pem = dir.join("other-ca.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=another CA", "-days", "1", "-keyout"])
        .arg(dir.join("other-ca.key"))
        .arg("-out")
        .arg(&pem)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(dir.join("other-ca.key"));
    pem
}
