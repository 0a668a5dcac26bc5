#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| acme_fuzz::http_chunked_body(data));
