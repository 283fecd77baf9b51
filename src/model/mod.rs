//! The typed model: validated values with no wire details.

mod codec;
mod destination;
pub(crate) mod error;
mod ops;
#[cfg(feature = "serde")]
pub(crate) mod serde_form;
mod service;
mod stats;
mod text;

pub(crate) use ops::OpRef;
pub use ops::{BatchResult, Info, OnError, Op, Timeouts};

pub use destination::{ConnCounts, Destination, Forwarding, GueChecksum, Thresholds, Tunnel};
pub use service::{
    AddressFamily, HashFlags, Netmask, Persistence, Protocol, SchedName, Scheduler, Service,
    ServiceKey,
};
pub use stats::{Rates, Stats};
pub use text::{IpvsadmAddr, IpvsadmKey, ntop};
pub(crate) use text::{SchedFlag, inet_aton, protocol_switch, sched_flag};

pub(crate) use codec::*;

/// A service as read back from the kernel: its configuration and its
/// counters. Two entries of the same configuration compare equal on
/// `service` whatever their stats.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceEntry {
    /// Configuration (the kernel's internal HASHED flag is never here).
    pub service: Service,
    /// Counters and rates.
    pub stats: Stats,
}

/// A destination as read back from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct DestinationEntry {
    /// Configuration.
    pub destination: Destination,
    /// Connection counts.
    pub conns: ConnCounts,
    /// Counters and rates.
    pub stats: Stats,
}

/// A service with all its destinations, as [`Handle::table`](crate::Handle::table) reads it.
///
/// # Example
/// The busiest destination of each service:
/// ```no_run
/// # fn main() -> lvs::Result<()> {
/// for entry in lvs::Handle::open()?.table()? {
///     if let Some(d) = entry.destinations.iter().max_by_key(|d| d.conns.active) {
///         println!("{}: {} has {} active", entry.service.service.key, d.destination.addr, d.conns.active);
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct TableEntry {
    /// The service.
    pub service: ServiceEntry,
    /// Its destinations in kernel list order (most recently added first).
    pub destinations: Vec<DestinationEntry>,
}

impl ServiceEntry {
    /// The service's key (`entry.service.key`).
    pub fn key(&self) -> ServiceKey {
        self.service.key
    }
}

impl DestinationEntry {
    /// The destination's address (`entry.destination.addr`).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.destination.addr
    }

    /// The destination's configuration (`entry.destination`).
    pub fn config(&self) -> &Destination {
        &self.destination
    }
}

impl TableEntry {
    /// The service's key (`entry.service.service.key`).
    ///
    /// ```no_run
    /// # fn main() -> lvs::Result<()> {
    /// for entry in lvs::Handle::open()?.table()? {
    ///     let addrs: Vec<_> = entry.destinations.iter().map(|d| d.addr()).collect();
    ///     println!("{} ({}): {addrs:?}", entry.key(), entry.config().scheduler);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn key(&self) -> ServiceKey {
        self.service.service.key
    }

    /// The service's configuration (`entry.service.service`).
    pub fn config(&self) -> &Service {
        &self.service.service
    }

    /// The destinations' configurations, in kernel list order.
    pub fn destination_configs(&self) -> impl Iterator<Item = &Destination> + '_ {
        self.destinations.iter().map(|d| &d.destination)
    }
}
