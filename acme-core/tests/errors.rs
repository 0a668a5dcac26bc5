//! Every buffer-too-small, malformed-key and malformed-input path, each
//! asserting the exact error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::panic
)]

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};

use acme_core::cert::Certificate;
use acme_core::challenge::{
    dns01_record_name, write_tls_alpn01_certificate, KeyAuthorization, Validity, MAX_TOKEN_LEN,
};
use acme_core::csr::write_csr;
use acme_core::eab::{EabKey, ExternalAccountBinding};
use acme_core::json::RawJson;
use acme_core::jws::{write_jws, KeyRef, Payload, Protected};
use acme_core::{
    b64, pem, CertificateError, Error, Es256Signer, Identifier, IdentifierError, KeyError,
    PemError, PublicKey, SignerError, SoftwareKey,
};

/// Runs `write` with a buffer of every interesting size and checks that
/// one byte short reports exactly the needed size.
fn assert_exact_size<F>(mut write: F) -> usize
where
    F: FnMut(&mut [u8]) -> Result<usize, Error>,
{
    let mut big = vec![0u8; 8192];
    let needed = write(&mut big).unwrap();
    let mut exact = vec![0u8; needed];
    assert_eq!(write(&mut exact).unwrap(), needed);
    for short in [0, 1, needed / 2, needed - 1] {
        let mut buf = vec![0u8; short];
        assert_eq!(
            write(&mut buf),
            Err(Error::BufferTooSmall { required: needed }),
            "buffer of {short} bytes"
        );
    }
    needed
}

fn key(seed: u8) -> SoftwareKey {
    SoftwareKey::from_scalar(&[seed; 32]).unwrap()
}

/// A signer that counts its calls and can be told to fail, as a secure
/// element might.
struct CountingSigner {
    inner: SoftwareKey,
    calls: Cell<usize>,
    fail: bool,
}

impl Es256Signer for CountingSigner {
    fn public_key(&self) -> PublicKey {
        self.inner.public_key()
    }
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 64], SignerError> {
        self.calls.set(self.calls.get() + 1);
        if self.fail {
            return Err(SignerError);
        }
        self.inner.sign_digest(digest)
    }
}

#[test]
fn jws_too_small_reports_exact_size_without_signing() {
    let signer = CountingSigner {
        inner: key(1),
        calls: Cell::new(0),
        fail: false,
    };
    for protected in [
        Protected {
            key: KeyRef::Jwk(signer.public_key()),
            nonce: Some("nonce"),
            url: "https://ca.example/new-acct",
        },
        Protected {
            key: KeyRef::Kid("https://ca.example/acct/1"),
            nonce: Some("nonce"),
            url: "https://ca.example/order/1",
        },
    ] {
        for payload in [Payload::PostAsGet, Payload::Json(&RawJson(b"{\"a\":1}"))] {
            signer.calls.set(0);
            assert_exact_size(|out| write_jws(out, &signer, &protected, payload).map(|w| w.len()));
            // Two successful writes sign; the four short ones do not.
            assert_eq!(signer.calls.get(), 2);
        }
    }
}

#[test]
fn signer_failure_is_reported() {
    let signer = CountingSigner {
        inner: key(1),
        calls: Cell::new(0),
        fail: true,
    };
    let protected = Protected {
        key: KeyRef::Kid("k"),
        nonce: Some("n"),
        url: "u",
    };
    let mut out = [0u8; 1024];
    assert_eq!(
        write_jws(&mut out, &signer, &protected, Payload::PostAsGet),
        Err(Error::Signer)
    );
    assert_eq!(
        write_csr(&mut out, &signer, &[Identifier::Dns("a.example")], None),
        Err(Error::Signer)
    );
}

#[test]
fn eab_and_key_change_payloads_report_exact_size() {
    let account = key(2);
    let eab_key = EabKey::from_base64url("AQIDBAUGBwgJCgsMDQ4PEA").unwrap();
    let eab = ExternalAccountBinding {
        kid: "kid",
        key: &eab_key,
        account_key: account.public_key(),
        new_account_url: "https://ca.example/new-acct",
    };
    let protected = Protected {
        key: KeyRef::Jwk(account.public_key()),
        nonce: Some("n"),
        url: "https://ca.example/new-acct",
    };
    assert_exact_size(|out| {
        write_jws(out, &account, &protected, Payload::Json(&eab)).map(|w| w.len())
    });
    let new = key(3);
    let change = acme_core::jws::KeyChange {
        account_url: "https://ca.example/acct/1",
        key_change_url: "https://ca.example/key-change",
        old_key: account.public_key(),
        new_key: &new,
    };
    assert_exact_size(|out| {
        write_jws(out, &account, &protected, Payload::Json(&change)).map(|w| w.len())
    });
}

#[test]
fn csr_and_alpn_certificate_report_exact_size() {
    let device = key(4);
    let ids = [
        Identifier::Dns("device.example.com"),
        Identifier::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
    ];
    assert_exact_size(|out| write_csr(out, &device, &ids, None).map(|c| c.len()));
    let ka = KeyAuthorization::new("tok", &device.public_key().thumbprint()).unwrap();
    let validity = Validity {
        not_before: 0,
        not_after: 4_102_444_800, // 2100: GeneralizedTime
    };
    let len = assert_exact_size(|out| {
        write_tls_alpn01_certificate(out, &device, &ids[0], &ka, validity).map(|c| c.len())
    });
    assert!(len <= acme_core::challenge::MAX_TLS_ALPN01_CERT_LEN);
}

#[test]
fn worst_case_csr_fits_the_documented_maximum() {
    let device = key(5);
    let label = "a".repeat(63);
    let name = format!("{label}.{label}.{label}.{}", "b".repeat(61));
    assert_eq!(name.len(), 253);
    let names: Vec<String> = (0..acme_core::identifier::MAX_IDENTIFIERS)
        .map(|i| format!("{}{}", i, &name[1..]))
        .collect();
    let ids: Vec<Identifier<'_>> = names.iter().map(|n| Identifier::Dns(n)).collect();
    let mut out = [0u8; acme_core::csr::MAX_CSR_LEN];
    write_csr(&mut out, &device, &ids, Some(&names[0])).unwrap();
    let long_alpn = Identifier::Dns(&names[0]);
    let ka = KeyAuthorization::new(
        &"t".repeat(MAX_TOKEN_LEN),
        &device.public_key().thumbprint(),
    )
    .unwrap();
    let mut out = [0u8; acme_core::challenge::MAX_TLS_ALPN01_CERT_LEN];
    write_tls_alpn01_certificate(
        &mut out,
        &device,
        &long_alpn,
        &ka,
        Validity {
            not_before: 4_102_444_800,
            not_after: 253_402_300_799,
        },
    )
    .unwrap();
}

#[test]
fn small_fixed_outputs_report_exact_size() {
    let public = key(6).public_key();
    assert_exact_size(|out| public.write_jwk(out).map(|j| j.len()));
    assert_exact_size(|out| b64::encode(b"hello world", out).map(|t| t.len()));
    assert_exact_size(|out| b64::decode(b"aGVsbG8gd29ybGQ", out).map(|t| t.len()));
}

#[test]
fn ari_cert_id_and_pem_decode_report_exact_size() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("data/vectors.json")).unwrap();
    let pem_text = vectors["ari"][0]["cert_pem"].as_str().unwrap();
    let block = pem::certificates(pem_text.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let der_len = assert_exact_size(|out| block.decode(out).map(|d| d.len()));
    let mut der = vec![0u8; der_len];
    block.decode(&mut der).unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    assert_exact_size(|out| cert.write_ari_cert_id(out).map(|id| id.len()));
}

#[test]
fn malformed_keys_say_which_format_failed() {
    assert_eq!(
        SoftwareKey::from_scalar(&[1; 31]).unwrap_err(),
        Error::Key(KeyError::ScalarLength { actual: 31 })
    );
    assert_eq!(
        SoftwareKey::from_scalar(&[0; 32]).unwrap_err(),
        Error::Key(KeyError::ScalarOutOfRange)
    );
    assert_eq!(
        SoftwareKey::from_scalar(&[0xff; 32]).unwrap_err(),
        Error::Key(KeyError::ScalarOutOfRange)
    );
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("data/vectors.json")).unwrap();
    let sec1 = hex::decode(vectors["keys"][0]["sec1_der_hex"].as_str().unwrap()).unwrap();
    let pkcs8 = hex::decode(vectors["keys"][0]["pkcs8_der_hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        SoftwareKey::from_sec1_der(&pkcs8).unwrap_err(),
        Error::Key(KeyError::MalformedSec1)
    );
    assert_eq!(
        SoftwareKey::from_pkcs8_der(&sec1).unwrap_err(),
        Error::Key(KeyError::MalformedPkcs8)
    );
    assert_eq!(
        SoftwareKey::from_sec1_der(&sec1[..sec1.len() - 1]).unwrap_err(),
        Error::Key(KeyError::MalformedSec1)
    );
    assert_eq!(
        SoftwareKey::from_der(b"not a key").unwrap_err(),
        Error::Key(KeyError::UnrecognizedFormat)
    );
    // A PKCS#8 key for another algorithm (Ed25519, RFC 8410 example).
    let ed25519 = hex::decode(
        "302e020100300506032b657004220420d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842",
    )
    .unwrap();
    assert_eq!(
        SoftwareKey::from_pkcs8_der(&ed25519).unwrap_err(),
        Error::Key(KeyError::MalformedPkcs8)
    );
    assert_eq!(
        PublicKey::from_sec1_bytes(&[4; 65]).unwrap_err(),
        Error::Key(KeyError::MalformedPublicKey)
    );
    assert_eq!(
        PublicKey::from_spki_der(&[0x30, 0x00]).unwrap_err(),
        Error::Key(KeyError::MalformedPublicKey)
    );
}

#[test]
fn malformed_identifiers_tokens_and_common_names() {
    let device = key(7);
    let mut out = [0u8; 2048];
    assert_eq!(
        write_csr(&mut out, &device, &[], None),
        Err(Error::Identifier(IdentifierError::None))
    );
    assert_eq!(
        write_csr(&mut out, &device, &[Identifier::Dns("bad name")], None),
        Err(Error::Identifier(IdentifierError::DnsNameCharacter))
    );
    let ip = Identifier::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(
        write_csr(&mut out, &device, &[ip], Some("127.0.0.1")),
        Err(Error::Identifier(IdentifierError::IpAddressAsCommonName))
    );
    assert_eq!(
        write_csr(
            &mut out,
            &device,
            &[Identifier::Dns("a.example")],
            Some("b.example")
        ),
        Err(Error::Identifier(IdentifierError::CommonNameNotRequested))
    );
    let thumbprint = device.public_key().thumbprint();
    assert_eq!(
        KeyAuthorization::new("", &thumbprint),
        Err(Error::InvalidChallengeToken)
    );
    assert_eq!(
        KeyAuthorization::new("../../etc/passwd", &thumbprint),
        Err(Error::InvalidChallengeToken)
    );
    assert_eq!(
        KeyAuthorization::new(&"a".repeat(MAX_TOKEN_LEN + 1), &thumbprint),
        Err(Error::LimitExceeded {
            limit: "MAX_TOKEN_LEN",
            max: MAX_TOKEN_LEN
        })
    );
    assert_eq!(
        dns01_record_name("bad..name"),
        Err(Error::Identifier(IdentifierError::DnsNameLength))
    );
}

#[test]
fn malformed_certificates_give_positions() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("data/vectors.json")).unwrap();
    let pem_text = vectors["ari"][1]["cert_pem"].as_str().unwrap();
    let block = pem::certificates(pem_text.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let mut der = vec![0u8; block.decoded_len()];
    block.decode(&mut der).unwrap();
    assert!(Certificate::from_der(&der).is_ok());
    // Truncated: the outer length runs past the input.
    assert_eq!(
        Certificate::from_der(&der[..der.len() - 1]).unwrap_err(),
        Error::Certificate(CertificateError::MalformedDer { position: 0 })
    );
    // Trailing garbage after the certificate.
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(
        Certificate::from_der(&trailing).unwrap_err(),
        Error::Certificate(CertificateError::MalformedDer {
            position: der.len()
        })
    );
    // Empty input and a lone tag.
    assert_eq!(
        Certificate::from_der(&[]).unwrap_err(),
        Error::Certificate(CertificateError::MalformedDer { position: 0 })
    );
    // Corrupt every byte in turn: never a panic, always a typed result.
    for i in 0..der.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = der.clone();
            bad[i] ^= flip;
            if let Ok(cert) = Certificate::from_der(&bad) {
                let _ = cert.not_before();
                let _ = cert.subject_alt_names().map(Iterator::count);
                let mut out = [0u8; 128];
                let _ = cert.write_ari_cert_id(&mut out);
            }
        }
    }
    // No AKI: the tls-alpn-01 certificate has none.
    let device = key(8);
    let ka = KeyAuthorization::new("tok", &device.public_key().thumbprint()).unwrap();
    let mut buf = [0u8; 1024];
    let alpn = write_tls_alpn01_certificate(
        &mut buf,
        &device,
        &Identifier::Dns("a.example"),
        &ka,
        Validity {
            not_before: 0,
            not_after: 1,
        },
    )
    .unwrap();
    let cert = Certificate::from_der(alpn).unwrap();
    let mut out = [0u8; 128];
    assert_eq!(
        cert.write_ari_cert_id(&mut out),
        Err(Error::Certificate(CertificateError::MissingAuthorityKeyId))
    );
    assert_eq!(cert.not_before(), Ok(0));
}

#[test]
fn pem_chains_iterate_and_refuse_junk() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("data/vectors.json")).unwrap();
    let leaf = vectors["ari"][1]["cert_pem"].as_str().unwrap();
    let issuer = vectors["ari"][1]["issuer_cert_pem"].as_str().unwrap();
    let chain = format!("{leaf}\n{issuer}");
    assert_eq!(pem::count_certificates(chain.as_bytes()), Ok(2));
    let crlf = chain.replace('\n', "\r\n");
    assert_eq!(pem::count_certificates(crlf.as_bytes()), Ok(2));
    // Every block borrows from the body: no copy.
    for block in pem::certificates(chain.as_bytes()) {
        let text = block.unwrap().text();
        let start = text.as_ptr() as usize - chain.as_ptr() as usize;
        assert!(start + text.len() <= chain.len());
    }
    assert_eq!(
        pem::count_certificates(b"  \n"),
        Err(Error::Pem(PemError::Empty))
    );
    assert_eq!(
        pem::count_certificates(b"<html>502 Bad Gateway</html>"),
        Err(Error::Pem(PemError::UnexpectedText))
    );
    let junk_between = format!("{leaf}junk\n{issuer}");
    assert_eq!(
        pem::count_certificates(junk_between.as_bytes()),
        Err(Error::Pem(PemError::UnexpectedText))
    );
    let key_block = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert_eq!(
        pem::count_certificates(key_block.as_bytes()),
        Err(Error::Pem(PemError::NotACertificate))
    );
    let bad_base64 = leaf.replacen("MII", "M*I", 1);
    assert_eq!(
        pem::count_certificates(bad_base64.as_bytes()),
        Err(Error::Pem(PemError::Malformed))
    );
    // Blank lines before END can leave text that decodes to nothing; this
    // block once looped forever (found by the pem_chain fuzz target).
    let blank_lines: &[u8] = b"-----BEGIN CERTIFICATE-----\nM+wwwwwwwwwwwwwBAUGViIppppppppppppppppppppW72YDmKtM9IzMDMxNTQ4+8\n\n\n-----END CERTIFICATE-----\n";
    assert_eq!(
        pem::count_certificates(blank_lines),
        Err(Error::Pem(PemError::Malformed))
    );
    let unterminated = &leaf[..leaf.len() - 10];
    assert_eq!(
        pem::count_certificates(unterminated.as_bytes()),
        Err(Error::Pem(PemError::Malformed))
    );
}
