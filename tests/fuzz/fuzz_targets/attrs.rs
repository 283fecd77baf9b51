#![no_main]
//! See `targets::attrs`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::attrs(data));
