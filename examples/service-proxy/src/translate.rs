//! The core: Services + EndpointSlices + this Node -> the IPVS desired
//! state, the addresses to bind on the dummy interface, the nftables rules
//! and the health-check ports, with kube-proxy's IPVS-mode semantics.
//!
//! Pure: no I/O, so every rule here is unit-tested on any host.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use lvs::reconcile::DesiredState;
use lvs::{Destination, Protocol, Scheduler, ServiceKey};

use crate::nft::{Rules, Tuple};
use crate::store::{Changes, Cluster, ObjKey};

/// kube-proxy's default `sessionAffinityConfig.clientIP.timeoutSeconds`.
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10_800;

/// What shapes the translation besides the cluster's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// IPVS scheduler of every service (`--ipvs-scheduler`, default rr).
    pub scheduler: Scheduler,
    /// `--nodeport-addresses`: NodePorts open only on node addresses inside
    /// these prefixes; empty means every node address.
    pub nodeport_cidrs: Vec<IpNet>,
    /// `--masquerade-all`: masquerade every packet to a service.
    pub masquerade_all: bool,
    /// `--cluster-cidr`: traffic to a ClusterIP from outside these
    /// prefixes is masqueraded.
    pub cluster_cidrs: Vec<IpNet>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scheduler: Scheduler::Rr,
            nodeport_cidrs: Vec::new(),
            masquerade_all: false,
            cluster_cidrs: Vec::new(),
        }
    }
}

/// An object that was skipped (wholly or in part), and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// `Service ns/name` or `EndpointSlice ns/name`.
    pub object: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A `healthCheckNodePort` and what it should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `namespace/name` of the Service.
    pub service: String,
    /// Ready (or serving-terminating) endpoints of the service on this
    /// node: 200 when non-zero, 503 otherwise.
    pub local_endpoints: usize,
}

/// Everything the node should look like for the current cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Translation {
    /// The IPVS services with their destinations.
    pub desired: DesiredState,
    /// Addresses to bind on the dummy interface (ClusterIPs, external
    /// IPs, load-balancer IPs).
    pub bind: BTreeSet<IpAddr>,
    /// NodePort services (on node addresses, not bound on the dummy).
    pub node_ports: BTreeSet<ServiceKey>,
    /// The nftables rules' data.
    pub nft: Rules,
    /// Health-check node ports of `externalTrafficPolicy: Local` services.
    pub health: BTreeMap<u16, HealthCheck>,
    /// Skipped objects and parts.
    pub problems: Vec<Problem>,
    /// Kubernetes Services that produced at least one IPVS service.
    pub services: usize,
    /// Destinations over all IPVS services.
    pub endpoints: usize,
}

/// The addresses NodePorts open on: the Node object's InternalIP and
/// ExternalIP addresses plus `local` (addresses found on the host's
/// interfaces), minus loopback and link-local, filtered by
/// `--nodeport-addresses`.
pub fn node_addresses(cluster: &Cluster, local: &[IpAddr], cfg: &Config) -> Vec<IpAddr> {
    let mut out = BTreeSet::new();
    let from_node = cluster
        .node()
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| a.type_ == "InternalIP" || a.type_ == "ExternalIP")
        .filter_map(|a| a.address.parse::<IpAddr>().ok());
    for ip in from_node.chain(local.iter().copied()) {
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_unicast_link_local(),
        };
        if ip.is_loopback() || ip.is_unspecified() || link_local {
            continue;
        }
        if cfg.nodeport_cidrs.is_empty() || cfg.nodeport_cidrs.iter().any(|n| n.contains(&ip)) {
            out.insert(ip);
        }
    }
    out.into_iter().collect()
}

/// One endpoint address with its conditions.
#[derive(Debug, Clone, Copy)]
struct Ep {
    addr: SocketAddr,
    ready: bool,
    serving: bool,
    terminating: bool,
    local: bool,
}

/// kube-proxy's choice: the ready endpoints; when none is ready, the
/// serving-but-terminating ones (so connections finish during a rollout
/// that replaced every pod). Non-serving and other terminating endpoints
/// are left out: the reconciler drains the ones that were there.
fn usable(eps: &[Ep], only_local: bool) -> Vec<SocketAddr> {
    let pick = |f: &dyn Fn(&Ep) -> bool| -> Vec<SocketAddr> {
        eps.iter()
            .filter(|e| (!only_local || e.local) && f(e))
            .map(|e| e.addr)
            .collect()
    };
    let ready = pick(&|e| e.ready && !e.terminating);
    if !ready.is_empty() {
        return ready;
    }
    pick(&|e| e.serving && e.terminating)
}

fn parse_protocol(p: Option<&str>) -> Result<Protocol, String> {
    match p.unwrap_or("TCP") {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        other => Err(format!("protocol {other:?} is not one IPVS balances")),
    }
}

fn port_u16(p: i32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p != 0)
}

fn family_of(address_type: &str) -> Option<bool> {
    match address_type {
        "IPv4" => Some(false),
        "IPv6" => Some(true),
        _ => None,
    }
}

/// Translator state for one pass.
struct Pass<'a> {
    cluster: &'a Cluster,
    cfg: &'a Config,
    node_addrs: &'a [IpAddr],
    out: Translation,
    keys: HashSet<ServiceKey>,
}

impl<'a> Pass<'a> {
    fn new(cluster: &'a Cluster, node_addrs: &'a [IpAddr], cfg: &'a Config) -> Self {
        Pass {
            cluster,
            cfg,
            node_addrs,
            out: Translation::default(),
            keys: HashSet::new(),
        }
    }

    fn finish(mut self) -> Translation {
        self.out.endpoints = self
            .out
            .desired
            .services
            .iter()
            .map(|s| s.destinations.len())
            .sum();
        self.out
    }
}

/// Translate the whole cluster. `node_addrs` are the NodePort addresses
/// ([`node_addresses`]).
pub fn translate(cluster: &Cluster, node_addrs: &[IpAddr], cfg: &Config) -> Translation {
    let mut pass = Pass::new(cluster, node_addrs, cfg);
    for (key, svc) in cluster.services() {
        pass.service(key, svc);
    }
    pass.finish()
}

/// One Service's translation on its own.
fn translate_service(
    cluster: &Cluster,
    key: &ObjKey,
    svc: &Service,
    node_addrs: &[IpAddr],
    cfg: &Config,
) -> Translation {
    let mut pass = Pass::new(cluster, node_addrs, cfg);
    pass.service(key, svc);
    pass.finish()
}

/// One Service's share of the [`Translator`]'s translation: the keys of
/// its IPVS services (which live in the translation itself) and the rest
/// of its own translation.
#[derive(Debug, Clone)]
struct Part {
    keys: Vec<ServiceKey>,
    rest: Translation,
}

/// Keeps a [`Translation`] up to date by re-translating only the Services
/// whose objects changed ([`Cluster::take_changes`]), so one
/// EndpointSlice change costs one Service's translation, not the
/// cluster's.
///
/// The translation it keeps equals [`translate`]'s, except that the IPVS
/// services of `desired` are in no particular order (the reconciler does
/// not care). It translates everything again when the configuration or the
/// NodePort addresses change, when the cluster says everything changed
/// (a new snapshot), and, for as long as it lasts, when two Services
/// claim the same IPVS service or health-check port: who keeps a claimed
/// one depends on every claimant, which only [`translate`] sees.
#[derive(Debug, Clone, Default)]
pub struct Translator {
    /// The configuration and NodePort addresses the parts were made with
    /// (`None`: nothing translated yet).
    made_with: Option<(Config, Vec<IpAddr>)>,
    parts: BTreeMap<ObjKey, Part>,
    out: Translation,
    /// Position of each IPVS service in `out.desired.services`.
    index: HashMap<ServiceKey, usize>,
    /// How many Services bind each address.
    bind_refs: HashMap<IpAddr, usize>,
    /// How many Services have each hairpin endpoint.
    hairpin_refs: HashMap<Tuple, usize>,
    /// The last full translation found Services claiming the same thing.
    clashing: bool,
}

impl Translator {
    /// A translator with nothing translated yet.
    pub fn new() -> Self {
        Translator::default()
    }

    /// The translation as of the last [`update`](Translator::update).
    pub fn translation(&self) -> &Translation {
        &self.out
    }

    /// Bring the translation up to date with `cluster`, given what changed
    /// since the last update. Returns how many Services were translated.
    pub fn update(
        &mut self,
        cluster: &Cluster,
        changes: &Changes,
        node_addrs: &[IpAddr],
        cfg: &Config,
    ) -> usize {
        let same_inputs = self
            .made_with
            .as_ref()
            .is_some_and(|(c, a)| c == cfg && a.as_slice() == node_addrs);
        if changes.all || !same_inputs || self.clashing {
            return self.full(cluster, node_addrs, cfg);
        }
        for key in &changes.services {
            self.remove_part(key);
            let Some(svc) = cluster.services().get(key) else {
                continue;
            };
            let part = translate_service(cluster, key, svc, node_addrs, cfg);
            if self.clashes_with(&part) {
                return self.full(cluster, node_addrs, cfg);
            }
            self.add_part(key, part);
        }
        self.gather_problems();
        changes.services.len()
    }

    fn full(&mut self, cluster: &Cluster, node_addrs: &[IpAddr], cfg: &Config) -> usize {
        *self = Translator {
            made_with: Some((cfg.clone(), node_addrs.to_vec())),
            ..Translator::default()
        };
        for (key, svc) in cluster.services() {
            let part = translate_service(cluster, key, svc, node_addrs, cfg);
            if self.clashes_with(&part) {
                *self = Translator {
                    made_with: self.made_with.take(),
                    out: translate(cluster, node_addrs, cfg),
                    clashing: true,
                    ..Translator::default()
                };
                return cluster.services().len();
            }
            self.add_part(key, part);
        }
        self.gather_problems();
        cluster.services().len()
    }

    /// Whether `part` claims an IPVS service or health-check port that
    /// another Service's part holds.
    fn clashes_with(&self, part: &Translation) -> bool {
        part.desired
            .services
            .iter()
            .any(|s| self.index.contains_key(&s.service.key))
            || part.health.keys().any(|p| self.out.health.contains_key(p))
    }

    fn add_part(&mut self, key: &ObjKey, mut t: Translation) {
        let out = &mut self.out;
        let services = std::mem::take(&mut t.desired.services);
        let keys = services.iter().map(|s| s.service.key).collect();
        for ds in services {
            self.index
                .insert(ds.service.key, out.desired.services.len());
            out.desired.services.push(ds);
        }
        for ip in &t.bind {
            let n = self.bind_refs.entry(*ip).or_insert(0);
            *n += 1;
            if *n == 1 {
                out.bind.insert(*ip);
            }
        }
        for tuple in &t.nft.hairpin {
            let n = self.hairpin_refs.entry(*tuple).or_insert(0);
            *n += 1;
            if *n == 1 {
                out.nft.hairpin.insert(*tuple);
            }
        }
        // The rest is keyed by the part's own IPVS services (or health
        // ports), which no other part has.
        out.node_ports.extend(&t.node_ports);
        out.nft.masquerade.extend(&t.nft.masquerade);
        out.nft.masquerade_outside.extend(&t.nft.masquerade_outside);
        out.nft
            .source_ranges
            .extend(t.nft.source_ranges.iter().map(|(k, v)| (*k, v.clone())));
        out.health
            .extend(t.health.iter().map(|(k, v)| (*k, v.clone())));
        out.services += t.services;
        out.endpoints += t.endpoints;
        self.parts.insert(key.clone(), Part { keys, rest: t });
    }

    fn remove_part(&mut self, key: &ObjKey) {
        let Some(Part { keys, rest: t }) = self.parts.remove(key) else {
            return;
        };
        let out = &mut self.out;
        for k in &keys {
            if let Some(pos) = self.index.remove(k) {
                out.desired.services.swap_remove(pos);
                if let Some(moved) = out.desired.services.get(pos) {
                    self.index.insert(moved.service.key, pos);
                }
            }
        }
        for ip in &t.bind {
            if release(&mut self.bind_refs, ip) {
                out.bind.remove(ip);
            }
        }
        for tuple in &t.nft.hairpin {
            if release(&mut self.hairpin_refs, tuple) {
                out.nft.hairpin.remove(tuple);
            }
        }
        for k in &t.node_ports {
            out.node_ports.remove(k);
        }
        for tuple in &t.nft.masquerade {
            out.nft.masquerade.remove(tuple);
        }
        for tuple in &t.nft.masquerade_outside {
            out.nft.masquerade_outside.remove(tuple);
        }
        for tuple in t.nft.source_ranges.keys() {
            out.nft.source_ranges.remove(tuple);
        }
        for port in t.health.keys() {
            out.health.remove(port);
        }
        out.services -= t.services;
        out.endpoints -= t.endpoints;
    }

    /// The problems of every part, in Service order (as [`translate`]
    /// lists them).
    fn gather_problems(&mut self) {
        self.out.problems = self
            .parts
            .values()
            .flat_map(|p| p.rest.problems.iter().cloned())
            .collect();
    }
}

/// Drop one reference to `k`; `true` when it was the last.
fn release<K: std::hash::Hash + Eq>(refs: &mut HashMap<K, usize>, k: &K) -> bool {
    match refs.get_mut(k) {
        Some(n) if *n > 1 => {
            *n -= 1;
            false
        }
        Some(_) => {
            refs.remove(k);
            true
        }
        None => false,
    }
}

impl Pass<'_> {
    fn problem(&mut self, kind: &str, key: &ObjKey, reason: impl Into<String>) {
        self.out.problems.push(Problem {
            object: format!("{kind} {}/{}", key.0, key.1),
            reason: reason.into(),
        });
    }

    fn service(&mut self, key: &ObjKey, svc: &Service) {
        let Some(spec) = svc.spec.as_ref() else {
            self.problem("Service", key, "no spec");
            return;
        };
        let type_ = spec.type_.as_deref().unwrap_or("ClusterIP");
        if type_ == "ExternalName" {
            return;
        }
        let mut ips: Vec<&str> = match &spec.cluster_ips {
            Some(v) if !v.is_empty() => v.iter().map(String::as_str).collect(),
            _ => spec.cluster_ip.as_deref().into_iter().collect(),
        };
        if ips.contains(&"None") {
            return; // headless: DNS only, nothing to balance
        }
        ips.retain(|ip| !ip.is_empty());
        if ips.is_empty() {
            self.problem("Service", key, "no clusterIP yet");
            return;
        }
        let mut cluster_ips = Vec::new();
        for ip in ips {
            match ip.parse::<IpAddr>() {
                Ok(a) => cluster_ips.push(a),
                Err(_) => self.problem("Service", key, format!("bad clusterIP {ip:?}")),
            }
        }
        let ports = spec.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            self.problem("Service", key, "no ports");
            return;
        }
        let affinity = match spec.session_affinity.as_deref() {
            Some("ClientIP") => {
                let t = spec
                    .session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds);
                match t {
                    None => Some(DEFAULT_AFFINITY_TIMEOUT),
                    Some(t) if t > 0 && t <= 86_400 => Some(t as u32),
                    Some(t) => {
                        self.problem(
                            "Service",
                            key,
                            format!("sessionAffinity timeoutSeconds {t} out of 1..=86400; using the default"),
                        );
                        Some(DEFAULT_AFFINITY_TIMEOUT)
                    }
                }
            }
            _ => None,
        };
        let ext_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let int_local = spec.internal_traffic_policy.as_deref() == Some("Local");
        let mut external_ips = Vec::new();
        for ip in spec.external_ips.iter().flatten() {
            match ip.parse::<IpAddr>() {
                Ok(a) => external_ips.push(a),
                Err(_) => self.problem("Service", key, format!("bad externalIP {ip:?}")),
            }
        }
        let mut lb_ips = Vec::new();
        if type_ == "LoadBalancer" {
            let ingress = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|l| l.ingress.as_ref());
            for ing in ingress.into_iter().flatten() {
                // ipMode Proxy: the load balancer proxies, the node must
                // not capture the address.
                if ing.ip_mode.as_deref() == Some("Proxy") {
                    continue;
                }
                if let Some(ip) = &ing.ip {
                    match ip.parse::<IpAddr>() {
                        Ok(a) => lb_ips.push(a),
                        Err(_) => {
                            self.problem("Service", key, format!("bad load-balancer IP {ip:?}"))
                        }
                    }
                }
            }
        }
        let mut ranges = Vec::new();
        for r in spec.load_balancer_source_ranges.iter().flatten() {
            match r.trim().parse::<IpNet>() {
                Ok(n) => ranges.push(n.trunc()),
                Err(_) => self.problem(
                    "Service",
                    key,
                    format!("bad loadBalancerSourceRanges entry {r:?} ignored"),
                ),
            }
        }
        let node_ports = matches!(type_, "NodePort" | "LoadBalancer");

        let before = self.out.desired.len();
        let mut local_eps: BTreeSet<IpAddr> = BTreeSet::new();
        for port in ports {
            let proto = match parse_protocol(port.protocol.as_deref()) {
                Ok(p) => p,
                Err(e) => {
                    self.problem("Service", key, format!("port {}: {e}", port.port));
                    continue;
                }
            };
            let Some(svc_port) = port_u16(port.port) else {
                self.problem("Service", key, format!("bad port {}", port.port));
                continue;
            };
            for &cip in &cluster_ips {
                let eps = self.endpoints(key, port, proto, cip.is_ipv6());
                let all = usable(&eps, false);
                let local = usable(&eps, true);
                local_eps.extend(local.iter().map(|a| a.ip()));
                let internal = if int_local { &local } else { &all };
                let external = if ext_local { &local } else { &all };
                let tuple = |ip: IpAddr, port: u16| Tuple {
                    addr: ip,
                    protocol: proto,
                    port,
                };
                // ClusterIP.
                let ck = SocketAddr::new(cip, svc_port);
                if self.add(key, proto, ck, internal, affinity) {
                    self.out.bind.insert(cip);
                    if self.cfg.masquerade_all {
                        self.out.nft.masquerade.insert(tuple(cip, svc_port));
                    } else if !self.cfg.cluster_cidrs.is_empty() {
                        self.out.nft.masquerade_outside.insert(tuple(cip, svc_port));
                    }
                }
                // External IPs and load-balancer IPs of this family.
                let fam = cip.is_ipv6();
                let vips: Vec<(IpAddr, bool)> = external_ips
                    .iter()
                    .map(|ip| (*ip, false))
                    .chain(lb_ips.iter().map(|ip| (*ip, true)))
                    .filter(|(ip, _)| ip.is_ipv6() == fam)
                    .collect();
                for (vip, is_lb) in vips {
                    let k = SocketAddr::new(vip, svc_port);
                    if !self.add(key, proto, k, external, affinity) {
                        continue;
                    }
                    self.out.bind.insert(vip);
                    if !ext_local || self.cfg.masquerade_all {
                        self.out.nft.masquerade.insert(tuple(vip, svc_port));
                    }
                    if is_lb && !ranges.is_empty() {
                        let allowed: Vec<IpNet> = ranges
                            .iter()
                            .filter(|n| n.addr().is_ipv6() == fam)
                            .copied()
                            .collect();
                        self.out
                            .nft
                            .source_ranges
                            .insert(tuple(vip, svc_port), allowed);
                    }
                }
                // NodePorts on every node address of this family.
                if node_ports && let Some(np) = port.node_port {
                    let Some(np) = port_u16(np) else {
                        self.problem("Service", key, format!("bad nodePort {np}"));
                        continue;
                    };
                    let addrs: Vec<IpAddr> = self
                        .node_addrs
                        .iter()
                        .copied()
                        .filter(|a| a.is_ipv6() == fam)
                        .collect();
                    for a in addrs {
                        let k = SocketAddr::new(a, np);
                        if self.add(key, proto, k, external, affinity) {
                            self.out.node_ports.insert(service_key(proto, k));
                            if !ext_local || self.cfg.masquerade_all {
                                self.out.nft.masquerade.insert(tuple(a, np));
                            }
                        }
                    }
                }
                for d in &all {
                    self.out.nft.hairpin.insert(Tuple {
                        addr: d.ip(),
                        protocol: proto,
                        port: d.port(),
                    });
                }
            }
        }
        if self.out.desired.len() > before {
            self.out.services += 1;
        }
        if type_ == "LoadBalancer"
            && ext_local
            && let Some(hc) = spec.health_check_node_port.and_then(port_u16)
        {
            self.out.health.insert(
                hc,
                HealthCheck {
                    service: format!("{}/{}", key.0, key.1),
                    local_endpoints: local_eps.len(),
                },
            );
        }
    }

    /// Add one IPVS service; `false` (and a problem) when another Service
    /// already claimed the same address, port and protocol (Services are
    /// visited in namespace/name order, so the first one keeps it).
    fn add(
        &mut self,
        key: &ObjKey,
        proto: Protocol,
        addr: SocketAddr,
        dests: &[SocketAddr],
        affinity: Option<u32>,
    ) -> bool {
        let k = service_key(proto, addr);
        if !self.keys.insert(k) {
            self.problem(
                "Service",
                key,
                format!("{k} is already used by another Service; skipped"),
            );
            return false;
        }
        let mut s = lvs::Service::new(k).with_scheduler(self.cfg.scheduler.clone());
        if let Some(t) = affinity {
            s = s.with_persistence(t);
        }
        self.out
            .desired
            .push(s, dests.iter().map(|d| Destination::new(*d)));
        true
    }

    /// The endpoints of service port `port` in the given family, from
    /// every slice of the service: the slice's port with the same name
    /// and protocol gives the target port (named target ports are
    /// resolved there by the EndpointSlice controller).
    fn endpoints(
        &mut self,
        key: &ObjKey,
        port: &ServicePort,
        proto: Protocol,
        v6: bool,
    ) -> Vec<Ep> {
        let name = port.name.as_deref().unwrap_or("");
        let mut out: Vec<Ep> = Vec::new();
        let mut seen = HashSet::new();
        let mut problems = Vec::new();
        for slice in self.cluster.slices_of(key) {
            if family_of(&slice.address_type) != Some(v6) {
                continue;
            }
            let Some(target) = slice_port(slice, name, proto) else {
                continue;
            };
            let Some(target) = target else {
                problems.push((
                    slice_key(slice),
                    format!("port {name:?} has no valid number"),
                ));
                continue;
            };
            for ep in &slice.endpoints {
                for a in endpoint_addrs(ep, v6, &mut problems, slice) {
                    let addr = SocketAddr::new(a, target);
                    if !seen.insert(addr) {
                        continue;
                    }
                    let c = ep.conditions.as_ref();
                    let ready = c.and_then(|c| c.ready).unwrap_or(true);
                    out.push(Ep {
                        addr,
                        ready,
                        serving: c.and_then(|c| c.serving).unwrap_or(ready),
                        terminating: c.and_then(|c| c.terminating).unwrap_or(false),
                        local: ep.node_name.as_deref() == Some(self.cluster.node_name.as_str()),
                    });
                }
            }
        }
        for (k, reason) in problems {
            self.problem("EndpointSlice", &k, reason);
        }
        out
    }
}

fn slice_key(s: &EndpointSlice) -> ObjKey {
    (
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    )
}

/// The slice's port for service port `name`/`proto`: `None` when the
/// slice has no such port, `Some(None)` when it has one without a valid
/// number.
fn slice_port(s: &EndpointSlice, name: &str, proto: Protocol) -> Option<Option<u16>> {
    s.ports.iter().flatten().find_map(|p| {
        let same_name = p.name.as_deref().unwrap_or("") == name;
        let same_proto = parse_protocol(p.protocol.as_deref()).ok() == Some(proto);
        (same_name && same_proto).then(|| p.port.and_then(port_u16))
    })
}

fn endpoint_addrs(
    ep: &Endpoint,
    v6: bool,
    problems: &mut Vec<(ObjKey, String)>,
    slice: &EndpointSlice,
) -> Vec<IpAddr> {
    // Kubernetes uses only the first address of an endpoint.
    let Some(a) = ep.addresses.first() else {
        return Vec::new();
    };
    match a.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv6() == v6 => vec![ip],
        Ok(_) => {
            problems.push((
                slice_key(slice),
                format!("address {a} is not of the slice's family"),
            ));
            Vec::new()
        }
        Err(_) => {
            problems.push((slice_key(slice), format!("bad endpoint address {a:?}")));
            Vec::new()
        }
    }
}

/// The IPVS key of `proto` on `addr`.
pub fn service_key(proto: Protocol, addr: SocketAddr) -> ServiceKey {
    match proto {
        Protocol::Udp => ServiceKey::udp(addr),
        Protocol::Sctp => ServiceKey::sctp(addr),
        _ => ServiceKey::tcp(addr),
    }
}
