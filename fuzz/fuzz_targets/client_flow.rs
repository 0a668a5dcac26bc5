#![no_main]
libfuzzer_sys::fuzz_target!(|script: acme_fuzz::Script| acme_fuzz::client_flow(&script));
