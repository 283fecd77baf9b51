//! `lvs_handle`: a connection to IPVS in one network namespace, and
//! every IPVS command on it.
//!
//! Each call that takes a handle stores its outcome in the handle (see
//! `lvs_handle_last_error`) as well as in the thread's last error.

use std::ffi::{OsStr, c_char, c_int};
use std::os::fd::BorrowedFd;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;
use std::time::Duration;

use lvs::{DaemonRole, Handle, OnError, Op, PendingBatch};

use crate::batch::{Batch, lvs_batch, op};
use crate::error::{Failure, Outcome, copy_message, finish, lvs_result};
use crate::ffi::into_raw;
use crate::list::{
    ConnList, Table, lvs_connection_list, lvs_destination_list, lvs_service_list, lvs_table,
};
use crate::panic::panic_failure;
use crate::types::*;

/// An open connection to the kernel's IPVS in one network namespace.
///
/// Opaque: made by `lvs_handle_open*`, freed by `lvs_handle_free`. A
/// handle owns its netlink sockets (a second one for service dumps opens on
/// first use) and starts no threads unless `lvs_handle_set_read_threads`
/// asks it to. Use it from one thread at a time (moving it between threads is fine); open one handle
/// per thread for parallel work.
pub struct lvs_handle {
    _private: [u8; 0],
}

/// What an `lvs_handle` points to.
pub(crate) struct HandleState {
    ipvs: Handle,
    last_error: String,
    /// A batch from `lvs_handle_submit` not finished yet, and the address
    /// of its `lvs_batch`.
    pending: Option<(PendingBatch, usize)>,
}
castable!(lvs_handle => HandleState);

/// `on_handle!(handle, |h| body)`: run `body` (an `Outcome`) with `h`, the
/// `&mut lvs::Handle` behind `handle`, and record its outcome in the handle
/// and the thread; evaluates to the `lvs_result`.
macro_rules! on_handle {
    ($handle:ident, |$h:ident| $body:expr) => {{
        let body = |$h: &mut ::lvs::Handle| -> $crate::error::Outcome { $body };
        // SAFETY: every extern fn using on_handle! promises in its
        // `# Safety` that `$handle` is NULL or a live handle that no other
        // thread uses during the call.
        unsafe { $crate::handle::with_handle($handle, body) }
    }};
}

/// `execute!(handle, op)`: send one write operation (`op`, an
/// `Outcome<lvs::Op>` built by `batch::op` from the C arguments, so the
/// batch adders check the same) and wait for its answer; evaluates to the
/// `lvs_result`.
macro_rules! execute {
    ($handle:ident, $op:expr) => {
        on_handle!($handle, |h| Ok(h.execute(&$op?)?))
    };
}

/// `list_into!(handle, out, |h| body)`: store NULL in `*out` (on every
/// failure, a NULL handle included), then the list made by `body` (an
/// `Outcome` of what the opaque `*out` points to) on the handle.
macro_rules! list_into {
    ($handle:ident, $out:ident, |$h:ident| $body:expr) => {{
        if let Ok(mut o) = try_out!($out) {
            o.set(std::ptr::null_mut());
        }
        on_handle!($handle, |$h| {
            let mut out = try_out!($out)?;
            out.set(into_raw($body?));
            Ok(())
        })
    }};
}

/// `value_into!(handle, out, |h| body)`: write the value made by `body`
/// (an `Outcome`) on the handle into `*out`, left unchanged on failure.
macro_rules! value_into {
    ($handle:ident, $out:ident, |$h:ident| $body:expr) => {
        on_handle!($handle, |$h| {
            let mut out = try_out!($out)?;
            out.set($body?);
            Ok(())
        })
    };
}

/// `open_with!(out, || body)`: store NULL in `*out`, then the handle made
/// from `body`'s `Outcome<lvs::Handle>`; evaluates to the `lvs_result`.
macro_rules! open_with {
    ($out:ident, || $body:expr) => {{
        let body = || -> $crate::error::Outcome<::lvs::Handle> { $body };
        // SAFETY: every extern fn using open_with! promises in its
        // `# Safety` that `$out` is NULL or valid for writing a pointer.
        unsafe { open_into($out, body) }
    }};
}

/// Run `f` on the handle; record the outcome in the handle and the thread.
///
/// # Safety
/// `handle` is NULL or a live handle used by no other thread now.
pub(crate) unsafe fn with_handle(
    handle: *mut lvs_handle,
    f: impl FnOnce(&mut Handle) -> Outcome,
) -> lvs_result {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        with_state(handle, |state| {
            if state.pending.is_some() {
                return Err(Failure::new(
                    lvs_result::LVS_BUSY,
                    "a batch submitted with lvs_handle_submit is pending on this handle: \
                     finish it with lvs_handle_poll first",
                ));
            }
            f(&mut state.ipvs)
        })
    }
}

/// [`with_handle`] with the whole state, busy or not.
///
/// # Safety
/// As `with_handle`.
unsafe fn with_state(
    handle: *mut lvs_handle,
    f: impl FnOnce(&mut HandleState) -> Outcome,
) -> lvs_result {
    let state = match try_mut!(handle) {
        Ok(s) => s,
        Err(e) => return finish(Err(e)),
    };
    // Catch a panic here too, so that the handle records it.
    let r = catch_unwind(AssertUnwindSafe(|| f(&mut *state)))
        .unwrap_or_else(|p| Err(panic_failure(p.as_ref())));
    state.last_error.clear();
    if let Err(e) = &r {
        state.last_error.push_str(&e.message);
    }
    finish(r)
}

/// Open: store the new handle (or NULL) in `out`.
///
/// # Safety
/// `out` is NULL or valid for a write.
unsafe fn open_into(
    out: *mut *mut lvs_handle,
    open: impl FnOnce() -> Outcome<Handle>,
) -> lvs_result {
    finish((|| {
        let mut out = try_out!(out)?;
        out.set(std::ptr::null_mut());
        let ipvs = open()?;
        out.set(into_raw::<lvs_handle>(HandleState {
            ipvs,
            last_error: String::new(),
            pending: None,
        }));
        Ok(())
    })())
}

/// Open a handle in the calling thread's network namespace.
///
/// On success `*out` is a new handle, which the caller frees with
/// `lvs_handle_free`. On failure `*out` is NULL and the thread's last
/// error (`lvs_last_error`) says why.
///
/// Errors: `LVS_IPVS_UNAVAILABLE` (no IPVS in this kernel: load `ip_vs`),
/// `LVS_IO` (the socket could not be opened), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `out` must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_open(out: *mut *mut lvs_handle) -> lvs_result {
    ffi_boundary! {
        open_with!(out, || Ok(Handle::open()?))
    }
}

/// Open a handle in the network namespace at `path` (`/run/netns/NAME`,
/// `/proc/PID/ns/net`). The calling thread stays in its own namespace.
/// Ownership and errors as `lvs_handle_open`, plus `LVS_IO` when `path`
/// cannot be opened or is not a network namespace.
///
/// # Safety
/// `path` must be a NUL-terminated string (not NULL; any bytes, not
/// necessarily UTF-8); it is not kept. `out` as for `lvs_handle_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_open_netns_path(
    path: *const c_char,
    out: *mut *mut lvs_handle,
) -> lvs_result {
    ffi_boundary! {
        open_with!(out, || {
            let path = OsStr::from_bytes(try_cstr!(path)?.to_bytes());
            Ok(Handle::open_netns_path(path)?)
        })
    }
}

/// Open a handle in the network namespace referred to by the open file
/// descriptor `netns_fd` (of `/proc/PID/ns/net`, `/run/netns/NAME`, or a
/// pidfd). The descriptor is only borrowed: the caller still owns and
/// closes it. Ownership and errors as `lvs_handle_open`, plus
/// `LVS_INVALID_ARGUMENT` for a negative descriptor and `LVS_IO` when it
/// is not a network namespace.
///
/// # Safety
/// `netns_fd` must not be closed by another thread during the call. `out`
/// as for `lvs_handle_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_open_netns_fd(
    netns_fd: c_int,
    out: *mut *mut lvs_handle,
) -> lvs_result {
    ffi_boundary! {
        open_with!(out, || {
            if netns_fd < 0 {
                return Err(Failure::invalid(
                    "netns_fd",
                    format_args!("{netns_fd} is not a file descriptor"),
                ));
            }
            // SAFETY: not negative (checked), and the caller keeps it
            // open for the call; it is only borrowed for the call.
            let fd = unsafe { BorrowedFd::borrow_raw(netns_fd) };
            Ok(Handle::open_netns(fd)?)
        })
    }
}

/// Close a handle's socket and free it. NULL is ignored.
///
/// # Safety
/// `handle` must be NULL or a handle from `lvs_handle_open*` that is not
/// used (by any thread) after this call, and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_free(handle: *mut lvs_handle) {
    ffi_boundary! {
        drop(try_box!(handle));
    }
}

/// Set how long a call waits for each kernel reply, in milliseconds (the
/// default is 10000); 0 waits for ever. A reply that does not come in time
/// fails the call with `LVS_IO`; nothing is retried.
///
/// # Safety
/// `handle` must be a live handle (not NULL), used by no other thread
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_set_timeout(
    handle: *mut lvs_handle,
    timeout_ms: u32,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let t = (timeout_ms != 0).then(|| Duration::from_millis(timeout_ms.into()));
            Ok(h.set_timeout(t)?)
        })
    }
}

/// The handle's reply timeout in milliseconds into `*out_ms`: what
/// `lvs_handle_set_timeout` set (10000 by default), 0 when it waits for
/// ever. A timeout above `UINT32_MAX` ms (set from Rust) reads as
/// `UINT32_MAX`.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out_ms`: valid for writing one
/// `uint32_t` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_timeout(
    handle: *mut lvs_handle,
    out_ms: *mut u32,
) -> lvs_result {
    ffi_boundary! {
        value_into!(handle, out_ms, |h| Ok::<_, Failure>(h.timeout().map_or(0, |t| {
            u32::try_from(t.as_millis()).unwrap_or(u32::MAX).max(1)
        })))
    }
}

/// The identity of the handle's network namespace into `*out`: the inode
/// number of its namespace file, as `/proc/PID/ns/net` shows it
/// (`net:[N]`) and `lsns -t net` lists it. Handles in the same namespace
/// give the same number, whichever way they were opened (own namespace,
/// path, namespace fd or pidfd: the namespace the process was in then).
///
/// Errors: `LVS_UNSUPPORTED` (the handle holds no namespace file: it could
/// not be opened), `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one
/// `uint64_t` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_netns_id(handle: *mut lvs_handle, out: *mut u64) -> lvs_result {
    ffi_boundary! {
        value_into!(handle, out, |h| Ok::<_, Failure>(h.netns_id()?))
    }
}

/// The IPVS sysctl named `name` (as under `/proc/sys/net/ipv4/vs/`, e.g.
/// `"expire_nodest_conn"`, `"conn_reuse_mode"`, `"conntrack"`) in the
/// handle's namespace, as an integer.
///
/// Errors: `LVS_INVALID_ARGUMENT` (a name lvs does not know),
/// `LVS_UNSUPPORTED` (this kernel has no such sysctl),
/// `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`,
/// `LVS_INVALID_UTF8`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `name`: a NUL-terminated string
/// (not NULL). `out`: valid for writing one `int64_t` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_sysctl(
    handle: *mut lvs_handle,
    name: *const c_char,
    out: *mut i64,
) -> lvs_result {
    ffi_boundary! {
        value_into!(handle, out, |h| {
            let s = sysctl_arg(try_utf8!(name)?)?;
            Ok::<_, Failure>(h.sysctl(s)?)
        })
    }
}

/// Set the IPVS sysctl named `name` (see `lvs_handle_sysctl`) in the
/// handle's namespace.
///
/// Errors: as `lvs_handle_sysctl`; `LVS_INVALID_ARGUMENT` also for a value
/// outside the sysctl's meaningful range (0 or 1 for the switches, 0..3
/// for the defense modes and `conn_reuse_mode`, a power of two up to 64
/// for `sync_ports`, ...: the Rust `Sysctl::range`; nothing is written)
/// or one the kernel refuses.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `name`: a NUL-terminated string
/// (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_set_sysctl(
    handle: *mut lvs_handle,
    name: *const c_char,
    value: i64,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let s = sysctl_arg(try_utf8!(name)?)?;
            Ok(h.set_sysctl(s, value)?)
        })
    }
}

fn sysctl_arg(name: &str) -> Outcome<lvs::Sysctl> {
    lvs::Sysctl::from_name(name).ok_or_else(|| {
        Failure::invalid(
            "sysctl name",
            format_args!("{name:?} is not an IPVS sysctl lvs knows"),
        )
    })
}

/// Let whole-table reads (`lvs_handle_table`) run their destination dumps
/// on up to `threads` sockets at once, one thread each, the calling thread
/// included. The default, 1, reads on the calling thread only and starts no
/// thread. Worth it for many services with few destinations each (2
/// threads read 2,000 services x 4 destinations 1.6x faster on 2 CPUs);
/// reads of fewer than 512 services stay on one thread. The extra sockets
/// are opened in the handle's namespace on first use and kept.
///
/// Errors: `LVS_INVALID_ARGUMENT` for 0, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` must be a live handle (not NULL), used by no other thread
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_set_read_threads(
    handle: *mut lvs_handle,
    threads: usize,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let n = std::num::NonZeroUsize::new(threads)
                .ok_or_else(|| Failure::invalid("threads", "must be at least 1"))?;
            h.set_read_threads(n);
            Ok(())
        })
    }
}

/// Copy the message of the last call on this handle: the full text of its
/// error (what was being done, why, the errno and the kernel's
/// extended-ACK message), or "" if it succeeded. Every call taking the
/// handle and returning `lvs_result` replaces it; this one does not.
///
/// Buffer rules and codes as `lvs_last_error` (`LVS_OK`,
/// `LVS_BUFFER_TOO_SMALL` with a truncated, NUL-terminated copy,
/// `LVS_NULL_PARAMETER`, `LVS_INVALID_ARGUMENT`, `LVS_PANIC`), and also
/// `LVS_NULL_PARAMETER` if `handle` is NULL, `LVS_INVALID_ARGUMENT` if it
/// is misaligned.
///
/// # Safety
/// `handle` must be a live handle (not NULL), not being used by another
/// thread during the call. `buf` may be NULL only when `len` is 0;
/// otherwise it must be valid for writes of `len` bytes. `out_len` may be
/// NULL; if not, it receives the message's length without the NUL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_last_error(
    handle: *const lvs_handle,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        match try_ref!(handle) {
            // SAFETY: forwarded from this function's contract.
            Ok(state) => unsafe { copy_message(&state.last_error, buf, len, out_len) },
            Err(e) => e.code,
        }
    }
}

// ----- services ---------------------------------------------------------------

/// Add a virtual service (`IPVS_CMD_NEW_SERVICE`; ipvsadm `-A`).
///
/// Errors: `LVS_INVALID_ARGUMENT` (nothing sent), `LVS_SERVICE_EXISTS`,
/// `LVS_SCHEDULER_NOT_FOUND`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle`: a live handle (not NULL), used by no other thread during the
/// call. `service`: valid for reading one `lvs_service` (not NULL); not
/// kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_add(
    handle: *mut lvs_handle,
    service: *const lvs_service,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_service_add_sized(handle, service, SERVICE_SIZE_V1) }
    }
}

/// Replace the configuration of an existing service, found by
/// `service->key` (`IPVS_CMD_SET_SERVICE`; ipvsadm `-E`). Connections are
/// kept.
///
/// Errors: `LVS_INVALID_ARGUMENT`, `LVS_SERVICE_NOT_FOUND`,
/// `LVS_SCHEDULER_NOT_FOUND`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// As `lvs_service_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_update(
    handle: *mut lvs_handle,
    service: *const lvs_service,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_service_update_sized(handle, service, SERVICE_SIZE_V1) }
    }
}

/// Remove a service and all its destinations (`IPVS_CMD_DEL_SERVICE`;
/// ipvsadm `-D`).
///
/// Errors: `LVS_INVALID_ARGUMENT`, `LVS_SERVICE_NOT_FOUND`,
/// `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `key`: valid for reading one
/// `lvs_service_key` (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_remove(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::remove_service(try_ref!(key)))
    }
}

/// Read one service with its counters (`IPVS_CMD_GET_SERVICE`) into
/// `*out`, which is left unchanged on failure.
///
/// Errors: `LVS_SERVICE_NOT_FOUND`, `LVS_INVALID_ARGUMENT`,
/// `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` and `key` as for `lvs_service_remove`. `out`: valid for
/// writing one `lvs_service_entry` (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_get(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    out: *mut lvs_service_entry,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_service_get_sized(handle, key, out, SERVICE_ENTRY_SIZE_V1) }
    }
}

/// List every service of the namespace with its counters, in one dump
/// (`IPVS_CMD_GET_SERVICE`). Order is unspecified.
///
/// The list is consistent or the call fails: a dump too large for one
/// datagram is repeated, with another datagram size, until two dumps
/// agree (IPVS resumes a
/// dump by position and may skip or repeat entries when services change
/// meanwhile, in this namespace or, before Linux 7.1, in any other);
/// after 8 dumps without agreement the call fails with
/// `LVS_INCONSISTENT_READ`.
///
/// On success `*out` is a new list the caller frees with
/// `lvs_service_list_free`; on failure it is NULL.
///
/// Errors: `LVS_INCONSISTENT_READ`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_DECODE`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one pointer
/// (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_services(
    handle: *mut lvs_handle,
    out: *mut *mut lvs_service_list,
) -> lvs_result {
    ffi_boundary! {
        list_into!(handle, out, |h| h
            .services()?
            .iter()
            .map(lvs_service_entry::from_model)
            .collect::<Outcome<Vec<_>>>())
    }
}

// ----- destinations -------------------------------------------------------------

/// Add a destination to the service `key` (`IPVS_CMD_NEW_DEST`; ipvsadm
/// `-a`).
///
/// Errors: `LVS_INVALID_ARGUMENT` (nothing sent; includes a family that
/// differs from the service's without tunnel forwarding),
/// `LVS_SERVICE_NOT_FOUND`, `LVS_DESTINATION_EXISTS`, `LVS_KERNEL` (e.g.
/// an address the kernel will not forward to), `LVS_PERMISSION_DENIED`,
/// `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `key`: valid for reading one
/// `lvs_service_key`; `dest`: valid for reading one `lvs_destination`
/// (neither NULL, neither kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_add(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_destination_add_sized(handle, key, dest, DESTINATION_SIZE_V1) }
    }
}

/// Change a destination's forwarding, weight or thresholds, found by
/// `dest->addr` (`IPVS_CMD_SET_DEST`; ipvsadm `-e`).
///
/// Errors: as `lvs_destination_add`, with `LVS_DESTINATION_NOT_FOUND` in
/// place of `LVS_DESTINATION_EXISTS`.
///
/// # Safety
/// As `lvs_destination_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_update(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_destination_update_sized(handle, key, dest, DESTINATION_SIZE_V1) }
    }
}

/// Remove the destination at `addr` from the service `key`
/// (`IPVS_CMD_DEL_DEST`; ipvsadm `-d`). Its connections stay until they
/// expire.
///
/// Errors: `LVS_SERVICE_NOT_FOUND`, `LVS_DESTINATION_NOT_FOUND`,
/// `LVS_INVALID_ARGUMENT`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `key`: valid for reading one
/// `lvs_service_key`; `addr`: valid for reading one `lvs_addr` (neither
/// NULL, neither kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_remove(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    addr: *const lvs_addr,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::remove_destination(try_ref!(key), try_ref!(addr)))
    }
}

/// Read one destination of the service `key`, with its connection counts
/// and counters, into `*out` (left unchanged on failure). Reads the
/// service's destination list (`IPVS_CMD_GET_DEST`) and picks `addr`.
///
/// Errors: `LVS_SERVICE_NOT_FOUND`, `LVS_DESTINATION_NOT_FOUND`,
/// `LVS_INVALID_ARGUMENT`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// As `lvs_destination_remove`; `out`: valid for writing one
/// `lvs_destination_entry` (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_get(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    addr: *const lvs_addr,
    out: *mut lvs_destination_entry,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_destination_get_sized(handle, key, addr, out, DESTINATION_ENTRY_SIZE_V1) }
    }
}

/// List the destinations of the service `key` with their counts and
/// counters, in the kernel's order (most recently added first), in one dump
/// (`IPVS_CMD_GET_DEST`). A missing service is `LVS_SERVICE_NOT_FOUND`; an
/// empty list means the service has no destinations. Consistent as
/// `lvs_handle_services` is.
///
/// On success `*out` is a new list the caller frees with
/// `lvs_destination_list_free`; on failure it is NULL.
///
/// Errors: `LVS_SERVICE_NOT_FOUND`, `LVS_INVALID_ARGUMENT`,
/// `LVS_INCONSISTENT_READ`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` and `key` as for `lvs_service_remove`. `out`: valid for
/// writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_destinations(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    out: *mut *mut lvs_destination_list,
) -> lvs_result {
    ffi_boundary! {
        list_into!(handle, out, |h| h
            .destinations(&try_ref!(key)?.model("key")?)?
            .iter()
            .map(lvs_destination_entry::from_model)
            .collect::<Outcome<Vec<_>>>())
    }
}

/// Read the whole table: every service with all its destinations, with one
/// service dump and pipelined destination dumps (not a round trip per
/// service). Each list is consistent as `lvs_handle_services` says, or
/// the call fails with `LVS_INCONSISTENT_READ`; the table as a whole is
/// not one snapshot (a service removed during the read shows with no
/// destinations).
///
/// On success `*out` is a new table the caller frees with
/// `lvs_table_free`; on failure it is NULL.
///
/// Errors: `LVS_INCONSISTENT_READ`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_DECODE`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one pointer
/// (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_table(
    handle: *mut lvs_handle,
    out: *mut *mut lvs_table,
) -> lvs_result {
    ffi_boundary! {
        list_into!(handle, out, |h| Table::from_model(&h.table()?))
    }
}

// ----- whole namespace ------------------------------------------------------------

/// Remove every service of the namespace (`IPVS_CMD_FLUSH`; ipvsadm
/// `-C`).
///
/// Errors: `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_flush(handle: *mut lvs_handle) -> lvs_result {
    ffi_boundary! {
        execute!(handle, Ok::<_, Failure>(Op::Flush))
    }
}

/// Zero the counters of the service `key` and its destinations, or of
/// every service when `key` is NULL (`IPVS_CMD_ZERO`; ipvsadm `-Z`).
///
/// Errors: `LVS_SERVICE_NOT_FOUND`, `LVS_INVALID_ARGUMENT`,
/// `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `key`: NULL, or valid for reading
/// one `lvs_service_key`; not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_zero(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::zero((!key.is_null()).then(|| try_ref!(key))))
    }
}

/// Read the IPVS version and connection table size (`IPVS_CMD_GET_INFO`)
/// into `*out` (left unchanged on failure).
///
/// Errors: `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one
/// `lvs_info` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_info(
    handle: *mut lvs_handle,
    out: *mut lvs_info,
) -> lvs_result {
    ffi_boundary! {
        value_into!(handle, out, |h| Ok::<_, Failure>((&h.info()?).into()))
    }
}

/// Read the TCP, TCP-FIN and UDP timeouts (`IPVS_CMD_GET_CONFIG`) into
/// `*out` (left unchanged on failure); a value the kernel did not report
/// is 0.
///
/// Errors: `LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one
/// `lvs_timeouts` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_timeouts(
    handle: *mut lvs_handle,
    out: *mut lvs_timeouts,
) -> lvs_result {
    ffi_boundary! {
        value_into!(handle, out, |h| Ok::<_, Failure>(lvs_timeouts::from_model(&h.timeouts()?)))
    }
}

/// Set timeouts (`IPVS_CMD_SET_CONFIG`; ipvsadm `--set`): a 0 field is
/// left unchanged; others must be 1 to 2147483 seconds.
///
/// Errors: `LVS_INVALID_ARGUMENT`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `timeouts`: valid for reading one
/// `lvs_timeouts` (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_set_timeouts(
    handle: *mut lvs_handle,
    timeouts: *const lvs_timeouts,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::set_timeouts(try_ref!(timeouts)))
    }
}

/// `lvs_handle_apply`'s `on_error`: send every operation pipelined; each
/// gets its own result and a failure never hides the others.
pub const LVS_ON_ERROR_CONTINUE: u32 = 0;
/// `lvs_handle_apply`'s `on_error`: apply in order, one round trip each,
/// and stop at the first failure; later operations report
/// `LVS_NOT_ATTEMPTED`.
pub const LVS_ON_ERROR_STOP: u32 = 1;

/// Apply a batch's operations, many per `sendmsg`, and store one result
/// per operation in the batch (read them with `lvs_batch_result` and
/// `lvs_batch_message`; applying again replaces them).
///
/// Returns `LVS_OK` when every operation succeeded; otherwise the code of
/// the first failed operation, and the handle's last error says how many
/// failed and why the first did. `LVS_INVALID_ARGUMENT` for an `on_error`
/// that is not `LVS_ON_ERROR_CONTINUE` or `LVS_ON_ERROR_STOP` (nothing is
/// sent), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `batch`: a live batch (not NULL),
/// used by no other thread during the call; not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_apply(
    handle: *mut lvs_handle,
    batch: *mut lvs_batch,
    on_error: u32,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let batch: &mut Batch = try_mut!(batch)?;
            batch.apply(h, on_error_of(on_error)?)
        })
    }
}

/// The `OnError` of a C `on_error`.
fn on_error_of(on_error: u32) -> Outcome<OnError> {
    match on_error {
        LVS_ON_ERROR_CONTINUE => Ok(OnError::Continue),
        LVS_ON_ERROR_STOP => Ok(OnError::Stop),
        n => Err(Failure::invalid(
            "on_error",
            format_args!("must be LVS_ON_ERROR_CONTINUE (0) or LVS_ON_ERROR_STOP (1), got {n}"),
        )),
    }
}

// ----- event loop ---------------------------------------------------------------------

/// The file descriptor of the handle's netlink socket, for an event loop
/// (`poll`, `epoll`; what libnl's `nl_socket_get_fd` gives): after
/// `lvs_handle_submit`, wait until it is readable and call
/// `lvs_handle_poll`. It belongs to the handle (closed by
/// `lvs_handle_free`); never read or write it. It may be made
/// non-blocking (`O_NONBLOCK`): the handle's other calls still wait for
/// their answers, up to the handle's timeout. Usable while a batch is
/// pending.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle`: a live handle (not NULL), used by no other thread during the
/// call. `out_fd`: valid for writing one `int` (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_fd(handle: *mut lvs_handle, out_fd: *mut c_int) -> lvs_result {
    ffi_boundary! {
        let body = |state: &mut HandleState| -> Outcome {
            try_out!(out_fd)?.set(state.ipvs.as_fd().as_raw_fd());
            Ok(())
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { with_state(handle, body) }
    }
}

/// Start applying `batch` on `handle` without waiting for the kernel:
/// the event-loop form of `lvs_handle_apply` (the same operations,
/// flights, `on_error` and results). Nothing here waits: the first flight
/// of at most 1024 operations is sent without blocking (the kernel handles
/// it inside the send and queues its answers on the socket). Then call
/// `lvs_handle_poll(handle, batch)` whenever `lvs_handle_fd` is readable,
/// until it returns something other than `LVS_AGAIN`.
///
/// Until then the handle is busy (other calls on it are `LVS_BUSY`, except
/// `lvs_handle_poll`, `lvs_handle_fd`, `lvs_handle_last_error` and
/// `lvs_handle_free`) and so is the batch (adding to, clearing or applying
/// it is `LVS_BUSY`; freeing it leaves the handle busy for good).
///
/// Errors: `LVS_BUSY` (a batch is pending on the handle, or this batch is
/// pending on a handle), `LVS_INVALID_ARGUMENT` (`on_error`),
/// `LVS_NULL_PARAMETER`. A failure to send is the operations' result, read
/// when `lvs_handle_poll` finishes.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `batch`: a live batch (not NULL),
/// used by no other thread until `lvs_handle_poll` finishes it, and not
/// freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_submit(
    handle: *mut lvs_handle,
    batch: *mut lvs_batch,
    on_error: u32,
) -> lvs_result {
    ffi_boundary! {
        let body = |state: &mut HandleState| -> Outcome {
            if state.pending.is_some() {
                return Err(Failure::new(
                    lvs_result::LVS_BUSY,
                    "another batch is pending on this handle: finish it with lvs_handle_poll",
                ));
            }
            let on_error = on_error_of(on_error)?;
            let b: &mut Batch = try_mut!(batch)?;
            let pending = b.submit(&mut state.ipvs, on_error)?;
            state.pending = Some((pending, batch as usize));
            Ok(())
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { with_state(handle, body) }
    }
}

/// Make progress on the batch submitted with `lvs_handle_submit`, without
/// waiting: read the answers queued on the socket and, when a flight is
/// settled, send the next one (one flight per call, so a loop can serve
/// other work between flights).
///
/// Returns `LVS_AGAIN` while the batch is not finished: wait until
/// `lvs_handle_fd` is readable (it may be at once) and call again.
/// Otherwise the batch is finished, its results are stored as
/// `lvs_handle_apply` stores them (`lvs_batch_result`, ...), the handle
/// and the batch are free again, and the return is what `lvs_handle_apply`
/// would have returned: `LVS_OK`, or the first failed operation's code.
///
/// Errors: `LVS_INVALID_ARGUMENT` (no batch is pending on the handle, or
/// `batch` is not the one submitted), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// As `lvs_handle_submit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_poll(
    handle: *mut lvs_handle,
    batch: *mut lvs_batch,
) -> lvs_result {
    ffi_boundary! {
        let body = |state: &mut HandleState| -> Outcome {
            let b: &mut Batch = try_mut!(batch)?;
            let Some((pending, submitted)) = state.pending.as_mut() else {
                return Err(Failure::invalid(
                    "handle",
                    "no batch is pending on it (lvs_handle_submit)",
                ));
            };
            if *submitted != batch as usize || b.not_submitted().is_ok() {
                return Err(Failure::invalid(
                    "batch",
                    "it is not the batch submitted on this handle",
                ));
            }
            match state.ipvs.poll_batch(pending) {
                Poll::Pending => Err(Failure::new(
                    lvs_result::LVS_AGAIN,
                    format!(
                        "batch in progress: {} of {} operations settled",
                        pending.settled(),
                        pending.len()
                    ),
                )),
                Poll::Ready(r) => {
                    state.pending = None;
                    b.finish(r.results)
                }
            }
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { with_state(handle, body) }
    }
}

// ----- sync daemon ------------------------------------------------------------------

/// An array of this many `lvs_sync_daemon`s always holds what
/// `lvs_handle_daemons` reports: a namespace runs at most one master and
/// one backup.
pub const LVS_SYNC_DAEMONS_MAX: usize = 2;

/// Start a connection sync daemon in the handle's namespace
/// (`IPVS_CMD_NEW_DAEMON`; ipvsadm `--start-daemon`). The kernel starts
/// its threads before it answers. Not part of batches.
///
/// Errors: `LVS_INVALID_ARGUMENT` (nothing sent: a role other than
/// `LVS_DAEMON_MASTER` / `LVS_DAEMON_BACKUP`, an impossible interface name,
/// a sync id above 255, a group that is not multicast, a `max_len` the
/// kernel would clamp, ...), `LVS_INVALID_UTF8`, `LVS_DAEMON_RUNNING` (a
/// daemon of that role already runs here), `LVS_NO_SUCH_INTERFACE`,
/// `LVS_MIXED_FAMILY_DESTINATIONS`, `LVS_KERNEL` (e.g. the group cannot be
/// reached through the interface), `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `daemon`: valid for reading one
/// `lvs_sync_daemon` (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_daemon_start(
    handle: *mut lvs_handle,
    daemon: *const lvs_sync_daemon,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_daemon_start_sized(handle, daemon, SYNC_DAEMON_SIZE_V1) }
    }
}

/// Stop the sync daemon of `role` (`LVS_DAEMON_MASTER` or
/// `LVS_DAEMON_BACKUP`) in the handle's namespace (`IPVS_CMD_DEL_DAEMON`;
/// ipvsadm `--stop-daemon`). `LVS_OK` means the daemon is stopped: the
/// kernel stops its threads before it answers.
///
/// A stop right after a start returns promptly too: the kernel sends no
/// answer at all when it stops a daemon thread that has not run yet
/// (`kthread_stop` gives `-EINTR`, for which netlink sends no ACK), so
/// the call waits for the answer at most 500 ms (or the handle's timeout
/// if shorter), then reads the daemon list: `LVS_OK` when no daemon of
/// `role` runs, `LVS_IO` when one still does.
///
/// Errors: `LVS_INVALID_ARGUMENT` (another `role`; nothing sent),
/// `LVS_DAEMON_NOT_RUNNING`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_daemon_stop(handle: *mut lvs_handle, role: u32) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| Ok(h.stop_daemon(DaemonRole::from_state(role))?))
    }
}

/// Read the sync daemons running in the handle's namespace: none, one or
/// both, the master first (`IPVS_CMD_GET_DAEMON`, a dump; ipvsadm `-L
/// --daemon`). Each has every option the kernel reports filled in with its
/// effective value.
///
/// `*out_len` receives the number of daemons, and the first `len` of them
/// are written to `out` (an array of `LVS_SYNC_DAEMONS_MAX` always
/// suffices). Returns `LVS_OK`, or `LVS_BUFFER_TOO_SMALL` when there were
/// more than `len` (those that fit are written).
///
/// Errors: `LVS_BUFFER_TOO_SMALL`, `LVS_PERMISSION_DENIED`, `LVS_IO`,
/// `LVS_DECODE`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing `len`
/// `lvs_sync_daemon`s; NULL only when `len` is 0. `out_len`: valid for
/// writing one `size_t` (not NULL). Neither is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_daemons(
    handle: *mut lvs_handle,
    out: *mut lvs_sync_daemon,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_handle_daemons_sized(handle, out, len, SYNC_DAEMON_SIZE_V1, out_len) }
    }
}

// ----- connection table ---------------------------------------------------------------

/// Read the connection table of the handle's namespace: every connection
/// and persistence template, with persistence-engine data (ipvsadm
/// `-Lnc`). Netlink has no such command: this reads
/// `/proc/net/ip_vs_conn` as the kernel prints it for the handle's
/// namespace. When that is not the calling thread's namespace, a
/// short-lived helper thread enters it (`setns`, which needs
/// `CAP_SYS_ADMIN`); the calling thread never changes namespace. The table
/// is read in chunks, so entries changing meanwhile may be missed or seen
/// twice.
///
/// On success `*out` is a new list the caller frees with
/// `lvs_connection_list_free`; on failure it is NULL (if `out` is not).
///
/// Errors: `LVS_IO` (the file cannot be read, or the namespace cannot be
/// entered), `LVS_IPVS_UNAVAILABLE` (no such file: IPVS is not loaded),
/// `LVS_DECODE` (a line this library cannot parse), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `handle` as for `lvs_service_add`. `out`: valid for writing one pointer
/// (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_connections(
    handle: *mut lvs_handle,
    out: *mut *mut lvs_connection_list,
) -> lvs_result {
    ffi_boundary! {
        list_into!(handle, out, |h| ConnList::from_model(&h.connections()?))
    }
}

/// As `lvs_handle_connections`, with each entry's origin
/// (`LVS_CONN_ORIGIN_LOCAL`, or `LVS_CONN_ORIGIN_SYNC` for an entry a
/// backup sync daemon made from a master's message) and without
/// persistence-engine data: reads `/proc/net/ip_vs_conn_sync`. Ownership,
/// errors and safety as `lvs_handle_connections`.
///
/// # Safety
/// As `lvs_handle_connections`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_connections_with_origin(
    handle: *mut lvs_handle,
    out: *mut *mut lvs_connection_list,
) -> lvs_result {
    ffi_boundary! {
        list_into!(handle, out, |h| ConnList::from_model(&h.connections_with_origin()?))
    }
}

/// `lvs_service_add` for a struct of `service_size` bytes (pass `sizeof
/// *service`): the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_service_add`, with `service` valid for reading `service_size`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_add_sized(
    handle: *mut lvs_handle,
    service: *const lvs_service,
    service_size: usize,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::service(Op::AddService, try_sized!(service, service_size)))
    }
}

/// `lvs_service_update` for a struct of `service_size` bytes, as
/// `lvs_service_add_sized`.
///
/// # Safety
/// As `lvs_service_add_sized`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_update_sized(
    handle: *mut lvs_handle,
    service: *const lvs_service,
    service_size: usize,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::service(Op::UpdateService, try_sized!(service, service_size)))
    }
}

/// `lvs_destination_add` for a struct of `dest_size` bytes (pass `sizeof
/// *dest`): the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_destination_add`, with `dest` valid for reading `dest_size`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_add_sized(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::destination(Op::AddDestination, try_ref!(key), try_sized!(dest, dest_size)))
    }
}

/// `lvs_destination_update` for a struct of `dest_size` bytes, as
/// `lvs_destination_add_sized`.
///
/// # Safety
/// As `lvs_destination_add_sized`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_update_sized(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        execute!(handle, op::destination(Op::UpdateDestination, try_ref!(key), try_sized!(dest, dest_size)))
    }
}

/// `lvs_service_get` into a struct of `out_size` bytes (pass `sizeof
/// *out`): the first `out_size` bytes of the entry are written, fields
/// this version does not have are 0 ("Structs that grow" in lvs.h).
///
/// # Safety
/// As `lvs_service_get`, with `out` valid for writing `out_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_get_sized(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    out: *mut lvs_service_entry,
    out_size: usize,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let entry = h.service(&try_ref!(key)?.model("key")?)?;
            put_sized!(out, 1, out_size, &[lvs_service_entry::from_model(&entry)?])
        })
    }
}

/// `lvs_destination_get` into a struct of `out_size` bytes, as
/// `lvs_service_get_sized`.
///
/// # Safety
/// As `lvs_destination_get`, with `out` valid for writing `out_size`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_get_sized(
    handle: *mut lvs_handle,
    key: *const lvs_service_key,
    addr: *const lvs_addr,
    out: *mut lvs_destination_entry,
    out_size: usize,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let key = try_ref!(key)?.model("key")?;
            let addr = try_ref!(addr)?.socket_addr("addr")?;
            let found = h.destinations(&key)?.into_iter().find(|d| d.destination.addr == addr);
            let entry = match found {
                Some(d) => lvs_destination_entry::from_model(&d)?,
                None => {
                    return Err(Failure::new(
                        lvs_result::LVS_DESTINATION_NOT_FOUND,
                        format!("get destination {addr} of {key}: no such destination"),
                    ));
                }
            };
            put_sized!(out, 1, out_size, &[entry])
        })
    }
}

/// `lvs_daemon_start` for a struct of `daemon_size` bytes (pass `sizeof
/// *daemon`): the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_daemon_start`, with `daemon` valid for reading `daemon_size`
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_daemon_start_sized(
    handle: *mut lvs_handle,
    daemon: *const lvs_sync_daemon,
    daemon_size: usize,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            Ok(h.start_daemon(&try_sized!(daemon, daemon_size)?.model("daemon")?)?)
        })
    }
}

/// `lvs_handle_daemons` into an array of `len` structs of `elem_size`
/// bytes each (pass `sizeof out[0]`): each element as
/// `lvs_service_get_sized` writes one.
///
/// # Safety
/// As `lvs_handle_daemons`, with `out` valid for writing `len *
/// elem_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_handle_daemons_sized(
    handle: *mut lvs_handle,
    out: *mut lvs_sync_daemon,
    len: usize,
    elem_size: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        on_handle!(handle, |h| {
            let mut count = try_out!(out_len)?;
            let daemons = h
                .daemons()?
                .iter()
                .map(lvs_sync_daemon::from_model)
                .collect::<Outcome<Vec<_>>>()?;
            count.set(daemons.len());
            put_sized!(out, len, elem_size, &daemons)?;
            if daemons.len() > len {
                return Err(Failure::new(
                    lvs_result::LVS_BUFFER_TOO_SMALL,
                    format!(
                        "list sync daemons: {} daemons run, the array holds {len}",
                        daemons.len()
                    ),
                ));
            }
            Ok(())
        })
    }
}
