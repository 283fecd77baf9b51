//! The C API's kernel tests under valgrind, in a guest boot of their own
//! (the plain and sanitizer runs are `kernel_c.rs`).

#[path = "support/kernel.rs"]
mod kernel;
mod support;

use kernel::*;

#[test]
fn kernel_test_under_valgrind() {
    kernel_test(Under::Valgrind);
}

/// The examples do what they say, with clean runs.
#[test]
fn examples_under_valgrind() {
    examples(Under::Valgrind);
}
