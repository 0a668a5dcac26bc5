//! `check_issued_by`: whether the next certificate of a chain signed the
//! leaf, on chains made with the openssl CLI (`tests/data/issuers/`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

use acme_core::client::{check_issued_by, CertificateRejection};
use acme_core::Error;

const LEAF_BY_P256: &[u8] = include_bytes!("data/issuers/leaf-by-p256.der");
const P256_CA: &[u8] = include_bytes!("data/issuers/p256-ca.der");
const LEAF_BY_P384: &[u8] = include_bytes!("data/issuers/leaf-by-p384.der");
const P384_CA: &[u8] = include_bytes!("data/issuers/p384-ca.der");
const LEAF_BY_RSA2048: &[u8] = include_bytes!("data/issuers/leaf-by-rsa2048.der");
const RSA2048_CA: &[u8] = include_bytes!("data/issuers/rsa2048-ca.der");
const LEAF_BY_RSA4096: &[u8] = include_bytes!("data/issuers/leaf-by-rsa4096.der");
const RSA4096_CA: &[u8] = include_bytes!("data/issuers/rsa4096-ca.der");

fn rejected(result: Result<(), Error>) -> Option<CertificateRejection> {
    match result {
        Err(Error::CertificateRejected(rejection)) => Some(rejection),
        _ => None,
    }
}

/// The leaf with one byte of its signature value changed.
fn tampered(leaf: &[u8]) -> Vec<u8> {
    let mut bad = leaf.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    bad
}

#[test]
fn a_p256_issuer_signature_is_verified() {
    assert!(check_issued_by(LEAF_BY_P256, P256_CA).is_ok());
    assert_eq!(
        rejected(check_issued_by(&tampered(LEAF_BY_P256), P256_CA)),
        Some(CertificateRejection::NotIssuedByNext)
    );
    // Another CA of the same kind did not sign it.
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_P256, LEAF_BY_P256)),
        Some(CertificateRejection::NotIssuedByNext)
    );
}

#[test]
fn an_rsa_issuer_signature_is_verified_without_a_heap() {
    assert!(check_issued_by(LEAF_BY_RSA2048, RSA2048_CA).is_ok());
    assert_eq!(
        rejected(check_issued_by(&tampered(LEAF_BY_RSA2048), RSA2048_CA)),
        Some(CertificateRejection::NotIssuedByNext)
    );
    // A 2,048-bit key of another CA did not sign it.
    let other_ca = {
        let mut ca = RSA2048_CA.to_vec();
        // The last byte of the modulus stays odd; the key changes.
        let at = ca.windows(3).position(|w| w == [0x02, 0x03, 0x01]).unwrap() - 2;
        ca[at] ^= 0x02;
        ca
    };
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_RSA2048, &other_ca)),
        Some(CertificateRejection::NotIssuedByNext)
    );
    // Moduli past 2,048 bits are beyond what the device verifies.
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_RSA4096, RSA4096_CA)),
        Some(CertificateRejection::IssuerUnverifiable)
    );
    // An RSA signature checked against an EC key cannot be verified.
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_RSA2048, P256_CA)),
        Some(CertificateRejection::IssuerUnverifiable)
    );
}

#[cfg(feature = "p384")]
#[test]
fn a_p384_issuer_signature_is_verified_with_the_feature() {
    assert!(check_issued_by(LEAF_BY_P384, P384_CA).is_ok());
    assert_eq!(
        rejected(check_issued_by(&tampered(LEAF_BY_P384), P384_CA)),
        Some(CertificateRejection::NotIssuedByNext)
    );
    // A P-256 key cannot have made a SHA-384 signature of this kind.
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_P384, P256_CA)),
        Some(CertificateRejection::IssuerUnverifiable)
    );
}

#[cfg(not(feature = "p384"))]
#[test]
fn a_p384_issuer_signature_is_unverifiable_without_the_feature() {
    assert_eq!(
        rejected(check_issued_by(LEAF_BY_P384, P384_CA)),
        Some(CertificateRejection::IssuerUnverifiable)
    );
}
