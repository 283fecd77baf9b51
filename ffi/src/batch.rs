//! `lvs_batch`: a list of write operations applied with one call
//! (`lvs_handle_apply`), many per `sendmsg`, with one result per operation.
//!
//! Build a batch with `lvs_batch_new` and the `lvs_batch_*` adders, apply
//! it with `lvs_handle_apply`, then read each operation's outcome with
//! `lvs_batch_result` and `lvs_batch_message`. A batch can be applied
//! again (for example to another handle); each apply replaces the results.
//! Adding an operation clears them.

use std::borrow::Borrow;
use std::ffi::c_char;

use lvs::{BatchResult, Destination, Handle, OnError, Op, PendingBatch, Service, ServiceKey};

use crate::error::{Failure, Outcome, finish, lvs_result, stored_code, stored_message};
use crate::ffi::into_raw;
use crate::types::{
    DESTINATION_SIZE_V1, SERVICE_SIZE_V1, lvs_addr, lvs_destination, lvs_service, lvs_service_key,
    lvs_timeouts,
};

/// Each write operation built from its C arguments, once, for both the
/// one-shot calls (`lvs_service_add`, ... in [`crate::handle`], run with
/// `execute!`) and the batch adders here (`batch_op!`): the same checks in
/// the same order, the same messages. The arguments come checked for NULL
/// by `try_ref!` at the call site (which names them in messages).
pub(crate) mod op {
    use super::*;

    /// `make(service)`: add or update a service.
    pub(crate) fn service(
        make: fn(Service) -> Op,
        service: Outcome<impl Borrow<lvs_service>>,
    ) -> Outcome<Op> {
        Ok(make(service?.borrow().model("service")?))
    }

    /// Remove a service.
    pub(crate) fn remove_service(key: Outcome<&lvs_service_key>) -> Outcome<Op> {
        Ok(Op::RemoveService(key?.model("key")?))
    }

    /// `make(key, dest)`: add or update a destination.
    pub(crate) fn destination(
        make: fn(ServiceKey, Destination) -> Op,
        key: Outcome<&lvs_service_key>,
        dest: Outcome<impl Borrow<lvs_destination>>,
    ) -> Outcome<Op> {
        let key = key?.model("key")?;
        Ok(make(key, dest?.borrow().model("dest")?))
    }

    /// Remove the destination at `addr`.
    pub(crate) fn remove_destination(
        key: Outcome<&lvs_service_key>,
        addr: Outcome<&lvs_addr>,
    ) -> Outcome<Op> {
        let key = key?.model("key")?;
        Ok(Op::RemoveDestination(key, addr?.socket_addr("addr")?))
    }

    /// Zero one service's counters, or every service's (`None`: the key
    /// pointer was NULL).
    pub(crate) fn zero(key: Option<Outcome<&lvs_service_key>>) -> Outcome<Op> {
        Ok(Op::Zero(key.map(|k| k?.model("key")).transpose()?))
    }

    /// Set the timeouts.
    pub(crate) fn set_timeouts(timeouts: Outcome<&lvs_timeouts>) -> Outcome<Op> {
        Ok(Op::SetTimeouts(timeouts?.to_model()))
    }
}

/// Each result of a batch as `(code, message)`, stored for C to read.
pub(crate) fn stored_results(results: Vec<lvs::Result<()>>) -> Vec<(lvs_result, String)> {
    results
        .into_iter()
        .map(|r| match r {
            Ok(()) => (lvs_result::LVS_OK, String::new()),
            Err(e) => {
                let f = Failure::from(e);
                (f.code, f.message)
            }
        })
        .collect()
}

/// `Ok` when every stored result is `LVS_OK`; else the first failure's
/// code, with the message `what: N of M <noun> failed; the first, #i<label>:
/// <its message>` (`label(i)` names it, e.g. " (+ service ...)").
pub(crate) fn first_failure(
    results: &[(lvs_result, String)],
    what: &str,
    noun: &str,
    label: impl FnOnce(usize) -> String,
) -> Outcome {
    let failed = results
        .iter()
        .filter(|(c, _)| *c != lvs_result::LVS_OK)
        .count();
    match results.iter().position(|(c, _)| *c != lvs_result::LVS_OK) {
        None => Ok(()),
        Some(i) => {
            let (code, msg) = &results[i];
            Err(Failure::new(
                *code,
                format!(
                    "{what}: {failed} of {} {noun} failed; the first, #{i}{}: {msg}",
                    results.len(),
                    label(i)
                ),
            ))
        }
    }
}

/// A list of write operations and, once applied, their results. Opaque:
/// made by `lvs_batch_new`, freed by `lvs_batch_free`; used by one thread
/// at a time.
pub struct lvs_batch {
    _private: [u8; 0],
}
castable!(lvs_batch => Batch);

/// What an `lvs_batch` points to.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<Op>,
    /// One `(code, message)` per op after an apply; empty before.
    results: Vec<(lvs_result, String)>,
    /// Submitted with `lvs_handle_submit` and not finished: not to change.
    submitted: bool,
}

impl Batch {
    fn push(&mut self, op: Op) -> Outcome {
        self.not_submitted()?;
        // Refuse what the handle would refuse, now, so that a batch only
        // holds operations that can be sent.
        lvs::request::write(&mut Vec::new(), 0, 0, &op)?;
        self.ops.push(op);
        self.results.clear();
        Ok(())
    }

    /// `LVS_BUSY` while the batch is submitted.
    pub(crate) fn not_submitted(&self) -> Outcome {
        if self.submitted {
            return Err(Failure::new(
                lvs_result::LVS_BUSY,
                "the batch is submitted (lvs_handle_submit): finish it with lvs_handle_poll first",
            ));
        }
        Ok(())
    }

    /// Apply the operations with `h`; `Ok` when all succeeded, else the
    /// first failure's code with a summary.
    pub(crate) fn apply(&mut self, h: &mut Handle, on_error: OnError) -> Outcome {
        self.not_submitted()?;
        let BatchResult { results, .. } = h.apply_with(&self.ops, on_error);
        self.finish(results)
    }

    /// Submit the operations on `h` (`lvs_handle_submit`): the batch is
    /// submitted until [`Batch::finish`].
    pub(crate) fn submit(&mut self, h: &mut Handle, on_error: OnError) -> Outcome<PendingBatch> {
        self.not_submitted()?;
        self.results.clear();
        self.submitted = true;
        Ok(h.submit(self.ops.clone(), on_error))
    }

    /// Store the results of an apply or a finished submit; `Ok` when all
    /// succeeded, else the first failure's code with a summary.
    pub(crate) fn finish(&mut self, results: Vec<lvs::Result<()>>) -> Outcome {
        self.submitted = false;
        self.results = stored_results(results);
        first_failure(&self.results, "batch", "operations", |_| String::new())
    }

    fn result(&self, index: usize) -> Outcome<(lvs_result, &str)> {
        if index >= self.ops.len() {
            return Err(Failure::new(
                lvs_result::LVS_OUT_OF_RANGE,
                format!(
                    "operation index {index} is out of range: the batch has {} operations",
                    self.ops.len()
                ),
            ));
        }
        Ok(match self.results.get(index) {
            Some((code, msg)) => (*code, msg),
            None => (
                lvs_result::LVS_NOT_ATTEMPTED,
                "not attempted: the batch has not been applied since this operation was added",
            ),
        })
    }
}

/// `batch_op!(batch, body)`: add the `Outcome<Op>` of `body` to `batch`,
/// recording the outcome in the thread; evaluates to the `lvs_result`.
macro_rules! batch_op {
    ($batch:ident, $body:expr) => {{
        let op = || -> Outcome<Op> { $body };
        finish((|| try_mut!($batch)?.push(op()?))())
    }};
}

/// Create an empty batch in `*out`, which the caller frees with
/// `lvs_batch_free`.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `out` must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_new(out: *mut *mut lvs_batch) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_out!(out)?.set(into_raw::<lvs_batch>(Batch::default()));
            Ok(())
        })())
    }
}

/// Free a batch and its results. NULL is ignored.
///
/// # Safety
/// `batch` must be NULL or a batch from `lvs_batch_new`, not used after
/// this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_free(batch: *mut lvs_batch) {
    ffi_boundary! {
        drop(try_box!(batch));
    }
}

/// Remove every operation and result from `batch`, to build a new one.
///
/// Errors: `LVS_BUSY` (the batch is submitted), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `batch` must be a live batch (not NULL), used by no other thread during
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_clear(batch: *mut lvs_batch) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let b = try_mut!(batch)?;
            b.not_submitted()?;
            *b = Batch::default();
            Ok(())
        })())
    }
}

/// Number of operations in `batch`; 0 if `batch` is NULL.
///
/// # Safety
/// `batch` must be NULL or a live batch not being changed by another
/// thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_len(batch: *const lvs_batch) -> usize {
    ffi_boundary! {
        try_ref!(batch).map_or(0, |b| b.ops.len())
    }
}

/// Number of operations that were sent in the last apply and failed: those
/// whose `lvs_batch_result` is neither `LVS_OK` nor `LVS_NOT_ATTEMPTED`.
/// Operations not sent are not failures; `lvs_batch_not_attempted` counts
/// them, so `lvs_batch_len` = succeeded + `lvs_batch_failures` +
/// `lvs_batch_not_attempted`. `lvs_plan_failures` and
/// `lvs_plan_not_attempted` follow the same rule. 0 if `batch` is NULL or
/// was not applied since it last changed.
///
/// # Safety
/// As `lvs_batch_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_failures(batch: *const lvs_batch) -> usize {
    ffi_boundary! {
        try_ref!(batch).map_or(0, |b| {
            b.results.iter().filter(|(c, _)| is_failure(*c)).count()
        })
    }
}

/// Number of operations whose `lvs_batch_result` is `LVS_NOT_ATTEMPTED`:
/// not sent because an earlier one failed under `LVS_ON_ERROR_STOP`, or
/// every operation when the batch was not applied since it last changed.
/// 0 if `batch` is NULL.
///
/// # Safety
/// As `lvs_batch_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_not_attempted(batch: *const lvs_batch) -> usize {
    ffi_boundary! {
        try_ref!(batch).map_or(0, |b| {
            let attempted = b
                .results
                .iter()
                .filter(|(c, _)| *c != lvs_result::LVS_NOT_ATTEMPTED)
                .count();
            b.ops.len().saturating_sub(attempted)
        })
    }
}

/// The counting rule of `lvs_batch_failures` and `lvs_plan_failures`: an
/// operation that was sent and failed.
pub(crate) fn is_failure(code: lvs_result) -> bool {
    !matches!(code, lvs_result::LVS_OK | lvs_result::LVS_NOT_ATTEMPTED)
}

/// Queue "add service" (`IPVS_CMD_NEW_SERVICE`). The operation is checked
/// now as `lvs_service_add` would check it: an invalid one is refused with
/// `LVS_INVALID_ARGUMENT` (and not queued). Errors also
/// `LVS_NULL_PARAMETER`. The message of a refusal is the thread's last
/// error.
///
/// # Safety
/// `batch`: a live batch (not NULL), used by no other thread during the
/// call. `service`: valid for reading one `lvs_service` (not NULL); copied,
/// not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_add_service(
    batch: *mut lvs_batch,
    service: *const lvs_service,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_batch_add_service_sized(batch, service, SERVICE_SIZE_V1) }
    }
}

/// Queue "update service" (`IPVS_CMD_SET_SERVICE`). Checks, errors and
/// safety as `lvs_batch_add_service`.
///
/// # Safety
/// As `lvs_batch_add_service`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_update_service(
    batch: *mut lvs_batch,
    service: *const lvs_service,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_batch_update_service_sized(batch, service, SERVICE_SIZE_V1) }
    }
}

/// Queue "remove service" (`IPVS_CMD_DEL_SERVICE`). Checks and errors as
/// `lvs_batch_add_service`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`. `key`: valid for reading one
/// `lvs_service_key` (not NULL); copied, not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_remove_service(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::remove_service(try_ref!(key)))
    }
}

/// Queue "add destination `dest` to service `key`" (`IPVS_CMD_NEW_DEST`).
/// Checks and errors as `lvs_batch_add_service`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`. `key`: valid for reading one
/// `lvs_service_key`; `dest`: valid for reading one `lvs_destination`
/// (neither NULL; both copied, not kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_add_destination(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_batch_add_destination_sized(batch, key, dest, DESTINATION_SIZE_V1) }
    }
}

/// Queue "update destination" (`IPVS_CMD_SET_DEST`). Checks and errors as
/// `lvs_batch_add_service`.
///
/// # Safety
/// As `lvs_batch_add_destination`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_update_destination(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layout.
        unsafe { lvs_batch_update_destination_sized(batch, key, dest, DESTINATION_SIZE_V1) }
    }
}

/// Queue "remove the destination at `addr` from service `key`"
/// (`IPVS_CMD_DEL_DEST`). Checks and errors as `lvs_batch_add_service`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`. `key`: valid for reading one
/// `lvs_service_key`; `addr`: valid for reading one `lvs_addr` (neither
/// NULL; both copied, not kept).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_remove_destination(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
    addr: *const lvs_addr,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::remove_destination(try_ref!(key), try_ref!(addr)))
    }
}

/// Queue "zero the counters" of service `key`, or of everything when `key`
/// is NULL (`IPVS_CMD_ZERO`). Checks and errors as
/// `lvs_batch_add_service`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`. `key`: NULL, or valid for
/// reading one `lvs_service_key`; copied, not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_zero(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::zero((!key.is_null()).then(|| try_ref!(key))))
    }
}

/// Queue "remove every service" (`IPVS_CMD_FLUSH`). Errors:
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_flush(batch: *mut lvs_batch) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, Ok(Op::Flush))
    }
}

/// Queue "set timeouts" (`IPVS_CMD_SET_CONFIG`; 0 fields unchanged).
/// Checks and errors as `lvs_batch_add_service`.
///
/// # Safety
/// `batch` as for `lvs_batch_add_service`. `timeouts`: valid for reading
/// one `lvs_timeouts` (not NULL); copied, not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_set_timeouts(
    batch: *mut lvs_batch,
    timeouts: *const lvs_timeouts,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::set_timeouts(try_ref!(timeouts)))
    }
}

/// The result of operation `index` (0-based, in the order added) in the
/// batch's last apply: `LVS_OK`, the operation's error code, or
/// `LVS_NOT_ATTEMPTED` when it was not sent (an earlier one failed under
/// `LVS_ON_ERROR_STOP`, or the batch was not applied since it changed).
/// `LVS_OUT_OF_RANGE` when `index` is not below `lvs_batch_len`,
/// `LVS_NULL_PARAMETER` when `batch` is NULL. Changes no last error.
///
/// # Safety
/// `batch` must be a live batch (not NULL) not being changed by another
/// thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_result(batch: *const lvs_batch, index: usize) -> lvs_result {
    ffi_boundary! {
        stored_code(try_ref!(batch).and_then(|b| b.result(index)))
    }
}

/// Copy the full error message of operation `index` in the batch's last
/// apply ("" if it succeeded) into `buf`, NUL-terminated. Returns `LVS_OK`,
/// `LVS_BUFFER_TOO_SMALL` (buffer rules as `lvs_last_error`),
/// `LVS_OUT_OF_RANGE` or `LVS_NULL_PARAMETER`. Changes no last error.
///
/// # Safety
/// `batch` as for `lvs_batch_result`. `buf` may be NULL only when `len` is
/// 0; otherwise it must be valid for writes of `len` bytes. `out_len` may
/// be NULL; if not, it receives the message's length without the NUL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_message(
    batch: *const lvs_batch,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let item = try_ref!(batch).and_then(|b| b.result(index));
        // SAFETY: forwarded from this function's contract.
        unsafe { stored_message(item, buf, len, out_len) }
    }
}

/// `lvs_batch_add_service` for a struct of `service_size` bytes (pass
/// `sizeof *service`): the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_batch_add_service`, with `service` valid for reading
/// `service_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_add_service_sized(
    batch: *mut lvs_batch,
    service: *const lvs_service,
    service_size: usize,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::service(Op::AddService, try_sized!(service, service_size)))
    }
}

/// `lvs_batch_update_service` for a struct of `service_size` bytes, as
/// `lvs_batch_add_service_sized`.
///
/// # Safety
/// As `lvs_batch_add_service_sized`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_update_service_sized(
    batch: *mut lvs_batch,
    service: *const lvs_service,
    service_size: usize,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::service(Op::UpdateService, try_sized!(service, service_size)))
    }
}

/// `lvs_batch_add_destination` for a struct of `dest_size` bytes (pass
/// `sizeof *dest`): the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_batch_add_destination`, with `dest` valid for reading
/// `dest_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_add_destination_sized(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::destination(Op::AddDestination, try_ref!(key), try_sized!(dest, dest_size)))
    }
}

/// `lvs_batch_update_destination` for a struct of `dest_size` bytes, as
/// `lvs_batch_add_destination_sized`.
///
/// # Safety
/// As `lvs_batch_add_destination_sized`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_batch_update_destination_sized(
    batch: *mut lvs_batch,
    key: *const lvs_service_key,
    dest: *const lvs_destination,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        batch_op!(batch, op::destination(Op::UpdateDestination, try_ref!(key), try_sized!(dest, dest_size)))
    }
}
