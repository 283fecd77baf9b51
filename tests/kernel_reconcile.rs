//! Reconciler against a real IPVS kernel, with real TCP traffic: every test
//! builds its own namespaces (client, director holding the IPVS service with
//! NAT forwarding, backends routing back through the director). The cargo
//! runner boots a Debian kernel under QEMU when the host has no IPVS; a test
//! that cannot reach IPVS fails.
//!
//! Topology of [`Lab`]:
//! ```text
//!  client 10.50.0.2 ── 10.50.0.1 director (VIP 10.50.0.1:80) 10.60.0.1 ── backends 10.60.0.11..
//! ```

mod support;

use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use lvs::reconcile::*;
use lvs::*;
use support::*;

const VIP: &str = "10.50.0.1:80";
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn vip_key() -> ServiceKey {
    ServiceKey::tcp(sa(VIP))
}

/// Client, director and backend namespaces wired for IPVS NAT.
struct Lab {
    director: Netns,
    client: Netns,
    backends: Netns,
}

impl Lab {
    /// A lab whose backend namespace holds `n` addresses (10.60.0.11, .12, …).
    fn new(tag: &str, n: u8) -> Lab {
        require_ipvs_kernel();
        let director = Netns::new(&format!("{tag}d"));
        let client = Netns::new(&format!("{tag}c"));
        let backends = Netns::new(&format!("{tag}b"));
        veth("cl", &client, "10.50.0.2/24", &director, "10.50.0.1/24");
        veth("be", &backends, "10.60.0.11/24", &director, "10.60.0.1/24");
        for i in 2..=n {
            backends.sh(&format!("ip addr add 10.60.0.{}/24 dev bea", 10 + i));
        }
        backends.sh("ip route add default via 10.60.0.1");
        director.sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
        Lab {
            director,
            client,
            backends,
        }
    }

    /// Backend `i` (1-based): 10.60.0.(10+i):8080.
    fn backend(i: u8) -> SocketAddr {
        sa(&format!("10.60.0.{}:8080", 10 + i))
    }

    /// A handle on the director and a reconciler for it.
    fn reconciler(&self, policy: Policy) -> (Handle, Reconciler) {
        (self.director.handle(), Reconciler::new(policy))
    }

    /// `(weight, active, inactive)` of `dest` in the kernel, if present.
    fn dest_state(&self, dest: SocketAddr) -> Option<(u32, u32, u32)> {
        let mut h = self.director.handle();
        h.destinations(&vip_key())
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .find(|d| d.destination.addr == dest)
            .map(|d| (d.destination.weight, d.conns.active, d.conns.inactive))
    }

    /// Open a connection to the VIP from the client namespace.
    fn connect(&self) -> io::Result<TcpClient> {
        self.client.run(|| TcpClient::open(sa(VIP), IO_TIMEOUT))
    }
}

fn desired(backends: &[SocketAddr]) -> DesiredState {
    DesiredState::new().with_service(
        Service::new(vip_key()).with_scheduler(Scheduler::Rr),
        backends.iter().map(|b| Destination::new(*b)),
    )
}

fn ok(r: Result<Report>) -> Report {
    let r = r.unwrap_or_else(|e| panic!("reconcile failed: {e}"));
    assert!(r.is_ok(), "changes failed:\n{r}");
    r
}

fn lines(r: &Report) -> Vec<String> {
    r.plan.changes().iter().map(|c| c.to_string()).collect()
}

/// One request on a fresh connection, closed afterwards (client closes first).
fn one_shot(to: SocketAddr) -> io::Result<SocketAddr> {
    TcpClient::open(to, IO_TIMEOUT)?.ask()
}

// ----- tests -------------------------------------------------------------------

/// A drained backend keeps serving its long-lived connections (no reset),
/// gets no new ones, and goes once they have closed and IPVS has expired
/// them (TIME_WAIT counts as inactive: about 2 minutes after the close).
/// Also: a scheduler change updates the service in place (connections
/// survive), and a rule made with ipvsadm outside the scope survives.
#[test]
fn draining_keeps_long_lived_connections_and_removes_the_backend_once_closed() {
    let lab = Lab::new("dr", 2);
    let (a, b) = (Lab::backend(1), Lab::backend(2));
    let servers = [
        TcpBackend::start(&lab.backends, a, Answer::LocalAddr),
        TcpBackend::start(&lab.backends, b, Answer::LocalAddr),
    ];
    lab.director.ipvsadm("-A -t 10.50.0.1:443 -s wlc");
    lab.director
        .ipvsadm("-a -t 10.50.0.1:443 -r 10.60.0.12:8080 -m -w 0");
    let foreign = lab.director.ipvsadm("-Sn");
    let (mut ipvs, mut r) = lab.reconciler(Policy::new(Scope::services([vip_key()])));
    ok(r.reconcile(&mut ipvs, &desired(&[a, b])));

    // Four long-lived connections; rr puts two on each backend.
    let mut conns: Vec<(TcpClient, SocketAddr)> = (0..4)
        .map(|_| {
            let mut c = lab.connect().expect("connect");
            let to = c.ask().expect("first request");
            (c, to)
        })
        .collect();
    let on_a = conns.iter().filter(|(_, to)| *to == a).count();
    assert_eq!(on_a, 2, "rr spreads 4 connections over 2 backends");

    // In place: rr -> wlc keeps the service and its connections.
    let wlc = DesiredState::new().with_service(
        Service::new(vip_key()).with_scheduler(Scheduler::Wlc),
        [Destination::new(a), Destination::new(b)],
    );
    let rep = ok(r.reconcile(&mut ipvs, &wlc));
    assert_eq!(
        lines(&rep),
        ["~ service TCP 10.50.0.1:80 scheduler rr -> wlc"]
    );
    assert_eq!(lab.dest_state(a), Some((1, 2, 0)));
    for (c, to) in &mut conns {
        assert_eq!(c.ask().expect("after the update"), *to);
    }

    // `a` leaves: weight 0, nothing removed.
    let only_b = DesiredState::new().with_service(
        Service::new(vip_key()).with_scheduler(Scheduler::Wlc),
        [Destination::new(b)],
    );
    let rep = ok(r.reconcile(&mut ipvs, &only_b));
    assert_eq!(
        lines(&rep),
        ["~ dest TCP 10.50.0.1:80 -> 10.60.0.11:8080 weight 1 -> 0 (drain)"]
    );
    assert_eq!(lab.dest_state(a), Some((0, 2, 0)));
    // Its connections keep working; new ones go to `b`.
    for _ in 0..5 {
        for (c, to) in &mut conns {
            assert_eq!(
                c.ask().expect("long-lived connection during the drain"),
                *to
            );
        }
        let fresh = lab
            .client
            .run(move || one_shot(sa(VIP)))
            .expect("new request");
        assert_eq!(fresh, b, "a new connection went to the draining backend");
        let rep = ok(r.reconcile(&mut ipvs, &only_b));
        assert!(rep.plan.is_empty(), "{}", rep.plan);
        assert_eq!(rep.plan.draining().len(), 1);
        sleep(Duration::from_millis(200));
    }

    // Close a's connections (a clean FIN close from the client).
    let (old, _keep): (Vec<_>, Vec<_>) = conns.into_iter().partition(|(_, to)| *to == a);
    drop(old);
    let closed = Instant::now();
    let mut saw_time_wait = false;
    let mut removed = None;
    while closed.elapsed() < Duration::from_secs(240) {
        let rep = ok(r.reconcile(&mut ipvs, &only_b));
        if let [Change::RemoveDestination { dest, reason, .. }] = rep.plan.changes() {
            assert_eq!(dest.addr, a);
            removed = Some(*reason);
            break;
        }
        assert!(rep.plan.is_empty(), "{}", rep.plan);
        if let Some((0, 0, inactive)) = lab.dest_state(a) {
            saw_time_wait |= inactive > 0;
        }
        sleep(Duration::from_secs(2));
    }
    assert_eq!(removed, Some(RemoveReason::Drained), "not drained in time");
    assert!(
        saw_time_wait,
        "closed connections were never seen as inactive"
    );
    assert_eq!(lab.dest_state(a), None);
    assert_eq!(lab.dest_state(b).map(|s| s.0), Some(1));
    let theirs = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains(":443"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(theirs(&lab.director.ipvsadm("-Sn")), theirs(&foreign));
    for s in servers {
        s.stop();
    }
}

/// Replace every backend of a service one by one while a client sends
/// requests continuously: no request fails. Each replaced backend's server
/// stops only once the reconciler has removed it. Requests are short, so
/// the drain timeout (3 s) ends each drain: by then the old backend has had
/// no new connection for 3 s and only expiring TIME_WAIT entries are left.
#[test]
fn rolling_replacement_of_every_backend_fails_no_request() {
    let lab = Lab::new("rr", 6);
    let old: Vec<SocketAddr> = (1..=3).map(Lab::backend).collect();
    let new: Vec<SocketAddr> = (4..=6).map(Lab::backend).collect();
    let mut servers: Vec<Option<TcpBackend>> = old
        .iter()
        .map(|a| Some(TcpBackend::start(&lab.backends, *a, Answer::LocalAddr)))
        .collect();
    let policy = Policy::new(Scope::services([vip_key()]))
        .with_drain(DrainPolicy::default().with_timeout(Some(Duration::from_secs(3))));
    let (mut ipvs, mut r) = lab.reconciler(policy);
    let mut current = old.clone();
    ok(r.reconcile(&mut ipvs, &desired(&current)));

    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<(Vec<SocketAddr>, Vec<String>)>> = Arc::default();
    let client = {
        let (stop, log) = (stop.clone(), log.clone());
        lab.client.spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let res = one_shot(sa(VIP));
                let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
                match res {
                    Ok(by) => l.0.push(by),
                    Err(e) => {
                        let n = l.0.len() + l.1.len();
                        l.1.push(format!("request {n}: {e}"));
                    }
                }
                drop(l);
                sleep(Duration::from_millis(10));
            }
        })
    };
    let served = || log.lock().unwrap_or_else(|p| p.into_inner()).0.len();
    wait_until("first requests", Duration::from_secs(30), || served() >= 10);

    let mut new_servers = Vec::new();
    for i in 0..3 {
        new_servers.push(TcpBackend::start(&lab.backends, new[i], Answer::LocalAddr));
        current.retain(|a| *a != old[i]);
        current.push(new[i]);
        let rep = ok(r.reconcile(&mut ipvs, &desired(&current)));
        assert_eq!(rep.plan.len(), 2, "{}", rep.plan);
        let t = Instant::now();
        while lab.dest_state(old[i]).is_some() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{} never left",
                old[i]
            );
            sleep(Duration::from_millis(500));
            ok(r.reconcile(&mut ipvs, &desired(&current)));
        }
        let before = served();
        wait_until(
            "requests after the removal",
            Duration::from_secs(30),
            || served() >= before + 5,
        );
        if let Some(s) = servers[i].take() {
            s.stop();
        }
    }
    let before = served();
    wait_until("requests at the end", Duration::from_secs(30), || {
        served() >= before + 20
    });
    stop.store(true, Ordering::SeqCst);
    client.join().expect("client thread");

    let l = log.lock().unwrap_or_else(|p| p.into_inner());
    assert!(l.1.is_empty(), "{} failed requests: {:?}", l.1.len(), l.1);
    let tail = &l.0[l.0.len() - 20..];
    assert!(tail.iter().all(|b| new.contains(b)), "{tail:?}");
    assert!(l.0.iter().any(|b| old.contains(b)));
    eprintln!("rolling replacement: {} requests, 0 failed", l.0.len());
    let mut h = lab.director.handle();
    let mut left: Vec<SocketAddr> = h
        .destinations(&vip_key())
        .expect("dests")
        .iter()
        .map(|d| d.destination.addr)
        .collect();
    left.sort();
    assert_eq!(left, new);
    for s in new_servers {
        s.stop();
    }
}

const CHILD_ENV: &str = "LVS_RECONCILE_CHILD";

/// Child mode of `killed_reconciler_drain_completes_after_restart`: a
/// reconciler process that keeps `dests` behind the VIP until killed.
/// `spec` = "netns path|dest,dest|drain timeout seconds".
fn reconciler_child(spec: &str) -> ! {
    let parts: Vec<&str> = spec.split('|').collect();
    let [path, dests, timeout] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}")
    };
    let dests: Vec<SocketAddr> = dests.split(',').map(sa).collect();
    let timeout = Duration::from_secs(timeout.parse().expect("seconds"));
    let mut ipvs = Handle::open_netns_path(path).unwrap_or_else(|e| panic!("{e}"));
    let policy = Policy::new(Scope::services([vip_key()]))
        .with_drain(DrainPolicy::default().with_timeout(Some(timeout)));
    let mut r = Reconciler::new(policy);
    let me = std::process::id();
    loop {
        match r.reconcile(&mut ipvs, &desired(&dests)) {
            Ok(rep) if !rep.plan.is_empty() => eprintln!("child {me}:\n{rep}"),
            Ok(_) => {}
            Err(e) => eprintln!("child {me}: {e}"),
        }
        sleep(Duration::from_millis(200));
    }
}

fn spawn_child(lab: &Lab, dests: &[SocketAddr], timeout_secs: u64) -> Child {
    let spec = format!(
        "{}|{}|{timeout_secs}",
        lab.director.path(),
        dests
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "killed_reconciler_drain_completes_after_restart",
            "--nocapture",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the reconciler child")
}

/// Kill the reconciling process (SIGKILL) in the middle of a drain and
/// start another: it finds the drain in the kernel (weight 0, not desired)
/// and completes it. The timeout restarts at first sight.
#[test]
fn killed_reconciler_drain_completes_after_restart() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        reconciler_child(&spec);
    }
    let lab = Lab::new("kr", 2);
    let (a, b) = (Lab::backend(1), Lab::backend(2));
    let servers = [
        TcpBackend::start(&lab.backends, a, Answer::LocalAddr),
        TcpBackend::start(&lab.backends, b, Answer::LocalAddr),
    ];
    lab.director.ipvsadm("-A -t 10.50.0.1:443 -s rr");
    let (mut ipvs, mut r) = lab.reconciler(Policy::new(Scope::services([vip_key()])));
    ok(r.reconcile(&mut ipvs, &desired(&[a, b])));
    // A long-lived connection on `a` keeps the drain from finishing early.
    let mut on_a = None;
    for _ in 0..4 {
        let mut c = lab.connect().expect("connect");
        if c.ask().expect("request") == a {
            on_a = Some(c);
            break;
        }
    }
    let mut on_a = on_a.expect("a connection on a");

    // First reconciler: starts the drain (long timeout), then is killed.
    let mut first = spawn_child(&lab, &[b], 600);
    wait_until("the drain to start", Duration::from_secs(60), || {
        lab.dest_state(a).map(|s| s.0) == Some(0)
    });
    first.kill().expect("SIGKILL");
    let status = first.wait().expect("wait");
    assert!(!status.success(), "{status}");
    sleep(Duration::from_secs(1));
    assert_eq!(lab.dest_state(a), Some((0, 1, 0)), "left mid-drain");
    assert_eq!(on_a.ask().expect("connection during the drain"), a);

    // Second reconciler: same desired state, 4 s drain timeout.
    let started = Instant::now();
    let mut second = spawn_child(&lab, &[b], 4);
    sleep(Duration::from_secs(1));
    assert_eq!(lab.dest_state(a).map(|s| s.0), Some(0), "removed too early");
    assert_eq!(on_a.ask().expect("connection during the drain"), a);
    wait_until("the drain to complete", Duration::from_secs(60), || {
        lab.dest_state(a).is_none()
    });
    let took = started.elapsed();
    second.kill().expect("SIGKILL");
    let _ = second.wait();
    assert!(
        took >= Duration::from_secs(4),
        "timeout not honoured: {took:?}"
    );
    assert_eq!(lab.dest_state(b).map(|s| s.0), Some(1));
    assert!(
        lab.director
            .ipvsadm("-Sn")
            .contains("-A -t 10.50.0.1:443 -s rr")
    );
    for s in servers {
        s.stop();
    }
}

/// Everything `ipvsadm` made outside the scope survives every reconcile:
/// creating, changing and removing everything in scope.
#[test]
fn ipvsadm_rules_outside_the_scope_survive_every_reconcile() {
    require_ipvs_kernel();
    let ns = Netns::new("rfo");
    for cmd in [
        "-A -t 192.0.2.1:443 -s wlc",
        "-a -t 192.0.2.1:443 -r 10.9.9.9:443 -m -w 0",
        "-A -t 10.50.0.1:22 -s rr -p 60",
        "-a -t 10.50.0.1:22 -r 10.9.9.10:22 -g -w 2",
        "-A -u 10.50.0.1:53 -s sh -b sh-fallback",
        "-A -f 77 -s rr",
        "-A -f 1000 -6 -s rr",
    ] {
        ns.ipvsadm(cmd);
    }
    let saved = || {
        let mut v: Vec<String> = ns.ipvsadm("-Sn").lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    let before = saved();
    // Ours: two TCP services on the VIP, IPv4 fwmark 1000, and 10.51/16.
    let scope = Scope::services([
        vip_key(),
        ServiceKey::tcp(sa("10.50.0.1:8080")),
        ServiceKey::fwmark(AddressFamily::Inet, 1000),
    ])
    .or(Scope::prefixes(["10.51.0.0/16".parse().expect("net")]));
    let (mut ipvs, mut r) = (ns.handle(), Reconciler::new(Policy::new(scope)));
    let d1 = sa("10.60.0.11:8080");
    let states = [
        DesiredState::new()
            .with_service(Service::new(vip_key()), [Destination::new(d1)])
            .with_service(
                Service::new(ServiceKey::fwmark(AddressFamily::Inet, 1000)),
                [Destination::new(sa("10.60.0.12:0"))],
            )
            .with_service(
                Service::new(ServiceKey::udp(sa("10.51.0.1:53"))),
                [Destination::new(sa("10.60.0.13:53"))],
            ),
        DesiredState::new().with_service(
            Service::new(vip_key()).with_persistence(30),
            [Destination::new(d1).with_weight(5)],
        ),
        DesiredState::new().with_service(
            Service::new(ServiceKey::tcp(sa("10.50.0.1:8080"))),
            [Destination::new(d1)],
        ),
        DesiredState::new(),
    ];
    for (i, d) in states.iter().enumerate() {
        for _ in 0..3 {
            let rep = ok(r.reconcile(&mut ipvs, d));
            assert_eq!(rep.plan.unmanaged(), 5, "state {i}: {}", rep.plan);
        }
        let now = saved();
        for l in &before {
            assert!(
                now.contains(l),
                "state {i}: lost {l:?}; table:\n{}",
                now.join("\n")
            );
        }
    }
    assert_eq!(saved(), before);
}

/// On the real kernel (which reports HASHED on every service), an
/// unchanged table plans nothing: one whole-table read, zero writes, for
/// every kind of service and destination.
#[test]
fn unchanged_kernel_table_costs_one_read_and_no_write() {
    require_ipvs_kernel();
    let ns = Netns::new("rzw");
    let hf = |fallback, port| HashFlags { fallback, port };
    // ipvsadm gives direct-routing and tunnel destinations of address
    // services the service's port: use that port, so `ipvsadm -R` can
    // replay the plan below.
    let v4 = |i: u8| Destination::new(sa(&format!("10.70.0.{i}:8080")));
    let v4p = |i: u8, port: u16| Destination::new(sa(&format!("10.70.0.{i}:{port}")));
    let v6 = |i: u8| Destination::new(sa(&format!("[2001:db8:70::{i}]:8080")));
    let v6p = |i: u8, port: u16| Destination::new(sa(&format!("[2001:db8:70::{i}]:{port}")));
    let desired = DesiredState::new()
        .with_service(
            Service::new(ServiceKey::tcp(sa("10.50.0.1:80"))).with_scheduler(Scheduler::Rr),
            [
                v4(1),
                v4(2).with_weight(0),
                v4p(3, 80)
                    .with_forwarding(Forwarding::DirectRoute)
                    .with_thresholds(Thresholds {
                        upper: 100,
                        lower: 10,
                    }),
                v4p(4, 80).with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
                v4p(5, 80).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
                    port: 6080,
                    checksum: GueChecksum::RemoteChecksum,
                })),
                v4p(6, 80).with_forwarding(Forwarding::Tunnel(Tunnel::Gre { checksum: true })),
            ],
        )
        .with_service(
            Service::new(ServiceKey::udp(sa("10.50.0.1:53")))
                .with_scheduler(Scheduler::Sh(hf(true, true)))
                .with_one_packet(true),
            [v4(7).with_weight(3)],
        )
        .with_service(
            Service::new(ServiceKey::udp(sa("10.50.0.1:5060")))
                .with_scheduler(Scheduler::Rr)
                .with_persistence(90)
                .with_persistence_engine("sip"),
            [v4(8)],
        )
        .with_service(
            Service::new(ServiceKey::sctp(sa("10.50.0.1:3868")))
                .with_scheduler(Scheduler::Mh(hf(false, true)))
                .with_persistence_netmask(
                    60,
                    Netmask::prefix(AddressFamily::Inet, 24).expect("prefix"),
                ),
            [v4(9)],
        )
        .with_service(
            Service::new(ServiceKey::tcp(sa("[2001:db8::1]:443")))
                .with_scheduler(Scheduler::Wlc)
                .with_persistence_netmask(300, Netmask::V6(64)),
            [v6(1), v6p(2, 443).with_forwarding(Forwarding::DirectRoute)],
        )
        .with_service(
            Service::new(ServiceKey::fwmark(AddressFamily::Inet, 9)).with_scheduler(Scheduler::Lc),
            [
                v4(10),
                v6(3).with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
            ],
        )
        .with_service(
            Service::new(ServiceKey::fwmark(AddressFamily::Inet6, 9)).with_scheduler(Scheduler::Dh),
            [v6(4)],
        );
    let (mut ipvs, mut r) = (ns.handle(), Reconciler::new(Policy::default()));
    let first = ok(r.reconcile(&mut ipvs, &desired));
    assert_eq!(first.writes, 7 + 14);
    for _ in 0..3 {
        let rep = ok(r.reconcile(&mut ipvs, &desired));
        assert!(rep.plan.is_empty(), "{}", rep.plan);
        assert_eq!((rep.reads, rep.writes), (1, 0));
    }
    // The kernel lists each service's destinations in desired order.
    let mut h = ns.handle();
    let got: Vec<SocketAddr> = h
        .destinations(&ServiceKey::tcp(sa("10.50.0.1:80")))
        .expect("dests")
        .iter()
        .map(|d| d.destination.addr)
        .collect();
    let want: Vec<SocketAddr> = desired.services[0]
        .destinations
        .iter()
        .map(|d| d.addr)
        .collect();
    assert_eq!(got, want);
    // One scheduler and one weight change: exactly two operations.
    let mut changed = desired.clone();
    changed.services[0].service.scheduler = Scheduler::Wrr;
    changed.services[1].destinations[0].weight = 9;
    let rep = ok(r.reconcile(&mut ipvs, &changed));
    assert_eq!(rep.writes, 2, "{}", rep.plan);
    assert!(ok(r.reconcile(&mut ipvs, &changed)).plan.is_empty());
    // The restore script of the first plan, replayed by ipvsadm into a
    // fresh namespace, builds the same table.
    let ns2 = Netns::new("rzr");
    let script = first.plan.to_ipvsadm_restore().expect("ipvsadm syntax");
    ns2.ipvsadm_restore(&script);
    let rep = ok(Reconciler::new(Policy::default()).reconcile(&mut ns2.handle(), &desired));
    // ipvsadm -S does not save thresholds, but -R does apply them.
    assert!(
        rep.plan.is_empty(),
        "ipvsadm -R built something else:\n{}",
        rep.plan
    );
}

/// An incremental reconciler finds edits made with `ipvsadm` by the
/// rotating verification, within its period and without a whole-table
/// read: a changed weight, a removed destination, a removed service, and
/// a foreign service inside its scope; a service outside the scope stays.
#[test]
fn incremental_passes_repair_ipvsadm_edits_within_the_period() {
    require_ipvs_kernel();
    let ns = Netns::new("rzi");
    let period = Duration::from_secs(3);
    let mut desired = DesiredState::new();
    for i in 1..=20u8 {
        desired.push(
            Service::new(ServiceKey::tcp(sa(&format!("10.52.0.{i}:80")))),
            (1..=3u8).map(|j| Destination::new(sa(&format!("10.60.{i}.{j}:8080")))),
        );
    }
    let policy = Policy::new(Scope::prefixes(["10.52.0.0/16".parse().expect("net")]))
        .with_drain(DrainPolicy::immediate())
        .with_incremental(period);
    let (mut ipvs, mut r) = (ns.handle(), Reconciler::new(policy));
    let first = ok(r.reconcile(&mut ipvs, &desired));
    assert_eq!((first.reads, first.writes), (1, 20 * 4));
    let ours = || -> Vec<String> {
        let mut v: Vec<String> = ns
            .ipvsadm("-Sn")
            .lines()
            .filter(|l| l.contains("10.52."))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    let want = ours();
    assert_eq!(want.len(), 20 * 4);
    let rep = ok(r.reconcile(&mut ipvs, &desired));
    assert_eq!((rep.reads, rep.writes), (0, 0), "{rep}");

    for cmd in [
        "-e -t 10.52.0.5:80 -r 10.60.5.1:8080 -m -w 9",
        "-d -t 10.52.0.12:80 -r 10.60.12.2:8080",
        "-D -t 10.52.0.17:80",
        "-A -t 10.52.0.200:80 -s rr",
        "-A -t 10.53.0.1:80 -s rr",
    ] {
        ns.ipvsadm(cmd);
    }
    assert_ne!(ours(), want);
    let edited = Instant::now();
    // Passes every 250 ms until the seven repairs are made: the weight
    // back, the destination and the service (with its three) again, the
    // foreign service removed.
    let (mut writes, mut last, mut gap) = (0, edited, Duration::ZERO);
    let mut repaired = None;
    while edited.elapsed() < period * 3 {
        sleep(Duration::from_millis(250));
        let rep = ok(r.reconcile(&mut ipvs, &desired));
        assert_eq!(rep.reads, 0, "no whole-table read:\n{rep}");
        if rep.writes != 0 {
            eprintln!("{rep}");
        }
        gap = gap.max(last.elapsed());
        last = Instant::now();
        writes += rep.writes;
        if writes >= 7 {
            repaired = Some(edited.elapsed());
            break;
        }
    }
    let took = repaired.unwrap_or_else(|| panic!("not repaired; table:\n{}", ours().join("\n")));
    assert_eq!(writes, 7);
    assert_eq!(ours(), want);
    eprintln!(
        "ipvsadm edits repaired {took:?} after they were made (period {period:?}, \
         passes at most {gap:?} apart)"
    );
    assert!(
        took <= period + 2 * gap + Duration::from_millis(500),
        "repaired after {took:?}, period {period:?}, passes {gap:?} apart"
    );
    assert!(
        ns.ipvsadm("-Sn").contains("-A -t 10.53.0.1:80 -s rr"),
        "the service outside the scope stays"
    );
    let rep = ok(r.reconcile(&mut ipvs, &desired));
    assert_eq!((rep.reads, rep.writes), (0, 0), "{rep}");
}

const APPLY_CHILD_ENV: &str = "LVS_APPLY_CHILD";
/// Services and destinations per service of the kill-mid-apply test: a
/// batch of 10,000 operations, long enough to be killed in the middle
/// (the probe below stops it within a few dozen services).
const KILL_SERVICES: u32 = 2_000;
const KILL_DESTS: u8 = 4;

/// The kill-mid-apply test's desired state for `round`: every round
/// changes each destination's weight, so each round has work everywhere.
fn bulk_desired(round: u32) -> DesiredState {
    let mut d = DesiredState::new();
    for i in 0..KILL_SERVICES {
        let dests = (0..KILL_DESTS).map(|j| {
            Destination::new(SocketAddr::new([10, 71, 0, j + 1].into(), 8080))
                .with_weight(round + u32::from(j) + 1)
        });
        d = d.with_service(Service::new(bulk_key(i)), dests);
    }
    d
}

/// Service number `i` of the kill-mid-apply test.
fn bulk_key(i: u32) -> ServiceKey {
    ServiceKey::tcp(SocketAddr::new(
        [10, 70, (i / 250) as u8, (i % 250) as u8 + 1].into(),
        80,
    ))
}

/// The table as comparable values: key -> sorted (address, weight).
fn table_shape(
    entries: impl IntoIterator<Item = (ServiceKey, Vec<(SocketAddr, u32)>)>,
) -> std::collections::BTreeMap<ServiceKey, Vec<(SocketAddr, u32)>> {
    entries
        .into_iter()
        .map(|(k, mut d)| {
            d.sort();
            (k, d)
        })
        .collect()
}

/// Kill (SIGKILL) a process in the middle of applying a 10,000-operation
/// reconcile pass, three times at different points; after each kill a new
/// reconciler's one pass makes the kernel table exactly the desired state
/// (every service, destination and weight; nothing extra), and its next
/// pass writes nothing.
#[test]
fn killed_mid_apply_a_new_reconciler_converges() {
    if let Ok(spec) = std::env::var(APPLY_CHILD_ENV) {
        let (path, round) = spec.split_once('|').expect("spec");
        let mut ipvs = Handle::open_netns_path(path).unwrap_or_else(|e| panic!("{e}"));
        let desired = bulk_desired(round.parse().expect("round"));
        let mut r = Reconciler::new(Policy::new(Scope::All));
        let _ = r.reconcile(&mut ipvs, &desired);
        // Only a kill is expected to end this process early.
        sleep(Duration::from_secs(600));
        std::process::exit(0);
    }
    require_ipvs_kernel();
    let ns = Netns::new("kill");
    let mut h = ns.handle();
    // Kill once service number `at` is done: at the start of the first
    // round (creating everything), about a third and two thirds of the
    // way through the later ones (updating every weight).
    for (round, at) in [(0u32, 1u32), (1, 700), (2, 1_400)] {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "killed_mid_apply_a_new_reconciler_converges",
                "--nocapture",
            ])
            .env(APPLY_CHILD_ENV, format!("{}|{round}", ns.path()))
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the applying child");
        // Progress probe: has service number `at` reached this round's
        // state? (One small dump; reading the whole table would be too
        // slow to catch the batch in the middle.)
        let probe = bulk_key(at);
        let first = SocketAddr::new([10, 71, 0, 1].into(), 8080);
        let started = Instant::now();
        loop {
            let done = h.destinations(&probe).is_ok_and(|d| {
                round == 0
                    || d.iter()
                        .any(|d| d.destination.addr == first && d.destination.weight == round + 1)
            });
            if done || started.elapsed() > Duration::from_secs(300) {
                break;
            }
            sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let before = h.table().unwrap_or_else(|e| panic!("{e}"));
        let desired = bulk_desired(round);
        let want = table_shape(desired.services.iter().map(|s| {
            let d = s.destinations.iter().map(|d| (d.addr, d.weight)).collect();
            (s.service.key, d)
        }));
        let shape = |t: &[TableEntry]| {
            table_shape(t.iter().map(|e| {
                let d = e
                    .destinations
                    .iter()
                    .map(|d| (d.destination.addr, d.destination.weight))
                    .collect();
                (e.service.service.key, d)
            }))
        };
        eprintln!(
            "round {round}: killed after service {at}; table then {} services, {} as desired",
            before.len(),
            shape(&before)
                .iter()
                .filter(|(k, v)| want.get(*k) == Some(*v))
                .count()
        );
        assert_ne!(
            shape(&before),
            want,
            "the kill came after the apply finished"
        );

        let mut r = Reconciler::new(Policy::new(Scope::All));
        ok(r.reconcile(&mut h, &desired));
        assert_eq!(shape(&h.table().unwrap_or_else(|e| panic!("{e}"))), want);
        let again = ok(r.reconcile(&mut h, &desired));
        assert!(again.plan.is_empty(), "second pass:\n{again}");
    }
}
