//! Result codes and error messages.
//!
//! Every fallible function returns an [`lvs_result`]. The numbers are part
//! of the ABI: a value is never renumbered or reused (a unit test pins
//! them). Codes 1..=99 mirror `lvs::ErrorKind`; 100 and up are the C API's
//! own (NULL argument, invalid UTF-8, short buffer, panic, ...).
//!
//! The full message of a failure (what was being done, why, the errno and
//! the kernel's extended-ACK text) is kept twice: per thread, for every
//! call ([`lvs_last_error`]), and per handle, for calls on a handle
//! (`lvs_handle_last_error`).

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use lvs::ErrorKind;

/// A result code. `LVS_OK` (0) is success; every other value is an error.
///
/// The numbering is stable: values are never renumbered or reused, and new
/// codes get new numbers. Codes 1 to 99 classify failures of IPVS
/// operations (they mirror the Rust crate's `ErrorKind`); codes from 100
/// are about how the C API was called.
///
/// On the wire of the ABI it is always a 4-byte unsigned integer. C++ and
/// C23 get the enum itself, with `uint32_t` as its fixed underlying type
/// (so `switch` warnings for unhandled codes work). Before C23, C leaves an
/// enum's underlying type to the compiler, so there `lvs_result` is a
/// `uint32_t` typedef and the `LVS_*` names are this enum's constants:
/// the same values and width on every compiler, without the type check.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum lvs_result {
    /// Success.
    LVS_OK = 0,
    /// The service does not exist (kernel `ESRCH`).
    LVS_SERVICE_NOT_FOUND = 1,
    /// The service already exists (`EEXIST` on add).
    LVS_SERVICE_EXISTS = 2,
    /// The destination does not exist (`ENOENT` on update/remove/get).
    LVS_DESTINATION_NOT_FOUND = 3,
    /// The destination already exists (`EEXIST` on add).
    LVS_DESTINATION_EXISTS = 4,
    /// The scheduler's module was not found, or the kernel does not say
    /// whether the scheduler or the persistence engine is missing (the
    /// error text names both).
    LVS_SCHEDULER_NOT_FOUND = 5,
    /// A sync daemon of that state is already running.
    LVS_DAEMON_RUNNING = 6,
    /// No sync daemon of that state is running.
    LVS_DAEMON_NOT_RUNNING = 7,
    /// No such network interface (`ENODEV`).
    LVS_NO_SUCH_INTERFACE = 8,
    /// The kernel has no IPVS (the generic-netlink family is missing).
    LVS_IPVS_UNAVAILABLE = 9,
    /// The caller lacks `CAP_NET_ADMIN` (`EPERM`).
    LVS_PERMISSION_DENIED = 10,
    /// An argument was rejected before anything was sent: a value out of
    /// range, a malformed address, an inconsistent combination.
    LVS_INVALID_ARGUMENT = 11,
    /// The kernel (or the scheduler models) lack a feature this call needs.
    LVS_UNSUPPORTED = 12,
    /// Any other kernel error; the message has the errno and the kernel's
    /// text.
    LVS_KERNEL = 13,
    /// A socket error, or no reply within the handle's timeout.
    LVS_IO = 14,
    /// A kernel reply could not be decoded (a bug in lvs: please report it).
    LVS_DECODE = 15,
    /// Not sent, because an earlier operation of the batch failed (or the
    /// batch was not applied yet, or the plan is a dry run).
    LVS_NOT_ATTEMPTED = 16,
    /// A sync daemon cannot start while a service has a destination of the
    /// other address family (a tunnel across IPv4 and IPv6): the sync
    /// protocol cannot carry those connections (`EINVAL` on
    /// `IPVS_CMD_NEW_DAEMON`).
    LVS_MIXED_FAMILY_DESTINATIONS = 17,
    /// The persistence engine's module was not found (`ENOENT` on service
    /// add or update while the scheduler's module is loaded).
    LVS_PERSISTENCE_ENGINE_NOT_FOUND = 18,
    /// A list read (services, destinations, the table) got no consistent
    /// answer: the table kept changing while it was dumped and repeated
    /// dumps did not agree. Nothing was returned rather than a list that
    /// may miss or repeat entries; retry later.
    LVS_INCONSISTENT_READ = 19,
    /// A required pointer argument was NULL.
    LVS_NULL_PARAMETER = 100,
    /// A string argument was not valid UTF-8.
    LVS_INVALID_UTF8 = 101,
    /// The output buffer was too small; what fitted was written,
    /// NUL-terminated, and the length needed was reported.
    LVS_BUFFER_TOO_SMALL = 102,
    /// An index was not below the length of the list or batch.
    LVS_OUT_OF_RANGE = 103,
    /// A failure this version of the C API has no code for yet.
    LVS_OTHER = 104,
    /// lvs panicked: a bug in lvs, please report it. The object the call was
    /// working on may be in an unspecified (but memory-safe) state.
    LVS_PANIC = 105,
    /// A JSON document could not be loaded: malformed JSON, or a value of
    /// the wrong shape. The message (`lvs_last_error`) has serde's text
    /// with the line and column.
    LVS_INVALID_JSON = 106,
    /// Not finished, and nothing to wait for inside the call: wait until
    /// the handle's file descriptor (`lvs_handle_fd`) is readable, then
    /// call `lvs_handle_poll` again.
    LVS_AGAIN = 107,
    /// The handle (or batch) has a batch submitted with
    /// `lvs_handle_submit` that `lvs_handle_poll` has not finished: only
    /// `lvs_handle_poll`, `lvs_handle_fd`, `lvs_handle_last_error` and
    /// `lvs_handle_free` may be used until then.
    LVS_BUSY = 108,
}

impl lvs_result {
    /// Every code, in numeric order (Rust only: not in lvs.h).
    ///
    /// cbindgen:ignore
    pub const ALL: [lvs_result; 29] = [
        lvs_result::LVS_OK,
        lvs_result::LVS_SERVICE_NOT_FOUND,
        lvs_result::LVS_SERVICE_EXISTS,
        lvs_result::LVS_DESTINATION_NOT_FOUND,
        lvs_result::LVS_DESTINATION_EXISTS,
        lvs_result::LVS_SCHEDULER_NOT_FOUND,
        lvs_result::LVS_DAEMON_RUNNING,
        lvs_result::LVS_DAEMON_NOT_RUNNING,
        lvs_result::LVS_NO_SUCH_INTERFACE,
        lvs_result::LVS_IPVS_UNAVAILABLE,
        lvs_result::LVS_PERMISSION_DENIED,
        lvs_result::LVS_INVALID_ARGUMENT,
        lvs_result::LVS_UNSUPPORTED,
        lvs_result::LVS_KERNEL,
        lvs_result::LVS_IO,
        lvs_result::LVS_DECODE,
        lvs_result::LVS_NOT_ATTEMPTED,
        lvs_result::LVS_MIXED_FAMILY_DESTINATIONS,
        lvs_result::LVS_PERSISTENCE_ENGINE_NOT_FOUND,
        lvs_result::LVS_INCONSISTENT_READ,
        lvs_result::LVS_NULL_PARAMETER,
        lvs_result::LVS_INVALID_UTF8,
        lvs_result::LVS_BUFFER_TOO_SMALL,
        lvs_result::LVS_OUT_OF_RANGE,
        lvs_result::LVS_OTHER,
        lvs_result::LVS_PANIC,
        lvs_result::LVS_INVALID_JSON,
        lvs_result::LVS_AGAIN,
        lvs_result::LVS_BUSY,
    ];

    /// The code with this number, if there is one.
    pub fn from_u32(n: u32) -> Option<lvs_result> {
        Self::ALL.into_iter().find(|r| *r as u32 == n)
    }

    /// The code for an `lvs::ErrorKind`.
    pub fn from_kind(kind: ErrorKind) -> lvs_result {
        use lvs_result::*;
        match kind {
            ErrorKind::ServiceNotFound => LVS_SERVICE_NOT_FOUND,
            ErrorKind::ServiceExists => LVS_SERVICE_EXISTS,
            ErrorKind::DestinationNotFound => LVS_DESTINATION_NOT_FOUND,
            ErrorKind::DestinationExists => LVS_DESTINATION_EXISTS,
            ErrorKind::SchedulerNotFound => LVS_SCHEDULER_NOT_FOUND,
            ErrorKind::DaemonRunning => LVS_DAEMON_RUNNING,
            ErrorKind::DaemonNotRunning => LVS_DAEMON_NOT_RUNNING,
            ErrorKind::NoSuchInterface => LVS_NO_SUCH_INTERFACE,
            ErrorKind::IpvsUnavailable => LVS_IPVS_UNAVAILABLE,
            ErrorKind::PermissionDenied => LVS_PERMISSION_DENIED,
            ErrorKind::InvalidArgument => LVS_INVALID_ARGUMENT,
            ErrorKind::Unsupported => LVS_UNSUPPORTED,
            ErrorKind::Kernel => LVS_KERNEL,
            ErrorKind::Io => LVS_IO,
            ErrorKind::Decode => LVS_DECODE,
            ErrorKind::NotAttempted => LVS_NOT_ATTEMPTED,
            ErrorKind::MixedFamilyDestinations => LVS_MIXED_FAMILY_DESTINATIONS,
            ErrorKind::PersistenceEngineNotFound => LVS_PERSISTENCE_ENGINE_NOT_FOUND,
            ErrorKind::InconsistentRead => LVS_INCONSISTENT_READ,
            // A kind added to lvs after this list: a code is added here
            // with a new number; until then it is LVS_OTHER.
            _ => LVS_OTHER,
        }
    }

    fn description(self) -> &'static CStr {
        use lvs_result::*;
        match self {
            LVS_OK => c"success",
            LVS_SERVICE_NOT_FOUND => c"no such service",
            LVS_SERVICE_EXISTS => c"the service already exists",
            LVS_DESTINATION_NOT_FOUND => c"no such destination",
            LVS_DESTINATION_EXISTS => c"the destination already exists",
            LVS_SCHEDULER_NOT_FOUND => c"scheduler not found (or the kernel does not say which module)",
            LVS_DAEMON_RUNNING => c"a sync daemon of that state is already running",
            LVS_DAEMON_NOT_RUNNING => c"no sync daemon of that state is running",
            LVS_NO_SUCH_INTERFACE => c"no such network interface",
            LVS_IPVS_UNAVAILABLE => c"the kernel has no IPVS (is the ip_vs module loaded?)",
            LVS_PERMISSION_DENIED => c"permission denied: IPVS needs CAP_NET_ADMIN",
            LVS_INVALID_ARGUMENT => c"invalid argument",
            LVS_UNSUPPORTED => c"not supported",
            LVS_KERNEL => c"kernel error",
            LVS_IO => c"I/O error or timeout talking to the kernel",
            LVS_DECODE => c"could not decode the kernel's reply (a bug in lvs)",
            LVS_NOT_ATTEMPTED => c"not attempted",
            LVS_MIXED_FAMILY_DESTINATIONS => {
                c"a sync daemon cannot run while a destination has the other address family than its service"
            }
            LVS_PERSISTENCE_ENGINE_NOT_FOUND => c"persistence engine not found",
            LVS_INCONSISTENT_READ => {
                c"the table kept changing during the read: no consistent list (retry later)"
            }
            LVS_NULL_PARAMETER => c"a required pointer argument was NULL",
            LVS_INVALID_UTF8 => c"a string argument was not valid UTF-8",
            LVS_BUFFER_TOO_SMALL => c"the output buffer is too small",
            LVS_OUT_OF_RANGE => c"index out of range",
            LVS_OTHER => c"other error",
            LVS_PANIC => c"internal error: lvs panicked (a bug in lvs)",
            LVS_INVALID_JSON => c"invalid JSON, or JSON of the wrong shape",
            LVS_AGAIN => c"in progress: call again when the handle's fd is readable",
            LVS_BUSY => c"a submitted batch is pending on the handle",
        }
    }
}

/// A failed call: its code and full message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: lvs_result,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: lvs_result, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// `LVS_INVALID_ARGUMENT` about `what`.
    pub(crate) fn invalid(what: &str, why: impl std::fmt::Display) -> Self {
        Failure::new(
            lvs_result::LVS_INVALID_ARGUMENT,
            format!("invalid {what}: {why}"),
        )
    }
}

impl From<lvs::Error> for Failure {
    fn from(e: lvs::Error) -> Self {
        // Display is the whole story: operation, detail, the kernel's
        // extended-ACK text and the errno.
        Failure::new(lvs_result::from_kind(e.kind()), e.to_string())
    }
}

/// What a fallible body returns.
pub(crate) type Outcome<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Set the calling thread's last error.
pub(crate) fn record_thread_failure(f: &Failure) {
    // try_with: during thread teardown the slot may be gone; then there is
    // nobody left to read it.
    let _ = LAST_ERROR.try_with(|m| {
        if let Ok(mut m) = m.try_borrow_mut() {
            m.clear();
            m.push_str(&f.message);
        }
    });
}

/// The code of a stored per-item outcome (`lvs_batch_result`,
/// `lvs_plan_result`): the item's code, or the lookup's failure code.
pub(crate) fn stored_code(item: Outcome<(lvs_result, &str)>) -> lvs_result {
    match item {
        Ok((code, _)) => code,
        Err(e) => e.code,
    }
}

/// Copy the message of a stored per-item outcome (`lvs_batch_message`,
/// `lvs_plan_message`) into the caller's buffer, or return the lookup's
/// failure code. Changes no last error.
///
/// # Safety
/// As `copy_message`.
pub(crate) unsafe fn stored_message(
    item: Outcome<(lvs_result, &str)>,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    match item {
        // SAFETY: forwarded from this function's contract.
        Ok((_, msg)) => unsafe { copy_message(msg, buf, len, out_len) },
        Err(e) => e.code,
    }
}

/// Record `r` as the calling thread's last error (cleared on success) and
/// return its code: the tail of every function returning `lvs_result`.
pub(crate) fn finish(r: Outcome) -> lvs_result {
    match r {
        Ok(()) => {
            let _ = LAST_ERROR.try_with(|m| {
                if let Ok(mut m) = m.try_borrow_mut() {
                    m.clear();
                }
            });
            lvs_result::LVS_OK
        }
        Err(f) => {
            record_thread_failure(&f);
            f.code
        }
    }
}

/// The calling thread's last error (for tests).
#[cfg(test)]
pub(crate) fn thread_message() -> String {
    LAST_ERROR.with(|m| m.borrow().clone())
}

/// Copy `msg` into the caller's buffer `buf` of `len` bytes, always
/// NUL-terminated when `len > 0`, cutting at a character boundary if it
/// does not fit; store `msg`'s length (without the NUL) in `*out_len` if
/// `out_len` is not NULL. These copies never change any last error.
///
/// # Safety
/// `buf` is NULL or valid for writes of `len` bytes; `out_len` is NULL or
/// valid for a write.
pub(crate) unsafe fn copy_message(
    msg: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    if !out_len.is_null() {
        if !out_len.is_aligned() {
            return lvs_result::LVS_INVALID_ARGUMENT;
        }
        // SAFETY: non-NULL and aligned; the caller promises it is valid
        // for a write.
        unsafe { out_len.write(msg.len()) };
    }
    if len == 0 {
        return lvs_result::LVS_BUFFER_TOO_SMALL;
    }
    if buf.is_null() {
        return lvs_result::LVS_NULL_PARAMETER;
    }
    if len > isize::MAX as usize {
        return lvs_result::LVS_INVALID_ARGUMENT;
    }
    let fits = msg.len() < len;
    let mut n = msg.len().min(len - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    // SAFETY: the caller promises `buf` is valid for writes of `len` bytes
    // and `n + 1 <= len`; `msg` is a separate Rust allocation, so the
    // ranges do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(msg.as_ptr(), buf.cast::<u8>(), n);
        buf.add(n).write(0);
    }
    if fits {
        lvs_result::LVS_OK
    } else {
        lvs_result::LVS_BUFFER_TOO_SMALL
    }
}

/// A static, NUL-terminated description of a result code, e.g. "no such
/// service" for `LVS_SERVICE_NOT_FOUND`. Any value is accepted: a number
/// that is no `lvs_result` gives "unknown lvs_result". Never NULL; the
/// string must not be freed.
#[unsafe(no_mangle)]
pub extern "C" fn lvs_strerror(result: u32) -> *const c_char {
    ffi_boundary! {
        match lvs_result::from_u32(result) {
            Some(r) => r.description().as_ptr(),
            None => c"unknown lvs_result".as_ptr(),
        }
    }
}

/// Copy the calling thread's last error message: the full message of the
/// most recent call on this thread that returned an error (empty after a
/// call that succeeded). Every function returning `lvs_result` sets it,
/// except the accessors that copy a stored message or result: this one,
/// `lvs_handle_last_error`, `lvs_batch_result`, `lvs_batch_message`,
/// `lvs_plan_result`, `lvs_plan_message` and
/// `lvs_connection_list_pe_data`. It is the only message of a failed call
/// that takes no handle (`lvs_handle_open*`, `lvs_batch_*`,
/// `lvs_desired_*`, `lvs_policy_*`, `lvs_plan_*`, `lvs_simulate`,
/// `lvs_addr_parse`, ...), including the JSON loaders' parse errors.
///
/// The message is copied NUL-terminated into `buf`. Returns exactly one
/// of (these are every code it can return):
/// - `LVS_OK`: the whole message was copied;
/// - `LVS_BUFFER_TOO_SMALL`: it did not fit (or `len` is 0, the way to ask
///   for the length): as much as fits is copied, cut at a UTF-8 character
///   boundary and NUL-terminated (nothing is written when `len` is 0);
/// - `LVS_NULL_PARAMETER`: `buf` is NULL while `len` is not 0;
/// - `LVS_INVALID_ARGUMENT`: `out_len` is not aligned for a `size_t`, or
///   `len` is larger than any buffer can be (above `PTRDIFF_MAX`);
/// - `LVS_PANIC`: a bug in lvs (never expected).
///
/// `*out_len` is written whenever `out_len` is not NULL and aligned. The
/// same
/// codes, under the same conditions, come from every function that copies
/// a stored message into a buffer ("buffer rules as `lvs_last_error`").
///
/// # Safety
/// `buf` may be NULL only when `len` is 0 (to ask for the length);
/// otherwise it must be valid for writes of `len` bytes. `out_len` may be
/// NULL; if not, it receives the message's length in bytes without the
/// NUL. Nothing is kept after the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_last_error(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let msg = LAST_ERROR
            .try_with(|m| m.try_borrow().map(|m| m.clone()).unwrap_or_default())
            .unwrap_or_default();
        // SAFETY: forwarded from this function's contract.
        unsafe { copy_message(&msg, buf, len, out_len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs_result::*;

    /// The numbers are ABI: this table must only ever grow.
    #[test]
    fn result_numbers_are_pinned() {
        let pinned = [
            (LVS_OK, 0),
            (LVS_SERVICE_NOT_FOUND, 1),
            (LVS_SERVICE_EXISTS, 2),
            (LVS_DESTINATION_NOT_FOUND, 3),
            (LVS_DESTINATION_EXISTS, 4),
            (LVS_SCHEDULER_NOT_FOUND, 5),
            (LVS_DAEMON_RUNNING, 6),
            (LVS_DAEMON_NOT_RUNNING, 7),
            (LVS_NO_SUCH_INTERFACE, 8),
            (LVS_IPVS_UNAVAILABLE, 9),
            (LVS_PERMISSION_DENIED, 10),
            (LVS_INVALID_ARGUMENT, 11),
            (LVS_UNSUPPORTED, 12),
            (LVS_KERNEL, 13),
            (LVS_IO, 14),
            (LVS_DECODE, 15),
            (LVS_NOT_ATTEMPTED, 16),
            (LVS_MIXED_FAMILY_DESTINATIONS, 17),
            (LVS_PERSISTENCE_ENGINE_NOT_FOUND, 18),
            (LVS_INCONSISTENT_READ, 19),
            (LVS_NULL_PARAMETER, 100),
            (LVS_INVALID_UTF8, 101),
            (LVS_BUFFER_TOO_SMALL, 102),
            (LVS_OUT_OF_RANGE, 103),
            (LVS_OTHER, 104),
            (LVS_PANIC, 105),
            (LVS_INVALID_JSON, 106),
            (LVS_AGAIN, 107),
            (LVS_BUSY, 108),
        ];
        assert_eq!(pinned.len(), lvs_result::ALL.len());
        for ((r, n), all) in pinned.into_iter().zip(lvs_result::ALL) {
            assert_eq!(r as u32, n, "{r:?} was renumbered");
            assert_eq!(r, all, "ALL is out of order");
            assert_eq!(lvs_result::from_u32(n), Some(r));
        }
        assert_eq!(lvs_result::from_u32(20), None);
        assert_eq!(lvs_result::from_u32(109), None);
    }

    #[test]
    fn every_kind_has_its_own_code() {
        use ErrorKind::*;
        let kinds = [
            ServiceNotFound,
            ServiceExists,
            DestinationNotFound,
            DestinationExists,
            SchedulerNotFound,
            DaemonRunning,
            DaemonNotRunning,
            NoSuchInterface,
            IpvsUnavailable,
            PermissionDenied,
            InvalidArgument,
            Unsupported,
            Kernel,
            Io,
            Decode,
            NotAttempted,
            // Added after the first release: the next free numbers.
            MixedFamilyDestinations,
            PersistenceEngineNotFound,
            InconsistentRead,
        ];
        for (i, k) in kinds.into_iter().enumerate() {
            assert_eq!(lvs_result::from_kind(k) as u32, i as u32 + 1, "{k:?}");
        }
    }

    #[test]
    fn strerror_covers_every_value() {
        for r in lvs_result::ALL {
            // SAFETY: lvs_strerror returns a static NUL-terminated string.
            let s = unsafe { CStr::from_ptr(lvs_strerror(r as u32)) };
            assert!(!s.is_empty());
        }
        // SAFETY: as above.
        let s = unsafe { CStr::from_ptr(lvs_strerror(9999)) };
        assert_eq!(s, c"unknown lvs_result");
    }

    #[test]
    fn copy_message_truncates_at_a_char_boundary() {
        let msg = "héllo";
        let mut buf = [0x55 as c_char; 8];
        let mut n = 0usize;
        // SAFETY: buf has 8 bytes; n is a valid usize.
        let r = unsafe { copy_message(msg, buf.as_mut_ptr(), 3, &mut n) };
        assert_eq!((r, n), (LVS_BUFFER_TOO_SMALL, 6));
        // "h" + NUL: the 2-byte 'é' does not fit in the 2 bytes left.
        assert_eq!(&buf[..3], &[b'h' as c_char, 0, 0x55]);
        // SAFETY: as above.
        let r = unsafe { copy_message(msg, buf.as_mut_ptr(), 7, std::ptr::null_mut()) };
        assert_eq!(r, LVS_OK);
        // SAFETY: copy_message NUL-terminated it.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(s.to_str(), Ok(msg));
        // SAFETY: NULL buffer with len 0 asks for the length only.
        let r = unsafe { copy_message(msg, std::ptr::null_mut(), 0, &mut n) };
        assert_eq!((r, n), (LVS_BUFFER_TOO_SMALL, 6));
        // SAFETY: NULL buffer with a length is refused before any write.
        let r = unsafe { copy_message(msg, std::ptr::null_mut(), 4, &mut n) };
        assert_eq!(r, LVS_NULL_PARAMETER);
    }
}
