//! Attribute enums for every IPVS nest, after rust-netlink's style: one
//! variant per kernel attribute, unknown ones kept in `Other`.
//!
//! These are the generic, typed view of an IPVS message: what
//! [`Handle::send_raw`](crate::Handle::send_raw) sends, what the sync
//! daemon and configuration commands use, and what tests compare. Each
//! enum implements [`Attribute`]: it is written through the one writer
//! ([`MsgWriter`]) and read from the one reader ([`Attrs`]), so its bytes
//! are the bytes the typed model's requests are made of. Parsing checks
//! every length and never panics; writing never truncates.

use super::consts::*;
use super::error::{Context, Error};
use super::msg::Attrs;
use super::table::{cmd, daemon, dest, svc};
use super::writer::MsgWriter;

/// One attribute type of the wire: written through [`MsgWriter`], parsed
/// from the `(type, value)` pairs of [`Attrs`].
pub trait Attribute: Sized {
    /// The attribute type as written, flags (`NLA_F_NESTED`) included.
    fn kind(&self) -> u16;
    /// Write this attribute (header, value, padding).
    fn emit(&self, w: &mut MsgWriter<'_>);
    /// Parse one attribute given its type as on the wire (flags included:
    /// an unknown attribute keeps them) and its value.
    ///
    /// # Errors
    /// A value of the wrong size or encoding, with context.
    fn parse(kind: u16, value: &[u8]) -> Result<Self, Error>;
}

/// An attribute this crate does not know, kept as its type and raw value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttr {
    kind: u16,
    value: Vec<u8>,
}

impl RawAttr {
    /// An attribute of type `kind` (written exactly as given, flags
    /// included) with `value`.
    pub fn new(kind: u16, value: Vec<u8>) -> Self {
        RawAttr { kind, value }
    }
    /// The attribute type.
    pub fn kind(&self) -> u16 {
        self.kind
    }
    /// The value bytes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        w.bytes(self.kind, &self.value);
    }
    fn parse(kind: u16, value: &[u8]) -> Self {
        RawAttr::new(kind, value.to_vec())
    }
}

impl Attribute for RawAttr {
    fn kind(&self) -> u16 {
        self.kind
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        RawAttr::emit(self, w)
    }
    fn parse(kind: u16, value: &[u8]) -> Result<Self, Error> {
        Ok(RawAttr::parse(kind, value))
    }
}

/// Write attributes with no message around them (a nest's content).
///
/// # Errors
/// An attribute too long for its length field.
pub fn emit_attrs<A: Attribute>(attrs: &[A]) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    let mut w = MsgWriter::attributes(&mut buf);
    w.attrs(attrs);
    w.finish()?;
    Ok(buf)
}

/// Add "parsing NAME" to a value parser's error.
fn named<T>(name: &'static str, r: Result<T, Error>) -> Result<T, Error> {
    r.with_context(|| format!("parsing {name}"))
}

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

impl SvcFlags {
    /// The 8 bytes of `struct ip_vs_flags` (host order).
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.flags.to_ne_bytes());
        b[4..].copy_from_slice(&self.mask.to_ne_bytes());
        b
    }

    /// Read `struct ip_vs_flags`; a short value is zero-padded, as the
    /// kernel's `nla_memcpy` does.
    pub fn from_bytes(v: &[u8]) -> Self {
        let mut raw = [0u8; 8];
        let n = v.len().min(8);
        raw[..n].copy_from_slice(&v[..n]);
        let word = |i: usize| u32::from_ne_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        SvcFlags {
            flags: word(0),
            mask: word(4),
        }
    }
}

#[inline]
pub(crate) fn parse_raw_addr(v: &[u8]) -> Result<RawAddr, Error> {
    if v.is_empty() || v.len() > 16 {
        return Err(Error::new(format!(
            "address of {} bytes (want 1..=16)",
            v.len()
        )));
    }
    let mut a = [0u8; 16];
    a[..v.len()].copy_from_slice(v);
    Ok(a)
}

#[inline]
pub(crate) fn want<const N: usize>(v: &[u8]) -> Result<[u8; N], Error> {
    v.get(..N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or_else(|| Error::new(format!("need {N} bytes, got {}", v.len())))
}

#[inline]
pub(crate) fn u8_of(v: &[u8]) -> Result<u8, Error> {
    Ok(want::<1>(v)?[0])
}
#[inline]
pub(crate) fn u16_of(v: &[u8]) -> Result<u16, Error> {
    Ok(u16::from_ne_bytes(want(v)?))
}
#[inline]
pub(crate) fn be16_of(v: &[u8]) -> Result<u16, Error> {
    Ok(u16::from_be_bytes(want(v)?))
}
#[inline]
pub(crate) fn u32_of(v: &[u8]) -> Result<u32, Error> {
    Ok(u32::from_ne_bytes(want(v)?))
}
#[inline]
pub(crate) fn u64_of(v: &[u8]) -> Result<u64, Error> {
    Ok(u64::from_ne_bytes(want(v)?))
}
/// A NUL-terminated (or unterminated) string, borrowed: bytes up to the
/// first NUL.
#[inline]
pub(crate) fn str_ref_of(v: &[u8]) -> Result<&str, Error> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    std::str::from_utf8(&v[..end]).map_err(|e| Error::new(e.to_string()))
}
/// A NUL-terminated (or unterminated) string: bytes up to the first NUL.
pub(crate) fn str_of(v: &[u8]) -> Result<String, Error> {
    str_ref_of(v).map(str::to_owned)
}

/// Parse every attribute of a nest, adding "parsing `what`" as context.
///
/// # Errors
/// The first attribute that does not parse.
pub fn parse_attrs<A: Attribute>(payload: &[u8], what: &str) -> Result<Vec<A>, Error> {
    let mut out = Vec::new();
    for a in Attrs::with_flags(payload) {
        let (kind, value) = a.with_context(|| format!("parsing {what}"))?;
        out.push(A::parse(kind, value).with_context(|| format!("parsing {what}"))?);
    }
    Ok(out)
}

fn emit_nest<A: Attribute>(w: &mut MsgWriter<'_>, kind: u16, attrs: &[A]) {
    let at = w.begin_nest(kind);
    w.attrs(attrs);
    w.end_nest(at);
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
    Other(RawAttr),
}

impl Attribute for StatsAttr {
    fn kind(&self) -> u16 {
        match self {
            StatsAttr::U32(k, _) | StatsAttr::U64(k, _) => *k,
            StatsAttr::Other(n) => n.kind(),
        }
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        match self {
            StatsAttr::U32(k, v) => w.u32(*k, *v),
            StatsAttr::U64(k, v) => w.u64(*k, *v),
            StatsAttr::Other(n) => n.emit(w),
        }
    }
    fn parse(raw: u16, v: &[u8]) -> Result<Self, Error> {
        let k = raw & NLA_TYPE_MASK;
        Ok(match counter(k, v)? {
            Some(Counter::U32(x)) => StatsAttr::U32(k, x),
            Some(Counter::U64(x)) => StatsAttr::U64(k, x),
            None => StatsAttr::Other(RawAttr::parse(raw, v)),
        })
    }
}

/// A statistics counter's value, as sent.
pub(crate) enum Counter {
    U32(u32),
    U64(u64),
}

/// Read the value of statistics attribute `k` (flags removed): a known
/// counter or rate of 4 or 8 bytes, `None` for `PAD` and unknown types.
#[inline]
pub(crate) fn counter(k: u16, v: &[u8]) -> Result<Option<Counter>, Error> {
    if !(IPVS_STATS_ATTR_CONNS..=IPVS_STATS_ATTR_OUTBPS).contains(&k) {
        return Ok(None);
    }
    match v.len() {
        4 => u32_of(v).map(|x| Some(Counter::U32(x))),
        8 => u64_of(v).map(|x| Some(Counter::U64(x))),
        n => Err(Error::new(format!(
            "stats attribute {k} of {n} bytes (want 4 or 8)"
        ))),
    }
}

fn parse_stats(v: &[u8]) -> Result<Vec<StatsAttr>, Error> {
    parse_attrs(v, "IPVS_STATS_ATTR")
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
    Other(RawAttr),
}

impl Attribute for ServiceAttr {
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
            Stats(_) => IPVS_SVC_ATTR_STATS | NLA_F_NESTED,
            PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Stats64(_) => IPVS_SVC_ATTR_STATS64 | NLA_F_NESTED,
            Other(n) => n.kind(),
        }
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        use ServiceAttr::*;
        match self {
            Af(v) => svc::AF.put(w, *v),
            Protocol(v) => svc::PROTOCOL.put(w, *v),
            Port(v) => svc::PORT.put(w, *v),
            Addr(a) => svc::ADDR.put(w, a),
            Fwmark(v) => svc::FWMARK.put(w, *v),
            Timeout(v) => svc::TIMEOUT.put(w, *v),
            Netmask(m) => svc::NETMASK.put(w, m),
            SchedName(s) => svc::SCHED_NAME.put(w, s),
            PeName(s) => svc::PE_NAME.put(w, s),
            Flags(f) => svc::FLAGS.put(w, *f),
            Stats(v) => emit_nest(w, IPVS_SVC_ATTR_STATS, v),
            Stats64(v) => emit_nest(w, IPVS_SVC_ATTR_STATS64, v),
            Other(n) => n.emit(w),
        }
    }
    fn parse(kind: u16, v: &[u8]) -> Result<Self, Error> {
        use ServiceAttr::*;
        Ok(match kind & NLA_TYPE_MASK {
            IPVS_SVC_ATTR_AF => Af(svc::AF.get(v)?),
            IPVS_SVC_ATTR_PROTOCOL => Protocol(svc::PROTOCOL.get(v)?),
            IPVS_SVC_ATTR_ADDR => Addr(svc::ADDR.get(v)?),
            IPVS_SVC_ATTR_PORT => Port(svc::PORT.get(v)?),
            IPVS_SVC_ATTR_FWMARK => Fwmark(svc::FWMARK.get(v)?),
            IPVS_SVC_ATTR_SCHED_NAME => SchedName(svc::SCHED_NAME.get(v)?.to_owned()),
            IPVS_SVC_ATTR_FLAGS => Flags(svc::FLAGS.get(v)),
            IPVS_SVC_ATTR_TIMEOUT => Timeout(svc::TIMEOUT.get(v)?),
            IPVS_SVC_ATTR_NETMASK => Netmask(svc::NETMASK.get(v)?),
            IPVS_SVC_ATTR_STATS => Stats(named("IPVS_SVC_ATTR_STATS", parse_stats(v))?),
            IPVS_SVC_ATTR_PE_NAME => PeName(svc::PE_NAME.get(v)?.to_owned()),
            IPVS_SVC_ATTR_STATS64 => Stats64(named("IPVS_SVC_ATTR_STATS64", parse_stats(v))?),
            _ => Other(RawAttr::parse(kind, v)),
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
    Other(RawAttr),
}

impl Attribute for DestAttr {
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
            Stats(_) => IPVS_DEST_ATTR_STATS | NLA_F_NESTED,
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => IPVS_DEST_ATTR_STATS64 | NLA_F_NESTED,
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(n) => n.kind(),
        }
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        use DestAttr::*;
        match self {
            Addr(a) => dest::ADDR.put(w, a),
            Port(v) => dest::PORT.put(w, *v),
            TunPort(v) => dest::TUN_PORT.put(w, *v),
            AddrFamily(v) => dest::ADDR_FAMILY.put(w, *v),
            TunFlags(v) => dest::TUN_FLAGS.put(w, *v),
            TunType(v) => dest::TUN_TYPE.put(w, *v),
            FwdMethod(v) => dest::FWD_METHOD.put(w, *v),
            Weight(v) => dest::WEIGHT.put(w, *v),
            UThresh(v) => dest::U_THRESH.put(w, *v),
            LThresh(v) => dest::L_THRESH.put(w, *v),
            ActiveConns(v) => dest::ACTIVE_CONNS.put(w, *v),
            InactConns(v) => dest::INACT_CONNS.put(w, *v),
            PersistConns(v) => dest::PERSIST_CONNS.put(w, *v),
            Stats(v) => emit_nest(w, IPVS_DEST_ATTR_STATS, v),
            Stats64(v) => emit_nest(w, IPVS_DEST_ATTR_STATS64, v),
            Other(n) => n.emit(w),
        }
    }
    fn parse(kind: u16, v: &[u8]) -> Result<Self, Error> {
        use DestAttr::*;
        Ok(match kind & NLA_TYPE_MASK {
            IPVS_DEST_ATTR_ADDR => Addr(dest::ADDR.get(v)?),
            IPVS_DEST_ATTR_PORT => Port(dest::PORT.get(v)?),
            IPVS_DEST_ATTR_FWD_METHOD => FwdMethod(dest::FWD_METHOD.get(v)?),
            IPVS_DEST_ATTR_WEIGHT => Weight(dest::WEIGHT.get(v)?),
            IPVS_DEST_ATTR_U_THRESH => UThresh(dest::U_THRESH.get(v)?),
            IPVS_DEST_ATTR_L_THRESH => LThresh(dest::L_THRESH.get(v)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => ActiveConns(dest::ACTIVE_CONNS.get(v)?),
            IPVS_DEST_ATTR_INACT_CONNS => InactConns(dest::INACT_CONNS.get(v)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => PersistConns(dest::PERSIST_CONNS.get(v)?),
            IPVS_DEST_ATTR_STATS => Stats(named("IPVS_DEST_ATTR_STATS", parse_stats(v))?),
            IPVS_DEST_ATTR_ADDR_FAMILY => AddrFamily(dest::ADDR_FAMILY.get(v)?),
            IPVS_DEST_ATTR_STATS64 => Stats64(named("IPVS_DEST_ATTR_STATS64", parse_stats(v))?),
            IPVS_DEST_ATTR_TUN_TYPE => TunType(dest::TUN_TYPE.get(v)?),
            IPVS_DEST_ATTR_TUN_PORT => TunPort(dest::TUN_PORT.get(v)?),
            IPVS_DEST_ATTR_TUN_FLAGS => TunFlags(dest::TUN_FLAGS.get(v)?),
            _ => Other(RawAttr::parse(kind, v)),
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
    Other(RawAttr),
}

impl Attribute for DaemonAttr {
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
    fn emit(&self, w: &mut MsgWriter<'_>) {
        use DaemonAttr::*;
        match self {
            State(v) => daemon::STATE.put(w, *v),
            SyncId(v) => daemon::SYNC_ID.put(w, *v),
            McastIfn(s) => daemon::MCAST_IFN.put(w, s),
            SyncMaxlen(v) => daemon::SYNC_MAXLEN.put(w, *v),
            McastPort(v) => daemon::MCAST_PORT.put(w, *v),
            McastGroup(a) => daemon::MCAST_GROUP.put(w, a),
            McastGroup6(a) => daemon::MCAST_GROUP6.put(w, a),
            McastTtl(v) => daemon::MCAST_TTL.put(w, *v),
            Other(n) => n.emit(w),
        }
    }
    fn parse(kind: u16, v: &[u8]) -> Result<Self, Error> {
        use DaemonAttr::*;
        Ok(match kind & NLA_TYPE_MASK {
            IPVS_DAEMON_ATTR_STATE => State(daemon::STATE.get(v)?),
            IPVS_DAEMON_ATTR_MCAST_IFN => McastIfn(daemon::MCAST_IFN.get(v)?.to_owned()),
            IPVS_DAEMON_ATTR_SYNC_ID => SyncId(daemon::SYNC_ID.get(v)?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => SyncMaxlen(daemon::SYNC_MAXLEN.get(v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => McastGroup(daemon::MCAST_GROUP.get(v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => McastGroup6(daemon::MCAST_GROUP6.get(v)?),
            IPVS_DAEMON_ATTR_MCAST_PORT => McastPort(daemon::MCAST_PORT.get(v)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => McastTtl(daemon::MCAST_TTL.get(v)?),
            _ => Other(RawAttr::parse(kind, v)),
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
    Other(RawAttr),
}

impl Attribute for CmdAttr {
    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED,
            CmdAttr::Dest(_) => IPVS_CMD_ATTR_DEST | NLA_F_NESTED,
            CmdAttr::Daemon(_) => IPVS_CMD_ATTR_DAEMON | NLA_F_NESTED,
            CmdAttr::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            CmdAttr::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            CmdAttr::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            CmdAttr::Other(n) => n.kind(),
        }
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        match self {
            CmdAttr::Service(v) => emit_nest(w, IPVS_CMD_ATTR_SERVICE, v),
            CmdAttr::Dest(v) => emit_nest(w, IPVS_CMD_ATTR_DEST, v),
            CmdAttr::Daemon(v) => emit_nest(w, IPVS_CMD_ATTR_DAEMON, v),
            CmdAttr::TimeoutTcp(v) => cmd::TIMEOUT_TCP.put(w, *v),
            CmdAttr::TimeoutTcpFin(v) => cmd::TIMEOUT_TCP_FIN.put(w, *v),
            CmdAttr::TimeoutUdp(v) => cmd::TIMEOUT_UDP.put(w, *v),
            CmdAttr::Other(n) => n.emit(w),
        }
    }
    fn parse(kind: u16, v: &[u8]) -> Result<Self, Error> {
        Ok(match kind & NLA_TYPE_MASK {
            IPVS_CMD_ATTR_SERVICE => CmdAttr::Service(parse_attrs(v, "IPVS_CMD_ATTR_SERVICE")?),
            IPVS_CMD_ATTR_DEST => CmdAttr::Dest(parse_attrs(v, "IPVS_CMD_ATTR_DEST")?),
            IPVS_CMD_ATTR_DAEMON => CmdAttr::Daemon(parse_attrs(v, "IPVS_CMD_ATTR_DAEMON")?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => CmdAttr::TimeoutTcp(cmd::TIMEOUT_TCP.get(v)?),
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => CmdAttr::TimeoutTcpFin(cmd::TIMEOUT_TCP_FIN.get(v)?),
            IPVS_CMD_ATTR_TIMEOUT_UDP => CmdAttr::TimeoutUdp(cmd::TIMEOUT_UDP.get(v)?),
            _ => CmdAttr::Other(RawAttr::parse(kind, v)),
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
    Other(RawAttr),
}

impl Attribute for InfoAttr {
    fn kind(&self) -> u16 {
        match self {
            InfoAttr::Version(_) => IPVS_INFO_ATTR_VERSION,
            InfoAttr::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            InfoAttr::Other(n) => n.kind(),
        }
    }
    fn emit(&self, w: &mut MsgWriter<'_>) {
        match self {
            InfoAttr::Version(v) => cmd::INFO_VERSION.put(w, *v),
            InfoAttr::ConnTabSize(v) => cmd::INFO_CONN_TAB_SIZE.put(w, *v),
            InfoAttr::Other(n) => n.emit(w),
        }
    }
    fn parse(kind: u16, v: &[u8]) -> Result<Self, Error> {
        Ok(match kind & NLA_TYPE_MASK {
            IPVS_INFO_ATTR_VERSION => InfoAttr::Version(cmd::INFO_VERSION.get(v)?),
            IPVS_INFO_ATTR_CONN_TAB_SIZE => InfoAttr::ConnTabSize(cmd::INFO_CONN_TAB_SIZE.get(v)?),
            _ => InfoAttr::Other(RawAttr::parse(kind, v)),
        })
    }
}

/// Parse the top-level attributes of an IPVS message payload (after the
/// generic-netlink header).
pub fn parse_cmd_attrs(payload: &[u8]) -> Result<Vec<CmdAttr>, Error> {
    parse_attrs(payload, "IPVS_CMD_ATTR")
}

/// Parse a GET_INFO reply payload.
pub fn parse_info_attrs(payload: &[u8]) -> Result<Vec<InfoAttr>, Error> {
    parse_attrs(payload, "IPVS_INFO_ATTR")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit<A: Attribute>(attrs: &[A]) -> Vec<u8> {
        emit_attrs(attrs).unwrap()
    }

    #[test]
    fn port_is_network_order_and_padded() {
        let b = emit(&[ServiceAttr::Port(80)]);
        assert_eq!(b, [6, 0, 4, 0, 0, 80, 0, 0]);
        let back: Vec<ServiceAttr> = parse_attrs(&b, "t").unwrap();
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
        let e = parse_attrs::<ServiceAttr>(&b, "IPVS_CMD_ATTR_SERVICE").unwrap_err();
        assert_eq!(
            e.to_string(),
            "parsing IPVS_CMD_ATTR_SERVICE: parsing IPVS_SVC_ATTR_TIMEOUT: need 4 bytes, got 2"
        );
        assert_eq!(e.cause(), "need 4 bytes, got 2");
    }

    #[test]
    fn unknown_attributes_are_kept() {
        let b = emit(&[DestAttr::Other(RawAttr::new(99, vec![1, 2, 3]))]);
        let back: Vec<DestAttr> = parse_attrs(&b, "t").unwrap();
        assert_eq!(back, vec![DestAttr::Other(RawAttr::new(99, vec![1, 2, 3]))]);
    }

    #[test]
    fn an_attribute_too_long_is_an_error_not_a_cut() {
        let big = ServiceAttr::PeName("p".repeat(70_000));
        let e = emit_attrs(&[big])
            .unwrap_err()
            .too_long()
            .expect("a length error");
        assert_eq!((e.kind, e.len), (IPVS_SVC_ATTR_PE_NAME, 70_005));
        let mut buf = Vec::new();
        let e = super::super::push_request(
            &mut buf,
            0x20,
            0,
            1,
            IPVS_CMD_NEW_SERVICE,
            &[CmdAttr::Other(RawAttr::new(1, vec![0; 65_532]))],
        )
        .unwrap_err()
        .too_long()
        .expect("a length error");
        assert_eq!(e.len, 65_536);
        assert!(buf.is_empty());
    }
}
