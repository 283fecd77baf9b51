//! The wire codec: IPVS command and attribute numbers, attribute enums,
//! request framing and in-place reply parsing. No I/O here; this is the
//! bottom layer and imports nothing else of `lvs`.
//!
//! One of each, after smoltcp's wire layer:
//!
//! - one header view: [`NlBuffer`] over the byte ranges named in
//!   [`field`] (netlink, generic-netlink and attribute headers);
//! - one writer: [`MsgWriter`] appends a message or a run of attributes
//!   to a buffer, and refuses (never truncates) a length that does not
//!   fit ([`Error::too_long`]);
//! - one reader: [`Messages`] walks a datagram and [`Attrs`] a run of
//!   attributes, checking every length before handing out a slice;
//! - one error type: [`Error`], bytes that do not parse (with the chain
//!   of what was being parsed) or a length that does not fit;
//! - one table of attributes (crate-private `table`): each IPVS
//!   attribute's number, name and value format, once.
//!
//! The attribute enums ([`ServiceAttr`], [`DestAttr`], ...: the generic
//! view used by [`Handle::send_raw`](crate::Handle::send_raw), the sync
//! daemon and the tests) and the typed model's requests and replies (the
//! model's codec, straight from and into `Service`, `Destination`, ...,
//! with no attribute list in between: the fast path) both write and read
//! every attribute through that table, this writer and this reader. Parsing
//! arbitrary bytes returns an error, never a panic.
//!
//! Numbers are spelled as in the kernel's `include/uapi/linux/ip_vs.h`
//! ([`consts`]); everything above this layer uses Rust names.

pub mod attr;
pub mod consts;
mod error;
mod header;
pub mod msg;
pub(crate) mod table;
pub mod writer;

pub use attr::{
    Attribute, CmdAttr, DaemonAttr, DestAttr, InfoAttr, RawAddr, RawAttr, ServiceAttr, StatsAttr,
    SvcFlags, emit_attrs, parse_attrs, parse_cmd_attrs, parse_info_attrs,
};
pub use error::{Context, Error, TooLong};
pub use header::{Field, NlBuffer, align, field};
pub use msg::{Attrs, Message, Messages, NlError, push_request};
pub use writer::{MAX_ATTR_VALUE, MsgWriter};
