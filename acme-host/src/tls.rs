//! TLS configuration: rustls with the ring provider. Certificates are
//! always verified, against the system roots or a CA file; there is no
//! switch to turn verification off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::{storage, HostError};

/// Which roots the CA's TLS certificate must chain to. Certificates are
/// always verified: no variant turns verification off.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Trust {
    /// The operating system's roots.
    #[default]
    System,
    /// The system roots plus the certificates in a PEM file (a private CA).
    SystemAnd(std::path::PathBuf),
    /// Only the certificates in a PEM file.
    Only(std::path::PathBuf),
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), HostError> {
    let mut added = 0usize;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| storage(path, e))? {
        let cert = cert.map_err(|e| storage(path, e))?;
        roots
            .add(cert)
            .map_err(|e| storage(path, format!("not a usable CA certificate: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(storage(path, "no certificate in the CA file"));
    }
    Ok(())
}

/// Builds the client TLS configuration for `trust`.
///
/// # Errors
/// [`HostError::Storage`] for an unreadable CA file, or
/// [`HostError::Internal`] when no root is available at all.
pub(crate) fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, HostError> {
    let mut roots = RootCertStore::empty();
    if !matches!(trust, Trust::Only(_)) {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
    }
    match trust {
        Trust::SystemAnd(path) | Trust::Only(path) => add_pem_file(&mut roots, path)?,
        Trust::System => {}
    }
    if roots.is_empty() {
        return Err(HostError::Usage(
            "no trusted root certificates: install ca-certificates, or trust the CA's root with Trust::Only / Trust::SystemAnd (the tool's --ca-file)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HostError::Usage(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The core speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
