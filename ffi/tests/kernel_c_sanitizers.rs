//! The C API's kernel tests under AddressSanitizer, UBSan and LSan, in a
//! guest boot of their own (see `kernel_c.rs`).

#[path = "support/kernel.rs"]
mod kernel;
mod support;

use kernel::*;

#[test]
fn kernel_test_under_address_and_ub_sanitizers() {
    kernel_test(Under::Sanitizers);
}

/// The examples do what they say, with clean runs.
#[test]
fn examples_under_sanitizers() {
    examples(Under::Sanitizers);
}
