//! An in-memory IPVS table for host tests of planning logic.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Kernel;
use crate::batch::{BatchResult, Op};
use crate::error::{Error, ErrorKind, Result, libc_errno};
use crate::model::{ConnCounts, DestinationEntry, ServiceEntry, ServiceKey, Stats, TableEntry};

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
/// It also counts what it is asked, so a test can check that a pass with
/// nothing to do costs one read and no write.
#[derive(Debug, Default, Clone)]
pub struct FakeKernel {
    services: HashMap<ServiceKey, FakeService>,
    next_seq: u64,
    reads: usize,
    batches: usize,
    ops: usize,
    fail_after: Option<usize>,
}

#[derive(Debug, Clone)]
struct FakeService {
    seq: u64,
    entry: ServiceEntry,
    dests: Vec<DestinationEntry>,
}

impl FakeKernel {
    /// An empty table.
    pub fn new() -> Self {
        FakeKernel::default()
    }

    /// Set the connection counts of a destination (as traffic would).
    /// Returns `false` if there is no such destination.
    pub fn set_conns(&mut self, service: &ServiceKey, dest: SocketAddr, conns: ConnCounts) -> bool {
        match self
            .services
            .get_mut(service)
            .and_then(|s| s.dests.iter_mut().find(|d| d.destination.addr == dest))
        {
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
        for s in self.services.values_mut() {
            for d in &mut s.dests {
                d.conns = ConnCounts::default();
            }
        }
    }

    /// The table, services in creation order (not counted as a read).
    pub fn snapshot(&self) -> Vec<TableEntry> {
        let mut v: Vec<&FakeService> = self.services.values().collect();
        v.sort_unstable_by_key(|s| s.seq);
        v.into_iter()
            .map(|s| TableEntry {
                service: s.entry.clone(),
                destinations: s.dests.clone(),
            })
            .collect()
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Number of destinations over all services.
    pub fn destination_count(&self) -> usize {
        self.services.values().map(|s| s.dests.len()).sum()
    }

    /// Whole-table reads served ([`Kernel::table`] calls).
    pub fn reads(&self) -> usize {
        self.reads
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
        (self.reads, self.batches, self.ops) = (0, 0, 0);
    }

    /// Simulate a crash in the middle of the next batch: only its first
    /// `n` operations take effect; the others fail with [`ErrorKind::Io`].
    pub fn interrupt_next_batch_after(&mut self, n: usize) {
        self.fail_after = Some(n);
    }

    /// Apply one operation.
    ///
    /// # Errors
    /// As [`Handle::execute`](crate::Handle::execute) for the same table.
    pub fn execute(&mut self, op: &Op) -> Result<()> {
        op.validate()?;
        let kernel_err = |errno| Error::from_kernel(op.operation(), errno, None);
        match op {
            Op::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(kernel_err(libc_errno::EEXIST));
                }
                self.next_seq += 1;
                self.services.insert(
                    s.key,
                    FakeService {
                        seq: self.next_seq,
                        entry: ServiceEntry {
                            service: s.clone(),
                            stats: Stats::default(),
                        },
                        dests: Vec::new(),
                    },
                );
            }
            Op::UpdateService(s) => match self.services.get_mut(&s.key) {
                Some(f) => f.entry.service = s.clone(),
                None => return Err(kernel_err(libc_errno::ESRCH)),
            },
            Op::RemoveService(k) => {
                if self.services.remove(k).is_none() {
                    return Err(kernel_err(libc_errno::ESRCH));
                }
            }
            Op::AddDestination(k, d) => {
                let f = self
                    .services
                    .get_mut(k)
                    .ok_or_else(|| kernel_err(libc_errno::ESRCH))?;
                if f.dests.iter().any(|x| x.destination.addr == d.addr) {
                    return Err(kernel_err(libc_errno::EEXIST));
                }
                f.dests.insert(
                    0,
                    DestinationEntry {
                        destination: *d,
                        conns: ConnCounts::default(),
                        stats: Stats::default(),
                    },
                );
            }
            Op::UpdateDestination(k, d) => {
                let f = self
                    .services
                    .get_mut(k)
                    .ok_or_else(|| kernel_err(libc_errno::ESRCH))?;
                let x = f
                    .dests
                    .iter_mut()
                    .find(|x| x.destination.addr == d.addr)
                    .ok_or_else(|| kernel_err(libc_errno::ENOENT))?;
                x.destination = *d;
            }
            Op::RemoveDestination(k, a) => {
                let f = self
                    .services
                    .get_mut(k)
                    .ok_or_else(|| kernel_err(libc_errno::ESRCH))?;
                let i = f
                    .dests
                    .iter()
                    .position(|x| x.destination.addr == *a)
                    .ok_or_else(|| kernel_err(libc_errno::ENOENT))?;
                f.dests.remove(i);
            }
            Op::Zero(Some(k)) => {
                if !self.services.contains_key(k) {
                    return Err(kernel_err(libc_errno::ESRCH));
                }
            }
            Op::Zero(None) | Op::SetTimeouts(_) => {}
            Op::Flush => self.services.clear(),
        }
        Ok(())
    }
}

impl Kernel for FakeKernel {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        self.reads += 1;
        Ok(self.snapshot())
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
                    self.execute(op)
                }
            })
            .collect();
        BatchResult {
            results,
            sends: usize::from(!ops.is_empty()),
        }
    }
}
