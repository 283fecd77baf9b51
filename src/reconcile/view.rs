//! The incremental pass's kept view of the kernel's table: the table as
//! last read, plus what the reconciler's own batches changed, plus a
//! rotating verification so that changes made by others are found within
//! a period.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::Kernel;
use super::desired::{DesiredService, DesiredState, admit, in_scope, listed_twice};
use super::plan::{Change, Drain};
use super::policy::Scope;
use super::table::Table;
use crate::model::{ServiceKey, TableEntry};
use crate::{ErrorKind, Result};

/// The view, with where the verification stands.
///
/// Verification runs in rounds of one period each. A round dumps the
/// destinations of the services in key order, spread over its passes in
/// proportion to the time gone, and ends with a service dump (which finds
/// services added, removed or changed by others): by the first pass at or
/// after `round_start + period`, every service of the view, and the list
/// of services, has been compared with the kernel. A
/// change made by another client is found at most one period plus one
/// pass interval after it was made.
#[derive(Debug, Clone)]
pub(super) struct View {
    table: Table,
    round_start: Instant,
    /// Services whose destinations were verified this round so far.
    done: usize,
    /// The last key verified this round (`None`: none yet).
    cursor: Option<ServiceKey>,
    /// The mark of the last [`View::dirty`] sweep.
    sweep: u64,
}

/// What the reads of an incremental pass cost.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Reads {
    pub(super) service_dumps: usize,
    pub(super) destination_dumps: usize,
}

impl View {
    /// A view of a whole-table read made at `now`, which counts as a
    /// finished verification: the next round starts now.
    pub(super) fn new(observed: Vec<TableEntry>, now: Instant) -> View {
        let table = Table::from_entries(observed);
        View {
            table,
            round_start: now,
            done: 0,
            cursor: None,
            sweep: 0,
        }
    }

    /// Whether the view holds the service `key`.
    pub(super) fn contains(&self, key: &ServiceKey) -> bool {
        self.table.get(key).is_some()
    }

    /// Verify this pass's slice against `kernel`: the destinations of the
    /// next services in key order, as many as the time gone in the round
    /// calls for (all that are left once the period is over); the pass
    /// that completes the round also dumps the services, which finds
    /// services added, removed or changed by others, and starts the next
    /// round.
    pub(super) fn verify(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        period: Duration,
        now: Instant,
        reads: &mut Reads,
    ) -> Result<()> {
        let gone = now.saturating_duration_since(self.round_start);
        let over = gone >= period;
        let want = if over {
            usize::MAX
        } else {
            // ceil(services * gone / period), in integers.
            let target = (self.table.len() as u128 * gone.as_nanos()).div_ceil(period.as_nanos());
            usize::try_from(target)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.done)
        };
        let slice = self.table.keys_after(self.cursor.as_ref(), want);
        let at_end = slice.len() < want;
        self.done += slice.len();
        if let Some(last) = slice.last() {
            self.cursor = Some(*last);
        }
        self.read_destinations(kernel, &slice, reads)?;
        if over || at_end {
            self.verify_services(kernel, reads)?;
            self.round_start = now;
            self.done = 0;
            self.cursor = None;
        }
        Ok(())
    }

    /// One service dump: services gone from the kernel leave the view,
    /// changed ones are updated, new ones join it with their destinations.
    fn verify_services(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        reads: &mut Reads,
    ) -> Result<()> {
        let services = kernel.services()?;
        reads.service_dumps += 1;
        let mut seen = HashSet::with_capacity(services.len());
        let mut new = Vec::new();
        for s in services {
            let key = s.service.key;
            seen.insert(key);
            match self.table.get_mut(&key) {
                Some(e) => e.service = s,
                None => {
                    self.table.put(TableEntry {
                        service: s,
                        destinations: Vec::new(),
                    });
                    new.push(key);
                }
            }
        }
        let gone: Vec<ServiceKey> = self
            .table
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !seen.contains(k))
            .collect();
        for k in &gone {
            self.table.remove(k);
        }
        self.read_destinations(kernel, &new, reads)
    }

    /// Replace the destinations of `keys` (services in the view) with the
    /// kernel's.
    pub(super) fn read_destinations(
        &mut self,
        kernel: &mut (impl Kernel + ?Sized),
        keys: &[ServiceKey],
        reads: &mut Reads,
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let dests = kernel.destinations_of(keys)?;
        reads.destination_dumps += keys.len();
        for (k, d) in keys.iter().zip(dests) {
            if let Some(e) = self.table.get_mut(k) {
                e.destinations = d;
            }
        }
        Ok(())
    }

    /// The services a pass must plan, by key: desired services the view
    /// lacks or does not match, services of the view in `scope` that are
    /// not desired, and the services with destinations draining. Also the
    /// number of services of the view outside `scope`.
    ///
    /// Checks that no desired service is listed twice or lies outside
    /// `scope`; the full checks of [`DesiredState::validate`] are left to
    /// planning, which sees the services that differ (one equal to the
    /// kernel's needs no write).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] as [`DesiredState::validate`].
    pub(super) fn dirty(
        &mut self,
        desired: &DesiredState,
        scope: &Scope,
        drains: &[Drain],
    ) -> Result<(Vec<ServiceKey>, usize)> {
        self.sweep += 1;
        let sweep = self.sweep;
        let draining: HashSet<ServiceKey> = drains.iter().map(|d| d.service).collect();
        let mut dirty = Vec::new();
        // Desired services the view lacks (few), to tell one listed twice.
        let mut new = HashSet::new();
        let mut found = 0;
        for ds in &desired.services {
            let key = ds.service.key;
            match self.table.mark(&key, sweep) {
                Some((_, true)) => return Err(listed_twice(key)),
                Some((e, false)) => {
                    found += 1;
                    in_scope(key, scope)?;
                    if draining.contains(&key) || !matches(ds, e) {
                        dirty.push(key);
                    }
                }
                None => {
                    admit(&mut new, key, scope)?;
                    dirty.push(key);
                }
            }
        }
        let mut unmanaged = 0;
        // Every service of the view desired: none to remove, none outside.
        if found != self.table.len() {
            for (key, _) in self.table.unmarked(sweep) {
                if scope.contains(key) {
                    dirty.push(*key);
                } else {
                    unmanaged += 1;
                }
            }
        }
        Ok((dirty, unmanaged))
    }

    /// The desired services and the view's entries of `keys`, to plan.
    pub(super) fn subset(
        &self,
        desired: &DesiredState,
        keys: &[ServiceKey],
    ) -> (DesiredState, Vec<TableEntry>) {
        let mut sub = DesiredState::new();
        let mut observed = Vec::new();
        for k in keys {
            if let Some(ds) = desired.get(k) {
                sub.services.push(ds.clone());
            }
            if let Some(e) = self.table.get(k) {
                observed.push(e.clone());
            }
        }
        (sub, observed)
    }

    /// Record what a batch did: each change that succeeded is applied to
    /// the view. `false` when a result contradicts the view (the kernel
    /// said the service or destination is missing or already there, or the
    /// outcome is unknown): the view must then be read again.
    pub(super) fn record(&mut self, changes: &[Change], results: &[Result<()>]) -> bool {
        for (c, r) in changes.iter().zip(results) {
            match r {
                Ok(()) => {
                    if self.table.execute(&c.op()).is_err() {
                        return false;
                    }
                }
                // Refused without touching the table, and saying nothing
                // about it: the next pass plans the same change again.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::InvalidArgument
                            | ErrorKind::SchedulerNotFound
                            | ErrorKind::PermissionDenied
                            | ErrorKind::Unsupported
                    ) => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Whether the kernel's `e` already is `ds` (configurations equal, the
/// same destinations); counters never matter.
fn matches(ds: &DesiredService, e: &TableEntry) -> bool {
    if e.service.service != ds.service || e.destinations.len() != ds.destinations.len() {
        return false;
    }
    // The kernel lists a service made by a plan in desired order: compare
    // in order first, by address only if that fails.
    if e.destinations
        .iter()
        .zip(&ds.destinations)
        .all(|(o, d)| o.destination == *d)
    {
        return true;
    }
    let by_addr: std::collections::HashMap<_, _> =
        ds.destinations.iter().map(|d| (d.addr, d)).collect();
    e.destinations
        .iter()
        .all(|o| by_addr.get(&o.destination.addr) == Some(&&o.destination))
}
