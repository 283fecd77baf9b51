//! Writing rules: the canonical text and `ipvsadm -S`'s exact output.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use super::{Rule, names};
use crate::error::{Error, Operation, Result};
use crate::model::{
    AddressFamily, Destination, Forwarding, IpvsadmAddr, Netmask, Op, Protocol, Service,
    ServiceKey, TableEntry, Tunnel, ntop, protocol_switch,
};

pub use crate::model::IpvsadmKey;

/// How a line is written.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    /// Addresses and ports as numbers (`-n`), else host and service names
    /// where `/etc/hosts` and `/etc/services` have them.
    numeric: bool,
    /// Write `-x`/`-y` (`ipvsadm -S` does not).
    thresholds: bool,
    /// Write firewall marks as ipvsadm's `printf("%d")` does: marks above
    /// 2^31 - 1 come out negative (and ipvsadm -R refuses them then).
    signed_marks: bool,
}

impl Style {
    /// The canonical text: numeric, thresholds kept.
    pub(super) const CANONICAL: Style = Style {
        numeric: true,
        thresholds: true,
        signed_marks: false,
    };
}

/// `addr:port` as ipvsadm prints it in listings and rules (`[addr]:port`
/// for IPv6, glibc's `inet_ntop` spelling): numbers with `numeric` (as
/// `ipvsadm -n`), else the host name from `/etc/hosts` and the service
/// name from `/etc/services` (for `protocol`) where they have one.
///
/// ```
/// use lvs::Protocol;
/// let a = "[::2:3]:80".parse().unwrap();
/// assert_eq!(lvs::rules::addr_port(a, Some(Protocol::Tcp), true), "[::0.2.0.3]:80");
/// ```
pub fn addr_port(addr: SocketAddr, protocol: Option<Protocol>, numeric: bool) -> String {
    if numeric {
        return IpvsadmAddr(addr).to_string();
    }
    let host = names::host_of(addr.ip())
        .map(str::to_owned)
        .unwrap_or_else(|| ntop(addr.ip()));
    let port = names::service_of(addr.port(), protocol)
        .map(str::to_owned)
        .unwrap_or_else(|| addr.port().to_string());
    match addr.ip() {
        IpAddr::V4(_) => format!("{host}:{port}"),
        IpAddr::V6(_) => format!("[{host}]:{port}"),
    }
}

/// The service part of a line: `-t 10.0.0.1:80`, `-f 42 -6`, ...
fn service_part(out: &mut String, key: &ServiceKey, style: Style) {
    match key {
        ServiceKey::Addr { protocol, addr } => {
            let _ = write!(
                out,
                "{} {}",
                protocol_switch(*protocol),
                addr_port(*addr, Some(*protocol), style.numeric)
            );
        }
        ServiceKey::Fwmark { family, mark } => {
            if style.signed_marks {
                let _ = write!(out, "-f {}", *mark as i32);
            } else {
                let _ = write!(out, "-f {mark}");
            }
            if *family == AddressFamily::Inet6 {
                out.push_str(" -6");
            }
        }
    }
}

/// `-s`, `-p`, `-M`, `--pe`, `-o`, `-b`, in `ipvsadm -S`'s order.
fn service_options(out: &mut String, s: &Service) {
    let _ = write!(out, " -s {}", s.scheduler.name());
    if let Some(p) = &s.persistence {
        let _ = write!(out, " -p {}", p.timeout);
        if p.netmask != Netmask::full(s.key.family()) {
            let _ = write!(out, " -M {}", p.netmask);
        }
    }
    if let Some(pe) = &s.persistence_engine {
        let _ = write!(out, " --pe {pe}");
    }
    if s.one_packet {
        out.push_str(" -o");
    }
    if let Some(h) = s.scheduler.hash_flags()
        && (h.fallback || h.port)
    {
        let n = s.scheduler.name();
        out.push_str(" -b ");
        match (h.fallback, h.port) {
            (true, true) => {
                let _ = write!(out, "{n}-fallback,{n}-port");
            }
            (true, false) => {
                let _ = write!(out, "{n}-fallback");
            }
            _ => {
                let _ = write!(out, "{n}-port");
            }
        }
    }
}

/// `-r ADDR FWD -w W` and the tunnel options, then the thresholds.
fn dest_options(out: &mut String, key: &ServiceKey, d: &Destination, style: Style) {
    let _ = write!(
        out,
        " -r {} {} -w {}",
        addr_port(d.addr, key.protocol(), style.numeric),
        d.forwarding.ipvsadm_switch(),
        d.weight
    );
    match d.forwarding {
        Forwarding::Tunnel(Tunnel::Ipip) => out.push_str(" --tun-type ipip"),
        Forwarding::Tunnel(Tunnel::Gue { port, checksum }) => {
            let _ = write!(
                out,
                " --tun-type gue --tun-port {port} {}",
                checksum.ipvsadm_option()
            );
        }
        Forwarding::Tunnel(Tunnel::Gre { checksum }) => {
            let _ = write!(
                out,
                " --tun-type gre {}",
                if checksum {
                    "--tun-csum"
                } else {
                    "--tun-nocsum"
                }
            );
        }
        _ => {}
    }
    if style.thresholds {
        if d.upper_threshold != 0 {
            let _ = write!(out, " -x {}", d.upper_threshold);
        }
        if d.lower_threshold != 0 {
            let _ = write!(out, " -y {}", d.lower_threshold);
        }
    }
}

/// One command as text, without a newline.
pub(super) fn rule_line(rule: &Rule, style: Style) -> String {
    let mut out = String::new();
    match rule {
        Rule::AddService(s) | Rule::EditService(s) => {
            out.push_str(if matches!(rule, Rule::AddService(_)) {
                "-A "
            } else {
                "-E "
            });
            service_part(&mut out, &s.key, style);
            service_options(&mut out, s);
        }
        Rule::DeleteService(k) => {
            out.push_str("-D ");
            service_part(&mut out, k, style);
        }
        Rule::AddServer(k, d) | Rule::EditServer(k, d) => {
            out.push_str(if matches!(rule, Rule::AddServer(..)) {
                "-a "
            } else {
                "-e "
            });
            service_part(&mut out, k, style);
            dest_options(&mut out, k, d, style);
        }
        Rule::DeleteServer(k, a) => {
            out.push_str("-d ");
            service_part(&mut out, k, style);
            let _ = write!(out, " -r {}", addr_port(*a, k.protocol(), style.numeric));
        }
        Rule::Clear => out.push_str("-C"),
        Rule::SetTimeouts(t) => {
            let _ = write!(
                out,
                "--set {} {} {}",
                t.tcp.unwrap_or(0),
                t.tcp_fin.unwrap_or(0),
                t.udp.unwrap_or(0)
            );
        }
    }
    out
}

impl Rule {
    /// Check that ipvsadm's syntax can say this command, so that its text
    /// reads back as the same command (see [`Rule`]'s `Display`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// naming what ipvsadm cannot express: a service of another IP
    /// protocol than TCP, UDP and SCTP; forwarding other than NAT, direct
    /// routing and ipip/gue/gre tunnels (e.g. local-node); a direct-routing
    /// or tunnel destination of an address service whose port differs
    /// from the service's (ipvsadm replaces it with the service's port).
    pub fn check(&self) -> Result<()> {
        let key = match self {
            Rule::AddService(s) | Rule::EditService(s) => &s.key,
            Rule::DeleteService(k) | Rule::AddServer(k, _) | Rule::EditServer(k, _) => k,
            Rule::DeleteServer(k, _) => k,
            Rule::Clear | Rule::SetTimeouts(_) => return Ok(()),
        };
        if let Some(Protocol::Other(n)) = key.protocol() {
            return Err(Error::invalid(
                Operation::Validate,
                "key.protocol",
                format!("ipvsadm has no syntax for IP protocol {n} services ({key})"),
            ));
        }
        if let Rule::AddServer(_, d) | Rule::EditServer(_, d) = self {
            let dop = || Operation::AddDestination {
                service: *key,
                dest: d.addr,
            };
            if matches!(
                d.forwarding,
                Forwarding::Local | Forwarding::Other(_) | Forwarding::Tunnel(Tunnel::Other { .. })
            ) {
                return Err(Error::invalid(
                    dop(),
                    "destination.forwarding",
                    format!("ipvsadm has no syntax for {} forwarding", d.forwarding),
                ));
            }
            if let ServiceKey::Addr { addr, .. } = key
                && d.forwarding != Forwarding::Masquerade
                && d.addr.port() != addr.port()
            {
                return Err(Error::invalid(
                    dop(),
                    "destination.addr",
                    format!(
                        "ipvsadm replaces the port of a direct-routing or tunnel destination \
                         with the service's ({}), so it cannot express {}",
                        addr.port(),
                        d.addr
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An operation as the ipvsadm command that does it (see [`Op`]'s doc).
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, Rule::from_op(self)) {
            (_, Some(rule)) => f.write_str(&rule_line(&rule, Style::CANONICAL)),
            (Op::Zero(Some(k)), None) => {
                let mut out = String::from("-Z ");
                service_part(&mut out, k, Style::CANONICAL);
                f.write_str(&out)
            }
            _ => f.write_str("-Z"),
        }
    }
}

// ----- ipvsadm -S ------------------------------------------------------------

/// `AF_INET` and `AF_INET6` as Linux numbers them (ipvsadm compares them).
fn af_number(f: AddressFamily) -> i32 {
    match f {
        AddressFamily::Inet => 2,
        AddressFamily::Inet6 => 10,
    }
}

/// An address as the four host-order 32-bit words of `union nf_inet_addr`
/// (IPv4 in the first word, the rest zero).
fn words(ip: Option<IpAddr>) -> [u32; 4] {
    match ip {
        None => [0; 4],
        Some(IpAddr::V4(v4)) => [u32::from(v4), 0, 0, 0],
        Some(IpAddr::V6(v6)) => {
            let o = v6.octets();
            std::array::from_fn(|i| {
                u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]])
            })
        }
    }
}

/// C's `int r = a - b` of two unsigned 32-bit values (it wraps).
fn c_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// libipvs's address comparison: word by word (four words when the
/// first address is IPv6), each a wrapping difference.
fn cmp_addr(a: Option<IpAddr>, b: Option<IpAddr>) -> i32 {
    let (wa, wb) = (words(a), words(b));
    if matches!(a, Some(IpAddr::V6(_))) {
        let mut r = 0;
        for i in 0..4 {
            r = c_diff(wa[i], wb[i]);
            if r != 0 {
                break;
            }
        }
        r
    } else {
        c_diff(wa[0], wb[0])
    }
}

/// libipvs's `ipvs_cmp_services`, with its C integer arithmetic: a
/// service whose address is more than 2^31 above another's sorts first.
fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    let parts = |k: &ServiceKey| -> (u32, i32, i32, Option<IpAddr>, i32) {
        match *k {
            ServiceKey::Fwmark { family, mark } => (mark, af_number(family), 0, None, 0),
            ServiceKey::Addr { protocol, addr } => (
                0,
                af_number(k.family()),
                i32::from(protocol.number()),
                Some(addr.ip()),
                i32::from(addr.port()),
            ),
        }
    };
    let (fa, afa, pa, ia, porta) = parts(a);
    let (fb, afb, pb, ib, portb) = parts(b);
    let r = c_diff(fa, fb);
    if r != 0 {
        return r;
    }
    if afa != afb {
        return afa - afb;
    }
    if pa != pb {
        return pa - pb;
    }
    let r = cmp_addr(ia, ib);
    if r != 0 {
        return r;
    }
    porta - portb
}

/// libipvs's `ipvs_cmp_dests`.
fn cmp_dests(a: &SocketAddr, b: &SocketAddr) -> i32 {
    let r = cmp_addr(Some(a.ip()), Some(b.ip()));
    if r != 0 {
        return r;
    }
    i32::from(a.port()) - i32::from(b.port())
}

/// glibc's `qsort` for the sizes ipvsadm sorts (its merge sort), so that
/// ipvsadm's comparisons, which are not a total order, give the same
/// result: sort the first half, the second half, then merge taking from
/// the first half while `cmp <= 0`.
fn glibc_msort<T>(items: &mut [usize], all: &[T], cmp: &impl Fn(&T, &T) -> i32) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    glibc_msort(&mut items[..n1], all, cmp);
    glibc_msort(&mut items[n1..], all, cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&all[items[i]], &all[items[j]]) <= 0 {
            merged.push(items[i]);
            i += 1;
        } else {
            merged.push(items[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..n1]);
    let done = merged.len();
    items[..done].copy_from_slice(&merged);
}

/// Sort `list` the way ipvsadm sorts with glibc's `qsort`.
fn ipvsadm_sort<T: Clone>(list: &[T], cmp: impl Fn(&T, &T) -> i32) -> Vec<T> {
    let mut order: Vec<usize> = (0..list.len()).collect();
    glibc_msort(&mut order, list, &cmp);
    order.into_iter().map(|i| list[i].clone()).collect()
}

/// The table in the order `ipvsadm -L` and `ipvsadm -S` print it (without
/// `--nosort`): services and each service's destinations sorted with
/// libipvs's comparisons and glibc's `qsort`, quirks included (addresses
/// compare by a wrapping 32-bit difference, so `10.0.0.1` sorts after
/// `200.0.0.1`).
pub fn ipvsadm_sorted(table: &[TableEntry]) -> Vec<TableEntry> {
    let mut out = ipvsadm_sort(table, |a, b| {
        cmp_services(&a.service.service.key, &b.service.service.key)
    });
    for e in &mut out {
        e.destinations = ipvsadm_sort(&e.destinations, |a, b| {
            cmp_dests(&a.destination.addr, &b.destination.addr)
        });
    }
    out
}

/// `table` exactly as `ipvsadm -S` prints it (`-S -n` with `numeric`):
/// ipvsadm's order ([`ipvsadm_sorted`]), one `-A` line per service
/// followed by its `-a` lines, no thresholds (ipvsadm leaves them out),
/// firewall marks above 2^31 - 1 negative (ipvsadm prints them with
/// `%d`, and its `-R` then refuses them).
/// Without `numeric`, addresses and ports print as names where
/// `/etc/hosts` and `/etc/services` have them (ipvsadm would also ask
/// the DNS for host names; this does not).
///
/// For the lossless text that re-creates the table, kernel order
/// included, print [`Rules::from_table`](super::Rules::from_table).
pub fn save(table: &[TableEntry], numeric: bool) -> String {
    let style = Style {
        numeric,
        thresholds: false,
        signed_marks: true,
    };
    let mut out = String::new();
    for e in ipvsadm_sorted(table) {
        let s = &e.service.service;
        out.push_str(&rule_line(&Rule::AddService(s.clone()), style));
        out.push('\n');
        for d in &e.destinations {
            out.push_str(&rule_line(&Rule::AddServer(s.key, d.destination), style));
            out.push('\n');
        }
    }
    out
}
