//! The typed model on the wire: requests written through the wire
//! layer's one writer, replies read through its one reader, each attribute
//! through its entry in the wire's attribute table, straight from and into
//! model values (no intermediate attribute list: the fast path).
//! Crate-internal: the model's public API has no wire details.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{Error, Operation, Result};
use crate::wire::attr::{Counter, counter};
use crate::wire::consts::*;
use crate::wire::table::{cmd, dest, svc};
use crate::wire::{Attrs, Context, Error as WireError, MsgWriter, RawAddr, SvcFlags};

use super::ops::OpRef;
use super::*;

/// A request that did not fit its length fields, as an [`Error`].
pub(crate) fn too_long(op: Operation, e: WireError) -> Error {
    Error::new(
        op,
        crate::error::ErrorKind::InvalidArgument,
        format!("request too long for netlink: {e}"),
    )
}

impl OpRef<'_> {
    /// The `IPVS_CMD_*` of this operation.
    pub(crate) fn command(self) -> u8 {
        match self {
            OpRef::AddService(_) => IPVS_CMD_NEW_SERVICE,
            OpRef::UpdateService(_) => IPVS_CMD_SET_SERVICE,
            OpRef::RemoveService(_) => IPVS_CMD_DEL_SERVICE,
            OpRef::AddDestination(..) => IPVS_CMD_NEW_DEST,
            OpRef::UpdateDestination(..) => IPVS_CMD_SET_DEST,
            OpRef::RemoveDestination(..) => IPVS_CMD_DEL_DEST,
            OpRef::Zero(_) => IPVS_CMD_ZERO,
            OpRef::Flush => IPVS_CMD_FLUSH,
            OpRef::SetTimeouts(_) => IPVS_CMD_SET_CONFIG,
        }
    }

    /// Validate, then append this operation's request to `buf` (flags are
    /// ORed with `NLM_F_REQUEST`). Nothing is appended when validation
    /// fails. Returns the request's size.
    pub(crate) fn encode(
        self,
        buf: &mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
    ) -> Result<usize> {
        self.validate()?;
        let mut w = MsgWriter::begin(buf, family, flags, seq, self.command());
        match self {
            OpRef::AddService(s) | OpRef::UpdateService(s) => emit_service_nest(&mut w, s),
            OpRef::RemoveService(k) | OpRef::Zero(Some(k)) => emit_key_nest(&mut w, k),
            OpRef::AddDestination(k, d) | OpRef::UpdateDestination(k, d) => {
                emit_key_nest(&mut w, k);
                emit_dest_nest(&mut w, d);
            }
            OpRef::RemoveDestination(k, a) => {
                emit_key_nest(&mut w, k);
                emit_dest_key_nest(&mut w, a);
            }
            OpRef::Zero(None) | OpRef::Flush => {}
            OpRef::SetTimeouts(t) => {
                for (attr, v) in [
                    (&cmd::TIMEOUT_TCP, t.tcp),
                    (&cmd::TIMEOUT_TCP_FIN, t.tcp_fin),
                    (&cmd::TIMEOUT_UDP, t.udp),
                ] {
                    if let Some(v) = v {
                        attr.put(&mut w, v);
                    }
                }
            }
        }
        w.finish().map_err(|e| too_long(self.operation(), e))
    }
}

pub(crate) fn af_number(f: AddressFamily) -> u16 {
    match f {
        AddressFamily::Inet => AF_INET,
        AddressFamily::Inet6 => AF_INET6,
    }
}

pub(crate) fn af_from_number(n: u16) -> Result<AddressFamily, WireError> {
    match n {
        AF_INET => Ok(AddressFamily::Inet),
        AF_INET6 => Ok(AddressFamily::Inet6),
        n => Err(WireError::new(format!("unknown address family {n}"))),
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

/// The identity of a service as attributes of an open SERVICE nest.
pub(crate) fn emit_key(w: &mut MsgWriter<'_>, key: &ServiceKey) {
    svc::AF.put(w, af_number(key.family()));
    match key {
        ServiceKey::Fwmark { mark, .. } => svc::FWMARK.put(w, *mark),
        ServiceKey::Addr { protocol, addr } => {
            svc::PROTOCOL.put(w, protocol.number());
            svc::ADDR.put(w, &raw_addr(addr.ip()));
            svc::PORT.put(w, addr.port());
        }
    }
}

/// A SERVICE nest with the identity only (dest commands, DEL, GET, ZERO).
pub(crate) fn emit_key_nest(w: &mut MsgWriter<'_>, key: &ServiceKey) {
    let n = w.begin_nest(IPVS_CMD_ATTR_SERVICE);
    emit_key(w, key);
    w.end_nest(n);
}

/// The SERVICE nest of NEW/SET_SERVICE: every attribute, in ipvsadm's order.
pub(crate) fn emit_service_nest(w: &mut MsgWriter<'_>, service: &Service) {
    let n = w.begin_nest(IPVS_CMD_ATTR_SERVICE);
    emit_key(w, &service.key);
    svc::SCHED_NAME.put(w, service.scheduler.name());
    if let Some(pe) = &service.persistence_engine {
        svc::PE_NAME.put(w, pe);
    }
    let flags = SvcFlags {
        flags: service_flags(service),
        mask: u32::MAX,
    };
    svc::FLAGS.put(w, flags);
    let (timeout, netmask) = match service.persistence {
        Some(p) => (p.timeout, p.netmask),
        None => (0, Netmask::full(service.key.family())),
    };
    svc::TIMEOUT.put(w, timeout);
    svc::NETMASK.put(w, &netmask_bytes(netmask));
    w.end_nest(n);
}

/// The DEST nest of DEL_DEST: the destination's identity.
pub(crate) fn emit_dest_key_nest(w: &mut MsgWriter<'_>, addr: SocketAddr) {
    let n = w.begin_nest(IPVS_CMD_ATTR_DEST);
    dest::ADDR_FAMILY.put(w, af_number(AddressFamily::of(addr.ip())));
    dest::ADDR.put(w, &raw_addr(addr.ip()));
    dest::PORT.put(w, addr.port());
    w.end_nest(n);
}

/// The DEST nest of NEW/SET_DEST, in ipvsadm's order. The `TUN_*`
/// attributes go only with tunnel forwarding: ipvsadm sends them as zeros
/// for every other method, but the kernel starts from zeros anyway (and
/// kernels before 5.2 do not know them), so leaving them out changes
/// nothing but the bytes the kernel must validate: 3 of 10 attributes.
pub(crate) fn emit_dest_nest(w: &mut MsgWriter<'_>, d: &Destination) {
    let (fwd, tun) = forwarding_attrs(d.forwarding);
    let n = w.begin_nest(IPVS_CMD_ATTR_DEST);
    dest::ADDR_FAMILY.put(w, af_number(d.family()));
    dest::ADDR.put(w, &raw_addr(d.addr.ip()));
    dest::PORT.put(w, d.addr.port());
    dest::FWD_METHOD.put(w, fwd);
    dest::WEIGHT.put(w, d.weight);
    if let Some((tun_type, tun_port, tun_flags)) = tun {
        dest::TUN_TYPE.put(w, tun_type);
        dest::TUN_PORT.put(w, tun_port);
        dest::TUN_FLAGS.put(w, tun_flags);
    }
    dest::U_THRESH.put(w, d.upper_threshold);
    dest::L_THRESH.put(w, d.lower_threshold);
    w.end_nest(n);
}

fn missing(what: &str) -> WireError {
    WireError::new(format!("kernel reply lacks {what}"))
}

/// Decode a STATS or STATS64 nest in place (values of 4 or 8 bytes; PAD
/// and unknown attributes skipped).
pub(crate) fn parse_stats_nest(raw: &[u8], from_32bit: bool) -> Result<Stats, WireError> {
    let mut s = Stats {
        from_32bit,
        ..Stats::default()
    };
    for a in Attrs::new(raw) {
        let (k, v) = a.context("parsing IPVS_STATS_ATTR")?;
        // The one reading of a counter (as `StatsAttr` reads it).
        let v = match counter(k, v)? {
            Some(Counter::U32(v)) => u64::from(v),
            Some(Counter::U64(v)) => v,
            None => continue,
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
            _ => s.rates.out_bps = v,
        }
    }
    Ok(s)
}

fn pick_stats(s32: Option<&[u8]>, s64: Option<&[u8]>) -> Result<Stats, WireError> {
    match (s64, s32) {
        (Some(s), _) => parse_stats_nest(s, false).context("parsing IPVS_*_ATTR_STATS64"),
        (None, Some(s)) => parse_stats_nest(s, true).context("parsing IPVS_*_ATTR_STATS"),
        (None, None) => Ok(Stats::default()),
    }
}

/// Decode a service nest of a GET_SERVICE reply in place (no intermediate
/// attribute list).
pub(crate) fn parse_service_nest(nest: &[u8]) -> Result<ServiceEntry, WireError> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, None, None, None, None);
    let (mut s32, mut s64) = (None, None);
    for a in Attrs::new(nest) {
        let (k, v) = a.context("parsing IPVS_CMD_ATTR_SERVICE")?;
        match k {
            IPVS_SVC_ATTR_STATS => s32 = Some(v),
            IPVS_SVC_ATTR_STATS64 => s64 = Some(v),
            IPVS_SVC_ATTR_AF => af = Some(svc::AF.get(v)?),
            IPVS_SVC_ATTR_PROTOCOL => proto = Some(svc::PROTOCOL.get(v)?),
            IPVS_SVC_ATTR_ADDR => addr = Some(svc::ADDR.get(v)?),
            IPVS_SVC_ATTR_PORT => port = Some(svc::PORT.get(v)?),
            IPVS_SVC_ATTR_FWMARK => fwmark = Some(svc::FWMARK.get(v)?),
            IPVS_SVC_ATTR_SCHED_NAME => sched = Some(svc::SCHED_NAME.get(v)?),
            IPVS_SVC_ATTR_FLAGS => flags = Some(svc::FLAGS.get(v).flags),
            IPVS_SVC_ATTR_TIMEOUT => timeout = Some(svc::TIMEOUT.get(v)?),
            IPVS_SVC_ATTR_NETMASK => netmask = Some(svc::NETMASK.get(v)?),
            IPVS_SVC_ATTR_PE_NAME => pe = Some(svc::PE_NAME.get(v)?),
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
    let flags = flags.unwrap_or(0);
    let sched_name = sched.ok_or_else(|| missing("IPVS_SVC_ATTR_SCHED_NAME"))?;
    let mut scheduler = Scheduler::from_name(sched_name)
        .map_err(|e| WireError::new(format!("scheduler name from the kernel: {e}")))?;
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
                            WireError::new(format!("IPv6 netmask prefix {len} out of 1..=128"))
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
            persistence_engine: pe.filter(|p| !p.is_empty()).map(str::to_owned),
        },
        stats: pick_stats(s32, s64)?,
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

/// Decode a destination nest from a GET_DEST reply; `svc_family` is used
/// when the kernel does not send `ADDR_FAMILY` (kernels before 3.18).
pub(crate) fn parse_dest_nest(
    nest: &[u8],
    svc_family: AddressFamily,
) -> Result<DestinationEntry, WireError> {
    let (mut addr, mut port, mut fwd, mut weight, mut u, mut l) = (None, None, None, None, 0, 0);
    let (mut af, mut tun_type, mut tun_port, mut tun_flags) = (None, 0, 0, 0);
    let mut conns = ConnCounts::default();
    let (mut s32, mut s64) = (None, None);
    for a in Attrs::new(nest) {
        let (k, v) = a.context("parsing IPVS_CMD_ATTR_DEST")?;
        match k {
            IPVS_DEST_ATTR_STATS => s32 = Some(v),
            IPVS_DEST_ATTR_STATS64 => s64 = Some(v),
            IPVS_DEST_ATTR_ADDR => addr = Some(dest::ADDR.get(v)?),
            IPVS_DEST_ATTR_PORT => port = Some(dest::PORT.get(v)?),
            IPVS_DEST_ATTR_FWD_METHOD => fwd = Some(dest::FWD_METHOD.get(v)?),
            IPVS_DEST_ATTR_WEIGHT => weight = Some(dest::WEIGHT.get(v)?),
            IPVS_DEST_ATTR_U_THRESH => u = dest::U_THRESH.get(v)?,
            IPVS_DEST_ATTR_L_THRESH => l = dest::L_THRESH.get(v)?,
            IPVS_DEST_ATTR_ACTIVE_CONNS => conns.active = dest::ACTIVE_CONNS.get(v)?,
            IPVS_DEST_ATTR_INACT_CONNS => conns.inactive = dest::INACT_CONNS.get(v)?,
            IPVS_DEST_ATTR_PERSIST_CONNS => conns.persistent = dest::PERSIST_CONNS.get(v)?,
            IPVS_DEST_ATTR_ADDR_FAMILY => af = Some(dest::ADDR_FAMILY.get(v)?),
            IPVS_DEST_ATTR_TUN_TYPE => tun_type = dest::TUN_TYPE.get(v)?,
            IPVS_DEST_ATTR_TUN_PORT => tun_port = dest::TUN_PORT.get(v)?,
            IPVS_DEST_ATTR_TUN_FLAGS => tun_flags = dest::TUN_FLAGS.get(v)?,
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
        stats: pick_stats(s32, s64)?,
    })
}
