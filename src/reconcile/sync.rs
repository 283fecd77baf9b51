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
use crate::batch::BatchResult;
use crate::error::{Error, Result};

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
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// The plan that was applied.
    pub plan: Plan,
    /// One result per [`Plan::changes`] entry, in order.
    pub results: Vec<Result<()>>,
    /// Whole-table reads made (always 1).
    pub reads: usize,
    /// Operations sent to the kernel (0 when nothing changed).
    pub writes: usize,
    /// Time reading the table.
    pub read_time: Duration,
    /// Time planning.
    pub plan_time: Duration,
    /// Time applying.
    pub apply_time: Duration,
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
            "# {} read, {} writes ({} failed); read {:?}, plan {:?}, apply {:?}",
            self.reads,
            self.writes,
            self.failures(),
            self.read_time,
            self.plan_time,
            self.apply_time
        )
    }
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
/// them; their timeouts start again at first sight.
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
}

impl Reconciler {
    /// A reconciler under `policy`, with no drain in progress.
    pub fn new(policy: Policy) -> Self {
        Reconciler {
            policy,
            drains: Vec::new(),
        }
    }

    /// Make `kernel` match `desired` now: read the table, plan, apply.
    ///
    /// # Errors
    /// The read's error (nothing applied), or
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
        let observed = kernel.table()?;
        let t1 = Instant::now();
        let plan = plan(desired, &observed, &self.policy, &self.drains, now)?;
        drop(observed);
        let t2 = Instant::now();
        let batch = apply(kernel, &plan);
        let t3 = Instant::now();
        self.drains = plan.draining().to_vec();
        let report = Report {
            writes: plan.len(),
            plan,
            results: batch.results,
            reads: 1,
            read_time: t1 - t0,
            plan_time: t2 - t1,
            apply_time: t3 - t2,
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

    /// A dry run: read the table and plan, apply nothing (drain memory
    /// unchanged). Print the plan to see what a reconcile would do.
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

    /// The drains in progress after the last pass.
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
