//! The wire codec: IPVS command and attribute numbers, attribute enums,
//! request framing and in-place reply parsing. No I/O here.
//!
//! The split follows smoltcp's wire layer: [`Messages`] is a borrowed view
//! over a received datagram that checks every length before it hands out a
//! [`Message`]; the attribute enums ([`ServiceAttr`], [`DestAttr`], ...) are
//! typed values parsed from checked attribute buffers and emitted into
//! exactly `buffer_len()` bytes. Parsing arbitrary bytes returns an error,
//! never a panic.
//!
//! Numbers are spelled as in the kernel's `include/uapi/linux/ip_vs.h`
//! ([`consts`]); everything above this layer uses Rust names.

pub mod attr;
pub mod consts;
pub mod msg;
pub mod writer;

pub use attr::{
    CmdAttr, DaemonAttr, DestAttr, InfoAttr, RawAddr, ServiceAttr, StatsAttr, SvcFlags,
    parse_cmd_attrs, parse_info_attrs,
};
pub use msg::{Attrs, Message, Messages, NlError, push_request};
pub use netlink_packet_core::DecodeError;
pub use writer::MsgWriter;
