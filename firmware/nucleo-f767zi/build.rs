//! Links against the board's memory map and defmt's section script, and
//! embeds the CA the device trusts.
//!
//! `ACME_TRUST_ANCHOR` names the DER (or PEM) certificate of the CA that
//! signs the ACME server's TLS certificate; without it the committed
//! `lab-ca.der` placeholder is embedded, so the image builds but trusts
//! nothing real.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("memory.x"), include_str!("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    println!("cargo:rerun-if-changed=memory.x");

    println!("cargo:rerun-if-env-changed=ACME_TRUST_ANCHOR");
    let anchor = std::env::var("ACME_TRUST_ANCHOR").unwrap_or_else(|_| "lab-ca.der".to_owned());
    println!("cargo:rerun-if-changed={anchor}");
    let bytes =
        std::fs::read(&anchor).unwrap_or_else(|e| panic!("ACME_TRUST_ANCHOR {anchor}: {e}"));
    let der = if bytes.starts_with(b"-----BEGIN") {
        pem_to_der(&bytes, &anchor)
    } else {
        bytes
    };
    std::fs::write(out.join("trust-anchor.der"), der).expect("trust-anchor.der");
}

/// The first certificate of a PEM file, as DER.
fn pem_to_der(pem: &[u8], name: &str) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap_or_else(|_| panic!("{name}: not UTF-8"));
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    decode_base64(&body).unwrap_or_else(|| panic!("{name}: not a PEM certificate"))
}

/// Standard base64 (the build script has no dependencies).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (!out.is_empty()).then_some(out)
}
