#![no_main]
libfuzzer_sys::fuzz_target!(|input: acme_fuzz::RoundTrip| acme_fuzz::der_roundtrip(&input));
