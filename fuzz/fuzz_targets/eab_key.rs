//! The EAB MAC key decoder over arbitrary text.
#![no_main]

use acme_core::eab::EabKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = EabKey::from_base64url(text);
    }
});
