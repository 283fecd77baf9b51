//! The exact bytes of every IPVS request `lvs` sends, and the decoding of
//! the kernel's replies, without a socket.
//!
//! Each builder validates its input as [`Handle`](crate::Handle) does,
//! then appends one complete netlink message (`nlmsghdr`, `genlmsghdr`,
//! attributes) to `buf` and returns its length. Write operations go
//! through [`write()`] and [`Op`], the code path `Handle` uses. Commands carry
//! `NLM_F_REQUEST | NLM_F_ACK`; dumps carry `NLM_F_REQUEST | NLM_F_DUMP`.
//! The port id is 0 (the kernel fills it in). `family` is the id the
//! kernel gave the "IPVS" generic-netlink family.
//!
//! The reply parsers take the attribute bytes after the generic-netlink
//! header ([`Message::genl`](crate::wire::Message::genl)).

pub use super::exchange::{Exchange, Reply};
use crate::error::{Operation, Result};
use crate::model::{
    AddressFamily, DestinationEntry, Info, Op, ServiceEntry, ServiceKey, Timeouts, emit_key_nest,
    parse_dest_nest, parse_service_nest, too_long,
};
use crate::wire::attr::{CmdAttr, InfoAttr, parse_cmd_attrs, parse_info_attrs, u16_of};
use crate::wire::consts::*;
use crate::wire::{Attrs, Context, Error as WireError, MsgWriter};

fn check_key(key: &ServiceKey, op: Operation) -> Result<()> {
    key.validate().map_err(|e| e.with_operation(op))
}

/// Any write operation (NEW/SET/DEL_SERVICE, NEW/SET/DEL_DEST, ZERO,
/// FLUSH, SET_CONFIG), validated and encoded by [`Op`]'s one code path,
/// as [`Handle::execute`](crate::Handle::execute) sends it.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when
/// the operation fails validation; nothing is appended then.
pub fn write(buf: &mut Vec<u8>, family: u16, seq: u32, op: &Op) -> Result<usize> {
    op.as_ref().encode(buf, family, NLM_F_ACK, seq)
}

/// `IPVS_CMD_GET_SERVICE` for one service (not a dump).
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) when
/// [`ServiceKey::validate`] fails.
pub fn get_service(buf: &mut Vec<u8>, family: u16, seq: u32, key: &ServiceKey) -> Result<usize> {
    let op = Operation::GetService(*key);
    key_request(buf, (family, NLM_F_ACK, seq, IPVS_CMD_GET_SERVICE), key, op)
}

/// A request whose only attribute is a service's identity.
fn key_request(
    buf: &mut Vec<u8>,
    (family, flags, seq, cmd): (u16, u16, u32, u8),
    key: &ServiceKey,
    op: Operation,
) -> Result<usize> {
    check_key(key, op.clone())?;
    let mut w = MsgWriter::begin(buf, family, flags, seq, cmd);
    emit_key_nest(&mut w, key);
    w.finish().map_err(|e| too_long(op, e))
}

/// `IPVS_CMD_GET_SERVICE` dump of every service.
pub fn list_services(buf: &mut Vec<u8>, family: u16, seq: u32) -> usize {
    MsgWriter::empty_request(buf, family, NLM_F_DUMP, seq, IPVS_CMD_GET_SERVICE)
}

/// `IPVS_CMD_GET_DEST` dump of one service's destinations.
///
/// # Errors
/// As [`get_service`].
pub fn list_destinations(
    buf: &mut Vec<u8>,
    family: u16,
    seq: u32,
    service: &ServiceKey,
) -> Result<usize> {
    let op = Operation::ListDestinations(*service);
    key_request(
        buf,
        (family, NLM_F_DUMP, seq, IPVS_CMD_GET_DEST),
        service,
        op,
    )
}

/// `IPVS_CMD_GET_INFO`.
pub fn get_info(buf: &mut Vec<u8>, family: u16, seq: u32) -> usize {
    MsgWriter::empty_request(buf, family, NLM_F_ACK, seq, IPVS_CMD_GET_INFO)
}

/// `IPVS_CMD_GET_CONFIG`.
pub fn get_config(buf: &mut Vec<u8>, family: u16, seq: u32) -> usize {
    MsgWriter::empty_request(buf, family, NLM_F_ACK, seq, IPVS_CMD_GET_CONFIG)
}

/// Decode a GET_SERVICE reply (cmd `NEW_SERVICE`): the service and its
/// stats, `None` if the message has no `IPVS_CMD_ATTR_SERVICE` nest. The
/// kernel's HASHED flag is dropped.
///
/// # Errors
/// A malformed attribute, or a nest missing what every kernel sends.
pub fn parse_service_reply(attrs: &[u8]) -> Result<Option<ServiceEntry>, WireError> {
    for a in Attrs::new(attrs) {
        let (kind, value) = a.context("parsing IPVS_CMD_ATTR")?;
        if kind == IPVS_CMD_ATTR_SERVICE {
            return parse_service_nest(value).map(Some);
        }
    }
    Ok(None)
}

/// Decode a GET_DEST reply (cmd `NEW_DEST`); `service_family` stands in
/// when the kernel sends no `IPVS_DEST_ATTR_ADDR_FAMILY` (before 3.18).
///
/// # Errors
/// As [`parse_service_reply`].
pub fn parse_destination_reply(
    attrs: &[u8],
    service_family: AddressFamily,
) -> Result<Option<DestinationEntry>, WireError> {
    for a in Attrs::new(attrs) {
        let (kind, value) = a.context("parsing IPVS_CMD_ATTR")?;
        if kind == IPVS_CMD_ATTR_DEST {
            return parse_dest_nest(value, service_family).map(Some);
        }
    }
    Ok(None)
}

/// Decode a GET_INFO reply (cmd `SET_INFO`).
///
/// # Errors
/// A malformed attribute, or no `IPVS_INFO_ATTR_VERSION`.
pub fn parse_info_reply(attrs: &[u8]) -> Result<Info, WireError> {
    let mut info = Info {
        version: (0, 0, 0),
        conn_table_size: 0,
    };
    let mut seen = false;
    for a in parse_info_attrs(attrs)? {
        match a {
            InfoAttr::Version(v) => {
                seen = true;
                info.version = ((v >> 16) as u8, (v >> 8) as u8, v as u8);
            }
            InfoAttr::ConnTabSize(n) => info.conn_table_size = n,
            _ => {}
        }
    }
    if !seen {
        return Err(WireError::new(
            "GET_INFO reply without IPVS_INFO_ATTR_VERSION",
        ));
    }
    Ok(info)
}

/// Decode a GET_CONFIG reply (cmd `SET_CONFIG`); a timeout the kernel did
/// not send (protocol not built) is `None`.
///
/// # Errors
/// A malformed attribute.
pub fn parse_config_reply(attrs: &[u8]) -> Result<Timeouts, WireError> {
    let mut t = Timeouts::default();
    for a in parse_cmd_attrs(attrs)? {
        match a {
            CmdAttr::TimeoutTcp(s) => t.tcp = Some(s),
            CmdAttr::TimeoutTcpFin(s) => t.tcp_fin = Some(s),
            CmdAttr::TimeoutUdp(s) => t.udp = Some(s),
            _ => {}
        }
    }
    Ok(t)
}

/// The generic-netlink controller's `CTRL_CMD_GETFAMILY` for "IPVS": the
/// first request of every handle, answered with the family id that all
/// IPVS requests carry as their message type.
///
/// # Errors
/// None in practice (the name is short); the writer's length check.
pub fn get_family(buf: &mut Vec<u8>, seq: u32) -> Result<usize> {
    const CTRL_VERSION: u8 = 1;
    let mut w = MsgWriter::begin_genl(
        buf,
        GENL_ID_CTRL,
        NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        CTRL_VERSION,
    );
    w.cstr(CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME);
    w.finish().map_err(|e| too_long(Operation::Open, e))
}

/// Decode the controller's reply to [`get_family`]: the family id, or
/// `None` if the message has no `CTRL_ATTR_FAMILY_ID`.
///
/// # Errors
/// A malformed attribute.
pub fn parse_family_reply(attrs: &[u8]) -> Result<Option<u16>, WireError> {
    for a in Attrs::new(attrs) {
        let (kind, value) = a.context("parsing CTRL_ATTR")?;
        if kind == CTRL_ATTR_FAMILY_ID {
            return u16_of(value)
                .context("parsing CTRL_ATTR_FAMILY_ID")
                .map(Some);
        }
    }
    Ok(None)
}

/// An `NLMSG_NOOP` request with `NLM_F_ACK`: the kernel ACKs it after
/// handling everything before it in the datagram (a batch's barrier).
pub fn barrier(buf: &mut Vec<u8>, seq: u32) -> usize {
    MsgWriter::empty_netlink(buf, NLMSG_NOOP, NLM_F_ACK, seq)
}
