//! Kernel tests of the handle and the IPVS surface, in one guest boot:
//!
//! * this file: what a handle needs, what its errors say and the sysctls it
//!   sets: a process with `CAP_NET_ADMIN` alone (as a container given
//!   `NET_ADMIN` runs) can open a handle in its own namespace, write and
//!   read the whole table; entering another namespace needs `CAP_SYS_ADMIN`
//!   and the error says so; a missing persistence engine is named as such,
//!   not as a missing scheduler; a zero timeout is refused as an invalid
//!   argument; IPVS sysctls are read and written per namespace and bad
//!   values refused;
//! * [`hardening`] (`kernel_handle/hardening.rs`): reads under churn and a
//!   batch whose replies the kernel drops;
//! * [`surface`] (`kernel_handle/surface.rs`): the rest of the IPVS surface
//!   with real packets (stats, sync daemon, connections, namespaces,
//!   tunnels, persistence, the exporter example).
//!
//! Runs against a real IPVS kernel (the cargo runner boots a Debian kernel
//! under QEMU when the host has none); without one it fails.

#[path = "kernel_handle/hardening.rs"]
mod hardening;
mod support;
#[path = "kernel_handle/surface.rs"]
mod surface;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use lvs::*;
use rustix::thread::{CapabilitySet, CapabilitySets, capabilities, set_capabilities};
use support::*;

/// IPVS on 6.1 resumes a multi-part service dump by a position that counts
/// the services of every namespace, so one test's changes are another's
/// churn. The hardening tests count inconsistent reads and time quiet ones:
/// each has the kernel to itself (write lock); the other tests, which
/// tolerate each other as they always have, share it (read lock).
static KERNEL: RwLock<()> = RwLock::new(());

/// Share the kernel with the other tests; fail (never skip) without IPVS.
fn kernel() -> RwLockReadGuard<'static, ()> {
    require_ipvs_kernel();
    KERNEL.read().unwrap_or_else(|e| e.into_inner())
}

/// Have the kernel to this test alone; fail (never skip) without IPVS.
fn kernel_alone() -> RwLockWriteGuard<'static, ()> {
    require_ipvs_kernel();
    KERNEL.write().unwrap_or_else(|e| e.into_inner())
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Keep only `CAP_NET_ADMIN` on the calling thread (capabilities are per
/// thread; threads it starts inherit them).
fn keep_only_net_admin() {
    let only = CapabilitySet::NET_ADMIN;
    set_capabilities(
        None,
        CapabilitySets {
            effective: only,
            permitted: only,
            inheritable: CapabilitySet::empty(),
        },
    )
    .expect("capset");
    let now = capabilities(None).expect("capget");
    assert_eq!(now.effective, only, "capabilities not dropped");
}

#[test]
fn net_admin_alone_reads_and_writes_its_own_namespace() {
    let _kernel = kernel();
    let ns = Netns::new("caps");
    let other = Netns::new("capsother");
    let (own_path, other_path) = (ns.path(), other.path());
    ns.run(move || {
        keep_only_net_admin();

        // The handle's own namespace by path: no setns is needed (before,
        // this entered the namespace on a helper thread and failed).
        let mut h = Handle::open_netns_path(&own_path)
            .unwrap_or_else(|e| panic!("open in the own namespace with NET_ADMIN alone: {e}"));
        let mut ops = Vec::new();
        for i in 0..600u16 {
            let key = ServiceKey::tcp(SocketAddr::new([10, 9, (i / 250) as u8, 1].into(), 80 + i));
            ops.push(Op::AddService(Service::new(key)));
            ops.push(Op::AddDestination(
                key,
                Destination::new(sa("10.8.0.1:8080")),
            ));
        }
        let r = h.apply(&ops);
        assert!(r.is_ok(), "batch: {:?}", r.errors().next());
        // The whole-table read opens its second (bulk) socket and, with
        // read threads, its reader sockets: all without CAP_SYS_ADMIN.
        assert_eq!(h.services().expect("services").len(), 600);
        let t = h.table().expect("table");
        assert_eq!(t.len(), 600);
        assert!(t.iter().all(|e| e.destinations.len() == 1));
        h.set_read_threads(NonZeroUsize::new(2).expect("nonzero"));
        assert_eq!(h.table().expect("table, 2 threads").len(), 600);
        let mut h2 = Handle::open().expect("Handle::open with NET_ADMIN alone");
        assert_eq!(h2.table().expect("table").len(), 600);
        // The rest of the surface: info, timeouts, counters, connections,
        // sysctls, a reconcile pass, flush.
        assert!(h.info().expect("info").conn_table_size > 0);
        let t = h.timeouts().expect("timeouts");
        h.set_timeouts(&t).expect("set timeouts");
        h.zero(None).expect("zero");
        h.connections().expect("connections");
        h.set_sysctl(Sysctl::ExpireNodestConn, 1)
            .expect("set a sysctl");
        assert_eq!(h.sysctl(Sysctl::ExpireNodestConn).expect("sysctl"), 1);
        let key = ServiceKey::tcp(sa("10.9.9.9:80"));
        let desired = lvs::reconcile::DesiredState::new()
            .with_service(Service::new(key), [Destination::new(sa("10.8.0.2:8080"))]);
        let policy = lvs::reconcile::Policy::new(lvs::reconcile::Scope::services([key]));
        let report = lvs::reconcile::Reconciler::new(policy)
            .reconcile(&mut h, &desired)
            .expect("reconcile");
        assert!(report.is_ok() && report.writes == 2, "{report}");
        h.flush().expect("flush");
        assert!(h.services().expect("services").is_empty());

        // Another namespace needs CAP_SYS_ADMIN, and the error says so.
        let e = Handle::open_netns_path(&other_path).expect_err("setns without CAP_SYS_ADMIN");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("CAP_SYS_ADMIN"), "{e}");

        // A zero timeout is an invalid argument, not a failed open.
        let e = h
            .set_timeout(Some(Duration::ZERO))
            .expect_err("zero timeout");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains("zero"), "{e}");
        h.set_timeout(None).expect("no timeout");
        h.set_timeout(Some(Duration::from_millis(1))).expect("1 ms");
    });
}

#[test]
fn a_missing_persistence_engine_is_not_a_missing_scheduler() {
    let _kernel = kernel();
    let ns = Netns::new("pe");
    let mut h = ns.handle();
    let svc =
        |port: u16| Service::new(ServiceKey::udp(SocketAddr::new([10, 7, 0, 1].into(), port)));

    // rr exists (its module loads on demand); the engine does not.
    let bad_pe = svc(5060)
        .with_persistence(60)
        .with_persistence_engine("nosuchpe");
    let e = h.add_service(&bad_pe).expect_err("unknown engine");
    assert_eq!(e.kind(), ErrorKind::PersistenceEngineNotFound, "{e}");
    assert!(e.to_string().contains("ip_vs_pe_nosuchpe"), "{e}");
    assert!(!e.to_string().contains("scheduler"), "{e}");
    // The same through a batch.
    let r = h.apply(&[Op::AddService(bad_pe)]);
    let e = r.results[0]
        .as_ref()
        .expect_err("unknown engine in a batch");
    assert_eq!(e.kind(), ErrorKind::PersistenceEngineNotFound, "{e}");

    // The engine exists (sip, loaded by a first service) and the scheduler
    // does not: a missing scheduler.
    h.add_service(
        &svc(5061)
            .with_persistence(60)
            .with_persistence_engine("sip"),
    )
    .expect("a sip service");
    let bad_sched = svc(5062)
        .with_scheduler(Scheduler::Custom(
            SchedName::new("nosuchsched").expect("name"),
        ))
        .with_persistence(60)
        .with_persistence_engine("sip");
    let e = h.add_service(&bad_sched).expect_err("unknown scheduler");
    assert_eq!(e.kind(), ErrorKind::SchedulerNotFound, "{e}");
    assert!(e.to_string().contains("ip_vs_nosuchsched"), "{e}");
    assert_eq!(h.services().expect("services").len(), 1);
}

#[test]
fn sysctls_are_read_and_written_per_namespace() {
    let _kernel = kernel();
    let (a, b) = (Netns::new("sysa"), Netns::new("sysb"));
    let (ha, hb) = (a.handle(), b.handle());
    // Every IPVS sysctl of `ns` as /proc shows it to a process in `ns`
    // (one process for all: a spawn costs seconds in the emulated guest).
    let proc = |ns: &Netns| -> HashMap<String, String> {
        ns.sh("grep -H . /proc/sys/net/ipv4/vs/*")
            .lines()
            .filter_map(|l| {
                let (path, value) = l.split_once(':')?;
                let name = path.rsplit('/').next()?;
                Some((name.to_owned(), value.trim().to_owned()))
            })
            .collect()
    };

    assert_eq!(ha.sysctl(Sysctl::ExpireNodestConn).expect("read"), 0);
    ha.set_sysctl(Sysctl::ExpireNodestConn, 1).expect("write");
    ha.set_sysctl(Sysctl::ConnReuseMode, 0).expect("write");
    assert_eq!(ha.sysctl(Sysctl::ExpireNodestConn).expect("read"), 1);
    let in_a = proc(&a);
    assert_eq!(in_a["expire_nodest_conn"], "1");
    assert_eq!(in_a["conn_reuse_mode"], "0");
    // The other namespace keeps its own values.
    let in_b = proc(&b);
    assert_eq!(hb.sysctl(Sysctl::ExpireNodestConn).expect("read"), 0);
    assert_eq!(in_b["expire_nodest_conn"], "0");
    assert_eq!(hb.sysctl(Sysctl::ConnReuseMode).expect("read"), 1);

    // Every sysctl the type names reads as an integer or is missing from
    // this kernel (Unsupported), and agrees with /proc.
    let mut read = 0;
    for s in Sysctl::ALL {
        match hb.sysctl(s) {
            Ok(v) => {
                assert_eq!(in_b.get(s.name()), Some(&v.to_string()), "{s}");
                read += 1;
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unsupported, "{s}: {e}"),
        }
    }
    assert!(read >= 20, "only {read} sysctls readable");

    // Out of range: refused (the kernel would store the switch's 2 and
    // the sync_ports 3 is not a power of two), the value stays.
    for (s, bad) in [
        (Sysctl::DropEntry, 7),
        (Sysctl::Conntrack, 2),
        (Sysctl::SyncPorts, 3),
        (Sysctl::Amemthresh, -1),
    ] {
        let before = ha.sysctl(s).expect("read");
        let e = ha.set_sysctl(s, bad).expect_err("out of range");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(&s.to_string()), "{e}");
        assert_eq!(ha.sysctl(s).expect("read"), before, "{s}");
    }
    // The ends of each range are written and read back.
    for (s, good) in [
        (Sysctl::ConnReuseMode, 3),
        (Sysctl::SyncPorts, 4),
        (Sysctl::DropEntry, 3),
    ] {
        ha.set_sysctl(s, good).expect("in range");
        assert_eq!(ha.sysctl(s).expect("read"), good, "{s}");
    }
}

#[path = "../examples/tokio.rs"]
#[allow(dead_code)]
mod tokio_example;

/// The tokio example: a whole-table read of 10,000 services through the
/// IPVS thread leaves a single-threaded runtime free (another task keeps
/// ticking), where the same read called inside a task stalls it for the
/// whole read.
#[test]
fn a_table_read_on_the_ipvs_thread_does_not_stall_the_runtime() {
    let _kernel = kernel();
    let ns = Netns::new("tokio");
    let mut h = ns.handle();
    let ops: Vec<Op> = (0..10_000u32)
        .map(|i| {
            let ip = [10, 20, (i / 250) as u8, (i % 250) as u8 + 1];
            Op::AddService(Service::new(ServiceKey::tcp(SocketAddr::new(
                ip.into(),
                80,
            ))))
        })
        .collect();
    assert!(h.apply(&ops).is_ok());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");

    let ipvs = tokio_example::Ipvs::spawn(ns.handle());
    let (n, took, longest) = rt
        .block_on(tokio_example::read_while_ticking(&ipvs))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("on the IPVS thread: read {n} services in {took:?}, longest tick gap {longest:?}");
    assert_eq!(n, 10_000);
    assert!(
        longest < took / 2,
        "the runtime stalled {longest:?} of a {took:?} read"
    );

    // The same read inside a task blocks the runtime for all of it.
    let mut blocking = ns.handle();
    let (took, longest) = rt.block_on(async move {
        let ticker = tokio::spawn(async {
            let mut longest = Duration::ZERO;
            let mut last = std::time::Instant::now();
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                longest = longest.max(last.elapsed());
                last = std::time::Instant::now();
            }
            longest
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let started = std::time::Instant::now();
        let t = blocking.table().expect("table");
        assert_eq!(t.len(), 10_000);
        let took = started.elapsed();
        (took, ticker.await.expect("ticker"))
    });
    eprintln!("inside a task: read in {took:?}, longest tick gap {longest:?}");
    assert!(longest >= took * 8 / 10, "{longest:?} vs {took:?}");
}

/// The event-loop mode: a 10,000-operation batch submitted on a socket
/// made non-blocking, driven by `poll(2)` on the handle's fd and
/// `Handle::poll_batch`, never waiting inside the library; per-operation
/// results checked (one duplicate fails, the rest succeed), then the table
/// read back on the same (still non-blocking) handle.
#[test]
fn a_submitted_batch_completes_from_an_event_loop() {
    use std::os::fd::AsFd;
    use std::task::Poll;
    let _kernel = kernel();
    let ns = Netns::new("evloop");
    let mut h = ns.handle();
    let fd = h.as_fd().try_clone_to_owned().expect("dup");
    let flags = rustix::fs::fcntl_getfl(&fd).expect("getfl");
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK).expect("setfl");

    let key = |i: u32| {
        ServiceKey::tcp(SocketAddr::new(
            [10, 21, (i / 250) as u8, (i % 250) as u8 + 1].into(),
            80,
        ))
    };
    let mut ops: Vec<Op> = (0..9_999u32)
        .map(|i| Op::AddService(Service::new(key(i)).with_scheduler(Scheduler::Rr)))
        .collect();
    ops.insert(5_000, Op::AddService(Service::new(key(17)))); // a duplicate: ServiceExists
    let mut p = h.submit(ops, OnError::Continue);
    assert_eq!(p.len(), 10_000);
    let (mut polls, mut pending, mut waits) = (0, 0, 0);
    let mut longest = Duration::ZERO;
    let result = loop {
        let started = std::time::Instant::now();
        let r = h.poll_batch(&mut p);
        longest = longest.max(started.elapsed());
        polls += 1;
        match r {
            Poll::Ready(r) => break r,
            Poll::Pending => pending += 1,
        }
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        let ten_s = rustix::event::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        let n = rustix::event::poll(&mut fds, Some(&ten_s)).expect("poll");
        assert_eq!(n, 1, "the fd never became readable with the batch pending");
        waits += 1;
    };
    eprintln!(
        "event loop: {polls} poll_batch calls ({pending} pending), {waits} waits, {} sends, longest call {longest:?}",
        result.sends
    );
    assert_eq!(result.results.len(), 10_000);
    for (i, r) in result.results.iter().enumerate() {
        if i == 5_000 {
            assert_eq!(
                r.as_ref().map_err(|e| e.kind()),
                Err(ErrorKind::ServiceExists)
            );
        } else {
            assert!(r.is_ok(), "op {i}: {r:?}");
        }
    }
    assert_eq!(result.failures(), 1);
    // 10,000 operations in flights of at most 1,024: at least 10 flights,
    // each a Pending return but the last.
    assert!(
        pending >= 9 && result.sends >= 10,
        "{pending} pending, {} sends",
        result.sends
    );

    // The same handle, still O_NONBLOCK, answers ordinary calls (a get
    // goes over the submitting socket; the list over the bulk one).
    let one = h.service(&key(5)).expect("get on a non-blocking socket");
    assert_eq!(one.service.scheduler, Scheduler::Rr);
    let table = h.services().expect("services on a non-blocking socket");
    assert_eq!(table.len(), 9_999);
    assert!(table.iter().all(|e| e.service.scheduler == Scheduler::Rr));

    // Stop on error: one operation per flight, the rest not attempted.
    let ops = vec![
        Op::RemoveService(key(0)),
        Op::RemoveService(key(0)), // gone: ServiceNotFound
        Op::RemoveService(key(1)),
    ];
    let mut p = h.submit(ops, OnError::Stop);
    let r = loop {
        if let Poll::Ready(r) = h.poll_batch(&mut p) {
            break r;
        }
    };
    let kinds: Vec<_> = r
        .results
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            Some(ErrorKind::ServiceNotFound),
            Some(ErrorKind::NotAttempted)
        ]
    );
    assert_eq!((r.failures(), r.not_attempted()), (1, 1));
    assert_eq!(h.services().expect("services").len(), 9_998);
    h.flush().expect("flush");
}
