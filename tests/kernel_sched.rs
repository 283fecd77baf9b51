//! Scheduler conformance with real traffic: for every scheduler the kernel
//! has, the pure-Rust model ([`lvs::sched::Simulation`]) must predict the
//! kernel's backend for **every** connection.
//!
//! Topology of a [`Lab`] (NAT):
//! ```text
//!  client 10.50.0.2 ── c0 10.50.0.1 director ── b0 10.60.0.1 ── backends 10.60.0.11, .12, …
//!   sources 10.77.0.1 …    VIP 10.50.0.1:port
//!   (on lo, routed by      10.96.0.0/14 local; tc marks packets to
//!    the director)         10.99.0.0/24 with 7, 10.98.0.0/24 with 8, 10.97.0.0/24 with 9
//! ```
//! The client namespace holds hundreds of source addresses; every
//! connection binds one (and, where the port flag matters, a chosen source
//! port) before it connects. One server in the backend namespace listens on
//! all backend addresses and answers each connection with the address it
//! was accepted on, i.e. the destination IPVS chose. The model sees the
//! same sequence of connections (client address and port, packet
//! destination), the same destination add order and the same edits.
//!
//! - `rr`, `wrr`: one-shot connections, with weight edits, removals (also
//!   of the destination the round-robin cursor rests on) and re-adds.
//! - `sh`, `mh` (no flags, port, fallback, both), `dh`: hundreds of client
//!   addresses and ports; weight edits, weight 0, an upper threshold
//!   (OVERLOAD), adds and removals. `dh` keys on the packet's destination
//!   address: a firewall-mark service covers 254 VIPs (marked by `tc`).
//! - `lc`, `wlc`, `sed`, `nq`, `fo`, `ovf`, `lblc`, `lblcr`: long-lived
//!   connections, so the kernel's counters are known; before every new
//!   connection the kernel's active/inactive counts must equal the model's
//!   (closed connections count as inactive until they expire, minutes
//!   later, so every scenario stays well inside that). Two `wlc`
//!   probes pin how much an active connection weighs against an inactive
//!   one in the connection overhead.
//!
//! A prediction of "no destination" must match a refused connection (the
//! director answers ICMP port unreachable, delayed by 3 ms so that it is
//! not handled while the client's `connect()` still holds its socket).
//! The cargo runner boots a Debian kernel under QEMU when the host has no
//! IPVS; without an IPVS kernel the tests fail.
//!
//! Kernel versions: the CI guest (Debian 6.1.192) has the July 2026 IPVS
//! accounting fixes (an active connection weighs 257 inactive ones in the
//! connection overhead; editing a threshold re-evaluates OVERLOAD), which
//! the model follows by default; older kernels need
//! `KernelParams::with_legacy_conn_accounting(true)` in the model.

mod support;

use std::fmt;
use std::io::{self, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use lvs::sched::{
    ConnId, DestSpec, Family, Packet, Protocol as SimProtocol, SchedFlags, SchedulerKind,
    ServiceSpec, Simulation,
};
use lvs::{AddressFamily, Destination, Handle, HashFlags, Scheduler, Service, ServiceKey};
use support::*;

/// Connect, read and write timeout of client sockets (the guest is slow).
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the kernel's connection counters may take to catch up with a
/// close (the FIN has to cross the director).
const COUNT_WAIT: Duration = Duration::from_secs(10);
/// The director's address on the client side, and the VIP of the
/// address services (one port per scenario).
const VIP: Ipv4Addr = Ipv4Addr::new(10, 50, 0, 1);
/// Port every backend listens on.
const BACKEND_PORT: u16 = 8080;
/// Marked VIP ranges: packets to `<net>/24` get firewall mark `mark`.
const MARKED: [(Ipv4Addr, u32); 3] = [
    (Ipv4Addr::new(10, 99, 0, 0), 7),
    (Ipv4Addr::new(10, 98, 0, 0), 8),
    (Ipv4Addr::new(10, 97, 0, 0), 9),
];

fn vip(port: u16) -> SocketAddr {
    SocketAddr::from((VIP, port))
}

/// Backend `i` (1-based): 10.60.0.(10+i):8080.
fn be(i: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 60, 0, 10 + i), BACKEND_PORT))
}

/// Client source address `i` (1-based): 10.77.0.0 + i.
fn client_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 77, 0, 0)) + i)
}

/// Address `k` (1..=254) of the marked range with mark `mark`.
fn marked_vip(mark: u32, k: u8, port: u16) -> SocketAddr {
    let (net, _) = MARKED
        .iter()
        .find(|(_, m)| *m == mark)
        .expect("a marked range");
    let o = net.octets();
    SocketAddr::from((Ipv4Addr::new(o[0], o[1], o[2], k), port))
}

/// Log a step with the time since the process started (shown with
/// `--nocapture`, or for a failing test).
fn mark(test: &str, what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let t0 = *START.get_or_init(Instant::now);
    eprintln!("[{:7.2}s] {test}: {what}", t0.elapsed().as_secs_f64());
}

// ----- topology ---------------------------------------------------------------
//
// Under QEMU without KVM every process costs about a second: one `ip
// -batch` makes the namespaces and links, one per namespace sets its
// addresses and routes, one `tc -batch` marks packets; sysctls are written
// from a thread inside the namespace.

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Client, director and backend namespaces wired for IPVS NAT (see the
/// module documentation), with the backend server running.
struct Lab {
    client: ManuallyDrop<Netns>,
    director: ManuallyDrop<Netns>,
    _backends: ManuallyDrop<Netns>,
    _ns: Namespaces,
}

impl Lab {
    /// `backends` backend addresses, `clients` client source addresses.
    fn new(tag: &str, backends: u8, clients: u32) -> Lab {
        let (d, c, b) = (
            format!("{tag}-dir"),
            format!("{tag}-cl"),
            format!("{tag}-be"),
        );
        let links = [
            format!("link add v0 netns {{{c}}} type veth peer name c0 netns {{{d}}}"),
            format!("link add v0 netns {{{b}}} type veth peer name b0 netns {{{d}}}"),
        ];
        let (group, mut ns) = Namespaces::new(&[&d, &c, &b], &links);
        let backends_ns = ns.pop().expect("backends");
        let client = ns.pop().expect("client");
        let director = ns.pop().expect("director");

        batch(
            "ip",
            Some(&director),
            &[
                "link set lo up".into(),
                format!("addr add {VIP}/24 dev c0"),
                "link set c0 up".into(),
                "addr add 10.60.0.1/24 dev b0".into(),
                "link set b0 up".into(),
                "route add 10.77.0.0/16 via 10.50.0.2".into(),
                // Every marked VIP is local to the director.
                "route add local 10.96.0.0/14 dev lo".into(),
            ],
        );
        sysctls(
            &director,
            &[
                ("net.ipv4.ip_forward", "1"),
                ("net.ipv4.icmp_ratelimit", "0"),
            ],
        );
        // Firewall marks without netfilter tools: tc on the director's
        // ingress sets skb->mark, which IPVS reads at LOCAL_IN.
        let mut tc = vec!["qdisc add dev c0 clsact".to_string()];
        for (i, (net, mark)) in MARKED.iter().enumerate() {
            tc.push(format!(
                "filter add dev c0 ingress protocol ip prio {} u32 match ip dst {net}/24 \
                 action skbedit mark {mark}",
                i + 1
            ));
        }
        // Refusals (ICMP port unreachable) are delayed by 3 ms. Otherwise
        // the ICMP error is handled in the softirq of the client's own
        // connect(), while that socket is still locked: TCP keeps it as a
        // soft error and only the SYN retransmitted 1 s later is refused.
        tc.extend(lines(&[
            "qdisc add dev c0 root handle 1: prio",
            "qdisc add dev c0 parent 1:3 handle 30: netem delay 3ms",
            "filter add dev c0 parent 1: protocol ip prio 1 u32 match ip protocol 1 0xff flowid 1:3",
        ]));
        batch("tc", Some(&director), &tc);

        let mut ccmds = vec![
            "link set lo up".to_string(),
            "addr add 10.50.0.2/24 dev v0".into(),
            "link set v0 up".into(),
            format!("route add default via {VIP}"),
        ];
        ccmds.extend((1..=clients).map(|i| format!("addr add {}/32 dev lo", client_ip(i))));
        batch("ip", Some(&client), &ccmds);

        let mut bcmds = vec!["link set lo up".to_string()];
        bcmds.extend((1..=backends).map(|i| format!("addr add {}/24 dev v0", be(i).ip())));
        bcmds.extend([
            "link set v0 up".into(),
            "route add default via 10.60.0.1".into(),
        ]);
        batch("ip", Some(&backends_ns), &bcmds);
        start_server(&backends_ns);
        Lab {
            client,
            director,
            _backends: backends_ns,
            _ns: group,
        }
    }

    /// Run `f` with a handle on the director, on a thread inside the client
    /// namespace (so that every socket it makes is a client socket).
    fn drive<T: Send + 'static>(&self, f: impl FnOnce(&mut Handle) -> T + Send + 'static) -> T {
        let path = self.director.path();
        self.client.run(move || {
            let mut h = Handle::open_netns_path(&path)
                .unwrap_or_else(|e| panic!("handle in the director: {e}"));
            f(&mut h)
        })
    }
}

// ----- server and client ------------------------------------------------------

/// One server for every backend address: each connection is answered with
/// the address it was accepted on (the destination IPVS chose), then held
/// open until the client closes.
fn start_server(ns: &Netns) {
    let (tx, rx) = mpsc::channel();
    ns.spawn(move || {
        let l = match TcpListener::bind(("0.0.0.0", BACKEND_PORT)) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let _ = tx.send(Ok(()));
        for c in l.incoming().flatten() {
            let _ = thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || serve(c));
        }
    });
    rx.recv()
        .expect("server thread")
        .unwrap_or_else(|e| panic!("listen on port {BACKEND_PORT} in {}: {e}", ns.name));
}

fn serve(mut s: TcpStream) {
    let Ok(me) = s.local_addr() else { return };
    if s.write_all(format!("{me}\n").as_bytes()).is_err() {
        return;
    }
    // Hold the connection until the client closes it (then close too, so
    // that IPVS moves it to TIME_WAIT rather than CLOSE_WAIT).
    let _ = s.set_read_timeout(Some(Duration::from_secs(900)));
    let mut buf = [0u8; 64];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

/// A TCP socket bound to `src` (port 0: the kernel picks one now), and the
/// address it got.
fn bound_socket(src: SocketAddr) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::{SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    // SO_SNDTIMEO also bounds a blocking connect().
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    rustix::net::bind(&s, &src)?;
    let me = s.local_addr()?;
    Ok((s, me))
}

/// The backend's answer: the destination address it was reached on.
fn read_name(s: &mut TcpStream) -> io::Result<SocketAddr> {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while !got.contains(&b'\n') {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"));
        }
        got.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&got);
    line.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}: {e}")))
}

// ----- scenarios ----------------------------------------------------------------

/// What the kernel did with one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kernel {
    /// Answered by this destination.
    To(SocketAddr),
    /// Refused (no destination available: ICMP port unreachable).
    Refused,
    /// Anything else (timeout, reset, bad answer).
    Error(String),
}

/// A long-lived connection and the model's twin.
struct Held {
    stream: TcpStream,
    conn: Option<ConnId>,
}

/// The outcome of one scenario.
struct Summary {
    name: String,
    elapsed: Duration,
    connections: usize,
    matched: usize,
    refused: usize,
    mismatches: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<34} {:>4}/{:<4} connections as predicted ({} of them refused as predicted) \
             in {:.1} s",
            self.name,
            self.matched,
            self.connections,
            self.refused,
            self.elapsed.as_secs_f64(),
        )?;
        for m in self.mismatches.iter().take(12) {
            write!(f, "\n    MISMATCH {m}")?;
        }
        if self.mismatches.len() > 12 {
            write!(f, "\n    ... {} more", self.mismatches.len() - 12)?;
        }
        Ok(())
    }
}

/// One service in the kernel and its model, driven connection by
/// connection from the client namespace.
struct Scenario<'h> {
    name: String,
    h: &'h mut Handle,
    key: ServiceKey,
    sim: Simulation,
    /// Check the kernel's connection counters against the model before
    /// every connection (schedulers that read them).
    counts: bool,
    connections: usize,
    matched: usize,
    refused: usize,
    mismatches: Vec<String>,
    /// Control operations so far, for mismatch reports.
    steps: Vec<String>,
    held: Vec<Held>,
    /// Destination of the last answered connection.
    last: Option<SocketAddr>,
    /// Set when the counters diverged: the rest is not run.
    stopped: bool,
    started: Instant,
}

fn kernel_dest(d: &DestSpec) -> Destination {
    Destination::new(d.addr)
        .with_weight(d.weight)
        .with_thresholds(d.lower_threshold, d.upper_threshold)
}

impl<'h> Scenario<'h> {
    fn new(
        h: &'h mut Handle,
        name: impl Into<String>,
        svc: Service,
        spec: ServiceSpec,
        counts: bool,
    ) -> Self {
        let name = name.into();
        h.add_service(&svc)
            .unwrap_or_else(|e| panic!("{name}: add service {}: {e}", svc.key));
        let sim = Simulation::new(spec).unwrap_or_else(|e| panic!("{name}: model: {e}"));
        Scenario {
            name,
            key: svc.key,
            h,
            sim,
            counts,
            connections: 0,
            matched: 0,
            refused: 0,
            mismatches: Vec::new(),
            steps: Vec::new(),
            held: Vec::new(),
            last: None,
            stopped: false,
            started: Instant::now(),
        }
    }

    /// An address service on the VIP.
    fn inet(h: &'h mut Handle, name: &str, port: u16, sched: Scheduler, counts: bool) -> Self {
        let kind: SchedulerKind = sched.name().parse().expect("a modelled scheduler");
        let flags = sched.hash_flags().unwrap_or_default();
        let spec = ServiceSpec::new(kind)
            .with_addr(SimProtocol::Tcp, vip(port))
            .with_flags(
                SchedFlags::new()
                    .with_fallback(flags.fallback)
                    .with_port(flags.port),
            );
        let svc = Service::new(ServiceKey::tcp(vip(port))).with_scheduler(sched);
        Self::new(h, name, svc, spec, counts)
    }

    /// A firewall-mark service.
    fn fwmark(h: &'h mut Handle, name: &str, mark: u32, sched: Scheduler, counts: bool) -> Self {
        let kind: SchedulerKind = sched.name().parse().expect("a modelled scheduler");
        let spec = ServiceSpec::new(kind).with_fwmark(Family::Inet, mark);
        let svc = Service::new(ServiceKey::fwmark(AddressFamily::Inet, mark)).with_scheduler(sched);
        Self::new(h, name, svc, spec, counts)
    }

    fn step(&mut self, what: String) {
        self.steps.push(what);
    }

    /// NEW_DEST in both.
    fn add(&mut self, d: DestSpec) {
        self.h
            .add_destination(&self.key, &kernel_dest(&d))
            .unwrap_or_else(|e| panic!("{}: add {}: {e}", self.name, d.addr));
        self.sim
            .add_destination(d)
            .unwrap_or_else(|e| panic!("{}: model add {}: {e}", self.name, d.addr));
        self.step(format!("add {} w{}", d.addr.ip(), d.weight));
    }

    /// Add `(backend index, weight)` in this order.
    fn add_all(&mut self, dests: &[(u8, u32)]) {
        for &(i, w) in dests {
            self.add(DestSpec::new(be(i), w));
        }
    }

    /// SET_DEST in both.
    fn update(&mut self, d: DestSpec) {
        self.h
            .update_destination(&self.key, &kernel_dest(&d))
            .unwrap_or_else(|e| panic!("{}: update {}: {e}", self.name, d.addr));
        self.sim
            .update_destination(d)
            .unwrap_or_else(|e| panic!("{}: model update {}: {e}", self.name, d.addr));
        self.step(format!(
            "set {} w{} u{} l{}",
            d.addr.ip(),
            d.weight,
            d.upper_threshold,
            d.lower_threshold
        ));
    }

    /// SET_DEST changing only the weight.
    fn weight(&mut self, addr: SocketAddr, weight: u32) {
        let d = self
            .sim
            .destination(addr)
            .unwrap_or_else(|| panic!("{}: no destination {addr}", self.name));
        let spec =
            DestSpec::new(addr, weight).with_thresholds(d.upper_threshold(), d.lower_threshold());
        self.update(spec);
    }

    /// SET_DEST changing only the thresholds.
    fn thresholds(&mut self, addr: SocketAddr, upper: u32, lower: u32) {
        let d = self
            .sim
            .destination(addr)
            .unwrap_or_else(|| panic!("{}: no destination {addr}", self.name));
        let spec = DestSpec::new(addr, d.weight().max(0) as u32).with_thresholds(upper, lower);
        self.update(spec);
    }

    /// DEL_DEST in both.
    fn remove(&mut self, addr: SocketAddr) {
        self.h
            .remove_destination(&self.key, addr)
            .unwrap_or_else(|e| panic!("{}: remove {addr}: {e}", self.name));
        self.sim
            .remove_destination(addr)
            .unwrap_or_else(|e| panic!("{}: model remove {addr}: {e}", self.name));
        self.step(format!("del {}", addr.ip()));
    }

    /// `(active, inactive)` of every linked destination, kernel and model.
    #[allow(clippy::type_complexity)]
    fn counters(&mut self) -> (Vec<(SocketAddr, u32, u32)>, Vec<(SocketAddr, u32, u32)>) {
        let mut kernel: Vec<_> = self
            .h
            .destinations(&self.key)
            .unwrap_or_else(|e| panic!("{}: read destinations: {e}", self.name))
            .into_iter()
            .map(|d| (d.destination.addr, d.conns.active, d.conns.inactive))
            .collect();
        let mut model: Vec<_> = self
            .sim
            .destinations()
            .into_iter()
            .filter_map(|a| self.sim.destination(a))
            .map(|d| {
                (
                    d.addr(),
                    d.active_conns().max(0) as u32,
                    d.inactive_conns().max(0) as u32,
                )
            })
            .collect();
        kernel.sort();
        model.sort();
        (kernel, model)
    }

    /// Wait until the kernel's counters equal the model's; a lasting
    /// difference is a mismatch and stops the scenario.
    fn sync_counts(&mut self) {
        let start = Instant::now();
        loop {
            let (kernel, model) = self.counters();
            if kernel == model {
                return;
            }
            if start.elapsed() > COUNT_WAIT {
                let msg = format!(
                    "connection counters (addr, active, inactive) differ after {:?}: \
                     kernel {kernel:?} model {model:?} after [{}]",
                    COUNT_WAIT,
                    self.recent_steps()
                );
                self.mismatches.push(msg);
                self.stopped = true;
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn recent_steps(&self) -> String {
        let n = self.steps.len();
        self.steps[n.saturating_sub(8)..].join("; ")
    }

    /// One connection from `src` (port 0: any) to `dst`; the kernel's
    /// answer must be the model's prediction. Kept open if `hold`,
    /// otherwise closed by the client at once (the model then counts it
    /// inactive, as the kernel does until it expires).
    fn connect(&mut self, src: SocketAddr, dst: SocketAddr, hold: bool) {
        if self.stopped {
            return;
        }
        if self.counts {
            self.sync_counts();
            if self.stopped {
                return;
            }
        }
        let (mut sock, me) = bound_socket(src)
            .unwrap_or_else(|e| panic!("{}: socket bound to {src}: {e}", self.name));
        let predicted = self
            .sim
            .connect_packet(&Packet::new(SimProtocol::Tcp, me, dst));
        let kernel = match rustix::net::connect(&sock, &dst) {
            Ok(()) => match read_name(&mut sock) {
                Ok(to) => Kernel::To(to),
                Err(e) => Kernel::Error(format!("no answer: {e}")),
            },
            Err(rustix::io::Errno::CONNREFUSED) => Kernel::Refused,
            Err(e) => Kernel::Error(format!("connect: {e}")),
        };
        self.connections += 1;
        let n = self.connections;
        match (&predicted.addr, &kernel) {
            (Some(p), Kernel::To(k)) if p == k => self.matched += 1,
            (None, Kernel::Refused) => {
                self.matched += 1;
                self.refused += 1;
            }
            (p, k) => self.mismatches.push(format!(
                "connection #{n} {me} -> {dst}: model {p:?} ({:?}), kernel {k:?}, after [{}]",
                predicted.via,
                self.recent_steps()
            )),
        }
        if let Kernel::To(to) = kernel {
            self.last = Some(to);
            if hold {
                self.held.push(Held {
                    stream: sock,
                    conn: predicted.conn,
                });
                return;
            }
        }
        drop(sock);
        if let Some(c) = predicted.conn {
            self.sim
                .set_active(c, false)
                .unwrap_or_else(|e| panic!("{}: model: {e}", self.name));
        }
    }

    /// Close held connection `i` (client first): it turns inactive.
    fn close_held(&mut self, i: usize) {
        let held = self.held.remove(i);
        drop(held.stream);
        if let Some(c) = held.conn {
            self.sim
                .set_active(c, false)
                .unwrap_or_else(|e| panic!("{}: model: {e}", self.name));
        }
        self.step(format!("close held #{i}"));
    }

    fn finish(mut self) -> Summary {
        if self.counts && !self.stopped {
            self.sync_counts();
        }
        self.held.clear();
        Summary {
            name: self.name,
            elapsed: self.started.elapsed(),
            connections: self.connections,
            matched: self.matched,
            refused: self.refused,
            mismatches: self.mismatches,
        }
    }
}

/// Client sources: addresses cycle over `1..=n`; explicit ports are all
/// different (10000..29999 in a scattered order), so that no address and
/// port pair is ever reused.
struct Sources {
    n: u32,
    next: u32,
    ports: u32,
}

impl Sources {
    fn new(n: u32) -> Self {
        Sources {
            n,
            next: 0,
            ports: 0,
        }
    }

    /// The next client address, any port.
    fn any(&mut self) -> SocketAddr {
        let ip = client_ip(1 + self.next % self.n);
        self.next += 1;
        SocketAddr::from((ip, 0))
    }

    /// Client address `i` (wrapping over `n`) with a fresh port.
    fn port(&mut self, i: u32) -> SocketAddr {
        let k = self.ports;
        self.ports += 1;
        assert!(k < 20_000, "out of client ports");
        let port = 10_000 + (k * 7919) % 20_000;
        SocketAddr::from((client_ip(1 + i % self.n), port as u16))
    }
}

fn report(test: &str, summaries: &[Summary]) {
    let mut failed = 0;
    for s in summaries {
        mark(test, &s.to_string());
        if !s.mismatches.is_empty() || s.matched != s.connections {
            failed += 1;
        }
    }
    let total: usize = summaries.iter().map(|s| s.connections).sum();
    let matched: usize = summaries.iter().map(|s| s.matched).sum();
    mark(
        test,
        &format!("{matched}/{total} connections as the model predicted"),
    );
    assert_eq!(
        failed,
        0,
        "{failed} scenario(s) differ from the model:\n{}",
        summaries
            .iter()
            .filter(|s| !s.mismatches.is_empty())
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ----- rr, wrr --------------------------------------------------------------------

fn rr(h: &mut Handle, src: &mut Sources) -> Summary {
    let mut s = Scenario::inet(h, "rr", 1001, Scheduler::Rr, false);
    let run = |s: &mut Scenario, src: &mut Sources, n: usize| {
        for _ in 0..n {
            s.connect(src.any(), vip(1001), false);
        }
    };
    s.add_all(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
    run(&mut s, src, 41);
    // Remove the destination the cursor rests on: the next pick is its
    // successor.
    let cursor = s.last.expect("an answer");
    s.remove(cursor);
    run(&mut s, src, 13);
    s.add(DestSpec::new(be(5), 2));
    run(&mut s, src, 13);
    s.weight(be(2), 0);
    run(&mut s, src, 13);
    s.weight(be(2), 3);
    s.remove(be(5));
    run(&mut s, src, 13);
    // Re-add the removed one (revived from the trash, at the list head).
    s.add(DestSpec::new(cursor, 1));
    run(&mut s, src, 14);
    // Remove the head while the cursor is elsewhere, and the tail.
    let cursor = s.last.expect("an answer");
    for d in s.sim.destinations() {
        if d != cursor {
            s.remove(d);
            break;
        }
    }
    run(&mut s, src, 7);
    let list = s.sim.destinations();
    s.remove(*list.last().expect("a destination"));
    run(&mut s, src, 7);
    // Nothing with a weight: refused.
    for d in s.sim.destinations() {
        s.weight(d, 0);
    }
    run(&mut s, src, 3);
    let first = s.sim.destinations()[0];
    s.weight(first, 1);
    run(&mut s, src, 4);
    s.finish()
}

fn wrr(h: &mut Handle, src: &mut Sources) -> Summary {
    let mut s = Scenario::inet(h, "wrr", 1002, Scheduler::Wrr, false);
    let run = |s: &mut Scenario, src: &mut Sources, n: usize| {
        for _ in 0..n {
            s.connect(src.any(), vip(1002), false);
        }
    };
    s.add_all(&[(1, 4), (2, 3), (3, 2)]);
    run(&mut s, src, 45);
    s.weight(be(2), 0);
    run(&mut s, src, 31);
    // Edits in the middle of a cycle.
    s.weight(be(1), 6);
    run(&mut s, src, 5);
    s.weight(be(2), 4);
    s.weight(be(3), 2);
    run(&mut s, src, 37);
    s.add(DestSpec::new(be(4), 3));
    run(&mut s, src, 31);
    s.remove(be(1));
    run(&mut s, src, 29);
    // gcd 5: 10, 5, 15.
    s.weight(be(2), 10);
    s.weight(be(3), 5);
    s.weight(be(4), 15);
    run(&mut s, src, 25);
    s.add(DestSpec::new(be(1), 1));
    run(&mut s, src, 33);
    for i in 1..=4 {
        s.weight(be(i), 0);
    }
    run(&mut s, src, 3);
    s.weight(be(3), 2);
    s.weight(be(4), 5);
    run(&mut s, src, 14);
    s.finish()
}

/// Which of the model's schedulers the kernel has: it accepts a service
/// with that scheduler. Every one it has must be covered here.
fn kernel_schedulers(h: &mut Handle) -> Vec<(SchedulerKind, bool)> {
    SchedulerKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &k)| {
            let key = ServiceKey::tcp(vip(2000 + i as u16));
            let sched = Scheduler::from_name(k.name()).expect("a kernel name");
            let ok = h
                .add_service(&Service::new(key).with_scheduler(sched))
                .is_ok();
            if ok {
                h.remove_service(&key).expect("remove the probe service");
            }
            (k, ok)
        })
        .collect()
}

/// Schedulers checked connection by connection in this file.
const COVERED: [SchedulerKind; 13] = [
    SchedulerKind::Rr,
    SchedulerKind::Wrr,
    SchedulerKind::Lc,
    SchedulerKind::Wlc,
    SchedulerKind::Sed,
    SchedulerKind::Nq,
    SchedulerKind::Fo,
    SchedulerKind::Ovf,
    SchedulerKind::Dh,
    SchedulerKind::Sh,
    SchedulerKind::Mh,
    SchedulerKind::Lblc,
    SchedulerKind::Lblcr,
];

/// `rr` and `wrr`: one-shot connections in sequence; the model sees the
/// same sequence, edits, removals (also of the destination the cursor rests
/// on) and re-adds. Also: every scheduler the kernel has is covered by
/// this file (`twos`, random, is the only one that is not).
#[test]
fn round_robin_schedulers_match_the_model_connection_by_connection() {
    require_ipvs_kernel();
    const T: &str = "rr/wrr";
    mark(T, "start");
    let lab = Lab::new("srr", 5, 64);
    mark(T, "topology up");
    let (have, summaries) = lab.drive(|h| {
        let have = kernel_schedulers(h);
        let mut src = Sources::new(64);
        let out = vec![rr(h, &mut src), wrr(h, &mut src)];
        (have, out)
    });
    mark(T, "traffic done");
    let names: Vec<String> = have
        .iter()
        .map(|(k, ok)| format!("{k}{}", if *ok { "" } else { " (absent)" }))
        .collect();
    mark(T, &format!("kernel schedulers: {}", names.join(" ")));
    for (k, ok) in &have {
        assert!(
            !ok || COVERED.contains(k) || *k == SchedulerKind::Twos,
            "the kernel has {k}, which this file does not check"
        );
    }
    assert!(
        have.iter()
            .filter(|(k, _)| COVERED.contains(k))
            .all(|(_, ok)| *ok),
        "a scheduler this file checks is missing from the kernel: {names:?}"
    );
    report(T, &summaries);
}

// ----- sh, mh, dh -------------------------------------------------------------------

fn flags(fallback: bool, port: bool) -> HashFlags {
    HashFlags { fallback, port }
}

/// A hashing scenario on an address service: `port_flag` decides whether
/// clients use explicit, varied ports (several per address) or any port.
fn hashing(
    h: &mut Handle,
    src: &mut Sources,
    name: &str,
    vport: u16,
    sched: Scheduler,
    script: impl FnOnce(&mut Scenario, &mut dyn FnMut(&mut Scenario, usize)),
) -> Summary {
    let port_flag = sched.hash_flags().is_some_and(|f| f.port);
    let mut s = Scenario::inet(h, name, vport, sched, false);
    let mut i = 0u32;
    let mut run = |s: &mut Scenario, n: usize| {
        for _ in 0..n {
            let from = if port_flag {
                // Five ports per address.
                let a = src.port(i / 5);
                i += 1;
                a
            } else {
                src.any()
            };
            s.connect(from, vip(vport), false);
        }
    };
    script(&mut s, &mut run);
    s.finish()
}

fn sh_scenarios(h: &mut Handle, src: &mut Sources) -> Vec<Summary> {
    vec![
        hashing(
            h,
            src,
            "sh",
            1101,
            Scheduler::Sh(flags(false, false)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 2), (3, 1), (4, 3)]);
                run(s, 200);
                s.weight(be(2), 5);
                run(s, 80);
                s.remove(be(3));
                s.add(DestSpec::new(be(5), 2));
                run(s, 80);
                // Weight 0: the table keeps one bucket per turn for it, and
                // without fallback its clients are refused.
                s.weight(be(1), 0);
                run(s, 100);
            },
        ),
        hashing(
            h,
            src,
            "sh (sh-port)",
            1102,
            Scheduler::Sh(flags(false, true)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 1), (3, 2), (4, 1)]);
                run(s, 150);
                s.weight(be(3), 0);
                run(s, 75);
            },
        ),
        hashing(
            h,
            src,
            "sh (sh-fallback)",
            1103,
            Scheduler::Sh(flags(true, false)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 2), (3, 1), (4, 1)]);
                run(s, 60);
                s.weight(be(2), 0);
                run(s, 120);
                // OVERLOAD: the next connection to 4 reaches the threshold,
                // then its clients fall back.
                s.thresholds(be(4), 2, 0);
                run(s, 120);
            },
        ),
        hashing(
            h,
            src,
            "sh (sh-fallback,sh-port)",
            1104,
            Scheduler::Sh(flags(true, true)),
            |s, run| {
                s.add_all(&[(1, 2), (2, 1), (3, 1), (4, 1)]);
                run(s, 60);
                s.weight(be(3), 0);
                s.thresholds(be(1), 3, 0);
                run(s, 120);
            },
        ),
    ]
}

fn mh_scenarios(h: &mut Handle, src: &mut Sources) -> Vec<Summary> {
    vec![
        hashing(
            h,
            src,
            "mh",
            1201,
            Scheduler::Mh(flags(false, false)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 1), (3, 2), (4, 1)]);
                run(s, 200);
                s.add(DestSpec::new(be(5), 1));
                run(s, 80);
                s.remove(be(2));
                run(s, 80);
                s.weight(be(3), 3);
                run(s, 80);
                // Weight 0 keeps last_weight: the table stays, its clients are
                // refused.
                s.weight(be(1), 0);
                run(s, 100);
                s.add(DestSpec::new(be(2), 4));
                run(s, 50);
            },
        ),
        hashing(
            h,
            src,
            "mh (mh-port)",
            1202,
            Scheduler::Mh(flags(false, true)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 1), (3, 2), (4, 1)]);
                run(s, 150);
                s.remove(be(1));
                run(s, 75);
            },
        ),
        hashing(
            h,
            src,
            "mh (mh-fallback)",
            1203,
            Scheduler::Mh(flags(true, false)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
                run(s, 60);
                s.weight(be(2), 0);
                run(s, 120);
                s.thresholds(be(4), 2, 0);
                run(s, 120);
            },
        ),
        hashing(
            h,
            src,
            "mh (mh-fallback,mh-port)",
            1204,
            Scheduler::Mh(flags(true, true)),
            |s, run| {
                s.add_all(&[(1, 1), (2, 2), (3, 1), (4, 1)]);
                run(s, 60);
                s.weight(be(3), 0);
                s.thresholds(be(2), 3, 0);
                run(s, 120);
                s.add(DestSpec::new(be(5), 1));
                run(s, 50);
            },
        ),
    ]
}

/// `dh` keys on the packet's destination address: a firewall-mark service
/// over the 254 VIPs of 10.99.0.0/24.
fn dh(h: &mut Handle, src: &mut Sources) -> Summary {
    let mut s = Scenario::fwmark(h, "dh (fwmark, 254 VIPs)", 7, Scheduler::Dh, false);
    let run = |s: &mut Scenario, src: &mut Sources, step: usize| {
        for k in (1..=254u8).step_by(step) {
            s.connect(src.any(), marked_vip(7, k, 80), false);
        }
    };
    s.add_all(&[(1, 1), (2, 1), (3, 1), (4, 1)]);
    run(&mut s, src, 1);
    s.remove(be(2));
    s.add(DestSpec::new(be(5), 1));
    run(&mut s, src, 1);
    // Weight 0 (dh keeps its table on an edit), then a weight-0 addition
    // (the table is rebuilt): the VIPs of both are refused.
    s.weight(be(3), 0);
    s.add(DestSpec::new(be(6), 0));
    run(&mut s, src, 2);
    s.finish()
}

/// `sh` with and without its flags, and `dh` over 254 VIPs: hundreds of
/// client addresses (and ports where the port flag is set), weight edits,
/// weight 0, an upper threshold, adds and removals.
#[test]
fn hashing_sh_and_dh_match_the_model_for_every_client() {
    require_ipvs_kernel();
    const T: &str = "sh/dh";
    mark(T, "start");
    let lab = Lab::new("ssh", 6, 400);
    mark(T, "topology up");
    let summaries = lab.drive(|h| {
        let mut src = Sources::new(400);
        let mut out = sh_scenarios(h, &mut src);
        out.push(dh(h, &mut src));
        out
    });
    mark(T, "traffic done");
    report(T, &summaries);
}

/// `mh` with and without its flags, as above. (A separate test from `sh`,
/// so that the two run in parallel.)
#[test]
fn hashing_mh_matches_the_model_for_every_client() {
    require_ipvs_kernel();
    const T: &str = "mh";
    mark(T, "start");
    let lab = Lab::new("smh", 6, 400);
    mark(T, "topology up");
    let summaries = lab.drive(|h| mh_scenarios(h, &mut Sources::new(400)));
    mark(T, "traffic done");
    report(T, &summaries);
}

// ----- lc, wlc, sed, nq, fo, ovf, lblc, lblcr -----------------------------------

/// Long-lived connections with closes (active -> inactive), weight edits,
/// thresholds set, changed and removed, removals and re-adds (a removed
/// destination comes back from the trash with its connections); the
/// counters are compared before every connection.
fn least(h: &mut Handle, src: &mut Sources, kind: SchedulerKind, vport: u16) -> Summary {
    let sched = Scheduler::from_name(kind.name()).expect("a kernel name");
    let mut s = Scenario::inet(h, kind.name(), vport, sched, true);
    let dst = vip(vport);
    let run = |s: &mut Scenario, src: &mut Sources, n: usize| {
        for _ in 0..n {
            s.connect(src.any(), dst, true);
        }
    };
    // ovf admits up to `weight` active connections per destination.
    let w = if kind == SchedulerKind::Ovf {
        [2, 3, 4]
    } else {
        [1, 2, 3]
    };
    s.add_all(&[(1, w[0]), (2, w[1]), (3, w[2]), (4, 0)]);
    run(&mut s, src, 10);
    for i in [5, 3, 0] {
        s.close_held(i);
    }
    run(&mut s, src, 4);
    s.weight(be(2), 4);
    s.thresholds(be(3), 5, 0);
    run(&mut s, src, 6);
    s.remove(be(1));
    run(&mut s, src, 4);
    s.add(DestSpec::new(be(1), w[0]));
    s.weight(be(4), 2);
    run(&mut s, src, 4);
    for _ in 0..4 {
        s.close_held(0);
    }
    run(&mut s, src, 5);
    // More churn: closes spread over the held connections, then new ones
    // after each edit (a threshold pair with an explicit lower bound, its
    // removal, a removal and a re-add, weight changes).
    for round in 0..4 {
        for k in 0..3 {
            let n = s.held.len();
            if n > 0 {
                s.close_held((round * 7 + k * 5) % n);
            }
        }
        match round {
            0 => {
                s.weight(be(4), 1);
                s.thresholds(be(2), 12, 8);
            }
            1 => {
                s.weight(be(3), 5);
                s.thresholds(be(3), 0, 0);
            }
            2 => s.remove(be(2)),
            _ => {
                s.add(DestSpec::new(be(2), 3));
                s.weight(be(1), 6);
            }
        }
        run(&mut s, src, 8);
    }
    s.finish()
}

/// The weight of an active connection against an inactive one in the
/// connection overhead of `wlc` (shared with `lc`, `lblc`, `lblcr`): `A`
/// (first in the list, weight `ratio`) holds one active connection, `B`
/// (weight 1) one inactive. `A` keeps the next connection only if an
/// active connection weighs at most `ratio` inactive ones: with ratios 256
/// and 257 this pins the factor (256 in older kernels, 257 with
/// `(activeconns << 8) + totalconns`).
fn overhead_ratio(h: &mut Handle, src: &mut Sources, ratio: u32, vport: u16) -> Summary {
    let name = format!("wlc (1 active vs 1 inactive, w {ratio}:1)");
    let mut s = Scenario::inet(h, &name, vport, Scheduler::Wlc, true);
    let dst = vip(vport);
    // List A, B; A quiesced so that the first connection goes to B.
    s.add(DestSpec::new(be(2), 1));
    s.add(DestSpec::new(be(1), 0));
    s.connect(src.any(), dst, false);
    s.weight(be(1), ratio);
    for _ in 0..6 {
        s.connect(src.any(), dst, true);
    }
    s.finish()
}

/// `lblc`/`lblcr` key on the packet's destination: a firewall-mark
/// service over six VIPs, long-lived connections spread over them.
fn locality(h: &mut Handle, src: &mut Sources, kind: SchedulerKind, mark: u32) -> Summary {
    let sched = Scheduler::from_name(kind.name()).expect("a kernel name");
    let name = format!("{kind} (fwmark, 6 VIPs)");
    let mut s = Scenario::fwmark(h, &name, mark, sched, true);
    let mut k = 0u8;
    let mut run = |s: &mut Scenario, src: &mut Sources, n: usize| {
        for _ in 0..n {
            s.connect(src.any(), marked_vip(mark, 1 + k % 6, 80), true);
            k = k.wrapping_add(1);
        }
    };
    s.add_all(&[(1, 1), (2, 2), (3, 3)]);
    run(&mut s, src, 24);
    for i in (0..6).rev() {
        s.close_held(i * 3);
    }
    run(&mut s, src, 12);
    s.weight(be(2), 0);
    run(&mut s, src, 8);
    s.remove(be(3));
    run(&mut s, src, 8);
    s.add(DestSpec::new(be(4), 5));
    run(&mut s, src, 8);
    s.finish()
}

/// The schedulers that read connection counts, with long-lived connections
/// so that the counts are known (and checked) before every connection.
#[test]
fn least_connection_schedulers_match_the_model_with_held_connections() {
    require_ipvs_kernel();
    const T: &str = "lc/wlc/sed/nq/fo/ovf/lblc/lblcr";
    mark(T, "start");
    let lab = Lab::new("slc", 4, 128);
    mark(T, "topology up");
    let summaries = lab.drive(|h| {
        let mut src = Sources::new(128);
        let mut out: Vec<Summary> = [
            SchedulerKind::Lc,
            SchedulerKind::Wlc,
            SchedulerKind::Sed,
            SchedulerKind::Nq,
            SchedulerKind::Fo,
            SchedulerKind::Ovf,
        ]
        .into_iter()
        .enumerate()
        .map(|(i, k)| least(h, &mut src, k, 1301 + i as u16))
        .collect();
        out.push(overhead_ratio(h, &mut src, 256, 1311));
        out.push(overhead_ratio(h, &mut src, 257, 1312));
        out.push(locality(h, &mut src, SchedulerKind::Lblc, 8));
        out.push(locality(h, &mut src, SchedulerKind::Lblcr, 9));
        out
    });
    mark(T, "traffic done");
    report(T, &summaries);
}
