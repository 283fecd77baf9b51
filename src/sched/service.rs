//! The service state the schedulers read: destinations in kernel list order,
//! their weights, connection counters, thresholds and flags.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Error;
use crate::model::{AddressFamily, Destination, HashFlags, Netmask, Protocol, Thresholds};

/// Whether the schedulers read L4 ports for `protocol` (TCP, UDP and SCTP;
/// `sh`/`mh` hash port 0 for the others).
#[inline]
pub(crate) fn has_ports(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
}

/// The unspecified address of `family` (`0.0.0.0` or `::`).
pub(crate) fn unspecified(family: AddressFamily) -> IpAddr {
    match family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The client address masked as a persistence template key uses it: an
/// IPv4 mask is ANDed in (contiguous or not, as the kernel does), an IPv6
/// prefix length keeps that many leading bits (above 128 acts as 128). A
/// mask of the other family leaves the address as it is.
pub(crate) fn mask(netmask: Netmask, addr: IpAddr) -> IpAddr {
    match (netmask, addr) {
        (Netmask::V4(m), IpAddr::V4(a)) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::from(m))),
        (Netmask::V6(len), IpAddr::V6(a)) => {
            let len = u32::from(len.min(128));
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
        (_, a) => a,
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
    /// Both thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            upper: self.u_threshold,
            lower: self.l_threshold,
        }
    }
    /// `IP_VS_DEST_F_AVAILABLE`: linked into the service (false in the trash).
    pub fn is_available(&self) -> bool {
        self.available
    }
    /// `IP_VS_DEST_F_OVERLOAD`, driven by the thresholds.
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
    pub(crate) fn update_overload(&mut self) {
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
    fn update_from(&mut self, spec: &Destination, weight: i32, add: bool, legacy: bool) {
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
        if has_ports(self.protocol) {
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
    pub(crate) family: AddressFamily,
    pub(crate) flags: HashFlags,
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
    pub fn new(family: AddressFamily, flags: HashFlags) -> Self {
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
    pub fn family(&self) -> AddressFamily {
        self.family
    }

    /// Scheduler flags.
    pub fn flags(&self) -> HashFlags {
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

    fn check(spec: &Destination) -> Result<i32, Error> {
        let weight = i32::try_from(spec.weight).map_err(|_| Error::WeightOutOfRange {
            weight: spec.weight,
        })?;
        if spec.lower_threshold > spec.upper_threshold {
            return Err(Error::ThresholdsOutOfRange {
                upper: spec.upper_threshold,
                lower: spec.lower_threshold,
            });
        }
        Ok(weight)
    }

    /// NEW_DEST: validate, revive from the trash or create, link at the head.
    pub(crate) fn add(&mut self, spec: &Destination) -> Result<DestId, Error> {
        let weight = Self::check(spec)?;
        let id = match self.find(spec.addr) {
            Some(id) if self.d(id).available => {
                return Err(Error::DestinationExists(spec.addr));
            }
            Some(id) => id,
            None => {
                let idx = u32::try_from(self.dests.len())
                    .ok()
                    .filter(|&i| i != u32::MAX)
                    .ok_or(Error::TooManyDestinations)?;
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
    pub(crate) fn update(&mut self, spec: &Destination) -> Result<DestId, Error> {
        let weight = Self::check(spec)?;
        let id = self
            .find(spec.addr)
            .filter(|&id| self.d(id).available)
            .ok_or(Error::DestinationNotFound(spec.addr))?;
        let legacy = self.legacy_accounting;
        if let Some(d) = self.d_mut(id) {
            d.update_from(spec, weight, false, legacy);
        }
        Ok(id)
    }

    /// DEL_DEST: unlink (clear AVAILABLE) and keep the object in the trash.
    /// Returns the id and the position it had.
    pub(crate) fn remove(&mut self, addr: SocketAddr) -> Result<(DestId, usize), Error> {
        let id = self
            .find(addr)
            .filter(|&id| self.d(id).available)
            .ok_or(Error::DestinationNotFound(addr))?;
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
