//! The reply side of one request as a state machine: datagrams in,
//! decoded values and a final outcome out. No socket, no clock, no
//! threads: [`Handle`](crate::Handle) drives it over its netlink socket,
//! and an async runtime or the C API can drive it the same way.

use tracing::trace;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::wire::consts::*;
use crate::wire::{Error as WireError, Messages, field};

/// The data replies to one request, and whether the kernel flagged the
/// dump as interrupted by a concurrent change (`NLM_F_DUMP_INTR`: run it
/// again for a consistent answer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply<T> {
    /// One decoded value per data message, in the order received.
    pub out: Vec<T>,
    /// Whether any message of the dump carried `NLM_F_DUMP_INTR`.
    pub interrupted: bool,
    /// How many datagrams carried data messages. The kernel fills each
    /// datagram of a dump in one callback under its lock, so a dump whose
    /// data came in one datagram with room to spare (see
    /// [`Reply::part_bytes`]) is a snapshot; a dump of several parts was
    /// resumed between them and may have missed or repeated entries.
    pub parts: usize,
    /// The length in bytes of the last datagram that carried data.
    pub part_bytes: usize,
}

/// Waits for the replies to the request sent with sequence number `seq`:
/// feed it every datagram received ([`Exchange::receive`]) until it
/// returns the [`Reply`]. Messages of other sequence numbers (late replies
/// to an earlier request) are skipped.
///
/// `parse` turns the attributes of each data message into a value (or
/// `None` to skip it); a command is finished by its ACK, a dump by
/// `NLMSG_DONE`. A kernel error becomes an [`Error`] for `op`, with the
/// kind that errno has for that operation.
///
/// Driven without a socket, on canned bytes: a GET_INFO request and the
/// kernel's answer to it.
///
/// ```
/// use lvs::request::{self, Exchange};
/// use lvs::{Info, Operation};
///
/// let mut out = Vec::new();
/// request::get_info(&mut out, 0x20, 7); // the bytes to send
///
/// // What the kernel answers: SET_INFO with VERSION 1.2.1 and a 4096-entry
/// // table, then the ACK (an NLMSG_ERROR with code 0).
/// let mut reply = Vec::new();
/// let info = [
///     8u8, 0, 1, 0, 0x01, 0x02, 0x01, 0, // IPVS_INFO_ATTR_VERSION 0x010201
///     8, 0, 2, 0, 0, 16, 0, 0,           // IPVS_INFO_ATTR_CONN_TAB_SIZE 4096
/// ];
/// let mut msg = |kind: u16, payload: &[u8]| {
///     reply.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
///     reply.extend_from_slice(&kind.to_ne_bytes());
///     reply.extend_from_slice(&0u16.to_ne_bytes()); // flags
///     reply.extend_from_slice(&7u32.to_ne_bytes()); // seq
///     reply.extend_from_slice(&0u32.to_ne_bytes()); // port
///     reply.extend_from_slice(payload);
/// };
/// let mut set_info = vec![13u8, 1, 0, 0]; // genlmsghdr: IPVS_CMD_SET_INFO
/// set_info.extend_from_slice(&info);
/// msg(0x20, &set_info);
/// let mut ack = 0i32.to_ne_bytes().to_vec();
/// ack.extend_from_slice(&out[..16]); // the echoed request header
/// msg(2, &ack);
///
/// let parse = |attrs: &[u8]| request::parse_info_reply(attrs).map(Some);
/// let mut ex = Exchange::new(Operation::GetInfo, 7, parse);
/// let done = ex.receive(&reply)?.expect("the ACK ends the exchange");
/// let info: Info = done.out[0];
/// assert_eq!(info.version, (1, 2, 1));
/// assert_eq!(info.conn_table_size, 4096);
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug)]
pub struct Exchange<T, P> {
    op: Operation,
    seq: u32,
    parse: P,
    out: Vec<T>,
    interrupted: bool,
    parts: usize,
    part_bytes: usize,
}

impl<T, P> Exchange<T, P>
where
    P: FnMut(&[u8]) -> Result<Option<T>, WireError>,
{
    /// Wait for the replies to request `seq`, made for `op`.
    pub fn new(op: Operation, seq: u32, parse: P) -> Self {
        Exchange {
            op,
            seq,
            parse,
            out: Vec::new(),
            interrupted: false,
            parts: 0,
            part_bytes: 0,
        }
    }

    /// The sequence number this exchange waits for.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// The operation, as errors name it.
    pub fn operation(&self) -> &Operation {
        &self.op
    }

    /// Take one received datagram. `Ok(None)`: not finished, receive the
    /// next one. `Ok(Some(reply))`: finished, with every value decoded.
    ///
    /// # Errors
    /// The kernel's error for this request (mapped for the operation),
    /// [`ErrorKind::Decode`] for bytes that do not parse, and
    /// [`ErrorKind::Io`] for `NLMSG_OVERRUN`. The exchange is over then.
    pub fn receive(&mut self, datagram: &[u8]) -> Result<Option<Reply<T>>> {
        let decode = |op: &Operation, e: WireError| Error::decode(op.clone(), e);
        let mut data = false;
        for msg in Messages::new(datagram) {
            let msg = msg.map_err(|e| decode(&self.op, e))?;
            if msg.seq != self.seq {
                trace!(seq = msg.seq, want = self.seq, "skipping stale reply");
                continue;
            }
            self.interrupted |= msg.flags & NLM_F_DUMP_INTR != 0;
            match msg.kind {
                NLMSG_NOOP => {}
                NLMSG_ERROR => {
                    let e = msg
                        .error()
                        .transpose()
                        .map_err(|e| decode(&self.op, e))?
                        .ok_or_else(|| decode(&self.op, WireError::new("empty error")))?;
                    if e.code == 0 {
                        return Ok(Some(self.finish()));
                    }
                    return Err(Error::from_kernel(
                        self.op.clone(),
                        e.code.wrapping_neg(),
                        e.message,
                    ));
                }
                NLMSG_DONE => {
                    // DONE carries the dump's status as an int.
                    let code = msg
                        .payload
                        .get(field::DONE_STATUS)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .unwrap_or(0);
                    if code < 0 {
                        return Err(Error::from_kernel(
                            self.op.clone(),
                            code.wrapping_neg(),
                            None,
                        ));
                    }
                    return Ok(Some(self.finish()));
                }
                NLMSG_OVERRUN => {
                    return Err(Error::new(
                        self.op.clone(),
                        ErrorKind::Io,
                        "netlink overrun: the kernel dropped replies",
                    ));
                }
                _ => {
                    if !data {
                        data = true;
                        self.parts += 1;
                        self.part_bytes = datagram.len();
                    }
                    let (_cmd, attrs) = msg.genl().map_err(|e| decode(&self.op, e))?;
                    if let Some(v) = (self.parse)(attrs).map_err(|e| decode(&self.op, e))? {
                        self.out.push(v);
                    }
                }
            }
        }
        Ok(None)
    }

    fn finish(&mut self) -> Reply<T> {
        Reply {
            out: std::mem::take(&mut self.out),
            interrupted: self.interrupted,
            parts: self.parts,
            part_bytes: self.part_bytes,
        }
    }
}
