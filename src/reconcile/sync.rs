//! Applying plans and the sync loop.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tracing::{debug, debug_span, warn};

use super::Kernel;
use super::desired::DesiredState;
use super::plan::{Change, Drain, Plan, plan};
use super::policy::Policy;
use super::view::{Reads, View};
use crate::{BatchResult, Error, ErrorKind, Result};

/// Execute `plan` in one batch ([`Kernel::apply`], which for a
/// [`Handle`](crate::Handle) pipelines every operation and never stops at
/// a failure) and return one result per [`Plan::changes`] entry, in order.
/// An empty plan sends nothing.
///
/// A failed or interrupted apply needs no repair: the next reconcile reads
/// the table again and plans whatever is still missing.
pub fn apply(kernel: &mut (impl Kernel + ?Sized), plan: &Plan) -> BatchResult {
    if plan.is_empty() {
        return BatchResult {
            results: Vec::new(),
            sends: 0,
        };
    }
    kernel.apply(&plan.ops())
}

/// What one reconcile pass did.
///
/// # Example
/// ```
/// use lvs::reconcile::{DesiredState, FakeKernel, Policy, Reconciler};
/// use lvs::{Destination, Service, ServiceKey};
///
/// let desired = DesiredState::new().with_service(
///     Service::new(ServiceKey::tcp(([10, 0, 0, 1], 80))),
///     [Destination::new(([192, 168, 1, 2], 80))],
/// );
/// let report = Reconciler::new(Policy::default()).reconcile(&mut FakeKernel::new(), &desired)?;
/// assert!(report.is_ok());
/// for change in report.plan.changes() {
///     println!("{change}");
/// }
/// assert_eq!(report.writes, 2);
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// The plan that was applied.
    pub plan: Plan,
    /// One result per [`Plan::changes`] entry, in order.
    pub results: Vec<Result<()>>,
    /// Whole-table reads made: 1, or 0 for an incremental pass planned
    /// against the reconciler's view.
    pub reads: usize,
    /// Service dumps made besides whole-table reads (an incremental pass's
    /// verification: at most 1).
    pub service_reads: usize,
    /// Destination dumps made besides whole-table reads (an incremental
    /// pass's verification slice, its draining and changed services).
    pub destination_reads: usize,
    /// Operations sent to the kernel (0 when nothing changed).
    pub writes: usize,
    /// Time reading before planning (the whole table, or an incremental
    /// pass's changed and draining services).
    pub read_time: Duration,
    /// Time planning.
    pub plan_time: Duration,
    /// Time applying.
    pub apply_time: Duration,
    /// Time verifying an incremental pass's slice, after applying.
    pub verify_time: Duration,
}

impl Report {
    /// `true` when every change succeeded.
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(|r| r.is_ok())
    }

    /// The failed changes with their errors.
    pub fn errors(&self) -> impl Iterator<Item = (&Change, &Error)> {
        self.plan
            .changes()
            .iter()
            .zip(&self.results)
            .filter_map(|(c, r)| r.as_ref().err().map(|e| (c, e)))
    }

    /// Number of failed changes.
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (c, r) in self.plan.changes().iter().zip(&self.results) {
            match r {
                Ok(()) => writeln!(f, "{c}")?,
                Err(e) => writeln!(f, "{c}   FAILED: {e}")?,
            }
        }
        for d in self.plan.draining() {
            writeln!(
                f,
                "# draining {} -> {}: {} active, {} inactive connections",
                d.service, d.dest, d.conns.active, d.conns.inactive
            )?;
        }
        write!(
            f,
            "# {} read, {} writes ({} failed); read {:?}, plan {:?}, apply {:?}, verify {:?}",
            self.reads,
            self.writes,
            self.failures(),
            self.read_time,
            self.plan_time,
            self.apply_time,
            self.verify_time
        )?;
        if self.service_reads + self.destination_reads != 0 {
            write!(
                f,
                "; {} service dump(s), {} destination dump(s)",
                self.service_reads, self.destination_reads
            )?;
        }
        Ok(())
    }
}

/// The drains to remember after a pass: those `plan` continues or starts,
/// and those of `prev` that the pass did not see at all.
///
/// A drain is keyed by (service, destination) and keeps its start time
/// until the destination is seen again (the plan then continues, restores
/// or removes it), the desired state lists it again, or its deadline has
/// passed. So a read that misses a draining destination (the service dump
/// missed its service, another client removed and re-added it) does not
/// restart its timer: a drain cannot be postponed by reads. A drain
/// without a timeout is forgotten when missed (its start time decides
/// nothing).
fn carry_drains(
    prev: &[Drain],
    plan: &Plan,
    observed: &[crate::model::TableEntry],
    desired: &DesiredState,
    now: Instant,
) -> Vec<Drain> {
    let mut out = plan.draining().to_vec();
    let planned: std::collections::HashSet<_> = out.iter().map(|d| (d.service, d.dest)).collect();
    let missed: Vec<&Drain> = prev
        .iter()
        .filter(|d| !planned.contains(&(d.service, d.dest)))
        .filter(|d| d.deadline.is_some_and(|end| now < end))
        .collect();
    if missed.is_empty() {
        return out;
    }
    let by_key: std::collections::HashMap<_, _> = observed
        .iter()
        .map(|e| (e.service.service.key, e))
        .collect();
    for d in missed {
        let seen = by_key
            .get(&d.service)
            .is_some_and(|e| e.destinations.iter().any(|o| o.destination.addr == d.dest));
        let desired_again = desired
            .get(&d.service)
            .is_some_and(|s| s.destinations.iter().any(|x| x.addr == d.dest));
        if !seen && !desired_again {
            debug!(service = %d.service, dest = %d.dest, "draining destination missing from this read: its drain keeps its start time");
            out.push(*d);
        }
    }
    out
}

/// The sync loop's state: a [`Policy`] and the start times of the drains
/// in progress (the only state that cannot live in the kernel).
///
/// The kernel is borrowed for each pass, not owned: keep your
/// [`Handle`](crate::Handle) (or [`FakeKernel`](super::FakeKernel)) for
/// other reads and writes between passes, and hand it to each
/// [`reconcile`](Reconciler::reconcile). Give one reconciler kernels of
/// one network namespace.
///
/// Each [`reconcile`](Reconciler::reconcile) reads the whole table once,
/// plans, and applies the plan if it is not empty: a pass with nothing to
/// do costs one read and no write. A reconciler that restarts finds its
/// unfinished drains in the kernel (weight 0, not desired) and finishes
/// them; their timeouts start again at first sight. Within one
/// reconciler, a drain's start time is kept by (service, destination)
/// even when a read misses the destination, until it is seen again, is
/// desired again, or its timeout has passed: reads cannot postpone a
/// drain.
///
/// # Incremental passes
///
/// With [`Policy::incremental`], a pass costs what changed, not what the
/// table holds. The reconciler keeps a view of the table: the last
/// whole-table read plus what its own batches did (each change that
/// succeeded is applied to the view). A pass compares the desired state
/// with the view and plans only the services that differ, after reading
/// their destinations from the kernel (their connection counts decide
/// drains); services with draining destinations are read again every
/// pass. After its changes, each pass also verifies a slice of the table
/// against the kernel (the destinations of the next services in key
/// order, and a service dump once per period) so that the whole table is
/// verified within [`Policy::verify_period`]; what the slice finds
/// changed is planned by the next pass. A change thus reaches the kernel
/// after reading only the changed services' destinations.
///
/// What this gives up: a change made by another client (an operator with
/// ipvsadm, keepalived, a crashed earlier run) is found within the
/// verification period and repaired by the pass after (so within the
/// period plus one pass interval), not at the next pass. Also, an incremental pass checks every desired service's
/// scope and that none is listed twice, but checks in full
/// ([`DesiredState::validate`]) only the services it plans: one equal to
/// the view needs no write. Verification
/// happens during passes: with [`run`](Reconciler::run), every `interval`
/// at least. Any failed change that contradicts the view (the kernel says
/// a service or destination is missing or already there, or the outcome is
/// unknown) drops the view, and the next pass reads the whole table. So do
/// the first pass, a pass after [`request_full_pass`](Reconciler::request_full_pass),
/// and every dry run ([`plan`](Reconciler::plan)); a restarted process
/// starts with a whole-table read, so drains survive restarts as with
/// full passes. Scope and ownership are the same: nothing outside the
/// scope is ever changed.
///
/// ```
/// use std::time::Duration;
/// use lvs::reconcile::{DesiredState, FakeKernel, Policy, Reconciler};
/// use lvs::{Destination, Service, ServiceKey};
///
/// let mut desired = DesiredState::new();
/// for i in 0..100u8 {
///     desired.push(
///         Service::new(ServiceKey::tcp(([10, 0, 1, i], 80))),
///         [Destination::new(([192, 168, 1, i], 8080))],
///     );
/// }
/// let mut kernel = FakeKernel::new();
/// let policy = Policy::default().with_incremental(Duration::from_secs(60));
/// let mut r = Reconciler::new(policy);
/// let first = r.reconcile(&mut kernel, &desired)?; // reads the whole table
/// assert_eq!((first.reads, first.writes), (1, 200));
/// desired.services[42].destinations[0].weight = 5;
/// let next = r.reconcile(&mut kernel, &desired)?; // reads what changed
/// assert_eq!((next.reads, next.writes), (0, 1));
/// r.request_full_pass();
/// assert_eq!(r.reconcile(&mut kernel, &desired)?.reads, 1);
/// # Ok::<(), lvs::Error>(())
/// ```
///
/// ```
/// use lvs::reconcile::{DesiredState, FakeKernel, Policy, Reconciler};
/// use lvs::{Destination, Scheduler, Service, ServiceKey};
///
/// let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// let desired = DesiredState::new().with_service(
///     Service::new(key).with_scheduler(Scheduler::Rr),
///     [Destination::new(([192, 168, 1, 2], 8080))],
/// );
/// let mut kernel = FakeKernel::new();
/// let mut r = Reconciler::new(Policy::default());
/// let first = r.reconcile(&mut kernel, &desired)?;
/// assert_eq!(first.writes, 2);
/// let again = r.reconcile(&mut kernel, &desired)?;
/// assert_eq!((again.reads, again.writes), (1, 0));
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Reconciler {
    policy: Policy,
    drains: Vec<Drain>,
    /// The incremental passes' view (`None`: the next pass reads the
    /// whole table).
    view: Option<View>,
}

impl Reconciler {
    /// A reconciler under `policy`, with no drain in progress.
    pub fn new(policy: Policy) -> Self {
        Reconciler {
            policy,
            drains: Vec::new(),
            view: None,
        }
    }

    /// Make the next pass read the whole table (and, when incremental,
    /// rebuild its view from it), e.g. after changing the table by other
    /// means or when drift must be repaired now rather than within the
    /// verification period.
    pub fn request_full_pass(&mut self) {
        self.view = None;
    }

    /// Whether the next pass is planned against the kept view (an
    /// incremental pass) rather than a whole-table read.
    pub fn has_view(&self) -> bool {
        self.view.is_some()
    }

    /// Make `kernel` match `desired` now: read the table, plan, apply.
    ///
    /// # Errors
    /// The read's error (nothing applied): with a [`Handle`](crate::Handle)
    /// that includes [`ErrorKind::InconsistentRead`] when the table kept
    /// changing during the read (a pass never plans from a list that may
    /// miss or repeat entries; [`run`](Reconciler::run) tries again at the
    /// next interval), or
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for
    /// an invalid `desired` (nothing applied). Failures of single changes
    /// are in the [`Report`], not here.
    pub fn reconcile(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        desired: &DesiredState,
    ) -> Result<Report> {
        self.reconcile_at(kernel, desired, Instant::now())
    }

    /// [`reconcile`](Reconciler::reconcile) with the clock given, for tests
    /// and simulations of drain timeouts.
    ///
    /// # Errors
    /// As [`reconcile`](Reconciler::reconcile).
    pub fn reconcile_at(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        desired: &DesiredState,
        now: Instant,
    ) -> Result<Report> {
        let _span = debug_span!("ipvs_reconcile", services = desired.services.len()).entered();
        let t0 = Instant::now();
        let incremental = self.policy.incremental && !self.policy.verify_period.is_zero();
        if !incremental {
            self.view = None;
        }
        let mut reads = Reads::default();
        let (plan, drains, full, t1, t2) = match &mut self.view {
            Some(view) => {
                let dirty = view
                    .dirty(desired, &self.policy.scope, &self.drains)
                    .and_then(|(dirty, unmanaged)| {
                        // Changed services are planned against the kernel's
                        // own destinations: their connection counts decide
                        // drains.
                        let known: Vec<_> =
                            dirty.iter().filter(|k| view.contains(k)).copied().collect();
                        view.read_destinations(kernel, &known, &mut reads)?;
                        Ok((dirty, unmanaged))
                    });
                let (dirty, unmanaged) = match dirty {
                    Ok(d) => d,
                    Err(e) => {
                        // A read that failed half-way leaves the view
                        // uncertain: the next pass reads everything.
                        if e.kind() != ErrorKind::InvalidArgument {
                            self.view = None;
                        }
                        return Err(e);
                    }
                };
                let t1 = Instant::now();
                let (sub, observed) = view.subset(desired, &dirty);
                let mut p = plan(&sub, &observed, &self.policy, &self.drains, now)?;
                p.unmanaged = unmanaged;
                let drains = carry_drains(&self.drains, &p, &observed, desired, now);
                (p, drains, false, t1, Instant::now())
            }
            None => {
                let observed = kernel.table()?;
                let t1 = Instant::now();
                let p = plan(desired, &observed, &self.policy, &self.drains, now)?;
                let drains = carry_drains(&self.drains, &p, &observed, desired, now);
                let t2 = Instant::now();
                if incremental {
                    self.view = Some(View::new(observed, now));
                }
                (p, drains, true, t1, t2)
            }
        };
        let batch = apply(kernel, &plan);
        let t3 = Instant::now();
        if let Some(view) = &mut self.view
            && !view.record(plan.changes(), &batch.results)
        {
            debug!("a change contradicted the view: the next pass reads the whole table");
            self.view = None;
        }
        // The verification slice comes after the changes, so they reach the
        // kernel at the cost of the change alone; drift it finds is
        // planned by the next pass.
        if !full && let Some(view) = &mut self.view {
            let verified = view.verify(kernel, self.policy.verify_period, now, &mut reads);
            if let Err(e) = verified {
                debug!(error = %e, "verification read failed: the next pass reads the whole table");
                self.view = None;
            }
        }
        let t4 = Instant::now();
        self.drains = drains;
        let report = Report {
            writes: plan.len(),
            plan,
            results: batch.results,
            reads: usize::from(full),
            service_reads: reads.service_dumps,
            destination_reads: reads.destination_dumps,
            read_time: t1 - t0,
            plan_time: t2 - t1,
            apply_time: t3 - t2,
            verify_time: t4 - t3,
        };
        debug!(
            writes = report.writes,
            failed = report.failures(),
            draining = self.drains.len(),
            "reconciled"
        );
        for (c, e) in report.errors() {
            warn!(change = %c, error = %e, "change failed; the next pass retries");
        }
        Ok(report)
    }

    /// A dry run: read the whole table and plan, apply nothing (drain
    /// memory and an incremental view unchanged). Print the plan to see
    /// what a reconcile would do.
    ///
    /// # Errors
    /// As [`reconcile`](Reconciler::reconcile).
    pub fn plan(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        desired: &DesiredState,
    ) -> Result<Plan> {
        let observed = kernel.table()?;
        plan(
            desired,
            &observed,
            &self.policy,
            &self.drains,
            Instant::now(),
        )
    }

    /// Reconcile in a loop: at once whenever a new desired state arrives on
    /// `updates` (only the latest queued one is used), and every `interval`
    /// otherwise, which advances drains and repairs changes made behind the
    /// reconciler's back. `on_pass` sees each pass's outcome and can stop
    /// the loop with `ControlFlow::Break`; the loop also ends when every
    /// sender of `updates` is gone.
    ///
    /// No pass runs before the first desired state arrives (reconciling an
    /// empty state would remove everything in scope).
    pub fn run(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        updates: &Receiver<DesiredState>,
        interval: Duration,
        mut on_pass: impl FnMut(&Result<Report>) -> ControlFlow<()>,
    ) {
        let mut current: Option<DesiredState> = None;
        loop {
            let got = match &current {
                None => updates.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(_) => updates.recv_timeout(interval),
            };
            match got {
                Ok(mut d) => {
                    while let Ok(newer) = updates.try_recv() {
                        d = newer;
                    }
                    current = Some(d);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if let Some(d) = &current {
                let r = self.reconcile(kernel, d);
                if on_pass(&r).is_break() {
                    return;
                }
            }
        }
    }

    /// The drains in progress after the last pass, including those the
    /// last read missed (kept with their start times until their timeout).
    pub fn draining(&self) -> &[Drain] {
        &self.drains
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Change the policy (drains in progress keep their start times).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }
}
