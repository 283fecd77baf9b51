//! A Prometheus exporter of IPVS: totals, services and real servers with
//! their counters, connection counts and weights, served at `/metrics`.
//!
//! The totals and the per-backend gauges use the names and labels of
//! node_exporter's IPVS collector (`node_ipvs_*`, labels `local_address`,
//! `local_port`, `remote_address`, `remote_port`, `proto`, `local_mark`),
//! so dashboards built for it work unchanged; the per-service and
//! per-backend counters it does not export are `lvs_*`.
//!
//! ```sh
//! cargo run --example exporter -- --listen 127.0.0.1:9923 [--netns /run/netns/lb]
//! curl -s 127.0.0.1:9923/metrics
//! ```
//!
//! One scrape is one whole-table read (`Handle::table`): about 0.2 s per
//! 2,000 services under QEMU, far less on hardware. Needs `CAP_NET_ADMIN`
//! (and `CAP_SYS_ADMIN` for `--netns`).

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

use lvs::{Handle, Protocol, ServiceKey, Stats, TableEntry};

/// A counter's name, what it counts, and where to find it in [`Stats`].
type Counter = (&'static str, &'static str, fn(&Stats) -> u64);

/// The exporter's metrics for `table`, in Prometheus' text format.
/// `totals` is the text of `/proc/net/ip_vs_stats` (the kernel's counters
/// since boot, over every service that ever was), if it could be read.
pub fn render(table: &[TableEntry], totals: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(t) = totals.and_then(parse_totals) {
        for (name, help, v) in [
            ("connections", "connections", t.conns),
            ("incoming_packets", "incoming packets", t.in_packets),
            ("outgoing_packets", "outgoing packets", t.out_packets),
            ("incoming_bytes", "incoming bytes", t.in_bytes),
            ("outgoing_bytes", "outgoing bytes", t.out_bytes),
        ] {
            let _ = writeln!(
                out,
                "# HELP node_ipvs_{name}_total The total number of {help}."
            );
            let _ = writeln!(out, "# TYPE node_ipvs_{name}_total counter");
            let _ = writeln!(out, "node_ipvs_{name}_total {v}");
        }
    }
    let gauges = [
        (
            "node_ipvs_backend_connections_active",
            "The current active connections by local and remote address.",
        ),
        (
            "node_ipvs_backend_connections_inactive",
            "The current inactive connections by local and remote address.",
        ),
        (
            "node_ipvs_backend_weight",
            "The current backend weight by local and remote address.",
        ),
    ];
    for (i, (name, help)) in gauges.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for e in table {
            for d in &e.destinations {
                let v = match i {
                    0 => d.conns.active,
                    1 => d.conns.inactive,
                    _ => d.destination.weight,
                };
                let labels = backend_labels(&e.service.service.key, d.destination.addr);
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
    }
    let counters: [Counter; 5] = [
        ("connections", "connections", |s| s.conns),
        ("incoming_packets", "incoming packets", |s| s.in_packets),
        ("outgoing_packets", "outgoing packets", |s| s.out_packets),
        ("incoming_bytes", "incoming bytes", |s| s.in_bytes),
        ("outgoing_bytes", "outgoing bytes", |s| s.out_bytes),
    ];
    for (name, help, get) in counters {
        let _ = writeln!(
            out,
            "# HELP lvs_service_{name}_total The {help} of a virtual service."
        );
        let _ = writeln!(out, "# TYPE lvs_service_{name}_total counter");
        for e in table {
            let labels = service_labels(&e.service.service.key);
            let _ = writeln!(
                out,
                "lvs_service_{name}_total{{{labels}}} {}",
                get(&e.service.stats)
            );
        }
        let _ = writeln!(
            out,
            "# HELP lvs_backend_{name}_total The {help} of a real server."
        );
        let _ = writeln!(out, "# TYPE lvs_backend_{name}_total counter");
        for e in table {
            for d in &e.destinations {
                let labels = backend_labels(&e.service.service.key, d.destination.addr);
                let _ = writeln!(
                    out,
                    "lvs_backend_{name}_total{{{labels}}} {}",
                    get(&d.stats)
                );
            }
        }
    }
    out
}

/// The labels node_exporter gives a virtual service: its address and port
/// (empty and 0 for a firewall-mark service), protocol as
/// `/proc/net/ip_vs` spells it, and mark (empty for an address service).
fn service_labels(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr } => format!(
            "local_address=\"{}\",local_port=\"{}\",proto=\"{}\",local_mark=\"\"",
            addr.ip(),
            addr.port(),
            proto(*protocol)
        ),
        ServiceKey::Fwmark { mark, .. } => {
            format!("local_address=\"\",local_port=\"0\",proto=\"FWM\",local_mark=\"{mark}\"")
        }
        other => format!("local_address=\"\",local_port=\"0\",proto=\"{other}\",local_mark=\"\""),
    }
}

fn backend_labels(key: &ServiceKey, remote: std::net::SocketAddr) -> String {
    format!(
        "{},remote_address=\"{}\",remote_port=\"{}\"",
        service_labels(key),
        remote.ip(),
        remote.port()
    )
}

fn proto(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "TCP".into(),
        Protocol::Udp => "UDP".into(),
        Protocol::Sctp => "SCTP".into(),
        Protocol::Other(n) => n.to_string(),
        _ => "other".into(),
    }
}

/// The first row of `/proc/net/ip_vs_stats`: conns, packets in and out,
/// bytes in and out, in hexadecimal.
fn parse_totals(text: &str) -> Option<Stats> {
    let row = text.lines().nth(2)?;
    let v: Vec<u64> = row
        .split_whitespace()
        .map(|f| u64::from_str_radix(f, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [conns, in_packets, out_packets, in_bytes, out_bytes] = v[..] else {
        return None;
    };
    let mut s = Stats::default();
    (
        s.conns,
        s.in_packets,
        s.out_packets,
        s.in_bytes,
        s.out_bytes,
    ) = (conns, in_packets, out_packets, in_bytes, out_bytes);
    Some(s)
}

/// Answer one HTTP request: `GET /metrics` with a fresh reading, anything
/// else with 404. The totals are read only when the handle is in the
/// calling thread's own namespace (`/proc/thread-self/net` is that one's).
fn answer(mut conn: TcpStream, handle: &mut Handle, own_netns: bool) -> io::Result<()> {
    let mut line = String::new();
    let mut reader = BufReader::new(conn.try_clone()?);
    reader.read_line(&mut line)?;
    // Skip the headers.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let (status, body) = if line.starts_with("GET /metrics ") {
        match handle.table() {
            Ok(t) => {
                let totals = own_netns
                    .then(|| std::fs::read_to_string("/proc/thread-self/net/ip_vs_stats").ok())
                    .flatten();
                ("200 OK", render(&t, totals.as_deref()))
            }
            Err(e) => ("503 Service Unavailable", format!("reading IPVS: {e}\n")),
        }
    } else {
        ("404 Not Found", "try /metrics\n".to_string())
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Serve `/metrics` on `listener` from `handle`, one request at a time,
/// until the listener fails. `own_netns`: the handle is in the calling
/// thread's namespace, whose totals can be read from `/proc`.
pub fn serve(listener: TcpListener, mut handle: Handle, own_netns: bool) -> io::Result<()> {
    for conn in listener.incoming() {
        if let Err(e) = conn.and_then(|c| answer(c, &mut handle, own_netns)) {
            eprintln!("exporter: {e}");
        }
    }
    Ok(())
}

fn main() {
    let mut listen = "127.0.0.1:9923".to_string();
    let mut netns = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--netns", Some(v)) => netns = Some(v),
            _ => {
                eprintln!("usage: exporter [--listen ADDR:PORT] [--netns PATH]");
                std::process::exit(2);
            }
        }
    }
    let handle = match &netns {
        Some(p) => Handle::open_netns_path(p),
        None => Handle::open(),
    };
    let handle = handle.unwrap_or_else(|e| {
        eprintln!("exporter: {e}");
        std::process::exit(1);
    });
    let listener = TcpListener::bind(&listen).unwrap_or_else(|e| {
        eprintln!("exporter: listen on {listen}: {e}");
        std::process::exit(1);
    });
    eprintln!("exporter: serving http://{listen}/metrics");
    if let Err(e) = serve(listener, handle, netns.is_none()) {
        eprintln!("exporter: {e}");
        std::process::exit(1);
    }
}
