//! The nftables side: what must be masqueraded and filtered, rendered as
//! one `nft -f` script that replaces the proxy's table atomically.
//!
//! The table (`inet lvs-proxy`) plays the part of kube-proxy's iptables +
//! ipset rules in IPVS mode:
//! - packets to a service that must be masqueraded get a mark before IPVS
//!   sees them (prerouting for forwarded and outside traffic, output for
//!   the node's own), and postrouting masquerades marked packets;
//! - a pod balanced to itself (hairpin) is masqueraded, or its reply would
//!   skip IPVS;
//! - a load-balancer IP with `loadBalancerSourceRanges` drops other
//!   sources in the input hook, before IPVS (which hooks input later).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use lvs::Protocol;

/// The table's name (family `inet`).
pub const TABLE: &str = "lvs-proxy";

/// The packet mark bit meaning "masquerade this" (kube-proxy's 0x4000).
pub const MASQ_MARK: u32 = 0x4000;

/// Address, protocol and port of a service or endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tuple {
    /// The IP address.
    pub addr: IpAddr,
    /// TCP, UDP or SCTP.
    pub protocol: Protocol,
    /// The port.
    pub port: u16,
}

/// The data of the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Service tuples whose every packet is masqueraded (NodePorts,
    /// external and LB IPs under `externalTrafficPolicy: Cluster`; every
    /// service with `--masquerade-all`).
    pub masquerade: BTreeSet<Tuple>,
    /// ClusterIP tuples masqueraded when the source is outside
    /// `--cluster-cidr`.
    pub masquerade_outside: BTreeSet<Tuple>,
    /// Endpoint tuples: a packet from the endpoint's own address to it is
    /// hairpin traffic and is masqueraded.
    pub hairpin: BTreeSet<Tuple>,
    /// Load-balancer tuples with the only source prefixes allowed.
    pub source_ranges: BTreeMap<Tuple, Vec<IpNet>>,
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
        _ => "tcp",
    }
}

/// One family's view: `ip` or `ip6`, and the nft address type.
struct Fam {
    v6: bool,
    kw: &'static str,
    ty: &'static str,
    sfx: &'static str,
}

const FAMS: [Fam; 2] = [
    Fam {
        v6: false,
        kw: "ip",
        ty: "ipv4_addr",
        sfx: "4",
    },
    Fam {
        v6: true,
        kw: "ip6",
        ty: "ipv6_addr",
        sfx: "6",
    },
];

fn tup(t: &Tuple) -> String {
    format!("{} . {} . {}", t.addr, proto(t.protocol), t.port)
}

/// Render the whole table as an `nft -f` script that creates or replaces
/// it in one transaction. `cluster_cidrs` is `--cluster-cidr`.
pub fn render(rules: &Rules, cluster_cidrs: &[IpNet]) -> String {
    let mut s = String::new();
    // Create-if-missing, delete, create: one atomic replacement.
    let _ = writeln!(s, "table inet {TABLE}\ndelete table inet {TABLE}");
    let _ = writeln!(s, "table inet {TABLE} {{");
    let mut pre = String::new();
    let mut post = String::new();
    let mut input = String::new();
    for f in &FAMS {
        let of = |t: &&Tuple| t.addr.is_ipv6() == f.v6;
        let tuple_ty = format!("{} . inet_proto . inet_service", f.ty);
        let sets: [(&str, String, bool, Vec<String>); 6] = [
            (
                "masq",
                tuple_ty.clone(),
                false,
                rules.masquerade.iter().filter(of).map(tup).collect(),
            ),
            (
                "masq-outside",
                tuple_ty.clone(),
                false,
                rules
                    .masquerade_outside
                    .iter()
                    .filter(of)
                    .map(tup)
                    .collect(),
            ),
            (
                "cluster-cidr",
                f.ty.to_string(),
                true,
                cluster_cidrs
                    .iter()
                    .filter(|n| n.addr().is_ipv6() == f.v6)
                    .map(|n| n.to_string())
                    .collect(),
            ),
            (
                "hairpin",
                format!("{tuple_ty} . {}", f.ty),
                false,
                rules
                    .hairpin
                    .iter()
                    .filter(of)
                    .map(|t| format!("{} . {}", tup(t), t.addr))
                    .collect(),
            ),
            (
                "fw",
                tuple_ty.clone(),
                false,
                rules.source_ranges.keys().filter(of).map(tup).collect(),
            ),
            (
                "fw-allow",
                format!("{tuple_ty} . {}", f.ty),
                true,
                rules
                    .source_ranges
                    .iter()
                    .filter(|(t, _)| t.addr.is_ipv6() == f.v6)
                    .flat_map(|(t, nets)| nets.iter().map(move |n| format!("{} . {n}", tup(t))))
                    .collect(),
            ),
        ];
        for (name, ty, interval, el) in sets {
            let flags = if interval { " flags interval;" } else { "" };
            let el = if el.is_empty() {
                String::new()
            } else {
                format!(" elements = {{ {} }};", el.join(", "))
            };
            let _ = writeln!(s, "  set {name}{} {{ type {ty};{flags}{el} }}", f.sfx);
        }
        let (kw, x) = (f.kw, f.sfx);
        let dst = format!("{kw} daddr . meta l4proto . th dport");
        let _ = writeln!(
            pre,
            "    {dst} @masq{x} meta mark set meta mark | {MASQ_MARK:#x}"
        );
        let _ = writeln!(
            pre,
            "    {dst} @masq-outside{x} {kw} saddr != @cluster-cidr{x} meta mark set meta mark | {MASQ_MARK:#x}"
        );
        let _ = writeln!(post, "    {dst} . {kw} saddr @hairpin{x} masquerade");
        let _ = writeln!(
            input,
            "    {dst} @fw{x} {dst} . {kw} saddr != @fw-allow{x} counter drop"
        );
    }
    let _ = writeln!(
        s,
        "  chain mark-pre {{ type filter hook prerouting priority mangle; policy accept;\n{pre}  }}"
    );
    let _ = writeln!(
        s,
        "  chain mark-out {{ type route hook output priority mangle; policy accept;\n{pre}  }}"
    );
    let _ = writeln!(
        s,
        "  chain post {{ type nat hook postrouting priority srcnat; policy accept;\n    meta mark & {MASQ_MARK:#x} == {MASQ_MARK:#x} meta mark set meta mark & {:#x} masquerade\n{post}  }}",
        !MASQ_MARK
    );
    let _ = writeln!(
        s,
        "  chain source-ranges {{ type filter hook input priority filter; policy accept;\n{input}  }}"
    );
    s.push_str("}\n");
    s
}

/// The script that removes the table (`--cleanup`).
pub fn cleanup_script() -> String {
    format!("table inet {TABLE}\ndelete table inet {TABLE}\n")
}
