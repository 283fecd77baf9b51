//! What the reconciler owns ([`Scope`]) and how it lets go ([`DrainPolicy`]).

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::IpNet;

use crate::model::{Protocol, ServiceKey};

/// The services a reconciler owns. It creates, changes and removes
/// services inside its scope only; a service outside is never touched, even
/// when it is absent from the desired state, so the reconciler can run
/// beside keepalived or an operator's `ipvsadm` rules.
///
/// Ownership is per service: the reconciler owns every destination of a
/// service in its scope.
///
/// ```
/// use lvs::reconcile::Scope;
/// use lvs::{AddressFamily, ServiceKey};
///
/// // Our VIPs live in 10.96.0.0/12, plus fwmark services 1000..=1999.
/// let scope = Scope::prefixes(["10.96.0.0/12".parse().unwrap()])
///     .or(Scope::Fwmarks(1000..=1999));
/// assert!(scope.contains(&ServiceKey::tcp(([10, 96, 0, 10], 443))));
/// assert!(!scope.contains(&ServiceKey::tcp(([192, 0, 2, 1], 80))));
/// assert!(scope.contains(&ServiceKey::fwmark(AddressFamily::Inet6, 1500)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Scope {
    /// Every service of the network namespace: services missing from the
    /// desired state are removed, whoever made them.
    #[default]
    All,
    /// No service at all (a reconciler that only reports).
    Nothing,
    /// Address services (TCP/UDP/SCTP/other) whose virtual address lies in
    /// one of these prefixes; never fwmark services.
    Prefixes(Vec<IpNet>),
    /// Firewall-mark services (either family) with a mark in this range.
    Fwmarks(RangeInclusive<u32>),
    /// Exactly these services.
    Services(Vec<ServiceKey>),
    /// Any service one of these scopes contains.
    Any(Vec<Scope>),
}

impl Scope {
    /// Address services inside any of these prefixes.
    pub fn prefixes(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Scope::Prefixes(nets.into_iter().collect())
    }

    /// Exactly these services.
    pub fn services(keys: impl IntoIterator<Item = ServiceKey>) -> Self {
        Scope::Services(keys.into_iter().collect())
    }

    /// The union of `self` and `other`.
    pub fn or(self, other: Scope) -> Self {
        match self {
            Scope::Any(mut v) => {
                v.push(other);
                Scope::Any(v)
            }
            s => Scope::Any(vec![s, other]),
        }
    }

    /// Whether the reconciler owns the service `key`.
    pub fn contains(&self, key: &ServiceKey) -> bool {
        match self {
            Scope::All => true,
            Scope::Nothing => false,
            Scope::Prefixes(nets) => match key {
                ServiceKey::Addr { addr, .. } => nets.iter().any(|n| n.contains(&addr.ip())),
                ServiceKey::Fwmark { .. } => false,
            },
            Scope::Fwmarks(r) => match key {
                ServiceKey::Fwmark { mark, .. } => r.contains(mark),
                ServiceKey::Addr { .. } => false,
            },
            Scope::Services(keys) => keys.contains(key),
            Scope::Any(v) => v.iter().any(|s| s.contains(key)),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, items: &mut dyn Iterator<Item = String>| {
            let v: Vec<String> = items.collect();
            f.write_str(&v.join(", "))
        };
        match self {
            Scope::All => f.write_str("all services"),
            Scope::Nothing => f.write_str("no service"),
            Scope::Prefixes(nets) => {
                f.write_str("address services in ")?;
                list(f, &mut nets.iter().map(|n| n.to_string()))
            }
            Scope::Fwmarks(r) => write!(f, "fwmarks {}..={}", r.start(), r.end()),
            Scope::Services(keys) => {
                f.write_str("services ")?;
                list(f, &mut keys.iter().map(|k| k.to_string()))
            }
            Scope::Any(v) => list(f, &mut v.iter().map(|s| format!("({s})"))),
        }
    }
}

/// What happens to a destination that leaves the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum DrainMode {
    /// Set its weight to 0 (no new connections), and remove it once it has
    /// no active and no inactive connections, or when the drain timeout
    /// expires.
    Graceful,
    /// Remove it at once. Connections to it stop working: set the sysctl
    /// `net.ipv4.vs.expire_nodest_conn=1` so their next packet is
    /// rescheduled to another destination instead of dropped (kube-proxy
    /// does this for UDP).
    Immediate,
}

/// What happens to a service that leaves the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ServiceRemoval {
    /// Remove it at once with all its destinations (kube-proxy's
    /// behaviour; the default). Its established connections stop working.
    #[default]
    Immediate,
    /// Keep the service and drain each of its destinations as if it had
    /// left the desired state (per [`DrainPolicy`]); remove the service
    /// once it has no destinations left. New connections find no
    /// destination meanwhile.
    Drain,
}

/// How destinations (and services) leave.
///
/// Draining state lives in the kernel: a destination that is in scope, not
/// desired and at weight 0 *is* draining, so a restarted reconciler resumes
/// every drain it did not finish. Only the start time of a drain cannot be
/// stored in the kernel: a reconciler that finds a drain it did not start
/// (after a restart) starts the timeout at first sight, so the timeout
/// restarts with the process but the drain still completes.
///
/// Connections are counted as the kernel reports them
/// ([`ConnCounts`](crate::ConnCounts)): `active + inactive`. Closed TCP
/// connections stay *inactive* in IPVS for a while (`TIME_WAIT`, 2 minutes),
/// so a drained destination goes about 2 minutes after its last connection
/// closes, or at the timeout. Persistence templates are not waited for:
/// once the destination is gone, their clients are scheduled elsewhere.
///
/// Weight 0 stops new connections with every scheduler except `sh` and
/// `mh` without their fallback flag, where clients hashed to a weight-0
/// destination get no destination at all; give those services the
/// fallback flag. A destination whose forwarding method `lvs` cannot
/// write back ([`Forwarding::Other`](crate::Forwarding::Other), set by
/// another client) cannot be set to weight 0 and is removed at once. With
/// persistence, clients holding a template keep
/// reaching a weight-0 destination unless the sysctl
/// `net.ipv4.vs.expire_quiescent_template` is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct DrainPolicy {
    /// TCP services (default [`DrainMode::Graceful`]).
    pub tcp: DrainMode,
    /// UDP services (default [`DrainMode::Immediate`], as kube-proxy: UDP
    /// "connections" are only timers and would hold a drain for minutes).
    pub udp: DrainMode,
    /// SCTP services (default [`DrainMode::Immediate`], as kube-proxy).
    pub sctp: DrainMode,
    /// Firewall-mark services, which may carry any protocol (default
    /// [`DrainMode::Graceful`]; the timeout bounds UDP flows).
    pub fwmark: DrainMode,
    /// Address services of other protocols, e.g. ESP (default
    /// [`DrainMode::Graceful`]).
    pub other: DrainMode,
    /// Remove a draining destination after this long even if it still has
    /// connections. `None` waits for the connections however long they
    /// live. Default: 900 s, IPVS's own idle timeout of an established
    /// TCP connection, so only connections still passing traffic are cut.
    #[cfg_attr(feature = "serde", serde(with = "opt_secs"))]
    pub timeout: Option<Duration>,
    /// Services leaving the desired state.
    pub services: ServiceRemoval,
}

impl Default for DrainPolicy {
    fn default() -> Self {
        DrainPolicy {
            tcp: DrainMode::Graceful,
            udp: DrainMode::Immediate,
            sctp: DrainMode::Immediate,
            fwmark: DrainMode::Graceful,
            other: DrainMode::Graceful,
            timeout: Some(Self::DEFAULT_TIMEOUT),
            services: ServiceRemoval::Immediate,
        }
    }
}

impl DrainPolicy {
    /// The default drain timeout: 900 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(900);

    /// Remove every destination at once, whatever its protocol.
    pub fn immediate() -> Self {
        DrainPolicy {
            tcp: DrainMode::Immediate,
            udp: DrainMode::Immediate,
            sctp: DrainMode::Immediate,
            fwmark: DrainMode::Immediate,
            other: DrainMode::Immediate,
            ..DrainPolicy::default()
        }
    }

    /// Drain every destination gracefully, whatever its protocol.
    pub fn graceful() -> Self {
        DrainPolicy {
            tcp: DrainMode::Graceful,
            udp: DrainMode::Graceful,
            sctp: DrainMode::Graceful,
            fwmark: DrainMode::Graceful,
            other: DrainMode::Graceful,
            ..DrainPolicy::default()
        }
    }

    /// Set the timeout.
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set what happens to services leaving the desired state.
    pub fn with_service_removal(mut self, removal: ServiceRemoval) -> Self {
        self.services = removal;
        self
    }

    /// The mode for destinations of the service `key`.
    pub fn mode_for(&self, key: &ServiceKey) -> DrainMode {
        match key {
            ServiceKey::Fwmark { .. } => self.fwmark,
            ServiceKey::Addr { protocol, .. } => match protocol {
                Protocol::Tcp => self.tcp,
                Protocol::Udp => self.udp,
                Protocol::Sctp => self.sctp,
                _ => self.other,
            },
        }
    }
}

/// Everything that shapes a plan besides the two states.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "serde", serde(default))]
#[non_exhaustive]
pub struct Policy {
    /// What the reconciler owns (default: everything).
    pub scope: Scope,
    /// How destinations and services leave.
    pub drain: DrainPolicy,
    /// Plan each pass against the reconciler's kept view of the table
    /// instead of a whole-table read (default `false`). See
    /// [`Reconciler`](super::Reconciler) for what this gives up.
    pub incremental: bool,
    /// With `incremental`: verify the whole table against the kernel
    /// within this period, a slice per pass, so changes made by other
    /// clients are found and repaired within it (default 60 s). Zero makes
    /// every pass read the whole table.
    #[cfg_attr(feature = "serde", serde(with = "secs"))]
    pub verify_period: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            scope: Scope::default(),
            drain: DrainPolicy::default(),
            incremental: false,
            verify_period: Self::DEFAULT_VERIFY_PERIOD,
        }
    }
}

impl Policy {
    /// The default verification period of incremental passes: 60 s.
    pub const DEFAULT_VERIFY_PERIOD: Duration = Duration::from_secs(60);

    /// A policy owning `scope` with the default drain policy.
    pub fn new(scope: Scope) -> Self {
        Policy {
            scope,
            ..Policy::default()
        }
    }

    /// Set the drain policy.
    pub fn with_drain(mut self, drain: DrainPolicy) -> Self {
        self.drain = drain;
        self
    }

    /// Make passes incremental, verifying the whole table within
    /// `verify_period`.
    pub fn with_incremental(mut self, verify_period: Duration) -> Self {
        self.incremental = true;
        self.verify_period = verify_period;
        self
    }
}

#[cfg(feature = "serde")]
mod secs {
    //! `Duration` as whole seconds.
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

#[cfg(feature = "serde")]
mod opt_secs {
    //! `Option<Duration>` as whole seconds (`null` = no timeout).
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}
