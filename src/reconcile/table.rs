//! The one in-memory IPVS table: model values ([`TableEntry`]) by service
//! key, changed by [`Op`]s with the kernel's semantics. [`FakeKernel`]
//! (the test tool) is this table plus counters; the incremental
//! [`Reconciler`](super::Reconciler)'s view of the kernel is this table
//! as last read plus what its own batches did.
//!
//! [`FakeKernel`]: super::FakeKernel

use std::collections::BTreeMap;
use std::ops::Bound;

use rustix::io::Errno;

use crate::model::{ConnCounts, DestinationEntry, ServiceEntry, ServiceKey, Stats, TableEntry};
use crate::{Error, Op, Result};

/// Services by key (ordered, so a rotating slice is a key range), each
/// with the order it was created in (what [`Table::entries`] lists by).
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    services: BTreeMap<ServiceKey, Slot>,
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct Slot {
    seq: u64,
    entry: TableEntry,
    /// The last [`Table::mark`] that visited it (0: none).
    mark: u64,
}

impl Table {
    /// A table holding `entries`, in that order.
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = TableEntry>) -> Self {
        let mut t = Table::default();
        for e in entries {
            t.put(e);
        }
        t
    }

    /// The entries in creation order (the order they were read or added).
    pub(crate) fn entries(&self) -> Vec<TableEntry> {
        let mut v: Vec<&Slot> = self.services.values().collect();
        v.sort_unstable_by_key(|s| s.seq);
        v.into_iter().map(|s| s.entry.clone()).collect()
    }

    /// Number of services.
    pub(crate) fn len(&self) -> usize {
        self.services.len()
    }

    /// Number of destinations over all services.
    pub(crate) fn destination_count(&self) -> usize {
        self.services
            .values()
            .map(|s| s.entry.destinations.len())
            .sum()
    }

    /// The service `key` with its destinations.
    pub(crate) fn get(&self, key: &ServiceKey) -> Option<&TableEntry> {
        self.services.get(key).map(|s| &s.entry)
    }

    /// The service `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: &ServiceKey) -> Option<&mut TableEntry> {
        self.services.get_mut(key).map(|s| &mut s.entry)
    }

    /// Every entry, mutably (any order).
    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = &mut TableEntry> {
        self.services.values_mut().map(|s| &mut s.entry)
    }

    /// The service `key`, marked with `mark` (not 0), and whether it
    /// already was: one lookup both finds a service and tells a key seen
    /// twice in one sweep, with no set on the side.
    pub(crate) fn mark(&mut self, key: &ServiceKey, mark: u64) -> Option<(&TableEntry, bool)> {
        self.services.get_mut(key).map(|s| {
            let again = s.mark == mark;
            s.mark = mark;
            (&s.entry, again)
        })
    }

    /// The services not marked with `mark`, in key order.
    pub(crate) fn unmarked(&self, mark: u64) -> impl Iterator<Item = (&ServiceKey, &TableEntry)> {
        self.services
            .iter()
            .filter(move |(_, s)| s.mark != mark)
            .map(|(k, s)| (k, &s.entry))
    }

    /// Every service with its entry, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&ServiceKey, &TableEntry)> {
        self.services.iter().map(|(k, s)| (k, &s.entry))
    }

    /// Up to `n` keys in key order starting after `after` (from the first
    /// key when `None`), without wrapping.
    pub(crate) fn keys_after(&self, after: Option<&ServiceKey>, n: usize) -> Vec<ServiceKey> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.services
            .range((start, Bound::Unbounded))
            .take(n)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Insert or replace a service with its destinations (a replaced one
    /// keeps its place in creation order).
    pub(crate) fn put(&mut self, entry: TableEntry) {
        let key = entry.service.service.key;
        match self.services.get_mut(&key) {
            Some(slot) => slot.entry = entry,
            None => {
                self.next_seq += 1;
                self.services.insert(
                    key,
                    Slot {
                        seq: self.next_seq,
                        entry,
                        mark: 0,
                    },
                );
            }
        }
    }

    /// Remove a service; `true` if it was there.
    pub(crate) fn remove(&mut self, key: &ServiceKey) -> bool {
        self.services.remove(key).is_some()
    }

    /// Apply one operation as the kernel would: checked locally first as
    /// [`Handle::apply`](crate::Handle::apply) checks it before sending,
    /// then the kernel's errors with its errnos (`EEXIST`, `ESRCH`,
    /// `ENOENT`). A new destination is listed first, as the kernel lists
    /// the newest first; an update keeps the counters.
    pub(crate) fn execute(&mut self, op: &Op) -> Result<()> {
        op.validate()?;
        let kernel_err =
            |errno: Errno| Error::from_kernel(op.operation(), errno.raw_os_error(), None);
        match op {
            Op::AddService(s) => {
                if self.services.contains_key(&s.key) {
                    return Err(kernel_err(Errno::EXIST));
                }
                self.put(TableEntry {
                    service: ServiceEntry {
                        service: s.clone(),
                        stats: Stats::default(),
                    },
                    destinations: Vec::new(),
                });
            }
            Op::UpdateService(s) => match self.get_mut(&s.key) {
                Some(e) => e.service.service = s.clone(),
                None => return Err(kernel_err(Errno::SRCH)),
            },
            Op::RemoveService(k) => {
                if !self.remove(k) {
                    return Err(kernel_err(Errno::SRCH));
                }
            }
            Op::AddDestination(k, d) => {
                let e = self.get_mut(k).ok_or_else(|| kernel_err(Errno::SRCH))?;
                if e.destinations.iter().any(|x| x.destination.addr == d.addr) {
                    return Err(kernel_err(Errno::EXIST));
                }
                e.destinations.insert(
                    0,
                    DestinationEntry {
                        destination: *d,
                        conns: ConnCounts::default(),
                        stats: Stats::default(),
                    },
                );
            }
            Op::UpdateDestination(k, d) => {
                let e = self.get_mut(k).ok_or_else(|| kernel_err(Errno::SRCH))?;
                let x = e
                    .destinations
                    .iter_mut()
                    .find(|x| x.destination.addr == d.addr)
                    .ok_or_else(|| kernel_err(Errno::NOENT))?;
                x.destination = *d;
            }
            Op::RemoveDestination(k, a) => {
                let e = self.get_mut(k).ok_or_else(|| kernel_err(Errno::SRCH))?;
                let i = e
                    .destinations
                    .iter()
                    .position(|x| x.destination.addr == *a)
                    .ok_or_else(|| kernel_err(Errno::NOENT))?;
                e.destinations.remove(i);
            }
            Op::Zero(Some(k)) => {
                if !self.services.contains_key(k) {
                    return Err(kernel_err(Errno::SRCH));
                }
            }
            Op::Zero(None) | Op::SetTimeouts(_) => {}
            Op::Flush => self.services.clear(),
        }
        Ok(())
    }
}
