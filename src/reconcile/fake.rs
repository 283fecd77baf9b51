//! An in-memory IPVS table for host tests of planning logic.

use std::net::SocketAddr;

use super::Kernel;
use super::table::Table;
use crate::model::{ConnCounts, DestinationEntry, ServiceEntry, ServiceKey, TableEntry};
use crate::{BatchResult, Error, ErrorKind, Op, Result};

/// An in-memory stand-in for the kernel's IPVS table, **a test tool**: it
/// lets planning and reconciling logic run on a host without root or
/// IPVS (unit tests, property tests, doc examples). It is never proof that
/// something works against the kernel.
///
/// What it mimics, because plans depend on it:
/// - every operation is checked locally exactly as [`Handle::apply`](crate::Handle::apply)
///   checks it before sending (same [`ErrorKind::InvalidArgument`] errors);
/// - kernel errors come with the kernel's errno and the same kinds:
///   `EEXIST` ([`ErrorKind::ServiceExists`], [`ErrorKind::DestinationExists`]),
///   `ESRCH` ([`ErrorKind::ServiceNotFound`]) and `ENOENT`
///   ([`ErrorKind::DestinationNotFound`]);
/// - destinations are listed newest first, as the kernel does;
/// - an update keeps a destination's connection counts.
///
/// What it does not: schedulers and persistence engines are never missing,
/// addresses are not checked for routability, there is no dest trash (a
/// re-added destination starts with zero connections), no traffic: set
/// connection counts yourself with [`FakeKernel::set_conns`].
///
/// Its table is the crate's one table model (model [`TableEntry`] values
/// changed by [`Op`]s, the same model the incremental reconciler keeps as
/// its view). It also counts what it is asked, so a test can check that a
/// pass with nothing to do costs one read and no write.
///
/// # Example
/// ```
/// use lvs::reconcile::FakeKernel;
/// use lvs::{Op, Service, ServiceKey};
///
/// let mut kernel = FakeKernel::new();
/// let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// kernel.execute(&Op::AddService(Service::new(key)))?;
/// // The kernel's errors, as a Handle would report them.
/// let again = kernel.execute(&Op::AddService(Service::new(key)));
/// assert_eq!(again.unwrap_err().kind(), lvs::ErrorKind::ServiceExists);
/// assert_eq!(kernel.service_count(), 1);
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct FakeKernel {
    table: Table,
    reads: usize,
    service_reads: usize,
    destination_reads: usize,
    batches: usize,
    ops: usize,
    fail_after: Option<usize>,
}

impl FakeKernel {
    /// An empty table.
    pub fn new() -> Self {
        FakeKernel::default()
    }

    /// Set the connection counts of a destination (as traffic would).
    /// Returns `false` if there is no such destination.
    pub fn set_conns(&mut self, service: &ServiceKey, dest: SocketAddr, conns: ConnCounts) -> bool {
        match self.table.get_mut(service).and_then(|s| {
            s.destinations
                .iter_mut()
                .find(|d| d.destination.addr == dest)
        }) {
            Some(d) => {
                d.conns = conns;
                true
            }
            None => false,
        }
    }

    /// Set the connection counts of every destination to zero (all
    /// connections closed and expired).
    pub fn clear_conns(&mut self) {
        for s in self.table.entries_mut() {
            for d in &mut s.destinations {
                d.conns = ConnCounts::default();
            }
        }
    }

    /// The table, services in creation order (not counted as a read).
    pub fn snapshot(&self) -> Vec<TableEntry> {
        self.table.entries()
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.table.len()
    }

    /// Number of destinations over all services.
    pub fn destination_count(&self) -> usize {
        self.table.destination_count()
    }

    /// Whole-table reads served ([`Kernel::table`] calls).
    pub fn reads(&self) -> usize {
        self.reads
    }

    /// Service dumps served ([`Kernel::services`] calls, without the ones
    /// inside whole-table reads).
    pub fn service_reads(&self) -> usize {
        self.service_reads
    }

    /// Destination dumps served by [`Kernel::destinations_of`] (one per
    /// service asked for; not those inside whole-table reads).
    pub fn destination_reads(&self) -> usize {
        self.destination_reads
    }

    /// Batches received ([`Kernel::apply`] calls).
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// Operations received over all batches.
    pub fn ops(&self) -> usize {
        self.ops
    }

    /// Reset the read, batch and operation counters.
    pub fn reset_counters(&mut self) {
        (
            self.reads,
            self.service_reads,
            self.destination_reads,
            self.batches,
            self.ops,
        ) = (0, 0, 0, 0, 0);
    }

    /// Simulate a crash in the middle of the next batch: only its first
    /// `n` operations take effect; the others fail with [`ErrorKind::Io`].
    pub fn interrupt_next_batch_after(&mut self, n: usize) {
        self.fail_after = Some(n);
    }

    /// Apply one operation (not counted as a batch), e.g. an out-of-band
    /// change made by another client.
    ///
    /// # Errors
    /// As [`Handle::execute`](crate::Handle::execute) for the same table.
    pub fn execute(&mut self, op: &Op) -> Result<()> {
        self.table.execute(op)
    }
}

impl Kernel for FakeKernel {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        self.reads += 1;
        Ok(self.snapshot())
    }

    fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        self.service_reads += 1;
        Ok(self.snapshot().into_iter().map(|e| e.service).collect())
    }

    fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        self.destination_reads += keys.len();
        Ok(keys
            .iter()
            .map(|k| {
                self.table
                    .get(k)
                    .map(|e| e.destinations.clone())
                    .unwrap_or_default()
            })
            .collect())
    }

    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        self.batches += 1;
        self.ops += ops.len();
        let limit = self.fail_after.take().unwrap_or(usize::MAX);
        let results = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if i >= limit {
                    Err(Error::new(
                        op.operation(),
                        ErrorKind::Io,
                        "outcome unknown: the batch was interrupted (FakeKernel)",
                    ))
                } else {
                    self.table.execute(op)
                }
            })
            .collect();
        BatchResult {
            results,
            sends: usize::from(!ops.is_empty()),
        }
    }
}
