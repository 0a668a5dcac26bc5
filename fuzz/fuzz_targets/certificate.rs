//! Certificate inspection over arbitrary DER: every accessor is exercised.
#![no_main]

use acme_core::cert::Certificate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::from_der(data) {
        let _ = cert.not_before();
        let _ = cert.not_after();
        let _ = cert.authority_key_id();
        if let Some(names) = cert.subject_alt_names() {
            for _ in names {}
        }
        for _ in cert.extensions() {}
        let mut out = [0u8; 512];
        let _ = cert.write_ari_cert_id(&mut out);
        let _ = acme_core::PublicKey::from_spki_der(cert.spki_der());
    }
});
