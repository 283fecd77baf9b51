//! The main job of `lvs` in one command: `cargo run --example demo`.
//!
//! Inside the kernel it runs on (cargo's runner boots a Debian kernel with
//! IPVS under QEMU when the host has none), the demo
//!
//! 1. builds five network namespaces: a client, a director (the load
//!    balancer) and three backends, joined by veth pairs; the backends route
//!    their replies back through the director, which forwards (NAT);
//! 2. starts a tiny HTTP/1.0 server in each backend (a thread entered into
//!    the backend's namespace) that answers with its name;
//! 3. creates one IPVS virtual service with NAT forwarding through an
//!    `lvs::Handle` opened in the director's namespace;
//! 4. sends requests from the client, one new TCP connection each, under
//!    `rr`, then under `wrr` with weights 3/2/1, and prints how they spread;
//! 5. reads the kernel's counters back through `lvs` and checks that they
//!    match what the client saw.
//!
//! It exits non-zero with a message if anything fails, and removes its
//! namespaces on the way out.

#[path = "../tests/support/mod.rs"]
mod support;

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lvs::{Destination, DestinationEntry, Handle, Scheduler, Service, ServiceKey};
use support::{Netns, veth};

type Res<T> = Result<T, Box<dyn Error>>;

/// Requests per round; a multiple of 6 makes both splits exact.
const REQUESTS: usize = 60;
/// The virtual service: the director's address on the client side.
const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
const CLIENT_IP: &str = "10.0.0.2";
const BACKEND_PORT: u16 = 8080;
const BACKENDS: usize = 3;
const WRR_WEIGHTS: [u32; BACKENDS] = [3, 2, 1];
/// Timeout of every connect, read and write.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest bar of the distribution tables.
const BAR_MAX: usize = 40;

fn main() -> ExitCode {
    let ipvs = match preflight() {
        Ok(h) => h,
        Err(why) => {
            eprintln!("{why}");
            print_how_to_run();
            return ExitCode::FAILURE;
        }
    };
    match run(ipvs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

// ----- preflight -----------------------------------------------------------

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

/// Root and an IPVS kernel, or why not. Returns a handle in our own
/// namespace, used only to report the IPVS version.
fn preflight() -> Result<Handle, String> {
    let kernel = kernel_release();
    match effective_uid() {
        Some(0) => {}
        Some(uid) => {
            return Err(format!(
                "demo: needs root (it creates network namespaces and IPVS services); \
                 running as uid {uid} on kernel {kernel}."
            ));
        }
        None => return Err("demo: cannot read the effective uid from /proc/self/status.".into()),
    }
    let first = match Handle::open() {
        Ok(h) => return Ok(h),
        Err(e) => e,
    };
    // The kernel usually loads ip_vs on demand; ask modprobe once in case
    // it did not.
    let _ = Command::new("modprobe")
        .args(["-q", "ip_vs"])
        .stdin(Stdio::null())
        .status();
    match Handle::open() {
        Ok(h) => Ok(h),
        Err(_) if !Path::new("/proc/net/ip_vs").exists() => Err(format!(
            "demo: this kernel ({kernel}) has no IPVS (/proc/net/ip_vs is missing, \
             `modprobe ip_vs` did not help): {first}"
        )),
        Err(e) => Err(format!(
            "demo: IPVS is loaded but lvs cannot talk to it on kernel {kernel}: {e}"
        )),
    }
}

fn print_how_to_run() {
    eprintln!(
        "\nRun it from the lvs repository with\n\n    cargo run --example demo\n\n\
         cargo's runner (.cargo/ipvs-runner) runs it as root on the host when the host's \
         kernel has IPVS, and otherwise boots a Debian kernel with IPVS under QEMU and runs \
         it there (it installs or lists what that needs: qemu-system-x86, linux-image-amd64, \
         busybox-static, ipvsadm, virtme-ng)."
    );
}

// ----- the demo ------------------------------------------------------------

fn backend_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, i as u8 + 1, 2)
}

fn backend_addr(i: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(backend_ip(i), BACKEND_PORT))
}

/// `addr` as the Rust the demo prints: `([10, 1, 1, 2], 8080)`.
fn rust_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => {
            let [a1, a2, a3, a4] = a.ip().octets();
            format!("([{a1}, {a2}, {a3}, {a4}], {})", a.port())
        }
        SocketAddr::V6(a) => format!("\"{a}\".parse::<SocketAddr>()?"),
    }
}

fn backend_name(i: usize) -> String {
    format!("backend-{}", i + 1)
}

fn run(mut local: Handle) -> Res<()> {
    let kernel = kernel_release();
    let info = local
        .info()
        .map_err(|e| format!("reading IPVS version: {e}"))?;
    drop(local);
    let (ma, mi, pa) = info.version;
    println!("lvs demo: one IPVS virtual service, NAT forwarding, {BACKENDS} real servers");
    println!(
        "  kernel  {kernel} (uname -r), IPVS {ma}.{mi}.{pa}, connection table of {} entries",
        info.conn_table_size
    );
    println!("  network five namespaces on this kernel, joined by veth pairs:");
    println!();
    println!(
        "    client {CLIENT_IP} ---> {} director (VIP {VIP} TCP, ip_forward=1)",
        VIP.ip()
    );
    for i in 0..BACKENDS {
        println!(
            "                              10.1.{n}.1 ---> {} {}",
            backend_addr(i),
            backend_name(i),
            n = i + 1
        );
    }
    println!();
    println!("  The backends' default route is the director, so their replies pass back");
    println!("  through IPVS, which rewrites them to come from the VIP (masquerading).");
    println!();

    // Namespaces: dropped (ip netns del) in reverse order when run returns,
    // whether it succeeds or not.
    let director = Netns::new("lvsdemo-director");
    let client = Netns::new("lvsdemo-client");
    veth(
        "cl",
        &client,
        &format!("{CLIENT_IP}/24"),
        &director,
        &format!("{}/24", VIP.ip()),
    );
    let mut backends = Vec::new();
    for i in 0..BACKENDS {
        let be = Netns::new(&format!("lvsdemo-backend{}", i + 1));
        let n = i + 1;
        veth(
            &format!("be{n}"),
            &be,
            &format!("{}/24", backend_ip(i)),
            &director,
            &format!("10.1.{n}.1/24"),
        );
        be.sh(&format!("ip route add default via 10.1.{n}.1"));
        backends.push(be);
    }
    director.sh("echo 1 > /proc/sys/net/ipv4/ip_forward");

    let servers = Servers::start(&backends)?;
    let result = balance(&director, &client);
    servers.stop(&director)?;
    result
}

/// Everything that talks to IPVS and sends traffic.
fn balance(director: &Netns, client: &Netns) -> Res<()> {
    let mut ipvs = Handle::open_netns_path(director.path())
        .map_err(|e| format!("opening an lvs handle in {}: {e}", director.name))?;
    let key = ServiceKey::tcp(VIP);
    let addrs: Vec<SocketAddr> = (0..BACKENDS).map(backend_addr).collect();

    println!("[1/3] round robin, every weight 1");
    println!(
        "  let mut ipvs = Handle::open_netns_path(\"{}\")?;",
        director.path()
    );
    println!("  let key = ServiceKey::tcp({});", rust_addr(VIP.into()));
    println!("  ipvs.add_service(&Service::new(key).with_scheduler(Scheduler::Rr))?;");
    ipvs.add_service(&Service::new(key).with_scheduler(Scheduler::Rr))?;
    for a in &addrs {
        println!(
            "  ipvs.add_destination(&key, &Destination::new({}))?;  // NAT, weight 1",
            rust_addr(*a)
        );
        ipvs.add_destination(&key, &Destination::new(*a))?;
    }
    let rr = send_round(client)?;
    print_round(&rr, &[1; BACKENDS]);
    check_split("rr", &rr, &[1; BACKENDS])?;

    println!();
    println!(
        "[2/3] weighted round robin, weights {}",
        WRR_WEIGHTS.map(|w| w.to_string()).join("/")
    );
    println!("  ipvs.update_service(&Service::new(key).with_scheduler(Scheduler::Wrr))?;");
    ipvs.update_service(&Service::new(key).with_scheduler(Scheduler::Wrr))?;
    for (a, w) in addrs.iter().zip(WRR_WEIGHTS) {
        println!(
            "  ipvs.update_destination(&key, &Destination::new({}).with_weight({w}))?;",
            rust_addr(*a)
        );
        ipvs.update_destination(&key, &Destination::new(*a).with_weight(w))?;
    }
    let wrr = send_round(client)?;
    print_round(&wrr, &WRR_WEIGHTS);
    check_split("wrr", &wrr, &WRR_WEIGHTS)?;

    println!();
    println!("[3/3] the kernel's counters, read back through lvs");
    println!("  ipvs.services()?  and  ipvs.destinations(&key)?");
    let seen: Vec<u64> = (0..BACKENDS).map(|i| (rr[i] + wrr[i]) as u64).collect();
    let total: u64 = seen.iter().sum();
    let (svc, dests, waited) = read_stats(&mut ipvs, &key, total)?;
    if waited > Duration::from_millis(100) {
        println!(
            "  (waited {:.1} s: the kernel adds up its per-CPU counters every 2 s)",
            waited.as_secs_f64()
        );
    }
    println!();
    let s = &svc.stats;
    println!(
        "  service {key}  scheduler {}  conns {}  packets in/out {}/{}  bytes in/out {}/{}",
        svc.service.scheduler.name(),
        s.conns,
        s.in_packets,
        s.out_packets,
        s.in_bytes,
        s.out_bytes
    );
    println!();
    println!(
        "  {:<13} {:<9} {:>6} {:>6} {:>7} {:>9} {:>8} {:>9} {:>9} {:>10}",
        "real server",
        "backend",
        "weight",
        "conns",
        "client",
        "inactive",
        "pkts in",
        "pkts out",
        "bytes in",
        "bytes out"
    );
    let mut mismatch = Vec::new();
    for (i, a) in addrs.iter().enumerate() {
        let d = dests
            .iter()
            .find(|d| d.destination.addr == *a)
            .ok_or_else(|| format!("the kernel lists no destination {a}"))?;
        let st = &d.stats;
        println!(
            "  {:<13} {:<9} {:>6} {:>6} {:>7} {:>9} {:>8} {:>9} {:>9} {:>10}",
            a.to_string(),
            backend_name(i),
            d.destination.weight,
            st.conns,
            seen[i],
            d.conns.inactive,
            st.in_packets,
            st.out_packets,
            st.in_bytes,
            st.out_bytes
        );
        if st.conns != seen[i] {
            mismatch.push(format!("{a}: kernel {} vs client {}", st.conns, seen[i]));
        }
    }
    println!("  conns: connections IPVS sent to that server; client: answers the client got");
    println!("  from it (rr + wrr); inactive: IPVS entries of closed connections, kept for");
    println!("  TIME_WAIT; pkts/bytes: in = client to server, out = replies (NAT sees both).");
    if !mismatch.is_empty() || svc.stats.conns != total {
        return Err(format!(
            "the kernel's counters do not match what the client saw: service {} vs {total}; {}",
            svc.stats.conns,
            mismatch.join("; ")
        )
        .into());
    }
    println!();
    println!("  ok: per real server, the kernel counted exactly the connections the client saw.");

    println!();
    println!("  ipvs.remove_service(&key)?;  // then the namespaces go");
    ipvs.remove_service(&key)?;
    Ok(())
}

/// `REQUESTS` requests from a thread in the client namespace, one TCP
/// connection each; returns how many each backend answered.
fn send_round(client: &Netns) -> Res<[usize; BACKENDS]> {
    let started = Instant::now();
    let answers = client.run(move || -> Result<Vec<String>, String> {
        (1..=REQUESTS)
            .map(|n| request(VIP).map_err(|e| format!("request {n}/{REQUESTS} to {VIP}: {e}")))
            .collect()
    })?;
    let mut counts = [0; BACKENDS];
    for a in &answers {
        let i = (0..BACKENDS)
            .find(|&i| *a == backend_name(i))
            .ok_or_else(|| format!("unexpected answer {a:?}"))?;
        counts[i] += 1;
    }
    println!(
        "  {REQUESTS} requests from the client to {VIP}, one new TCP connection each \
         ({:.2} s):",
        started.elapsed().as_secs_f64()
    );
    Ok(counts)
}

/// One HTTP/1.0 request; returns the body (the backend's name).
fn request(to: SocketAddrV4) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&to.into(), IO_TIMEOUT)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    s.write_all(format!("GET / HTTP/1.0\r\nHost: {to}\r\n\r\n").as_bytes())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP reply: {reply:?}"),
            )
        })?;
    Ok(body.trim().to_owned())
}

fn print_round(counts: &[usize; BACKENDS], weights: &[u32; BACKENDS]) {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let per_hash = max.div_ceil(BAR_MAX);
    let total: usize = counts.iter().sum();
    println!();
    println!(
        "    {:<9} {:<13} {:>6} {:>9} {:>6}  (# = {per_hash} request{})",
        "backend",
        "real server",
        "weight",
        "requests",
        "share",
        if per_hash == 1 { "" } else { "s" }
    );
    for i in 0..BACKENDS {
        println!(
            "    {:<9} {:<13} {:>6} {:>9} {:>5.0}%  {}",
            backend_name(i),
            backend_addr(i).to_string(),
            weights[i],
            counts[i],
            100.0 * counts[i] as f64 / total.max(1) as f64,
            "#".repeat(counts[i].div_ceil(per_hash))
        );
    }
}

/// rr and wrr over sequential connections split exactly by weight (to
/// within one connection when `REQUESTS` is not a multiple of the cycle).
fn check_split(sched: &str, counts: &[usize; BACKENDS], weights: &[u32; BACKENDS]) -> Res<()> {
    let total: usize = counts.iter().sum();
    let wsum: u32 = weights.iter().sum();
    let off = (0..BACKENDS).any(|i| {
        let want = total as f64 * f64::from(weights[i]) / f64::from(wsum);
        (counts[i] as f64 - want).abs() > 1.0
    });
    if off {
        return Err(
            format!("{sched} split {counts:?} does not follow the weights {weights:?}").into(),
        );
    }
    Ok(())
}

/// The service and its destinations once the service's connection counter
/// reaches `conns` (the kernel updates the totals every 2 s), and how long
/// that took.
fn read_stats(
    ipvs: &mut Handle,
    key: &ServiceKey,
    conns: u64,
) -> Res<(lvs::ServiceEntry, Vec<DestinationEntry>, Duration)> {
    let started = Instant::now();
    loop {
        let svc = ipvs
            .services()?
            .into_iter()
            .find(|s| s.service.key == *key)
            .ok_or_else(|| format!("the kernel lists no service {key}"))?;
        let dests = ipvs.destinations(key)?;
        let dest_conns: u64 = dests.iter().map(|d| d.stats.conns).sum();
        let waited = started.elapsed();
        if (svc.stats.conns >= conns && dest_conns >= conns) || waited > Duration::from_secs(10) {
            return Ok((svc, dests, waited));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ----- backends --------------------------------------------------------------

/// One HTTP server thread per backend namespace.
struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Servers {
    /// Start them and wait until each listens.
    fn start(backends: &[Netns]) -> Res<Servers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut ready = Vec::new();
        for (i, be) in backends.iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let stop = stop.clone();
            threads.push(be.spawn(move || {
                match TcpListener::bind((Ipv4Addr::UNSPECIFIED, BACKEND_PORT)) {
                    Ok(l) => {
                        let _ = tx.send(Ok(()));
                        serve(&l, &backend_name(i), &stop);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            }));
            ready.push(rx);
        }
        for (i, rx) in ready.into_iter().enumerate() {
            rx.recv()
                .map_err(|_| format!("the server thread of {} died", backend_name(i)))?
                .map_err(|e| {
                    format!(
                        "{}: cannot listen on port {BACKEND_PORT}: {e}",
                        backend_name(i)
                    )
                })?;
        }
        Ok(Servers { stop, threads })
    }

    /// Raise the stop flag, wake each server with a direct connection from
    /// the director, and join the threads.
    fn stop(self, director: &Netns) -> Res<()> {
        self.stop.store(true, Ordering::SeqCst);
        director.run(|| {
            for i in 0..BACKENDS {
                let _ = TcpStream::connect_timeout(&backend_addr(i), IO_TIMEOUT);
            }
        });
        for t in self.threads {
            t.join().map_err(|_| "a backend server thread panicked")?;
        }
        Ok(())
    }
}

fn serve(listener: &TcpListener, name: &str, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        // A failed exchange shows up as an error on the client's side.
        if let Ok(mut s) = conn {
            let _ = answer(&mut s, name);
        }
    }
}

fn answer(s: &mut TcpStream, name: &str) -> io::Result<()> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 512];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || req.len() > 8192 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let body = format!("{name}\n");
    let reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(reply.as_bytes())
}
