//! `lvs`: drive Linux IPVS, the kernel's L4 load balancer, over generic
//! netlink — safely and fast.
//!
//! Five layers; each imports only the ones above it in this table (a test
//! checks it: `tests/layers.rs`):
//!
//! | layer | module | what it owns | error type |
//! |---|---|---|---|
//! | 1. wire codec | [`wire`] | IPVS numbers, one header view, one writer, one reader, attribute enums; no I/O | [`wire::Error`] |
//! | 2. typed model | [`Service`], [`Destination`], [`Op`], ... | validated values, no wire details | [`Error`] |
//! | 3. sans-IO core | [`request`] | request bytes and reply state machines ([`request::Exchange`]): bytes in, values out | [`Error`] |
//! | 4. handle | [`Handle`] | netlink sockets in one namespace driving the core: every IPVS command, errno → [`Error`] | [`Error`] |
//! | 5. reconciler, scheduler models | [`reconcile`], [`sched`] | desired state → minimal plan → one batch; graceful draining; kernel scheduler models | [`Error`] (the models: see [`sched`]) |
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
//! let mut kernel = FakeKernel::new(); // or a Handle
//! let mut reconciler = Reconciler::new(policy);
//!
//! let dry_run = reconciler.plan(&mut kernel, &desired)?;
//! assert_eq!(dry_run.to_string(), "\
//! + service TCP 10.96.0.1:80 rr
//! + dest TCP 10.96.0.1:80 -> 192.168.1.3:8080 masq weight 1
//! + dest TCP 10.96.0.1:80 -> 192.168.1.2:8080 masq weight 3
//! ");
//! let report = reconciler.reconcile(&mut kernel, &desired)?;
//! assert!(report.is_ok());
//! // Nothing changed: one whole-table read, zero writes.
//! let report = reconciler.reconcile(&mut kernel, &desired)?;
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
//! # Concepts, in ipvsadm's and kube-proxy's words
//!
//! A *virtual service* (ipvsadm `-A`; a Kubernetes Service port's
//! ClusterIP, NodePort or load-balancer IP) is a [`Service`], named by its
//! [`ServiceKey`]: protocol, address and port (`-t`, `-u`,
//! `--sctp-service`), or a firewall mark (`-f`). Its *real servers*
//! (`-a`; a Service's ready endpoints) are [`Destination`]s.
//!
//! | ipvsadm | kube-proxy / Kubernetes | `lvs` |
//! |---|---|---|
//! | `-A -t VIP:PORT -s rr` | a Service port | `Handle::add_service(&Service::new(ServiceKey::tcp(..)).with_scheduler(Scheduler::Rr))` |
//! | `-a -t VIP:PORT -r IP:PORT -m -w 1` | a ready endpoint | `Handle::add_destination(&key, &Destination::new(..))` ([`Forwarding::Masquerade`] is the default) |
//! | `-e ... -w 0` | a terminating endpoint being drained | `Destination::with_weight(0)`, or let the reconciler drain ([`reconcile::DrainPolicy`]) |
//! | `-p 10800` | `sessionAffinity: ClientIP`, `timeoutSeconds` | `Service::with_persistence(10800)` |
//! | `-s sh`, `-b sh-port` | `--ipvs-scheduler` | [`Scheduler`] with [`HashFlags`] |
//! | `-g` / `-i` / `-m` | (NAT only) | [`Forwarding`] (`DirectRoute`, `Tunnel(..)`, `Masquerade`) |
//! | `-Ln --stats --exact` | metrics | [`Handle::table`] ([`Stats`], [`ConnCounts`]) |
//! | `-S` / `-R` | a proxy's full sync | [`reconcile::Reconciler`] (plan, then one batch) |
//! | `--set tcp tcpfin udp` | `--ipvs-tcp-timeout` ... | [`Handle::set_timeouts`] |
//! | `sysctl net.ipv4.vs.*` | `conntrack`, `expire_nodest_conn`, ... set at start | [`Handle::set_sysctl`] |
//! | `-Lnc` | conntrack-like listing | [`Handle::connections`] |
//! | `--start-daemon` | (keepalived) | [`Handle::start_daemon`] |
//!
//! # Threads and async
//!
//! A [`Handle`] is blocking and `Send`: use it from one thread at a time
//! (one per thread, or behind a lock). From async code, give it a thread
//! of its own and talk to it over a channel (`examples/tokio.rs`, tested
//! with a 10,000-service read that leaves the runtime free); or drive the
//! sans-IO core ([`request`]) over a socket of your own.
//!
//! # Features
//!
//! `serde`: `Serialize`/`Deserialize` for the model and for
//! [`reconcile::DesiredState`] and [`reconcile::Policy`], so desired state
//! loads from JSON, YAML or TOML. Off Linux everything but [`Handle`]
//! builds (the models, planner and codec are plain Rust).
//!
//! # Capabilities
//!
//! Every IPVS command needs `CAP_NET_ADMIN` in the initial user namespace,
//! and in the caller's own network namespace that is all a handle needs
//! (a container given only `NET_ADMIN` can read and write the whole
//! table). Opening a handle in *another* namespace also needs
//! `CAP_SYS_ADMIN` (`setns`, on a short-lived helper thread).
//!
//! Threads: a handle starts none in its own namespace unless asked
//! ([`Handle::set_read_threads`]). Logging: `lvs` never runs `modprobe` and
//! writes nothing itself; it emits [`tracing`](https://docs.rs/tracing)
//! spans and events (debug and trace level, and a warning from the
//! reconciler when a pass fails), which reach a log only if the
//! application installs a subscriber.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Off Linux there is no handle, and the crate-private pieces only it uses
// (request flights, error mapping, daemon attributes) go unused.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]
#![deny(missing_docs)]

// Layer 1, wire codec.
pub mod wire;
// Layer 2, typed model (with the one public error type).
mod model;
pub(crate) use model::error;
// Layer 3, sans-IO core.
mod proto;
// Layer 4, handle and OS glue (the handle itself is Linux only; the
// connection and sync-daemon types are not).
#[cfg(target_os = "linux")]
mod batch;
mod conn;
mod daemon;
#[cfg(target_os = "linux")]
mod handle;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
mod sysctl;

#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub mod kmod;
// ipvsadm's rule text, on the model.
pub mod rules;
// Layer 5, on the handle's and the model's public API.
pub mod reconcile;

#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub use batch::PendingBatch;
pub use conn::{ConnOrigin, ConnState, Connection, PeData};
pub use daemon::{DaemonRole, SyncDaemon};
pub use error::{Error, ErrorKind, Operation, Result};
#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub use handle::{DEFAULT_TIMEOUT, Handle};
pub use model::{
    AddressFamily, BatchResult, ConnCounts, Destination, DestinationEntry, Forwarding, GueChecksum,
    HashFlags, Info, IpvsadmAddr, IpvsadmKey, Netmask, OnError, Op, Persistence, Protocol, Rates,
    SchedName, Scheduler, Service, ServiceEntry, ServiceKey, Stats, TableEntry, Thresholds,
    Timeouts, Tunnel,
};
pub use proto::request;
#[cfg(target_os = "linux")]
#[cfg_attr(docsrs, doc(cfg(target_os = "linux")))]
pub use sysctl::Sysctl;
pub mod sched;

/// The README's Rust examples, compiled (and, where they need no kernel,
/// run) as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
