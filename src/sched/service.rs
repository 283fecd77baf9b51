//! The service model the schedulers read: destinations in kernel list order,
//! their weights, connection counters, thresholds and flags.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{SchedError, SchedulerKind};

/// `IP_VS_SVC_F_PERSISTENT`: persistence templates are used (§11.2).
pub const IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
/// `IP_VS_SVC_F_ONEPACKET`: one-packet scheduling for UDP (§11.3).
pub const IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
/// `IP_VS_SVC_F_SCHED1`: scheduler flag 1 (fallback for `sh` and `mh`).
pub const IP_VS_SVC_F_SCHED1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2`: scheduler flag 2 (hash the source port in `sh`/`mh`).
pub const IP_VS_SVC_F_SCHED2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED_SH_FALLBACK` (= `SCHED1`).
pub const IP_VS_SVC_F_SCHED_SH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_SH_PORT` (= `SCHED2`).
pub const IP_VS_SVC_F_SCHED_SH_PORT: u32 = IP_VS_SVC_F_SCHED2;
/// `IP_VS_SVC_F_SCHED_MH_FALLBACK` (= `SCHED1`, defined in `ip_vs_mh.c`).
pub const IP_VS_SVC_F_SCHED_MH_FALLBACK: u32 = IP_VS_SVC_F_SCHED1;
/// `IP_VS_SVC_F_SCHED_MH_PORT` (= `SCHED2`, defined in `ip_vs_mh.c`).
pub const IP_VS_SVC_F_SCHED_MH_PORT: u32 = IP_VS_SVC_F_SCHED2;

/// Address family of a service (`svc->af`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Family {
    /// `AF_INET`.
    Inet,
    /// `AF_INET6`.
    Inet6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// The unspecified address of this family (`0.0.0.0` or `::`).
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// Transport protocol of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// Any other IP protocol number.
    Other(u8),
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(n) => n,
        }
    }

    /// The protocol with this number.
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            n => Protocol::Other(n),
        }
    }

    /// Whether the schedulers read L4 ports for this protocol (TCP, UDP and
    /// SCTP; `sh`/`mh` hash port 0 for the others).
    #[inline]
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
    }

    /// Whether a connection of this protocol counts as *active* once the
    /// first packet is processed. A TCP SYN moves a new connection to
    /// SYN_RECV, an active state (SCTP is modelled the same way); UDP and
    /// other protocols stay inactive for their whole life (§10.0).
    #[inline]
    pub fn starts_active(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Sctp)
    }
}

/// The scheduler flags a service carries (`IP_VS_SVC_F_SCHED1`/`SCHED2`).
/// Only `sh` and `mh` read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SchedFlags {
    /// `SCHED1`: when the hashed destination is unavailable, probe for
    /// another one instead of dropping.
    pub fallback: bool,
    /// `SCHED2`: include the client's source port in the hash.
    pub port: bool,
}

impl SchedFlags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set or clear the fallback flag.
    pub fn with_fallback(mut self, on: bool) -> Self {
        self.fallback = on;
        self
    }

    /// Set or clear the port flag.
    pub fn with_port(mut self, on: bool) -> Self {
        self.port = on;
        self
    }

    /// Read the flags out of a kernel service flag word.
    pub fn from_bits(bits: u32) -> Self {
        Self {
            fallback: bits & IP_VS_SVC_F_SCHED1 != 0,
            port: bits & IP_VS_SVC_F_SCHED2 != 0,
        }
    }

    /// The kernel flag bits for these flags.
    pub fn bits(self) -> u32 {
        (if self.fallback { IP_VS_SVC_F_SCHED1 } else { 0 })
            | (if self.port { IP_VS_SVC_F_SCHED2 } else { 0 })
    }
}

/// Persistence settings of a service (`IP_VS_SVC_F_PERSISTENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Persistence {
    /// Template timeout in seconds.
    pub timeout: u32,
    /// The netmask. For IPv4, the mask as `u32::from(Ipv4Addr)`, so
    /// `255.255.255.0` is `0xffff_ff00` (the netlink attribute carries the
    /// same mask in network byte order); any value is accepted, contiguous or
    /// not, as the kernel does. For IPv6, a prefix length (values above 128
    /// act as 128).
    pub netmask: u32,
}

impl Persistence {
    /// Persistence with a raw kernel netmask.
    pub fn new(timeout: u32, netmask: u32) -> Self {
        Self { timeout, netmask }
    }

    /// Persistence grouping clients by a prefix of `len` bits in `family`.
    pub fn with_prefix(family: Family, timeout: u32, len: u8) -> Self {
        let netmask = match family {
            Family::Inet => {
                let len = u32::from(len.min(32));
                if len == 0 { 0 } else { u32::MAX << (32 - len) }
            }
            Family::Inet6 => u32::from(len.min(128)),
        };
        Self { timeout, netmask }
    }

    /// The client address masked as the template key uses it.
    pub fn mask(&self, family: Family, addr: IpAddr) -> IpAddr {
        match (family, addr) {
            (Family::Inet, IpAddr::V4(a)) => {
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & self.netmask))
            }
            (_, IpAddr::V6(a)) => {
                let len = self.netmask.min(128);
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
            (Family::Inet6, IpAddr::V4(a)) => IpAddr::V4(a),
        }
    }
}

/// What identifies the virtual service: an address and port for one
/// protocol, or a firewall mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum VirtualAddr {
    /// A `(protocol, address, port)` service.
    Inet {
        /// Protocol of the service.
        protocol: Protocol,
        /// Virtual address and port. Port 0 means "any port" and requires
        /// persistence, as in the kernel.
        addr: SocketAddr,
    },
    /// A firewall-mark service.
    Fwmark {
        /// Address family.
        family: Family,
        /// The mark.
        mark: u32,
    },
}

impl VirtualAddr {
    /// Address family of the service.
    pub fn family(&self) -> Family {
        match self {
            VirtualAddr::Inet { addr, .. } => Family::of(addr.ip()),
            VirtualAddr::Fwmark { family, .. } => *family,
        }
    }

    /// Service port (`svc->port`; 0 for fwmark services).
    pub fn port(&self) -> u16 {
        match self {
            VirtualAddr::Inet { addr, .. } => addr.port(),
            VirtualAddr::Fwmark { .. } => 0,
        }
    }

    /// The protocol packets of this service use by default.
    pub fn protocol(&self) -> Protocol {
        match self {
            VirtualAddr::Inet { protocol, .. } => *protocol,
            VirtualAddr::Fwmark { .. } => Protocol::Tcp,
        }
    }

    /// The destination a packet to this service carries by default.
    pub fn default_dst(&self) -> SocketAddr {
        match self {
            VirtualAddr::Inet { addr, .. } => *addr,
            VirtualAddr::Fwmark { family, .. } => SocketAddr::new(family.unspecified(), 0),
        }
    }

    /// Whether this is a firewall-mark service.
    pub fn is_fwmark(&self) -> bool {
        matches!(self, VirtualAddr::Fwmark { .. })
    }
}

/// A virtual service as the simulation needs it.
///
/// Field names follow the `ipvsadm` vocabulary so that an adapter from the
/// crate's full service type is a field-by-field copy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceSpec {
    /// Scheduler.
    pub scheduler: SchedulerKind,
    /// `sh`/`mh` flags.
    pub flags: SchedFlags,
    /// Persistence, if the service is persistent.
    pub persistence: Option<Persistence>,
    /// One-packet scheduling (`IP_VS_SVC_F_ONEPACKET`; affects UDP only).
    pub one_packet: bool,
    /// The virtual address or firewall mark.
    pub virtual_addr: VirtualAddr,
}

impl ServiceSpec {
    /// A non-persistent TCP service on `192.0.2.1:80` using `scheduler`.
    pub fn new(scheduler: SchedulerKind) -> Self {
        Self {
            scheduler,
            flags: SchedFlags::default(),
            persistence: None,
            one_packet: false,
            virtual_addr: VirtualAddr::Inet {
                protocol: Protocol::Tcp,
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80),
            },
        }
    }

    /// Set the virtual address to `(protocol, addr)`.
    pub fn with_addr(mut self, protocol: Protocol, addr: SocketAddr) -> Self {
        self.virtual_addr = VirtualAddr::Inet { protocol, addr };
        self
    }

    /// Make this a firewall-mark service.
    pub fn with_fwmark(mut self, family: Family, mark: u32) -> Self {
        self.virtual_addr = VirtualAddr::Fwmark { family, mark };
        self
    }

    /// Set the scheduler flags.
    pub fn with_flags(mut self, flags: SchedFlags) -> Self {
        self.flags = flags;
        self
    }

    /// Make the service persistent.
    pub fn with_persistence(mut self, persistence: Persistence) -> Self {
        self.persistence = Some(persistence);
        self
    }

    /// Turn one-packet scheduling on or off.
    pub fn with_one_packet(mut self, on: bool) -> Self {
        self.one_packet = on;
        self
    }

    /// Address family of the service.
    pub fn family(&self) -> Family {
        self.virtual_addr.family()
    }

    /// The kernel's service flag word for this spec (without `HASHED`).
    pub fn flag_bits(&self) -> u32 {
        self.flags.bits()
            | if self.persistence.is_some() {
                IP_VS_SVC_F_PERSISTENT
            } else {
                0
            }
            | if self.one_packet {
                IP_VS_SVC_F_ONEPACKET
            } else {
                0
            }
    }
}

/// A destination (real server) as the user configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DestSpec {
    /// Address and port of the real server; identifies it in the service.
    pub addr: SocketAddr,
    /// Weight. The kernel refuses weights above `i32::MAX` (`-ERANGE`).
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
}

impl DestSpec {
    /// A destination with no thresholds.
    pub fn new(addr: SocketAddr, weight: u32) -> Self {
        Self {
            addr,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    /// Set the upper and lower connection thresholds.
    pub fn with_thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }
}

/// Stable identity of a destination object inside one service.
///
/// Removing a destination keeps its object (the kernel moves it to the
/// trash), and adding the same address again revives it with the same id,
/// counters included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DestId(pub(crate) u32);

impl DestId {
    /// The index of the object in [`ServiceState`]'s store.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for DestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dest#{}", self.0)
    }
}

/// Kind of connection entry bound to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    Active,
    Inactive,
    Template,
}

/// Kernel state of one destination (`struct ip_vs_dest`, the parts the
/// schedulers read). Counters are C `int`s and wrap like them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DestState {
    pub(crate) addr: SocketAddr,
    pub(crate) weight: i32,
    pub(crate) last_weight: i32,
    pub(crate) active: i32,
    pub(crate) inactive: i32,
    pub(crate) persistent: i32,
    pub(crate) u_threshold: u32,
    pub(crate) l_threshold: u32,
    pub(crate) available: bool,
    pub(crate) overloaded: bool,
    /// Position in the list while linked.
    pub(crate) pos: u32,
}

impl DestState {
    /// Address and port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Current weight.
    pub fn weight(&self) -> i32 {
        self.weight
    }
    /// Last non-zero weight (or the weight given on add); `mh` builds its
    /// table from it.
    pub fn last_weight(&self) -> i32 {
        self.last_weight
    }
    /// `activeconns`.
    pub fn active_conns(&self) -> i32 {
        self.active
    }
    /// `inactconns`.
    pub fn inactive_conns(&self) -> i32 {
        self.inactive
    }
    /// `persistconns` (persistence templates).
    pub fn persistent_conns(&self) -> i32 {
        self.persistent
    }
    /// Upper threshold.
    pub fn upper_threshold(&self) -> u32 {
        self.u_threshold
    }
    /// Lower threshold.
    pub fn lower_threshold(&self) -> u32 {
        self.l_threshold
    }
    /// `IP_VS_DEST_F_AVAILABLE`: linked into the service (false in the trash).
    pub fn is_available(&self) -> bool {
        self.available
    }
    /// `IP_VS_DEST_F_OVERLOAD`, driven by the thresholds (§11.1).
    pub fn is_overloaded(&self) -> bool {
        self.overloaded
    }

    /// `ip_vs_dest_conn_overhead()` of current kernels:
    /// `(activeconns << 8) + totalconns`, i.e. 257 per active connection
    /// and 1 per inactive one, wrapping as the C `int` does. Kernels before
    /// the July 2026 "ipvs: add totalconns for dest" change (mainline 7.2,
    /// also in stable kernels, e.g. Debian 6.1.192) compute
    /// [`DestState::legacy_overhead`]; [`ServiceState::overhead`] picks the
    /// one the service models.
    #[inline]
    pub fn overhead(&self) -> i32 {
        self.active.wrapping_shl(8).wrapping_add(self.total_conns())
    }

    /// `ip_vs_dest_conn_overhead()` before July 2026:
    /// `(activeconns << 8) + inactconns`.
    #[inline]
    pub fn legacy_overhead(&self) -> i32 {
        self.active.wrapping_shl(8).wrapping_add(self.inactive)
    }

    /// `ip_vs_dest_totalconns()`: `activeconns + inactconns` (templates are
    /// not included).
    #[inline]
    pub fn total_conns(&self) -> i32 {
        self.active.wrapping_add(self.inactive)
    }

    /// Eligible for the "least"-family schedulers: not overloaded and
    /// weight > 0.
    #[inline]
    pub(crate) fn usable(&self) -> bool {
        !self.overloaded && self.weight > 0
    }

    /// `ip_vs_bind_dest()` counter and OVERLOAD effects.
    pub(crate) fn bind(&mut self, kind: Bound) {
        match kind {
            Bound::Active => self.active = self.active.wrapping_add(1),
            Bound::Inactive => self.inactive = self.inactive.wrapping_add(1),
            Bound::Template => self.persistent = self.persistent.wrapping_add(1),
        }
        // `int >= __u32` compares as unsigned in C.
        if self.u_threshold != 0 && self.total_conns() as u32 >= self.u_threshold {
            self.overloaded = true;
        }
    }

    /// `ip_vs_unbind_dest()` counter and OVERLOAD effects.
    pub(crate) fn unbind(&mut self, kind: Bound) {
        match kind {
            Bound::Active => self.active = self.active.wrapping_sub(1),
            Bound::Inactive => self.inactive = self.inactive.wrapping_sub(1),
            Bound::Template => self.persistent = self.persistent.wrapping_sub(1),
        }
        let total = self.total_conns();
        if self.l_threshold != 0 {
            if (total as u32) < self.l_threshold {
                self.overloaded = false;
            }
        } else if self.u_threshold != 0 {
            if (total.wrapping_mul(4) as u32) < self.u_threshold.wrapping_mul(3) {
                self.overloaded = false;
            }
        } else {
            self.overloaded = false;
        }
    }

    /// TCP state change between active and inactive: moves one count, never
    /// touches OVERLOAD.
    pub(crate) fn transition(&mut self, to_active: bool) {
        if to_active {
            self.inactive = self.inactive.wrapping_sub(1);
            self.active = self.active.wrapping_add(1);
        } else {
            self.active = self.active.wrapping_sub(1);
            self.inactive = self.inactive.wrapping_add(1);
        }
    }

    /// `ip_vs_dest_update_overload()`: set OVERLOAD when the connections
    /// reach the upper threshold, clear it when they are below the lower
    /// one (default: 75% of the upper, `u - (u >> 2)`), keep it in between.
    /// No upper threshold: clear.
    fn update_overload(&mut self) {
        let u = self.u_threshold;
        if u == 0 {
            self.overloaded = false;
            return;
        }
        // `int >= u32` compares as unsigned in C.
        let conns = self.total_conns() as u32;
        if conns >= u {
            self.overloaded = true;
            return;
        }
        let l = if self.l_threshold != 0 {
            self.l_threshold
        } else {
            u - (u >> 2)
        };
        if conns < l {
            self.overloaded = false;
        }
    }

    /// `__ip_vs_update_dest()` effects on the fields we model.
    ///
    /// A change of either threshold re-evaluates OVERLOAD against the
    /// current connections ("ipvs: properly update the overload flag on
    /// dest edit", mainline and stable kernels from July 2026, e.g. Debian
    /// 6.1.192): lowering the upper threshold to or below the connection
    /// count overloads the destination at once, and raising it clears the
    /// flag only when the count is below the (new) lower threshold. Older
    /// kernels instead cleared OVERLOAD when the new upper threshold was 0
    /// or larger than the old one, and never set it on an edit (`legacy`,
    /// see [`KernelParams::legacy_conn_accounting`](super::KernelParams)).
    fn update_from(&mut self, spec: &DestSpec, weight: i32, add: bool, legacy: bool) {
        if add || weight != 0 {
            self.last_weight = weight;
        }
        self.weight = weight;
        self.available = true;
        if legacy {
            if spec.upper_threshold == 0 || spec.upper_threshold > self.u_threshold {
                self.overloaded = false;
            }
            self.u_threshold = spec.upper_threshold;
            self.l_threshold = spec.lower_threshold;
        } else if spec.upper_threshold != self.u_threshold
            || spec.lower_threshold != self.l_threshold
        {
            self.u_threshold = spec.upper_threshold;
            self.l_threshold = spec.lower_threshold;
            self.update_overload();
        }
    }
}

/// A packet that may start a new connection, as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Packet {
    /// L4 protocol.
    pub protocol: Protocol,
    /// Client address and source port (`saddr`, `sport`).
    pub src: SocketAddr,
    /// Destination address and port (`daddr`, `dport`): the VIP for address
    /// services; `dh`, `lblc` and `lblcr` key on this address.
    pub dst: SocketAddr,
}

impl Packet {
    /// A packet from `src` to `dst`.
    pub fn new(protocol: Protocol, src: SocketAddr, dst: SocketAddr) -> Self {
        Self { protocol, src, dst }
    }

    /// The source port the hashing schedulers use when their port flag is
    /// set: the L4 source port for TCP, UDP and SCTP, 0 otherwise.
    #[inline]
    pub fn hash_port(&self) -> u16 {
        if self.protocol.has_ports() {
            self.src.port()
        } else {
            0
        }
    }
}

/// Per-service state the schedulers read: the ordered destination list and
/// every destination object ever added (removed ones stay, unavailable, as
/// in the kernel's trash).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceState {
    pub(crate) family: Family,
    pub(crate) flags: SchedFlags,
    pub(crate) dests: Vec<DestState>,
    pub(crate) list: Vec<DestId>,
    pub(crate) now_ms: u64,
    /// Connection accounting of kernels before July 2026
    /// ([`KernelParams::legacy_conn_accounting`](super::KernelParams)).
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) legacy_accounting: bool,
}

impl ServiceState {
    /// An empty service of `family` with scheduler flags `flags`.
    pub fn new(family: Family, flags: SchedFlags) -> Self {
        Self {
            family,
            flags,
            dests: Vec::new(),
            list: Vec::new(),
            now_ms: 0,
            legacy_accounting: false,
        }
    }

    /// Model the connection accounting of kernels before July 2026 (see
    /// [`KernelParams::legacy_conn_accounting`](super::KernelParams)).
    pub fn with_legacy_conn_accounting(mut self, on: bool) -> Self {
        self.legacy_accounting = on;
        self
    }

    /// Whether this service models the accounting of kernels before July
    /// 2026.
    pub fn legacy_conn_accounting(&self) -> bool {
        self.legacy_accounting
    }

    /// `ip_vs_dest_conn_overhead()` of `d` as this service's kernel
    /// computes it: [`DestState::overhead`], or
    /// [`DestState::legacy_overhead`] for kernels before July 2026.
    #[inline]
    pub fn overhead(&self, d: &DestState) -> i32 {
        if self.legacy_accounting {
            d.legacy_overhead()
        } else {
            d.overhead()
        }
    }

    /// Service address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Scheduler flags.
    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// Model clock, in milliseconds since the service was created.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Destinations in kernel list order (newest first).
    pub fn list(&self) -> &[DestId] {
        &self.list
    }

    /// Number of linked destinations (`svc->num_dests`).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no destination is linked.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// A destination object by id (linked or in the trash).
    pub fn dest(&self, id: DestId) -> Option<&DestState> {
        self.dests.get(id.index())
    }

    /// Linked destinations in list order.
    pub fn iter(&self) -> impl Iterator<Item = (DestId, &DestState)> + '_ {
        self.list
            .iter()
            .filter_map(|&id| self.dests.get(id.index()).map(|d| (id, d)))
    }

    /// The object for `addr`, linked or in the trash.
    pub fn find(&self, addr: SocketAddr) -> Option<DestId> {
        self.dests
            .iter()
            .position(|d| d.addr == addr)
            .and_then(|i| u32::try_from(i).ok())
            .map(DestId)
    }

    /// Position of a linked destination in the list.
    pub fn position(&self, id: DestId) -> Option<usize> {
        let d = self.dests.get(id.index())?;
        if d.available {
            Some(d.pos as usize)
        } else {
            None
        }
    }

    /// Internal accessor for ids produced by this service.
    #[inline(always)]
    pub(crate) fn d(&self, id: DestId) -> &DestState {
        &self.dests[id.index()]
    }

    pub(crate) fn d_mut(&mut self, id: DestId) -> Option<&mut DestState> {
        self.dests.get_mut(id.index())
    }

    fn renumber(&mut self) {
        for (i, id) in self.list.iter().enumerate() {
            if let Some(d) = self.dests.get_mut(id.index()) {
                d.pos = i as u32;
            }
        }
    }

    fn check(spec: &DestSpec) -> Result<i32, SchedError> {
        let weight = i32::try_from(spec.weight).map_err(|_| SchedError::WeightOutOfRange {
            weight: spec.weight,
        })?;
        if spec.lower_threshold > spec.upper_threshold {
            return Err(SchedError::ThresholdsOutOfRange {
                upper: spec.upper_threshold,
                lower: spec.lower_threshold,
            });
        }
        Ok(weight)
    }

    /// NEW_DEST: validate, revive from the trash or create, link at the head.
    pub(crate) fn add(&mut self, spec: &DestSpec) -> Result<DestId, SchedError> {
        let weight = Self::check(spec)?;
        let id = match self.find(spec.addr) {
            Some(id) if self.d(id).available => {
                return Err(SchedError::DestinationExists(spec.addr));
            }
            Some(id) => id,
            None => {
                let idx = u32::try_from(self.dests.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)
                    .ok_or(SchedError::TooManyDestinations)?;
                self.dests.push(DestState {
                    addr: spec.addr,
                    weight: 0,
                    last_weight: 0,
                    active: 0,
                    inactive: 0,
                    persistent: 0,
                    u_threshold: 0,
                    l_threshold: 0,
                    available: false,
                    overloaded: false,
                    pos: 0,
                });
                DestId(idx)
            }
        };
        let legacy = self.legacy_accounting;
        if let Some(d) = self.d_mut(id) {
            d.update_from(spec, weight, true, legacy);
        }
        self.list.insert(0, id);
        self.renumber();
        Ok(id)
    }

    /// SET_DEST on a linked destination.
    pub(crate) fn update(&mut self, spec: &DestSpec) -> Result<DestId, SchedError> {
        let weight = Self::check(spec)?;
        let id = self
            .find(spec.addr)
            .filter(|&id| self.d(id).available)
            .ok_or(SchedError::DestinationNotFound(spec.addr))?;
        let legacy = self.legacy_accounting;
        if let Some(d) = self.d_mut(id) {
            d.update_from(spec, weight, false, legacy);
        }
        Ok(id)
    }

    /// DEL_DEST: unlink (clear AVAILABLE) and keep the object in the trash.
    /// Returns the id and the position it had.
    pub(crate) fn remove(&mut self, addr: SocketAddr) -> Result<(DestId, usize), SchedError> {
        let id = self
            .find(addr)
            .filter(|&id| self.d(id).available)
            .ok_or(SchedError::DestinationNotFound(addr))?;
        let pos = self.d(id).pos as usize;
        if pos < self.list.len() && self.list[pos] == id {
            self.list.remove(pos);
        } else {
            self.list.retain(|&x| x != id);
        }
        if let Some(d) = self.d_mut(id) {
            d.available = false;
        }
        self.renumber();
        Ok((id, pos))
    }
}
