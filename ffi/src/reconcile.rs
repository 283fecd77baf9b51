//! The declarative reconciler: say which services and destinations should
//! exist, and a pass makes the kernel match with the fewest changes,
//! draining destinations instead of cutting their connections.
//!
//! | C | Rust |
//! |---|---|
//! | `lvs_desired` (built from `lvs_service` / `lvs_destination`, or loaded from JSON) | `lvs::reconcile::DesiredState` |
//! | `lvs_policy` (scope, drain modes, drain timeout, service removal, incremental passes) | `lvs::reconcile::Policy` |
//! | `lvs_reconciler` (a policy and the start times of drains in progress) | `lvs::reconcile::Reconciler` |
//! | `lvs_reconciler_reconcile`, `lvs_reconciler_plan` (dry run) | `Reconciler::reconcile`, `Reconciler::plan` |
//! | `lvs_plan` (the changes, one result per change, the plan as text) | `lvs::reconcile::Plan` with `Report::results` |
//!
//! An `lvs_reconciler` is a Rust `Reconciler`, which borrows a kernel for
//! each pass: C passes its handle to each pass, keeps it for reads between
//! passes, and finds a pass's error in that handle's last error. The pass
//! itself is `Reconciler::reconcile` (or `Reconciler::plan`), called as
//! is: one copy of the logic for both languages.

use std::ffi::c_char;
use std::time::Duration;

use lvs::reconcile::{
    Change, DesiredService, DesiredState, DrainMode, Plan, Policy, Reconciler, RemoveReason,
    Report, Scope, ServiceRemoval, UpdateReason,
};

use crate::batch::{first_failure, stored_results};
use crate::error::{Failure, Outcome, finish, lvs_result, stored_code, stored_message};
use crate::ffi::into_raw;
use crate::handle::lvs_handle;
use crate::types::{
    DESTINATION_SIZE_V1, SERVICE_SIZE_V1, format_out, lvs_conn_counts, lvs_destination,
    lvs_service, lvs_service_key,
};

// ----- desired state ------------------------------------------------------------

/// The services and destinations a reconciler should make exist. Opaque:
/// made by `lvs_desired_new` or `lvs_desired_from_json`, freed by
/// `lvs_desired_free`. Only read by a reconcile pass (never kept), so one
/// desired state can serve many passes and reconcilers; used by one thread
/// at a time while it is being changed.
pub struct lvs_desired {
    _private: [u8; 0],
}
castable!(lvs_desired => DesiredState);

fn json_text(json: &[u8]) -> Outcome<&str> {
    std::str::from_utf8(json).map_err(|e| {
        Failure::new(
            lvs_result::LVS_INVALID_UTF8,
            format!("argument `json` is not valid UTF-8 ({e})"),
        )
    })
}

fn json_failure(what: &str, e: &serde_json::Error) -> Failure {
    Failure::new(lvs_result::LVS_INVALID_JSON, format!("{what}: {e}"))
}

/// Create an empty desired state in `*out`, which the caller frees with
/// `lvs_desired_free`. Reconciling an empty desired state removes every
/// service in the policy's scope.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `out` must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_new(out: *mut *mut lvs_desired) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_out!(out)?.set(into_raw::<lvs_desired>(DesiredState::new()));
            Ok(())
        })())
    }
}

/// Add a service with its `dests_len` destinations to `desired`. Order
/// matters only for a service created from scratch: the kernel then lists
/// its destinations in this order.
///
/// Everything is checked now, as the handle would check it before sending:
/// the service, each destination against the service (e.g. a family that
/// differs from the service's needs tunnel forwarding), no address twice,
/// and no service key already in `desired`. On any error nothing is added.
/// Whether the service lies in a policy's scope is checked by each pass.
///
/// Errors: `LVS_INVALID_ARGUMENT` (naming `service` or `dests[i]`),
/// `LVS_INVALID_UTF8` (a name), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `desired`: a live desired state (not NULL), used by no other thread
/// during the call. `service`: valid for reading one `lvs_service` (not
/// NULL). `dests`: valid for reading `dests_len` `lvs_destination`s; NULL
/// only when `dests_len` is 0. All are copied, none is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_add_service(
    desired: *mut lvs_desired,
    service: *const lvs_service,
    dests: *const lvs_destination,
    dests_len: usize,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layouts.
        unsafe {
            lvs_desired_add_service_sized(
                desired,
                service,
                SERVICE_SIZE_V1,
                dests,
                dests_len,
                DESTINATION_SIZE_V1,
            )
        }
    }
}

/// `lvs_desired_add_service` with the size of `*service` and of each
/// element of `dests` (pass `sizeof *service` and `sizeof dests[0]`): the
/// growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_desired_add_service`, with `service` valid for reading
/// `service_size` bytes and `dests` for `dests_len * dest_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_add_service_sized(
    desired: *mut lvs_desired,
    service: *const lvs_service,
    service_size: usize,
    dests: *const lvs_destination,
    dests_len: usize,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let state = try_mut!(desired)?;
            // SAFETY: forwarded from this function's contract.
            let new = unsafe { checked_service(service, service_size, dests, dests_len, dest_size) }?;
            if state.get(&new.service.key).is_some() {
                return Err(Failure::invalid(
                    "service",
                    format_args!("service {} is already in the desired state", new.service.key),
                ));
            }
            state.services.push(new);
            Ok(())
        })())
    }
}

/// One service with its destinations, read from a caller's structs and
/// checked as `lvs_desired_add_service` documents (as a desired state of
/// its own).
///
/// # Safety
/// As `lvs_desired_add_service_sized`'s `service` and `dests`.
unsafe fn checked_service(
    service: *const lvs_service,
    service_size: usize,
    dests: *const lvs_destination,
    dests_len: usize,
    dest_size: usize,
) -> Outcome<DesiredService> {
    let svc = try_sized!(service, service_size)?.model("service")?;
    let models = try_sized_slice!(dests, dests_len, dest_size)?
        .iter()
        .enumerate()
        .map(|(i, d)| d.model(&format!("dests[{i}]")))
        .collect::<Outcome<Vec<_>>>()?;
    let mut one = DesiredState::new().with_service(svc, models);
    one.validate(&Scope::All)?;
    Ok(one.services.pop().expect("with_service added one service"))
}

/// Replace the service with `service`'s key in `desired`, destinations
/// included, by `service` with `dests`, in the same place (a pass lists
/// services in that order). Checked as `lvs_desired_add_service` checks;
/// on any error `desired` is unchanged. Errors: `LVS_SERVICE_NOT_FOUND`
/// (no service with that key: add it instead), `LVS_INVALID_ARGUMENT`,
/// `LVS_INVALID_UTF8`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// As `lvs_desired_add_service`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_replace_service(
    desired: *mut lvs_desired,
    service: *const lvs_service,
    dests: *const lvs_destination,
    dests_len: usize,
) -> lvs_result {
    ffi_boundary! {
        // SAFETY: forwarded from this function's contract; the first layouts.
        unsafe {
            lvs_desired_replace_service_sized(
                desired,
                service,
                SERVICE_SIZE_V1,
                dests,
                dests_len,
                DESTINATION_SIZE_V1,
            )
        }
    }
}

/// `lvs_desired_replace_service` with the size of `*service` and of each
/// element of `dests`: the growth rule of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_desired_add_service_sized`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_replace_service_sized(
    desired: *mut lvs_desired,
    service: *const lvs_service,
    service_size: usize,
    dests: *const lvs_destination,
    dests_len: usize,
    dest_size: usize,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let state = try_mut!(desired)?;
            // SAFETY: forwarded from this function's contract.
            let new = unsafe { checked_service(service, service_size, dests, dests_len, dest_size) }?;
            let Some(slot) = state.services.iter_mut().find(|s| s.service.key == new.service.key)
            else {
                return Err(Failure::new(
                    lvs_result::LVS_SERVICE_NOT_FOUND,
                    format!("replace {} in the desired state: not in it", new.service.key),
                ));
            };
            *slot = new;
            Ok(())
        })())
    }
}

/// Load a desired state from `len` bytes of JSON (no NUL needed) into a
/// new `*out`, which the caller frees with `lvs_desired_free`; on failure
/// `*out` is NULL. The format is the serde form of the Rust crate's
/// `lvs::reconcile::DesiredState`, for example:
///
/// ```json
/// { "services": [
///     { "key": { "addr": { "protocol": "tcp", "addr": "10.0.0.1:80" } },
///       "scheduler": "rr",
///       "destinations": [ { "addr": "192.168.1.2:8080", "weight": 3 },
///                         { "addr": "192.168.1.3:8080",
///                           "forwarding": "directroute" } ] },
///     { "key": { "fwmark": { "family": "inet", "mark": 7 } },
///       "persistence": { "timeout": 300,
///                        "netmask": { "v4": "255.255.255.0" } } } ] }
/// ```
///
/// Omitted fields take the defaults (scheduler `wlc`, no persistence, NAT
/// forwarding, weight 1, no thresholds), except `"services"`, which must
/// be there (`[]` for an empty state, which removes every service in
/// scope). An unknown or misspelt field anywhere is `LVS_INVALID_JSON`,
/// never a silent default. The result is checked as
/// `lvs_desired_add_service` checks each service.
///
/// Errors: `LVS_INVALID_JSON` (malformed JSON or a value of the wrong
/// shape: the thread's last error, `lvs_last_error`, has serde's message
/// with line and column), `LVS_INVALID_ARGUMENT` (well-formed but invalid,
/// e.g. a weight above 2147483647 or a service listed twice),
/// `LVS_INVALID_UTF8`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `json` must be valid for reading `len` bytes; it may be NULL only when
/// `len` is 0 (empty input, which is not JSON). It is not kept. `out`
/// must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut lvs_desired,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let mut out = try_out!(out)?;
            out.set(std::ptr::null_mut());
            let text = json_text(try_bytes!(json, len)?)?;
            let state: DesiredState = serde_json::from_str(text)
                .map_err(|e| json_failure("desired state JSON", &e))?;
            state.validate(&Scope::All)?;
            out.set(into_raw::<lvs_desired>(state));
            Ok(())
        })())
    }
}

/// Number of services in `desired`; 0 if `desired` is NULL.
///
/// # Safety
/// `desired` must be NULL or a live desired state not being changed by
/// another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_len(desired: *const lvs_desired) -> usize {
    ffi_boundary! {
        try_ref!(desired).map_or(0, |d| d.len())
    }
}

/// The key of service `index` of `desired` (in the order added) into
/// `*out`, to iterate: `LVS_OUT_OF_RANGE` when `index` is not below
/// `lvs_desired_len`. The whole service with its destinations is in
/// `lvs_desired_to_json`.
///
/// Errors: `LVS_OUT_OF_RANGE`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `desired`: a live desired state (not NULL) not being changed by
/// another thread. `out`: valid for writing one `lvs_service_key` (not
/// NULL); left unchanged on failure.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_key(
    desired: *const lvs_desired,
    index: usize,
    out: *mut lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let d = try_ref!(desired)?;
            let Some(svc) = d.services.get(index) else {
                return Err(Failure::new(
                    lvs_result::LVS_OUT_OF_RANGE,
                    format!("service index {index} is out of range: the desired state has {} services", d.len()),
                ));
            };
            let key = lvs_service_key::from_model(&svc.service.key)?;
            try_out!(out)?.set(key);
            Ok(())
        })())
    }
}

/// Remove the service `key` (with its destinations) from `desired` (to
/// change one, see `lvs_desired_replace_service`). Errors:
/// `LVS_SERVICE_NOT_FOUND` (no such service in `desired`),
/// `LVS_INVALID_ARGUMENT` (an invalid key), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `desired`: a live desired state (not NULL), used by no other thread
/// during the call. `key`: valid for reading one `lvs_service_key` (not
/// NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_remove_service(
    desired: *mut lvs_desired,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let d = try_mut!(desired)?;
            let key = try_ref!(key)?.model("key")?;
            let before = d.services.len();
            d.services.retain(|s| s.service.key != key);
            if d.services.len() == before {
                return Err(Failure::new(
                    lvs_result::LVS_SERVICE_NOT_FOUND,
                    format!("remove {key} from the desired state: not in it"),
                ));
            }
            Ok(())
        })())
    }
}

/// Write `desired` as JSON (the form `lvs_desired_from_json` reads, which
/// reads it back to an equal state) into `buf`, NUL-terminated. Returns
/// `LVS_OK`, `LVS_BUFFER_TOO_SMALL` (as much as fits is written; `out_len`
/// gives the length needed: call with `len` 0 to learn it) or
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `desired`: a live desired state (not NULL) not being changed by
/// another thread. `buf` and `out_len` as for `lvs_plan_text`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_to_json(
    desired: *const lvs_desired,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(desired).and_then(|d| to_json(serde_json::to_string(d), "desired state")) {
            Ok(t) => t,
            Err(e) => return finish(Err(e)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// A value written as JSON, or why it could not be.
fn to_json(json: serde_json::Result<String>, what: &str) -> Outcome<String> {
    json.map_err(|e| Failure::new(lvs_result::LVS_OTHER, format!("{what} as JSON: {e}")))
}

/// Free a desired state. NULL is ignored.
///
/// # Safety
/// `desired` must be NULL or a desired state from `lvs_desired_new` or
/// `lvs_desired_from_json`, not used after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_desired_free(desired: *mut lvs_desired) {
    ffi_boundary! {
        drop(try_box!(desired));
    }
}

// ----- policy ---------------------------------------------------------------------

/// What a reconciler owns (its scope) and how destinations and services
/// leave (drain modes, drain timeout, service removal). Opaque: made by
/// `lvs_policy_new` or `lvs_policy_from_json`, changed by the
/// `lvs_policy_*` setters, copied by `lvs_reconciler_new` and
/// `lvs_reconciler_set_policy` (so it can be freed right after), freed by
/// `lvs_policy_free`.
pub struct lvs_policy {
    _private: [u8; 0],
}
castable!(lvs_policy => Policy);

/// `lvs_policy_set_drain_mode`: a leaving destination is set to weight 0
/// (no new connections) and removed once it has no active and no inactive
/// connections, or at the drain timeout.
pub const LVS_DRAIN_GRACEFUL: u32 = 0;
/// `lvs_policy_set_drain_mode`: a leaving destination is removed at once;
/// its connections stop working (set the sysctl
/// `net.ipv4.vs.expire_nodest_conn=1` so that their next packet is
/// rescheduled rather than dropped).
pub const LVS_DRAIN_IMMEDIATE: u32 = 1;

/// `lvs_policy_set_drain_mode` class: destinations of TCP services
/// (default graceful).
pub const LVS_DRAIN_TCP: u32 = 1 << 0;
/// Class: destinations of UDP services (default immediate: UDP
/// "connections" are only timers and would hold a drain for minutes).
pub const LVS_DRAIN_UDP: u32 = 1 << 1;
/// Class: destinations of SCTP services (default immediate).
pub const LVS_DRAIN_SCTP: u32 = 1 << 2;
/// Class: destinations of firewall-mark services (default graceful).
pub const LVS_DRAIN_FWMARK: u32 = 1 << 3;
/// Class: destinations of address services of other protocols, e.g. ESP
/// (default graceful).
pub const LVS_DRAIN_OTHER: u32 = 1 << 4;
/// Every class: `LVS_DRAIN_TCP | LVS_DRAIN_UDP | LVS_DRAIN_SCTP |
/// LVS_DRAIN_FWMARK | LVS_DRAIN_OTHER`.
pub const LVS_DRAIN_ALL: u32 = 0x1f;
const _: () = assert!(
    LVS_DRAIN_ALL
        == LVS_DRAIN_TCP | LVS_DRAIN_UDP | LVS_DRAIN_SCTP | LVS_DRAIN_FWMARK | LVS_DRAIN_OTHER
);

/// `lvs_policy_set_service_removal`: a service leaving the desired state
/// is removed at once with its destinations (the default, as kube-proxy).
pub const LVS_SERVICE_REMOVAL_IMMEDIATE: u32 = 0;
/// `lvs_policy_set_service_removal`: a service leaving the desired state
/// stays while each of its destinations drains as the drain mode says,
/// and goes once it has none left.
pub const LVS_SERVICE_REMOVAL_DRAIN: u32 = 1;

/// Create a policy with the defaults in `*out`, which the caller frees
/// with `lvs_policy_free`: the scope is every service of the namespace
/// (services missing from the desired state are removed, whoever made
/// them), destinations of TCP, firewall-mark and other services drain
/// gracefully and those of UDP and SCTP services go at once, the drain
/// timeout is 900 s, leaving services are removed at once, and every pass
/// reads the whole table (not incremental; verification period 60 s once
/// made incremental).
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `out` must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_new(out: *mut *mut lvs_policy) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_out!(out)?.set(into_raw::<lvs_policy>(Policy::default()));
            Ok(())
        })())
    }
}

/// Load a policy from `len` bytes of JSON into a new `*out`, which the
/// caller frees with `lvs_policy_free`; on failure `*out` is NULL. The
/// format is the serde form of the Rust crate's `lvs::reconcile::Policy`;
/// `scope` is required (`"scope": "all"` owns every service; a missing
/// scope is `LVS_INVALID_JSON`, never "everything" by accident); other
/// omitted fields keep the defaults of `lvs_policy_new`; an unknown or
/// misspelt field is `LVS_INVALID_JSON`. The drain timeout and the
/// verification period are whole seconds (`60`) or a string with a unit
/// (`"999ms"`, `"1.5s"`, `"2m"`); `"none"`/`null` is no drain timeout.
/// For example:
///
/// ```json
/// { "scope": { "any": [ { "prefixes": ["10.96.0.0/12"] },
///                       { "fwmarks": { "start": 1000, "end": 1999 } } ] },
///   "drain": { "udp": "graceful", "timeout": 60, "services": "drain" },
///   "incremental": true, "verify_period": 30 }
/// ```
///
/// Errors and safety as `lvs_desired_from_json` (without the
/// `LVS_INVALID_ARGUMENT` case).
///
/// # Safety
/// As `lvs_desired_from_json`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut lvs_policy,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let mut out = try_out!(out)?;
            out.set(std::ptr::null_mut());
            let text = json_text(try_bytes!(json, len)?)?;
            let policy: Policy =
                serde_json::from_str(text).map_err(|e| json_failure("policy JSON", &e))?;
            out.set(into_raw::<lvs_policy>(policy));
            Ok(())
        })())
    }
}

/// Widen the scope by `part`; a scope of every service becomes just
/// `part`.
fn add_scope(policy: &mut Policy, part: Scope) {
    policy.scope = match std::mem::take(&mut policy.scope) {
        Scope::All => part,
        other => other.or(part),
    };
}

/// Add the address services (TCP, UDP, SCTP, ...; never firewall-mark
/// services) whose virtual address lies in `prefix` to the policy's scope,
/// e.g. "10.96.0.0/12" or "2001:db8::/64". The scope of a new policy is
/// every service; the first `lvs_policy_scope_add_*` call narrows it to
/// what was added, and later ones widen it again. Services outside the
/// scope are never touched; a desired service outside it fails the pass.
///
/// Errors: `LVS_INVALID_ARGUMENT` (not an address with a prefix length),
/// `LVS_INVALID_UTF8`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call. `prefix`: a NUL-terminated string (not NULL), not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_scope_add_prefix(
    policy: *mut lvs_policy,
    prefix: *const c_char,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let policy = try_mut!(policy)?;
            let text = try_utf8!(prefix)?;
            let net: ipnet::IpNet = text.parse().map_err(|_| {
                Failure::invalid(
                    "prefix",
                    format_args!(
                        "{text:?} is not an address with a prefix length \
                         (\"10.96.0.0/12\", \"2001:db8::/64\")"
                    ),
                )
            })?;
            add_scope(policy, Scope::prefixes([net]));
            Ok(())
        })())
    }
}

/// Add the firewall-mark services (either family) with a mark from
/// `first` to `last` inclusive to the policy's scope (narrowing a scope of
/// every service, as `lvs_policy_scope_add_prefix` says).
///
/// Errors: `LVS_INVALID_ARGUMENT` (`first` above `last`),
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_scope_add_fwmarks(
    policy: *mut lvs_policy,
    first: u32,
    last: u32,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let policy = try_mut!(policy)?;
            if first > last {
                return Err(Failure::invalid(
                    "fwmark range",
                    format_args!("first ({first}) is above last ({last})"),
                ));
            }
            add_scope(policy, Scope::Fwmarks(first..=last));
            Ok(())
        })())
    }
}

/// Add exactly the service `key` to the policy's scope (narrowing a scope
/// of every service, as `lvs_policy_scope_add_prefix` says).
///
/// Errors: `LVS_INVALID_ARGUMENT`, `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call. `key`: valid for reading one `lvs_service_key` (not NULL); copied,
/// not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_scope_add_service(
    policy: *mut lvs_policy,
    key: *const lvs_service_key,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let policy = try_mut!(policy)?;
            let key = try_ref!(key)?.model("key")?;
            key.validate().map_err(Failure::from)?;
            add_scope(policy, Scope::services([key]));
            Ok(())
        })())
    }
}

/// Set how destinations leave, for the services of the classes in
/// `classes` (`LVS_DRAIN_TCP | LVS_DRAIN_UDP | ...`, or `LVS_DRAIN_ALL`):
/// `mode` is `LVS_DRAIN_GRACEFUL` or `LVS_DRAIN_IMMEDIATE`. Other classes
/// keep their mode.
///
/// Graceful draining sets weight 0, which stops new connections with
/// every scheduler except `sh` and `mh` without their fallback flag; a
/// destination whose forwarding method this library cannot write back is
/// removed at once. Connections count as the kernel reports them (active +
/// inactive): closed TCP connections stay inactive for about 2 minutes.
///
/// Errors: `LVS_INVALID_ARGUMENT` (`classes` 0 or with unknown bits, or an
/// unknown `mode`; nothing is changed), `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_set_drain_mode(
    policy: *mut lvs_policy,
    classes: u32,
    mode: u32,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let policy = try_mut!(policy)?;
            if classes == 0 || classes & !LVS_DRAIN_ALL != 0 {
                return Err(Failure::invalid(
                    "classes",
                    format_args!(
                        "{classes:#x} is not a non-empty set of LVS_DRAIN_TCP, LVS_DRAIN_UDP, \
                         LVS_DRAIN_SCTP, LVS_DRAIN_FWMARK and LVS_DRAIN_OTHER"
                    ),
                ));
            }
            let mode = match mode {
                LVS_DRAIN_GRACEFUL => DrainMode::Graceful,
                LVS_DRAIN_IMMEDIATE => DrainMode::Immediate,
                n => {
                    return Err(Failure::invalid(
                        "mode",
                        format_args!(
                            "must be LVS_DRAIN_GRACEFUL (0) or LVS_DRAIN_IMMEDIATE (1), got {n}"
                        ),
                    ));
                }
            };
            let d = &mut policy.drain;
            for (bit, slot) in [
                (LVS_DRAIN_TCP, &mut d.tcp),
                (LVS_DRAIN_UDP, &mut d.udp),
                (LVS_DRAIN_SCTP, &mut d.sctp),
                (LVS_DRAIN_FWMARK, &mut d.fwmark),
                (LVS_DRAIN_OTHER, &mut d.other),
            ] {
                if classes & bit != 0 {
                    *slot = mode;
                }
            }
            Ok(())
        })())
    }
}

/// Set the drain timeout in milliseconds: a draining destination is
/// removed this long after its drain started even if it still has
/// connections. 0 means no timeout (wait for the connections however long
/// they live). The default is 900000 (900 s, IPVS's idle timeout of an
/// established TCP connection). A reconciler restarted from scratch starts
/// the timeout of a drain it finds at first sight.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_set_drain_timeout(
    policy: *mut lvs_policy,
    timeout_ms: u64,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_mut!(policy)?.drain.timeout =
                (timeout_ms != 0).then(|| Duration::from_millis(timeout_ms));
            Ok(())
        })())
    }
}

/// Set what happens to a service leaving the desired state:
/// `LVS_SERVICE_REMOVAL_IMMEDIATE` (the default) or
/// `LVS_SERVICE_REMOVAL_DRAIN`.
///
/// Errors: `LVS_INVALID_ARGUMENT` (another value; nothing is changed),
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_set_service_removal(
    policy: *mut lvs_policy,
    removal: u32,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let policy = try_mut!(policy)?;
            policy.drain.services = match removal {
                LVS_SERVICE_REMOVAL_IMMEDIATE => ServiceRemoval::Immediate,
                LVS_SERVICE_REMOVAL_DRAIN => ServiceRemoval::Drain,
                n => {
                    return Err(Failure::invalid(
                        "removal",
                        format_args!(
                            "must be LVS_SERVICE_REMOVAL_IMMEDIATE (0) or \
                             LVS_SERVICE_REMOVAL_DRAIN (1), got {n}"
                        ),
                    ));
                }
            };
            Ok(())
        })())
    }
}

/// Make passes incremental (`enabled` true) or not (false, the default).
/// An incremental pass plans against the reconciler's kept view of the
/// table (the last whole-table read plus what its own passes changed)
/// instead of reading the whole table: it reads only the destinations of
/// the services whose desired state differs from the view, of those with
/// draining destinations, and of a rotating slice that verifies the whole
/// table within the verification period (`lvs_policy_set_verify_period`).
///
/// What this gives up: a change made by another client (ipvsadm,
/// keepalived, a crashed earlier run) is found and repaired within the
/// verification period (plus one pass interval), not at the next pass. A
/// failed change that contradicts the view, the first pass, a pass after
/// `lvs_reconciler_request_full_pass` and every dry run read the whole
/// table.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_set_incremental(
    policy: *mut lvs_policy,
    enabled: bool,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_mut!(policy)?.incremental = enabled;
            Ok(())
        })())
    }
}

/// Set the verification period of incremental passes in milliseconds:
/// each pass compares a slice of the table with the kernel, sized so that
/// the whole table is compared within this period (default 60000). 0 makes
/// every pass read the whole table.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `policy`: a live policy (not NULL), used by no other thread during the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_set_verify_period(
    policy: *mut lvs_policy,
    period_ms: u64,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_mut!(policy)?.verify_period = Duration::from_millis(period_ms);
            Ok(())
        })())
    }
}

/// Write `policy` as JSON (the form `lvs_policy_from_json` reads) into
/// `buf`, NUL-terminated: read a policy back. Buffer rules and errors as
/// `lvs_desired_to_json`.
///
/// # Safety
/// `policy`: a live policy (not NULL) not being changed by another thread.
/// `buf` and `out_len` as for `lvs_plan_text`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_to_json(
    policy: *const lvs_policy,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(policy).and_then(|p| to_json(serde_json::to_string(p), "policy")) {
            Ok(t) => t,
            Err(e) => return finish(Err(e)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// Free a policy. NULL is ignored. Reconcilers made from it keep their
/// copy.
///
/// # Safety
/// `policy` must be NULL or a policy from `lvs_policy_new` or
/// `lvs_policy_from_json`, not used after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_policy_free(policy: *mut lvs_policy) {
    ffi_boundary! {
        drop(try_box!(policy));
    }
}

// ----- reconciler -------------------------------------------------------------------

/// A reconciler (the Rust `lvs::reconcile::Reconciler`): a copy of a
/// policy and the start times of the drains in progress (the only state
/// that cannot live in the kernel). Opaque: made
/// by `lvs_reconciler_new`, freed by `lvs_reconciler_free`; used by one
/// thread at a time.
///
/// It holds no handle: each pass (`lvs_reconciler_reconcile`, or the dry
/// run `lvs_reconciler_plan`) takes one, which stays the caller's. Give
/// one reconciler handles of one network namespace; a reconciler
/// restarted from scratch finds unfinished drains in the kernel (weight 0,
/// not desired) and finishes them.
pub struct lvs_reconciler {
    _private: [u8; 0],
}

castable!(lvs_reconciler => Reconciler);

/// Create a reconciler in `*out` with a copy of `policy` (which the caller
/// still owns and may free at once). The caller frees the reconciler with
/// `lvs_reconciler_free`.
///
/// Errors: `LVS_NULL_PARAMETER` (`policy` is required: the default scope
/// is every service of the namespace, and removing services nobody meant
/// to manage should take an explicit policy).
///
/// # Safety
/// `policy`: a live policy (not NULL), not being changed by another thread;
/// not kept. `out` must be valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_new(
    policy: *const lvs_policy,
    out: *mut *mut lvs_reconciler,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let mut out = try_out!(out)?;
            out.set(std::ptr::null_mut());
            let policy = try_ref!(policy)?.clone();
            out.set(into_raw::<lvs_reconciler>(Reconciler::new(policy)));
            Ok(())
        })())
    }
}

/// Replace the reconciler's policy with a copy of `policy`; drains in
/// progress keep their start times.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `reconciler`: a live reconciler (not NULL), used by no other thread
/// during the call. `policy`: a live policy (not NULL), not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_set_policy(
    reconciler: *mut lvs_reconciler,
    policy: *const lvs_policy,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let r = try_mut!(reconciler)?;
            r.set_policy(try_ref!(policy)?.clone());
            Ok(())
        })())
    }
}

/// Make the reconciler's next pass read the whole table (and, when
/// incremental, rebuild its view from it): after changing the table by
/// other means, or to repair changes of other clients now rather than
/// within the verification period.
///
/// Errors: `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `reconciler`: a live reconciler (not NULL), used by no other thread
/// during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_request_full_pass(
    reconciler: *mut lvs_reconciler,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            try_mut!(reconciler)?.request_full_pass();
            Ok(())
        })())
    }
}

/// Free a reconciler. NULL is ignored. Nothing in the kernel changes.
///
/// # Safety
/// `reconciler` must be NULL or a reconciler from `lvs_reconciler_new`,
/// not used after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_free(reconciler: *mut lvs_reconciler) {
    ffi_boundary! {
        drop(try_box!(reconciler));
    }
}

/// What an `lvs_plan` points to: the plan and, after a reconcile, one
/// `(code, message)` per change.
pub(crate) struct PlanState {
    plan: Plan,
    results: Option<Vec<(lvs_result, String)>>,
    /// Whole-table reads the pass made (1, or 0 when incremental).
    reads: usize,
}

/// What a pass did (`lvs_reconciler_reconcile`) or would do
/// (`lvs_reconciler_plan`): the changes in the order sent, one result per
/// change, the destinations still draining, and the plan as text. Opaque:
/// freed by `lvs_plan_free`; read-only, so several threads may read one.
pub struct lvs_plan {
    _private: [u8; 0],
}
castable!(lvs_plan => PlanState);

/// `pass!(reconciler, handle, desired, out, |r, h, d| body)`: the shared
/// argument handling of the two passes, on the handle (whose last error
/// records the outcome). `body` gives `Outcome<(PlanState, Outcome)>`:
/// the plan stored in `*out`, and the pass's own outcome.
macro_rules! pass {
    ($reconciler:ident, $handle:ident, $desired:ident, $out:ident, |$r:ident, $h:ident, $d:ident| $body:expr) => {{
        // NULL in `*out` first, even if `handle` turns out to be NULL.
        if let Ok(mut out) = try_out!($out) {
            out.set(std::ptr::null_mut());
        }
        on_handle!($handle, |$h| {
            let mut out = try_out!($out)?;
            out.set(std::ptr::null_mut());
            let $r: &mut Reconciler = try_mut!($reconciler)?;
            let $d: &DesiredState = try_ref!($desired)?;
            let (state, outcome): (PlanState, Outcome) = $body?;
            out.set(into_raw::<lvs_plan>(state));
            outcome
        })
    }};
}

/// One reconcile pass (the Rust `Reconciler::reconcile`): read the whole
/// table with `handle` (one dump of services, then the destinations of
/// each), plan the fewest changes that make the kernel match
/// `desired` within the policy's scope, and apply them in one pipelined
/// batch that never stops at a failure. A pass with nothing to do costs
/// one read and no write. Changed services and destinations are updated
/// in place, never recreated; leaving destinations drain per the policy;
/// services outside the scope are never touched.
///
/// `*out` receives a new plan (free it with `lvs_plan_free`) whenever the
/// pass ran, with one result per change (`lvs_plan_result`):
/// - `LVS_OK`: every change succeeded (or there was none);
/// - another code, with `*out` set: that of the first change that failed
///   (`lvs_plan_failures` counts them); the handle's last error says how
///   many failed and why the first did. Nothing needs repair: the next
///   pass reads the table again and plans what is still missing.
///
/// When the pass could not run, `*out` is NULL (if `out` is not) and
/// nothing was sent:
/// `LVS_INVALID_ARGUMENT` (a desired service outside the policy's scope),
/// a read error (`LVS_PERMISSION_DENIED`, `LVS_IO`, `LVS_DECODE`), or
/// `LVS_NULL_PARAMETER`. Every outcome is recorded as the handle's last
/// error (unless `handle` is NULL) and the thread's.
///
/// # Safety
/// `reconciler`: a live reconciler; `handle`: a live handle; both not
/// NULL and used by no other thread during the call. `desired`: a live
/// desired state (not NULL) not being changed by another thread; not kept.
/// `out`: valid for writing one pointer (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_reconcile(
    reconciler: *mut lvs_reconciler,
    handle: *mut lvs_handle,
    desired: *const lvs_desired,
    out: *mut *mut lvs_plan,
) -> lvs_result {
    ffi_boundary! {
        pass!(reconciler, handle, desired, out, |r, h, d| {
            r.reconcile(h, d).map_err(Failure::from).map(|report| {
                let Report {
                    plan,
                    results,
                    reads,
                    ..
                } = report;
                let results = stored_results(results);
                let outcome = first_failure(&results, "reconcile", "changes", |i| {
                    format!(" ({})", plan.changes()[i])
                });
                (
                    PlanState {
                        plan,
                        results: Some(results),
                        reads,
                    },
                    outcome,
                )
            })
        })
    }
}

/// A dry run (the Rust `Reconciler::plan`): read the table with `handle`
/// and plan as `lvs_reconciler_reconcile` would, but send nothing and
/// leave the reconciler's drain memory unchanged. On success `*out` is a
/// new plan the caller frees with `lvs_plan_free`; its results are all
/// `LVS_NOT_ATTEMPTED`. Print it with `lvs_plan_text` or
/// `lvs_plan_ipvsadm`.
///
/// Errors (then `*out` is NULL): as the cases of `lvs_reconciler_reconcile`
/// where the pass could not run.
///
/// # Safety
/// As `lvs_reconciler_reconcile`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_reconciler_plan(
    reconciler: *mut lvs_reconciler,
    handle: *mut lvs_handle,
    desired: *const lvs_desired,
    out: *mut *mut lvs_plan,
) -> lvs_result {
    ffi_boundary! {
        pass!(reconciler, handle, desired, out, |r, h, d| {
            r.plan(h, d)
                .map_err(Failure::from)
                .map(|plan| {
                    let state = PlanState {
                        plan,
                        results: None,
                        reads: 1,
                    };
                    (state, Ok(()))
                })
        })
    }
}

// ----- plans --------------------------------------------------------------------------

impl PlanState {
    fn result(&self, index: usize) -> Outcome<(lvs_result, &str)> {
        let n = self.plan.len();
        if index >= n {
            return Err(Failure::new(
                lvs_result::LVS_OUT_OF_RANGE,
                format!("change index {index} is out of range: the plan has {n} changes"),
            ));
        }
        Ok(match &self.results {
            Some(v) => (v[index].0, v[index].1.as_str()),
            None => (
                lvs_result::LVS_NOT_ATTEMPTED,
                "not attempted: a dry run (lvs_reconciler_plan) sends nothing",
            ),
        })
    }
}

/// Number of changes in `plan` (the writes a reconcile sent); 0 if `plan`
/// is NULL or has nothing to do.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_len(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| p.plan.len())
    }
}

/// Number of changes that were sent and failed: those whose
/// `lvs_plan_result` is neither `LVS_OK` nor `LVS_NOT_ATTEMPTED` (the rule
/// of `lvs_batch_failures`); changes not sent are counted by
/// `lvs_plan_not_attempted`. 0 if `plan` is NULL or a dry run.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_failures(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| {
            p.results
                .as_ref()
                .map_or(0, |v| v.iter().filter(|(c, _)| crate::batch::is_failure(*c)).count())
        })
    }
}

/// Number of changes whose `lvs_plan_result` is `LVS_NOT_ATTEMPTED`: every
/// change of a dry run (`lvs_reconciler_plan`), and changes of a pass that
/// were never sent. `lvs_plan_len` = succeeded + `lvs_plan_failures` +
/// `lvs_plan_not_attempted`. 0 if `plan` is NULL.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_not_attempted(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| match &p.results {
            None => p.plan.len(),
            Some(v) => v
                .iter()
                .filter(|(c, _)| *c == lvs_result::LVS_NOT_ATTEMPTED)
                .count(),
        })
    }
}

/// Number of destinations still draining once the plan is applied
/// (including drains it starts): weight 0, waiting for their connections
/// or the timeout. 0 if `plan` is NULL.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_draining(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| p.plan.draining().len())
    }
}

/// Number of services of the namespace the plan left alone because they
/// are outside the policy's scope. 0 if `plan` is NULL.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_unmanaged(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| p.plan.unmanaged())
    }
}

/// Number of whole-table reads the pass made: 1, or 0 for an incremental
/// pass planned against the reconciler's view (`lvs_policy_set_incremental`).
/// A dry run always reads the whole table. 0 if `plan` is NULL.
///
/// # Safety
/// `plan` must be NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_reads(plan: *const lvs_plan) -> usize {
    ffi_boundary! {
        try_ref!(plan).map_or(0, |p| p.reads)
    }
}

/// The result of change `index` (0-based, in the order sent): `LVS_OK`,
/// the change's error code, or `LVS_NOT_ATTEMPTED` for a dry run.
/// `LVS_OUT_OF_RANGE` when `index` is not below `lvs_plan_len`,
/// `LVS_NULL_PARAMETER` when `plan` is NULL. Changes no last error.
///
/// # Safety
/// `plan` must be a live plan (not NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_result(plan: *const lvs_plan, index: usize) -> lvs_result {
    ffi_boundary! {
        stored_code(try_ref!(plan).and_then(|p| p.result(index)))
    }
}

/// Copy the full error message of change `index` ("" if it succeeded)
/// into `buf`, NUL-terminated. Returns `LVS_OK`, `LVS_BUFFER_TOO_SMALL`
/// (buffer rules as `lvs_last_error`), `LVS_OUT_OF_RANGE` or
/// `LVS_NULL_PARAMETER`. Changes no last error.
///
/// # Safety
/// `plan` must be a live plan (not NULL). `buf` may be NULL only when
/// `len` is 0; otherwise it must be valid for writes of `len` bytes.
/// `out_len` may be NULL; if not, it receives the message's length
/// without the NUL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_message(
    plan: *const lvs_plan,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let item = try_ref!(plan).and_then(|p| p.result(index));
        // SAFETY: forwarded from this function's contract.
        unsafe { stored_message(item, buf, len, out_len) }
    }
}

/// Write change `index` as one line of text (no newline) into `buf`,
/// NUL-terminated, as `lvs_plan_text` shows it, e.g.
/// `+ service TCP 10.0.0.1:80 rr` or
/// `~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 1 -> 0 (drain)`.
/// Returns `LVS_OK`, `LVS_BUFFER_TOO_SMALL` (as much as fits is written;
/// `out_len` gives the length needed), `LVS_OUT_OF_RANGE` or
/// `LVS_NULL_PARAMETER`; a failure is the thread's last error.
///
/// # Safety
/// As `lvs_plan_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_change(
    plan: *const lvs_plan,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(plan).and_then(|p| p.result(index).map(|_| p)) {
            Ok(p) => p.plan.changes()[index].to_string(),
            Err(e) => return finish(Err(e)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// `lvs_change.kind`: add a service (`service_after`).
pub const LVS_CHANGE_ADD_SERVICE: u32 = 1;
/// `lvs_change.kind`: update a service in place (`service_before` ->
/// `service_after`).
pub const LVS_CHANGE_UPDATE_SERVICE: u32 = 2;
/// `lvs_change.kind`: remove a service (`service_before`).
pub const LVS_CHANGE_REMOVE_SERVICE: u32 = 3;
/// `lvs_change.kind`: add a destination (`dest_after`).
pub const LVS_CHANGE_ADD_DESTINATION: u32 = 4;
/// `lvs_change.kind`: update a destination (`dest_before` ->
/// `dest_after`).
pub const LVS_CHANGE_UPDATE_DESTINATION: u32 = 5;
/// `lvs_change.kind`: remove a destination (`dest_before`, with `conns`).
pub const LVS_CHANGE_REMOVE_DESTINATION: u32 = 6;

/// `lvs_change.reason` of an add.
pub const LVS_REASON_NONE: u32 = 0;
/// `lvs_change.reason`: the desired configuration differs (an update).
pub const LVS_REASON_CONFIG: u32 = 1;
/// `lvs_change.reason`: it left the desired state: weight 0 starts its
/// drain.
pub const LVS_REASON_START_DRAIN: u32 = 2;
/// `lvs_change.reason`: it came back while draining: its weight is
/// restored.
pub const LVS_REASON_RESTORE: u32 = 3;
/// `lvs_change.reason`: it left the desired state and is removed at once.
pub const LVS_REASON_NOT_DESIRED: u32 = 4;
/// `lvs_change.reason`: its drain finished (no connections left).
pub const LVS_REASON_DRAINED: u32 = 5;
/// `lvs_change.reason`: its drain timed out (`drain_timeout_ms`) with
/// connections left.
pub const LVS_REASON_DRAIN_TIMED_OUT: u32 = 6;

/// One change of a plan as values (`lvs_plan_change_get`). Fields a kind
/// does not use are 0. A struct that grows (see "Structs that grow" in
/// lvs.h): always pass its size.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct lvs_change {
    /// `LVS_CHANGE_*`.
    pub kind: u32,
    /// `LVS_REASON_*`.
    pub reason: u32,
    /// The service the change touches.
    pub key: lvs_service_key,
    /// The kernel's service (update, remove).
    pub service_before: lvs_service,
    /// The desired service (add, update).
    pub service_after: lvs_service,
    /// The kernel's destination (update, remove).
    pub dest_before: lvs_destination,
    /// The new destination (add, update).
    pub dest_after: lvs_destination,
    /// A removed destination's connections when the table was read.
    pub conns: lvs_conn_counts,
    /// The drain time-out of `LVS_REASON_DRAIN_TIMED_OUT`, milliseconds.
    pub drain_timeout_ms: u64,
}
// No padding: the fields' sizes add up to the struct's.
const _: () = assert!(
    size_of::<lvs_change>()
        == 8 + size_of::<lvs_service_key>()
            + 2 * size_of::<lvs_service>()
            + 2 * size_of::<lvs_destination>()
            + size_of::<lvs_conn_counts>()
            + 8
);
// SAFETY: `#[repr(C)]` with no padding (no_padding! above).
unsafe impl crate::ffi::AsBytes for lvs_change {}

impl lvs_change {
    fn from_model(c: &Change) -> Outcome<lvs_change> {
        let mut out = lvs_change {
            key: lvs_service_key::from_model(&c.service_key())?,
            ..Default::default()
        };
        let remove = |out: &mut lvs_change, r: &RemoveReason| {
            out.reason = match r {
                RemoveReason::NotDesired => LVS_REASON_NOT_DESIRED,
                RemoveReason::Drained => LVS_REASON_DRAINED,
                RemoveReason::DrainTimedOut(t) => {
                    out.drain_timeout_ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
                    LVS_REASON_DRAIN_TIMED_OUT
                }
                _ => LVS_REASON_NONE,
            };
        };
        match c {
            Change::AddService(s) => {
                out.kind = LVS_CHANGE_ADD_SERVICE;
                out.service_after = lvs_service::from_model(s)?;
            }
            Change::UpdateService { from, to } => {
                out.kind = LVS_CHANGE_UPDATE_SERVICE;
                out.reason = LVS_REASON_CONFIG;
                out.service_before = lvs_service::from_model(from)?;
                out.service_after = lvs_service::from_model(to)?;
            }
            Change::RemoveService { service, reason } => {
                out.kind = LVS_CHANGE_REMOVE_SERVICE;
                out.service_before = lvs_service::from_model(service)?;
                remove(&mut out, reason);
            }
            Change::AddDestination { dest, .. } => {
                out.kind = LVS_CHANGE_ADD_DESTINATION;
                out.dest_after = lvs_destination::from_model(dest)?;
            }
            Change::UpdateDestination {
                from, to, reason, ..
            } => {
                out.kind = LVS_CHANGE_UPDATE_DESTINATION;
                out.reason = match reason {
                    UpdateReason::Config => LVS_REASON_CONFIG,
                    UpdateReason::StartDrain => LVS_REASON_START_DRAIN,
                    UpdateReason::Restore => LVS_REASON_RESTORE,
                    _ => LVS_REASON_NONE,
                };
                out.dest_before = lvs_destination::from_model(from)?;
                out.dest_after = lvs_destination::from_model(to)?;
            }
            Change::RemoveDestination {
                dest,
                conns,
                reason,
                ..
            } => {
                out.kind = LVS_CHANGE_REMOVE_DESTINATION;
                out.dest_before = lvs_destination::from_model(dest)?;
                out.conns = lvs_conn_counts {
                    active: conns.active,
                    inactive: conns.inactive,
                    persistent: conns.persistent,
                };
                remove(&mut out, reason);
            }
            // A kind added to the Rust crate later: kind 0.
            _ => {}
        }
        Ok(out)
    }
}

/// Change `index` of `plan` as values into `*out`, a struct of
/// `out_size` bytes (pass `sizeof *out`; "Structs that grow" in lvs.h):
/// what `lvs_plan_change` shows as text. `*out` is left unchanged on
/// failure.
///
/// Errors: `LVS_OUT_OF_RANGE`, `LVS_INVALID_ARGUMENT` (`out_size` 0),
/// `LVS_NULL_PARAMETER`.
///
/// # Safety
/// `plan` must be a live plan (not NULL). `out`: valid for writing
/// `out_size` bytes (not NULL); not kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_change_get(
    plan: *const lvs_plan,
    index: usize,
    out: *mut lvs_change,
    out_size: usize,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let p = try_ref!(plan)?;
            p.result(index)?;
            let c = lvs_change::from_model(&p.plan.changes()[index])?;
            put_sized!(out, 1, out_size, &[c])
        })())
    }
}

/// Write the whole plan as text into `buf`, NUL-terminated: the Rust
/// `Plan`'s display, one line per change (`+` add, `~` update, `-`
/// remove), then `# draining ...` lines, the number of services outside
/// the scope, and `# no changes` for an empty plan. Errors and buffer
/// rules as `lvs_plan_change`; call it with `len` 0 to learn the length.
///
/// # Safety
/// `plan` must be a live plan (not NULL). `buf` and `out_len` as for
/// `lvs_plan_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_text(
    plan: *const lvs_plan,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(plan) {
            Ok(p) => p.plan.to_string(),
            Err(e) => return finish(Err(e)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// Write the plan's changes as `ipvsadm -R` input into `buf`,
/// NUL-terminated: one command per line in `ipvsadm -S` syntax (an empty
/// string for an empty plan), e.g. to hand to an operator or compare with
/// ipvsadm. Errors as `lvs_plan_text`, plus `LVS_INVALID_ARGUMENT` for
/// what ipvsadm cannot express (protocols other than TCP, UDP and SCTP;
/// local forwarding; a direct-routing or tunnel destination whose port
/// differs from its service's).
///
/// # Safety
/// As `lvs_plan_text`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_ipvsadm(
    plan: *const lvs_plan,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        let text = match try_ref!(plan)
            .and_then(|p| p.plan.to_ipvsadm_restore().map_err(Failure::from))
        {
            Ok(t) => t,
            Err(e) => return finish(Err(e)),
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { format_out(&text, buf, len, out_len) }
    }
}

/// Free a plan and its results. NULL is ignored.
///
/// # Safety
/// `plan` must be NULL or a plan from `lvs_reconciler_reconcile` or
/// `lvs_reconciler_plan`, not used after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_plan_free(plan: *mut lvs_plan) {
    ffi_boundary! {
        drop(try_box!(plan));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lvs::{AddressFamily, ServiceKey};

    fn policy() -> *mut lvs_policy {
        let mut p = std::ptr::null_mut();
        // SAFETY: `p` is a valid place for the pointer.
        assert_eq!(unsafe { lvs_policy_new(&mut p) }, lvs_result::LVS_OK);
        p
    }

    /// A new policy owns everything; the first addition narrows it, later
    /// ones widen it.
    #[test]
    fn scope_narrows_then_widens() {
        let p = policy();
        let web = ServiceKey::tcp(([10, 96, 0, 10], 443));
        let other = ServiceKey::tcp(([192, 0, 2, 1], 80));
        let mark = ServiceKey::fwmark(AddressFamily::Inet6, 1500);
        // SAFETY: `p` is live until freed at the end.
        let scope = |p: *mut lvs_policy| unsafe { (*p.cast::<Policy>()).scope.clone() };
        assert!(scope(p).contains(&other));
        // SAFETY: live policy; NUL-terminated literals.
        unsafe {
            assert_eq!(
                lvs_policy_scope_add_prefix(p, c"10.96.0.0/12".as_ptr()),
                lvs_result::LVS_OK
            );
        }
        assert!(scope(p).contains(&web) && !scope(p).contains(&other));
        assert!(!scope(p).contains(&mark));
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                lvs_policy_scope_add_fwmarks(p, 1000, 1999),
                lvs_result::LVS_OK
            );
            assert_eq!(
                lvs_policy_scope_add_fwmarks(p, 2, 1),
                lvs_result::LVS_INVALID_ARGUMENT
            );
            assert_eq!(
                lvs_policy_scope_add_prefix(p, c"10.0.0.1".as_ptr()),
                lvs_result::LVS_INVALID_ARGUMENT
            );
        }
        assert!(scope(p).contains(&web) && scope(p).contains(&mark));
        assert!(!scope(p).contains(&other));
        // SAFETY: freed once.
        unsafe { lvs_policy_free(p) };
    }

    #[test]
    fn drain_modes_are_set_per_class() {
        let p = policy();
        // SAFETY: live policy.
        unsafe {
            assert_eq!(
                lvs_policy_set_drain_mode(p, LVS_DRAIN_UDP | LVS_DRAIN_SCTP, LVS_DRAIN_GRACEFUL),
                lvs_result::LVS_OK
            );
            assert_eq!(
                lvs_policy_set_drain_mode(p, LVS_DRAIN_TCP, LVS_DRAIN_IMMEDIATE),
                lvs_result::LVS_OK
            );
            assert_eq!(
                lvs_policy_set_drain_mode(p, 0x20, LVS_DRAIN_IMMEDIATE),
                lvs_result::LVS_INVALID_ARGUMENT
            );
            assert_eq!(
                lvs_policy_set_drain_mode(p, LVS_DRAIN_ALL, 2),
                lvs_result::LVS_INVALID_ARGUMENT
            );
            assert_eq!(lvs_policy_set_drain_timeout(p, 1500), lvs_result::LVS_OK);
            assert_eq!(
                lvs_policy_set_service_removal(p, LVS_SERVICE_REMOVAL_DRAIN),
                lvs_result::LVS_OK
            );
            let d = &(*p.cast::<Policy>()).drain;
            assert_eq!(
                (d.tcp, d.udp, d.sctp, d.fwmark, d.other),
                (
                    DrainMode::Immediate,
                    DrainMode::Graceful,
                    DrainMode::Graceful,
                    DrainMode::Graceful,
                    DrainMode::Graceful
                )
            );
            assert_eq!(d.timeout, Some(Duration::from_millis(1500)));
            assert_eq!(d.services, ServiceRemoval::Drain);
            assert_eq!(lvs_policy_set_drain_timeout(p, 0), lvs_result::LVS_OK);
            assert_eq!((*p.cast::<Policy>()).drain.timeout, None);
            lvs_policy_free(p);
        }
    }

    #[test]
    fn incremental_mode_and_period_are_set() {
        let p = policy();
        // SAFETY: live policy, freed once at the end; the reconciler too.
        unsafe {
            let pol = |p: *mut lvs_policy| (*p.cast::<Policy>()).clone();
            assert!(!pol(p).incremental);
            assert_eq!(pol(p).verify_period, Policy::DEFAULT_VERIFY_PERIOD);
            assert_eq!(lvs_policy_set_incremental(p, true), lvs_result::LVS_OK);
            assert_eq!(lvs_policy_set_verify_period(p, 2500), lvs_result::LVS_OK);
            assert!(pol(p).incremental);
            assert_eq!(pol(p).verify_period, Duration::from_millis(2500));
            assert_eq!(
                lvs_policy_set_incremental(std::ptr::null_mut(), true),
                lvs_result::LVS_NULL_PARAMETER
            );
            assert_eq!(
                lvs_policy_set_verify_period(std::ptr::null_mut(), 1),
                lvs_result::LVS_NULL_PARAMETER
            );
            let mut r = std::ptr::null_mut();
            assert_eq!(lvs_reconciler_new(p, &mut r), lvs_result::LVS_OK);
            assert!((*r.cast::<Reconciler>()).policy().incremental);
            assert_eq!(lvs_reconciler_request_full_pass(r), lvs_result::LVS_OK);
            assert_eq!(
                lvs_reconciler_request_full_pass(std::ptr::null_mut()),
                lvs_result::LVS_NULL_PARAMETER
            );
            assert_eq!(lvs_plan_reads(std::ptr::null()), 0);
            lvs_reconciler_free(r);
            lvs_policy_free(p);
        }
    }
}
