//! `lvs`: drive Linux IPVS, the kernel's L4 load balancer, over generic
//! netlink — safely and fast.
//!
//! | layer | module | what it owns |
//! |---|---|---|
//! | wire codec | [`wire`] | IPVS numbers, attribute enums, framing; no I/O |
//! | typed model | [`Service`], [`Destination`], ... | validated values, no wire details |
//! | handle | [`Handle`] | one netlink socket: every IPVS command, errno → [`Error`] |
//!
//! ```no_run
//! use lvs::{Destination, Handle, Scheduler, Service, ServiceKey};
//!
//! let mut ipvs = Handle::open()?;
//! let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
//! ipvs.add_service(&Service::new(key).with_scheduler(Scheduler::Rr))?;
//! ipvs.add_destination(&key, &Destination::new(([192, 168, 1, 2], 8080)))?;
//! for d in ipvs.destinations(&key)? {
//!     println!("{} weight {} active {}", d.destination.addr, d.destination.weight, d.conns.active);
//! }
//! # Ok::<(), lvs::Error>(())
//! ```
//!
//! Every IPVS command needs `CAP_NET_ADMIN` in the initial user namespace.
//! `lvs` never runs `modprobe` and logs nothing: it emits `tracing` spans.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod conn;
mod daemon;
mod error;
mod handle;
mod model;
pub mod request;
mod sys;
pub mod wire;

pub use batch::{BatchResult, OnError, Op};
pub use conn::{ConnOrigin, ConnState, Connection, PeData};
pub use daemon::{DaemonRole, SyncDaemon};
pub use error::{Error, ErrorKind, Operation, Result};
pub use handle::{DEFAULT_TIMEOUT, Handle, Info, Timeouts};
pub use model::{
    AddressFamily, ConnCounts, Destination, DestinationEntry, Forwarding, GueChecksum, HashFlags,
    Netmask, Persistence, Protocol, Rates, SchedName, Scheduler, Service, ServiceEntry, ServiceKey,
    Stats, TableEntry, Tunnel,
};
pub mod sched;
