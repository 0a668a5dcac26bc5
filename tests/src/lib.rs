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

use std::path::Path;
use std::sync::Arc;

use acme_core::SoftwareKey;
use acme_host::pebble::{free_port, LocalPebble, PebbleOptions};
use acme_host::HostError;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};

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
    std::fs::write(&leaf_path, pem_of(&ders[0])).unwrap();
    let rest: String = ders[1..].iter().map(|d| pem_of(d)).collect();
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

/// PEM text of one DER certificate.
#[must_use]
pub fn pem_of(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).unwrap()
}

/// The DER certificates of a PEM chain, leaf first (with der's PEM decoder,
/// not the client's).
#[must_use]
pub fn chain_ders(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(pem).unwrap();
    let mut ders = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let end_marker = "-----END CERTIFICATE-----";
        let end = rest[start..].find(end_marker).unwrap() + start + end_marker.len();
        let (label, der) = der::pem::decode_vec(&rest.as_bytes()[start..end]).unwrap();
        assert_eq!(label, "CERTIFICATE");
        ders.push(der);
        rest = &rest[end..];
    }
    ders
}

/// Loads a PKCS#8 PEM key file, as acme-host writes them.
#[must_use]
pub fn load_key(path: &Path) -> SoftwareKey {
    let pem = std::fs::read_to_string(path).unwrap();
    let secret = p256::SecretKey::from_pkcs8_pem(&pem).unwrap();
    SoftwareKey::from_scalar(&secret.to_bytes()).unwrap()
}

/// A key as the PKCS#8 PEM text acme-host keeps in key files.
#[must_use]
pub fn key_pem(key: &SoftwareKey) -> String {
    let secret = p256::SecretKey::from_slice(key.to_scalar_bytes().as_slice()).unwrap();
    secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

/// A rustls client configuration trusting only the certificates of
/// `ca_file` (PEM).
///
/// # Errors
/// The file does not read or holds no usable certificate.
pub fn client_tls(ca_file: &Path) -> std::io::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file).map_err(std::io::Error::other)? {
        roots
            .add(certificate.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
