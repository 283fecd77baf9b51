//! The one module that drives the `lvs` reconciler. Everything else in the
//! proxy hands it a [`Translation`] and reads back an [`IpvsReport`].
//!
//! Ownership ([`Scope`]) is exactly the proxy's services: every service on
//! an address bound (now or before) on the dummy interface, plus the
//! NodePort services on node addresses. So a restarted proxy finds its
//! services in the kernel, an unchanged cluster plans zero writes, and
//! services of other IPVS users on the host are never touched.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use lvs::ServiceKey;
use lvs::reconcile::{Kernel, Policy, Reconciler, Scope};

use crate::translate::Translation;

/// What one pass did to IPVS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpvsReport {
    /// Whether the pass read the whole table (the first pass, one after
    /// [`Ipvs::request_full_pass`], or one after a change the kernel
    /// contradicted); otherwise it planned against the reconciler's view.
    pub full_read: bool,
    /// Per-service destination dumps besides a whole-table read: an
    /// incremental pass's changed services and its verification slice
    /// (the table is verified once per period, 60 s, spread over the
    /// passes in proportion to the time between them).
    pub destination_dumps: usize,
    /// Operations sent (0 when the kernel already matched).
    pub writes: usize,
    /// Operations the kernel refused (retried by the next pass).
    pub failures: usize,
    /// Destinations still draining.
    pub draining: usize,
    /// The plan, one change per line (for logs).
    pub plan: String,
    /// Time reading the IPVS table.
    pub read_time: Duration,
    /// Time planning.
    pub plan_time: Duration,
    /// Time applying the plan.
    pub apply_time: Duration,
}

/// The reconciler with the proxy's ownership rules, and the kernel it
/// drives.
pub struct Ipvs<K: Kernel> {
    kernel: K,
    rec: Reconciler,
    /// NodePort services owned beyond the current translation (ones whose
    /// removal has not succeeded yet, or found at start-up).
    owned_node_ports: BTreeSet<ServiceKey>,
    /// The addresses and NodePort services the policy's scope was made
    /// of.
    scope_of: Option<(BTreeSet<IpAddr>, BTreeSet<ServiceKey>)>,
}

impl<K: Kernel> Ipvs<K> {
    /// Drive `kernel`.
    pub fn new(kernel: K) -> Self {
        Ipvs {
            kernel,
            rec: Reconciler::new(Self::policy(Scope::Nothing)),
            owned_node_ports: BTreeSet::new(),
            scope_of: None,
        }
    }

    /// At start-up: take ownership of the services on `node_addrs` whose
    /// port is in `node_port_range` (left by a previous run, or by
    /// kube-proxy), so that NodePorts deleted while the proxy was down are
    /// removed. One table read.
    ///
    /// # Errors
    /// The table read's error.
    pub fn adopt_node_ports(
        &mut self,
        node_addrs: &[IpAddr],
        node_port_range: RangeInclusive<u16>,
    ) -> lvs::Result<usize> {
        let table = self.kernel.table()?;
        let before = self.owned_node_ports.len();
        for e in table {
            if let ServiceKey::Addr { addr, .. } = e.service.service.key
                && node_addrs.contains(&addr.ip())
                && node_port_range.contains(&addr.port())
            {
                self.owned_node_ports.insert(e.service.service.key);
            }
        }
        Ok(self.owned_node_ports.len() - before)
    }

    /// Make IPVS match `t`. `bound` are the addresses on the dummy
    /// interface now (including ones about to be removed): their services
    /// are ours too.
    ///
    /// # Errors
    /// The table read's error (nothing applied).
    pub fn sync(&mut self, t: &Translation, bound: &BTreeSet<IpAddr>) -> lvs::Result<IpvsReport> {
        // Sets: the scope test of every desired service each pass costs
        // O(log n), however scattered the service IPs are. Rebuilt only
        // when its addresses or NodePorts change.
        let node_ports: BTreeSet<ServiceKey> = t
            .node_ports
            .union(&self.owned_node_ports)
            .copied()
            .collect();
        let same = self.scope_of.as_ref().is_some_and(|(addrs, ports)| {
            *ports == node_ports && t.bind.is_subset(bound) && addrs == bound
        });
        if !same {
            let addrs: BTreeSet<IpAddr> = t.bind.union(bound).copied().collect();
            let scope = Scope::Addresses(addrs.clone()).or(Scope::Services(node_ports.clone()));
            self.rec.set_policy(Self::policy(scope));
            self.scope_of = Some((addrs, node_ports));
        }
        let report = self.rec.reconcile(&mut self.kernel, &t.desired)?;
        if report.is_ok() {
            self.owned_node_ports.clear();
        }
        self.owned_node_ports.extend(t.node_ports.iter().copied());
        Ok(IpvsReport {
            full_read: report.reads > 0,
            destination_dumps: report.destination_reads,
            writes: report.writes,
            failures: report.failures(),
            draining: self.rec.draining().len(),
            plan: report.plan.to_string(),
            read_time: report.read_time,
            plan_time: report.plan_time,
            apply_time: report.apply_time,
        })
    }

    /// Make the next pass read the whole table and plan every service
    /// (a full resync).
    pub fn request_full_pass(&mut self) {
        self.rec.request_full_pass();
    }

    /// The kernel (tests).
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The kernel, mutably (tests, timeouts).
    pub fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// Incremental passes: a pass plans against the reconciler's view of
    /// the table (kept from its last read and its own writes), so an
    /// EndpointSlice change costs what the change costs; the whole table is
    /// still verified against the kernel within the default period (60 s),
    /// so edits by other IPVS users are found and repaired within it.
    fn policy(scope: Scope) -> Policy {
        Policy::new(scope).with_incremental(Policy::DEFAULT_VERIFY_PERIOD)
    }
}
