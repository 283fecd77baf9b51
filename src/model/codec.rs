//! Conversions between the typed model and the wire attribute enums.
//! Crate-internal: the model's public API has no wire details.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::wire::consts::*;
use crate::wire::{DecodeError, DestAttr, RawAddr, ServiceAttr, StatsAttr, SvcFlags};

use super::*;

pub(crate) fn af_number(f: AddressFamily) -> u16 {
    match f {
        AddressFamily::Inet => AF_INET,
        AddressFamily::Inet6 => AF_INET6,
    }
}

pub(crate) fn af_from_number(n: u16) -> Result<AddressFamily, DecodeError> {
    match n {
        AF_INET => Ok(AddressFamily::Inet),
        AF_INET6 => Ok(AddressFamily::Inet6),
        n => Err(DecodeError::from(format!("unknown address family {n}"))),
    }
}

pub(crate) fn raw_addr(ip: IpAddr) -> RawAddr {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    a
}

pub(crate) fn ip_from_raw(f: AddressFamily, a: &RawAddr) -> IpAddr {
    match f {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(*a)),
    }
}

/// The identifying attributes of a service (for DEL/GET and dest commands).
pub(crate) fn key_attrs(key: &ServiceKey, out: &mut Vec<ServiceAttr>) {
    out.push(ServiceAttr::Af(af_number(key.family())));
    match key {
        ServiceKey::Fwmark { mark, .. } => out.push(ServiceAttr::Fwmark(*mark)),
        ServiceKey::Addr { protocol, addr } => {
            out.push(ServiceAttr::Protocol(protocol.number()));
            out.push(ServiceAttr::Addr(raw_addr(addr.ip())));
            out.push(ServiceAttr::Port(addr.port()));
        }
    }
}

pub(crate) fn service_key_attrs(key: &ServiceKey) -> Vec<ServiceAttr> {
    let mut v = Vec::with_capacity(4);
    key_attrs(key, &mut v);
    v
}

fn netmask_bytes(m: Netmask) -> [u8; 4] {
    match m {
        // The kernel reads the attribute with nla_get_be32: an IPv4 mask
        // travels in network order, an IPv6 prefix length as a host u32.
        Netmask::V4(mask) => mask.octets(),
        Netmask::V6(len) => u32::from(len).to_ne_bytes(),
    }
}

/// The service flags `lvs` sets; the mask is always `!0` (as ipvsadm), so
/// the kernel's state is exactly what we send (plus its HASHED bit).
pub(crate) fn service_flags(svc: &Service) -> u32 {
    let mut flags = 0;
    if svc.persistence.is_some() {
        flags |= IP_VS_SVC_F_PERSISTENT;
    }
    if svc.one_packet {
        flags |= IP_VS_SVC_F_ONEPACKET;
    }
    if let Some(h) = svc.scheduler.hash_flags() {
        if h.fallback {
            flags |= IP_VS_SVC_F_SCHED1;
        }
        if h.port {
            flags |= IP_VS_SVC_F_SCHED2;
        }
    }
    flags
}

/// Every attribute of a NEW/SET_SERVICE, in ipvsadm's order.
pub(crate) fn service_attrs(svc: &Service) -> Vec<ServiceAttr> {
    let mut v = Vec::with_capacity(9);
    key_attrs(&svc.key, &mut v);
    v.push(ServiceAttr::SchedName(svc.scheduler.name().to_owned()));
    if let Some(pe) = &svc.persistence_engine {
        v.push(ServiceAttr::PeName(pe.clone()));
    }
    v.push(ServiceAttr::Flags(SvcFlags {
        flags: service_flags(svc),
        mask: !0,
    }));
    let (timeout, netmask) = match svc.persistence {
        Some(p) => (p.timeout, p.netmask),
        None => (0, Netmask::full(svc.key.family())),
    };
    v.push(ServiceAttr::Timeout(timeout));
    v.push(ServiceAttr::Netmask(netmask_bytes(netmask)));
    v
}

fn missing(what: &str) -> DecodeError {
    DecodeError::from(format!("kernel reply lacks {what}"))
}

pub(crate) fn parse_stats(attrs: &[StatsAttr], from_32bit: bool) -> Stats {
    let mut s = Stats {
        from_32bit,
        ..Stats::default()
    };
    for a in attrs {
        let (k, v) = match a {
            StatsAttr::U32(k, v) => (*k, u64::from(*v)),
            StatsAttr::U64(k, v) => (*k, *v),
            _ => continue,
        };
        match k {
            IPVS_STATS_ATTR_CONNS => s.conns = v,
            IPVS_STATS_ATTR_INPKTS => s.in_packets = v,
            IPVS_STATS_ATTR_OUTPKTS => s.out_packets = v,
            IPVS_STATS_ATTR_INBYTES => s.in_bytes = v,
            IPVS_STATS_ATTR_OUTBYTES => s.out_bytes = v,
            IPVS_STATS_ATTR_CPS => s.rates.cps = v,
            IPVS_STATS_ATTR_INPPS => s.rates.in_pps = v,
            IPVS_STATS_ATTR_OUTPPS => s.rates.out_pps = v,
            IPVS_STATS_ATTR_INBPS => s.rates.in_bps = v,
            IPVS_STATS_ATTR_OUTBPS => s.rates.out_bps = v,
            _ => {}
        }
    }
    s
}

fn pick_stats(s32: Option<&Vec<StatsAttr>>, s64: Option<&Vec<StatsAttr>>) -> Stats {
    match (s64, s32) {
        (Some(s), _) => parse_stats(s, false),
        (None, Some(s)) => parse_stats(s, true),
        (None, None) => Stats::default(),
    }
}

/// Decode a service nest from a GET_SERVICE reply.
pub(crate) fn parse_service(attrs: &[ServiceAttr]) -> Result<ServiceEntry, DecodeError> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, None, None, None, None);
    let (mut s32, mut s64) = (None, None);
    for a in attrs {
        match a {
            ServiceAttr::Af(v) => af = Some(*v),
            ServiceAttr::Protocol(v) => proto = Some(*v),
            ServiceAttr::Addr(v) => addr = Some(*v),
            ServiceAttr::Port(v) => port = Some(*v),
            ServiceAttr::Fwmark(v) => fwmark = Some(*v),
            ServiceAttr::SchedName(v) => sched = Some(v.as_str()),
            ServiceAttr::Flags(v) => flags = Some(*v),
            ServiceAttr::Timeout(v) => timeout = Some(*v),
            ServiceAttr::Netmask(v) => netmask = Some(*v),
            ServiceAttr::PeName(v) => pe = Some(v.clone()),
            ServiceAttr::Stats(v) => s32 = Some(v),
            ServiceAttr::Stats64(v) => s64 = Some(v),
            _ => {}
        }
    }
    let family = af_from_number(af.ok_or_else(|| missing("IPVS_SVC_ATTR_AF"))?)?;
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
        _ => {
            let p = proto.ok_or_else(|| missing("IPVS_SVC_ATTR_PROTOCOL"))?;
            let a = addr.ok_or_else(|| missing("IPVS_SVC_ATTR_ADDR"))?;
            let port = port.ok_or_else(|| missing("IPVS_SVC_ATTR_PORT"))?;
            ServiceKey::Addr {
                protocol: Protocol::from_number(p),
                addr: SocketAddr::new(ip_from_raw(family, &a), port),
            }
        }
    };
    let flags = flags.map(|f| f.flags).unwrap_or(0);
    let sched_name = sched.ok_or_else(|| missing("IPVS_SVC_ATTR_SCHED_NAME"))?;
    let mut scheduler = Scheduler::from_name(sched_name)
        .map_err(|e| DecodeError::from(format!("scheduler name from the kernel: {e}")))?;
    if let Scheduler::Sh(h) | Scheduler::Mh(h) = &mut scheduler {
        h.fallback = flags & IP_VS_SVC_F_SCHED1 != 0;
        h.port = flags & IP_VS_SVC_F_SCHED2 != 0;
    }
    let persistence = if flags & IP_VS_SVC_F_PERSISTENT != 0 {
        let raw = netmask.ok_or_else(|| missing("IPVS_SVC_ATTR_NETMASK"))?;
        let netmask = match family {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(raw)),
            AddressFamily::Inet6 => {
                let len = u32::from_ne_bytes(raw);
                Netmask::V6(
                    u8::try_from(len)
                        .ok()
                        .filter(|l| (1..=128).contains(l))
                        .ok_or_else(|| {
                            DecodeError::from(format!("IPv6 netmask prefix {len} out of 1..=128"))
                        })?,
                )
            }
        };
        Some(Persistence {
            timeout: timeout.ok_or_else(|| missing("IPVS_SVC_ATTR_TIMEOUT"))?,
            netmask,
        })
    } else {
        None
    };
    Ok(ServiceEntry {
        service: Service {
            key,
            scheduler,
            persistence,
            one_packet: flags & IP_VS_SVC_F_ONEPACKET != 0,
            persistence_engine: pe.filter(|p| !p.is_empty()),
        },
        stats: pick_stats(s32, s64),
    })
}

fn forwarding_attrs(f: Forwarding) -> (u32, Option<(u8, u16, u16)>) {
    match f {
        Forwarding::Masquerade => (IP_VS_CONN_F_MASQ, None),
        Forwarding::Local => (IP_VS_CONN_F_LOCALNODE, None),
        Forwarding::DirectRoute => (IP_VS_CONN_F_DROUTE, None),
        Forwarding::Other(m) => (m, None),
        Forwarding::Tunnel(t) => {
            let tun = match t {
                Tunnel::Ipip => (IP_VS_CONN_F_TUNNEL_TYPE_IPIP, 0, 0),
                Tunnel::Gue { port, checksum } => (
                    IP_VS_CONN_F_TUNNEL_TYPE_GUE,
                    port,
                    match checksum {
                        GueChecksum::None => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
                        GueChecksum::Checksum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
                        GueChecksum::RemoteChecksum => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
                    },
                ),
                Tunnel::Other { kind, port, flags } => (kind, port, flags),
                Tunnel::Gre { checksum } => (
                    IP_VS_CONN_F_TUNNEL_TYPE_GRE,
                    0,
                    if checksum {
                        IP_VS_TUNNEL_ENCAP_FLAG_CSUM
                    } else {
                        IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM
                    },
                ),
            };
            (IP_VS_CONN_F_TUNNEL, Some(tun))
        }
    }
}

/// The identifying attributes of a destination (for DEL_DEST).
pub(crate) fn dest_key_attrs(addr: SocketAddr) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(af_number(AddressFamily::of(addr.ip()))),
        DestAttr::Addr(raw_addr(addr.ip())),
        DestAttr::Port(addr.port()),
    ]
}

/// Every attribute of a NEW/SET_DEST, in ipvsadm's order.
pub(crate) fn dest_attrs(d: &Destination) -> Vec<DestAttr> {
    let (fwd, tun) = forwarding_attrs(d.forwarding);
    let (tun_type, tun_port, tun_flags) = tun.unwrap_or((0, 0, 0));
    vec![
        DestAttr::AddrFamily(af_number(d.family())),
        DestAttr::Addr(raw_addr(d.addr.ip())),
        DestAttr::Port(d.addr.port()),
        DestAttr::FwdMethod(fwd),
        DestAttr::Weight(d.weight),
        DestAttr::TunType(tun_type),
        DestAttr::TunPort(tun_port),
        DestAttr::TunFlags(tun_flags),
        DestAttr::UThresh(d.upper_threshold),
        DestAttr::LThresh(d.lower_threshold),
    ]
}

/// Decode a destination nest from a GET_DEST reply; `svc_family` is used
/// when the kernel does not send `ADDR_FAMILY` (kernels before 3.18).
pub(crate) fn parse_dest(
    attrs: &[DestAttr],
    svc_family: AddressFamily,
) -> Result<DestinationEntry, DecodeError> {
    let (mut addr, mut port, mut fwd, mut weight, mut u, mut l) = (None, None, None, None, 0, 0);
    let (mut af, mut tun_type, mut tun_port, mut tun_flags) = (None, 0, 0, 0);
    let mut conns = ConnCounts::default();
    let (mut s32, mut s64) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Addr(v) => addr = Some(*v),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => fwd = Some(*v),
            DestAttr::Weight(v) => weight = Some(*v),
            DestAttr::UThresh(v) => u = *v,
            DestAttr::LThresh(v) => l = *v,
            DestAttr::ActiveConns(v) => conns.active = *v,
            DestAttr::InactConns(v) => conns.inactive = *v,
            DestAttr::PersistConns(v) => conns.persistent = *v,
            DestAttr::Stats(v) => s32 = Some(v),
            DestAttr::Stats64(v) => s64 = Some(v),
            DestAttr::AddrFamily(v) => af = Some(*v),
            DestAttr::TunType(v) => tun_type = *v,
            DestAttr::TunPort(v) => tun_port = *v,
            DestAttr::TunFlags(v) => tun_flags = *v,
            _ => {}
        }
    }
    let family = match af {
        Some(0) | None => svc_family,
        Some(n) => af_from_number(n)?,
    };
    let ip = ip_from_raw(family, &addr.ok_or_else(|| missing("IPVS_DEST_ATTR_ADDR"))?);
    let port = port.ok_or_else(|| missing("IPVS_DEST_ATTR_PORT"))?;
    let fwd = fwd.ok_or_else(|| missing("IPVS_DEST_ATTR_FWD_METHOD"))? & IP_VS_CONN_F_FWD_MASK;
    let other = Tunnel::Other {
        kind: tun_type,
        port: tun_port,
        flags: tun_flags,
    };
    let tunnel = match (tun_type, tun_flags) {
        (IP_VS_CONN_F_TUNNEL_TYPE_IPIP, _) => Tunnel::Ipip,
        (IP_VS_CONN_F_TUNNEL_TYPE_GUE, IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM) => Tunnel::Gue {
            port: tun_port,
            checksum: GueChecksum::None,
        },
        (IP_VS_CONN_F_TUNNEL_TYPE_GUE, IP_VS_TUNNEL_ENCAP_FLAG_CSUM) => Tunnel::Gue {
            port: tun_port,
            checksum: GueChecksum::Checksum,
        },
        (IP_VS_CONN_F_TUNNEL_TYPE_GUE, IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM) => Tunnel::Gue {
            port: tun_port,
            checksum: GueChecksum::RemoteChecksum,
        },
        (IP_VS_CONN_F_TUNNEL_TYPE_GRE, IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM) => {
            Tunnel::Gre { checksum: false }
        }
        (IP_VS_CONN_F_TUNNEL_TYPE_GRE, IP_VS_TUNNEL_ENCAP_FLAG_CSUM) => {
            Tunnel::Gre { checksum: true }
        }
        _ => other,
    };
    let forwarding = match fwd {
        IP_VS_CONN_F_MASQ => Forwarding::Masquerade,
        IP_VS_CONN_F_LOCALNODE => Forwarding::Local,
        IP_VS_CONN_F_DROUTE => Forwarding::DirectRoute,
        IP_VS_CONN_F_TUNNEL => Forwarding::Tunnel(tunnel),
        f => Forwarding::Other(f),
    };
    Ok(DestinationEntry {
        destination: Destination {
            addr: SocketAddr::new(ip, port),
            forwarding,
            weight: weight.ok_or_else(|| missing("IPVS_DEST_ATTR_WEIGHT"))?,
            upper_threshold: u,
            lower_threshold: l,
        },
        conns,
        stats: pick_stats(s32, s64),
    })
}
