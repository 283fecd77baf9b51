//! C API for `lvs`: `liblvs.so`, `liblvs.a` and `include/lvs.h`.
//!
//! Every item here is `extern "C"` and mirrors a piece of the `lvs` crate:
//!
//! | C | Rust | module |
//! |---|---|---|
//! | `lvs_handle`, `lvs_handle_open*`, `lvs_service_*`, `lvs_destination_*`, `lvs_handle_*` | `lvs::Handle` | [`handle`] |
//! | `lvs_service`, `lvs_destination`, `lvs_stats`, ... (plain structs) | `lvs::Service`, `lvs::Destination`, ... | [`types`] |
//! | `lvs_service_list`, `lvs_destination_list`, `lvs_table` | `Vec<ServiceEntry>`, ... | [`list`] |
//! | `lvs_batch`, `lvs_handle_apply` | `lvs::Op`, `Handle::apply_with` | [`batch`] |
//! | `lvs_daemon_*`, `lvs_handle_daemons`, `lvs_sync_daemon` | `Handle::start_daemon`, `lvs::SyncDaemon`, ... | [`handle`], [`types`] |
//! | `lvs_handle_connections*`, `lvs_connection_list`, `lvs_connection` | `Handle::connections*`, `lvs::Connection` | [`handle`], [`list`], [`types`] |
//! | `lvs_desired`, `lvs_policy`, `lvs_reconciler`, `lvs_plan` | `lvs::reconcile::{DesiredState, Policy, Reconciler, Plan}` | [`reconcile`] |
//! | `lvs_simulate` | `lvs::sched::simulate` | [`sched`] |
//! | `lvs_kmod_ensure_loaded` | `lvs::kmod::ensure_loaded` | this crate's root |
//! | `lvs_result`, `lvs_strerror`, `lvs_last_error` | `lvs::ErrorKind`, `lvs::Error` | [`error`] |
//!
//! The contract, which the header states too: functions return a numbered
//! `error::lvs_result`; opaque objects are freed by their `_free`
//! function; plain structs carry no pointers; a NULL or invalid argument is
//! an error code, never undefined behaviour; no panic unwinds into C (each
//! body runs under `panic`'s boundary); a handle is used by one thread at
//! a time.
//!
//! `unsafe` code lives only in this crate. Each `unsafe` block carries a
//! `// SAFETY:` comment; the pointer plumbing is in `ffi`'s small helpers.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
// C names: lvs_handle, LVS_OK, ...
#![allow(non_camel_case_types)]

#[macro_use]
mod panic;
#[macro_use]
mod ffi;
pub mod batch;
pub mod error;
#[macro_use]
pub mod handle;
pub mod list;
pub mod reconcile;
pub mod sched;
pub mod types;

pub use error::lvs_result;

/// Load the kernel module `name` unless it is loaded, with the kernel's
/// `modprobe` (`lvs::kmod::ensure_loaded`). A scheduler's module is
/// `"ip_vs_"` and the scheduler's name (`"ip_vs_lblc"`), the SIP
/// persistence engine's `"ip_vs_pe_sip"`.
///
/// Call it before adding a service whose scheduler's module may not be
/// loaded yet: the kernel's own on-demand load holds the global IPVS mutex
/// (Linux up to 7.0) while it waits for `modprobe`, and deadlocks against
/// a network namespace being torn down at the same moment when the module
/// registers per-namespace state (`ip_vs_lblc`, `ip_vs_lblcr`). Starts no
/// process when the module is loaded. Needs `CAP_SYS_MODULE`; without it
/// the kernel's on-demand load still works, with that hazard.
///
/// Errors: `LVS_INVALID_ARGUMENT` (not a module name: 1 to 55 letters,
/// digits, `_` or `-`, not starting with `-`; nothing run),
/// `LVS_PERMISSION_DENIED`, `LVS_UNSUPPORTED` (this kernel has no such
/// module), `LVS_IO` (`modprobe` could not run or failed), with what
/// `modprobe` printed in the thread's last error; `LVS_NULL_PARAMETER`,
/// `LVS_INVALID_UTF8`.
///
/// # Safety
/// `name` must be a NUL-terminated string (not NULL); it is not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_kmod_ensure_loaded(name: *const std::ffi::c_char) -> lvs_result {
    ffi_boundary! {
        error::finish((|| {
            let name = try_utf8!(name)?;
            Ok(lvs::kmod::ensure_loaded(&[name])?)
        })())
    }
}

/// The version of the library, as a static NUL-terminated string such as
/// `"0.1.0"`. Never NULL; the caller must not free it.
#[unsafe(no_mangle)]
pub extern "C" fn lvs_version() -> *const std::ffi::c_char {
    ffi_boundary! {
        // A 'static NUL-terminated literal: the pointer stays valid for ever.
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    }
}
