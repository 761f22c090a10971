#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| custody::internals::fuzz::p11kit_conf(data));
