//! Attribute enums for every IPVS nest, after rust-netlink's style: one
//! variant per kernel attribute, unknown ones kept in `Other`.
//!
//! Each enum implements [`Nla`] (so a slice of them emits with
//! [`Emitable`]) and parses from a checked [`NlaBuffer`]. Neither step
//! panics: parsing checks every length, and emitting writes exactly
//! `buffer_len()` bytes.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, ErrorContext, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator,
    Parseable,
};

use super::consts::*;

/// A 16-byte `union nf_inet_addr`: IPv4 in the first 4 bytes, zero padded.
pub type RawAddr = [u8; 16];

/// `struct ip_vs_flags`: the flags and the mask of bits to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SvcFlags {
    /// `IP_VS_SVC_F_*` bits.
    pub flags: u32,
    /// Which bits of `flags` the kernel applies (`~0` = all).
    pub mask: u32,
}

pub(crate) fn parse_raw_addr(v: &[u8]) -> Result<RawAddr, DecodeError> {
    if v.is_empty() || v.len() > 16 {
        return Err(DecodeError::from(format!(
            "address of {} bytes (want 1..=16)",
            v.len()
        )));
    }
    let mut a = [0u8; 16];
    a[..v.len()].copy_from_slice(v);
    Ok(a)
}

pub(crate) fn want<const N: usize>(v: &[u8]) -> Result<[u8; N], DecodeError> {
    v.get(..N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| DecodeError::from(format!("need {N} bytes, got {}", v.len())))
}

pub(crate) fn u8_of(v: &[u8]) -> Result<u8, DecodeError> {
    Ok(want::<1>(v)?[0])
}
pub(crate) fn u16_of(v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(want(v)?))
}
pub(crate) fn be16_of(v: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(want(v)?))
}
pub(crate) fn u32_of(v: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(want(v)?))
}
pub(crate) fn u64_of(v: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(want(v)?))
}
/// A NUL-terminated (or unterminated) string, borrowed: bytes up to the
/// first NUL.
pub(crate) fn str_ref_of(v: &[u8]) -> Result<&str, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    std::str::from_utf8(&v[..end]).map_err(|e| DecodeError::from(e.to_string()))
}
/// A NUL-terminated (or unterminated) string: bytes up to the first NUL.
pub(crate) fn str_of(v: &[u8]) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec()).map_err(DecodeError::from)
}

/// Parse every attribute of a nest with `f`, adding `what` as context.
pub(crate) fn parse_nest<T>(
    payload: &[u8],
    what: &str,
    mut f: impl FnMut(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(payload) {
        let nla = nla.with_context(|| format!("parsing {what}"))?;
        out.push(f(&nla).with_context(|| format!("parsing {what}"))?);
    }
    Ok(out)
}

fn emit_nest<T: Nla>(nlas: &[T], buffer: &mut [u8]) {
    nlas.emit(buffer)
}

/// One value of a statistics nest. `IPVS_SVC_ATTR_STATS` carries most values
/// as u32 (bytes as u64); `STATS64` carries all as u64.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttr {
    /// A known counter or rate (`IPVS_STATS_ATTR_CONNS..=OUTBPS`) as a u32.
    U32(u16, u32),
    /// A known counter or rate as a u64.
    U64(u16, u64),
    /// `IPVS_STATS_ATTR_PAD` or an attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::U32(..) => 4,
            StatsAttr::U64(..) => 8,
            StatsAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            StatsAttr::U32(k, _) | StatsAttr::U64(k, _) => *k,
            StatsAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            StatsAttr::U32(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::U64(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            StatsAttr::Other(n) => n.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        let k = buf.kind();
        Ok(match k {
            IPVS_STATS_ATTR_CONNS..=IPVS_STATS_ATTR_OUTBPS => match v.len() {
                4 => StatsAttr::U32(k, u32_of(v)?),
                8 => StatsAttr::U64(k, u64_of(v)?),
                n => {
                    return Err(DecodeError::from(format!(
                        "stats attribute {k} of {n} bytes (want 4 or 8)"
                    )));
                }
            },
            _ => StatsAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

fn parse_stats(v: &[u8]) -> Result<Vec<StatsAttr>, DecodeError> {
    parse_nest(v, "IPVS_STATS_ATTR", |n| StatsAttr::parse(n))
}

fn nested_kind(k: u16) -> u16 {
    k | NLA_F_NESTED
}

/// Attributes of an `IPVS_CMD_ATTR_SERVICE` nest (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAttr {
    /// `AF`: address family (host order).
    Af(u16),
    /// `PROTOCOL`: IP protocol number (host order).
    Protocol(u16),
    /// `ADDR`: virtual address, 16 bytes.
    Addr(RawAddr),
    /// `PORT`: virtual port (the value; network order on the wire).
    Port(u16),
    /// `FWMARK`: firewall mark.
    Fwmark(u32),
    /// `SCHED_NAME`: scheduler name.
    SchedName(String),
    /// `FLAGS`: service flags and mask.
    Flags(SvcFlags),
    /// `TIMEOUT`: persistence timeout in seconds.
    Timeout(u32),
    /// `NETMASK`: as the kernel reads it with `nla_get_be32`: the raw
    /// network-order bytes of an IPv4 mask, or an IPv6 prefix length
    /// written as a host-order u32. Stored here as the 4 raw bytes.
    Netmask([u8; 4]),
    /// `STATS`: 32-bit statistics (output only).
    Stats(Vec<StatsAttr>),
    /// `PE_NAME`: persistence engine name.
    PeName(String),
    /// `STATS64`: 64-bit statistics (output only).
    Stats64(Vec<StatsAttr>),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        use ServiceAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Addr(_) => 16,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags(_) => 8,
            Stats(v) | Stats64(v) => v.as_slice().buffer_len(),
            Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use ServiceAttr::*;
        match self {
            Af(_) => IPVS_SVC_ATTR_AF,
            Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Addr(_) => IPVS_SVC_ATTR_ADDR,
            Port(_) => IPVS_SVC_ATTR_PORT,
            Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Stats(_) => nested_kind(IPVS_SVC_ATTR_STATS),
            PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Stats64(_) => nested_kind(IPVS_SVC_ATTR_STATS64),
            Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, b: &mut [u8]) {
        use ServiceAttr::*;
        match self {
            Af(v) | Protocol(v) => b.copy_from_slice(&v.to_ne_bytes()),
            Port(v) => b.copy_from_slice(&v.to_be_bytes()),
            Addr(a) => b.copy_from_slice(a),
            Fwmark(v) | Timeout(v) => b.copy_from_slice(&v.to_ne_bytes()),
            Netmask(m) => b.copy_from_slice(m),
            SchedName(s) | PeName(s) => emit_cstr(s, b),
            Flags(f) => {
                b[..4].copy_from_slice(&f.flags.to_ne_bytes());
                b[4..].copy_from_slice(&f.mask.to_ne_bytes());
            }
            Stats(v) | Stats64(v) => emit_nest(v, b),
            Other(n) => n.emit_value(b),
        }
    }
}

fn emit_cstr(s: &str, b: &mut [u8]) {
    let n = s.len();
    b[..n].copy_from_slice(s.as_bytes());
    b[n] = 0;
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        use ServiceAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => Af(u16_of(v).context("IPVS_SVC_ATTR_AF")?),
            IPVS_SVC_ATTR_PROTOCOL => Protocol(u16_of(v).context("IPVS_SVC_ATTR_PROTOCOL")?),
            IPVS_SVC_ATTR_ADDR => Addr(parse_raw_addr(v).context("IPVS_SVC_ATTR_ADDR")?),
            IPVS_SVC_ATTR_PORT => Port(be16_of(v).context("IPVS_SVC_ATTR_PORT")?),
            IPVS_SVC_ATTR_FWMARK => Fwmark(u32_of(v).context("IPVS_SVC_ATTR_FWMARK")?),
            IPVS_SVC_ATTR_SCHED_NAME => SchedName(str_of(v).context("IPVS_SVC_ATTR_SCHED_NAME")?),
            IPVS_SVC_ATTR_FLAGS => {
                // A short payload is zero-padded by the kernel; do the same.
                let mut raw = [0u8; 8];
                let n = v.len().min(8);
                raw[..n].copy_from_slice(&v[..n]);
                Flags(SvcFlags {
                    flags: u32_of(&raw[..4])?,
                    mask: u32_of(&raw[4..])?,
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => Timeout(u32_of(v).context("IPVS_SVC_ATTR_TIMEOUT")?),
            IPVS_SVC_ATTR_NETMASK => Netmask(want::<4>(v).context("IPVS_SVC_ATTR_NETMASK")?),
            IPVS_SVC_ATTR_STATS => Stats(parse_stats(v).context("IPVS_SVC_ATTR_STATS")?),
            IPVS_SVC_ATTR_PE_NAME => PeName(str_of(v).context("IPVS_SVC_ATTR_PE_NAME")?),
            IPVS_SVC_ATTR_STATS64 => Stats64(parse_stats(v).context("IPVS_SVC_ATTR_STATS64")?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Attributes of an `IPVS_CMD_ATTR_DEST` nest (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    /// `ADDR`: real server address, 16 bytes.
    Addr(RawAddr),
    /// `PORT`: real server port (the value; network order on the wire).
    Port(u16),
    /// `FWD_METHOD`: `IP_VS_CONN_F_*` forwarding method.
    FwdMethod(u32),
    /// `WEIGHT`.
    Weight(u32),
    /// `U_THRESH`: upper connection threshold.
    UThresh(u32),
    /// `L_THRESH`: lower connection threshold.
    LThresh(u32),
    /// `ACTIVE_CONNS` (output only).
    ActiveConns(u32),
    /// `INACT_CONNS` (output only).
    InactConns(u32),
    /// `PERSIST_CONNS` (output only).
    PersistConns(u32),
    /// `STATS` (output only).
    Stats(Vec<StatsAttr>),
    /// `ADDR_FAMILY`: the destination's own address family.
    AddrFamily(u16),
    /// `STATS64` (output only).
    Stats64(Vec<StatsAttr>),
    /// `TUN_TYPE`: `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    TunType(u8),
    /// `TUN_PORT`: tunnel port (the value; network order on the wire).
    TunPort(u16),
    /// `TUN_FLAGS`: `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    TunFlags(u16),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(_) => 16,
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            Stats(v) | Stats64(v) => v.as_slice().buffer_len(),
            Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => IPVS_DEST_ATTR_ADDR,
            Port(_) => IPVS_DEST_ATTR_PORT,
            FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Stats(_) => nested_kind(IPVS_DEST_ATTR_STATS),
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => nested_kind(IPVS_DEST_ATTR_STATS64),
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, b: &mut [u8]) {
        use DestAttr::*;
        match self {
            Addr(a) => b.copy_from_slice(a),
            Port(v) | TunPort(v) => b.copy_from_slice(&v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => b.copy_from_slice(&v.to_ne_bytes()),
            TunType(v) => b[0] = *v,
            FwdMethod(v) | Weight(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => b.copy_from_slice(&v.to_ne_bytes()),
            Stats(v) | Stats64(v) => emit_nest(v, b),
            Other(n) => n.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        use DestAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => Addr(parse_raw_addr(v).context("IPVS_DEST_ATTR_ADDR")?),
            IPVS_DEST_ATTR_PORT => Port(be16_of(v).context("IPVS_DEST_ATTR_PORT")?),
            IPVS_DEST_ATTR_FWD_METHOD => FwdMethod(u32_of(v).context("IPVS_DEST_ATTR_FWD_METHOD")?),
            IPVS_DEST_ATTR_WEIGHT => Weight(u32_of(v).context("IPVS_DEST_ATTR_WEIGHT")?),
            IPVS_DEST_ATTR_U_THRESH => UThresh(u32_of(v).context("IPVS_DEST_ATTR_U_THRESH")?),
            IPVS_DEST_ATTR_L_THRESH => LThresh(u32_of(v).context("IPVS_DEST_ATTR_L_THRESH")?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => {
                ActiveConns(u32_of(v).context("IPVS_DEST_ATTR_ACTIVE_CONNS")?)
            }
            IPVS_DEST_ATTR_INACT_CONNS => {
                InactConns(u32_of(v).context("IPVS_DEST_ATTR_INACT_CONNS")?)
            }
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                PersistConns(u32_of(v).context("IPVS_DEST_ATTR_PERSIST_CONNS")?)
            }
            IPVS_DEST_ATTR_STATS => Stats(parse_stats(v).context("IPVS_DEST_ATTR_STATS")?),
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                AddrFamily(u16_of(v).context("IPVS_DEST_ATTR_ADDR_FAMILY")?)
            }
            IPVS_DEST_ATTR_STATS64 => Stats64(parse_stats(v).context("IPVS_DEST_ATTR_STATS64")?),
            IPVS_DEST_ATTR_TUN_TYPE => TunType(u8_of(v).context("IPVS_DEST_ATTR_TUN_TYPE")?),
            IPVS_DEST_ATTR_TUN_PORT => TunPort(be16_of(v).context("IPVS_DEST_ATTR_TUN_PORT")?),
            IPVS_DEST_ATTR_TUN_FLAGS => TunFlags(u16_of(v).context("IPVS_DEST_ATTR_TUN_FLAGS")?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Attributes of an `IPVS_CMD_ATTR_DAEMON` nest (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// `STATE`: `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    State(u32),
    /// `MCAST_IFN`: multicast interface name.
    McastIfn(String),
    /// `SYNC_ID`.
    SyncId(u32),
    /// `SYNC_MAXLEN`: maximum sync message length.
    SyncMaxlen(u16),
    /// `MCAST_GROUP`: IPv4 group (network-order bytes).
    McastGroup([u8; 4]),
    /// `MCAST_GROUP6`: IPv6 group.
    McastGroup6([u8; 16]),
    /// `MCAST_PORT` (host order).
    McastPort(u16),
    /// `MCAST_TTL`.
    McastTtl(u8),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxlen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => IPVS_DAEMON_ATTR_STATE,
            McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, b: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => b.copy_from_slice(&v.to_ne_bytes()),
            McastIfn(s) => emit_cstr(s, b),
            SyncMaxlen(v) | McastPort(v) => b.copy_from_slice(&v.to_ne_bytes()),
            McastGroup(a) => b.copy_from_slice(a),
            McastGroup6(a) => b.copy_from_slice(a),
            McastTtl(v) => b[0] = *v,
            Other(n) => n.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        use DaemonAttr::*;
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => State(u32_of(v).context("IPVS_DAEMON_ATTR_STATE")?),
            IPVS_DAEMON_ATTR_MCAST_IFN => {
                McastIfn(str_of(v).context("IPVS_DAEMON_ATTR_MCAST_IFN")?)
            }
            IPVS_DAEMON_ATTR_SYNC_ID => SyncId(u32_of(v).context("IPVS_DAEMON_ATTR_SYNC_ID")?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
                SyncMaxlen(u16_of(v).context("IPVS_DAEMON_ATTR_SYNC_MAXLEN")?)
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                McastGroup(want::<4>(v).context("IPVS_DAEMON_ATTR_MCAST_GROUP")?)
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                McastGroup6(want::<16>(v).context("IPVS_DAEMON_ATTR_MCAST_GROUP6")?)
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                McastPort(u16_of(v).context("IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => McastTtl(u8_of(v).context("IPVS_DAEMON_ATTR_MCAST_TTL")?),
            _ => Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Top-level attributes of an IPVS message (`IPVS_CMD_ATTR_*`, and the
/// `IPVS_INFO_ATTR_*` of a GET_INFO reply, which share the top level).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CmdAttr {
    /// `IPVS_CMD_ATTR_SERVICE` nest.
    Service(Vec<ServiceAttr>),
    /// `IPVS_CMD_ATTR_DEST` nest.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON` nest.
    Daemon(Vec<DaemonAttr>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP` seconds.
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN` seconds.
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP` seconds.
    TimeoutUdp(u32),
    /// An attribute this crate does not know (or an `IPVS_INFO_ATTR_*`,
    /// whose numbers overlap the command attributes; see [`InfoAttr`]).
    Other(DefaultNla),
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(v) => v.as_slice().buffer_len(),
            CmdAttr::Dest(v) => v.as_slice().buffer_len(),
            CmdAttr::Daemon(v) => v.as_slice().buffer_len(),
            CmdAttr::TimeoutTcp(_) | CmdAttr::TimeoutTcpFin(_) | CmdAttr::TimeoutUdp(_) => 4,
            CmdAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => nested_kind(IPVS_CMD_ATTR_SERVICE),
            CmdAttr::Dest(_) => nested_kind(IPVS_CMD_ATTR_DEST),
            CmdAttr::Daemon(_) => nested_kind(IPVS_CMD_ATTR_DAEMON),
            CmdAttr::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            CmdAttr::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            CmdAttr::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            CmdAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, b: &mut [u8]) {
        match self {
            CmdAttr::Service(v) => emit_nest(v, b),
            CmdAttr::Dest(v) => emit_nest(v, b),
            CmdAttr::Daemon(v) => emit_nest(v, b),
            CmdAttr::TimeoutTcp(v) | CmdAttr::TimeoutTcpFin(v) | CmdAttr::TimeoutUdp(v) => {
                b.copy_from_slice(&v.to_ne_bytes())
            }
            CmdAttr::Other(n) => n.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for CmdAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_CMD_ATTR_SERVICE => {
                CmdAttr::Service(parse_nest(v, "IPVS_CMD_ATTR_SERVICE", |n| {
                    ServiceAttr::parse(n)
                })?)
            }
            IPVS_CMD_ATTR_DEST => {
                CmdAttr::Dest(parse_nest(v, "IPVS_CMD_ATTR_DEST", |n| DestAttr::parse(n))?)
            }
            IPVS_CMD_ATTR_DAEMON => CmdAttr::Daemon(parse_nest(v, "IPVS_CMD_ATTR_DAEMON", |n| {
                DaemonAttr::parse(n)
            })?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => {
                CmdAttr::TimeoutTcp(u32_of(v).context("IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
                CmdAttr::TimeoutTcpFin(u32_of(v).context("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_UDP => {
                CmdAttr::TimeoutUdp(u32_of(v).context("IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => CmdAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Attributes of a GET_INFO reply (`IPVS_INFO_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoAttr {
    /// `VERSION`: `IP_VS_VERSION_CODE`, e.g. `0x010201`.
    Version(u32),
    /// `CONN_TAB_SIZE`: connection hash table size.
    ConnTabSize(u32),
    /// An attribute this crate does not know.
    Other(DefaultNla),
}

impl Nla for InfoAttr {
    fn value_len(&self) -> usize {
        match self {
            InfoAttr::Version(_) | InfoAttr::ConnTabSize(_) => 4,
            InfoAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            InfoAttr::Version(_) => IPVS_INFO_ATTR_VERSION,
            InfoAttr::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            InfoAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, b: &mut [u8]) {
        match self {
            InfoAttr::Version(v) | InfoAttr::ConnTabSize(v) => b.copy_from_slice(&v.to_ne_bytes()),
            InfoAttr::Other(n) => n.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for InfoAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let v = buf.value();
        Ok(match buf.kind() {
            IPVS_INFO_ATTR_VERSION => {
                InfoAttr::Version(u32_of(v).context("IPVS_INFO_ATTR_VERSION")?)
            }
            IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                InfoAttr::ConnTabSize(u32_of(v).context("IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
            }
            _ => InfoAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Parse the top-level attributes of an IPVS message payload (after the
/// generic-netlink header).
pub fn parse_cmd_attrs(payload: &[u8]) -> Result<Vec<CmdAttr>, DecodeError> {
    parse_nest(payload, "IPVS_CMD_ATTR", |n| CmdAttr::parse(n))
}

/// Parse a GET_INFO reply payload.
pub fn parse_info_attrs(payload: &[u8]) -> Result<Vec<InfoAttr>, DecodeError> {
    parse_nest(payload, "IPVS_INFO_ATTR", |n| InfoAttr::parse(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit<T: Nla>(nlas: &[T]) -> Vec<u8> {
        let s = nlas;
        let mut b = vec![0xa5; s.buffer_len()];
        s.emit(&mut b);
        b
    }

    #[test]
    fn port_is_network_order_and_padded() {
        let b = emit(&[ServiceAttr::Port(80)]);
        assert_eq!(b, [6, 0, 4, 0, 0, 80, 0, 0]);
        let back = parse_nest(&b, "t", |n| ServiceAttr::parse(n)).unwrap();
        assert_eq!(back, vec![ServiceAttr::Port(80)]);
    }

    #[test]
    fn sched_name_is_nul_terminated() {
        let b = emit(&[ServiceAttr::SchedName("wlc".into())]);
        assert_eq!(b, [8, 0, 6, 0, b'w', b'l', b'c', 0]);
    }

    #[test]
    fn nested_service_roundtrip() {
        let attrs = vec![CmdAttr::Service(vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Fwmark(7),
            ServiceAttr::Flags(SvcFlags { flags: 1, mask: !0 }),
            ServiceAttr::Stats64(vec![StatsAttr::U64(IPVS_STATS_ATTR_CONNS, 1 << 40)]),
        ])];
        let b = emit(&attrs);
        assert_eq!(parse_cmd_attrs(&b).unwrap(), attrs);
    }

    #[test]
    fn truncated_u32_is_an_error_with_context() {
        // TIMEOUT with a 2-byte payload.
        let b = [6u8, 0, 8, 0, 1, 2, 0, 0];
        let e = parse_nest(&b, "IPVS_CMD_ATTR_SERVICE", |n| ServiceAttr::parse(n)).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("IPVS_SVC_ATTR_TIMEOUT"), "{msg}");
        assert!(msg.contains("need 4 bytes"), "{msg}");
    }

    #[test]
    fn unknown_attributes_are_kept() {
        let b = emit(&[DestAttr::Other(DefaultNla::new(99, vec![1, 2, 3]))]);
        let back = parse_nest(&b, "t", |n| DestAttr::parse(n)).unwrap();
        assert_eq!(
            back,
            vec![DestAttr::Other(DefaultNla::new(99, vec![1, 2, 3]))]
        );
    }
}
