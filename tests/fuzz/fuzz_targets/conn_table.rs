#![no_main]
//! See `targets::conn_table`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::conn_table(data));
