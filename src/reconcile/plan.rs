//! Planning: a pure function from (desired, observed) to the fewest changes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::desired::DesiredState;
use super::policy::{DrainMode, DrainPolicy, Policy, ServiceRemoval};
use crate::error::Result;
use crate::model::Op;
use crate::model::{
    ConnCounts, Destination, DestinationEntry, Forwarding, Service, ServiceKey, TableEntry,
};
use crate::rules::{Rule, Rules};

/// A destination being drained: in scope, not desired, weight 0, waiting
/// for its connections to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drain {
    /// Its service.
    pub service: ServiceKey,
    /// Its address.
    pub dest: SocketAddr,
    /// When this reconciler started the drain, or first saw it (after a
    /// restart the kernel cannot tell when a drain began).
    pub since: Instant,
    /// Connections it still had when the table was read.
    pub conns: ConnCounts,
    /// When the drain timeout removes it anyway (`None`: no timeout).
    pub deadline: Option<Instant>,
}

/// Why a destination is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UpdateReason {
    /// Its desired configuration differs from the kernel's.
    Config,
    /// It left the desired state: weight 0 starts its drain.
    StartDrain,
    /// It came back while draining: its desired weight is restored.
    Restore,
}

/// Why a service or destination is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoveReason {
    /// It left the desired state and the policy removes it at once.
    NotDesired,
    /// Its drain finished: no active and no inactive connections (for a
    /// service: no destinations left).
    Drained,
    /// Its drain timed out after this long, with connections left.
    DrainTimedOut(Duration),
}

/// One change of a [`Plan`]: an [`Op`] together with what it replaces, so
/// it can be shown to a human.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Create a service (`IPVS_CMD_NEW_SERVICE`).
    AddService(Service),
    /// Change a service in place (`IPVS_CMD_SET_SERVICE`): connections are
    /// kept (recreating the service would drop them).
    UpdateService {
        /// The kernel's configuration.
        from: Service,
        /// The desired one.
        to: Service,
    },
    /// Remove a service and its destinations (`IPVS_CMD_DEL_SERVICE`).
    RemoveService {
        /// The kernel's configuration.
        service: Service,
        /// Why.
        reason: RemoveReason,
    },
    /// Add a destination (`IPVS_CMD_NEW_DEST`).
    AddDestination {
        /// Its service.
        service: ServiceKey,
        /// The destination.
        dest: Destination,
    },
    /// Change a destination in place (`IPVS_CMD_SET_DEST`), including its
    /// forwarding method.
    UpdateDestination {
        /// Its service.
        service: ServiceKey,
        /// The kernel's configuration.
        from: Destination,
        /// The new one.
        to: Destination,
        /// Why.
        reason: UpdateReason,
    },
    /// Remove a destination (`IPVS_CMD_DEL_DEST`).
    RemoveDestination {
        /// Its service.
        service: ServiceKey,
        /// The kernel's configuration.
        dest: Destination,
        /// Its connections when the table was read.
        conns: ConnCounts,
        /// Why.
        reason: RemoveReason,
    },
}

impl Change {
    /// The operation that makes this change.
    pub fn op(&self) -> Op {
        match self {
            Change::AddService(s) => Op::AddService(s.clone()),
            Change::UpdateService { to, .. } => Op::UpdateService(to.clone()),
            Change::RemoveService { service, .. } => Op::RemoveService(service.key),
            Change::AddDestination { service, dest } => Op::AddDestination(*service, *dest),
            Change::UpdateDestination { service, to, .. } => Op::UpdateDestination(*service, *to),
            Change::RemoveDestination { service, dest, .. } => {
                Op::RemoveDestination(*service, dest.addr)
            }
        }
    }

    /// The service this change touches.
    pub fn service_key(&self) -> ServiceKey {
        match self {
            Change::AddService(s) => s.key,
            Change::UpdateService { to, .. } => to.key,
            Change::RemoveService { service, .. } => service.key,
            Change::AddDestination { service, .. }
            | Change::UpdateDestination { service, .. }
            | Change::RemoveDestination { service, .. } => *service,
        }
    }
}

/// The changes that make the kernel match the desired state, in a safe
/// order: services are created or updated first, then destinations are
/// added and updated, then destinations removed, then services removed.
///
/// [`Display`](fmt::Display) prints it for humans (a dry run):
///
/// ```text
/// + service TCP 10.0.0.1:80 rr
/// + dest TCP 10.0.0.1:80 -> 192.168.1.2:8080 masq weight 1
/// ~ dest TCP 10.0.0.1:80 -> 192.168.1.3:8080 weight 3 -> 0 (drain)
/// - dest TCP 10.0.0.1:80 -> 192.168.1.4:8080 (drained)
/// # draining TCP 10.0.0.1:80 -> 192.168.1.3:8080: 2 active, 0 inactive connections, 900 s left
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    changes: Vec<Change>,
    draining: Vec<Drain>,
    pub(super) unmanaged: usize,
    now: Option<Instant>,
}

impl Plan {
    /// The changes, in the order they are applied.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The operations, in order (what [`apply`](super::apply) sends).
    pub fn ops(&self) -> Vec<Op> {
        self.changes.iter().map(Change::op).collect()
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// `true` when the kernel already matches (drains may still be waiting).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Destinations still draining once this plan is applied (including
    /// drains it starts), to hand to the next [`plan`] call.
    pub fn draining(&self) -> &[Drain] {
        &self.draining
    }

    /// Services left alone because they are outside the scope.
    pub fn unmanaged(&self) -> usize {
        self.unmanaged
    }

    /// The plan as `ipvsadm -R` input (one command per line, the syntax of
    /// `ipvsadm -S`), e.g. to compare with ipvsadm or to hand to an
    /// operator.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for what ipvsadm cannot express: services of protocols other than
    /// TCP, UDP and SCTP; forwarding other than NAT, direct routing and
    /// ipip/gue/gre tunnels (e.g. local-node); and a direct-routing or
    /// tunnel destination of an address service whose port differs from
    /// the service's (ipvsadm silently replaces it with the service port).
    pub fn to_ipvsadm_restore(&self) -> Result<String> {
        Ok(self.to_rules()?.to_string())
    }

    /// The plan as ipvsadm [`Rules`] (one command per change), the value
    /// [`to_ipvsadm_restore`](Plan::to_ipvsadm_restore) prints.
    ///
    /// # Errors
    /// As [`to_ipvsadm_restore`](Plan::to_ipvsadm_restore) ([`Rule::check`]).
    pub fn to_rules(&self) -> Result<Rules> {
        self.changes
            .iter()
            .map(|c| {
                let rule = match c {
                    Change::AddService(s) => Rule::AddService(s.clone()),
                    Change::UpdateService { to, .. } => Rule::EditService(to.clone()),
                    Change::RemoveService { service, .. } => Rule::DeleteService(service.key),
                    Change::AddDestination { service, dest } => Rule::AddServer(*service, *dest),
                    Change::UpdateDestination { service, to, .. } => {
                        Rule::EditServer(*service, *to)
                    }
                    Change::RemoveDestination { service, dest, .. } => {
                        Rule::DeleteServer(*service, dest.addr)
                    }
                };
                rule.check()?;
                Ok(rule)
            })
            .collect()
    }
}

/// Compute the changes that make `observed` (a whole-table read, e.g.
/// [`Handle::table`](crate::Handle::table)) match `desired` within
/// `policy.scope`. Pure: it reads no clock and touches no kernel.
///
/// - Equal means equal: configurations are compared as model values
///   ([`Service`], [`Destination`]), which carry neither the kernel's
///   internal flags (HASHED) nor counters, so an unchanged table plans
///   nothing.
/// - A changed service or destination is updated in place, never
///   recreated (recreating drops its connections).
/// - Services outside the scope are never touched. A desired service
///   outside the scope is an error.
/// - A destination leaving the desired state drains per `policy.drain`
///   (see [`DrainPolicy`]). `drains` are the [`Plan::draining`] of the
///   previous plan (empty after a start: drains found in the kernel then
///   start their timeout at `now`); `now` decides timeouts.
/// - New destinations of a service are added in reverse desired order,
///   since the kernel lists the newest first: a service created from
///   scratch lists them in desired order.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when
/// `desired` is invalid ([`DesiredState::validate`]); nothing is planned.
pub fn plan(
    desired: &DesiredState,
    observed: &[TableEntry],
    policy: &Policy,
    drains: &[Drain],
    now: Instant,
) -> Result<Plan> {
    desired.validate(&policy.scope)?;
    let prev: HashMap<(ServiceKey, SocketAddr), Instant> = drains
        .iter()
        .map(|d| ((d.service, d.dest), d.since))
        .collect();
    let by_key: HashMap<ServiceKey, &TableEntry> = observed
        .iter()
        .map(|e| (e.service.service.key, e))
        .collect();
    let mut b = Builder {
        policy: &policy.drain,
        prev: &prev,
        now,
        svc_up: Vec::new(),
        dest_up: Vec::new(),
        dest_rm: Vec::new(),
        svc_rm: Vec::new(),
        draining: Vec::new(),
    };
    let mut want: HashMap<SocketAddr, &Destination> = HashMap::new();
    let mut have: HashSet<SocketAddr> = HashSet::new();
    for ds in &desired.services {
        let key = ds.service.key;
        let Some(entry) = by_key.get(&key) else {
            b.svc_up.push(Change::AddService(ds.service.clone()));
            b.dest_up.extend(
                ds.destinations
                    .iter()
                    .rev()
                    .map(|d| Change::AddDestination {
                        service: key,
                        dest: *d,
                    }),
            );
            continue;
        };
        if entry.service.service != ds.service {
            b.svc_up.push(Change::UpdateService {
                from: entry.service.service.clone(),
                to: ds.service.clone(),
            });
        }
        want.clear();
        want.extend(ds.destinations.iter().map(|d| (d.addr, d)));
        have.clear();
        for o in &entry.destinations {
            let addr = o.destination.addr;
            have.insert(addr);
            match want.get(&addr) {
                Some(d) if **d == o.destination => {}
                Some(d) => {
                    let reason = if o.destination.weight == 0
                        && d.weight != 0
                        && prev.contains_key(&(key, addr))
                    {
                        UpdateReason::Restore
                    } else {
                        UpdateReason::Config
                    };
                    b.dest_up.push(Change::UpdateDestination {
                        service: key,
                        from: o.destination,
                        to: **d,
                        reason,
                    });
                }
                None => {
                    b.leave(key, o);
                }
            }
        }
        b.dest_up.extend(
            ds.destinations
                .iter()
                .rev()
                .filter(|d| !have.contains(&d.addr))
                .map(|d| Change::AddDestination {
                    service: key,
                    dest: *d,
                }),
        );
    }

    let desired_keys: HashSet<ServiceKey> =
        desired.services.iter().map(|s| s.service.key).collect();
    let mut unmanaged = 0;
    for e in observed {
        let svc = &e.service.service;
        if desired_keys.contains(&svc.key) {
            continue;
        }
        if !policy.scope.contains(&svc.key) {
            unmanaged += 1;
            continue;
        }
        match policy.drain.services {
            ServiceRemoval::Immediate => b.svc_rm.push(Change::RemoveService {
                service: svc.clone(),
                reason: RemoveReason::NotDesired,
            }),
            ServiceRemoval::Drain => {
                let marks = (b.dest_up.len(), b.dest_rm.len(), b.draining.len());
                let kept = e
                    .destinations
                    .iter()
                    .filter(|o| b.leave(svc.key, o))
                    .count();
                if kept == 0 {
                    // Nothing left to wait for: one DEL_SERVICE instead.
                    b.dest_up.truncate(marks.0);
                    b.dest_rm.truncate(marks.1);
                    b.draining.truncate(marks.2);
                    b.svc_rm.push(Change::RemoveService {
                        service: svc.clone(),
                        reason: if e.destinations.is_empty() {
                            RemoveReason::Drained
                        } else {
                            RemoveReason::NotDesired
                        },
                    });
                }
            }
        }
    }

    let mut changes = b.svc_up;
    changes.append(&mut b.dest_up);
    changes.append(&mut b.dest_rm);
    changes.append(&mut b.svc_rm);
    Ok(Plan {
        changes,
        draining: b.draining,
        unmanaged,
        now: Some(now),
    })
}

struct Builder<'a> {
    policy: &'a DrainPolicy,
    prev: &'a HashMap<(ServiceKey, SocketAddr), Instant>,
    now: Instant,
    svc_up: Vec<Change>,
    dest_up: Vec<Change>,
    dest_rm: Vec<Change>,
    svc_rm: Vec<Change>,
    draining: Vec<Drain>,
}

impl Builder<'_> {
    /// Plan the exit of an undesired destination; `true` if it stays in
    /// the kernel after this plan (draining).
    fn leave(&mut self, service: ServiceKey, o: &DestinationEntry) -> bool {
        let dest = o.destination;
        let remove = |reason| Change::RemoveDestination {
            service,
            dest,
            conns: o.conns,
            reason,
        };
        if self.policy.mode_for(&service) == DrainMode::Immediate {
            self.dest_rm.push(remove(RemoveReason::NotDesired));
            return false;
        }
        let since = self
            .prev
            .get(&(service, dest.addr))
            .copied()
            .unwrap_or(self.now);
        let deadline = self.policy.timeout.and_then(|t| since.checked_add(t));
        let drain = Drain {
            service,
            dest: dest.addr,
            since,
            conns: o.conns,
            deadline,
        };
        if dest.weight != 0 && dest.with_weight(0).validate_for(&service).is_err() {
            // Another client's destination with a forwarding method lvs
            // cannot write back (SET_DEST needs it): no drain possible.
            self.dest_rm.push(remove(RemoveReason::NotDesired));
            return false;
        }
        if dest.weight != 0 {
            // Always through weight 0 first, even when idle: a connection
            // scheduled between our read and a removal would be cut.
            self.dest_up.push(Change::UpdateDestination {
                service,
                from: dest,
                to: dest.with_weight(0),
                reason: UpdateReason::StartDrain,
            });
            self.draining.push(drain);
            return true;
        }
        if u64::from(o.conns.active) + u64::from(o.conns.inactive) == 0 {
            self.dest_rm.push(remove(RemoveReason::Drained));
            return false;
        }
        if deadline.is_some_and(|d| self.now >= d) {
            self.dest_rm.push(remove(RemoveReason::DrainTimedOut(
                self.now.saturating_duration_since(since),
            )));
            return false;
        }
        self.draining.push(drain);
        true
    }
}

// ----- display ---------------------------------------------------------------

struct SvcDesc<'a>(&'a Service);

impl fmt::Display for SvcDesc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(f, "{} {}", s.key, s.scheduler)?;
        if let Some(p) = &s.persistence {
            write!(f, " persistent {} netmask {}", p.timeout, p.netmask)?;
        }
        if let Some(pe) = &s.persistence_engine {
            write!(f, " pe {pe}")?;
        }
        if s.one_packet {
            f.write_str(" ops")?;
        }
        Ok(())
    }
}

fn forwarding_word(fwd: &Forwarding) -> String {
    match fwd {
        Forwarding::Masquerade => "masq".into(),
        Forwarding::DirectRoute => "route".into(),
        Forwarding::Local => "local".into(),
        t => t.to_string().to_lowercase(),
    }
}

fn thresholds(d: &Destination) -> String {
    format!("thresholds {}/{}", d.lower_threshold, d.upper_threshold)
}

struct DestDesc<'a>(&'a Destination);

impl fmt::Display for DestDesc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{} {} weight {}",
            d.addr,
            forwarding_word(&d.forwarding),
            d.weight
        )?;
        if d.lower_threshold != 0 || d.upper_threshold != 0 {
            write!(f, " {}", thresholds(d))?;
        }
        Ok(())
    }
}

fn persistence_word(s: &Service) -> String {
    match &s.persistence {
        None => "none".into(),
        Some(p) => format!("{} s netmask {}", p.timeout, p.netmask),
    }
}

fn service_diff(from: &Service, to: &Service) -> String {
    let mut parts = Vec::new();
    if from.scheduler != to.scheduler {
        parts.push(format!("scheduler {} -> {}", from.scheduler, to.scheduler));
    }
    if from.persistence != to.persistence {
        parts.push(format!(
            "persistence {} -> {}",
            persistence_word(from),
            persistence_word(to)
        ));
    }
    if from.persistence_engine != to.persistence_engine {
        let w = |p: &Option<String>| p.clone().unwrap_or_else(|| "none".into());
        parts.push(format!(
            "pe {} -> {}",
            w(&from.persistence_engine),
            w(&to.persistence_engine)
        ));
    }
    if from.one_packet != to.one_packet {
        parts.push(format!("ops {} -> {}", from.one_packet, to.one_packet));
    }
    parts.join(", ")
}

fn dest_diff(from: &Destination, to: &Destination) -> String {
    let mut parts = Vec::new();
    if from.forwarding != to.forwarding {
        parts.push(format!(
            "{} -> {}",
            forwarding_word(&from.forwarding),
            forwarding_word(&to.forwarding)
        ));
    }
    if from.weight != to.weight {
        parts.push(format!("weight {} -> {}", from.weight, to.weight));
    }
    if (from.lower_threshold, from.upper_threshold) != (to.lower_threshold, to.upper_threshold) {
        parts.push(format!(
            "thresholds {}/{} -> {}/{}",
            from.lower_threshold, from.upper_threshold, to.lower_threshold, to.upper_threshold
        ));
    }
    parts.join(", ")
}

impl fmt::Display for RemoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveReason::NotDesired => f.write_str("not desired"),
            RemoveReason::Drained => f.write_str("drained"),
            RemoveReason::DrainTimedOut(d) => write!(f, "drain timed out after {} s", d.as_secs()),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::AddService(s) => write!(f, "+ service {}", SvcDesc(s)),
            Change::UpdateService { from, to } => {
                write!(f, "~ service {} {}", to.key, service_diff(from, to))
            }
            Change::RemoveService { service, reason } => {
                write!(f, "- service {} ({reason})", service.key)
            }
            Change::AddDestination { service, dest } => {
                write!(f, "+ dest {service} -> {}", DestDesc(dest))
            }
            Change::UpdateDestination {
                service,
                from,
                to,
                reason,
            } => {
                write!(f, "~ dest {service} -> {} {}", to.addr, dest_diff(from, to))?;
                match reason {
                    UpdateReason::Config => Ok(()),
                    UpdateReason::StartDrain => f.write_str(" (drain)"),
                    UpdateReason::Restore => f.write_str(" (restore)"),
                }
            }
            Change::RemoveDestination {
                service,
                dest,
                conns,
                reason,
            } => {
                write!(f, "- dest {service} -> {} ({reason}", dest.addr)?;
                if conns.active != 0 || conns.inactive != 0 {
                    write!(
                        f,
                        "; {} active, {} inactive connections",
                        conns.active, conns.inactive
                    )?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        for d in &self.draining {
            write!(
                f,
                "# draining {} -> {}: {} active, {} inactive connections",
                d.service, d.dest, d.conns.active, d.conns.inactive
            )?;
            match (d.deadline, self.now) {
                (Some(deadline), Some(now)) => writeln!(
                    f,
                    ", {} s left",
                    deadline.saturating_duration_since(now).as_secs()
                )?,
                _ => writeln!(f, ", no timeout")?,
            }
        }
        if self.unmanaged != 0 {
            writeln!(
                f,
                "# {} service(s) outside the scope left alone",
                self.unmanaged
            )?;
        }
        if self.changes.is_empty() {
            writeln!(f, "# no changes")?;
        }
        Ok(())
    }
}
