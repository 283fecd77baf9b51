//! The C API against a real IPVS kernel, plainly and under AddressSanitizer,
//! UBSan and LSan: kernel_test.c, the capability check, api_test.c with a
//! kernel, the examples. The cargo runner (`.cargo/ipvs-runner`) runs this
//! binary (its name starts with `kernel`) inside a QEMU guest with a Debian
//! kernel when the host has no IPVS. The valgrind run is
//! `kernel_c_valgrind.rs`: a guest of its own, so that it does not run past
//! the rig's per-guest time limit on a loaded host. A test that cannot
//! reach IPVS fails; it never skips.

#[path = "support/kernel.rs"]
mod kernel;
mod support;

use kernel::*;

use std::process::Command;

use support::{Flavor, assert_summary, run_ok, sanitizer_env};

#[test]
fn kernel_test_plain() {
    kernel_test(Under::Plain);
}

#[test]
fn kernel_test_under_address_and_ub_sanitizers() {
    kernel_test(Under::Sanitizers);
}

/// The examples do what they say, with clean runs.
#[test]
fn examples_under_sanitizers() {
    examples(Under::Sanitizers);
}

/// Without CAP_NET_ADMIN every IPVS command is LVS_PERMISSION_DENIED.
#[test]
fn kernel_test_without_cap_net_admin() {
    let _kernel = kernel();
    let ns = Netns::new("eperm");
    let p = programs();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.name, "setpriv"])
        .args(["--bounding-set", "-net_admin", "--inh-caps", "-net_admin"])
        .arg(p.get(Flavor::Sanitized, "kernel_test"))
        .arg("--eperm");
    sanitizer_env(&mut cmd);
    let out = run_ok(&mut cmd, "kernel_test --eperm");
    assert_summary(&out, "kernel_test --eperm", 8);
}

/// api_test.c again, where lvs_handle_open succeeds.
#[test]
fn api_test_with_a_kernel() {
    let _kernel = kernel();
    let ns = Netns::new("api");
    let out = run_ok(
        &mut command(Some(&ns), Under::Sanitizers, "api_test"),
        "api_test",
    );
    assert_summary(&out, "api_test", 1000);
    assert!(out.contains("lvs_handle_open succeeded"), "{out}");
}
