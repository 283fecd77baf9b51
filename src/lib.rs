//! `lvs`: drive Linux IPVS, the kernel's L4 load balancer, over generic
//! netlink — safely and fast.
//!
//! | layer | module | what it owns |
//! |---|---|---|
//! | wire codec | [`wire`] | IPVS numbers, attribute enums, framing; no I/O |
//! | typed model | [`Service`], [`Destination`], ... | validated values, no wire details |
//! | handle | [`Handle`] | netlink sockets in one namespace: every IPVS command, errno → [`Error`] |
//! | reconciler | [`reconcile`] | desired state → minimal plan → one batch; graceful draining |
//!
//! Say what should exist and let the reconciler make the kernel match.
//! This runs anywhere: [`FakeKernel`](reconcile::FakeKernel) is an
//! in-memory table for tests; use a [`Handle`] for the real kernel.
//!
//! ```
//! use lvs::reconcile::{DesiredState, FakeKernel, Policy, Reconciler, Scope};
//! use lvs::{Destination, Scheduler, Service, ServiceKey};
//!
//! let web = ServiceKey::tcp(([10, 96, 0, 1], 80));
//! let desired = DesiredState::new().with_service(
//!     Service::new(web).with_scheduler(Scheduler::Rr),
//!     [
//!         Destination::new(([192, 168, 1, 2], 8080)).with_weight(3),
//!         Destination::new(([192, 168, 1, 3], 8080)),
//!     ],
//! );
//! // Own only our VIP range: rules made by keepalived or ipvsadm elsewhere stay.
//! let policy = Policy::new(Scope::prefixes(["10.96.0.0/12".parse().unwrap()]));
//! let mut reconciler = Reconciler::new(FakeKernel::new(), policy);
//!
//! let dry_run = reconciler.plan(&desired)?;
//! assert_eq!(dry_run.to_string(), "\
//! + service TCP 10.96.0.1:80 rr
//! + dest TCP 10.96.0.1:80 -> 192.168.1.3:8080 masq weight 1
//! + dest TCP 10.96.0.1:80 -> 192.168.1.2:8080 masq weight 3
//! ");
//! let report = reconciler.reconcile(&desired)?;
//! assert!(report.is_ok());
//! // Nothing changed: one whole-table read, zero writes.
//! let report = reconciler.reconcile(&desired)?;
//! assert_eq!((report.reads, report.writes), (1, 0));
//! # Ok::<(), lvs::Error>(())
//! ```
//!
//! The same with a [`Handle`], operation by operation:
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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod batch;
mod conn;
mod daemon;
mod error;
mod handle;
mod model;
pub mod reconcile;
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

/// The README's Rust examples, compiled (and, where they need no kernel,
/// run) as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
