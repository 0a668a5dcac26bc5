//! base64url decoding: never panics; what decodes re-encodes to the input.
#![no_main]

use acme_core::b64;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = [0u8; 1024];
    if let Ok(decoded) = b64::decode(data, &mut out) {
        let mut text = [0u8; 2048];
        let encoded = b64::encode(decoded, &mut text).expect("fits");
        assert_eq!(encoded.as_bytes(), data);
    }
});
