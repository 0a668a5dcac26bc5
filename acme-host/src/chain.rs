//! PEM certificate chains: splitting them into DER certificates and back.

use der::Decode as _;

use crate::error::HostError;

/// Parses a PEM certificate chain into DER certificates.
///
/// # Errors
/// [`HostError::Internal`] for malformed PEM.
pub fn chain_ders(pem: &[u8]) -> Result<Vec<Vec<u8>>, HostError> {
    let mut out = Vec::new();
    for block in acme_core::pem::certificates(pem) {
        let block = block.map_err(|e| HostError::Internal(e.to_string()))?;
        let mut der = vec![0u8; block.decoded_len()];
        let n = block
            .decode(&mut der)
            .map_err(|e| HostError::Internal(e.to_string()))?
            .len();
        der.truncate(n);
        let _ = x509_cert::Certificate::from_der(&der)
            .map_err(|e| HostError::Internal(format!("certificate: {e}")))?;
        out.push(der);
    }
    Ok(out)
}

/// PEM text of one DER certificate.
#[must_use]
pub fn pem_of(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).unwrap_or_default()
}
