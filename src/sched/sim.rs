//! [`Simulation`]: a virtual service, its scheduler, its connections and
//! persistence templates, driven one packet at a time.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::service::{Bound, DestId, DestState, Packet, ServiceState, mask, unspecified};
use super::timers::{initial_state, is_active, timeout_s};
use super::{AnyScheduler, Error, KernelParams, SchedulerModel};
use crate::conn::ConnState;
use crate::model::{
    Destination, Persistence, Protocol, Scheduler, Service, ServiceKey, TableEntry, Timeouts,
};

/// Re-arm period of a template that still controls connections (60 s).
const TEMPLATE_REARM_MS: u64 = 60_000;
/// Most scheduler timer ticks run by one [`Simulation::advance_to`] call
/// (about 7 days of 60 s ticks).
const MAX_TICKS: u64 = 10_000;
/// FTP control port: persistent FTP services key templates without a port.
const FTPPORT: u16 = 21;

/// Identity of an open connection in a [`Simulation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnId(u64);

/// How a connection got its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Via {
    /// The scheduler picked it (for a persistent service: a new template).
    Scheduled,
    /// A persistence template was reused; the scheduler was not called.
    Template,
    /// The packet belongs to an open connection; nothing was scheduled.
    Existing,
    /// The packet belongs to an open connection whose destination was
    /// removed, and `expire_nodest_conn` is off: the kernel drops it
    /// ([`KernelParams::expire_nodest_conn`]).
    Dropped,
    /// The scheduler found no destination (the kernel drops the packet or
    /// bypasses the cache).
    NoDestination,
    /// The packet is not scheduled at all: its port differs from a
    /// non-persistent service's port (port-zero services need persistence),
    /// or it cannot start a connection ([`Simulation::flow_packet`]).
    NotScheduled,
}

/// Result of feeding one packet to a [`Simulation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Outcome {
    /// The destination object, if any.
    pub dest: Option<DestId>,
    /// Its address.
    pub addr: Option<SocketAddr>,
    /// How it was chosen.
    pub via: Via,
    /// The connection now open (`None` if nothing was scheduled, or for a
    /// one-packet UDP datagram, whose entry is freed at once).
    pub conn: Option<ConnId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ConnKey {
    protocol: Protocol,
    src: SocketAddr,
    dst: SocketAddr,
}

#[derive(Debug, Clone)]
struct Conn {
    key: ConnKey,
    dest: DestId,
    active: bool,
    template: Option<u64>,
    state: ConnState,
    /// When the connection's timer fires (`None`: no timer, see
    /// [`timeout_s`]).
    expires_ms: Option<u64>,
}

/// What `ip_vs_in()` does with a packet that matches an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// Forward it on the connection.
    Use,
    /// Drop it (its destination was removed, `expire_nodest_conn` off).
    Drop,
    /// Expire the connection; the packet then goes on as if it had none.
    Expire,
}

/// Whether only a connection-opening packet (TCP SYN, SCTP INIT) can be
/// scheduled for `protocol` (`is_new_conn()`); any UDP datagram can.
fn needs_opening(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Tcp | Protocol::Sctp)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum VKey {
    Addr(IpAddr),
    Mark(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TemplateKey {
    protocol: u16,
    snet: IpAddr,
    vaddr: VKey,
    vport: u16,
}

#[derive(Debug, Clone)]
struct Template {
    /// `None` once invalidated (re-hashed so that it never matches again).
    key: Option<TemplateKey>,
    dest: DestId,
    expires_ms: u64,
    controlled: u32,
}

/// A virtual service with its destinations, scheduler, connections and
/// persistence templates.
///
/// Destinations are added with kernel semantics: each new one goes to the
/// **head** of the list, hooks run after the list changes, `sh`/`mh`
/// rebuild their tables on add, delete and edit, `dh` only on add and
/// delete. Connections bind to destinations and drive the counters and the
/// OVERLOAD flag.
///
/// The service is an [`lvs::Service`](crate::Service) and destinations are
/// [`lvs::Destination`](crate::Destination)s, the same values a
/// [`Handle`](crate::Handle) sends to the kernel (forwarding methods do not
/// matter to the schedulers). A table read back from the kernel becomes a
/// simulation with [`Simulation::from_table`].
#[derive(Debug, Clone)]
pub struct Simulation {
    spec: Service,
    params: KernelParams,
    svc: ServiceState,
    sched: AnyScheduler,
    conns: HashMap<ConnKey, u64>,
    conn_store: BTreeMap<u64, Conn>,
    templates: HashMap<TemplateKey, u64>,
    tpl_store: BTreeMap<u64, Template>,
    next_id: u64,
    next_tick_ms: Option<u64>,
}

impl Simulation {
    /// An empty service with kernel default parameters.
    ///
    /// # Errors
    /// [`Error::UnsupportedScheduler`] for `none` and schedulers outside
    /// the kernel tree, [`Error::UnsupportedPersistenceEngine`].
    pub fn new(service: &Service) -> Result<Self, Error> {
        Self::with_params(service, KernelParams::default())
    }

    /// An empty service with explicit kernel parameters.
    ///
    /// # Errors
    /// As [`Simulation::new`], and [`Error::InvalidParam`].
    pub fn with_params(service: &Service, params: KernelParams) -> Result<Self, Error> {
        params.validate()?;
        if let Some(pe) = &service.persistence_engine {
            return Err(Error::UnsupportedPersistenceEngine(pe.clone()));
        }
        let svc = ServiceState::new(
            service.key.family(),
            service.scheduler.hash_flags().unwrap_or_default(),
        )
        .with_legacy_conn_accounting(params.legacy_conn_accounting);
        let sched = AnyScheduler::new(&service.scheduler, &svc, &params)?;
        let next_tick_ms = sched.timer_interval_ms();
        Ok(Self {
            spec: service.clone(),
            params,
            svc,
            sched,
            conns: HashMap::new(),
            conn_store: BTreeMap::new(),
            templates: HashMap::new(),
            tpl_store: BTreeMap::new(),
            next_id: 0,
            next_tick_ms,
        })
    }

    /// `service` with `dests` added **in the order given**, i.e. the order
    /// in which they were added to the kernel (the last one ends up first
    /// in the list, as the kernel links each new destination at the head).
    ///
    /// # Errors
    /// As [`Simulation::new`] and [`Simulation::add_destination`].
    pub fn from_service<I, D>(service: &Service, dests: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = D>,
        D: Into<Destination>,
    {
        let mut sim = Self::new(service)?;
        for d in dests {
            sim.add_destination(d.into())?;
        }
        Ok(sim)
    }

    /// A table entry read from the kernel ([`Handle::table`](crate::Handle::table)),
    /// with kernel default parameters: see
    /// [`Simulation::from_table_with_params`].
    ///
    /// # Errors
    /// As [`Simulation::from_table_with_params`].
    pub fn from_table(entry: &TableEntry) -> Result<Self, Error> {
        Self::from_table_with_params(entry, KernelParams::default())
    }

    /// A table entry read from the kernel, as the kernel has it now.
    ///
    /// The kernel lists destinations **newest first** (its list order, the
    /// order [`TableEntry::destinations`] keeps), so they are added here in
    /// reverse: the simulation's list order equals the kernel's. Each
    /// destination's active, inactive and persistent counts are the
    /// kernel's, and its OVERLOAD flag is derived from them (set at or
    /// above the upper threshold; the kernel does not report the flag, so a
    /// destination between its lower and upper threshold is taken as not
    /// overloaded).
    ///
    /// What a table does not carry starts fresh: the scheduler's own state
    /// (the `rr`/`wrr` position, the `lblc`/`lblcr` cache) is that of a
    /// scheduler just bound to this list, and the kernel's connection
    /// entries and persistence templates are not known individually (only
    /// counted), so a client with an open connection or a template in the
    /// kernel is scheduled anew by the model. Destinations removed earlier
    /// (in the kernel's trash) are not in a table either.
    ///
    /// # Errors
    /// As [`Simulation::with_params`] and [`Simulation::add_destination`].
    pub fn from_table_with_params(entry: &TableEntry, params: KernelParams) -> Result<Self, Error> {
        let mut sim = Self::with_params(&entry.service.service, params)?;
        for d in entry.destinations.iter().rev() {
            sim.add_destination(d.destination)?;
        }
        for d in &entry.destinations {
            let id = sim
                .svc
                .find(d.destination.addr)
                .ok_or(Error::DestinationNotFound(d.destination.addr))?;
            if let Some(state) = sim.svc.d_mut(id) {
                // The kernel reports its C `int` counters as unsigned.
                state.active = d.conns.active as i32;
                state.inactive = d.conns.inactive as i32;
                state.persistent = d.conns.persistent as i32;
                state.update_overload();
            }
        }
        Ok(sim)
    }

    /// The service configuration.
    pub fn spec(&self) -> &Service {
        &self.spec
    }

    /// Kernel parameters in use.
    pub fn params(&self) -> &KernelParams {
        &self.params
    }

    /// The service state the scheduler reads.
    pub fn service(&self) -> &ServiceState {
        &self.svc
    }

    /// The scheduler model.
    pub fn scheduler(&self) -> &AnyScheduler {
        &self.sched
    }

    /// The state of the destination at `addr` (linked or in the trash).
    pub fn destination(&self, addr: SocketAddr) -> Option<&DestState> {
        self.svc.find(addr).and_then(|id| self.svc.dest(id))
    }

    /// Address of a destination object.
    pub fn addr_of(&self, id: DestId) -> Option<SocketAddr> {
        self.svc.dest(id).map(DestState::addr)
    }

    /// Linked destination addresses in kernel list order (newest first).
    pub fn destinations(&self) -> Vec<SocketAddr> {
        self.svc.iter().map(|(_, d)| d.addr).collect()
    }

    /// NEW_DEST: link `dest` at the head of the list (reviving it from the
    /// trash if it was removed before), then run the `add_dest` hook.
    ///
    /// # Errors
    /// [`Error::WeightOutOfRange`], [`Error::ThresholdsOutOfRange`]
    /// (kernel `-ERANGE`), [`Error::DestinationExists`] (`-EEXIST`).
    pub fn add_destination(&mut self, dest: Destination) -> Result<DestId, Error> {
        let id = self.svc.add(&dest)?;
        self.sched.add_dest(&self.svc, id);
        Ok(id)
    }

    /// SET_DEST: change weight and thresholds, then run the `upd_dest` hook.
    /// A weight of 0 keeps `last_weight`, so `mh` keeps its table.
    ///
    /// # Errors
    /// As [`Simulation::add_destination`], and
    /// [`Error::DestinationNotFound`] (`-ENOENT`).
    pub fn update_destination(&mut self, dest: Destination) -> Result<DestId, Error> {
        let id = self.svc.update(&dest)?;
        self.sched.upd_dest(&self.svc, id);
        Ok(id)
    }

    /// SET_DEST changing only the weight.
    ///
    /// # Errors
    /// As [`Simulation::update_destination`].
    pub fn set_weight(&mut self, addr: SocketAddr, weight: u32) -> Result<DestId, Error> {
        let d = self
            .destination(addr)
            .filter(|d| d.available)
            .ok_or(Error::DestinationNotFound(addr))?;
        let dest = Destination::new(addr)
            .with_weight(weight)
            .with_thresholds(d.thresholds());
        self.update_destination(dest)
    }

    /// DEL_DEST: unlink the destination (it stays in the trash with its
    /// counters; open connections keep using it), then run `del_dest`.
    ///
    /// # Errors
    /// [`Error::DestinationNotFound`] (`-ENOENT`).
    pub fn remove_destination(&mut self, addr: SocketAddr) -> Result<DestId, Error> {
        let (id, pos) = self.svc.remove(addr)?;
        self.sched.del_dest(&self.svc, id, pos);
        Ok(id)
    }

    /// Overwrite a destination's connection counters (for "what would the
    /// scheduler pick with these loads" questions). OVERLOAD is left as is.
    ///
    /// # Errors
    /// [`Error::DestinationNotFound`] if no object has this address.
    pub fn set_conn_counts(
        &mut self,
        addr: SocketAddr,
        active: i32,
        inactive: i32,
        persistent: i32,
    ) -> Result<(), Error> {
        let id = self
            .svc
            .find(addr)
            .ok_or(Error::DestinationNotFound(addr))?;
        if let Some(d) = self.svc.d_mut(id) {
            d.active = active;
            d.inactive = inactive;
            d.persistent = persistent;
        }
        Ok(())
    }

    /// SET_SERVICE with `scheduler`. Another scheduler drops the old one
    /// (`done_service`) and runs `init_service` over the current
    /// destination list; naming the current one keeps its state, as in the
    /// kernel. Either way the sh/mh flags become `scheduler`'s (tables are
    /// not rebuilt: the flags only change lookups).
    ///
    /// # Errors
    /// [`Error::UnsupportedScheduler`]; the simulation is then unchanged.
    pub fn set_scheduler(&mut self, scheduler: &Scheduler) -> Result<(), Error> {
        self.svc.flags = scheduler.hash_flags().unwrap_or_default();
        if scheduler.name() != self.spec.scheduler.name() {
            let sched =
                AnyScheduler::new(scheduler, &self.svc, &self.params).inspect_err(|_| {
                    self.svc.flags = self.spec.scheduler.hash_flags().unwrap_or_default();
                })?;
            self.sched = sched;
            self.next_tick_ms = self
                .sched
                .timer_interval_ms()
                .map(|p| self.svc.now_ms.saturating_add(p));
        }
        self.spec.scheduler = scheduler.clone();
        Ok(())
    }

    /// Set or clear a destination's OVERLOAD flag by hand, for "what if this
    /// backend were over its threshold" questions. The flag then follows the
    /// normal bind/unbind rules again.
    ///
    /// # Errors
    /// [`Error::DestinationNotFound`] if no object has this address.
    pub fn set_overloaded(&mut self, addr: SocketAddr, overloaded: bool) -> Result<(), Error> {
        let id = self
            .svc
            .find(addr)
            .ok_or(Error::DestinationNotFound(addr))?;
        if let Some(d) = self.svc.d_mut(id) {
            d.overloaded = overloaded;
        }
        Ok(())
    }

    /// The default packet from `client` to this service.
    ///
    /// Its protocol is the service's (TCP for a firewall-mark service), its
    /// destination the virtual address and port (`0.0.0.0:0` or `[::]:0`
    /// for a firewall-mark service: [`Simulation::packet_to`] gives the VIP
    /// a marked packet carries).
    pub fn packet_from(&self, client: SocketAddr) -> Packet {
        let (protocol, dst) = match self.spec.key {
            ServiceKey::Addr { protocol, addr } => (protocol, addr),
            ServiceKey::Fwmark { family, .. } => {
                (Protocol::Tcp, SocketAddr::new(unspecified(family), 0))
            }
        };
        Packet::new(protocol, client, dst)
    }

    /// The packet from `client` to `vip`, the address and port it is sent
    /// to, with the service's protocol (TCP for a firewall-mark service;
    /// [`Packet::new`] gives another). For a firewall-mark service `vip` is
    /// any address the mark covers: `dh`, `lblc` and `lblcr` key on it,
    /// and persistence templates name it when its port is the service's.
    pub fn packet_to(&self, client: SocketAddr, vip: SocketAddr) -> Packet {
        let protocol = match self.spec.key {
            ServiceKey::Addr { protocol, .. } => protocol,
            ServiceKey::Fwmark { .. } => Protocol::Tcp,
        };
        Packet::new(protocol, client, vip)
    }

    /// Whether a packet to `dst` is scheduled without persistence: an
    /// address service schedules only packets to its own port (port-zero
    /// services need persistence), a firewall-mark service every packet.
    fn port_matches(&self, dst: SocketAddr) -> bool {
        match self.spec.key {
            ServiceKey::Addr { addr, .. } => dst.port() == addr.port(),
            ServiceKey::Fwmark { .. } => true,
        }
    }

    /// Call the scheduler alone for `pkt` (its own state advances; no
    /// connection is created and no counter changes). This is the kernel's
    /// `svc->scheduler->schedule()` call.
    pub fn pick(&mut self, pkt: &Packet) -> Option<DestId> {
        self.sched.schedule(&self.svc, pkt)
    }

    /// Where a new connection from `pkt` would go now, without changing
    /// anything: an open connection's destination, a valid template's
    /// destination, or the scheduler's pick on a copy of its state
    /// (`None` also when the packet would be dropped, see
    /// [`Via::Dropped`]).
    pub fn peek(&self, pkt: &Packet) -> Option<DestId> {
        let key = ConnKey {
            protocol: pkt.protocol,
            src: pkt.src,
            dst: pkt.dst,
        };
        if let Some((id, c)) = self.open_conn(&key) {
            match self.classify(id, needs_opening(pkt.protocol)) {
                Match::Use => return Some(c.dest),
                Match::Drop => return None,
                Match::Expire => {}
            }
        }
        if let Some(p) = self.spec.persistence {
            let tk = self.template_key(pkt, &p);
            if let Some(t) = self
                .templates
                .get(&tk)
                .and_then(|id| self.tpl_store.get(id))
                && self.template_valid(t)
            {
                return Some(t.dest);
            }
        } else if !self.port_matches(pkt.dst) {
            return None;
        }
        self.sched.peek(&self.svc, pkt)
    }

    /// [`Simulation::peek`] for the default packet from `client`, as an
    /// address: "which backend would this client get?". On a
    /// firewall-mark service, ask [`Simulation::dest_for_packet`] with the
    /// VIP ([`Simulation::packet_to`]).
    pub fn dest_for(&self, client: SocketAddr) -> Option<SocketAddr> {
        self.dest_for_packet(&self.packet_from(client))
    }

    /// [`Simulation::peek`] as an address: "which backend would this
    /// packet get?" (for a firewall-mark service, the packet names the VIP
    /// it was sent to: [`Simulation::packet_to`]).
    pub fn dest_for_packet(&self, pkt: &Packet) -> Option<SocketAddr> {
        self.peek(pkt).and_then(|id| self.addr_of(id))
    }

    /// A new connection from `client` using the service's protocol and VIP.
    pub fn connect(&mut self, client: SocketAddr) -> Outcome {
        let pkt = self.packet_from(client);
        self.connect_packet(&pkt)
    }

    /// A new connection from `client` to `vip` (for a firewall-mark
    /// service, any address its mark covers) with the service's protocol:
    /// [`Simulation::connect_packet`] of [`Simulation::packet_to`].
    pub fn connect_to(&mut self, client: SocketAddr, vip: SocketAddr) -> Outcome {
        let pkt = self.packet_to(client, vip);
        self.connect_packet(&pkt)
    }

    /// Resync: the kernel sent `pkt`'s connection to `dest` (as its
    /// connection table shows, [`Handle::connections`](crate::Handle::connections)),
    /// whatever the model would have picked. The model ends as the kernel
    /// is after that packet:
    ///
    /// - the connection is open on `dest` in `state` (the table's state),
    ///   counted active or inactive as the kernel counts that state
    ///   ([`Simulation::set_state`]), which may set OVERLOAD, its timer
    ///   armed with the state's full timeout (the table's remaining time is
    ///   in whole seconds; [`Simulation::set_state`] later re-arms it); a
    ///   connection the model had for the same packet on another
    ///   destination is closed first, one on `dest` only takes the new
    ///   state ([`Via::Existing`]);
    /// - for a persistent service, the client's template names `dest`: a
    ///   template of the model on `dest` is reused ([`Via::Template`]),
    ///   one on another destination is invalidated and a new one bound to
    ///   `dest`;
    /// - when the kernel's scheduler made the pick (no template reused),
    ///   the scheduler's own state moves as that pick moved it
    ///   ([`SchedulerModel::picked`]: `rr`/`wrr` position, `lblc`/`lblcr`
    ///   cache).
    ///
    /// Recording a connection the model already has on `dest` changes
    /// nothing but its state, so a whole table can be recorded. The
    /// scheduler state follows the last recorded pick: record in the order
    /// the kernel made them when that order matters (`rr`, `wrr`, several
    /// connections to one `lblc`/`lblcr` address; the kernel lists its
    /// table in hash order). `wrr`'s current weight is not in any table and
    /// stays the model's.
    ///
    /// # Errors
    /// [`Error::DestinationNotFound`] if the service never had `dest`
    /// (a removed destination is fine: connections outlive it);
    /// [`Error::InvalidState`] if `state` is not a state of the packet's
    /// protocol.
    pub fn record_connection(
        &mut self,
        pkt: &Packet,
        dest: SocketAddr,
        state: &ConnState,
    ) -> Result<Outcome, Error> {
        let id = self
            .svc
            .find(dest)
            .ok_or(Error::DestinationNotFound(dest))?;
        if is_active(pkt.protocol, state).is_none() {
            return Err(Error::InvalidState {
                protocol: pkt.protocol,
                state: state.clone(),
            });
        }
        let key = ConnKey {
            protocol: pkt.protocol,
            src: pkt.src,
            dst: pkt.dst,
        };
        if let Some((cid, c)) = self.open_conn(&key) {
            let same = c.dest == id;
            let cid = ConnId(cid);
            if same {
                self.set_state(cid, state)?;
                return Ok(Outcome {
                    dest: Some(id),
                    addr: Some(dest),
                    via: Via::Existing,
                    conn: Some(cid),
                });
            }
            self.close(cid)?;
        }
        let (via, template) = if let Some(p) = self.spec.persistence {
            let tkey = self.template_key(pkt, &p);
            let now = self.svc.now_ms;
            let timeout_ms = u64::from(p.timeout) * 1000;
            let existing = self.templates.get(&tkey).copied();
            match existing.and_then(|tid| self.tpl_store.get_mut(&tid).map(|t| (tid, t))) {
                Some((tid, t)) if t.dest == id => {
                    t.expires_ms = now.saturating_add(timeout_ms);
                    (Via::Template, Some(tid))
                }
                other => {
                    if let Some((_, t)) = other {
                        t.key = None;
                        self.templates.remove(&tkey);
                    }
                    self.sched.picked(&self.svc, pkt, id);
                    if let Some(d) = self.svc.d_mut(id) {
                        d.bind(Bound::Template);
                    }
                    let tid = self.fresh_id();
                    self.tpl_store.insert(
                        tid,
                        Template {
                            key: Some(tkey),
                            dest: id,
                            expires_ms: now.saturating_add(timeout_ms),
                            controlled: 0,
                        },
                    );
                    self.templates.insert(tkey, tid);
                    (Via::Scheduled, Some(tid))
                }
            }
        } else {
            self.sched.picked(&self.svc, pkt, id);
            (Via::Scheduled, None)
        };
        Ok(self.open_on(key, id, via, template, state.clone()))
    }

    /// Feed the first packet of a connection (a TCP SYN, an SCTP INIT, any
    /// UDP datagram): reuse an open connection, a persistence template, or
    /// call the scheduler; then bind the new connection (TCP/SCTP active,
    /// others inactive), which may set OVERLOAD. One-packet UDP datagrams
    /// are bound and released at once. A packet of an open connection whose
    /// destination was removed is dropped or scheduled anew, as
    /// [`KernelParams::expire_nodest_conn`] says.
    pub fn connect_packet(&mut self, pkt: &Packet) -> Outcome {
        let key = ConnKey {
            protocol: pkt.protocol,
            src: pkt.src,
            dst: pkt.dst,
        };
        if let Some(o) = self.on_open_conn(&key, needs_opening(pkt.protocol)) {
            return o;
        }
        let (dest, via, template) = if let Some(p) = self.spec.persistence {
            match self.sched_persist(pkt, &p) {
                Some(x) => x,
                None => return self.none(Via::NoDestination),
            }
        } else {
            if !self.port_matches(pkt.dst) {
                return self.none(Via::NotScheduled);
            }
            match self.sched.schedule(&self.svc, pkt) {
                Some(d) => (d, Via::Scheduled, None),
                None => return self.none(Via::NoDestination),
            }
        };
        self.open_on(key, dest, via, template, initial_state(pkt.protocol))
    }

    /// Bind a new connection `key` to `dest` (one-packet UDP: bound and
    /// released at once).
    fn open_on(
        &mut self,
        key: ConnKey,
        dest: DestId,
        via: Via,
        template: Option<u64>,
        state: ConnState,
    ) -> Outcome {
        let active = is_active(key.protocol, &state).unwrap_or(false);
        let expires_ms = self.timer_for(key.protocol, &state);
        let kind = if active {
            Bound::Active
        } else {
            Bound::Inactive
        };
        if let Some(d) = self.svc.d_mut(dest) {
            d.bind(kind);
        }
        let one_packet = self.spec.one_packet && key.protocol == Protocol::Udp;
        let conn = if one_packet {
            if let Some(d) = self.svc.d_mut(dest) {
                d.unbind(kind);
            }
            None
        } else {
            if let Some(t) = template.and_then(|t| self.tpl_store.get_mut(&t)) {
                t.controlled = t.controlled.saturating_add(1);
            }
            let id = self.fresh_id();
            self.conn_store.insert(
                id,
                Conn {
                    key,
                    dest,
                    active,
                    template,
                    state,
                    expires_ms,
                },
            );
            self.conns.insert(key, id);
            Some(ConnId(id))
        };
        Outcome {
            dest: Some(dest),
            addr: self.addr_of(dest),
            via,
            conn,
        }
    }

    /// A packet that does not open a connection: a TCP segment without
    /// SYN, an SCTP chunk other than INIT (for UDP and other protocols
    /// this is [`Simulation::connect_packet`]: any datagram may start a
    /// connection). It follows an open connection, is dropped, or expires
    /// the connection, as [`Simulation::connect_packet`] says; it is never
    /// scheduled ([`Via::NotScheduled`]: the director's own stack gets it).
    pub fn flow_packet(&mut self, pkt: &Packet) -> Outcome {
        if !needs_opening(pkt.protocol) {
            return self.connect_packet(pkt);
        }
        let key = ConnKey {
            protocol: pkt.protocol,
            src: pkt.src,
            dst: pkt.dst,
        };
        self.on_open_conn(&key, false)
            .unwrap_or_else(|| self.none(Via::NotScheduled))
    }

    fn open_conn(&self, key: &ConnKey) -> Option<(u64, &Conn)> {
        let id = *self.conns.get(key)?;
        self.conn_store.get(&id).map(|c| (id, c))
    }

    /// `ip_vs_in()` on a packet matching open connection `id`; `opening`:
    /// the packet is a TCP SYN or SCTP INIT.
    fn classify(&self, id: u64, opening: bool) -> Match {
        let Some(d) = self.conn_store.get(&id).and_then(|c| self.svc.dest(c.dest)) else {
            return Match::Use;
        };
        let expire = self.params.expire_nodest_conn;
        if expire && opening && d.weight == 0 {
            Match::Expire
        } else if d.available {
            Match::Use
        } else if expire {
            Match::Expire
        } else {
            Match::Drop
        }
    }

    /// The outcome of a packet matching an open connection, or `None` if
    /// none matches (or it was just expired): the packet goes on unmatched.
    fn on_open_conn(&mut self, key: &ConnKey, opening: bool) -> Option<Outcome> {
        let (id, c) = self.open_conn(key)?;
        let outcome = |via| Outcome {
            dest: Some(c.dest),
            addr: self.addr_of(c.dest),
            via,
            conn: Some(ConnId(id)),
        };
        match self.classify(id, opening) {
            Match::Use => {
                let o = outcome(Via::Existing);
                self.rearm(id);
                Some(o)
            }
            Match::Drop => Some(outcome(Via::Dropped)),
            Match::Expire => {
                // `ip_vs_conn_expire_now()`: unbound and released.
                let _ = self.close(ConnId(id));
                None
            }
        }
    }

    fn none(&self, via: Via) -> Outcome {
        Outcome {
            dest: None,
            addr: None,
            via,
            conn: None,
        }
    }

    fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn template_key(&self, pkt: &Packet, p: &Persistence) -> TemplateKey {
        let snet = mask(p.netmask, pkt.src.ip());
        let (svc_port, mark) = match self.spec.key {
            ServiceKey::Addr { addr, .. } => (addr.port(), None),
            ServiceKey::Fwmark { mark, .. } => (0, Some(mark)),
        };
        let proto = pkt.protocol.number();
        if pkt.dst.port() == svc_port {
            TemplateKey {
                protocol: proto,
                snet,
                vaddr: VKey::Addr(pkt.dst.ip()),
                vport: if svc_port != FTPPORT { svc_port } else { 0 },
            }
        } else if let Some(mark) = mark {
            TemplateKey {
                protocol: 0,
                snet,
                vaddr: VKey::Mark(mark),
                vport: 0,
            }
        } else {
            TemplateKey {
                protocol: proto,
                snet,
                vaddr: VKey::Addr(pkt.dst.ip()),
                vport: 0,
            }
        }
    }

    /// `ip_vs_check_template()`.
    fn template_valid(&self, t: &Template) -> bool {
        let d = self.svc.d(t.dest);
        d.available && !(self.params.expire_quiescent_template && d.weight == 0)
    }

    /// `ip_vs_sched_persist()`: returns (dest, via, template id).
    fn sched_persist(
        &mut self,
        pkt: &Packet,
        p: &Persistence,
    ) -> Option<(DestId, Via, Option<u64>)> {
        let key = self.template_key(pkt, p);
        let timeout_ms = u64::from(p.timeout) * 1000;
        let now = self.svc.now_ms;
        if let Some(&tid) = self.templates.get(&key) {
            let valid = self
                .tpl_store
                .get(&tid)
                .is_some_and(|t| self.template_valid(t));
            if valid {
                let t = self.tpl_store.get_mut(&tid)?;
                t.expires_ms = now.saturating_add(timeout_ms);
                return Some((t.dest, Via::Template, Some(tid)));
            }
            // Invalidate: it stays bound until it expires, but never matches.
            self.templates.remove(&key);
            if let Some(t) = self.tpl_store.get_mut(&tid) {
                t.key = None;
            }
        }
        let dest = self.sched.schedule(&self.svc, pkt)?;
        if let Some(d) = self.svc.d_mut(dest) {
            d.bind(Bound::Template);
        }
        let tid = self.fresh_id();
        self.tpl_store.insert(
            tid,
            Template {
                key: Some(key),
                dest,
                expires_ms: now.saturating_add(timeout_ms),
                controlled: 0,
            },
        );
        self.templates.insert(key, tid);
        Some((dest, Via::Scheduled, Some(tid)))
    }

    /// Move an open connection between active and inactive (e.g. a TCP
    /// connection entering FIN_WAIT, or back to ESTABLISHED). Counters move
    /// by one; OVERLOAD does not change. Its state and timer stay as they
    /// were: [`Simulation::set_state`] moves all three as the kernel does.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`].
    pub fn set_active(&mut self, conn: ConnId, active: bool) -> Result<(), Error> {
        let c = self
            .conn_store
            .get_mut(&conn.0)
            .ok_or(Error::UnknownConnection(conn))?;
        if c.active != active {
            c.active = active;
            let dest = c.dest;
            if let Some(d) = self.svc.d_mut(dest) {
                d.transition(active);
            }
        }
        Ok(())
    }

    /// A packet moved an open connection to `state` (a [`ConnState`] as the
    /// kernel names it; SCTP states other than `NONE` and `ESTABLISHED` are
    /// [`ConnState::Other`] with the kernel's name, e.g. `"C-REPLIED"`):
    /// the connection counts as active or inactive as the kernel counts
    /// that state, and its timer is re-armed with the state's timeout from
    /// now ([`Simulation::advance`] expires it). A state change moves one
    /// count between active and inactive and never touches OVERLOAD.
    ///
    /// | protocol | active states | timeouts (kernel defaults) |
    /// |---|---|---|
    /// | TCP | SYN_SENT, SYN_RECV, SYNACK, ESTABLISHED | ESTABLISHED 900 s, FIN_WAIT 120 s (both from [`KernelParams::timeouts`]), SYN_SENT, TIME_WAIT, LISTEN, SYNACK 120 s, SYN_RECV, CLOSE_WAIT 60 s, LAST_ACK 30 s, CLOSE 10 s, NONE 2 s |
    /// | UDP | none | UDP 300 s ([`KernelParams::timeouts`]) |
    /// | SCTP | ESTABLISHED | ESTABLISHED 900 s; INIT, C-SENT, C-REPLIED, C-WAIT, COOKIE, C-ECHOED, S-SENT, S-RECEIVED, S-ACK-SENT, CLOSED 61 s; INIT1, REJECTED 4 s; NONE 2 s |
    ///
    /// A new connection starts as its first packet leaves it: TCP in
    /// SYN_RECV (active), UDP in UDP, SCTP in INIT1 (inactive: an SCTP
    /// association counts as active only once the kernel has seen its
    /// handshake complete, COOKIE ACK included).
    ///
    /// # Errors
    /// [`Error::UnknownConnection`]; [`Error::InvalidState`] if `state` is
    /// not a state of the connection's protocol.
    pub fn set_state(&mut self, conn: ConnId, state: &ConnState) -> Result<(), Error> {
        let c = self
            .conn_store
            .get(&conn.0)
            .ok_or(Error::UnknownConnection(conn))?;
        let protocol = c.key.protocol;
        let active = is_active(protocol, state).ok_or_else(|| Error::InvalidState {
            protocol,
            state: state.clone(),
        })?;
        self.set_active(conn, active)?;
        let expires_ms = self.timer_for(protocol, state);
        if let Some(c) = self.conn_store.get_mut(&conn.0) {
            c.state = state.clone();
            c.expires_ms = expires_ms;
        }
        Ok(())
    }

    /// The state of an open connection and the milliseconds left before
    /// its timer fires (`None` for protocols without timers), or `None` if
    /// it is not open (closed, or expired by [`Simulation::advance`]).
    pub fn connection_state(&self, conn: ConnId) -> Option<(&ConnState, Option<u64>)> {
        let c = self.conn_store.get(&conn.0)?;
        let left = c.expires_ms.map(|e| e.saturating_sub(self.svc.now_ms));
        Some((&c.state, left))
    }

    /// `ip_vs_set_timeout()`: from now on, connections entering (or
    /// re-armed in) TCP ESTABLISHED, TCP FIN_WAIT and UDP get these
    /// timeouts; a field left `None` (or 0) keeps its value, as in the
    /// kernel. Timers already armed keep their expiry.
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) {
        let t = &mut self.params.timeouts;
        for (to, from) in [
            (&mut t.tcp, timeouts.tcp),
            (&mut t.tcp_fin, timeouts.tcp_fin),
            (&mut t.udp, timeouts.udp),
        ] {
            if let Some(v) = from.filter(|&v| v > 0) {
                *to = Some(v);
            }
        }
    }

    /// When a connection of `protocol` entering `state` now expires.
    fn timer_for(&self, protocol: Protocol, state: &ConnState) -> Option<u64> {
        timeout_s(protocol, state, &self.params.timeouts)
            .map(|s| self.svc.now_ms.saturating_add(u64::from(s) * 1000))
    }

    /// A packet on open connection `id` in an unchanged state: its timer
    /// restarts with the state's timeout.
    fn rearm(&mut self, id: u64) {
        let Some(c) = self.conn_store.get(&id) else {
            return;
        };
        let expires_ms = self.timer_for(c.key.protocol, &c.state);
        if let Some(c) = self.conn_store.get_mut(&id) {
            c.expires_ms = expires_ms;
        }
    }

    /// Close (expire) a connection: unbind it from its destination, which
    /// may clear OVERLOAD, and release its template.
    ///
    /// # Errors
    /// [`Error::UnknownConnection`].
    pub fn close(&mut self, conn: ConnId) -> Result<(), Error> {
        let c = self
            .conn_store
            .remove(&conn.0)
            .ok_or(Error::UnknownConnection(conn))?;
        self.conns.remove(&c.key);
        if let Some(d) = self.svc.d_mut(c.dest) {
            d.unbind(if c.active {
                Bound::Active
            } else {
                Bound::Inactive
            });
        }
        if let Some(t) = c.template.and_then(|t| self.tpl_store.get_mut(&t)) {
            t.controlled = t.controlled.saturating_sub(1);
        }
        Ok(())
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conn_store.len()
    }

    /// Persistence templates still bound (including invalidated ones that
    /// have not expired yet).
    pub fn templates(&self) -> usize {
        self.tpl_store.len()
    }

    /// Advance the model clock by `ms` milliseconds with no packet
    /// meanwhile: run scheduler timers (the `lblc`/`lblcr` caches), expire
    /// connections whose state timer ran out ([`Simulation::set_state`]
    /// lists the timeouts; each unbinds from its destination, lowering its
    /// counters) and persistence templates that control no open
    /// connection (a template that still does is re-armed every 60 s).
    pub fn advance(&mut self, ms: u64) {
        let to = self.svc.now_ms.saturating_add(ms);
        self.advance_to(to);
    }

    /// Advance the model clock to `now_ms` (no-op if it is in the past).
    pub fn advance_to(&mut self, now_ms: u64) {
        if now_ms <= self.svc.now_ms {
            return;
        }
        if let (Some(period), Some(mut next)) = (self.sched.timer_interval_ms(), self.next_tick_ms)
        {
            let period = period.max(1);
            // Ticks only remove cache entries, and an entry removable at one
            // tick stays removable later (no packet arrives meanwhile), so a
            // very long jump runs just the last MAX_TICKS ticks: the cache
            // ends with the same entries, in bounded time.
            let behind = (now_ms.saturating_sub(next)) / period;
            if next <= now_ms && behind > MAX_TICKS {
                next = next.saturating_add((behind - MAX_TICKS).saturating_mul(period));
            }
            while next <= now_ms {
                self.svc.now_ms = next;
                self.sched.tick(&self.svc);
                next = next.saturating_add(period);
                if next == u64::MAX {
                    break;
                }
            }
            self.next_tick_ms = Some(next);
        }
        self.svc.now_ms = now_ms;
        // A template's timer fires at its expiry and every 60 s after it
        // while connections it controls are open; no packet arrives during
        // the jump, so the last of them to close is known now.
        let mut last_close: HashMap<u64, u64> = HashMap::new();
        for c in self.conn_store.values() {
            if let Some(t) = c.template {
                let e = c.expires_ms.unwrap_or(u64::MAX);
                let slot = last_close.entry(t).or_insert(0);
                *slot = (*slot).max(e);
            }
        }
        let mut expired = Vec::new();
        for (&tid, t) in self.tpl_store.iter_mut() {
            if t.expires_ms > now_ms {
                continue;
            }
            let free_at = last_close.get(&tid).copied().unwrap_or(0);
            // (A connection without a timer holds its template for ever.)
            let fires_free = if free_at == u64::MAX {
                u64::MAX
            } else if free_at <= t.expires_ms {
                t.expires_ms
            } else {
                let periods = (free_at - t.expires_ms).div_ceil(TEMPLATE_REARM_MS);
                t.expires_ms
                    .saturating_add(periods.saturating_mul(TEMPLATE_REARM_MS))
            };
            if fires_free <= now_ms && fires_free != u64::MAX {
                expired.push(tid);
            } else {
                let behind = (now_ms - t.expires_ms) / TEMPLATE_REARM_MS + 1;
                t.expires_ms = t
                    .expires_ms
                    .saturating_add(behind.saturating_mul(TEMPLATE_REARM_MS));
            }
        }
        // Connection timers (`ip_vs_conn_expire()`): unbound and released.
        let gone: Vec<u64> = self
            .conn_store
            .iter()
            .filter(|(_, c)| c.expires_ms.is_some_and(|e| e <= now_ms))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            let _ = self.close(ConnId(id));
        }
        for tid in expired {
            if let Some(t) = self.tpl_store.remove(&tid) {
                if let Some(k) = t.key
                    && self.templates.get(&k) == Some(&tid)
                {
                    self.templates.remove(&k);
                }
                if let Some(d) = self.svc.d_mut(t.dest) {
                    d.unbind(Bound::Template);
                }
            }
        }
    }

    /// Connect every client once (connections stay open) and count where
    /// they went.
    pub fn simulate<I>(&mut self, clients: I) -> Distribution
    where
        I: IntoIterator<Item = SocketAddr>,
    {
        let mut dist = Distribution::over(self);
        for c in clients {
            let o = self.connect(c);
            dist.record(o.addr);
        }
        dist
    }

    /// Where each client would go now ([`Simulation::dest_for`]), counted.
    /// Nothing changes; for stateful schedulers every client sees the same
    /// state.
    pub fn distribution_of<I>(&self, clients: I) -> Distribution
    where
        I: IntoIterator<Item = SocketAddr>,
    {
        let mut dist = Distribution::over(self);
        for c in clients {
            dist.record(self.dest_for(c));
        }
        dist
    }
}

/// `(address, weight)`: a destination of that weight, as
/// [`Destination::new`] makes it.
impl From<(SocketAddr, u32)> for Destination {
    fn from((addr, weight): (SocketAddr, u32)) -> Self {
        Destination::new(addr).with_weight(weight)
    }
}

/// Connections per destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Distribution {
    counts: BTreeMap<SocketAddr, u64>,
    unscheduled: u64,
}

impl Distribution {
    fn over(sim: &Simulation) -> Self {
        Self {
            counts: sim.svc.iter().map(|(_, d)| (d.addr, 0)).collect(),
            unscheduled: 0,
        }
    }

    fn record(&mut self, addr: Option<SocketAddr>) {
        match addr {
            Some(a) => *self.counts.entry(a).or_insert(0) += 1,
            None => self.unscheduled += 1,
        }
    }

    /// Count for one destination (0 if it got none).
    pub fn count(&self, addr: SocketAddr) -> u64 {
        self.counts.get(&addr).copied().unwrap_or(0)
    }

    /// Counts by destination address (every linked destination appears).
    pub fn counts(&self) -> &BTreeMap<SocketAddr, u64> {
        &self.counts
    }

    /// Clients that got no destination.
    pub fn unscheduled(&self) -> u64 {
        self.unscheduled
    }

    /// All clients counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.unscheduled
    }

    /// Fraction of all clients that went to `addr`.
    pub fn share(&self, addr: SocketAddr) -> f64 {
        let t = self.total();
        if t == 0 {
            0.0
        } else {
            self.count(addr) as f64 / t as f64
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<40} {:>10} {:>7}", "destination", "clients", "share")?;
        for (a, c) in &self.counts {
            writeln!(
                f,
                "{:<40} {:>10} {:>6.2}%",
                a.to_string(),
                c,
                100.0 * self.share(*a)
            )?;
        }
        if self.unscheduled > 0 {
            let t = self.total().max(1);
            writeln!(
                f,
                "{:<40} {:>10} {:>6.2}%",
                "(none)",
                self.unscheduled,
                100.0 * self.unscheduled as f64 / t as f64
            )?;
        }
        Ok(())
    }
}

/// A client whose destination differs between two simulations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Move {
    /// The client.
    pub client: SocketAddr,
    /// Its destination before.
    pub before: Option<SocketAddr>,
    /// Its destination after.
    pub after: Option<SocketAddr>,
}

/// The clients whose destination ([`Simulation::dest_for`]) differs between
/// `before` and `after`: typically `after` is a clone of `before` with one
/// destination removed or re-weighted. Each client sends the service's
/// default packet ([`Simulation::packet_from`]); for a firewall-mark
/// service, whose packets name no VIP then, ask [`moved_packets`].
pub fn moved_clients<I>(before: &Simulation, after: &Simulation, clients: I) -> Vec<Move>
where
    I: IntoIterator<Item = SocketAddr>,
{
    clients
        .into_iter()
        .filter_map(|client| {
            let b = before.dest_for(client);
            let a = after.dest_for(client);
            (a != b).then_some(Move {
                client,
                before: b,
                after: a,
            })
        })
        .collect()
}

/// A packet whose destination differs between two simulations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PacketMove {
    /// The packet (client, and the VIP it is sent to).
    pub packet: Packet,
    /// Its destination before.
    pub before: Option<SocketAddr>,
    /// Its destination after.
    pub after: Option<SocketAddr>,
}

/// The packets whose destination ([`Simulation::dest_for_packet`]) differs
/// between `before` and `after`: [`moved_clients`] for packets that name
/// their VIP, i.e. "which (client, VIP) pairs move" on a firewall-mark
/// service, where `dh`, `lblc` and `lblcr` key on the VIP
/// ([`Simulation::packet_to`] makes the packets).
pub fn moved_packets<I>(before: &Simulation, after: &Simulation, packets: I) -> Vec<PacketMove>
where
    I: IntoIterator<Item = Packet>,
{
    packets
        .into_iter()
        .filter_map(|packet| {
            let b = before.dest_for_packet(&packet);
            let a = after.dest_for_packet(&packet);
            (a != b).then_some(PacketMove {
                packet,
                before: b,
                after: a,
            })
        })
        .collect()
}

/// One-shot: build `service` with `dests` (in the order added to the
/// kernel), connect every client once and return the distribution.
///
/// # Errors
/// Any error of [`Simulation::from_service`].
pub fn simulate<I, D, C>(service: &Service, dests: I, clients: C) -> Result<Distribution, Error>
where
    I: IntoIterator<Item = D>,
    D: Into<Destination>,
    C: IntoIterator<Item = SocketAddr>,
{
    Ok(Simulation::from_service(service, dests)?.simulate(clients))
}
