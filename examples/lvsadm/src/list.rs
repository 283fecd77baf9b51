//! `-L` listings, as ipvsadm 1.31 prints them.

use std::fmt::Write as _;

use lvs::rules::{addr_port, ipvsadm_sorted};
use lvs::{
    DestinationEntry, Forwarding, Info, Netmask, Protocol, ServiceEntry, ServiceKey, Stats,
    TableEntry, Timeouts,
};

/// How a listing is printed (ipvsadm's `FMT_*` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Format {
    pub(crate) numeric: bool,
    pub(crate) stats: bool,
    pub(crate) rate: bool,
    pub(crate) thresholds: bool,
    pub(crate) persistent_conn: bool,
    pub(crate) nosort: bool,
    pub(crate) exact: bool,
    pub(crate) tun_info: bool,
}

/// The version line `-L` starts with.
pub(crate) fn header(out: &mut String, info: &Info) {
    let (a, b, c) = info.version;
    let _ = writeln!(
        out,
        "IP Virtual Server version {a}.{b}.{c} (size={})",
        info.conn_table_size
    );
}

/// The two title lines of a listing.
pub(crate) fn title(out: &mut String, f: Format) {
    let first = "Prot LocalAddress:Port";
    if f.stats {
        let _ = writeln!(
            out,
            "{first:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        );
    } else if f.rate {
        let _ = writeln!(
            out,
            "{first:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        );
    } else if f.thresholds {
        let _ = writeln!(
            out,
            "{first:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
    } else if f.persistent_conn {
        let _ = writeln!(
            out,
            "{first:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        );
    } else if f.tun_info {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           \
             Forward TunnelInfo    Weight ActiveConn InActConn\n",
        );
    } else {
        out.push_str(
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           \
             Forward Weight ActiveConn InActConn\n",
        );
    }
}

/// A counter in a 9-column field, scaled to K/M/G/T past 10^8 unless
/// `--exact`.
fn largenum(out: &mut String, n: u64, exact: bool) {
    if exact {
        let len = n.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{n:>w$}");
        return;
    }
    let _ = match n {
        0..100_000_000 => write!(out, "{n:>9}"),
        100_000_000..1_000_000_000 => write!(out, "{:>8}K", n / 1000),
        1_000_000_000..100_000_000_000 => write!(out, "{:>8}M", n / 1_000_000),
        100_000_000_000..100_000_000_000_000 => write!(out, "{:>8}G", n / 1_000_000_000),
        _ => write!(out, "{:>8}T", n / 1_000_000_000_000),
    };
}

fn stats5(out: &mut String, s: &Stats, exact: bool) {
    for n in [
        s.conns,
        s.in_packets,
        s.out_packets,
        s.in_bytes,
        s.out_bytes,
    ] {
        largenum(out, n, exact);
    }
}

/// A string cut to `n` bytes (ipvsadm ends its buffers there; the text
/// is ASCII).
fn cut(mut s: String, n: usize) -> String {
    if s.len() > n && s.is_char_boundary(n) {
        s.truncate(n);
    }
    s
}

/// The scheduler flags as ipvsadm lists them (`sh-fallback,sh-port`).
fn sched_flags(s: &ServiceEntry) -> Option<String> {
    let sch = &s.service.scheduler;
    let h = sch.hash_flags()?;
    let n = sch.name();
    let words: Vec<String> = [(h.fallback, "fallback"), (h.port, "port")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, w)| format!("{n}-{w}"))
        .collect();
    (!words.is_empty()).then(|| words.join(","))
}

/// One service and its destinations.
pub(crate) fn service(out: &mut String, e: &TableEntry, f: Format) {
    let se = &e.service;
    let s = &se.service;
    let name = match s.key {
        ServiceKey::Addr { protocol, addr } => {
            let proto = match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
                _ => "?",
            };
            let text = format!("{proto:<4} {}", addr_port(addr, Some(protocol), f.numeric));
            if addr.is_ipv4() { cut(text, 33) } else { text }
        }
        _ => s.key.ipvsadm().to_string(),
    };
    if f.stats {
        let _ = write!(out, "{name:<33}");
        stats5(out, &se.stats, f.exact);
    } else if f.rate {
        let _ = write!(out, "{name:<33}");
        let r = &se.stats.rates;
        for n in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            largenum(out, n, f.exact);
        }
    } else {
        let _ = write!(out, "{name} {}", s.scheduler.name());
        if let Some(flags) = sched_flags(se) {
            let _ = write!(out, " ({flags})");
        }
        if let Some(p) = &s.persistence {
            let _ = write!(out, " persistent {}", p.timeout);
            if p.netmask != Netmask::full(s.key.family()) {
                let _ = write!(out, " mask {}", p.netmask);
            }
            if let Some(pe) = &s.persistence_engine {
                let _ = write!(out, " pe {pe}");
            }
        }
        if s.one_packet {
            out.push_str(" ops");
        }
    }
    out.push('\n');
    let dests: Vec<&DestinationEntry> = e.destinations.iter().collect();
    for d in dests {
        destination(out, &s.key, d, f);
    }
}

fn destination(out: &mut String, key: &ServiceKey, d: &DestinationEntry, f: Format) {
    let c = &d.destination;
    let mut name = addr_port(c.addr, key.protocol(), f.numeric);
    if c.addr.is_ipv4() {
        name = cut(name, 28);
    }
    let fwd = c.forwarding.ipvsadm_name();
    if f.stats {
        let _ = write!(out, "  -> {name:<28}");
        stats5(out, &d.stats, f.exact);
        out.push('\n');
    } else if f.rate {
        let r = &d.stats.rates;
        let _ = write!(
            out,
            "  -> {name:<28} {:>8} {:>8} {:>8}",
            r.cps, r.in_pps, r.out_pps
        );
        largenum(out, r.in_bps, f.exact);
        largenum(out, r.out_bps, f.exact);
        out.push('\n');
    } else if f.thresholds {
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<10} {:<10} {:<10} {:<10}",
            c.upper_threshold, c.lower_threshold, d.conns.active, d.conns.inactive
        );
    } else if f.persistent_conn {
        let _ = writeln!(
            out,
            "  -> {name:<28} {:<9} {:<11} {:<10} {:<10}",
            c.weight, d.conns.persistent, d.conns.active, d.conns.inactive
        );
    } else if f.tun_info {
        let info = match c.forwarding {
            Forwarding::Tunnel(t) => t.to_string(),
            _ => "n/a".to_owned(),
        };
        let _ = writeln!(
            out,
            "  -> {name:<28} {fwd:<7} {info:<13} {:<6} {:<10} {:<10}",
            c.weight, d.conns.active, d.conns.inactive
        );
    } else {
        let _ = writeln!(
            out,
            "  -> {name:<28} {fwd:<7} {:<6} {:<10} {:<10}",
            c.weight, d.conns.active, d.conns.inactive
        );
    }
}

/// The whole table (`-L` without a service), after the header.
pub(crate) fn all(out: &mut String, table: &[TableEntry], f: Format) {
    let table = if f.nosort {
        table.to_vec()
    } else {
        ipvsadm_sorted(table)
    };
    title(out, f);
    for e in &table {
        service(out, e, f);
    }
}

/// One service (`-L -t ADDR`).
pub(crate) fn one(out: &mut String, e: &TableEntry, f: Format) {
    let e = if f.nosort {
        e.clone()
    } else {
        ipvsadm_sorted(std::slice::from_ref(e))
            .pop()
            .unwrap_or_else(|| e.clone())
    };
    title(out, f);
    service(out, &e, f);
}

/// `-L --timeout`.
pub(crate) fn timeouts(out: &mut String, t: &Timeouts) {
    let _ = writeln!(
        out,
        "Timeout (tcp tcpfin udp): {} {} {}",
        t.tcp.unwrap_or(0),
        t.tcp_fin.unwrap_or(0),
        t.udp.unwrap_or(0)
    );
}

/// `-L --daemon`.
pub(crate) fn daemons(out: &mut String, list: &[lvs::SyncDaemon]) {
    for d in list {
        let role = match d.role {
            lvs::DaemonRole::Master => "master",
            lvs::DaemonRole::Backup => "backup",
            _ => continue,
        };
        let _ = write!(
            out,
            "{role} sync daemon (mcast={}, syncid={}",
            d.interface, d.sync_id
        );
        if let Some(m) = d.max_len.filter(|m| *m != 0) {
            let _ = write!(out, ", maxlen={m}");
        }
        if let Some(g) = d.group {
            let _ = write!(out, ", group={}", lvs::rules::ntop(g));
        }
        if let Some(p) = d.port.filter(|p| *p != 0) {
            let _ = write!(out, ", port={p}");
        }
        if let Some(t) = d.ttl.filter(|t| *t != 0) {
            let _ = write!(out, ", ttl={t}");
        }
        out.push_str(")\n");
    }
}
