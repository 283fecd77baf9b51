//! One sync pass: snapshot -> translation -> dummy addresses, IPVS,
//! nftables, health-check ports, metrics.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use lvs::reconcile::Kernel;
use tracing::{debug, info, warn};

use crate::http::HealthPorts;
use crate::ipvs::{Ipvs, IpvsReport};
use crate::metrics::Metrics;
use crate::nft;
use crate::node::{self, Links};
use crate::store::Cluster;
use crate::translate::{self, Config, Problem, Translation, Translator};

/// What one pass did.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// IPVS's part.
    pub ipvs: IpvsReport,
    /// Addresses added to and removed from the dummy interface.
    pub address_changes: usize,
    /// Whether the nftables table was rewritten.
    pub nft_written: bool,
    /// Problems not seen in the previous pass.
    pub new_problems: Vec<Problem>,
    /// Node-side failures (also logged and counted).
    pub node_errors: Vec<String>,
    /// Kubernetes Services / IPVS services / destinations programmed.
    pub counts: (usize, usize, usize),
    /// Kubernetes Services translated in this pass (only the changed
    /// ones, unless the configuration or the NodePort addresses changed).
    pub translated: usize,
    /// Time translating the cluster.
    pub translate_time: Duration,
    /// Wall time of the pass.
    pub duration: Duration,
}

/// The node side the proxy drives; absent in logic tests, where the
/// dummy interface's addresses are kept in memory.
pub struct NodeSide {
    /// The dummy interface.
    pub links: Links,
    /// `--cluster-cidr`, for the nftables rules.
    pub cluster_cidrs: Vec<IpNet>,
    /// Health-check node ports.
    pub health: HealthPorts,
}

/// The proxy's state between passes.
pub struct Proxy<K: Kernel> {
    /// The cluster as the sources describe it.
    pub cluster: Cluster,
    /// Translation settings.
    pub cfg: Config,
    /// The reconciler.
    pub ipvs: Ipvs<K>,
    translator: Translator,
    node: Option<NodeSide>,
    bound_in_memory: BTreeSet<IpAddr>,
    last_nft: Option<String>,
    problems: BTreeSet<Problem>,
    /// Metrics (shared with the HTTP server).
    pub metrics: Arc<Metrics>,
}

impl<K: Kernel> Proxy<K> {
    /// A proxy for `cluster.node_name`.
    pub fn new(
        cluster: Cluster,
        cfg: Config,
        kernel: K,
        node: Option<NodeSide>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Proxy {
            cluster,
            cfg,
            ipvs: Ipvs::new(kernel),
            translator: Translator::new(),
            node,
            bound_in_memory: BTreeSet::new(),
            last_nft: None,
            problems: BTreeSet::new(),
            metrics,
        }
    }

    /// The NodePort addresses now.
    pub fn node_addresses(&self) -> Vec<IpAddr> {
        let host = match &self.node {
            Some(n) => n.links.host_addresses().unwrap_or_else(|e| {
                warn!(error = %e, "cannot list the host's addresses");
                Vec::new()
            }),
            None => Vec::new(),
        };
        translate::node_addresses(&self.cluster, &host, &self.cfg)
    }

    /// Make the next pass a full resync: translate every Service, read the
    /// whole IPVS table and plan every service.
    pub fn request_full_pass(&mut self) {
        self.translator = Translator::new();
        self.ipvs.request_full_pass();
    }

    /// The translation of the current snapshot, from scratch.
    pub fn translation(&self) -> Translation {
        translate::translate(&self.cluster, &self.node_addresses(), &self.cfg)
    }

    fn bound(&self) -> Result<BTreeSet<IpAddr>, String> {
        match &self.node {
            Some(n) => n.links.bound().map_err(|e| e.to_string()),
            None => Ok(self.bound_in_memory.clone()),
        }
    }

    fn set_bound(
        &mut self,
        have: &BTreeSet<IpAddr>,
        want: &BTreeSet<IpAddr>,
    ) -> Result<usize, String> {
        match &self.node {
            Some(n) => n.links.set_bound(have, want).map_err(|e| e.to_string()),
            None => {
                let changes = have.symmetric_difference(want).count();
                if changes > 0 || self.bound_in_memory != *want {
                    self.bound_in_memory = want.clone();
                }
                Ok(changes)
            }
        }
    }

    /// One pass.
    ///
    /// # Errors
    /// When IPVS cannot be read (nothing applied to IPVS; the caller
    /// retries). Node-side failures are in the report, not errors.
    pub fn sync(&mut self) -> Result<PassReport, lvs::Error> {
        let t0 = Instant::now();
        // Only the Services whose objects changed are translated again.
        let changes = self.cluster.take_changes();
        let addrs = self.node_addresses();
        let mut translator = std::mem::take(&mut self.translator);
        let translated = translator.update(&self.cluster, &changes, &addrs, &self.cfg);
        let rep = PassReport {
            translated,
            translate_time: t0.elapsed(),
            ..PassReport::default()
        };
        let r = self.apply(translator.translation(), rep, t0);
        self.translator = translator;
        r
    }

    /// The rest of a pass: make the node match `t`.
    fn apply(
        &mut self,
        t: &Translation,
        mut rep: PassReport,
        t0: Instant,
    ) -> Result<PassReport, lvs::Error> {
        rep.counts = (t.services, t.desired.len(), t.endpoints);
        let now: BTreeSet<Problem> = t.problems.iter().cloned().collect();
        for p in now.difference(&self.problems) {
            warn!(object = %p.object, reason = %p.reason, "skipped invalid input");
            self.metrics.bad_objects.inc();
            rep.new_problems.push(p.clone());
        }
        self.problems = now;

        // Bind new addresses before IPVS needs them; keep old ones until
        // their services are gone.
        let node_err = |rep: &mut PassReport, e: String| {
            warn!(error = %e, "node-side change failed; the next pass retries");
            rep.node_errors.push(e);
        };
        let have = match self.bound() {
            Ok(b) => b,
            Err(e) => {
                node_err(&mut rep, e);
                BTreeSet::new()
            }
        };
        // Usually every address is bound already: no new set to build.
        let both = if t.bind.is_subset(&have) {
            have
        } else {
            let both: BTreeSet<IpAddr> = have.union(&t.bind).copied().collect();
            match self.set_bound(&have, &both) {
                Ok(n) => rep.address_changes += n,
                Err(e) => node_err(&mut rep, e),
            }
            both
        };

        let ipvs = self.ipvs.sync(t, &both);
        let ipvs = match ipvs {
            Ok(r) => r,
            Err(e) => {
                self.metrics.errors.inc();
                return Err(e);
            }
        };
        if ipvs.failures > 0 {
            self.metrics.errors.inc_by(ipvs.failures as u64);
        }
        if ipvs.writes > 0 {
            info!(writes = ipvs.writes, failed = ipvs.failures, "ipvs updated");
            debug!(plan = %ipvs.plan, "ipvs plan");
        }

        if let Some(n) = &self.node {
            let script = nft::render(&t.nft, &n.cluster_cidrs);
            if self.last_nft.as_deref() != Some(script.as_str()) {
                match node::nft_apply(&script) {
                    Ok(()) => {
                        rep.nft_written = true;
                        self.last_nft = Some(script);
                    }
                    Err(e) => node_err(&mut rep, e.to_string()),
                }
            }
        }
        match self.set_bound(&both, &t.bind) {
            Ok(n) => rep.address_changes += n,
            Err(e) => node_err(&mut rep, e),
        }
        if let Some(n) = &mut self.node {
            for (port, e) in n.health.update(&t.health) {
                node_err(&mut rep, format!("health-check port {port}: {e}"));
            }
        }
        self.metrics.errors.inc_by(rep.node_errors.len() as u64);

        rep.ipvs = ipvs;
        rep.duration = t0.elapsed();
        let m = &self.metrics;
        m.syncs.inc();
        m.sync_duration.observe(rep.duration.as_secs_f64());
        m.ipvs_writes.inc_by(rep.ipvs.writes as u64);
        m.services.set(t.services as i64);
        m.ipvs_services.set(t.desired.len() as i64);
        m.endpoints.set(t.endpoints as i64);
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        m.last_sync.set(unix as i64);
        Ok(rep)
    }
}
