//! What the reconciler owns ([`Scope`]) and how it lets go ([`DrainPolicy`]).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
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
///
/// With the `serde` feature a scope is written as `"all"`, `"nothing"`, or
/// a map with one key: `{"prefixes": ["10.96.0.0/12"]}`,
/// `{"addresses": ["10.96.0.10", "fd00::10"]}`,
/// `{"fwmarks": {"start": 1000, "end": 1999}}`, `{"services": [...]}`,
/// `{"any": [...]}`.
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(remote = "Self"))]
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
    /// one of these prefixes; never fwmark services. A lookup scans the
    /// list: for many thousand scattered addresses use
    /// [`Scope::Addresses`].
    Prefixes(Vec<IpNet>),
    /// Address services (any protocol and port) whose virtual address is
    /// one of these; never fwmark services. A set: a lookup costs
    /// `O(log n)`, so a scope of many thousand addresses (a node's service
    /// IPs) stays cheap per pass.
    Addresses(BTreeSet<IpAddr>),
    /// Firewall-mark services (either family) with a mark in this range.
    Fwmarks(RangeInclusive<u32>),
    /// Exactly these services (a set: a lookup costs `O(log n)`, so a
    /// scope of many thousand keys stays cheap per pass).
    Services(BTreeSet<ServiceKey>),
    /// Any service one of these scopes contains.
    Any(Vec<Scope>),
}

impl Scope {
    /// Address services inside any of these prefixes.
    pub fn prefixes(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Scope::Prefixes(nets.into_iter().collect())
    }

    /// Address services on exactly these addresses.
    pub fn addresses(addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        Scope::Addresses(addrs.into_iter().collect())
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
            Scope::Addresses(addrs) => match key {
                ServiceKey::Addr { addr, .. } => addrs.contains(&addr.ip()),
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
            Scope::Addresses(addrs) => {
                f.write_str("address services on ")?;
                list(f, &mut addrs.iter().map(|a| a.to_string()))
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
    ///
    /// With serde: whole seconds (`30`), a string with a unit (`"999ms"`,
    /// `"1.5s"`, `"2m"`, `"1h"`, `"250us"`, `"10ns"`) or `"none"` (also
    /// `null`); saved in the shortest of those forms that is exact.
    #[cfg_attr(feature = "serde", serde(with = "opt_duration"))]
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
///
/// Loaded with serde, `scope` is required: a policy file that forgot it
/// (an empty `{}`, a typo) must not silently own every service of the
/// namespace and remove keepalived's. Write `"scope": "all"` to own
/// everything.
///
/// # Example
/// Own the services on 10.96.0.0/12, drain removed destinations for up to
/// 30 s, and plan passes against the kept view:
/// ```
/// use std::time::Duration;
/// use lvs::reconcile::{DrainPolicy, Policy, Scope};
/// use lvs::ServiceKey;
///
/// let policy = Policy::new(Scope::prefixes(["10.96.0.0/12".parse().unwrap()]))
///     .with_drain(DrainPolicy::graceful().with_timeout(Some(Duration::from_secs(30))))
///     .with_incremental(Duration::from_secs(60));
/// assert!(policy.scope.contains(&ServiceKey::tcp(([10, 96, 0, 10], 53))));
/// assert!(!policy.scope.contains(&ServiceKey::tcp(([192, 0, 2, 1], 80))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Policy {
    /// What the reconciler owns ([`Policy::default`]: everything; required
    /// when loaded with serde).
    pub scope: Scope,
    /// How destinations and services leave.
    #[cfg_attr(feature = "serde", serde(default))]
    pub drain: DrainPolicy,
    /// Plan each pass against the reconciler's kept view of the table
    /// instead of a whole-table read (default `false`). See
    /// [`Reconciler`](super::Reconciler) for what this gives up.
    #[cfg_attr(feature = "serde", serde(default))]
    pub incremental: bool,
    /// With `incremental`: verify the whole table against the kernel
    /// within this period, a slice per pass, so changes made by other
    /// clients are found and repaired within it (default 60 s). Zero makes
    /// every pass read the whole table.
    ///
    /// With serde: as [`DrainPolicy::timeout`] (`60`, `"1500ms"`), not
    /// `"none"`.
    #[cfg_attr(
        feature = "serde",
        serde(default = "Policy::default_verify_period", with = "exact_duration")
    )]
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

    #[cfg(feature = "serde")]
    fn default_verify_period() -> Duration {
        Self::DEFAULT_VERIFY_PERIOD
    }

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
mod exact_duration {
    //! A `Duration` in the exact form of [`super::opt_duration`], where
    //! "none" is an error.
    use std::time::Duration;

    use serde::de::Error;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        super::opt_duration::serialize(&Some(*d), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::opt_duration::deserialize(d)?.ok_or_else(|| {
            D::Error::custom("a period cannot be \"none\" (0 reads the whole table every pass)")
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Scope;
    use crate::model::serde_form::{AnyEnum, one_entry};

    /// The derived form, refusing what [`Scope::Fwmarks`] cannot mean: a
    /// range whose start is above its end (it would contain nothing; the C
    /// API's `lvs_policy_scope_add_fwmarks` refuses it too).
    impl<'de> Deserialize<'de> for Scope {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let scope = Scope::deserialize(AnyEnum(d))?;
            if let Scope::Fwmarks(r) = &scope
                && r.start() > r.end()
            {
                return Err(serde::de::Error::custom(format_args!(
                    "fwmarks range start {} is above its end {}: the range would contain no \
                     mark",
                    r.start(),
                    r.end()
                )));
            }
            Ok(scope)
        }
    }

    impl Serialize for Scope {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Scope::All => s.serialize_str("all"),
                Scope::Nothing => s.serialize_str("nothing"),
                Scope::Prefixes(nets) => one_entry(s, "prefixes", nets),
                Scope::Addresses(addrs) => one_entry(s, "addresses", addrs),
                Scope::Fwmarks(range) => one_entry(s, "fwmarks", range),
                Scope::Services(keys) => one_entry(s, "services", keys),
                Scope::Any(scopes) => one_entry(s, "any", scopes),
            }
        }
    }
}

#[cfg(feature = "serde")]
pub(crate) mod opt_duration {
    //! `Option<Duration>` exactly: whole seconds as a number, anything finer
    //! as a string with a unit, `"none"` (or `null`) for no timeout. TOML
    //! has no null, so "none" is a string there too, and a saved
    //! value always loads back as itself.
    use std::fmt;
    use std::time::Duration;

    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            None => s.serialize_str("none"),
            Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
            Some(d) => s.serialize_str(&format_exact(*d)),
        }
    }

    /// The shortest exact form with one unit: "1500ms", "999ms", "10ns".
    pub fn format_exact(d: Duration) -> String {
        let nanos = d.as_nanos();
        for (unit, per) in [("s", 1_000_000_000u128), ("ms", 1_000_000), ("us", 1_000)] {
            if nanos.is_multiple_of(per) {
                return format!("{}{unit}", nanos / per);
            }
        }
        format!("{nanos}ns")
    }

    /// Parse "none", or a decimal number with an optional unit (s when
    /// none): ns, us, ms, s, m, h.
    pub fn parse(text: &str) -> Result<Option<Duration>, String> {
        let t = text.trim();
        if t == "none" {
            return Ok(None);
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (number, unit) = t.split_at(split);
        let per_unit: u128 = match unit.trim() {
            "ns" => 1,
            "us" | "\u{b5}s" => 1_000,
            "ms" => 1_000_000,
            "" | "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {text:?} (use ns, us, ms, s, m or h, or \"none\")"
                ));
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let bad = || format!("{text:?} is not a duration (e.g. 30, \"1.5s\", \"999ms\", \"none\")");
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let mut nanos = whole.checked_mul(per_unit).ok_or_else(bad)?;
        let mut scale = per_unit;
        for digit in frac.chars() {
            let digit = digit.to_digit(10).ok_or_else(bad)?;
            if !scale.is_multiple_of(10) {
                return Err(format!("{text:?} is finer than a nanosecond"));
            }
            scale /= 10;
            nanos = nanos
                .checked_add(u128::from(digit) * scale)
                .ok_or_else(bad)?;
        }
        let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
        // The remainder is below 10^9, so it fits.
        let sub = (nanos % 1_000_000_000) as u32;
        Ok(Some(Duration::new(secs, sub)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<Duration>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: whole seconds, a string such as \"999ms\" or \"1.5s\", or \"none\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(|v| Some(Duration::from_secs(v)))
                    .map_err(|_| E::custom(format!("a duration cannot be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse(v).map_err(E::custom)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(V)
            }
        }
        d.deserialize_any(V)
    }
}
