//! PEM certificate chains: splitting them into DER certificates and back.

use der::Decode as _;

use crate::error::HostError;

/// Parses a PEM certificate chain into DER certificates.
///
/// # Errors
/// [`HostError::Protocol`] for malformed PEM, and
/// [`HostError::CertificateRefused`] for a certificate that does not parse.
pub(crate) fn chain_ders(pem: &[u8]) -> Result<Vec<Vec<u8>>, HostError> {
    let mut out = Vec::new();
    for block in acme_core::pem::certificates(pem) {
        let block = block.map_err(HostError::Protocol)?;
        let mut der = vec![0u8; block.decoded_len()];
        let n = block.decode(&mut der).map_err(HostError::Protocol)?.len();
        der.truncate(n);
        let _ = x509_cert::Certificate::from_der(&der).map_err(|e| {
            HostError::CertificateRefused(format!("a certificate does not parse: {e}"))
        })?;
        out.push(der);
    }
    Ok(out)
}

/// Checks that the leaf (the first certificate) is signed by the next one,
/// its issuer, and is valid now: the CA's chain must hold together before
/// it replaces a working certificate. A chain of the leaf alone has no
/// issuer to check against and is refused.
///
/// # Errors
/// [`HostError::CertificateRefused`] saying what does not hold.
pub(crate) fn check_leaf_issued_by_next(ders: &[Vec<u8>]) -> Result<(), HostError> {
    let refuse = HostError::CertificateRefused;
    let (Some(leaf), Some(issuer)) = (ders.first(), ders.get(1)) else {
        return Err(refuse(
            "the CA sent no issuer certificate after the leaf".into(),
        ));
    };
    let issuer = rustls::pki_types::CertificateDer::from(issuer.as_slice());
    let anchor = webpki::anchor_from_trusted_cert(&issuer)
        .map_err(|e| refuse(format!("the issuer certificate does not parse: {e}")))?;
    let leaf = rustls::pki_types::CertificateDer::from(leaf.as_slice());
    let leaf = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| refuse(format!("the leaf does not parse: {e}")))?;
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        rustls::pki_types::UnixTime::now(),
        AnyKeyPurpose,
        None,
        None,
    )
    .map_err(|e| {
        refuse(format!(
            "the leaf is not validly signed by the next certificate: {e}"
        ))
    })?;
    Ok(())
}

/// Accepts whatever extended key usage the CA's profile gave the leaf: the
/// check above is about the signature and validity.
struct AnyKeyPurpose;

impl webpki::ExtendedKeyUsageValidator for AnyKeyPurpose {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use der::Encode as _;
    use p256::ecdsa::SigningKey;
    use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    fn validity(from_hours: i64, to_hours: i64) -> Validity {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let at = |h: i64| {
            x509_cert::time::Time::try_from(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs((now + h * 3600) as u64),
            )
            .unwrap()
        };
        Validity {
            not_before: at(from_hours),
            not_after: at(to_hours),
        }
    }

    fn ca(name: &str, key: &SigningKey) -> Vec<u8> {
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
        CertificateBuilder::new(
            Profile::Root,
            SerialNumber::new(&[1]).unwrap(),
            validity(-1, 24),
            name.parse().unwrap(),
            spki,
            key,
        )
        .unwrap()
        .build::<p256::ecdsa::DerSignature>()
        .unwrap()
        .to_der()
        .unwrap()
    }

    /// A leaf naming `issuer` and signed by `signer`.
    fn leaf(issuer: &str, signer: &SigningKey, valid: Validity) -> Vec<u8> {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
        let issuer: Name = issuer.parse().unwrap();
        CertificateBuilder::new(
            Profile::Leaf {
                issuer,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            SerialNumber::new(&[2]).unwrap(),
            valid,
            "CN=device.example".parse().unwrap(),
            spki,
            signer,
        )
        .unwrap()
        .build::<p256::ecdsa::DerSignature>()
        .unwrap()
        .to_der()
        .unwrap()
    }

    #[test]
    fn a_leaf_signed_by_the_next_certificate_is_accepted() {
        let ca_key = SigningKey::random(&mut rand_core::OsRng);
        let chain = vec![
            leaf("CN=Issuer", &ca_key, validity(-1, 24)),
            ca("CN=Issuer", &ca_key),
        ];
        check_leaf_issued_by_next(&chain).unwrap();
    }

    #[test]
    fn a_leaf_not_signed_by_the_next_certificate_is_refused() {
        let ca_key = SigningKey::random(&mut rand_core::OsRng);
        let other_key = SigningKey::random(&mut rand_core::OsRng);
        // Names the issuer, but another key signed it.
        let chain = vec![
            leaf("CN=Issuer", &other_key, validity(-1, 24)),
            ca("CN=Issuer", &ca_key),
        ];
        let e = check_leaf_issued_by_next(&chain).unwrap_err().to_string();
        assert!(
            e.contains("not validly signed by the next certificate"),
            "{e}"
        );
        // Signed by an unrelated CA with another name.
        let chain = vec![
            leaf("CN=Elsewhere", &other_key, validity(-1, 24)),
            ca("CN=Issuer", &ca_key),
        ];
        assert!(check_leaf_issued_by_next(&chain).is_err());
    }

    #[test]
    fn an_expired_or_future_leaf_is_refused() {
        let ca_key = SigningKey::random(&mut rand_core::OsRng);
        for valid in [validity(-48, -24), validity(24, 48)] {
            let chain = vec![leaf("CN=Issuer", &ca_key, valid), ca("CN=Issuer", &ca_key)];
            assert!(check_leaf_issued_by_next(&chain).is_err());
        }
    }

    #[test]
    fn a_chain_without_an_issuer_is_refused() {
        let ca_key = SigningKey::random(&mut rand_core::OsRng);
        let chain = vec![leaf("CN=Issuer", &ca_key, validity(-1, 24))];
        let e = check_leaf_issued_by_next(&chain).unwrap_err().to_string();
        assert!(e.contains("no issuer certificate"), "{e}");
        assert!(check_leaf_issued_by_next(&[]).is_err());
    }
}
