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
//! all backend addresses and answers each request with the address it
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
//! - Firewall-mark services over several VIPs (`dh`, `lblc`, `lblcr`): the
//!   (client, VIP) pairs that move after a change are exactly those
//!   `moved_packets` names.
//! - SCTP (`lc`, `wlc`): associations that complete (active) and that
//!   never do (a backend whose COOKIE ACKs the director drops: inactive,
//!   half-open), each pick and the counters as the model says.
//! - Time: with short `ipvsadm --set` timeouts, UDP flows and established
//!   TCP connections expire as `Simulation::advance_to` says, checked
//!   against the kernel's table and counters before and well after each
//!   expiry.
//! - Resync: connections the model is not told about make it diverge
//!   (counters, the `lblc` cache, persistence templates); recording the
//!   kernel's connection table (`Simulation::record_connection`) brings
//!   it back in step, and a copy without the resync shows it was needed.
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
use std::io;
use std::mem::ManuallyDrop;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use lvs::sched::{
    ConnId, KernelParams, MODELLED_SCHEDULERS, Outcome, Packet, Simulation, Via, moved_packets,
};
use lvs::{
    AddressFamily, ConnState, Destination, Handle, HashFlags, Protocol, Scheduler, Service,
    ServiceKey, Thresholds,
};
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

// ----- topology ---------------------------------------------------------------
//
// Under QEMU without KVM every process costs about a second: one `ip
// -batch` makes the namespaces and links, one per namespace sets its
// addresses and routes, one `tc -batch` marks packets; sysctls are written
// from a thread inside the namespace.

/// Client, director and backend namespaces wired for IPVS NAT (see the
/// module documentation), with the backend server running.
struct Lab {
    client: ManuallyDrop<Netns>,
    director: ManuallyDrop<Netns>,
    backends: ManuallyDrop<Netns>,
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
        TcpBackend::start(
            &backends_ns,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, BACKEND_PORT)),
            Answer::LocalAddr,
        );
        Lab {
            client,
            director,
            backends: backends_ns,
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

// ----- client ------------------------------------------------------------------

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

/// How long a UDP client waits for an answer before it counts the
/// datagram as dropped (answers take milliseconds, even in the guest).
const UDP_WAIT: Duration = Duration::from_secs(3);

/// A UDP client socket on client address `i`.
fn udp_client(i: u32) -> UdpSocket {
    let s = UdpSocket::bind((client_ip(i), 0))
        .unwrap_or_else(|e| panic!("UDP socket on {}: {e}", client_ip(i)));
    s.set_read_timeout(Some(UDP_WAIT))
        .unwrap_or_else(|e| panic!("UDP timeout: {e}"));
    s
}

/// One datagram to `to`: the address the answer names.
fn udp_ask(sock: &UdpSocket, to: SocketAddr) -> io::Result<SocketAddr> {
    sock.send_to(b"ping\n", to)?;
    let mut buf = [0u8; 128];
    let n = sock.recv(&mut buf)?;
    let line = String::from_utf8_lossy(&buf[..n]);
    line.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}: {e}")))
}

/// UDP servers on backends `1..=n`, each answering every datagram with its
/// own address (the destination IPVS chose).
fn start_udp_backends(ns: &Netns, n: u8) {
    for i in 1..=n {
        let sock = ns
            .run(move || UdpSocket::bind(be(i)))
            .unwrap_or_else(|e| panic!("UDP bind {} in {}: {e}", be(i), ns.name));
        std::thread::spawn(move || {
            let mut buf = [0u8; 128];
            while let Ok((_, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(format!("{}\n", be(i)).as_bytes(), from);
            }
        });
    }
}

// ----- one scenario: a service in the kernel and its model ------------------------

/// What the kernel did with one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kernel {
    /// Answered by this destination.
    To(SocketAddr),
    /// Refused (no destination available: ICMP port unreachable).
    Refused,
    /// No answer before the timeout (the packet was dropped).
    Silent,
    /// Reset (the packet reached the director's own stack).
    Reset,
    /// Anything else (timeout, reset, bad answer).
    Error(String),
}

impl Kernel {
    /// What a request that got `r` tells about the kernel.
    fn of(r: io::Result<SocketAddr>) -> Kernel {
        match r {
            Ok(to) => Kernel::To(to),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Kernel::Silent
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Kernel::Refused,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Kernel::Reset,
            Err(e) => Kernel::Error(e.to_string()),
        }
    }
}

/// A long-lived connection and the model's twin.
struct Held {
    client: TcpClient,
    conn: Option<ConnId>,
    /// The connection's packet (client address, VIP).
    packet: Packet,
    /// Its twin in the scenario's naive model, if any.
    naive: Option<ConnId>,
}

/// The outcome of one scenario.
struct Summary {
    name: String,
    elapsed: Duration,
    connections: usize,
    matched: usize,
    refused: usize,
    mismatches: Vec<String>,
    /// Resync cases: connections after the resync, and how many of them a
    /// copy of the model that was not resynced predicted.
    stale: Option<(usize, usize)>,
    /// Extra lines for the report.
    notes: Vec<String>,
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
        if let Some((n, ok)) = self.stale {
            write!(
                f,
                "\n    without the resync the model would have predicted {ok}/{n} of the \
                 connections after it"
            )?;
        }
        for n in &self.notes {
            write!(f, "\n    {n}")?;
        }
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
    /// A copy of the model that was not resynced, fed the same
    /// connections: (model, connections, agreed).
    stale: Option<(Simulation, usize, usize)>,
    /// Connections made behind the model's back, kept open.
    unseen: Vec<TcpClient>,
    /// SCTP associations whose handshake never completes, kept open.
    half_open: Vec<OwnedFd>,
    /// A copy of the model that counts SCTP associations active from their
    /// INIT (as it did before), fed the same associations: (model,
    /// associations, agreed).
    naive: Option<(Simulation, usize, usize)>,
    notes: Vec<String>,
}

impl<'h> Scenario<'h> {
    /// `svc` in the kernel and in a model built from the same value.
    fn new(h: &'h mut Handle, name: String, svc: &Service, counts: bool) -> Self {
        Self::with_params(h, name, svc, counts, KernelParams::default())
    }

    /// As [`Scenario::new`], with the kernel's sysctls in `params`.
    fn with_params(
        h: &'h mut Handle,
        name: String,
        svc: &Service,
        counts: bool,
        params: KernelParams,
    ) -> Self {
        h.add_service(svc)
            .unwrap_or_else(|e| panic!("{name}: add service {}: {e}", svc.key));
        let sim =
            Simulation::with_params(svc, params).unwrap_or_else(|e| panic!("{name}: model: {e}"));
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
            stale: None,
            unseen: Vec::new(),
            half_open: Vec::new(),
            naive: None,
            notes: Vec::new(),
        }
    }

    fn step(&mut self, what: String) {
        self.steps.push(what);
    }

    /// NEW_DEST in both.
    fn add(&mut self, d: Destination) {
        self.h
            .add_destination(&self.key, &d)
            .unwrap_or_else(|e| panic!("{}: add {}: {e}", self.name, d.addr));
        self.sim
            .add_destination(d)
            .unwrap_or_else(|e| panic!("{}: model add {}: {e}", self.name, d.addr));
        self.step(format!("add {} w{}", d.addr.ip(), d.weight));
    }

    /// SET_DEST in both.
    fn update(&mut self, d: Destination) {
        self.h
            .update_destination(&self.key, &d)
            .unwrap_or_else(|e| panic!("{}: update {}: {e}", self.name, d.addr));
        self.sim
            .update_destination(d)
            .unwrap_or_else(|e| panic!("{}: model update {}: {e}", self.name, d.addr));
        if let Some((m, _, _)) = self.naive.as_mut() {
            let _ = m.update_destination(d);
        }
        self.step(format!(
            "set {} w{} u{} l{}",
            d.addr.ip(),
            d.weight,
            d.upper_threshold,
            d.lower_threshold
        ));
    }

    /// The configuration of a linked destination, as the model has it.
    fn config(&self, addr: SocketAddr) -> Destination {
        let d = self
            .sim
            .destination(addr)
            .unwrap_or_else(|| panic!("{}: no destination {addr}", self.name));
        Destination::new(addr)
            .with_weight(d.weight().max(0) as u32)
            .with_thresholds(d.thresholds())
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
        kernel.sort();
        (kernel, model_counts(&self.sim))
    }

    /// Wait until the kernel's counters equal the model's; a lasting
    /// difference is a mismatch and stops the scenario.
    fn sync_counts(&mut self) {
        let diverged = poll(COUNT_WAIT, || {
            let (kernel, model) = self.counters();
            if kernel == model {
                Ok(())
            } else {
                Err(format!("kernel {kernel:?} model {model:?}"))
            }
        });
        if let Err(last) = diverged {
            let msg = format!(
                "connection counters (addr, active, inactive) differ after {COUNT_WAIT:?}: \
                 {last} after [{}]",
                self.recent_steps()
            );
            self.mismatches.push(msg);
            self.stopped = true;
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
    fn connect(&mut self, src: SocketAddr, dst: SocketAddr, hold: bool) -> Option<SocketAddr> {
        if self.stopped {
            return None;
        }
        if self.counts {
            self.sync_counts();
            if self.stopped {
                return None;
            }
        }
        let (sock, me) = bound_socket(src)
            .unwrap_or_else(|e| panic!("{}: socket bound to {src}: {e}", self.name));
        // Every service here is TCP (a firewall-mark service's default).
        let predicted = self.sim.connect_to(me, dst);
        let stale = self
            .stale
            .as_mut()
            .map(|(m, _, _)| m.connect_to(me, dst).addr);
        let mut client = None;
        let kernel = match rustix::net::connect(&sock, &dst) {
            Ok(()) => match TcpClient::from_stream(sock).and_then(|mut c| {
                let to = c.ask()?;
                client = Some(c);
                Ok(to)
            }) {
                Ok(to) => Kernel::To(to),
                Err(e) => Kernel::Error(format!("no answer: {e}")),
            },
            Err(rustix::io::Errno::CONNREFUSED) => Kernel::Refused,
            Err(e) => Kernel::Error(format!("connect: {e}")),
        };
        self.judge(format!("{me} -> {dst}"), &predicted, &kernel);
        let answered = match kernel {
            Kernel::To(to) => Some(to),
            _ => None,
        };
        if let Some((_, n, ok)) = self.stale.as_mut() {
            *n += 1;
            if stale == Some(answered) {
                *ok += 1;
            }
        }
        if let Kernel::To(to) = kernel {
            self.last = Some(to);
            if let Some(c) = predicted.conn {
                self.set_state(c, ConnState::Established);
            }
            if let (true, Some(c)) = (hold, client.take()) {
                self.held.push(Held {
                    client: c,
                    conn: predicted.conn,
                    packet: Packet::new(Protocol::Tcp, me, dst),
                    naive: None,
                });
                return answered;
            }
        }
        drop(client);
        if let Some(c) = predicted.conn {
            self.set_state(c, closed_state(Protocol::Tcp));
        }
        answered
    }

    /// A packet moved model connection `c` to `state`.
    fn set_state(&mut self, c: ConnId, state: ConnState) {
        self.sim
            .set_state(c, &state)
            .unwrap_or_else(|e| panic!("{}: model: {e}", self.name));
    }

    /// A long-lived connection from `src` to `dst` that the model is not
    /// told about (as if another director, or the model's start from a
    /// table, had missed it).
    fn connect_unseen(&mut self, src: SocketAddr, dst: SocketAddr) {
        let (sock, _) = bound_socket(src)
            .unwrap_or_else(|e| panic!("{}: socket bound to {src}: {e}", self.name));
        rustix::net::connect(&sock, &dst)
            .unwrap_or_else(|e| panic!("{}: unseen connect to {dst}: {e}", self.name));
        let mut c = TcpClient::from_stream(sock)
            .unwrap_or_else(|e| panic!("{}: unseen connection: {e}", self.name));
        c.ask()
            .unwrap_or_else(|e| panic!("{}: unseen answer: {e}", self.name));
        self.unseen.push(c);
        self.step(format!("unseen -> {dst}"));
    }

    /// SET_DEST of these `(backend, weight)`s in both.
    fn set_weights(&mut self, weights: &[(u8, u32)]) {
        for &(i, w) in weights {
            let d = self.config(be(i)).with_weight(w);
            self.update(d);
        }
    }

    /// Resync: read the kernel's connection table and record every
    /// connection of this service in the model
    /// ([`Simulation::record_connection`]). A copy of the model from before
    /// goes on alongside, to show what the resync changed.
    fn resync(&mut self, owns: impl Fn(SocketAddr) -> bool) {
        let (kernel, model) = self.counters();
        self.notes.push(format!(
            "before the resync the counters (addr, active, inactive) {}: kernel {kernel:?} \
             model {model:?}",
            if kernel == model { "agree" } else { "differ" }
        ));
        self.stale = Some((self.sim.clone(), 0, 0));
        let table = self
            .h
            .connections()
            .unwrap_or_else(|e| panic!("{}: connection table: {e}", self.name));
        let mut recorded = 0;
        let mut new = 0;
        for c in table
            .iter()
            .filter(|c| !c.is_template() && owns(c.virtual_addr))
        {
            let pkt = self.sim.packet_to(c.client, c.virtual_addr);
            let o = self
                .sim
                .record_connection(&pkt, c.destination, &c.state)
                .unwrap_or_else(|e| panic!("{}: record {c:?}: {e}", self.name));
            recorded += 1;
            if o.via != Via::Existing {
                new += 1;
            }
        }
        self.notes.push(format!(
            "resync: {recorded} kernel connections recorded, {new} of them new to the model"
        ));
        self.step("resync".into());
        // The counters must now agree.
        self.sync_counts();
    }

    /// Compare the fate of one packet (`what`): the model's `predicted`
    /// against what the kernel did.
    fn judge(&mut self, what: String, predicted: &Outcome, kernel: &Kernel) {
        self.connections += 1;
        let n = self.connections;
        let agree = match (predicted.via, predicted.addr, kernel) {
            (Via::Dropped, _, k) => *k == Kernel::Silent,
            (Via::NotScheduled, None, Kernel::Reset) => true,
            (_, Some(p), Kernel::To(k)) => p == *k,
            (_, None, Kernel::Refused) => {
                self.refused += 1;
                true
            }
            _ => false,
        };
        if agree {
            self.matched += 1;
        } else {
            self.mismatches.push(format!(
                "#{n} {what}: model {:?} ({:?}), kernel {kernel:?}, after [{}]",
                predicted.addr,
                predicted.via,
                self.recent_steps()
            ));
        }
    }

    /// One more request on every held connection (a TCP segment without
    /// SYN): answered on the connection, dropped, or reset, as the model
    /// says. Reset connections are gone on both sides and let go.
    fn resend_held(&mut self) {
        let mut i = 0;
        while i < self.held.len() {
            let pkt = self.held[i].packet;
            let predicted = self.sim.flow_packet(&pkt);
            let kernel = Kernel::of(self.held[i].client.ask());
            self.judge(
                format!("held {} -> {} (no SYN)", pkt.src, pkt.dst),
                &predicted,
                &kernel,
            );
            if kernel == Kernel::Reset {
                self.held.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// One UDP datagram from `sock` to `dst` (every datagram may open a
    /// connection); the answer names the destination.
    fn datagram(&mut self, sock: &UdpSocket, dst: SocketAddr) {
        let me = sock
            .local_addr()
            .unwrap_or_else(|e| panic!("{}: UDP socket: {e}", self.name));
        let predicted = self
            .sim
            .connect_packet(&Packet::new(Protocol::Udp, me, dst));
        let kernel = Kernel::of(udp_ask(sock, dst));
        self.judge(format!("UDP {me} -> {dst}"), &predicted, &kernel);
    }

    /// Close held connection `i` (client first): it turns inactive.
    fn close_held(&mut self, i: usize) {
        let held = self.held.remove(i);
        let (conn, protocol) = (held.conn, held.packet.protocol);
        if let (Some((m, _, _)), Some(c)) = (self.naive.as_mut(), held.naive) {
            let _ = m.set_state(c, &closed_state(protocol));
        }
        drop(held);
        if let Some(c) = conn {
            self.set_state(c, closed_state(protocol));
        }
        self.step(format!("close held #{i}"));
    }

    fn finish(mut self) -> Summary {
        if self.counts && !self.stopped {
            self.sync_counts();
        }
        if let Some((_, n, ok)) = self.naive {
            self.notes.push(format!(
                "{} associations stayed half-open; a model counting SCTP active from the INIT \
                 would have predicted {ok}/{n}",
                self.half_open.len()
            ));
            if ok == n {
                self.mismatches
                    .push("the active/inactive split did not change any pick".into());
            }
        }
        self.held.clear();
        self.unseen.clear();
        self.half_open.clear();
        if let Some((_, n, ok)) = &self.stale
            && ok == n
        {
            self.mismatches.push(format!(
                "the divergence did not show: the model without the resync also predicted \
                 {ok}/{n}"
            ));
        }
        Summary {
            name: self.name,
            elapsed: self.started.elapsed(),
            connections: self.connections,
            matched: self.matched,
            refused: self.refused,
            mismatches: self.mismatches,
            stale: self.stale.map(|(_, n, ok)| (n, ok)),
            notes: self.notes,
        }
    }
}

/// The state a connection the client closed first ends in, as the kernel
/// names it: TCP TIME_WAIT (after CLOSE_WAIT), SCTP CLOSED (after the
/// SHUTDOWN exchange); both inactive.
/// The model's (destination, active, inactive) counters, sorted: what
/// the kernel's destination dump is compared with.
fn model_counts(sim: &Simulation) -> Vec<(SocketAddr, u32, u32)> {
    let mut counts: Vec<_> = sim
        .destinations()
        .into_iter()
        .filter_map(|a| sim.destination(a))
        .map(|d| {
            (
                d.addr(),
                d.active_conns().max(0) as u32,
                d.inactive_conns().max(0) as u32,
            )
        })
        .collect();
    counts.sort();
    counts
}

fn closed_state(protocol: Protocol) -> ConnState {
    match protocol {
        Protocol::Sctp => ConnState::from_name("CLOSED"),
        _ => ConnState::TimeWait,
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

// ----- the cases: (name, scheduler, service, clients, steps) -----------------------

/// The virtual service of a case.
#[derive(Debug, Clone, Copy)]
enum Vs {
    /// TCP on the VIP at this port.
    Port(u16),
    /// Firewall mark (IPv4): packets to its marked /24.
    Mark(u32),
}

/// Where a case's connections come from and go to.
#[derive(Debug, Clone, Copy)]
enum Clients {
    /// The next client address, any port, to the VIP (or to VIP 1 of the
    /// marked range).
    Any,
    /// Five fresh explicit ports per client address (the port flag hashes
    /// them), to the VIP.
    Ports,
    /// The next client address, to marked VIPs `1..=n` in turn.
    Vips(u8),
}

/// One step of a case. Destinations are backend indexes ([`be`]).
#[derive(Debug, Clone)]
enum Step {
    /// NEW_DEST of `(backend, weight)`, in this order.
    Add(Vec<(u8, u32)>),
    /// SET_DEST of the weight only.
    Weight(u8, u32),
    /// SET_DEST of the thresholds only.
    Limits { dest: u8, lower: u32, upper: u32 },
    /// DEL_DEST.
    Remove(u8),
    /// `n` connections, each closed by the client at once.
    Shot(usize),
    /// `n` long-lived connections.
    Hold(usize),
    /// One connection to every `stride`-th marked VIP of `1..=254`.
    Sweep(usize),
    /// Close held connection `i`.
    Close(usize),
    /// Close three held connections spread over the list (round `r` of a
    /// churn: positions `(7r + 5k) mod len`, `k = 0..3`).
    CloseSpread(usize),
    /// DEL_DEST of the destination that answered last (the round-robin
    /// cursor); it is remembered.
    RemoveLast,
    /// NEW_DEST of the remembered destination (revived from the trash, at
    /// the list head) with this weight.
    AddRemembered(u32),
    /// DEL_DEST of the first listed destination that did not answer last.
    RemoveHeadNotLast,
    /// DEL_DEST of the last listed destination.
    RemoveTail,
    /// Weight 0 on every destination.
    ZeroAll,
    /// SET_DEST of the list head's weight.
    WeightHead(u32),
}

/// A scheduler scenario: a service in the kernel and its model, and the
/// steps both go through.
struct Case {
    name: String,
    scheduler: Scheduler,
    vs: Vs,
    clients: Clients,
    /// Compare the connection counters before every connection.
    counts: bool,
    steps: Vec<Step>,
}

use Step::*;

fn case(name: impl Into<String>, scheduler: Scheduler, vs: Vs, steps: Vec<Step>) -> Case {
    Case {
        name: name.into(),
        scheduler,
        vs,
        clients: Clients::Any,
        counts: false,
        steps,
    }
}

fn flags(fallback: bool, port: bool) -> HashFlags {
    HashFlags { fallback, port }
}

/// Run one case in its own service.
fn run_case(h: &mut Handle, src: &mut Sources, case: &Case) -> Summary {
    let (key, mark) = match case.vs {
        Vs::Port(p) => (ServiceKey::tcp(vip(p)), None),
        Vs::Mark(m) => (ServiceKey::fwmark(AddressFamily::Inet, m), Some(m)),
    };
    let svc = Service::new(key).with_scheduler(case.scheduler.clone());
    let mut s = Scenario::new(h, case.name.clone(), &svc, case.counts);
    let dst_default = match case.vs {
        Vs::Port(p) => vip(p),
        Vs::Mark(m) => marked_vip(m, 1, 80),
    };
    // Per-case client counters: explicit-port clients, marked VIPs.
    let (mut with_port, mut next_vip) = (0u32, 0u8);
    let mut remembered = None;
    let mut conn = |s: &mut Scenario, src: &mut Sources, hold: bool| {
        let (from, to) = match (case.clients, mark) {
            (Clients::Ports, _) => {
                let a = src.port(with_port / 5);
                with_port += 1;
                (a, dst_default)
            }
            (Clients::Vips(n), Some(m)) => {
                let to = marked_vip(m, 1 + next_vip % n, 80);
                next_vip = next_vip.wrapping_add(1);
                (src.any(), to)
            }
            _ => (src.any(), dst_default),
        };
        s.connect(from, to, hold);
    };
    for step in &case.steps {
        match step {
            Add(dests) => {
                for &(i, w) in dests {
                    s.add(Destination::new(be(i)).with_weight(w));
                }
            }
            Weight(i, w) => {
                let d = s.config(be(*i)).with_weight(*w);
                s.update(d);
            }
            Limits { dest, lower, upper } => {
                let d = s.config(be(*dest)).with_thresholds(Thresholds {
                    upper: *upper,
                    lower: *lower,
                });
                s.update(d);
            }
            Remove(i) => s.remove(be(*i)),
            Shot(n) => (0..*n).for_each(|_| conn(&mut s, src, false)),
            Hold(n) => (0..*n).for_each(|_| conn(&mut s, src, true)),
            Sweep(stride) => {
                let m = mark.expect("a sweep needs a firewall-mark service");
                for k in (1..=254u8).step_by(*stride) {
                    s.connect(src.any(), marked_vip(m, k, 80), false);
                }
            }
            Close(i) => s.close_held(*i),
            CloseSpread(round) => {
                for k in 0..3 {
                    let n = s.held.len();
                    if n > 0 {
                        s.close_held((round * 7 + k * 5) % n);
                    }
                }
            }
            RemoveLast => {
                let last = s.last.expect("an answer");
                s.remove(last);
                remembered = Some(last);
            }
            AddRemembered(w) => {
                s.add(Destination::new(remembered.expect("a removed destination")).with_weight(*w))
            }
            RemoveHeadNotLast => {
                let last = s.last.expect("an answer");
                if let Some(d) = s.sim.destinations().into_iter().find(|d| *d != last) {
                    s.remove(d);
                }
            }
            RemoveTail => {
                let list = s.sim.destinations();
                s.remove(*list.last().expect("a destination"));
            }
            ZeroAll => {
                for d in s.sim.destinations() {
                    let d = s.config(d).with_weight(0);
                    s.update(d);
                }
            }
            WeightHead(w) => {
                let head = s.sim.destinations()[0];
                let d = s.config(head).with_weight(*w);
                s.update(d);
            }
        }
    }
    s.finish()
}

/// Run `cases` in one lab, one after the other.
fn run_cases(test: &str, tag: &str, backends: u8, clients: u32, cases: Vec<Case>) {
    require_ipvs_kernel();
    mark(test, "start");
    let lab = Lab::new(tag, backends, clients);
    mark(test, "topology up");
    let summaries = lab.drive(move |h| {
        let mut src = Sources::new(clients);
        cases
            .iter()
            .map(|c| run_case(h, &mut src, c))
            .collect::<Vec<_>>()
    });
    mark(test, "traffic done");
    report(test, &summaries);
}

// ----- rr, wrr --------------------------------------------------------------------

/// One-shot connections in sequence, with weight edits, removals (also of
/// the destination the round-robin cursor rests on) and re-adds.
#[rustfmt::skip]
fn round_robin_cases() -> Vec<Case> {
    vec![
        case("rr", Scheduler::Rr, Vs::Port(1001), vec![
            Add(vec![(1, 1), (2, 1), (3, 1), (4, 1)]), Shot(41),
            // Remove the destination the cursor rests on: the next pick is
            // its successor.
            RemoveLast, Shot(13),
            Add(vec![(5, 2)]), Shot(13),
            Weight(2, 0), Shot(13),
            Weight(2, 3), Remove(5), Shot(13),
            // Re-add the removed one (revived from the trash, at the head).
            AddRemembered(1), Shot(14),
            // Remove the head while the cursor is elsewhere, and the tail.
            RemoveHeadNotLast, Shot(7),
            RemoveTail, Shot(7),
            // Nothing with a weight: refused.
            ZeroAll, Shot(3),
            WeightHead(1), Shot(4),
        ]),
        case("wrr", Scheduler::Wrr, Vs::Port(1002), vec![
            Add(vec![(1, 4), (2, 3), (3, 2)]), Shot(45),
            Weight(2, 0), Shot(31),
            // Edits in the middle of a cycle.
            Weight(1, 6), Shot(5),
            Weight(2, 4), Weight(3, 2), Shot(37),
            Add(vec![(4, 3)]), Shot(31),
            Remove(1), Shot(29),
            // gcd 5: 10, 5, 15.
            Weight(2, 10), Weight(3, 5), Weight(4, 15), Shot(25),
            Add(vec![(1, 1)]), Shot(33),
            Weight(1, 0), Weight(2, 0), Weight(3, 0), Weight(4, 0), Shot(3),
            Weight(3, 2), Weight(4, 5), Shot(14),
        ]),
    ]
}

/// Which of the model's schedulers the kernel has: it accepts a service
/// with that scheduler. Every one it has must be covered here.
fn kernel_schedulers(h: &mut Handle) -> Vec<(Scheduler, bool)> {
    MODELLED_SCHEDULERS
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key = ServiceKey::tcp(vip(2000 + i as u16));
            let ok = h
                .add_service(&Service::new(key).with_scheduler(k.clone()))
                .is_ok();
            if ok {
                h.remove_service(&key).expect("remove the probe service");
            }
            (k.clone(), ok)
        })
        .collect()
}

/// Schedulers checked connection by connection in this file (by name).
const COVERED: [&str; 13] = [
    "rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "dh", "sh", "mh", "lblc", "lblcr",
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
        let out: Vec<Summary> = round_robin_cases()
            .iter()
            .map(|c| run_case(h, &mut src, c))
            .collect();
        (have, out)
    });
    mark(T, "traffic done");
    let names: Vec<String> = have
        .iter()
        .map(|(k, ok)| format!("{k}{}", if *ok { "" } else { " (absent)" }))
        .collect();
    mark(T, &format!("kernel schedulers: {}", names.join(" ")));
    let covered = |k: &Scheduler| COVERED.contains(&k.name());
    for (k, ok) in &have {
        assert!(
            !ok || covered(k) || *k == Scheduler::Twos,
            "the kernel has {k}, which this file does not check"
        );
    }
    assert!(
        have.iter().filter(|(k, _)| covered(k)).all(|(_, ok)| *ok),
        "a scheduler this file checks is missing from the kernel: {names:?}"
    );
    report(T, &summaries);
}

// ----- sh, mh, dh -------------------------------------------------------------------

/// A hashing case on an address service: with the port flag, clients use
/// explicit, varied ports (five per address), otherwise any port. Named
/// as ipvsadm shows the scheduler and its flags.
fn hashing(scheduler: Scheduler, vport: u16, steps: Vec<Step>) -> Case {
    let port_flag = scheduler.hash_flags().is_some_and(|f| f.port);
    Case {
        clients: if port_flag {
            Clients::Ports
        } else {
            Clients::Any
        },
        ..case(scheduler.to_string(), scheduler, Vs::Port(vport), steps)
    }
}

#[rustfmt::skip]
fn sh_cases() -> Vec<Case> {
    vec![
        hashing(Scheduler::Sh(flags(false, false)), 1101, vec![
            Add(vec![(1, 1), (2, 2), (3, 1), (4, 3)]), Shot(200),
            Weight(2, 5), Shot(80),
            Remove(3), Add(vec![(5, 2)]), Shot(80),
            // Weight 0: the table keeps one bucket per turn for it, and
            // without fallback its clients are refused.
            Weight(1, 0), Shot(100),
        ]),
        hashing(Scheduler::Sh(flags(false, true)), 1102, vec![
            Add(vec![(1, 1), (2, 1), (3, 2), (4, 1)]), Shot(150),
            Weight(3, 0), Shot(75),
        ]),
        hashing(Scheduler::Sh(flags(true, false)), 1103, vec![
            Add(vec![(1, 1), (2, 2), (3, 1), (4, 1)]), Shot(60),
            Weight(2, 0), Shot(120),
            // OVERLOAD: the next connection to 4 reaches the threshold,
            // then its clients fall back.
            Limits { dest: 4, lower: 0, upper: 2 }, Shot(120),
        ]),
        hashing(Scheduler::Sh(flags(true, true)), 1104, vec![
            Add(vec![(1, 2), (2, 1), (3, 1), (4, 1)]), Shot(60),
            Weight(3, 0), Limits { dest: 1, lower: 0, upper: 3 }, Shot(120),
        ]),
        // dh keys on the packet's destination address: a firewall-mark
        // service over the 254 VIPs of 10.99.0.0/24.
        case("dh (fwmark, 254 VIPs)", Scheduler::Dh, Vs::Mark(7), vec![
            Add(vec![(1, 1), (2, 1), (3, 1), (4, 1)]), Sweep(1),
            Remove(2), Add(vec![(5, 1)]), Sweep(1),
            // Weight 0 (dh keeps its table on an edit), then a weight-0
            // addition (the table is rebuilt): the VIPs of both are refused.
            Weight(3, 0), Add(vec![(6, 0)]), Sweep(2),
        ]),
    ]
}

#[rustfmt::skip]
fn mh_cases() -> Vec<Case> {
    vec![
        hashing(Scheduler::Mh(flags(false, false)), 1201, vec![
            Add(vec![(1, 1), (2, 1), (3, 2), (4, 1)]), Shot(200),
            Add(vec![(5, 1)]), Shot(80),
            Remove(2), Shot(80),
            Weight(3, 3), Shot(80),
            // Weight 0 keeps last_weight: the table stays, its clients are
            // refused.
            Weight(1, 0), Shot(100),
            Add(vec![(2, 4)]), Shot(50),
        ]),
        hashing(Scheduler::Mh(flags(false, true)), 1202, vec![
            Add(vec![(1, 1), (2, 1), (3, 2), (4, 1)]), Shot(150),
            Remove(1), Shot(75),
        ]),
        hashing(Scheduler::Mh(flags(true, false)), 1203, vec![
            Add(vec![(1, 1), (2, 1), (3, 1), (4, 1)]), Shot(60),
            Weight(2, 0), Shot(120),
            Limits { dest: 4, lower: 0, upper: 2 }, Shot(120),
        ]),
        hashing(Scheduler::Mh(flags(true, true)), 1204, vec![
            Add(vec![(1, 1), (2, 2), (3, 1), (4, 1)]), Shot(60),
            Weight(3, 0), Limits { dest: 2, lower: 0, upper: 3 }, Shot(120),
            Add(vec![(5, 1)]), Shot(50),
        ]),
    ]
}

/// `sh` with and without its flags, and `dh` over 254 VIPs: hundreds of
/// client addresses (and ports where the port flag is set), weight edits,
/// weight 0, an upper threshold, adds and removals.
#[test]
fn hashing_sh_and_dh_match_the_model_for_every_client() {
    run_cases("sh/dh", "ssh", 6, 400, sh_cases());
}

/// `mh` with and without its flags, as above. (A separate test from `sh`,
/// so that the two run in parallel.)
#[test]
fn hashing_mh_matches_the_model_for_every_client() {
    run_cases("mh", "smh", 6, 400, mh_cases());
}

// ----- lc, wlc, sed, nq, fo, ovf, lblc, lblcr -----------------------------------

/// Long-lived connections with closes (active -> inactive), weight edits,
/// thresholds set, changed and removed, removals and re-adds (a removed
/// destination comes back from the trash with its connections); the
/// counters are compared before every connection.
#[rustfmt::skip]
fn least(scheduler: Scheduler, vport: u16) -> Case {
    // ovf admits up to `weight` active connections per destination.
    let w = if scheduler == Scheduler::Ovf { [2, 3, 4] } else { [1, 2, 3] };
    let steps = vec![
        Add(vec![(1, w[0]), (2, w[1]), (3, w[2]), (4, 0)]), Hold(10),
        Close(5), Close(3), Close(0), Hold(4),
        Weight(2, 4), Limits { dest: 3, lower: 0, upper: 5 }, Hold(6),
        Remove(1), Hold(4),
        Add(vec![(1, w[0])]), Weight(4, 2), Hold(4),
        Close(0), Close(0), Close(0), Close(0), Hold(5),
        // More churn: closes spread over the held connections, then new
        // ones after each edit (a threshold pair with an explicit lower
        // bound, its removal, a removal and a re-add, weight changes).
        CloseSpread(0), Weight(4, 1), Limits { dest: 2, lower: 8, upper: 12 }, Hold(8),
        CloseSpread(1), Weight(3, 5), Limits { dest: 3, lower: 0, upper: 0 }, Hold(8),
        CloseSpread(2), Remove(2), Hold(8),
        CloseSpread(3), Add(vec![(2, 3)]), Weight(1, 6), Hold(8),
    ];
    Case { counts: true, ..case(scheduler.name().to_owned(), scheduler, Vs::Port(vport), steps) }
}

/// The weight of an active connection against an inactive one in the
/// connection overhead of `wlc` (shared with `lc`, `lblc`, `lblcr`): `A`
/// (first in the list, weight `ratio`) holds one active connection, `B`
/// (weight 1) one inactive. `A` keeps the next connection only if an
/// active connection weighs at most `ratio` inactive ones: with ratios 256
/// and 257 this pins the factor (256 in older kernels, 257 with
/// `(activeconns << 8) + totalconns`).
#[rustfmt::skip]
fn overhead_ratio(ratio: u32, vport: u16) -> Case {
    let name = format!("wlc (1 active vs 1 inactive, w {ratio}:1)");
    // List A, B; A quiesced so that the first connection goes to B.
    let steps = vec![Add(vec![(2, 1), (1, 0)]), Shot(1), Weight(1, ratio), Hold(6)];
    Case { counts: true, ..case(name, Scheduler::Wlc, Vs::Port(vport), steps) }
}

/// `lblc`/`lblcr` key on the packet's destination: a firewall-mark
/// service over six VIPs, long-lived connections spread over them.
#[rustfmt::skip]
fn locality(scheduler: Scheduler, mark: u32) -> Case {
    let name = format!("{scheduler} (fwmark, 6 VIPs)");
    let steps = vec![
        Add(vec![(1, 1), (2, 2), (3, 3)]), Hold(24),
        Close(15), Close(12), Close(9), Close(6), Close(3), Close(0), Hold(12),
        Weight(2, 0), Hold(8),
        Remove(3), Hold(8),
        Add(vec![(4, 5)]), Hold(8),
    ];
    Case { clients: Clients::Vips(6), counts: true, ..case(name, scheduler, Vs::Mark(mark), steps) }
}

/// The schedulers that read connection counts, with long-lived connections
/// so that the counts are known (and checked) before every connection.
#[test]
fn least_connection_schedulers_match_the_model_with_held_connections() {
    let least_family = ["lc", "wlc", "sed", "nq", "fo", "ovf"];
    let mut cases: Vec<Case> = MODELLED_SCHEDULERS
        .iter()
        .filter(|k| least_family.contains(&k.name()))
        .enumerate()
        .map(|(i, k)| least(k.clone(), 1301 + i as u16))
        .collect();
    cases.push(overhead_ratio(256, 1311));
    cases.push(overhead_ratio(257, 1312));
    cases.push(locality(Scheduler::Lblc, 8));
    cases.push(locality(Scheduler::Lblcr, 9));
    run_cases("lc/wlc/sed/nq/fo/ovf/lblc/lblcr", "slc", 4, 128, cases);
}

// ----- destinations removed under live flows -------------------------------------

/// `rr` services (TCP and UDP) with live flows when a destination is
/// removed, under `net.ipv4.vs.expire_nodest_conn` = `value`: every later
/// packet of those flows (held TCP connections sending again, UDP flows
/// sending again) and every new connection goes where the model says:
/// dropped (0), or reset / scheduled anew, moving the round-robin position
/// (1).
fn removed_under_flows(h: &mut Handle, src: &mut Sources, value: bool) -> Vec<Summary> {
    let params = KernelParams::new().with_expire_nodest_conn(value);
    let v = u16::from(value);
    let tcp = Service::new(ServiceKey::tcp(vip(1501 + v))).with_scheduler(Scheduler::Rr);
    let mut s = Scenario::with_params(
        h,
        format!("rr TCP, expire_nodest_conn={v}"),
        &tcp,
        false,
        params.clone(),
    );
    for i in 1..=3 {
        s.add(Destination::new(be(i)));
    }
    for _ in 0..6 {
        s.connect(src.any(), vip(1501 + v), true);
    }
    s.remove(be(2));
    s.resend_held();
    for _ in 0..7 {
        s.connect(src.any(), vip(1501 + v), false);
    }
    s.resend_held();
    let mut out = vec![s.finish()];

    let udp = Service::new(ServiceKey::udp(vip(1601 + v))).with_scheduler(Scheduler::Rr);
    let mut s = Scenario::with_params(
        h,
        format!("rr UDP, expire_nodest_conn={v}"),
        &udp,
        false,
        params,
    );
    for i in 1..=3 {
        s.add(Destination::new(be(i)));
    }
    let flows: Vec<UdpSocket> = (0..6)
        .map(|k| udp_client(1 + k + 10 * u32::from(v)))
        .collect();
    for f in &flows {
        s.datagram(f, vip(1601 + v));
    }
    s.remove(be(2));
    for _ in 0..2 {
        for f in &flows {
            s.datagram(f, vip(1601 + v));
        }
    }
    let fresh: Vec<UdpSocket> = (0..5)
        .map(|k| udp_client(40 + k + 10 * u32::from(v)))
        .collect();
    for f in &fresh {
        s.datagram(f, vip(1601 + v));
    }
    for f in &flows {
        s.datagram(f, vip(1601 + v));
    }
    out.push(s.finish());
    out
}

/// A destination removed under live UDP and TCP flows, with
/// `expire_nodest_conn` 0 (the default: later packets of those flows are
/// dropped) and 1 (kube-proxy's setting: the connection expires; a UDP
/// datagram is scheduled anew, a TCP segment without SYN is reset by the
/// director), each packet's fate as the model predicts.
#[test]
fn removed_destination_under_live_flows_matches_expire_nodest_conn() {
    require_ipvs_kernel();
    const T: &str = "expire_nodest_conn";
    mark(T, "start");
    let lab = Lab::new("snd", 3, 64);
    start_udp_backends(&lab.backends, 3);
    mark(T, "topology up");
    let mut summaries = Vec::new();
    for value in [false, true] {
        sysctls(
            &lab.director,
            &[(
                "net.ipv4.vs.expire_nodest_conn",
                if value { "1" } else { "0" },
            )],
        );
        summaries.extend(lab.drive(move |h| removed_under_flows(h, &mut Sources::new(64), value)));
    }
    mark(T, "traffic done");
    report(T, &summaries);
}

// ----- firewall-mark services: (client, VIP) pairs that move -------------------------

/// The kernel's destination for every `(client, VIP)` pair, one one-shot
/// connection each (any client port).
fn pair_picks(s: &mut Scenario, pairs: &[(SocketAddr, SocketAddr)]) -> Vec<Option<SocketAddr>> {
    pairs
        .iter()
        .map(|&(client, to)| s.connect(client, to, false))
        .collect()
}

/// A firewall-mark service over several VIPs (`dh`, `lblc`, `lblcr` key on
/// the VIP): every `(client, VIP)` pair connects once, then after each
/// change the model names the pairs that move ([`moved_packets`] of the
/// model before and after the change, packets made by
/// [`Simulation::packet_to`]); every pair connects again and the pairs
/// whose kernel destination changed must be exactly those, each from the
/// predicted destination (and, for the stateless `dh`, to it; `lblc` and
/// `lblcr` pick the new one by connection counts that the reconnections
/// themselves change, so where each goes is checked connection by
/// connection instead).
fn vip_moves(h: &mut Handle, scheduler: Scheduler, mark: u32) -> Summary {
    let svc = Service::new(ServiceKey::fwmark(AddressFamily::Inet, mark))
        .with_scheduler(scheduler.clone());
    let counts = scheduler != Scheduler::Dh;
    let mut s = Scenario::new(
        h,
        format!("{scheduler} (fwmark {mark}, moves)"),
        &svc,
        counts,
    );
    let pairs: Vec<(SocketAddr, SocketAddr)> = (1..=5u32)
        .flat_map(|c| {
            (1..=12u8).map(move |k| {
                (
                    SocketAddr::from((client_ip(200 + c), 0)),
                    marked_vip(mark, k * 3, 80),
                )
            })
        })
        .collect();
    for (i, w) in [(1, 1), (2, 2), (3, 1), (4, 1)] {
        s.add(Destination::new(be(i)).with_weight(w));
    }
    let mut before_kernel = pair_picks(&mut s, &pairs);
    let changes: [&dyn Fn(&mut Scenario); 2] =
        [&|s: &mut Scenario| s.remove(be(2)), &|s: &mut Scenario| {
            let d = s.config(be(3)).with_weight(0);
            s.update(d);
            s.add(Destination::new(be(5)).with_weight(2));
        }];
    let (mut pairs_ok, mut moved_total, mut moved_to_ok) = (0, 0, 0);
    for change in changes {
        let snapshot = s.sim.clone();
        change(&mut s);
        let packets: Vec<Packet> = pairs.iter().map(|&(c, v)| s.sim.packet_to(c, v)).collect();
        let moved = moved_packets(&snapshot, &s.sim, packets.iter().copied());
        let after_kernel = pair_picks(&mut s, &pairs);
        for (i, p) in packets.iter().enumerate() {
            let m = moved.iter().find(|m| m.packet == *p);
            let kernel_moved = before_kernel[i] != after_kernel[i];
            let from_ok = m.is_none_or(|m| m.before == before_kernel[i]);
            let ok = m.is_some() == kernel_moved && from_ok;
            if ok {
                pairs_ok += 1;
            } else {
                s.mismatches.push(format!(
                    "pair {} -> {}: model {:?}, kernel {:?} -> {:?}",
                    p.src.ip(),
                    p.dst,
                    m.map(|m| (m.before, m.after)),
                    before_kernel[i],
                    after_kernel[i]
                ));
            }
            if let Some(m) = m {
                moved_total += 1;
                if m.after == after_kernel[i] {
                    moved_to_ok += 1;
                }
            }
        }
        before_kernel = after_kernel;
    }
    if scheduler == Scheduler::Dh && moved_to_ok != moved_total {
        s.mismatches.push(format!(
            "dh: {moved_to_ok} of {moved_total} moved pairs went where moved_packets said"
        ));
    }
    s.notes.push(format!(
        "moved_packets: {pairs_ok}/{} (client, VIP) pairs moved or stayed as predicted over 2 \
         changes; {moved_total} moved, {moved_to_ok} of them to the destination moved_packets \
         named",
        2 * pairs.len()
    ));
    s.finish()
}

/// Firewall-mark services with several VIPs and the schedulers that key on
/// the packet's destination (`dh`, `lblc`, `lblcr`): which (client, VIP)
/// pairs move after a removal and after a quiesce plus an addition, as
/// `moved_packets` predicts, and every connection where the model says.
#[test]
fn fwmark_services_move_the_client_vip_pairs_the_model_predicts() {
    require_ipvs_kernel();
    const T: &str = "fwmark moves";
    mark(T, "start");
    let lab = Lab::new("sfm", 5, 220);
    mark(T, "topology up");
    let summaries = lab.drive(|h| {
        vec![
            vip_moves(h, Scheduler::Dh, 7),
            vip_moves(h, Scheduler::Lblc, 8),
            vip_moves(h, Scheduler::Lblcr, 9),
        ]
    });
    mark(T, "traffic done");
    report(T, &summaries);
}

// ----- resync after a divergence ------------------------------------------------------

/// Whether `addr` is in the marked /24 of `mark`.
fn in_marked(mark: u32, addr: SocketAddr) -> bool {
    let first = marked_vip(mark, 1, 0);
    match (first.ip(), addr.ip()) {
        (std::net::IpAddr::V4(f), std::net::IpAddr::V4(a)) => f.octets()[..3] == a.octets()[..3],
        _ => false,
    }
}

/// A service whose model is in step; then connections the model is not
/// told about (the kernel's counters, cache or templates move, the
/// model's do not); then a resync from the kernel's connection table
/// (`record_connection` for each entry); then more connections, each
/// compared with the model, and with a copy of the model that was not
/// resynced.
fn resync_case(h: &mut Handle, src: &mut Sources, which: &str) -> Summary {
    match which {
        "wlc" => {
            let port = 1701;
            let svc = Service::new(ServiceKey::tcp(vip(port))).with_scheduler(Scheduler::Wlc);
            let mut s = Scenario::new(h, "wlc resync".into(), &svc, true);
            for (i, w) in [(1, 1), (2, 2), (3, 1)] {
                s.add(Destination::new(be(i)).with_weight(w));
            }
            for _ in 0..6 {
                s.connect(src.any(), vip(port), true);
            }
            // While 1 and 3 are quiesced, eight connections the model does
            // not see all land on 2.
            s.set_weights(&[(1, 0), (3, 0)]);
            for _ in 0..8 {
                s.connect_unseen(src.any(), vip(port));
            }
            s.set_weights(&[(1, 1), (3, 1)]);
            s.resync(|a| a == vip(port));
            for _ in 0..12 {
                s.connect(src.any(), vip(port), true);
            }
            s.finish()
        }
        "lblc" => {
            let mark = 8;
            let svc = Service::new(ServiceKey::fwmark(AddressFamily::Inet, mark))
                .with_scheduler(Scheduler::Lblc);
            let mut s = Scenario::new(h, "lblc (fwmark) resync".into(), &svc, true);
            for (i, w) in [(1, 1), (2, 2), (3, 3)] {
                s.add(Destination::new(be(i)).with_weight(w));
            }
            for k in 1..=6 {
                s.connect(src.any(), marked_vip(mark, k, 80), true);
            }
            // The kernel caches VIPs 7..=14 on destinations the model
            // does not know about.
            for k in 7..=14 {
                s.connect_unseen(src.any(), marked_vip(mark, k, 80));
            }
            s.resync(|a| in_marked(mark, a));
            for k in (1..=14).rev() {
                s.connect(src.any(), marked_vip(mark, k, 80), true);
            }
            s.finish()
        }
        _ => {
            // Persistent wlc: the unseen connections leave templates.
            let port = 1702;
            let svc = Service::new(ServiceKey::tcp(vip(port)))
                .with_scheduler(Scheduler::Wlc)
                .with_persistence(600);
            let mut s = Scenario::new(h, "wlc persistent resync".into(), &svc, true);
            for (i, w) in [(1, 1), (2, 1), (3, 1)] {
                s.add(Destination::new(be(i)).with_weight(w));
            }
            for c in 1..=3 {
                s.connect(SocketAddr::from((client_ip(100 + c), 0)), vip(port), true);
            }
            // Six clients the model does not see get templates on 3.
            s.set_weights(&[(1, 0), (2, 0)]);
            for c in 4..=9 {
                s.connect_unseen(SocketAddr::from((client_ip(100 + c), 0)), vip(port));
            }
            s.set_weights(&[(1, 1), (2, 1)]);
            s.resync(|a| a == vip(port));
            // The same clients again (templates), then new ones.
            for c in (1..=9).chain(20..=25) {
                s.connect(SocketAddr::from((client_ip(100 + c), 0)), vip(port), true);
            }
            s.finish()
        }
    }
}

/// Resync after a divergence: connections the model never saw (a `wlc`
/// service, `lblc` on a firewall-mark service, a persistent `wlc`
/// service), then the kernel's connection table recorded into the model
/// with `Simulation::record_connection`; every later connection and the
/// connection counters must agree again.
#[test]
fn resync_from_the_connection_table_keeps_the_model_in_step() {
    require_ipvs_kernel();
    const T: &str = "resync";
    mark(T, "start");
    let lab = Lab::new("srs", 3, 160);
    mark(T, "topology up");
    let summaries = lab.drive(|h| {
        let mut src = Sources::new(90);
        ["wlc", "lblc", "persistent"]
            .iter()
            .map(|w| resync_case(h, &mut src, w))
            .collect::<Vec<_>>()
    });
    mark(T, "traffic done");
    report(T, &summaries);
}

// ----- SCTP: active only once the association is established ---------------------

/// An SCTP one-to-one (`SOCK_STREAM`) socket.
fn sctp_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        Some(rustix::net::ipproto::SCTP),
    )?)
}

/// SCTP servers on backends `1..=n` (each bound to its own address only,
/// so that its INIT ACK names no other), answering every line with that
/// address.
fn start_sctp_backends(ns: &Netns, n: u8) {
    for i in 1..=n {
        let listener = ns
            .run(move || -> io::Result<OwnedFd> {
                let fd = sctp_socket()?;
                rustix::net::sockopt::set_socket_reuseaddr(&fd, true)?;
                rustix::net::bind(&fd, &be(i))?;
                rustix::net::listen(&fd, 256)?;
                Ok(fd)
            })
            .unwrap_or_else(|e| panic!("SCTP listener on {} in {}: {e}", be(i), ns.name));
        std::thread::spawn(move || {
            while let Ok(fd) = rustix::net::accept(&listener) {
                let answer = Answer::Name(be(i).to_string());
                let _ = std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || serve_lines(TcpStream::from(fd), &answer));
            }
        });
    }
}

/// The director drops every COOKIE ACK that backend `i` sends (tc on
/// `b0`'s ingress, before IPVS sees it): associations to it never
/// complete. The chunk type of an SCTP packet's first chunk is byte 32 of
/// an IPv4 packet without options; COOKIE ACK is 11.
fn drop_cookie_acks_from(lab: &Lab, i: u8) {
    batch(
        "tc",
        Some(&lab.director),
        &[
            "qdisc add dev b0 clsact".to_string(),
            format!(
                "filter add dev b0 ingress protocol ip prio 1 u32 match ip src {}/32 \
                 match ip protocol 132 0xff match u8 0x0b 0xff at 32 action drop",
                be(i).ip()
            ),
        ],
    );
}

impl Scenario<'_> {
    /// One SCTP association from client address `src` (any port) to
    /// `dst`. The kernel's destination is read from its connection table
    /// once the association is established or stuck waiting for a COOKIE
    /// ACK (C-REPLIED); it must be the model's prediction. An association
    /// the client sees complete is ESTABLISHED in the model too, and is
    /// held open; the others stay as the model opened them (INIT1: both
    /// inactive) and are kept half-open.
    fn associate(&mut self, src: Ipv4Addr, dst: SocketAddr) {
        if self.stopped {
            return;
        }
        if self.counts {
            self.sync_counts();
            if self.stopped {
                return;
            }
        }
        let name = self.name.clone();
        let fd = sctp_socket().unwrap_or_else(|e| panic!("{name}: SCTP socket: {e}"));
        rustix::net::bind(&fd, &SocketAddr::from((src, 0)))
            .unwrap_or_else(|e| panic!("{name}: bind {src}: {e}"));
        let me = rustix::net::getsockname(&fd)
            .ok()
            .and_then(|a| SocketAddr::try_from(a).ok())
            .unwrap_or_else(|| panic!("{name}: SCTP socket address"));
        let pkt = Packet::new(Protocol::Sctp, me, dst);
        let predicted = self.sim.connect_packet(&pkt);
        // The model as it was: an SCTP connection active from its INIT.
        let naive = self.naive.as_mut().map(|(m, _, _)| {
            let o = m.connect_packet(&pkt);
            if let Some(c) = o.conn {
                let _ = m.set_state(c, &ConnState::Established);
            }
            o
        });
        rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::NONBLOCK)
            .unwrap_or_else(|e| panic!("{name}: nonblocking: {e}"));
        match rustix::net::connect(&fd, &dst) {
            Ok(()) | Err(rustix::io::Errno::INPROGRESS) => {}
            Err(e) => panic!("{name}: SCTP connect to {dst}: {e}"),
        }
        let h = &mut *self.h;
        let entry = poll(Duration::from_secs(20), || {
            let table = h.connections().map_err(|e| e.to_string())?;
            table
                .into_iter()
                .find(|c| c.protocol == Protocol::Sctp && c.client == me)
                .filter(|c| c.state == ConnState::Established || c.state.as_str() == "C-REPLIED")
                .ok_or_else(|| format!("no settled SCTP entry for {me}"))
        });
        let kernel = match &entry {
            Ok(c) => Kernel::To(c.destination),
            Err(e) => Kernel::Error(e.clone()),
        };
        self.judge(format!("SCTP {me} -> {dst}"), &predicted, &kernel);
        if let Some((_, n, ok)) = self.naive.as_mut() {
            *n += 1;
            if matches!(kernel, Kernel::To(k) if naive.is_some_and(|o| o.addr == Some(k))) {
                *ok += 1;
            }
        }
        let established = entry.is_ok_and(|c| c.state == ConnState::Established);
        if !established {
            self.half_open.push(fd);
            self.step(format!("half-open {me}"));
            return;
        }
        rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::empty())
            .unwrap_or_else(|e| panic!("{name}: blocking: {e}"));
        let stream = TcpStream::from(fd);
        let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
        let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
        let mut client =
            TcpClient::from_stream(stream).unwrap_or_else(|e| panic!("{name}: stream: {e}"));
        // The answer names the backend: the association works end to end.
        let answer = client.ask();
        if let Some(c) = predicted.conn {
            self.set_state(c, ConnState::Established);
        }
        let ok = matches!(&answer, Ok(a) if Some(*a) == predicted.addr);
        if !ok {
            self.mismatches.push(format!(
                "SCTP {me}: established, answer {answer:?}, model {:?}",
                predicted.addr
            ));
        }
        self.held.push(Held {
            client,
            conn: predicted.conn,
            packet: Packet::new(Protocol::Sctp, me, dst),
            naive: naive.and_then(|o| o.conn),
        });
        self.step(format!("established {me}"));
    }
}

/// An SCTP service (`scheduler`) over three backends, the newest of which
/// never completes a handshake: its associations stay half-open
/// (C-REPLIED), which the kernel counts inactive, while completed ones
/// count active. The split decides each pick of `lc` and `wlc` (an active
/// association weighs 257 half-open ones), and every association goes
/// where the model says, with the counters compared before each.
fn sctp_case(h: &mut Handle, scheduler: Scheduler, port: u16, first_client: u32) -> Summary {
    let svc = Service::new(ServiceKey::sctp(vip(port))).with_scheduler(scheduler.clone());
    let mut s = Scenario::new(
        h,
        format!("{scheduler} SCTP (backend 3 never completes)"),
        &svc,
        true,
    );
    for (i, w) in [(1, 1), (2, 2), (3, 1)] {
        s.add(Destination::new(be(i)).with_weight(w));
    }
    s.naive = Some((s.sim.clone(), 0, 0));
    let mut next = first_client;
    let mut assoc = |s: &mut Scenario, n: usize| {
        for _ in 0..n {
            s.associate(client_ip(next), vip(port));
            next += 1;
        }
    };
    assoc(&mut s, 10);
    // Established associations shut down (inactive until they expire).
    s.close_held(0);
    s.close_held(0);
    assoc(&mut s, 6);
    // With backend 3 quiesced the others take the load, then it is back.
    s.set_weights(&[(3, 0)]);
    assoc(&mut s, 4);
    s.set_weights(&[(3, 1), (1, 3)]);
    assoc(&mut s, 8);
    s.finish()
}

/// SCTP associations that do and do not complete (`lc`, `wlc`): the
/// kernel counts an association active only once ESTABLISHED, and the
/// model (its connections opened by the INIT, moved to ESTABLISHED when the
/// client sees the handshake complete) predicts every pick and counter.
#[test]
fn sctp_associations_count_active_once_established() {
    require_ipvs_kernel();
    const T: &str = "sctp";
    mark(T, "start");
    sh("modprobe sctp");
    let lab = Lab::new("ssc", 3, 96);
    start_sctp_backends(&lab.backends, 3);
    drop_cookie_acks_from(&lab, 3);
    mark(T, "topology up");
    let summaries = lab.drive(|h| {
        vec![
            sctp_case(h, Scheduler::Wlc, 1801, 1),
            sctp_case(h, Scheduler::Lc, 1802, 40),
        ]
    });
    mark(T, "traffic done");
    report(T, &summaries);
}

// ----- time: connection timers --------------------------------------------------------

/// A service in the kernel and its model, whose clock follows the real
/// one (milliseconds since `start`).
struct Timed {
    key: ServiceKey,
    vip: SocketAddr,
    sim: Simulation,
}

/// The kernel's view of a service for comparison: `(addr, active,
/// inactive)` per destination, and its connection entries.
type View = (Vec<(SocketAddr, u32, u32)>, usize);

impl Timed {
    fn kernel(&self, h: &mut Handle) -> View {
        let mut counts: Vec<_> = h
            .destinations(&self.key)
            .unwrap_or_else(|e| panic!("{}: destinations: {e}", self.key))
            .into_iter()
            .map(|d| (d.destination.addr, d.conns.active, d.conns.inactive))
            .collect();
        counts.sort();
        let vaddr = self.vip;
        let conns = h
            .connections()
            .unwrap_or_else(|e| panic!("connection table: {e}"))
            .iter()
            .filter(|c| !c.is_template() && c.virtual_addr == vaddr)
            .count();
        (counts, conns)
    }

    fn model(&self) -> View {
        (model_counts(&self.sim), self.sim.connections())
    }
}

/// Connection timers against the kernel's, kept short with the kernel's
/// timeouts (`ipvsadm --set 30 120 10`, the model's
/// `KernelParams::timeouts`): UDP flows and established TCP connections
/// on `wlc` services, the model's clock following the real one
/// (`Simulation::advance_to`). The counters and connection entries are
/// compared at points at least 3 s away from any expiry (kernel timers
/// fire late by up to a timer-wheel slot): when all are open, after the
/// UDP timeout (only a flow that sent again later is left), after the TCP
/// timeout (only a connection that sent again is left), and at the end
/// (none).
fn timers(h: &mut Handle, src: &mut Sources) -> Summary {
    let timeouts = lvs::Timeouts::new(30, 120, 10);
    h.set_timeouts(&timeouts)
        .unwrap_or_else(|e| panic!("set timeouts: {e}"));
    let params = KernelParams::new().with_timeouts(timeouts);
    let mut twins = Vec::new();
    for key in [ServiceKey::udp(vip(1901)), ServiceKey::tcp(vip(1902))] {
        let svc = Service::new(key).with_scheduler(Scheduler::Wlc);
        h.add_service(&svc)
            .unwrap_or_else(|e| panic!("add service {key}: {e}"));
        let mut sim =
            Simulation::with_params(&svc, params.clone()).unwrap_or_else(|e| panic!("model: {e}"));
        for i in 1..=3 {
            let d = Destination::new(be(i)).with_weight(u32::from(i));
            h.add_destination(&key, &d)
                .unwrap_or_else(|e| panic!("add {}: {e}", d.addr));
            sim.add_destination(d)
                .unwrap_or_else(|e| panic!("model add {}: {e}", d.addr));
        }
        twins.push(Timed {
            key,
            vip: vip(1901 + twins.len() as u16),
            sim,
        });
    }
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u64;
    let mut tally = Tally::default();

    // Six UDP flows, six held TCP connections.
    let flows: Vec<UdpSocket> = (0..6).map(|k| udp_client(50 + k)).collect();
    let udp_pkt = |s: &UdpSocket| {
        let me = s.local_addr().unwrap_or_else(|e| panic!("UDP socket: {e}"));
        Packet::new(Protocol::Udp, me, vip(1901))
    };
    for f in &flows {
        twins[0].sim.advance_to(now_ms());
        let o = twins[0].sim.connect_packet(&udp_pkt(f));
        tally.judge("UDP", o.addr, udp_ask(f, vip(1901)));
    }
    let mut held = Vec::new();
    for _ in 0..6 {
        let (sock, me) = bound_socket(src.any()).unwrap_or_else(|e| panic!("socket: {e}"));
        twins[1].sim.advance_to(now_ms());
        let pkt = Packet::new(Protocol::Tcp, me, vip(1902));
        let o = twins[1].sim.connect_packet(&pkt);
        let answer = rustix::net::connect(&sock, &vip(1902))
            .map_err(io::Error::from)
            .and_then(|()| TcpClient::from_stream(sock))
            .and_then(|mut c| {
                let to = c.ask()?;
                held.push((c, pkt));
                Ok(to)
            });
        if let Some(c) = o.conn {
            let _ = twins[1].sim.set_state(c, &ConnState::Established);
        }
        tally.judge("TCP", o.addr, answer);
    }
    let setup = now_ms();
    tally.notes.push(format!(
        "12 connections opened in {:.1} s",
        setup as f64 / 1000.0
    ));
    let check = |tally: &mut Tally, h: &mut Handle, twins: &mut [Timed], at: &str| {
        for t in twins.iter_mut() {
            let now = now_ms();
            t.sim.advance_to(now);
            let (kernel, model) = (t.kernel(h), t.model());
            if kernel == model {
                tally.notes.push(format!(
                    "{at}, {} ({:.1} s): {} connections, counters {:?}, as the model says",
                    t.key,
                    now as f64 / 1000.0,
                    kernel.1,
                    kernel.0
                ));
            } else {
                tally.mismatches.push(format!(
                    "{at}, {}: kernel {kernel:?}, model {model:?}",
                    t.key
                ));
            }
        }
    };
    let sleep_until = |ms: u64| {
        let now = now_ms();
        if ms > now {
            std::thread::sleep(Duration::from_millis(ms - now));
        }
    };
    assert!(
        setup < 6_000,
        "setting up took {setup} ms: the first check would be too close to the UDP timeout"
    );
    check(&mut tally, h, &mut twins, "all open");

    // One UDP flow sends again at 8 s (its timer restarts: 18 s).
    sleep_until(8_000);
    twins[0].sim.advance_to(now_ms());
    let o = twins[0].sim.connect_packet(&udp_pkt(&flows[0]));
    tally.judge("UDP again", o.addr, udp_ask(&flows[0], vip(1901)));
    // After the UDP timeout of the others (~10-11.5 s).
    sleep_until(14_500);
    check(&mut tally, h, &mut twins, "after the UDP timeout");

    // One TCP connection sends again at 19 s (its timer restarts: 49 s).
    sleep_until(19_000);
    twins[1].sim.advance_to(now_ms());
    let pkt = held[0].1;
    let o = twins[1].sim.flow_packet(&pkt);
    tally.judge("TCP again", o.addr, held[0].0.ask());
    // After the TCP timeout of the others (~30-32 s).
    sleep_until(38_000);
    check(&mut tally, h, &mut twins, "after the TCP timeout");
    sleep_until(54_000);
    check(&mut tally, h, &mut twins, "at the end");
    for t in &twins {
        let _ = h.remove_service(&t.key);
    }
    Summary {
        name: "timers (wlc UDP + TCP)".into(),
        elapsed: start.elapsed(),
        connections: tally.packets,
        matched: tally.matched,
        refused: 0,
        mismatches: tally.mismatches,
        stale: None,
        notes: tally.notes,
    }
}

/// Packets judged and checks made by [`timers`].
#[derive(Default)]
struct Tally {
    packets: usize,
    matched: usize,
    mismatches: Vec<String>,
    notes: Vec<String>,
}

impl Tally {
    /// The kernel's answer to one packet against the model's destination.
    fn judge(&mut self, what: &str, model: Option<SocketAddr>, kernel: io::Result<SocketAddr>) {
        self.packets += 1;
        match kernel {
            Ok(k) if Some(k) == model => self.matched += 1,
            other => self
                .mismatches
                .push(format!("{what}: model {model:?}, kernel {other:?}")),
        }
    }
}

/// Time: connections expire as their state's timer says, the model's
/// clock driven by `Simulation::advance_to`; the kernel's connection table
/// and counters equal the model's before and well after each expiry.
#[test]
fn connection_timers_expire_as_the_model_advances() {
    require_ipvs_kernel();
    const T: &str = "timers";
    mark(T, "start");
    let lab = Lab::new("stm", 3, 64);
    start_udp_backends(&lab.backends, 3);
    mark(T, "topology up");
    let summary = lab.drive(|h| timers(h, &mut Sources::new(64)));
    mark(T, "traffic done");
    report(T, &[summary]);
}
