//! Every IPVS attribute once: its number, its name (for errors) and the
//! format of its value. The attribute enums and the typed model's codec
//! both write and read each attribute through its entry here, so the two
//! views of a message cannot disagree on a byte.

use std::marker::PhantomData;

use super::attr::{
    RawAddr, SvcFlags, be16_of, parse_raw_addr, str_ref_of, u8_of, u16_of, u32_of, want,
};
use super::consts::*;
use super::error::{Context, Error};
use super::writer::MsgWriter;

/// One attribute: type number, kernel name, value format `F`.
#[derive(Debug)]
pub(crate) struct Attr<F> {
    pub(crate) kind: u16,
    pub(crate) name: &'static str,
    format: PhantomData<F>,
}

impl<F> Attr<F> {
    const fn new(kind: u16, name: &'static str) -> Self {
        Attr {
            kind,
            name,
            format: PhantomData,
        }
    }

    #[inline]
    fn named<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.with_context(|| format!("parsing {}", self.name))
    }
}

/// Value formats.
#[derive(Debug)]
pub(crate) enum U8 {}
#[derive(Debug)]
pub(crate) enum U16 {}
/// Network byte order (ports).
#[derive(Debug)]
pub(crate) enum Be16 {}
#[derive(Debug)]
pub(crate) enum U32 {}
/// A `union nf_inet_addr` (1 to 16 bytes on input, 16 on output).
#[derive(Debug)]
pub(crate) enum Addr {}
/// A NUL-terminated string.
#[derive(Debug)]
pub(crate) enum Str {}
/// Exactly `N` raw bytes.
#[derive(Debug)]
pub(crate) enum Raw<const N: usize> {}
/// `struct ip_vs_flags`.
#[derive(Debug)]
pub(crate) enum Flags {}

macro_rules! scalar {
    ($format:ty, $value:ty, $put:ident, $get:expr) => {
        impl Attr<$format> {
            #[inline]
            pub(crate) fn put(&self, w: &mut MsgWriter<'_>, v: $value) {
                w.$put(self.kind, v)
            }
            #[inline]
            pub(crate) fn get(&self, v: &[u8]) -> Result<$value, Error> {
                self.named($get(v))
            }
        }
    };
}

scalar!(U8, u8, u8, u8_of);
scalar!(U16, u16, u16, u16_of);
scalar!(Be16, u16, be16, be16_of);
scalar!(U32, u32, u32, u32_of);

impl Attr<Addr> {
    pub(crate) fn put(&self, w: &mut MsgWriter<'_>, v: &RawAddr) {
        w.bytes(self.kind, v)
    }
    #[inline]
    pub(crate) fn get(&self, v: &[u8]) -> Result<RawAddr, Error> {
        self.named(parse_raw_addr(v))
    }
}

impl Attr<Str> {
    pub(crate) fn put(&self, w: &mut MsgWriter<'_>, v: &str) {
        w.cstr(self.kind, v)
    }
    #[inline]
    pub(crate) fn get<'a>(&self, v: &'a [u8]) -> Result<&'a str, Error> {
        self.named(str_ref_of(v))
    }
}

impl<const N: usize> Attr<Raw<N>> {
    pub(crate) fn put(&self, w: &mut MsgWriter<'_>, v: &[u8; N]) {
        w.bytes(self.kind, v)
    }
    #[inline]
    pub(crate) fn get(&self, v: &[u8]) -> Result<[u8; N], Error> {
        self.named(want::<N>(v))
    }
}

impl Attr<Flags> {
    pub(crate) fn put(&self, w: &mut MsgWriter<'_>, v: SvcFlags) {
        w.bytes(self.kind, &v.to_bytes())
    }
    /// A short value is zero-padded, as the kernel's `nla_memcpy` does:
    /// never an error.
    pub(crate) fn get(&self, v: &[u8]) -> SvcFlags {
        SvcFlags::from_bytes(v)
    }
}

macro_rules! table {
    ($($(#[$m:meta])* $id:ident: $format:ty = $kind:ident;)*) => {
        $($(#[$m])* pub(crate) const $id: Attr<$format> = Attr::new($kind, stringify!($kind));)*
    };
}

/// `IPVS_SVC_ATTR_*` (stats nests: see `attr`).
pub(crate) mod svc {
    use super::*;
    table! {
        AF: U16 = IPVS_SVC_ATTR_AF;
        PROTOCOL: U16 = IPVS_SVC_ATTR_PROTOCOL;
        ADDR: Addr = IPVS_SVC_ATTR_ADDR;
        PORT: Be16 = IPVS_SVC_ATTR_PORT;
        FWMARK: U32 = IPVS_SVC_ATTR_FWMARK;
        SCHED_NAME: Str = IPVS_SVC_ATTR_SCHED_NAME;
        FLAGS: Flags = IPVS_SVC_ATTR_FLAGS;
        TIMEOUT: U32 = IPVS_SVC_ATTR_TIMEOUT;
        /// Read with `nla_get_be32`: the raw bytes of an IPv4 mask, or an
        /// IPv6 prefix length as a host-order u32.
        NETMASK: Raw<4> = IPVS_SVC_ATTR_NETMASK;
        PE_NAME: Str = IPVS_SVC_ATTR_PE_NAME;
    }
}

/// `IPVS_DEST_ATTR_*`.
pub(crate) mod dest {
    use super::*;
    table! {
        ADDR: Addr = IPVS_DEST_ATTR_ADDR;
        PORT: Be16 = IPVS_DEST_ATTR_PORT;
        FWD_METHOD: U32 = IPVS_DEST_ATTR_FWD_METHOD;
        WEIGHT: U32 = IPVS_DEST_ATTR_WEIGHT;
        U_THRESH: U32 = IPVS_DEST_ATTR_U_THRESH;
        L_THRESH: U32 = IPVS_DEST_ATTR_L_THRESH;
        ACTIVE_CONNS: U32 = IPVS_DEST_ATTR_ACTIVE_CONNS;
        INACT_CONNS: U32 = IPVS_DEST_ATTR_INACT_CONNS;
        PERSIST_CONNS: U32 = IPVS_DEST_ATTR_PERSIST_CONNS;
        ADDR_FAMILY: U16 = IPVS_DEST_ATTR_ADDR_FAMILY;
        TUN_TYPE: U8 = IPVS_DEST_ATTR_TUN_TYPE;
        TUN_PORT: Be16 = IPVS_DEST_ATTR_TUN_PORT;
        TUN_FLAGS: U16 = IPVS_DEST_ATTR_TUN_FLAGS;
    }
}

/// `IPVS_DAEMON_ATTR_*`.
pub(crate) mod daemon {
    use super::*;
    table! {
        STATE: U32 = IPVS_DAEMON_ATTR_STATE;
        MCAST_IFN: Str = IPVS_DAEMON_ATTR_MCAST_IFN;
        SYNC_ID: U32 = IPVS_DAEMON_ATTR_SYNC_ID;
        SYNC_MAXLEN: U16 = IPVS_DAEMON_ATTR_SYNC_MAXLEN;
        MCAST_GROUP: Raw<4> = IPVS_DAEMON_ATTR_MCAST_GROUP;
        MCAST_GROUP6: Raw<16> = IPVS_DAEMON_ATTR_MCAST_GROUP6;
        MCAST_PORT: U16 = IPVS_DAEMON_ATTR_MCAST_PORT;
        MCAST_TTL: U8 = IPVS_DAEMON_ATTR_MCAST_TTL;
    }
}

/// Top-level `IPVS_CMD_ATTR_*` values and `IPVS_INFO_ATTR_*`.
pub(crate) mod cmd {
    use super::*;
    table! {
        TIMEOUT_TCP: U32 = IPVS_CMD_ATTR_TIMEOUT_TCP;
        TIMEOUT_TCP_FIN: U32 = IPVS_CMD_ATTR_TIMEOUT_TCP_FIN;
        TIMEOUT_UDP: U32 = IPVS_CMD_ATTR_TIMEOUT_UDP;
        INFO_VERSION: U32 = IPVS_INFO_ATTR_VERSION;
        INFO_CONN_TAB_SIZE: U32 = IPVS_INFO_ATTR_CONN_TAB_SIZE;
    }
}
