//! Host property tests of the wire codec (no kernel needed).
//!
//! - Model round trips: every request `lvs` builds (`lvs::request`)
//!   parses back to the value it was built from, both as the request
//!   itself and as the kernel would echo it in a GET reply (16-byte
//!   addresses, the HASHED flag set, statistics nests, connection counts,
//!   nests without `NLA_F_NESTED`). HASHED never reaches the user, and a
//!   service read back re-encodes to the very bytes it was created with.
//! - Attribute round trips: arbitrary attribute lists emit -> parse to
//!   themselves (and re-emit to the same bytes), `Other` kinds kept.
//! - Robustness: arbitrary and mutated bytes, and arbitrary attribute
//!   lists, never make any parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvs::request;
use lvs::wire::consts::*;
use lvs::wire::{Attribute, RawAttr, emit_attrs};
use lvs::wire::{
    CmdAttr, DaemonAttr, DestAttr, InfoAttr, Messages, ServiceAttr, StatsAttr, SvcFlags,
    parse_cmd_attrs, parse_info_attrs,
};
use lvs::{
    AddressFamily, ConnCounts, Destination, Forwarding, GueChecksum, HashFlags, Netmask,
    Persistence, Protocol, Rates, SchedName, Scheduler, Service, ServiceKey, Stats, Thresholds,
    Timeouts, Tunnel,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

mod wire_common;
use wire_common::{raw16, req};

// ----- helpers ----------------------------------------------------------

/// Emit attributes after `fill` bytes already in the buffer (the writer
/// appends, so what was there must not leak into or shift the output).
fn emit_with<T: Attribute>(attrs: &[T], fill: u8) -> Vec<u8> {
    let mut b = vec![fill; 3];
    let mut w = lvs::wire::MsgWriter::attributes(&mut b);
    w.attrs(attrs);
    let n = w.finish().expect("attributes fit");
    assert_eq!(b.len(), 3 + n);
    let out = b.split_off(3);
    assert_eq!(out, emit_attrs(attrs).expect("attributes fit"));
    out
}

/// Emit attributes, checking that every byte is written (two different
/// fills give the same bytes).
fn emit<T: Attribute>(attrs: &[T]) -> Vec<u8> {
    let a = emit_with(attrs, 0xa5);
    assert_eq!(a, emit_with(attrs, 0x5a), "emit left bytes unwritten");
    a
}

/// A nest as the kernel emits it in replies: no `NLA_F_NESTED`.
fn kernel_nest(kind: u16, inner: Vec<u8>) -> RawAttr {
    RawAttr::new(kind, inner)
}

struct Header {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    cmd: u8,
    version: u8,
    reserved: u16,
}

/// Split a buffer holding exactly one request into header and attributes.
fn one_message(buf: &[u8]) -> (Header, Vec<CmdAttr>) {
    let mut it = Messages::new(buf);
    let m = it.next().expect("one message").expect("well-formed");
    assert!(it.next().is_none(), "exactly one message");
    let (cmd, attrs) = m.genl().expect("genl header");
    let h = Header {
        len: u32::from_ne_bytes(buf[0..4].try_into().unwrap()),
        kind: m.kind,
        flags: m.flags,
        seq: m.seq,
        pid: m.port,
        cmd,
        version: buf[17],
        reserved: u16::from_ne_bytes([buf[18], buf[19]]),
    };
    assert_eq!(h.len as usize, buf.len());
    // Attribute bytes re-emit to themselves.
    let parsed = parse_cmd_attrs(attrs).expect("attributes parse");
    assert_eq!(emit(&parsed), attrs, "re-emitted attributes differ");
    (h, parsed)
}

fn check_header(h: &Header, family: u16, seq: u32, cmd: u8, flags: u16) {
    assert_eq!(h.kind, family);
    assert_eq!(h.flags, NLM_F_REQUEST | flags);
    assert_eq!(h.seq, seq);
    assert_eq!(h.pid, 0);
    assert_eq!(h.cmd, cmd);
    assert_eq!(h.version, IPVS_GENL_VERSION);
    assert_eq!(h.reserved, 0);
}

fn af(f: AddressFamily) -> u16 {
    match f {
        AddressFamily::Inet => AF_INET,
        AddressFamily::Inet6 => AF_INET6,
    }
}

/// The identifying attributes of a service, written from the kernel's
/// rules (ip_vs_genl_parse_service), independently of the crate.
fn oracle_key_attrs(key: &ServiceKey) -> Vec<ServiceAttr> {
    match key {
        ServiceKey::Fwmark { family, mark } => {
            vec![ServiceAttr::Af(af(*family)), ServiceAttr::Fwmark(*mark)]
        }
        ServiceKey::Addr { protocol, addr } => vec![
            ServiceAttr::Af(af(AddressFamily::of(addr.ip()))),
            ServiceAttr::Protocol(protocol.number()),
            ServiceAttr::Addr(raw16(addr.ip())),
            ServiceAttr::Port(addr.port()),
        ],
        _ => unreachable!("new ServiceKey variant"),
    }
}

/// Decode a key from identifying attributes (the inverse of the above).
fn oracle_key(attrs: &[ServiceAttr]) -> ServiceKey {
    let family = match attrs.first() {
        Some(ServiceAttr::Af(AF_INET)) => AddressFamily::Inet,
        Some(ServiceAttr::Af(AF_INET6)) => AddressFamily::Inet6,
        other => panic!("key starts with {other:?}"),
    };
    match &attrs[1..] {
        [ServiceAttr::Fwmark(m)] => ServiceKey::fwmark(family, *m),
        [
            ServiceAttr::Protocol(p),
            ServiceAttr::Addr(a),
            ServiceAttr::Port(port),
        ] => {
            let ip = match family {
                AddressFamily::Inet => {
                    assert_eq!(a[4..], [0; 12], "IPv4 address must be zero padded");
                    IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))
                }
                AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(*a)),
            };
            ServiceKey::Addr {
                protocol: Protocol::from_number(*p),
                addr: SocketAddr::new(ip, *port),
            }
        }
        rest => panic!("not a key: {rest:?}"),
    }
}

/// The statistics nests a kernel sends: STATS (u32 except bytes) and,
/// unless `old_kernel`, STATS64; `pad` adds the PAD attribute some
/// architectures emit.
fn stats_nests(s: &Stats, old_kernel: bool, pad: bool) -> Vec<(usize, Vec<u8>)> {
    let vals = [
        (IPVS_STATS_ATTR_CONNS, s.conns),
        (IPVS_STATS_ATTR_INPKTS, s.in_packets),
        (IPVS_STATS_ATTR_OUTPKTS, s.out_packets),
        (IPVS_STATS_ATTR_INBYTES, s.in_bytes),
        (IPVS_STATS_ATTR_OUTBYTES, s.out_bytes),
        (IPVS_STATS_ATTR_CPS, s.rates.cps),
        (IPVS_STATS_ATTR_INPPS, s.rates.in_pps),
        (IPVS_STATS_ATTR_OUTPPS, s.rates.out_pps),
        (IPVS_STATS_ATTR_INBPS, s.rates.in_bps),
        (IPVS_STATS_ATTR_OUTBPS, s.rates.out_bps),
    ];
    let pad_attr = StatsAttr::Other(RawAttr::new(IPVS_STATS_ATTR_PAD, vec![]));
    let mut s32: Vec<StatsAttr> = vals
        .iter()
        .map(|&(k, v)| match k {
            IPVS_STATS_ATTR_INBYTES | IPVS_STATS_ATTR_OUTBYTES => StatsAttr::U64(k, v),
            _ => StatsAttr::U32(k, v as u32),
        })
        .collect();
    let mut s64: Vec<StatsAttr> = vals.iter().map(|&(k, v)| StatsAttr::U64(k, v)).collect();
    if pad {
        s32.insert(3, pad_attr.clone());
        s64.insert(0, pad_attr);
    }
    let mut out = vec![(0, emit(&s32))];
    if !old_kernel {
        out.push((1, emit(&s64)));
    }
    out
}

/// What the parser must make of `stats_nests(s, old_kernel, _)`.
fn expected_stats(s: &Stats, old_kernel: bool) -> Stats {
    if !old_kernel {
        return Stats {
            from_32bit: false,
            ..*s
        };
    }
    Stats {
        conns: s.conns as u32 as u64,
        in_packets: s.in_packets as u32 as u64,
        out_packets: s.out_packets as u32 as u64,
        in_bytes: s.in_bytes,
        out_bytes: s.out_bytes,
        rates: Rates {
            cps: s.rates.cps as u32 as u64,
            in_pps: s.rates.in_pps as u32 as u64,
            out_pps: s.rates.out_pps as u32 as u64,
            in_bps: s.rates.in_bps as u32 as u64,
            out_bps: s.rates.out_bps as u32 as u64,
        },
        from_32bit: true,
    }
}

/// A GET_SERVICE reply payload built from the service nest of a request,
/// the way `ip_vs_genl_fill_service` answers: same attributes and order,
/// flags with HASHED and a full mask, then STATS and STATS64; the nests
/// carry no `NLA_F_NESTED`.
fn kernel_service_reply(req: &[ServiceAttr], stats: &Stats, old: bool, pad: bool) -> Vec<u8> {
    let mut attrs: Vec<ServiceAttr> = req
        .iter()
        .map(|a| match a {
            ServiceAttr::Flags(f) => ServiceAttr::Flags(SvcFlags {
                flags: f.flags | IP_VS_SVC_F_HASHED,
                mask: !0,
            }),
            a => a.clone(),
        })
        .collect();
    for (which, bytes) in stats_nests(stats, old, pad) {
        let kind = [IPVS_SVC_ATTR_STATS, IPVS_SVC_ATTR_STATS64][which];
        attrs.push(ServiceAttr::Other(kernel_nest(kind, bytes)));
    }
    emit(&[CmdAttr::Other(kernel_nest(
        IPVS_CMD_ATTR_SERVICE,
        emit(&attrs),
    ))])
}

/// A GET_DEST reply payload built from the dest nest of a request, in
/// `ip_vs_genl_fill_dest` order. `old` leaves out what kernels before
/// 5.2 (tunnel attributes), 3.18 (ADDR_FAMILY) and 4.1 (STATS64) lack.
fn kernel_dest_reply(
    req: &[DestAttr],
    conns: &ConnCounts,
    stats: &Stats,
    old: bool,
    pad: bool,
) -> Vec<u8> {
    let get = |k: u16| {
        req.iter()
            .find(|a| a.kind() & NLA_TYPE_MASK == k)
            .unwrap_or_else(|| panic!("request lacks dest attribute {k}"))
            .clone()
    };
    let mut attrs = vec![
        get(IPVS_DEST_ATTR_ADDR),
        get(IPVS_DEST_ATTR_PORT),
        get(IPVS_DEST_ATTR_FWD_METHOD),
        get(IPVS_DEST_ATTR_WEIGHT),
    ];
    if !old {
        // Sent only with tunnel forwarding; the kernel stores zeros when
        // they are absent and always reports them.
        let tun = |k: u16, zero: DestAttr| {
            req.iter()
                .find(|a| a.kind() & NLA_TYPE_MASK == k)
                .cloned()
                .unwrap_or(zero)
        };
        attrs.push(tun(IPVS_DEST_ATTR_TUN_TYPE, DestAttr::TunType(0)));
        attrs.push(tun(IPVS_DEST_ATTR_TUN_PORT, DestAttr::TunPort(0)));
        attrs.push(tun(IPVS_DEST_ATTR_TUN_FLAGS, DestAttr::TunFlags(0)));
    }
    attrs.extend([
        get(IPVS_DEST_ATTR_U_THRESH),
        get(IPVS_DEST_ATTR_L_THRESH),
        DestAttr::ActiveConns(conns.active),
        DestAttr::InactConns(conns.inactive),
        DestAttr::PersistConns(conns.persistent),
    ]);
    if !old {
        attrs.push(get(IPVS_DEST_ATTR_ADDR_FAMILY));
    }
    for (which, bytes) in stats_nests(stats, old, pad) {
        let kind = [IPVS_DEST_ATTR_STATS, IPVS_DEST_ATTR_STATS64][which];
        attrs.push(DestAttr::Other(kernel_nest(kind, bytes)));
    }
    emit(&[CmdAttr::Other(kernel_nest(
        IPVS_CMD_ATTR_DEST,
        emit(&attrs),
    ))])
}

// ----- strategies: model values ----------------------------------------

fn family() -> impl Strategy<Value = AddressFamily> {
    prop_oneof![Just(AddressFamily::Inet), Just(AddressFamily::Inet6)]
}

fn ip_of(f: AddressFamily) -> BoxedStrategy<IpAddr> {
    match f {
        AddressFamily::Inet => any::<u32>()
            .prop_map(|v| IpAddr::V4(Ipv4Addr::from(v)))
            .boxed(),
        AddressFamily::Inet6 => any::<u128>()
            .prop_map(|v| IpAddr::V6(Ipv6Addr::from(v)))
            .boxed(),
    }
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        3 => Just(Protocol::Tcp),
        3 => Just(Protocol::Udp),
        2 => Just(Protocol::Sctp),
        // Protocol::Other(6/17/132) is not canonical; see other_protocol_aliases.
        // IP protocol numbers are 0..=255; validation refuses more.
        1 => (0u16..=255)
            .prop_filter("named protocol", |n| ![6, 17, 132].contains(n))
            .prop_map(Protocol::Other),
    ]
}

fn service_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        3 => (protocol(), family(), any::<u16>()).prop_flat_map(|(p, f, port)| {
            ip_of(f).prop_map(move |ip| ServiceKey::Addr {
                protocol: p,
                addr: SocketAddr::new(ip, port),
            })
        }),
        1 => (family(), 1..=u32::MAX).prop_map(|(f, m)| ServiceKey::fwmark(f, m)),
    ]
}

fn hash_flags() -> impl Strategy<Value = HashFlags> {
    (any::<bool>(), any::<bool>()).prop_map(|(fallback, port)| HashFlags { fallback, port })
}

fn module_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,15}"
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    prop_oneof![
        Just(Scheduler::Rr),
        Just(Scheduler::Wrr),
        Just(Scheduler::Lc),
        Just(Scheduler::Wlc),
        Just(Scheduler::Sed),
        Just(Scheduler::Nq),
        Just(Scheduler::Dh),
        hash_flags().prop_map(Scheduler::Sh),
        hash_flags().prop_map(Scheduler::Mh),
        Just(Scheduler::Lblc),
        Just(Scheduler::Lblcr),
        Just(Scheduler::Fo),
        Just(Scheduler::Ovf),
        Just(Scheduler::Twos),
        Just(Scheduler::None),
        module_name().prop_filter_map("built-in name", |n| match Scheduler::from_name(&n) {
            Ok(Scheduler::Custom(_)) => SchedName::new(n).ok().map(Scheduler::Custom),
            _ => None,
        }),
    ]
}

fn netmask(f: AddressFamily) -> BoxedStrategy<Netmask> {
    match f {
        AddressFamily::Inet => prop_oneof![
            // The kernel takes any 32-bit mask, but lvs refuses a
            // non-prefix one on write (`Service::validate`), and these
            // values are encoded.
            (0u8..=32).prop_map(|l| Netmask::prefix(AddressFamily::Inet, l).unwrap()),
            Just(Netmask::V4(Ipv4Addr::BROADCAST)),
        ]
        .boxed(),
        AddressFamily::Inet6 => (1u8..=128).prop_map(Netmask::V6).boxed(),
    }
}

fn service() -> impl Strategy<Value = Service> {
    service_key().prop_flat_map(|key| {
        let persistence = option::of((
            prop_oneof![
                Just(1),
                Just(Persistence::MAX_TIMEOUT),
                1..=Persistence::MAX_TIMEOUT
            ],
            netmask(key.family()),
        ));
        (
            Just(key),
            scheduler(),
            persistence,
            any::<bool>(),
            option::of(module_name()),
        )
            .prop_map(|(mut key, sched, pers, one_packet, pe)| {
                // Port 0 (every port) is valid only with persistence.
                if let ServiceKey::Addr { addr, .. } = &mut key
                    && pers.is_none()
                    && addr.port() == 0
                {
                    addr.set_port(1);
                }
                let mut s = Service::new(key).with_scheduler(sched);
                if let Some((timeout, mask)) = pers {
                    s = s.with_persistence_netmask(timeout, mask);
                    if let Some(pe) = pe {
                        s = s.with_persistence_engine(pe);
                    }
                }
                let op_ok = matches!(key.protocol(), None | Some(Protocol::Udp));
                s.with_one_packet(one_packet && op_ok)
            })
    })
}

fn forwarding() -> impl Strategy<Value = Forwarding> {
    let csum = prop_oneof![
        Just(GueChecksum::None),
        Just(GueChecksum::Checksum),
        Just(GueChecksum::RemoteChecksum),
    ];
    prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Local),
        Just(Forwarding::Tunnel(Tunnel::Ipip)),
        (1..=u16::MAX, csum)
            .prop_map(|(port, checksum)| Forwarding::Tunnel(Tunnel::Gue { port, checksum })),
        any::<bool>().prop_map(|checksum| Forwarding::Tunnel(Tunnel::Gre { checksum })),
    ]
}

fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(Destination::MAX_WEIGHT),
        0..=Destination::MAX_WEIGHT
    ]
}

fn thresholds() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        Just((0, 0)),
        any::<u32>().prop_map(|u| (0, u)),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

/// A destination valid for `key`: same family, or any family when tunnelled.
fn destination_for(key: ServiceKey) -> impl Strategy<Value = Destination> {
    (forwarding(), family(), any::<u16>(), weight(), thresholds()).prop_flat_map(
        move |(fwd, f, port, w, (lower, upper))| {
            let f = if matches!(fwd, Forwarding::Tunnel(_)) {
                f
            } else {
                key.family()
            };
            ip_of(f).prop_map(move |ip| {
                Destination::new(SocketAddr::new(ip, port))
                    .with_forwarding(fwd)
                    .with_weight(w)
                    .with_thresholds(Thresholds { upper, lower })
            })
        },
    )
}

fn service_and_dest() -> impl Strategy<Value = (ServiceKey, Destination)> {
    service_key().prop_flat_map(|k| (Just(k), destination_for(k)))
}

fn stats() -> impl Strategy<Value = Stats> {
    (any::<[u64; 5]>(), any::<[u64; 5]>()).prop_map(|(c, r)| Stats {
        conns: c[0],
        in_packets: c[1],
        out_packets: c[2],
        in_bytes: c[3],
        out_bytes: c[4],
        rates: Rates {
            cps: r[0],
            in_pps: r[1],
            out_pps: r[2],
            in_bps: r[3],
            out_bps: r[4],
        },
        from_32bit: false,
    })
}

fn conns() -> impl Strategy<Value = ConnCounts> {
    any::<[u32; 3]>().prop_map(|c| ConnCounts {
        active: c[0],
        inactive: c[1],
        persistent: c[2],
    })
}

fn timeout_value() -> impl Strategy<Value = Option<u32>> {
    option::of(prop_oneof![Just(1), Just(Timeouts::MAX), 1..=Timeouts::MAX])
}

// ----- strategies: attribute enums --------------------------------------

/// An unknown attribute: its type (flags masked off) is none of `known`.
/// At most one of `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` is set (both are
/// pinned in `both_nla_flags_are_kept`).
fn other_nla(known: &'static [u16]) -> impl Strategy<Value = RawAttr> {
    (any::<u16>(), vec(any::<u8>(), 0..24))
        .prop_filter("known kind", move |(k, _)| {
            !known.contains(&(k & NLA_TYPE_MASK))
        })
        .prop_filter("both flags", |(k, _)| k & !NLA_TYPE_MASK != !NLA_TYPE_MASK)
        .prop_map(|(k, v)| RawAttr::new(k, v))
}

/// A string as the kernel's NUL-terminated attributes carry: no NUL inside.
fn c_string() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,16}"
}

const STATS_KNOWN: &[u16] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const SVC_KNOWN: &[u16] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const DEST_KNOWN: &[u16] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const DAEMON_KNOWN: &[u16] = &[1, 2, 3, 4, 5, 6, 7, 8];
const CMD_KNOWN: &[u16] = &[1, 2, 3, 4, 5, 6];
const INFO_KNOWN: &[u16] = &[1, 2];

fn stats_attr() -> impl Strategy<Value = StatsAttr> {
    prop_oneof![
        (1u16..=10, any::<u32>()).prop_map(|(k, v)| StatsAttr::U32(k, v)),
        (1u16..=10, any::<u64>()).prop_map(|(k, v)| StatsAttr::U64(k, v)),
        other_nla(STATS_KNOWN).prop_map(StatsAttr::Other),
    ]
}

fn service_attr() -> impl Strategy<Value = ServiceAttr> {
    prop_oneof![
        any::<u16>().prop_map(ServiceAttr::Af),
        any::<u16>().prop_map(ServiceAttr::Protocol),
        any::<[u8; 16]>().prop_map(ServiceAttr::Addr),
        any::<u16>().prop_map(ServiceAttr::Port),
        any::<u32>().prop_map(ServiceAttr::Fwmark),
        c_string().prop_map(ServiceAttr::SchedName),
        (any::<u32>(), any::<u32>())
            .prop_map(|(flags, mask)| ServiceAttr::Flags(SvcFlags { flags, mask })),
        any::<u32>().prop_map(ServiceAttr::Timeout),
        any::<[u8; 4]>().prop_map(ServiceAttr::Netmask),
        vec(stats_attr(), 0..5).prop_map(ServiceAttr::Stats),
        c_string().prop_map(ServiceAttr::PeName),
        vec(stats_attr(), 0..5).prop_map(ServiceAttr::Stats64),
        other_nla(SVC_KNOWN).prop_map(ServiceAttr::Other),
    ]
}

fn dest_attr() -> impl Strategy<Value = DestAttr> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(DestAttr::Addr),
        any::<u16>().prop_map(DestAttr::Port),
        any::<u32>().prop_map(DestAttr::FwdMethod),
        any::<u32>().prop_map(DestAttr::Weight),
        any::<u32>().prop_map(DestAttr::UThresh),
        any::<u32>().prop_map(DestAttr::LThresh),
        any::<u32>().prop_map(DestAttr::ActiveConns),
        any::<u32>().prop_map(DestAttr::InactConns),
        any::<u32>().prop_map(DestAttr::PersistConns),
        vec(stats_attr(), 0..5).prop_map(DestAttr::Stats),
        any::<u16>().prop_map(DestAttr::AddrFamily),
        vec(stats_attr(), 0..5).prop_map(DestAttr::Stats64),
        any::<u8>().prop_map(DestAttr::TunType),
        any::<u16>().prop_map(DestAttr::TunPort),
        any::<u16>().prop_map(DestAttr::TunFlags),
        other_nla(DEST_KNOWN).prop_map(DestAttr::Other),
    ]
}

fn daemon_attr() -> impl Strategy<Value = DaemonAttr> {
    prop_oneof![
        any::<u32>().prop_map(DaemonAttr::State),
        c_string().prop_map(DaemonAttr::McastIfn),
        any::<u32>().prop_map(DaemonAttr::SyncId),
        any::<u16>().prop_map(DaemonAttr::SyncMaxlen),
        any::<[u8; 4]>().prop_map(DaemonAttr::McastGroup),
        any::<[u8; 16]>().prop_map(DaemonAttr::McastGroup6),
        any::<u16>().prop_map(DaemonAttr::McastPort),
        any::<u8>().prop_map(DaemonAttr::McastTtl),
        other_nla(DAEMON_KNOWN).prop_map(DaemonAttr::Other),
    ]
}

fn cmd_attr() -> impl Strategy<Value = CmdAttr> {
    prop_oneof![
        vec(service_attr(), 0..8).prop_map(CmdAttr::Service),
        vec(dest_attr(), 0..8).prop_map(CmdAttr::Dest),
        vec(daemon_attr(), 0..8).prop_map(CmdAttr::Daemon),
        any::<u32>().prop_map(CmdAttr::TimeoutTcp),
        any::<u32>().prop_map(CmdAttr::TimeoutTcpFin),
        any::<u32>().prop_map(CmdAttr::TimeoutUdp),
        other_nla(CMD_KNOWN).prop_map(CmdAttr::Other),
    ]
}

fn info_attr() -> impl Strategy<Value = InfoAttr> {
    prop_oneof![
        any::<u32>().prop_map(InfoAttr::Version),
        any::<u32>().prop_map(InfoAttr::ConnTabSize),
        other_nla(INFO_KNOWN).prop_map(InfoAttr::Other),
    ]
}

/// Service attributes biased towards what parses: a valid family and
/// identity first, then anything, then perhaps a scheduler name.
fn plausible_service_attrs() -> impl Strategy<Value = Vec<ServiceAttr>> {
    let identity = prop_oneof![
        Just(vec![]),
        any::<u32>().prop_map(|m| vec![ServiceAttr::Fwmark(m)]),
        (any::<u16>(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(p, a, port)| vec![
            ServiceAttr::Protocol(p),
            ServiceAttr::Addr(a),
            ServiceAttr::Port(port),
        ]),
    ];
    let flags = prop_oneof![0u32..0x40, any::<u32>()]
        .prop_map(|flags| ServiceAttr::Flags(SvcFlags { flags, mask: !0 }));
    (
        prop_oneof![Just(AF_INET), Just(AF_INET6), any::<u16>()],
        identity,
        option::of(flags),
        option::of(prop_oneof![1u32..100, any::<u32>()].prop_map(ServiceAttr::Timeout)),
        option::of(
            prop_oneof![Just(64u32), any::<u32>()]
                .prop_map(|m| ServiceAttr::Netmask(m.to_ne_bytes())),
        ),
        vec(service_attr(), 0..6),
        prop_oneof![
            Just(None),
            module_name().prop_map(Some),
            Just(Some("sh".to_string())),
            Just(Some("mh".to_string())),
        ],
    )
        .prop_map(|(f, id, flags, timeout, mask, rest, sched)| {
            let mut v = vec![ServiceAttr::Af(f)];
            v.extend(id);
            v.extend(flags);
            v.extend(timeout);
            v.extend(mask);
            v.extend(rest);
            v.extend(sched.map(ServiceAttr::SchedName));
            v
        })
}

fn plausible_dest_attrs() -> impl Strategy<Value = Vec<DestAttr>> {
    (
        any::<[u8; 16]>(),
        any::<u16>(),
        prop_oneof![0u32..8, any::<u32>()],
        any::<u32>(),
        prop_oneof![0u8..4, any::<u8>()],
        prop_oneof![0u16..4, any::<u16>()],
        vec(dest_attr(), 0..8),
    )
        .prop_map(|(a, port, fwd, w, tt, tf, mut rest)| {
            rest.splice(
                0..0,
                [
                    DestAttr::Addr(a),
                    DestAttr::Port(port),
                    DestAttr::FwdMethod(fwd),
                    DestAttr::Weight(w),
                    DestAttr::TunType(tt),
                    DestAttr::TunFlags(tf),
                ],
            );
            rest
        })
}

/// Valid message bytes to mutate: a request or a kernel-style reply.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        service().prop_map(|s| {
            let mut b = Vec::new();
            req::add_service(&mut b, 0x20, 1, &s).unwrap();
            b
        }),
        service_and_dest().prop_map(|(k, d)| {
            let mut b = Vec::new();
            req::add_destination(&mut b, 0x20, 1, &k, &d).unwrap();
            b
        }),
        (service(), stats()).prop_map(|(s, st)| {
            let attrs = oracle_service_request_attrs(&s);
            reply_message(1, &kernel_service_reply(&attrs, &st, false, true))
        }),
        vec(cmd_attr(), 0..4).prop_map(|a| reply_message(5, &emit(&a))),
    ]
}

/// The service nest `lvs` sends for `s` (taken from its own request).
fn oracle_service_request_attrs(s: &Service) -> Vec<ServiceAttr> {
    let mut b = Vec::new();
    req::add_service(&mut b, 0x20, 1, s).unwrap();
    match one_message(&b).1.as_slice() {
        [CmdAttr::Service(v)] => v.clone(),
        other => panic!("unexpected request attributes {other:?}"),
    }
}

/// Frame a reply payload as the kernel would: nlmsghdr + genlmsghdr.
fn reply_message(cmd: u8, attrs: &[u8]) -> Vec<u8> {
    let len = 20 + attrs.len();
    let mut b = Vec::with_capacity(len);
    b.extend_from_slice(&(len as u32).to_ne_bytes());
    b.extend_from_slice(&0x20u16.to_ne_bytes());
    b.extend_from_slice(&NLM_F_MULTI.to_ne_bytes());
    b.extend_from_slice(&7u32.to_ne_bytes());
    b.extend_from_slice(&1234u32.to_ne_bytes());
    b.extend_from_slice(&[cmd, 1, 0, 0]);
    b.extend_from_slice(attrs);
    b
}

/// Run every parser over a datagram; none may panic.
fn parse_everything(buf: &[u8]) {
    for m in Messages::new(buf) {
        let Ok(m) = m else { continue };
        let _ = m.error();
        if let Ok((_cmd, attrs)) = m.genl() {
            parse_all_payloads(attrs);
        }
    }
    parse_all_payloads(buf);
}

fn parse_all_payloads(attrs: &[u8]) {
    let _ = parse_cmd_attrs(attrs);
    let _ = parse_info_attrs(attrs);
    let _ = request::parse_service_reply(attrs);
    let _ = request::parse_destination_reply(attrs, AddressFamily::Inet);
    let _ = request::parse_destination_reply(attrs, AddressFamily::Inet6);
    let _ = request::parse_info_reply(attrs);
    let _ = request::parse_config_reply(attrs);
}

// ----- model round trips --------------------------------------------------

proptest! {
    #[test]
    fn generated_values_are_valid((key, dest) in service_and_dest(), svc in service()) {
        prop_assert!(svc.validate().is_ok(), "{:?}", svc.validate());
        prop_assert!(dest.validate_for(&key).is_ok(), "{:?}", dest.validate_for(&key));
    }

    /// NEW_SERVICE and SET_SERVICE: the request parses back to the service,
    /// and so does the kernel's echo of it in a GET_SERVICE reply.
    #[test]
    fn service_round_trip(
        svc in service(),
        family_id in 0x10u16..=u16::MAX,
        seq in any::<u32>(),
        st in stats(),
        old in any::<bool>(),
        pad in any::<bool>(),
    ) {
        for (cmd, build) in [
            (IPVS_CMD_NEW_SERVICE, req::add_service as fn(&mut Vec<u8>, u16, u32, &Service) -> lvs::Result<usize>),
            (IPVS_CMD_SET_SERVICE, req::update_service),
        ] {
            let mut buf = vec![0xee; 3];
            let n = build(&mut buf, family_id, seq, &svc).unwrap();
            prop_assert_eq!(n, buf.len() - 3);
            prop_assert_eq!(&buf[..3], &[0xee; 3]);
            let (h, attrs) = one_message(&buf[3..]);
            check_header(&h, family_id, seq, cmd, NLM_F_ACK);
            let [CmdAttr::Service(nest)] = attrs.as_slice() else {
                panic!("unexpected attributes {attrs:?}");
            };
            // The identity comes first, exactly as the kernel parses it.
            let key_attrs = oracle_key_attrs(&svc.key);
            let key_len = key_attrs.len();
            prop_assert_eq!(&nest[..key_len], key_attrs.as_slice());
            prop_assert_eq!(oracle_key(&nest[..key_len]), svc.key);
            // Every full-entry attribute the kernel requires is present.
            for k in [IPVS_SVC_ATTR_SCHED_NAME, IPVS_SVC_ATTR_FLAGS, IPVS_SVC_ATTR_TIMEOUT, IPVS_SVC_ATTR_NETMASK] {
                prop_assert!(nest.iter().any(|a| a.kind() == k), "attribute {} missing", k);
            }
            // The request itself parses back.
            let e = request::parse_service_reply(&emit(&attrs)).unwrap().unwrap();
            prop_assert_eq!(&e.service, &svc);

            // The kernel's echo (HASHED, stats) parses to the same service.
            let reply = kernel_service_reply(nest, &st, old, pad);
            let e = request::parse_service_reply(&reply).unwrap().unwrap();
            prop_assert_eq!(&e.service, &svc);
            prop_assert_eq!(e.stats, expected_stats(&st, old));

            // ... and re-encodes to the very request we started from.
            let mut again = Vec::new();
            build(&mut again, family_id, seq, &e.service).unwrap();
            prop_assert_eq!(&again, &buf[3..].to_vec());
        }
    }

    /// HASHED (and the stats) never make equal services differ.
    #[test]
    fn hashed_and_stats_never_reach_equality(svc in service(), a in stats(), b in stats()) {
        let nest = oracle_service_request_attrs(&svc);
        // Straight from the request (no HASHED, no stats) ...
        let plain = request::parse_service_reply(&emit(&[CmdAttr::Service(nest.clone())]))
            .unwrap()
            .unwrap();
        // ... and two kernel replies with HASHED and different counters.
        let r1 = request::parse_service_reply(&kernel_service_reply(&nest, &a, false, false)).unwrap().unwrap();
        let r2 = request::parse_service_reply(&kernel_service_reply(&nest, &b, true, true)).unwrap().unwrap();
        prop_assert_eq!(&plain.service, &r1.service);
        prop_assert_eq!(&r1.service, &r2.service);
        // The raw reply really carries HASHED.
        let raw = parse_cmd_attrs(&kernel_service_reply(&nest, &a, false, false)).unwrap();
        let [CmdAttr::Service(v)] = raw.as_slice() else { panic!() };
        prop_assert!(v.iter().any(|x| matches!(x, ServiceAttr::Flags(f) if f.flags & IP_VS_SVC_F_HASHED != 0)));
    }

    /// NEW_DEST and SET_DEST: the request parses back to the destination,
    /// and so does the kernel's GET_DEST echo with counters.
    #[test]
    fn destination_round_trip(
        (key, dest) in service_and_dest(),
        family_id in 0x10u16..=u16::MAX,
        seq in any::<u32>(),
        st in stats(),
        cc in conns(),
        old in any::<bool>(),
        pad in any::<bool>(),
    ) {
        type Build = fn(&mut Vec<u8>, u16, u32, &ServiceKey, &Destination) -> lvs::Result<usize>;
        for (cmd, build) in [
            (IPVS_CMD_NEW_DEST, req::add_destination as Build),
            (IPVS_CMD_SET_DEST, req::update_destination),
        ] {
            let mut buf = Vec::new();
            let n = build(&mut buf, family_id, seq, &key, &dest).unwrap();
            prop_assert_eq!(n, buf.len());
            let (h, attrs) = one_message(&buf);
            check_header(&h, family_id, seq, cmd, NLM_F_ACK);
            let [CmdAttr::Service(s), CmdAttr::Dest(d)] = attrs.as_slice() else {
                panic!("unexpected attributes {attrs:?}");
            };
            prop_assert_eq!(s, &oracle_key_attrs(&key));
            for k in [IPVS_DEST_ATTR_ADDR, IPVS_DEST_ATTR_PORT, IPVS_DEST_ATTR_FWD_METHOD,
                      IPVS_DEST_ATTR_WEIGHT, IPVS_DEST_ATTR_U_THRESH, IPVS_DEST_ATTR_L_THRESH] {
                prop_assert!(d.iter().any(|a| a.kind() == k), "attribute {} missing", k);
            }
            prop_assert!(d.contains(&DestAttr::Addr(raw16(dest.addr.ip()))));
            prop_assert!(d.contains(&DestAttr::AddrFamily(af(dest.family()))));
            // TUN_* ride along with tunnel forwarding only.
            let tunnel = matches!(dest.forwarding, Forwarding::Tunnel(_));
            for k in [IPVS_DEST_ATTR_TUN_TYPE, IPVS_DEST_ATTR_TUN_PORT, IPVS_DEST_ATTR_TUN_FLAGS] {
                prop_assert_eq!(d.iter().any(|a| a.kind() == k), tunnel, "attribute {}", k);
            }

            // The request itself parses back.
            let e = request::parse_destination_reply(&emit(&attrs), key.family()).unwrap().unwrap();
            prop_assert_eq!(e.destination, dest);

            // Old kernels send no ADDR_FAMILY: only same-family dests then,
            // and no tunnel attributes: only non-GUE/GRE then.
            let old = old
                && dest.family() == key.family()
                && matches!(dest.forwarding, Forwarding::Masquerade | Forwarding::DirectRoute
                    | Forwarding::Local | Forwarding::Tunnel(Tunnel::Ipip));
            let reply = kernel_dest_reply(d, &cc, &st, old, pad);
            let e = request::parse_destination_reply(&reply, key.family()).unwrap().unwrap();
            prop_assert_eq!(e.destination, dest);
            prop_assert_eq!(e.conns, cc);
            prop_assert_eq!(e.stats, expected_stats(&st, old));

            let mut again = Vec::new();
            build(&mut again, family_id, seq, &key, &e.destination).unwrap();
            prop_assert_eq!(again, buf);
        }
    }

    /// DEL_SERVICE, GET_SERVICE, ZERO(service), GET_DEST dump, DEL_DEST:
    /// the identity attributes and nothing else.
    #[test]
    fn key_only_requests((key, dest) in service_and_dest(), seq in any::<u32>()) {
        type Build = fn(&mut Vec<u8>, u16, u32, &ServiceKey) -> lvs::Result<usize>;
        let zero: Build = |b, f, s, k| req::zero(b, f, s, Some(k));
        for (cmd, flags, build) in [
            (IPVS_CMD_DEL_SERVICE, NLM_F_ACK, req::remove_service as Build),
            (IPVS_CMD_GET_SERVICE, NLM_F_ACK, request::get_service),
            (IPVS_CMD_ZERO, NLM_F_ACK, zero),
            (IPVS_CMD_GET_DEST, NLM_F_DUMP, request::list_destinations),
        ] {
            let mut buf = Vec::new();
            build(&mut buf, 0x20, seq, &key).unwrap();
            let (h, attrs) = one_message(&buf);
            check_header(&h, 0x20, seq, cmd, flags);
            prop_assert_eq!(&attrs, &vec![CmdAttr::Service(oracle_key_attrs(&key))]);
            prop_assert_eq!(oracle_key(&oracle_key_attrs(&key)), key);
        }
        let mut buf = Vec::new();
        req::remove_destination(&mut buf, 0x20, seq, &key, dest.addr).unwrap();
        let (h, attrs) = one_message(&buf);
        check_header(&h, 0x20, seq, IPVS_CMD_DEL_DEST, NLM_F_ACK);
        prop_assert_eq!(attrs, vec![
            CmdAttr::Service(oracle_key_attrs(&key)),
            CmdAttr::Dest(vec![
                DestAttr::AddrFamily(af(dest.family())),
                DestAttr::Addr(raw16(dest.addr.ip())),
                DestAttr::Port(dest.addr.port()),
            ]),
        ]);
    }

    /// FLUSH, ZERO (all), GET_INFO, GET_CONFIG, GET_SERVICE dump: no attributes.
    #[test]
    fn attributeless_requests(family_id in 0x10u16..=u16::MAX, seq in any::<u32>()) {
        type Build = fn(&mut Vec<u8>, u16, u32) -> usize;
        let zero_all: Build = |b, f, s| req::zero(b, f, s, None).unwrap();
        for (cmd, flags, build) in [
            (IPVS_CMD_FLUSH, NLM_F_ACK, req::flush as Build),
            (IPVS_CMD_ZERO, NLM_F_ACK, zero_all),
            (IPVS_CMD_GET_INFO, NLM_F_ACK, request::get_info),
            (IPVS_CMD_GET_CONFIG, NLM_F_ACK, request::get_config),
            (IPVS_CMD_GET_SERVICE, NLM_F_DUMP, request::list_services),
        ] {
            let mut buf = Vec::new();
            prop_assert_eq!(build(&mut buf, family_id, seq), 20);
            let (h, attrs) = one_message(&buf);
            check_header(&h, family_id, seq, cmd, flags);
            prop_assert!(attrs.is_empty());
        }
    }

    /// SET_CONFIG sends exactly the `Some` values; the GET_CONFIG reply
    /// carrying the same attributes parses back to them.
    #[test]
    fn set_config_round_trip(tcp in timeout_value(), tcp_fin in timeout_value(), udp in timeout_value()) {
        let mut t = Timeouts::default();
        t.tcp = tcp;
        t.tcp_fin = tcp_fin;
        t.udp = udp;
        let mut buf = Vec::new();
        req::set_config(&mut buf, 0x20, 9, &t).unwrap();
        let (h, attrs) = one_message(&buf);
        check_header(&h, 0x20, 9, IPVS_CMD_SET_CONFIG, NLM_F_ACK);
        let want: Vec<CmdAttr> = [
            tcp.map(CmdAttr::TimeoutTcp),
            tcp_fin.map(CmdAttr::TimeoutTcpFin),
            udp.map(CmdAttr::TimeoutUdp),
        ]
        .into_iter()
        .flatten()
        .collect();
        prop_assert_eq!(&attrs, &want);
        prop_assert_eq!(request::parse_config_reply(&emit(&attrs)).unwrap(), t);
    }

    /// Values the kernel would reject or misread are refused before
    /// anything is appended.
    #[test]
    fn invalid_values_append_nothing(
        (key, dest) in service_and_dest(),
        bad_weight in (Destination::MAX_WEIGHT + 1)..=u32::MAX,
        bad_timeout in prop_oneof![Just(0u32), (Timeouts::MAX + 1)..=u32::MAX],
        svc in service(),
    ) {
        let prefix = vec![1u8, 2, 3];
        let mut buf = prefix.clone();
        prop_assert!(req::add_destination(&mut buf, 0x20, 1, &key, &dest.with_weight(bad_weight)).is_err());
        let (l, u) = (dest.upper_threshold.saturating_add(1), dest.upper_threshold);
        if l > u {
            prop_assert!(req::update_destination(&mut buf, 0x20, 1, &key, &dest.with_upper_threshold(u).with_lower_threshold(l)).is_err());
        }
        let mut t = Timeouts::default();
        t.udp = Some(bad_timeout);
        prop_assert!(req::set_config(&mut buf, 0x20, 1, &t).is_err());
        if let ServiceKey::Fwmark { family, .. } = key {
            let zero = ServiceKey::fwmark(family, 0);
            prop_assert!(req::remove_service(&mut buf, 0x20, 1, &zero).is_err());
            prop_assert!(req::add_service(&mut buf, 0x20, 1, &Service::new(zero)).is_err());
        }
        let mut s = svc;
        s.persistence = Some(Persistence { timeout: 0, netmask: Netmask::full(s.key.family()) });
        prop_assert!(req::add_service(&mut buf, 0x20, 1, &s).is_err());
        prop_assert_eq!(buf, prefix);
    }
}

// ----- attribute round trips ----------------------------------------------

proptest! {
    #[test]
    fn cmd_attrs_round_trip(attrs in vec(cmd_attr(), 0..6)) {
        let bytes = emit(&attrs);
        let back = parse_cmd_attrs(&bytes).unwrap();
        prop_assert_eq!(&back, &attrs);
        prop_assert_eq!(emit(&back), bytes);
    }

    #[test]
    fn service_attrs_round_trip(attrs in vec(service_attr(), 0..12)) {
        let top = [CmdAttr::Service(attrs.clone())];
        prop_assert_eq!(parse_cmd_attrs(&emit(&top)).unwrap(), top.to_vec());
    }

    #[test]
    fn dest_attrs_round_trip(attrs in vec(dest_attr(), 0..16)) {
        let top = [CmdAttr::Dest(attrs.clone())];
        prop_assert_eq!(parse_cmd_attrs(&emit(&top)).unwrap(), top.to_vec());
    }

    #[test]
    fn daemon_attrs_round_trip(attrs in vec(daemon_attr(), 0..10)) {
        let top = [CmdAttr::Daemon(attrs.clone())];
        prop_assert_eq!(parse_cmd_attrs(&emit(&top)).unwrap(), top.to_vec());
    }

    #[test]
    fn info_attrs_round_trip(attrs in vec(info_attr(), 0..6)) {
        let bytes = emit(&attrs);
        prop_assert_eq!(parse_info_attrs(&bytes).unwrap(), attrs);
    }

    /// Nests parse the same with or without `NLA_F_NESTED` (the kernel
    /// omits it in replies; ipvsadm and `lvs` set it in requests).
    #[test]
    fn nested_flag_is_optional(attrs in vec(service_attr(), 0..8)) {
        let flagged = emit(&[CmdAttr::Service(attrs.clone())]);
        let bare = emit(&[CmdAttr::Other(kernel_nest(IPVS_CMD_ATTR_SERVICE, emit(&attrs)))]);
        prop_assert_eq!(u16::from_ne_bytes([flagged[2], flagged[3]]), IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED);
        prop_assert_eq!(parse_cmd_attrs(&bare).unwrap(), parse_cmd_attrs(&flagged).unwrap());
    }
}

// ----- parsing never panics ----------------------------------------------

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(buf in vec(any::<u8>(), 0..600)) {
        parse_everything(&buf);
    }

    /// The hand-rolled attribute walker (`wire::Attrs`, used by the dump
    /// decoders) agrees with netlink-packet-core's `NlasIterator` on any
    /// bytes: same kinds, same values, an error at the same place.
    #[test]
    fn attrs_walker_matches_nlas_iterator(
        attrs in vec((0u16..0xffff, vec(any::<u8>(), 0..24)), 0..8),
        tail in vec(any::<u8>(), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = Vec::new();
        for (kind, value) in &attrs {
            buf.extend_from_slice(&((value.len() + 4) as u16).to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(value);
            buf.resize(buf.len().next_multiple_of(4), 0);
        }
        buf.extend_from_slice(&tail);
        for b in [&buf[..], &buf[..cut.index(buf.len() + 1)]] {
            let ours: Vec<_> = lvs::wire::Attrs::new(b)
                .map(|a| a.map(|(k, v)| (k, v.to_vec())).map_err(|_| ()))
                .collect();
            let theirs: Vec<_> = netlink_packet_core::NlasIterator::new(b)
                .map(|n| n.map(|n| (n.kind(), n.value().to_vec())).map_err(|_| ()))
                .collect();
            prop_assert_eq!(ours, theirs);
        }
    }

    /// Valid messages with a few bytes overwritten, and truncated.
    #[test]
    fn mutated_messages_never_panic(
        base in message_bytes(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut b = base;
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        parse_everything(&b);
        let c = cut.index(b.len() + 1);
        parse_everything(&b[..c]);
        // The same payload framed as an error message (extended ACK paths).
        for flags in [0, NLM_F_ACK_TLVS, NLM_F_ACK_TLVS | NLM_F_CAPPED] {
            let mut e = b.clone();
            if e.len() >= 16 {
                e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
                e[6..8].copy_from_slice(&flags.to_ne_bytes());
                parse_everything(&e);
            }
        }
    }

    /// NLMSG_ERROR messages with arbitrary bodies.
    #[test]
    fn error_messages_never_panic(
        flags in any::<u16>(),
        body in vec(any::<u8>(), 0..120),
        echoed_len in any::<u32>(),
    ) {
        let mut b = Vec::new();
        let len = 16 + body.len().max(20);
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        b.extend_from_slice(&flags.to_ne_bytes());
        b.extend_from_slice(&[0; 8]);
        let mut body = body;
        body.resize(body.len().max(20), 0);
        body[4..8].copy_from_slice(&echoed_len.to_ne_bytes());
        b.extend_from_slice(&body);
        for m in Messages::new(&b).flatten() {
            let _ = m.error();
        }
    }

    /// The model decoders on arbitrary attribute lists: never a panic, and
    /// whatever decodes to a valid value survives emit -> parse unchanged.
    #[test]
    fn model_decoders_on_arbitrary_attrs(
        svc_attrs in plausible_service_attrs(),
        dest_attrs in plausible_dest_attrs(),
        f in family(),
    ) {
        if let Ok(Some(e)) = request::parse_service_reply(&emit(&[CmdAttr::Service(svc_attrs)]))
            && e.service.validate().is_ok() {
                let mut b = Vec::new();
                req::add_service(&mut b, 0x20, 1, &e.service).unwrap();
                let (_, attrs) = one_message(&b);
                let again = request::parse_service_reply(&emit(&attrs)).unwrap().unwrap();
                prop_assert_eq!(again.service, e.service);
            }
        if let Ok(Some(e)) = request::parse_destination_reply(&emit(&[CmdAttr::Dest(dest_attrs)]), f) {
            let key = ServiceKey::fwmark(f, 1);
            if e.destination.validate_for(&key).is_ok() {
                let mut b = Vec::new();
                req::add_destination(&mut b, 0x20, 1, &key, &e.destination).unwrap();
                let (_, attrs) = one_message(&b);
                let again = request::parse_destination_reply(&emit(&attrs), f).unwrap().unwrap();
                prop_assert_eq!(again.destination, e.destination);
            }
        }
    }
}

// ----- fixed cases ---------------------------------------------------------

/// `Protocol::Other(n)` for a named protocol number would encode like the
/// named variant and read back as it, so desired state could never equal
/// observed state: validation refuses it.
#[test]
fn other_protocol_aliases_are_refused() {
    for n in [6, 17, 132] {
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let alias = ServiceKey::Addr {
            protocol: Protocol::Other(n),
            addr,
        };
        let mut a = Vec::new();
        let e = req::add_service(&mut a, 0x20, 1, &Service::new(alias)).unwrap_err();
        assert_eq!(e.field(), Some("key.protocol"), "{e}");
        assert!(a.is_empty(), "nothing encoded");
    }
}

/// The kernel reply for a pre-3.18 kernel: no ADDR_FAMILY; the service's
/// family stands in.
#[test]
fn dest_reply_without_addr_family_uses_service_family() {
    let attrs = [CmdAttr::Dest(vec![
        DestAttr::Addr(raw16("2001:db8::7".parse().unwrap())),
        DestAttr::Port(443),
        DestAttr::FwdMethod(IP_VS_CONN_F_DROUTE),
        DestAttr::Weight(9),
        DestAttr::UThresh(0),
        DestAttr::LThresh(0),
    ])];
    let e = request::parse_destination_reply(&emit(&attrs), AddressFamily::Inet6)
        .unwrap()
        .unwrap();
    assert_eq!(
        e.destination,
        Destination::new("[2001:db8::7]:443".parse::<SocketAddr>().unwrap())
            .with_forwarding(Forwarding::DirectRoute)
            .with_weight(9)
    );
}

/// An unknown attribute is written with its type exactly as given, both
/// flag bits included. (netlink-packet-core 0.9, which `lvs` emitted
/// through before, dropped `NLA_F_NET_BYTEORDER` when `NLA_F_NESTED` was
/// set too; this pinned that quirk, and now pins its absence.) Parsing
/// keeps them on an unknown attribute.
#[test]
fn both_nla_flags_are_kept() {
    let nla = CmdAttr::Other(RawAttr::new(0xc000 | 99, vec![]));
    let bytes = emit(&[nla]);
    assert_eq!(
        u16::from_ne_bytes([bytes[2], bytes[3]]),
        NLA_F_NESTED | NLA_F_NET_BYTEORDER | 99
    );
    assert_eq!(
        parse_cmd_attrs(&bytes).unwrap(),
        vec![CmdAttr::Other(RawAttr::new(0xc000 | 99, vec![]))]
    );
}
