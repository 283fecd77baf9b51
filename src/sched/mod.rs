//! Pure-Rust models of the kernel's IPVS schedulers.
//!
//! This is the *scheduler models* layer of the crate: it never opens a
//! socket. Each model follows the kernel's own code
//! (`net/netfilter/ipvs/ip_vs_<name>.c` and the connection accounting in
//! `ip_vs_conn.c`/`ip_vs_ctl.c`), including list order, tie rules, C
//! integer widths and the quirks that show up in real traffic, so you can
//! ask "where would IPVS send this client?" without a kernel. The models
//! take the same values a [`Handle`](crate::Handle) sends:
//! [`lvs::Service`](crate::Service) (its [`Scheduler`]
//! carries the sh/mh [`HashFlags`]) and
//! [`lvs::Destination`](crate::Destination), and a table read back with
//! [`Handle::table`](crate::Handle::table) becomes a simulation with
//! [`Simulation::from_table`].
//!
//! # Pieces
//!
//! | item | what it is |
//! |---|---|
//! | [`Simulation`] | a service plus its scheduler: add/remove/update backends with the kernel's hook semantics, feed connections, persistence templates, one-packet UDP, thresholds, time |
//! | [`Simulation::set_state`], [`Simulation::advance`] | connection states (the kernel's active/inactive split per protocol, SCTP included) and their timers: what the table looks like after a while |
//! | [`Distribution`], [`moved_clients`], [`moved_packets`], [`simulate`] | answers: how many clients each backend gets; which clients, or (client, VIP) pairs, move after a change |
//! | [`Simulation::record_connection`] | resync: a connection the kernel's table shows, on the destination it went to |
//! | [`ServiceState`], [`DestState`] | what the kernel keeps: the destination list **newest first**, weights, `last_weight`, connection counters, OVERLOAD |
//! | [`SchedulerModel`] | the kernel's scheduler hooks: `add_dest`, `del_dest`, `upd_dest`, `schedule` (plus `tick` for the lblc/lblcr timer) |
//! | [`Rr`], [`Wrr`], [`Lc`], [`Wlc`], [`Sed`], [`Nq`], [`Fo`], [`Ovf`], [`Twos`], [`Dh`], [`Sh`], [`Mh`], [`Lblc`], [`Lblcr`] | one model per kernel scheduler; [`AnyScheduler`] picks one by [`Scheduler`] ([`MODELLED_SCHEDULERS`] lists them) |
//! | [`Error`] | what the simulated kernel refuses (this layer's error type; it converts into [`lvs::Error`](crate::Error)) |
//! | [`hash`] | the hash primitives (`hash_32`, address fold, SipHash-1-3 Maglev keys) for conformance tests |
//!
//! Kernel build constants and sysctls that change picks are in
//! [`KernelParams`] with kernel defaults (SH table bits 8, MH table index
//! 12 = 4093 slots, DH 256 buckets, lblc/lblcr expiration 24 h).
//!
//! # Example
//!
//! Three backends under Maglev hashing, 10 000 clients:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use lvs::sched::Simulation;
//! use lvs::{Destination, HashFlags, Scheduler, Service, ServiceKey};
//!
//! # fn main() -> Result<(), lvs::sched::Error> {
//! let backend = |last: u8| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), 80);
//! let service = Service::new(ServiceKey::tcp(([192, 0, 2, 1], 80)))
//!     .with_scheduler(Scheduler::Mh(HashFlags::default()));
//! // Destinations in the order they are added to the kernel.
//! let mut sim = Simulation::from_service(
//!     &service,
//!     [
//!         Destination::new(backend(1)),
//!         Destination::new(backend(2)),
//!         Destination::new(backend(3)).with_weight(2),
//!     ],
//! )?;
//! let clients = (0..10_000u32).map(|i| {
//!     SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0xc633_6400 + i)), 40_000)
//! });
//! let dist = sim.simulate(clients);
//! println!("{dist}");
//! assert_eq!(dist.total(), 10_000);
//! assert!(dist.count(backend(3)) > dist.count(backend(1)));
//!
//! // Which clients move if 10.0.0.2 is removed?
//! let mut after = sim.clone();
//! after.remove_destination(backend(2))?;
//! let probe: Vec<SocketAddr> = (0..1000u32)
//!     .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a64_0000 + i)), 0))
//!     .collect();
//! let moved = lvs::sched::moved_clients(&sim, &after, probe.iter().copied());
//! let from_removed = moved.iter().filter(|m| m.before == Some(backend(2))).count();
//! println!("{} of {} clients move, {from_removed} of them were on 10.0.0.2", moved.len(), probe.len());
//! // Maglev moves the removed backend's clients, and only a few others.
//! assert!(moved.len() - from_removed < probe.len() / 10);
//! # Ok(())
//! # }
//! ```
//!
//! The kernel's own table, as a simulation (needs a kernel):
//!
//! ```no_run
//! # fn main() -> lvs::Result<()> {
//! let mut h = lvs::Handle::open()?;
//! for entry in h.table()? {
//!     // sched::Error converts into lvs::Error.
//!     let sim = lvs::sched::Simulation::from_table(&entry)?;
//!     let client = "198.51.100.7:40000".parse().unwrap();
//!     println!("{}: {client} -> {:?}", entry.service.service.key, sim.dest_for(client));
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What is not modelled
//!
//! - State transitions from packets: a connection moves state only when
//!   told ([`Simulation::set_state`], e.g. ESTABLISHED once a client's
//!   `connect()` returns); a packet on it re-arms its timer in its current
//!   state. New connections start as their first packet leaves them (TCP
//!   SYN_RECV, UDP, SCTP INIT1) and expire with [`Simulation::advance`]
//!   on the kernel's per-state timeouts ([`KernelParams::timeouts`] for
//!   the three `ipvsadm --set` values).
//! - `conn_reuse_mode`: a connection-opening packet matching an open
//!   connection in TIME_WAIT goes to that connection's destination (the
//!   kernel may schedule it anew). A removed destination's connections
//!   follow `expire_nodest_conn` ([`KernelParams::expire_nodest_conn`]).
//! - "Inverse" packets (ICMP errors scheduled by their embedded header)
//!   and persistence engines (`sip`).
//! - Removed destinations stay in the trash for ever (the kernel frees an
//!   unreferenced one after a while); re-adding revives the same object.

pub mod hash;
mod hashing;
mod lblc;
mod lc;
mod rr;
mod service;
mod sim;
mod timers;

use crate::ErrorKind;
use crate::model::{HashFlags, Scheduler};

pub use hashing::{Dh, IP_VS_MH_PRIMES, Mh, Sh};
pub use lblc::{
    CHECK_EXPIRE_INTERVAL_MS, COUNT_FOR_FULL_EXPIRATION, DEFAULT_EXPIRATION_MS, ENTRY_TIMEOUT_MS,
    IP_VS_LBLC_TAB_BITS, Lblc, Lblcr,
};
pub use lc::{Fo, Lc, Nq, Ovf, Sed, SimRng, Twos, Wlc};
pub use rr::{Rr, Wrr};
pub use service::{DestId, DestState, Packet, ServiceState};
pub use sim::{
    ConnId, Distribution, Move, Outcome, PacketMove, Simulation, Via, moved_clients, moved_packets,
    simulate,
};

/// `CONFIG_IP_VS_SH_TAB_BITS` default.
pub const IP_VS_SH_TAB_BITS: u8 = 8;
/// `CONFIG_IP_VS_MH_TAB_INDEX` default (table size 4093).
pub const IP_VS_MH_TAB_INDEX: u8 = 12;
/// `IP_VS_DH_TAB_BITS` (fixed in the kernel).
pub const IP_VS_DH_TAB_BITS: u8 = 8;

/// Every scheduler with a model here, with sh/mh flags cleared (the
/// kernel's `none` and out-of-tree schedulers have none).
pub const MODELLED_SCHEDULERS: [Scheduler; 14] = [
    Scheduler::Rr,
    Scheduler::Wrr,
    Scheduler::Lc,
    Scheduler::Wlc,
    Scheduler::Sed,
    Scheduler::Nq,
    Scheduler::Fo,
    Scheduler::Ovf,
    Scheduler::Twos,
    Scheduler::Dh,
    Scheduler::Sh(HashFlags {
        fallback: false,
        port: false,
    }),
    Scheduler::Mh(HashFlags {
        fallback: false,
        port: false,
    }),
    Scheduler::Lblc,
    Scheduler::Lblcr,
];

/// Kernel build constants and sysctls that change scheduling, with kernel
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct KernelParams {
    /// `CONFIG_IP_VS_SH_TAB_BITS` (4..=20, default 8).
    pub sh_tab_bits: u8,
    /// `CONFIG_IP_VS_MH_TAB_INDEX` (8..=17, default 12 = 4093 slots).
    pub mh_tab_index: u8,
    /// `IP_VS_DH_TAB_BITS` (fixed at 8 in the kernel; 1..=20 here).
    pub dh_tab_bits: u8,
    /// `net.ipv4.vs.lblc_expiration` in ms (default 24 h).
    pub lblc_expiration_ms: u64,
    /// `net.ipv4.vs.lblcr_expiration` in ms (default 24 h).
    pub lblcr_expiration_ms: u64,
    /// `net.ipv4.vs.expire_quiescent_template` (default off): a template
    /// whose destination has weight 0 is not reused.
    pub expire_quiescent_template: bool,
    /// `net.ipv4.vs.expire_nodest_conn` (default off; kube-proxy turns it
    /// on). A packet of an open connection whose destination was removed
    /// is dropped when off. When on, the connection is expired at once and
    /// the packet is scheduled anew if it may start a connection (any UDP
    /// datagram, a TCP SYN, an SCTP INIT), or passed on unscheduled
    /// otherwise (a TCP segment without SYN reaches the director's own
    /// stack, which answers with a reset). Also when on, a TCP SYN or SCTP
    /// INIT that matches an open connection to a destination of weight 0
    /// expires that connection and is scheduled anew. (As the kernel does
    /// with `net.ipv4.vs.conntrack` off, its default.)
    pub expire_nodest_conn: bool,
    /// Connection timeouts set with `ipvsadm --set`
    /// ([`Handle::set_timeouts`](crate::Handle::set_timeouts)): TCP
    /// ESTABLISHED, TCP FIN_WAIT and UDP, in seconds; `None` keeps the
    /// kernel default (900, 120, 300). Every other state's timeout is the
    /// kernel's ([`Simulation::set_state`] lists them).
    #[cfg_attr(feature = "serde", serde(default))]
    pub timeouts: crate::Timeouts,
    /// Seed of the random source injected into `twos`.
    pub rng_seed: u64,
    /// Model the connection accounting of kernels before the July 2026
    /// IPVS fixes "ipvs: add totalconns for dest" and "ipvs: properly
    /// update the overload flag on dest edit" (default off: current
    /// kernels, mainline 7.2 and the stable kernels that took them, e.g.
    /// Debian 6.1.192):
    ///
    /// | | current (off) | legacy (on) |
    /// |---|---|---|
    /// | `ip_vs_dest_conn_overhead()` (lc, wlc, lblc, lblcr, twos) | `(active << 8) + active + inactive` | `(active << 8) + inactive` |
    /// | threshold edit (SET_DEST, NEW_DEST) | re-evaluates OVERLOAD: set at `conns >= upper`, cleared below the lower threshold (default `upper - upper/4`) | clears OVERLOAD if the new upper threshold is 0 or larger than the old one; never sets it |
    pub legacy_conn_accounting: bool,
}

impl Default for KernelParams {
    fn default() -> Self {
        Self {
            sh_tab_bits: IP_VS_SH_TAB_BITS,
            mh_tab_index: IP_VS_MH_TAB_INDEX,
            dh_tab_bits: IP_VS_DH_TAB_BITS,
            lblc_expiration_ms: DEFAULT_EXPIRATION_MS,
            lblcr_expiration_ms: DEFAULT_EXPIRATION_MS,
            expire_quiescent_template: false,
            expire_nodest_conn: false,
            timeouts: crate::Timeouts::default(),
            rng_seed: 0,
            legacy_conn_accounting: false,
        }
    }
}

impl KernelParams {
    /// Kernel defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `CONFIG_IP_VS_SH_TAB_BITS`.
    pub fn with_sh_tab_bits(mut self, bits: u8) -> Self {
        self.sh_tab_bits = bits;
        self
    }

    /// Set `CONFIG_IP_VS_MH_TAB_INDEX`.
    pub fn with_mh_tab_index(mut self, index: u8) -> Self {
        self.mh_tab_index = index;
        self
    }

    /// Set the `dh` table bits.
    pub fn with_dh_tab_bits(mut self, bits: u8) -> Self {
        self.dh_tab_bits = bits;
        self
    }

    /// Set the `twos` RNG seed.
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }

    /// Set `expire_quiescent_template`.
    pub fn with_expire_quiescent_template(mut self, on: bool) -> Self {
        self.expire_quiescent_template = on;
        self
    }

    /// Set `expire_nodest_conn`.
    pub fn with_expire_nodest_conn(mut self, on: bool) -> Self {
        self.expire_nodest_conn = on;
        self
    }

    /// Set the connection timeouts (see [`KernelParams::timeouts`]).
    pub fn with_timeouts(mut self, timeouts: crate::Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Model kernels before the July 2026 accounting fixes (see
    /// [`KernelParams::legacy_conn_accounting`]).
    pub fn with_legacy_conn_accounting(mut self, on: bool) -> Self {
        self.legacy_conn_accounting = on;
        self
    }

    /// Check the ranges the kernel's Kconfig allows.
    pub fn validate(&self) -> Result<(), Error> {
        if !(4..=20).contains(&self.sh_tab_bits) {
            return Err(Error::InvalidParam("sh_tab_bits must be in 4..=20"));
        }
        if !(8..=17).contains(&self.mh_tab_index) {
            return Err(Error::InvalidParam("mh_tab_index must be in 8..=17"));
        }
        if !(1..=20).contains(&self.dh_tab_bits) {
            return Err(Error::InvalidParam("dh_tab_bits must be in 1..=20"));
        }
        Ok(())
    }
}

/// Errors of the scheduler models (this layer's error type).
///
/// The models never do I/O, so their errors carry no operation, errno or
/// kernel message, only what the simulated kernel would refuse and why.
/// Control-plane errors mirror the kernel's errno for the same request.
/// [`Error::kind`] gives the crate-wide [`ErrorKind`] of each, and an
/// `Error` converts into an [`lvs::Error`](crate::Error) of that kind (as
/// a [`Operation::Validate`](crate::Operation::Validate) failure), so code
/// that drives both the kernel and a model can use `?` with one error
/// type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Weight above `i32::MAX` (kernel: `-ERANGE`).
    #[error("weight {weight} out of range (kernel limit is {max})", max = i32::MAX)]
    WeightOutOfRange {
        /// The weight given.
        weight: u32,
    },
    /// Lower threshold above the upper one (kernel: `-ERANGE`).
    #[error("lower threshold {lower} is above upper threshold {upper}")]
    ThresholdsOutOfRange {
        /// Upper threshold given.
        upper: u32,
        /// Lower threshold given.
        lower: u32,
    },
    /// The destination is already in the service (kernel: `-EEXIST`).
    #[error("destination {0} already exists")]
    DestinationExists(std::net::SocketAddr),
    /// No such destination in the service (kernel: `-ENOENT`).
    #[error("destination {0} not found")]
    DestinationNotFound(std::net::SocketAddr),
    /// The model ran out of destination ids.
    #[error("too many destinations")]
    TooManyDestinations,
    /// A [`KernelParams`] value is outside its kernel range.
    #[error("invalid kernel parameter: {0}")]
    InvalidParam(&'static str),
    /// A connection state that is not one of the protocol's
    /// ([`Simulation::set_state`] lists them).
    #[error("{state} is not a {protocol:?} connection state")]
    InvalidState {
        /// The connection's protocol.
        protocol: crate::Protocol,
        /// The state given.
        state: crate::ConnState,
    },
    /// A scheduler with no model: `none` or one outside the kernel tree
    /// ([`Scheduler::Custom`]).
    #[error(
        "there is no model of the scheduler {0:?}; models exist for rr, wrr, lc, wlc, sed, nq, \
         fo, ovf, twos, dh, sh, mh, lblc and lblcr"
    )]
    UnsupportedScheduler(String),
    /// A persistence engine (e.g. `sip`): its template keys are not
    /// modelled.
    #[error("persistence engine {0:?} is not modelled")]
    UnsupportedPersistenceEngine(String),
    /// No open connection with this id.
    #[error("unknown connection {0:?}")]
    UnknownConnection(ConnId),
}

impl Error {
    /// The crate-wide kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::DestinationExists(_) => ErrorKind::DestinationExists,
            Error::DestinationNotFound(_) => ErrorKind::DestinationNotFound,
            Error::UnsupportedScheduler(_) | Error::UnsupportedPersistenceEngine(_) => {
                ErrorKind::Unsupported
            }
            _ => ErrorKind::InvalidArgument,
        }
    }
}

impl From<Error> for crate::Error {
    fn from(e: Error) -> Self {
        crate::Error::new(
            crate::Operation::Validate,
            e.kind(),
            format!("scheduler model: {e}"),
        )
    }
}

/// A scheduler model: the kernel's `struct ip_vs_scheduler` hooks.
///
/// `init_service` is the constructor of each model. The hooks run after the
/// service list has changed, as in the kernel; `del_dest` also gets the
/// position the destination had.
pub trait SchedulerModel {
    /// The kernel name of the scheduler (`IPVS_SVC_ATTR_SCHED_NAME`).
    fn name(&self) -> &'static str;

    /// `add_dest`: `dest` was just linked at the head of the list.
    fn add_dest(&mut self, svc: &ServiceState, dest: DestId) {
        let _ = (svc, dest);
    }

    /// `del_dest`: `dest` was just unlinked from `former_position`.
    fn del_dest(&mut self, svc: &ServiceState, dest: DestId, former_position: usize) {
        let _ = (svc, dest, former_position);
    }

    /// `upd_dest`: `dest`'s weight or thresholds were just edited.
    fn upd_dest(&mut self, svc: &ServiceState, dest: DestId) {
        let _ = (svc, dest);
    }

    /// `schedule`: pick a destination for a packet that starts a new
    /// connection, or `None` ("no destination available").
    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId>;

    /// Resync: the kernel's scheduler is known to have picked `dest` for
    /// `pkt` (read from its connection table, not predicted). Move the
    /// scheduler's own state as that pick did: the `rr` cursor rests on
    /// `dest`, the `wrr` position too (its current weight is kept: the
    /// table does not show it), the `lblc` cache entry of the packet's
    /// destination address names `dest`, the `lblcr` set has it. Stateless
    /// schedulers ignore it.
    fn picked(&mut self, svc: &ServiceState, pkt: &Packet, dest: DestId) {
        let _ = (svc, pkt, dest);
    }

    /// Periodic timer (`lblc`/`lblcr` cache collection), called every
    /// [`SchedulerModel::timer_interval_ms`] with `svc.now_ms()` at the tick.
    fn tick(&mut self, svc: &ServiceState) {
        let _ = svc;
    }

    /// Period of [`SchedulerModel::tick`], if the scheduler has a timer.
    fn timer_interval_ms(&self) -> Option<u64> {
        None
    }
}

/// Any scheduler model, chosen by a [`Scheduler`]. Dispatch is a `match`,
/// so the pick stays inlinable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum AnyScheduler {
    /// `rr`.
    Rr(Rr),
    /// `wrr`.
    Wrr(Wrr),
    /// `lc`.
    Lc(Lc),
    /// `wlc`.
    Wlc(Wlc),
    /// `sed`.
    Sed(Sed),
    /// `nq`.
    Nq(Nq),
    /// `fo`.
    Fo(Fo),
    /// `ovf`.
    Ovf(Ovf),
    /// `twos`.
    Twos(Twos),
    /// `dh`.
    Dh(Dh),
    /// `sh`.
    Sh(Sh),
    /// `mh`.
    Mh(Mh),
    /// `lblc`.
    Lblc(Lblc),
    /// `lblcr`.
    Lblcr(Lblcr),
}

macro_rules! dispatch {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyScheduler::Rr($s) => $e,
            AnyScheduler::Wrr($s) => $e,
            AnyScheduler::Lc($s) => $e,
            AnyScheduler::Wlc($s) => $e,
            AnyScheduler::Sed($s) => $e,
            AnyScheduler::Nq($s) => $e,
            AnyScheduler::Fo($s) => $e,
            AnyScheduler::Ovf($s) => $e,
            AnyScheduler::Twos($s) => $e,
            AnyScheduler::Dh($s) => $e,
            AnyScheduler::Sh($s) => $e,
            AnyScheduler::Mh($s) => $e,
            AnyScheduler::Lblc($s) => $e,
            AnyScheduler::Lblcr($s) => $e,
        }
    };
}

impl AnyScheduler {
    /// `init_service` of `scheduler` over the current state of `svc` (the
    /// sh/mh flags are the service's, [`ServiceState::flags`]).
    ///
    /// # Errors
    /// [`Error::UnsupportedScheduler`] for `none` and schedulers outside
    /// the kernel tree.
    pub fn new(
        scheduler: &Scheduler,
        svc: &ServiceState,
        params: &KernelParams,
    ) -> Result<Self, Error> {
        Ok(match scheduler {
            Scheduler::Rr => AnyScheduler::Rr(Rr::new()),
            Scheduler::Wrr => AnyScheduler::Wrr(Wrr::new(svc)),
            Scheduler::Lc => AnyScheduler::Lc(Lc),
            Scheduler::Wlc => AnyScheduler::Wlc(Wlc),
            Scheduler::Sed => AnyScheduler::Sed(Sed),
            Scheduler::Nq => AnyScheduler::Nq(Nq),
            Scheduler::Fo => AnyScheduler::Fo(Fo),
            Scheduler::Ovf => AnyScheduler::Ovf(Ovf),
            Scheduler::Twos => AnyScheduler::Twos(Twos::new(params.rng_seed)),
            Scheduler::Dh => AnyScheduler::Dh(Dh::new(svc, params.dh_tab_bits)),
            Scheduler::Sh(_) => AnyScheduler::Sh(Sh::new(svc, params.sh_tab_bits)),
            Scheduler::Mh(_) => AnyScheduler::Mh(Mh::new(svc, params.mh_tab_index)),
            Scheduler::Lblc => AnyScheduler::Lblc(Lblc::new(params.lblc_expiration_ms)),
            Scheduler::Lblcr => AnyScheduler::Lblcr(Lblcr::new(params.lblcr_expiration_ms)),
            other => return Err(Error::UnsupportedScheduler(other.name().to_owned())),
        })
    }

    /// What [`SchedulerModel::schedule`] would return now, without changing any
    /// scheduler state (stateful models run on a copy of their small state).
    pub fn peek(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        match self {
            AnyScheduler::Rr(s) => s.clone().schedule(svc, pkt),
            AnyScheduler::Wrr(s) => s.clone().schedule(svc, pkt),
            AnyScheduler::Lc(s) => s.pick(svc),
            AnyScheduler::Wlc(s) => s.pick(svc),
            AnyScheduler::Sed(s) => s.pick(svc),
            AnyScheduler::Nq(s) => s.pick(svc),
            AnyScheduler::Fo(s) => s.pick(svc),
            AnyScheduler::Ovf(s) => s.pick(svc),
            AnyScheduler::Twos(s) => s.clone().schedule(svc, pkt),
            AnyScheduler::Dh(s) => s.lookup(svc, pkt),
            AnyScheduler::Sh(s) => s.lookup(svc, pkt),
            AnyScheduler::Mh(s) => s.lookup(svc, pkt),
            AnyScheduler::Lblc(s) => s.peek(svc, pkt),
            AnyScheduler::Lblcr(s) => s.peek(svc, pkt),
        }
    }
}

impl SchedulerModel for AnyScheduler {
    fn name(&self) -> &'static str {
        dispatch!(self, s => s.name())
    }
    fn add_dest(&mut self, svc: &ServiceState, dest: DestId) {
        dispatch!(self, s => s.add_dest(svc, dest))
    }
    fn del_dest(&mut self, svc: &ServiceState, dest: DestId, former_position: usize) {
        dispatch!(self, s => s.del_dest(svc, dest, former_position))
    }
    fn upd_dest(&mut self, svc: &ServiceState, dest: DestId) {
        dispatch!(self, s => s.upd_dest(svc, dest))
    }
    #[inline]
    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        dispatch!(self, s => s.schedule(svc, pkt))
    }
    fn picked(&mut self, svc: &ServiceState, pkt: &Packet, dest: DestId) {
        dispatch!(self, s => s.picked(svc, pkt, dest))
    }
    fn tick(&mut self, svc: &ServiceState) {
        dispatch!(self, s => s.tick(svc))
    }
    fn timer_interval_ms(&self) -> Option<u64> {
        dispatch!(self, s => s.timer_interval_ms())
    }
}

#[cfg(test)]
mod tests;
