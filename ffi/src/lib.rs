//! C API for `lvs` (`liblvs.so`, `liblvs.a`, `lvs.h`).
//!
//! This crate is a shell for now: the C API is built by its own issue.
#![deny(missing_docs)]

/// The version of the `lvs` library this C API was built from, as a
/// NUL-terminated string (`"0.1.0"`).
#[unsafe(no_mangle)]
pub extern "C" fn lvs_version() -> *const std::ffi::c_char {
    // The literal is 'static and NUL-terminated, so the pointer stays valid.
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
