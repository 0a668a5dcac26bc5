//! The PEM chain iterator over arbitrary bodies, decoding every block.
#![no_main]

use acme_core::pem;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 4096];
    for block in pem::certificates(data).take(16) {
        let Ok(block) = block else { break };
        match block.decode(&mut buf) {
            Ok(der) => assert_eq!(der.len(), block.decoded_len()),
            Err(acme_core::Error::BufferTooSmall { required }) => {
                assert_eq!(required, block.decoded_len())
            }
            Err(_) => {}
        }
    }
});
