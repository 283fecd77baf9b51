//! Virtual services: identity ([`ServiceKey`]) and full configuration ([`Service`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::{Error, Operation};

/// IP address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Inet => "IPv4",
            AddressFamily::Inet6 => "IPv6",
        })
    }
}

/// Transport protocol of an address-keyed service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(remote = "Self"))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// Another IP protocol number the kernel reported (e.g. AH or ESP,
    /// which IPVS can balance with persistence). Writable too: the kernel
    /// accepts any protocol number over netlink.
    Other(u16),
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// The protocol for an IP protocol number.
    pub fn from_number(n: u16) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("TCP"),
            Protocol::Udp => f.write_str("UDP"),
            Protocol::Sctp => f.write_str("SCTP"),
            Protocol::Other(n) => write!(f, "proto {n}"),
        }
    }
}

/// Identity of a virtual service: what the kernel looks services up by.
///
/// Either a transport protocol with a virtual address and port, or an
/// address family with a non-zero firewall mark.
///
/// # Example
/// ```
/// use lvs::{AddressFamily, Protocol, ServiceKey};
///
/// let web = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// assert_eq!(web.protocol(), Some(Protocol::Tcp));
/// assert_eq!(web.to_string(), "TCP 10.0.0.1:80");
///
/// let marked = ServiceKey::fwmark(AddressFamily::Inet6, 42);
/// assert_eq!(marked.family(), AddressFamily::Inet6);
/// assert_eq!(marked.protocol(), None);
/// // A firewall mark of 0 matches nothing: refused before the kernel sees it.
/// assert!(ServiceKey::fwmark(AddressFamily::Inet, 0).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(remote = "Self"),
    serde(deny_unknown_fields)
)]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum ServiceKey {
    /// `-t`/`-u`/`--sctp-service` in ipvsadm terms.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual address and port. IPv6 flow info and scope id must be 0.
        addr: SocketAddr,
    },
    /// `-f` in ipvsadm terms: packets marked by netfilter with `mark`.
    Fwmark {
        /// Address family of the marked packets.
        family: AddressFamily,
        /// The firewall mark, never 0.
        mark: u32,
    },
}

impl ServiceKey {
    /// A TCP service at `addr`.
    pub fn tcp(addr: impl Into<SocketAddr>) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.into(),
        }
    }
    /// A UDP service at `addr`.
    pub fn udp(addr: impl Into<SocketAddr>) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: addr.into(),
        }
    }
    /// An SCTP service at `addr`.
    pub fn sctp(addr: impl Into<SocketAddr>) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: addr.into(),
        }
    }
    /// A firewall-mark service (validated when used: `mark` must not be 0).
    pub fn fwmark(family: AddressFamily, mark: u32) -> Self {
        ServiceKey::Fwmark { family, mark }
    }

    /// The service's address family.
    pub fn family(&self) -> AddressFamily {
        match self {
            ServiceKey::Addr { addr, .. } => AddressFamily::of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The transport protocol, for address-keyed services.
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            ServiceKey::Addr { protocol, .. } => Some(*protocol),
            ServiceKey::Fwmark { .. } => None,
        }
    }

    /// Check the key before it is sent: fwmark not 0, no IPv6 scope/flow info.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field, why: String| Err(Error::invalid(Operation::Validate, field, why));
        match self {
            ServiceKey::Fwmark { mark: 0, .. } => bad(
                "key.mark",
                "a firewall mark must not be 0 (the kernel would treat it as an address service)"
                    .into(),
            ),
            ServiceKey::Addr {
                protocol: Protocol::Other(n @ (6 | 17 | 132)),
                ..
            } => bad(
                "key.protocol",
                format!(
                    "use Protocol::{} for protocol {n}: Other({n}) would read back as it",
                    Protocol::from_number(*n)
                ),
            ),
            ServiceKey::Addr {
                protocol: Protocol::Other(n @ 256..),
                ..
            } => bad(
                "key.protocol",
                format!("IP protocol numbers are 0..=255, got {n}"),
            ),
            ServiceKey::Addr {
                addr: SocketAddr::V6(a),
                ..
            } if a.scope_id() != 0 || a.flowinfo() != 0 => bad(
                "key.addr",
                format!("IPVS has no IPv6 scope id or flow info (got {a})"),
            ),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr } => write!(f, "{protocol} {addr}"),
            ServiceKey::Fwmark { family, mark } => write!(f, "FWM {mark} ({family})"),
        }
    }
}

/// Parses what [`ServiceKey`]'s `Display` writes: `TCP 10.0.0.1:80`,
/// `UDP [2001:db8::1]:53`, `SCTP 10.0.0.1:3868`, `proto 50 10.0.0.1:0`,
/// `FWM 7 (IPv4)`, `FWM 7 (IPv6)`; and ipvsadm's spellings
/// ([`IpvsadmKey`](crate::IpvsadmKey)): `FWM  7`, `FWM  7 IPv6`, `-t
/// 10.0.0.1:80`, `-u ...`, `--sctp-service ...`, `-f 7`, `-f 7 -6`. Protocol names and `FWM` are
/// case-insensitive; the address needs its port. The key is then
/// [validated](ServiceKey::validate) (a mark of 0, a protocol above 255,
/// an IPv6 scope id are refused).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument).
impl std::str::FromStr for ServiceKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                Operation::Validate,
                "key",
                format!(
                    "{text:?} is not a service key (\"TCP 10.0.0.1:80\", \"UDP [2001:db8::1]:53\", \
                     \"SCTP 10.0.0.1:3868\", \"proto 50 10.0.0.1:0\", \"FWM 7 (IPv4)\")"
                ),
            )
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        if let Some(key) = super::text::ipvsadm_key(&words) {
            key.validate()?;
            return Ok(key);
        }
        let key = match words.as_slice() {
            [fwm, mark, family] if fwm.eq_ignore_ascii_case("fwm") => {
                let mark = mark.parse::<u32>().map_err(|_| bad())?;
                let family = match family.to_ascii_lowercase().as_str() {
                    "(ipv4)" => AddressFamily::Inet,
                    "(ipv6)" => AddressFamily::Inet6,
                    _ => return Err(bad()),
                };
                ServiceKey::Fwmark { family, mark }
            }
            [proto, number, addr] if proto.eq_ignore_ascii_case("proto") => ServiceKey::Addr {
                protocol: match number.parse::<u16>() {
                    Ok(n) if n != 0 => Protocol::from_number(n),
                    _ => return Err(bad()),
                },
                addr: addr.parse().map_err(|_| bad())?,
            },
            [name, addr] => ServiceKey::Addr {
                protocol: match name.to_ascii_lowercase().as_str() {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => return Err(bad()),
                },
                addr: addr.parse().map_err(|_| bad())?,
            },
            _ => return Err(bad()),
        };
        key.validate()?;
        Ok(key)
    }
}

/// Flags of the hashing schedulers `sh` and `mh` (ipvsadm `-b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct HashFlags {
    /// `sh-fallback` / `mh-fallback`: when the hashed destination is
    /// unavailable (weight 0 or overloaded), probe for another one.
    pub fallback: bool,
    /// `sh-port` / `mh-port`: hash the client's source port too.
    pub port: bool,
}

/// A scheduler name that is not one of the kernel's built-in ones, checked
/// to fit the kernel's limit (1..=15 bytes of `[A-Za-z0-9_-]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct SchedName(String);

impl SchedName {
    /// Check and wrap a name.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        check_module_name("scheduler", &name)?;
        Ok(SchedName(name))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SchedName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        SchedName::new(s)
    }
}
impl From<SchedName> for String {
    fn from(s: SchedName) -> String {
        s.0
    }
}

pub(crate) fn check_module_name(what: &'static str, name: &str) -> Result<(), Error> {
    let field = if what == "scheduler" {
        "scheduler"
    } else {
        "persistence_engine"
    };
    if name.is_empty() || name.len() > 15 {
        return Err(Error::invalid(
            Operation::Validate,
            field,
            format!(
                "{what} name {name:?} must be 1 to 15 bytes (the kernel's limit), got {}",
                name.len()
            ),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::invalid(
            Operation::Validate,
            field,
            format!("{what} name {name:?} may contain only ASCII letters, digits, '_' and '-'"),
        ));
    }
    Ok(())
}

/// The scheduling algorithm of a service (the kernel module `ip_vs_<name>`).
///
/// # Example
/// ```
/// use lvs::{HashFlags, Scheduler};
///
/// let sh = Scheduler::Sh(HashFlags { fallback: true, port: false });
/// assert_eq!(sh.name(), "sh");
/// assert_eq!(sh.to_string(), "sh (sh-fallback)");
/// assert_eq!(Scheduler::from_name("wrr")?, Scheduler::Wrr);
/// // Names the kernel does not build in are kept as they are, checked for length.
/// assert_eq!(Scheduler::from_name("mine")?.name(), "mine");
/// assert!(Scheduler::from_name("a-name-longer-than-15").is_err());
/// assert_eq!(Scheduler::default(), Scheduler::Wlc); // as ipvsadm
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(remote = "Self"))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Scheduler {
    /// `rr`: round robin.
    Rr,
    /// `wrr`: weighted round robin.
    Wrr,
    /// `lc`: least connection.
    Lc,
    /// `wlc`: weighted least connection (ipvsadm's default).
    #[default]
    Wlc,
    /// `sed`: shortest expected delay.
    Sed,
    /// `nq`: never queue.
    Nq,
    /// `dh`: destination hashing.
    Dh,
    /// `sh`: source hashing, with its flags.
    Sh(HashFlags),
    /// `mh`: Maglev hashing, with its flags.
    Mh(HashFlags),
    /// `lblc`: locality-based least connection.
    Lblc,
    /// `lblcr`: locality-based least connection with replication.
    Lblcr,
    /// `fo`: weighted failover.
    Fo,
    /// `ovf`: weighted overflow.
    Ovf,
    /// `twos`: weighted random twos choice (kernel 6.4 and later).
    Twos,
    /// `none`: no scheduler; packets find no destination.
    None,
    /// Any other scheduler module, by name.
    Custom(SchedName),
}

impl Scheduler {
    /// The kernel's name for this scheduler.
    pub fn name(&self) -> &str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Dh => "dh",
            Scheduler::Sh(_) => "sh",
            Scheduler::Mh(_) => "mh",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Twos => "twos",
            Scheduler::None => "none",
            Scheduler::Custom(n) => n.as_str(),
        }
    }

    /// The scheduler with the kernel name `name` (flags cleared for sh/mh).
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "rr" => Scheduler::Rr,
            "wrr" => Scheduler::Wrr,
            "lc" => Scheduler::Lc,
            "wlc" => Scheduler::Wlc,
            "sed" => Scheduler::Sed,
            "nq" => Scheduler::Nq,
            "dh" => Scheduler::Dh,
            "sh" => Scheduler::Sh(HashFlags::default()),
            "mh" => Scheduler::Mh(HashFlags::default()),
            "lblc" => Scheduler::Lblc,
            "lblcr" => Scheduler::Lblcr,
            "fo" => Scheduler::Fo,
            "ovf" => Scheduler::Ovf,
            "twos" => Scheduler::Twos,
            "none" => Scheduler::None,
            other => Scheduler::Custom(SchedName::new(other)?),
        })
    }

    /// The kernel module that provides this scheduler (`ip_vs_` and its
    /// name), or `None` for `none`, which IPVS has built in. See
    /// `lvs::kmod` for why a program may load it before it adds a service.
    ///
    /// ```
    /// use lvs::Scheduler;
    /// assert_eq!(Scheduler::Lblc.kernel_module().as_deref(), Some("ip_vs_lblc"));
    /// assert_eq!(Scheduler::None.kernel_module(), None);
    /// ```
    pub fn kernel_module(&self) -> Option<String> {
        match self {
            Scheduler::None => None,
            s => Some(format!("ip_vs_{}", s.name())),
        }
    }

    /// The sh/mh flags, if this scheduler has them.
    pub fn hash_flags(&self) -> Option<HashFlags> {
        match self {
            Scheduler::Sh(f) | Scheduler::Mh(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(h) = self.hash_flags() {
            let s = self.name();
            match (h.fallback, h.port) {
                (true, true) => write!(f, " ({s}-fallback,{s}-port)")?,
                (true, false) => write!(f, " ({s}-fallback)")?,
                (false, true) => write!(f, " ({s}-port)")?,
                (false, false) => {}
            }
        }
        Ok(())
    }
}

/// The client netmask of a persistent service: clients in the same masked
/// network share one persistence template.
///
/// # Example
/// ```
/// use lvs::{AddressFamily, Netmask};
///
/// assert_eq!(Netmask::prefix(AddressFamily::Inet, 24)?, Netmask::V4([255, 255, 255, 0].into()));
/// assert_eq!(Netmask::full(AddressFamily::Inet6), Netmask::V6(128));
/// assert!(Netmask::prefix(AddressFamily::Inet6, 0).is_err());
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize), serde(remote = "Self"))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum Netmask {
    /// An IPv4 mask, e.g. `255.255.255.0` (ipvsadm `-M`). Writing, it must
    /// be a prefix (ones, then zeros): [`Service::validate`] refuses
    /// `255.0.255.0`.
    V4(Ipv4Addr),
    /// An IPv6 prefix length, 1..=128.
    V6(u8),
}

/// Whether `m` is a prefix mask: ones, then zeros (`0.0.0.0` and
/// `255.255.255.255` included).
fn is_prefix_mask(m: std::net::Ipv4Addr) -> bool {
    let bits = u32::from(m);
    bits.leading_ones() + bits.trailing_zeros() == 32
}

impl Netmask {
    /// The netmask that keeps whole addresses (`/32` or `/128`): ipvsadm's default.
    pub fn full(family: AddressFamily) -> Self {
        match family {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Inet6 => Netmask::V6(128),
        }
    }

    /// A prefix-length netmask for `family` (IPv4 `0..=32`, IPv6 `1..=128`).
    pub fn prefix(family: AddressFamily, len: u8) -> Result<Self, Error> {
        match family {
            AddressFamily::Inet if len <= 32 => Ok(Netmask::V4(Ipv4Addr::from(
                u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
            ))),
            AddressFamily::Inet6 if (1..=128).contains(&len) => Ok(Netmask::V6(len)),
            _ => Err(Error::invalid(
                Operation::Validate,
                "persistence.netmask",
                format!("prefix length {len} is out of range for {family}"),
            )),
        }
    }

    fn family(&self) -> AddressFamily {
        match self {
            Netmask::V4(_) => AddressFamily::Inet,
            Netmask::V6(_) => AddressFamily::Inet6,
        }
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(m) => write!(f, "{m}"),
            Netmask::V6(p) => write!(f, "{p}"),
        }
    }
}

/// Persistence (ipvsadm `-p`): a client keeps reaching the same
/// destination while it has a template younger than `timeout`.
///
/// # Example
/// ```
/// use lvs::{AddressFamily, Netmask, Service, ServiceKey};
///
/// // ipvsadm -A -t 10.0.0.1:443 -p 600 -M 255.255.255.0
/// let svc = Service::new(ServiceKey::tcp(([10, 0, 0, 1], 443)))
///     .with_persistence_netmask(600, Netmask::prefix(AddressFamily::Inet, 24)?);
/// let p = svc.persistence.expect("persistent");
/// assert_eq!((p.timeout, p.netmask.to_string().as_str()), (600, "255.255.255.0"));
/// svc.validate()?;
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Persistence {
    /// Template timeout in seconds, 1..=[`Persistence::MAX_TIMEOUT`].
    pub timeout: u32,
    /// Client netmask grouping clients into one template.
    pub netmask: Netmask,
}

impl Persistence {
    /// The largest timeout that cannot overflow the kernel's `timeout * HZ`
    /// (an unsigned int) at any HZ up to 1000: 4294967 s, about 49 days.
    pub const MAX_TIMEOUT: u32 = u32::MAX / 1000;
}

/// A virtual service with its whole configuration (everything but its
/// destinations).
///
/// Build one with [`Service::new`] and the `with_*` methods, or fill the
/// public fields; [`Service::validate`] (called by every `Handle` method
/// that sends one) checks it before anything reaches the kernel.
///
/// # Example
/// ```
/// use lvs::{HashFlags, Scheduler, Service, ServiceKey};
///
/// // ipvsadm -A -u 10.0.0.53:53 -s mh -b mh-port -o
/// let dns = Service::new(ServiceKey::udp(([10, 0, 0, 53], 53)))
///     .with_scheduler(Scheduler::Mh(HashFlags { fallback: false, port: true }))
///     .with_one_packet(true);
/// dns.validate()?;
///
/// // Port 0 only makes sense for a persistent service (ipvsadm refuses it too).
/// let any_port = Service::new(ServiceKey::tcp(([10, 0, 0, 1], 0)));
/// assert!(any_port.validate().is_err());
/// assert!(any_port.with_persistence(300).validate().is_ok());
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
#[non_exhaustive]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduling algorithm; sh/mh carry their flags.
    #[cfg_attr(feature = "serde", serde(default))]
    pub scheduler: Scheduler,
    /// Persistence, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (ipvsadm `-o`): schedule every UDP datagram
    /// on its own. Only for UDP and firewall-mark services.
    #[cfg_attr(feature = "serde", serde(default))]
    pub one_packet: bool,
    /// Persistence engine (ipvsadm `--pe`), e.g. `"sip"`. Needs persistence.
    #[cfg_attr(feature = "serde", serde(default))]
    pub persistence_engine: Option<String>,
}

impl Service {
    /// The kernel modules this service needs: its scheduler's and its
    /// persistence engine's (`ip_vs_pe_` and its name), in that order.
    /// Load them first with `lvs::kmod::ensure_loaded` (Linux) to keep
    /// the kernel's on-demand load, and its deadlock, out of the way.
    ///
    /// ```
    /// use lvs::{Scheduler, Service, ServiceKey};
    /// let s = Service::new(ServiceKey::udp("10.0.0.1:5060".parse::<std::net::SocketAddr>()?))
    ///     .with_scheduler(Scheduler::Lblcr)
    ///     .with_persistence(60)
    ///     .with_persistence_engine("sip");
    /// assert_eq!(s.kernel_modules(), ["ip_vs_lblcr", "ip_vs_pe_sip"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kernel_modules(&self) -> Vec<String> {
        let pe = self
            .persistence_engine
            .iter()
            .map(|n| format!("ip_vs_pe_{n}"));
        self.scheduler
            .kernel_module()
            .into_iter()
            .chain(pe)
            .collect()
    }

    /// A service with the default scheduler (`wlc`), no persistence.
    pub fn new(key: ServiceKey) -> Self {
        Service {
            key,
            scheduler: Scheduler::default(),
            persistence: None,
            one_packet: false,
            persistence_engine: None,
        }
    }

    /// Set the scheduler.
    pub fn with_scheduler(mut self, scheduler: Scheduler) -> Self {
        self.scheduler = scheduler;
        self
    }

    /// Make the service persistent for `timeout` seconds with the full
    /// netmask (`/32` or `/128`).
    pub fn with_persistence(mut self, timeout: u32) -> Self {
        self.persistence = Some(Persistence {
            timeout,
            netmask: Netmask::full(self.key.family()),
        });
        self
    }

    /// Set persistence with an explicit netmask.
    pub fn with_persistence_netmask(mut self, timeout: u32, netmask: Netmask) -> Self {
        self.persistence = Some(Persistence { timeout, netmask });
        self
    }

    /// Enable one-packet scheduling (UDP).
    pub fn with_one_packet(mut self, on: bool) -> Self {
        self.one_packet = on;
        self
    }

    /// Set the persistence engine (e.g. `"sip"`).
    pub fn with_persistence_engine(mut self, name: impl Into<String>) -> Self {
        self.persistence_engine = Some(name.into());
        self
    }

    /// Check everything the kernel would reject or silently misread.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field, why: String| Err(Error::invalid(Operation::Validate, field, why));
        self.key.validate()?;
        if let ServiceKey::Addr { addr, .. } = self.key
            && addr.port() == 0
            && self.persistence.is_none()
        {
            return bad(
                "key.addr",
                format!(
                    "port 0 (every port) works only with persistence: the kernel schedules \
                     no packet to a non-persistent port-0 service ({addr}); set persistence \
                     or a port"
                ),
            );
        }
        if let Scheduler::Custom(n) = &self.scheduler {
            check_module_name("scheduler", n.as_str())?;
            if !matches!(Scheduler::from_name(n.as_str()), Ok(Scheduler::Custom(_))) {
                return bad(
                    "scheduler",
                    format!(
                        "{:?} is a built-in scheduler: use its Scheduler variant, not Custom",
                        n.as_str()
                    ),
                );
            }
        }
        if let Some(p) = &self.persistence {
            if p.timeout == 0 || p.timeout > Persistence::MAX_TIMEOUT {
                return bad(
                    "persistence.timeout",
                    format!(
                        "persistence timeout must be 1..={} seconds, got {}",
                        Persistence::MAX_TIMEOUT,
                        p.timeout
                    ),
                );
            }
            if p.netmask.family() != self.key.family() {
                return bad(
                    "persistence.netmask",
                    format!(
                        "netmask {} is for {}, the service is {}",
                        p.netmask,
                        p.netmask.family(),
                        self.key.family()
                    ),
                );
            }
            if let Netmask::V4(m) = p.netmask
                && !is_prefix_mask(m)
            {
                return bad(
                    "persistence.netmask",
                    format!(
                        "IPv4 netmask {m} is not a prefix (ones then zeros, such as \
                         255.255.255.0): the kernel would group clients by scattered bits"
                    ),
                );
            }
            if let Netmask::V6(len) = p.netmask
                && !(1..=128).contains(&len)
            {
                return bad(
                    "persistence.netmask",
                    format!("IPv6 prefix length must be 1..=128, got {len}"),
                );
            }
        }
        if self.one_packet && matches!(self.key.protocol(), Some(p) if p != Protocol::Udp) {
            return bad(
                "one_packet",
                format!(
                    "one-packet scheduling works only for UDP; {} is {}",
                    self.key,
                    self.key
                        .protocol()
                        .map(|p| p.to_string())
                        .unwrap_or_default()
                ),
            );
        }
        if let Some(pe) = &self.persistence_engine {
            check_module_name("persistence engine", pe)?;
            if self.persistence.is_none() {
                return bad(
                    "persistence_engine",
                    format!("persistence engine {pe:?} needs persistence (set a timeout)"),
                );
            }
        }
        Ok(())
    }
}

impl From<ServiceKey> for Service {
    fn from(key: ServiceKey) -> Self {
        Service::new(key)
    }
}
