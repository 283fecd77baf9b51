#![no_main]
//! See `targets::netlink`.

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::netlink(data));
