//! Cross-checks against OpenSSL, an independent implementation.
//!
//! Each test writes what acme-core produced to a temporary directory and
//! asks the `openssl` command-line tool to verify or print it. `openssl`
//! must be installed (Debian: `apt-get install openssl`); `.ci/run` does it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::std_instead_of_core,
    clippy::panic
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use acme_core::challenge::{write_tls_alpn01_certificate, KeyAuthorization, Validity};
use acme_core::csr::write_csr;
use acme_core::eab::{EabKey, ExternalAccountBinding};
use acme_core::json::{JsonPayload, JsonWriter};
use acme_core::jws::{write_jws, KeyChange, KeyRef, Payload, Protected};
use acme_core::key::JWK_LEN;
use acme_core::{b64, Error, Es256Signer, Identifier, SoftwareKey};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("acme-core-openssl-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `openssl args…` and returns stdout + stderr; fails the test with
/// both when openssl exits non-zero.
fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); install it with `apt-get install openssl`")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn key(seed: u8) -> SoftwareKey {
    SoftwareKey::from_scalar(&[seed; 32]).unwrap()
}

fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = vec![0u8; text.len()];
    let len = b64::decode(text.as_bytes(), &mut out).unwrap().len();
    out.truncate(len);
    out
}

/// A flattened JWS, parsed.
struct Jws {
    protected_b64: String,
    payload_b64: String,
    signature: Vec<u8>,
}

impl Jws {
    fn parse(bytes: &[u8]) -> Self {
        let v: Value = serde_json::from_slice(bytes).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "exactly protected, payload, signature");
        Self::from_value(&v)
    }
    fn from_value(v: &Value) -> Self {
        Self {
            protected_b64: v["protected"].as_str().unwrap().to_owned(),
            payload_b64: v["payload"].as_str().unwrap().to_owned(),
            signature: b64_decode(v["signature"].as_str().unwrap()),
        }
    }
    fn protected(&self) -> Value {
        serde_json::from_slice(&b64_decode(&self.protected_b64)).unwrap()
    }
    fn payload(&self) -> Vec<u8> {
        b64_decode(&self.payload_b64)
    }
    fn signing_input(&self) -> String {
        format!("{}.{}", self.protected_b64, self.payload_b64)
    }

    /// Verifies the ES256 signature with `openssl dgst`, after converting
    /// the JWS `r‖s` form to the DER form OpenSSL expects.
    fn verify_es256_with_openssl(&self, key: &acme_core::PublicKey, dir: &TempDir) {
        assert_eq!(
            self.signature.len(),
            64,
            "ES256 signatures are r‖s, 64 bytes"
        );
        let der = rs_to_der(&self.signature);
        let input = dir.write("input", self.signing_input().as_bytes());
        let sig = dir.write("sig.der", &der);
        let public = dir.write("pub.der", &key.spki_der());
        let out = openssl(&[
            "dgst",
            "-sha256",
            "-keyform",
            "DER",
            "-verify",
            p(&public),
            "-signature",
            p(&sig),
            p(&input),
        ]);
        assert!(out.contains("Verified OK"), "{out}");
    }
}

/// Converts a 64-byte `r‖s` signature to DER `Ecdsa-Sig-Value` by hand.
fn rs_to_der(rs: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let mut v: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
        if v.first().is_none_or(|&b| b & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    }
    let mut body = integer(&rs[..32]);
    body.extend(integer(&rs[32..]));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn jws_with_jwk_verifies_under_openssl() {
    let dir = TempDir::new("jws-jwk");
    let signer = key(3);
    let protected = Protected {
        key: KeyRef::Jwk(signer.public_key()),
        nonce: Some("oFvnlFP1wIhRlYS2jTaXbA"),
        url: "https://ca.example/acme/new-account",
    };
    let payload = acme_core::json::RawJson(
        br#"{"termsOfServiceAgreed":true,"contact":["mailto:ops@example.com"]}"#,
    );
    let mut out = [0u8; 1024];
    let written = write_jws(&mut out, &signer, &protected, Payload::Json(&payload)).unwrap();
    let jws = Jws::parse(written);
    let header = jws.protected();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["nonce"], "oFvnlFP1wIhRlYS2jTaXbA");
    assert_eq!(header["url"], "https://ca.example/acme/new-account");
    assert!(header.get("kid").is_none());
    let mut jwk = [0u8; JWK_LEN];
    let jwk = signer.public_key().write_jwk(&mut jwk).unwrap();
    assert_eq!(header["jwk"], serde_json::from_str::<Value>(jwk).unwrap());
    assert_eq!(jws.payload(), payload.0);
    jws.verify_es256_with_openssl(&signer.public_key(), &dir);
}

#[test]
fn post_as_get_with_kid_has_empty_payload_and_verifies() {
    let dir = TempDir::new("jws-kid");
    let signer = key(4);
    let protected = Protected {
        key: KeyRef::Kid("https://ca.example/acme/acct/17"),
        nonce: Some("n0nce"),
        url: "https://ca.example/acme/order/5",
    };
    let mut out = [0u8; 512];
    let written = write_jws(&mut out, &signer, &protected, Payload::PostAsGet).unwrap();
    let jws = Jws::parse(written);
    assert_eq!(jws.payload_b64, "");
    let header = jws.protected();
    assert_eq!(header["kid"], "https://ca.example/acme/acct/17");
    assert!(header.get("jwk").is_none());
    jws.verify_es256_with_openssl(&signer.public_key(), &dir);
    // Deterministic (RFC 6979): the same request signs the same way.
    let mut again = [0u8; 512];
    let again = write_jws(&mut again, &signer, &protected, Payload::PostAsGet).unwrap();
    assert_eq!(written, again);
}

#[test]
fn json_strings_in_the_header_are_escaped() {
    let signer = key(5);
    let protected = Protected {
        key: KeyRef::Kid("https://ca.example/acct/\"quoted\"\\"),
        nonce: Some("n"),
        url: "https://ca.example/x",
    };
    let mut out = [0u8; 512];
    let jws = Jws::parse(write_jws(&mut out, &signer, &protected, Payload::PostAsGet).unwrap());
    assert_eq!(
        jws.protected()["kid"],
        "https://ca.example/acct/\"quoted\"\\"
    );
}

#[test]
fn key_change_inner_and_outer_jws_verify() {
    let dir = TempDir::new("keychange");
    let old = key(6);
    let new = key(7);
    let account = "https://ca.example/acme/acct/9";
    let url = "https://ca.example/acme/key-change";
    let change = KeyChange {
        account_url: account,
        key_change_url: url,
        old_key: old.public_key(),
        new_key: &new,
    };
    let protected = Protected {
        key: KeyRef::Kid(account),
        nonce: Some("abc"),
        url,
    };
    let mut out = [0u8; 2048];
    let outer = Jws::parse(write_jws(&mut out, &old, &protected, Payload::Json(&change)).unwrap());
    outer.verify_es256_with_openssl(&old.public_key(), &dir);
    let inner_value: Value = serde_json::from_slice(&outer.payload()).unwrap();
    let inner = Jws::from_value(&inner_value);
    let inner_header = inner.protected();
    assert_eq!(inner_header["alg"], "ES256");
    assert_eq!(inner_header["url"], url);
    assert!(
        inner_header.get("nonce").is_none(),
        "RFC 8555 §7.3.5: no nonce"
    );
    let mut jwk = [0u8; JWK_LEN];
    let new_jwk = new.public_key().write_jwk(&mut jwk).unwrap().to_owned();
    assert_eq!(
        inner_header["jwk"],
        serde_json::from_str::<Value>(&new_jwk).unwrap()
    );
    let inner_payload: Value = serde_json::from_slice(&inner.payload()).unwrap();
    assert_eq!(inner_payload["account"], account);
    let old_jwk = old.public_key().write_jwk(&mut jwk).unwrap().to_owned();
    assert_eq!(
        inner_payload["oldKey"],
        serde_json::from_str::<Value>(&old_jwk).unwrap()
    );
    inner.verify_es256_with_openssl(&new.public_key(), &dir);
}

/// A newAccount payload carrying an EAB, as the protocol layer writes it.
struct NewAccountWithEab<'a>(ExternalAccountBinding<'a>);

impl JsonPayload for NewAccountWithEab<'_> {
    fn write_json(&self, out: &mut JsonWriter<'_>) -> Result<(), Error> {
        out.raw(b"{\"termsOfServiceAgreed\":true,");
        out.key("externalAccountBinding");
        self.0.write_json(out)?;
        out.raw(b"}");
        Ok(())
    }
}

#[test]
fn eab_hs256_matches_an_independently_computed_mac() {
    let dir = TempDir::new("eab");
    let account_key = key(8);
    let mac_text = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    let eab_key = EabKey::from_base64url(mac_text).unwrap();
    let url = "https://ca.example/acme/new-account";
    let payload = NewAccountWithEab(ExternalAccountBinding {
        kid: "kid-1",
        key: &eab_key,
        account_key: account_key.public_key(),
        new_account_url: url,
    });
    let protected = Protected {
        key: KeyRef::Jwk(account_key.public_key()),
        nonce: Some("n"),
        url,
    };
    let mut out = [0u8; 2048];
    let outer =
        Jws::parse(write_jws(&mut out, &account_key, &protected, Payload::Json(&payload)).unwrap());
    outer.verify_es256_with_openssl(&account_key.public_key(), &dir);
    let body: Value = serde_json::from_slice(&outer.payload()).unwrap();
    assert_eq!(body["termsOfServiceAgreed"], true);
    let inner = Jws::from_value(&body["externalAccountBinding"]);
    let header = inner.protected();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "kid-1");
    assert_eq!(header["url"], url);
    assert!(header.get("nonce").is_none());
    let mut jwk = [0u8; JWK_LEN];
    let jwk = account_key
        .public_key()
        .write_jwk(&mut jwk)
        .unwrap()
        .to_owned();
    assert_eq!(inner.payload(), jwk.as_bytes());

    // HMAC-SHA256 computed by OpenSSL over the same signing input.
    let key_hex = hex::encode(b64_decode(mac_text));
    let input = dir.write("eab-input", inner.signing_input().as_bytes());
    let mac = openssl(&[
        "mac",
        "-digest",
        "SHA256",
        "-macopt",
        &format!("hexkey:{key_hex}"),
        "-in",
        p(&input),
        "HMAC",
    ]);
    assert_eq!(
        mac.trim().to_ascii_lowercase(),
        hex::encode(&inner.signature)
    );
}

#[test]
fn csr_verifies_and_carries_every_identifier_in_the_san() {
    let dir = TempDir::new("csr");
    let device = key(9);
    let identifiers = [
        Identifier::Dns("device.example.com"),
        Identifier::Dns("*.device.example.com"),
        Identifier::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))),
        Identifier::Ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
    ];
    for common_name in [None, Some("device.example.com")] {
        let mut out = [0u8; acme_core::csr::MAX_CSR_LEN];
        let csr = write_csr(&mut out, &device, &identifiers, common_name).unwrap();
        let path = dir.write("csr.der", csr);
        let verify = openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            p(&path),
            "-verify",
            "-noout",
        ]);
        assert!(verify.contains("verify OK"), "{verify}");
        let text = openssl(&["req", "-inform", "DER", "-in", p(&path), "-noout", "-text"]);
        assert!(
            text.contains("DNS:device.example.com, DNS:*.device.example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1"),
            "{text}"
        );
        assert!(text.contains("ecdsa-with-SHA256"), "{text}");
        match common_name {
            None => {
                assert!(
                    text.contains("X509v3 Subject Alternative Name: critical"),
                    "{text}"
                );
                assert!(!text.contains("CN"), "{text}");
            }
            Some(cn) => {
                assert!(text.contains(&format!("CN = {cn}")), "{text}");
                assert!(!text.contains("Alternative Name: critical"), "{text}");
            }
        }
        // The CSR's public key is the device key.
        let public = openssl(&[
            "req",
            "-inform",
            "DER",
            "-in",
            p(&path),
            "-noout",
            "-pubkey",
        ]);
        let expected = dir.write("device-pub.der", &device.public_key().spki_der());
        let expected = openssl(&["pkey", "-pubin", "-inform", "DER", "-in", p(&expected)]);
        assert_eq!(public, expected);
    }
}

#[test]
fn tls_alpn01_certificate_has_the_critical_acme_identifier() {
    let dir = TempDir::new("alpn");
    let signer = key(10);
    let thumbprint = key(11).public_key().thumbprint();
    let ka =
        KeyAuthorization::new("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", &thumbprint).unwrap();
    for identifier in [
        Identifier::Dns("device.example.com"),
        Identifier::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9))),
    ] {
        let validity = Validity {
            not_before: 1_767_225_600,
            not_after: 1_767_225_600 + 7 * 86_400,
        };
        let mut out = [0u8; acme_core::challenge::MAX_TLS_ALPN01_CERT_LEN];
        let der =
            write_tls_alpn01_certificate(&mut out, &signer, &identifier, &ka, validity).unwrap();
        let path = dir.write("alpn.der", der);
        let text = openssl(&["x509", "-inform", "DER", "-in", p(&path), "-noout", "-text"]);
        assert!(text.contains("1.3.6.1.5.5.7.1.31: critical"), "{text}");
        assert!(
            text.contains("X509v3 Subject Alternative Name: critical"),
            "{text}"
        );
        match identifier {
            Identifier::Dns(d) => assert!(text.contains(&format!("DNS:{d}")), "{text}"),
            Identifier::Ip(ip) => assert!(text.contains(&format!("IP Address:{ip}")), "{text}"),
        }
        assert!(text.contains("Version: 3"), "{text}");
        assert!(
            text.contains("Not Before: Jan  1 00:00:00 2026 GMT"),
            "{text}"
        );
        // The extension value is OCTET STRING(SHA-256(key authorization)).
        let asn1 = openssl(&["asn1parse", "-inform", "DER", "-in", p(&path)]);
        let digest_hex = hex::encode_upper(ka.digest());
        assert!(
            asn1.contains(&format!("[HEX DUMP]:0420{digest_hex}")),
            "{asn1}"
        );
        // Self-signed: OpenSSL verifies the signature against the
        // certificate's own key. (OpenSSL does not know acmeIdentifier, and
        // the window is in the past, hence the two relaxations.)
        let pem_path = dir.write(
            "alpn.pem",
            openssl(&["x509", "-inform", "DER", "-in", p(&path)]).as_bytes(),
        );
        let verify = openssl(&[
            "verify",
            "-ignore_critical",
            "-no_check_time",
            "-partial_chain",
            "-CAfile",
            p(&pem_path),
            p(&pem_path),
        ]);
        assert!(verify.contains("OK"), "{verify}");
    }
}
