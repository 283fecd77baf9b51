//! Declarative reconciler: say which services and destinations should
//! exist, and `lvs` makes the kernel match with the fewest changes,
//! draining destinations instead of cutting their connections.
//!
//! | piece | what it does |
//! |---|---|
//! | [`DesiredState`] | plain values (serde-loadable with the `serde` feature) |
//! | [`Policy`] | what the reconciler owns ([`Scope`]) and how things leave ([`DrainPolicy`]) |
//! | [`plan()`] | pure: (desired, observed, policy, drains, now) → [`Plan`] |
//! | [`apply()`] | the only side effect: one batch, one result per change |
//! | [`Reconciler`] | one read + plan + apply per pass on a borrowed kernel; remembers drain start times; a sync loop |
//! | [`Kernel`] | what the reconciler needs from a kernel: [`Handle`] or the test tool [`FakeKernel`] |
//!
//! Planning rules, in short:
//! - equal means equal: the kernel's internal HASHED flag, stats and
//!   connection counts never cause a change, so an unchanged table plans
//!   nothing;
//! - a changed service or destination is updated in place (SET), never
//!   recreated;
//! - services outside the [`Scope`] are never touched;
//! - a destination leaving the desired state is drained (weight 0, removed
//!   when idle or at the timeout), or removed at once, per protocol
//!   ([`DrainPolicy`]); a drain lives in the kernel (weight 0 + not
//!   desired), so a restarted reconciler finishes it;
//! - a destination coming back while draining gets its weight back.
//!
//! ```
//! use lvs::reconcile::{DesiredState, FakeKernel, Policy, Reconciler};
//! use lvs::{ConnCounts, Destination, Service, ServiceKey};
//!
//! let vip = ServiceKey::tcp(([10, 0, 0, 1], 80));
//! let (a, b) = (([192, 168, 1, 1], 80), ([192, 168, 1, 2], 80));
//! let mut kernel = FakeKernel::new();
//! let mut r = Reconciler::new(Policy::default());
//! r.reconcile(&mut kernel, &DesiredState::new().with_service(
//!     Service::new(vip),
//!     [Destination::new(a), Destination::new(b)],
//! ))?;
//! // `a` has a connection open; then it leaves the desired state.
//! kernel.set_conns(&vip, a.into(), ConnCounts { active: 1, ..Default::default() });
//! let only_b = DesiredState::new().with_service(Service::new(vip), [Destination::new(b)]);
//! let report = r.reconcile(&mut kernel, &only_b)?;
//! assert_eq!(report.plan.to_string().lines().next(),
//!            Some("~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 1 -> 0 (drain)"));
//! // Connection closed: the next pass removes it.
//! kernel.clear_conns();
//! let report = r.reconcile(&mut kernel, &only_b)?;
//! assert_eq!(report.plan.to_string().lines().next(),
//!            Some("- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (drained)"));
//! # Ok::<(), lvs::Error>(())
//! ```
//!
//! The reconciler does not load kernel modules: a program that applies
//! states on a live host loads what [`DesiredState::kernel_modules`] names
//! with `lvs::kmod::ensure_loaded` first, keeping the kernel's on-demand
//! module load (and the deadlock `lvs::kmod` describes) out of its passes.

mod desired;
mod fake;
mod plan;
mod policy;
mod sync;
mod table;
mod view;

pub use desired::{DesiredService, DesiredState};
pub use fake::FakeKernel;
pub use plan::{Change, Drain, Plan, RemoveReason, UpdateReason, plan};
pub use policy::{DrainMode, DrainPolicy, Policy, Scope, ServiceRemoval};
pub use sync::{Reconciler, Report, apply};

use crate::model::{DestinationEntry, ServiceEntry, ServiceKey, TableEntry};
use crate::{BatchResult, Op, Result};
#[cfg(target_os = "linux")]
use crate::{Handle, OnError};

/// What the reconciler needs from a kernel: a whole-table read, the
/// service dump and per-service destination dumps (for the incremental
/// pass's verification), and a batch of writes with one result per
/// operation.
///
/// Implemented by [`Handle`] (the real kernel) and by [`FakeKernel`] (an
/// in-memory test tool); implement it to wrap a handle with logging or
/// metrics.
pub trait Kernel {
    /// Every service with its destinations ([`Handle::table`]).
    ///
    /// # Errors
    /// Any read error: the reconciler then plans nothing.
    fn table(&mut self) -> Result<Vec<TableEntry>>;

    /// Every service without destinations ([`Handle::services`]). The
    /// default takes them from [`Kernel::table`].
    ///
    /// # Errors
    /// Any read error.
    fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        Ok(self.table()?.into_iter().map(|e| e.service).collect())
    }

    /// The destinations of each of `keys`, in order; an unknown service
    /// gives an empty list ([`Handle::destinations_of`]). The default
    /// takes them from [`Kernel::table`].
    ///
    /// # Errors
    /// Any read error.
    fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        let table: std::collections::HashMap<ServiceKey, Vec<DestinationEntry>> = self
            .table()?
            .into_iter()
            .map(|e| (e.service.service.key, e.destinations))
            .collect();
        Ok(keys
            .iter()
            .map(|k| table.get(k).cloned().unwrap_or_default())
            .collect())
    }

    /// Apply `ops`, continuing past failures, with one result per
    /// operation in order ([`Handle::apply`]).
    fn apply(&mut self, ops: &[Op]) -> BatchResult;
}

#[cfg(target_os = "linux")]
impl Kernel for Handle {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        Handle::table(self)
    }

    fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        Handle::services(self)
    }

    fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        Handle::destinations_of(self, keys)
    }

    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        Handle::apply_with(self, ops, OnError::Continue)
    }
}

impl<K: Kernel + ?Sized> Kernel for &mut K {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        (**self).table()
    }

    fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        (**self).services()
    }

    fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        (**self).destinations_of(keys)
    }

    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        (**self).apply(ops)
    }
}

impl<K: Kernel + ?Sized> Kernel for Box<K> {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        (**self).table()
    }

    fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        (**self).services()
    }

    fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        (**self).destinations_of(keys)
    }

    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        (**self).apply(ops)
    }
}
