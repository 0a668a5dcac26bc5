#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| acme_fuzz::json_account(data));
