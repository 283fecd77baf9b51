//! The one writer: a netlink message (or a bare run of attributes) written
//! straight into a growing buffer, with no intermediate values. Requests,
//! the attribute enums and the tests all write through it.

use super::consts::*;
use super::error::Error;
use super::header::{NlBuffer, field};

/// The largest value an attribute can carry (`nla_len` is 16 bits and
/// counts the 4-byte header).
pub const MAX_ATTR_VALUE: usize = u16::MAX as usize - NLA_HDRLEN;

/// Writes one message at the end of a buffer; [`MsgWriter::finish`]
/// patches its length. Attribute values are padded to 4 bytes with zeros.
///
/// A value or nest too long for its 16-bit length, or a message too long
/// for its 32-bit one, is never cut: the writer remembers the first such
/// error, and `finish` returns it and removes the partial message.
///
/// ```
/// use lvs::wire::{MsgWriter, MAX_ATTR_VALUE};
///
/// let mut buf = vec![];
/// let mut w = MsgWriter::begin(&mut buf, 0x20, 0, 1, 1);
/// w.bytes(1, &vec![0; MAX_ATTR_VALUE + 1]);
/// assert!(w.finish().is_err());
/// assert!(buf.is_empty(), "nothing of the message is left");
/// ```
#[derive(Debug)]
pub struct MsgWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    /// Whether the message starts with a netlink header to patch.
    header: bool,
    error: Option<Error>,
}

impl<'a> MsgWriter<'a> {
    /// Start a generic-netlink request to IPVS (`flags` is ORed with
    /// `NLM_F_REQUEST`; the version is `IPVS_GENL_VERSION`).
    pub fn begin(buf: &'a mut Vec<u8>, family: u16, flags: u16, seq: u32, cmd: u8) -> Self {
        MsgWriter::begin_genl(buf, family, flags, seq, cmd, IPVS_GENL_VERSION)
    }

    /// Start a generic-netlink request to any family.
    pub fn begin_genl(
        buf: &'a mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        cmd: u8,
        version: u8,
    ) -> Self {
        let w = MsgWriter::begin_netlink(buf, family, flags, seq);
        w.buf.extend_from_slice(&[cmd, version, 0, 0]);
        debug_assert_eq!(
            w.buf.len() - w.start,
            NLMSG_HDRLEN + field::GENL_ATTRS.start
        );
        w
    }

    /// Start a bare netlink message (no generic-netlink header), such as
    /// an `NLMSG_NOOP` barrier.
    pub fn begin_netlink(buf: &'a mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> Self {
        let start = buf.len();
        buf.resize(start + NLMSG_HDRLEN, 0);
        let mut h = NlBuffer::new_unchecked(&mut buf[start..]);
        h.set_message_type(kind);
        h.set_flags(flags | NLM_F_REQUEST);
        h.set_seq(seq);
        h.set_port(0);
        MsgWriter {
            buf,
            start,
            header: true,
            error: None,
        }
    }

    /// Append a generic-netlink request with no attributes; returns its
    /// size. (It cannot be too long.)
    pub fn empty_request(buf: &mut Vec<u8>, family: u16, flags: u16, seq: u32, cmd: u8) -> usize {
        let start = buf.len();
        MsgWriter::begin(buf, family, flags, seq, cmd).patch_length();
        buf.len() - start
    }

    /// Append a bare netlink message with no payload (an `NLMSG_NOOP`
    /// barrier); returns its size.
    pub fn empty_netlink(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> usize {
        let start = buf.len();
        MsgWriter::begin_netlink(buf, kind, flags, seq).patch_length();
        buf.len() - start
    }

    /// Set `nlmsg_len` of a message known to be short.
    fn patch_length(self) {
        let len = (self.buf.len() - self.start) as u32;
        NlBuffer::new_unchecked(&mut self.buf[self.start..]).set_length(len);
    }

    /// Write attributes only, no message header (nests, tests).
    pub fn attributes(buf: &'a mut Vec<u8>) -> Self {
        let start = buf.len();
        MsgWriter {
            buf,
            start,
            header: false,
            error: None,
        }
    }

    #[cold]
    fn fail(&mut self, kind: u16, len: usize, max: usize) {
        if self.error.is_none() {
            self.error = Some(Error::length(kind, len, max));
        }
    }

    #[inline]
    fn header(&mut self, kind: u16, value_len: usize) {
        let len = value_len + NLA_HDRLEN;
        let Ok(len16) = u16::try_from(len) else {
            self.fail(kind, len, u16::MAX as usize);
            // Keep the layout (a zero length), the message is dropped anyway.
            self.buf.extend_from_slice(&[0, 0]);
            self.buf.extend_from_slice(&kind.to_ne_bytes());
            return;
        };
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }

    /// Zero-pad to a 4-byte boundary, counted from the message's start
    /// (the buffer may hold anything before it).
    #[inline]
    fn pad(&mut self) {
        let n = (NLA_ALIGNTO - (self.buf.len() - self.start) % NLA_ALIGNTO) % NLA_ALIGNTO;
        self.buf.extend_from_slice(&[0u8; 3][..n]);
    }

    /// An attribute with raw bytes as its value (`kind` as given, flags
    /// included).
    #[inline]
    pub fn bytes(&mut self, kind: u16, v: &[u8]) {
        self.header(kind, v.len());
        self.buf.extend_from_slice(v);
        self.pad();
    }

    /// A `u8` attribute.
    #[inline]
    pub fn u8(&mut self, kind: u16, v: u8) {
        self.bytes(kind, &[v]);
    }
    /// A host-order `u16` attribute.
    #[inline]
    pub fn u16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_ne_bytes());
    }
    /// A network-order `u16` attribute (ports).
    #[inline]
    pub fn be16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_be_bytes());
    }
    /// A host-order `u32` attribute.
    #[inline]
    pub fn u32(&mut self, kind: u16, v: u32) {
        self.bytes(kind, &v.to_ne_bytes());
    }
    /// A host-order `u64` attribute.
    #[inline]
    pub fn u64(&mut self, kind: u16, v: u64) {
        self.bytes(kind, &v.to_ne_bytes());
    }
    /// A NUL-terminated string attribute.
    #[inline]
    pub fn cstr(&mut self, kind: u16, s: &str) {
        self.header(kind, s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Open a nested attribute (`NLA_F_NESTED` set); close it with
    /// [`MsgWriter::end_nest`] and the returned position.
    #[inline]
    pub fn begin_nest(&mut self, kind: u16) -> usize {
        self.begin_nest_raw(kind | NLA_F_NESTED)
    }

    /// Open a nest with `kind` exactly as given (the kernel's replies
    /// carry nests without `NLA_F_NESTED`).
    #[inline]
    pub fn begin_nest_raw(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.header(kind, 0);
        at
    }

    /// Close the nest opened at `at`.
    #[inline]
    pub fn end_nest(&mut self, at: usize) {
        let len = self.buf.len() - at;
        match u16::try_from(len) {
            Ok(len) => self.buf[at..][field::NLA_LENGTH].copy_from_slice(&len.to_ne_bytes()),
            Err(_) => {
                let kind = super::header::get_u16(&self.buf[at..], field::NLA_TYPE);
                self.fail(kind & NLA_TYPE_MASK, len, u16::MAX as usize);
            }
        }
    }

    /// Write each attribute of `attrs`.
    pub fn attrs<A: super::attr::Attribute>(&mut self, attrs: &[A]) {
        for a in attrs {
            a.emit(self);
        }
    }

    /// Patch the message length; returns the message's size in bytes.
    ///
    /// # Errors
    /// The first length that did not fit; the partial message is removed
    /// from the buffer then.
    pub fn finish(self) -> Result<usize, Error> {
        let len = self.buf.len() - self.start;
        let error = match (self.error, message_len(len)) {
            (Some(e), _) | (None, Err(e)) => Some(e),
            (None, Ok(len32)) => {
                if self.header {
                    NlBuffer::new_unchecked(&mut self.buf[self.start..]).set_length(len32);
                }
                None
            }
        };
        match error {
            Some(e) => {
                self.buf.truncate(self.start);
                Err(e)
            }
            None => Ok(len),
        }
    }
}

/// A message length as `nlmsg_len`.
fn message_len(len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::length(0, len, u32::MAX as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CmdAttr, ServiceAttr, push_request};

    #[test]
    fn same_bytes_as_the_attribute_enums() {
        let attrs = [CmdAttr::Service(vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Protocol(IPPROTO_TCP),
            ServiceAttr::Addr([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ServiceAttr::Port(80),
            ServiceAttr::SchedName("rr".into()),
        ])];
        let mut a = Vec::new();
        push_request(&mut a, 0x20, NLM_F_ACK, 9, IPVS_CMD_NEW_SERVICE, &attrs).unwrap();
        let mut b = Vec::new();
        let mut w = MsgWriter::begin(&mut b, 0x20, NLM_F_ACK, 9, IPVS_CMD_NEW_SERVICE);
        let n = w.begin_nest(IPVS_CMD_ATTR_SERVICE);
        w.u16(IPVS_SVC_ATTR_AF, AF_INET);
        w.u16(IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
        w.bytes(
            IPVS_SVC_ATTR_ADDR,
            &[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        );
        w.be16(IPVS_SVC_ATTR_PORT, 80);
        w.cstr(IPVS_SVC_ATTR_SCHED_NAME, "rr");
        w.end_nest(n);
        assert_eq!(w.finish(), Ok(a.len()));
        assert_eq!(a, b);
    }

    #[test]
    fn the_largest_attribute_fits_and_one_byte_more_is_an_error() {
        let mut buf = vec![7u8; 3];
        let mut w = MsgWriter::begin(&mut buf, 0x20, 0, 1, IPVS_CMD_NEW_SERVICE);
        w.bytes(99, &vec![1; MAX_ATTR_VALUE]);
        let n = w.finish().unwrap();
        assert_eq!(n, NLMSG_HDRLEN + 4 + align4(NLA_HDRLEN + MAX_ATTR_VALUE));
        assert_eq!(u16::from_ne_bytes([buf[3 + 20], buf[3 + 21]]), u16::MAX);

        let mut w = MsgWriter::begin(&mut buf, 0x20, 0, 2, IPVS_CMD_NEW_SERVICE);
        w.u32(1, 5);
        w.cstr(98, &"x".repeat(MAX_ATTR_VALUE));
        let e = w.finish().unwrap_err().too_long().expect("a length error");
        // 65,531 characters and the NUL, after a 4-byte header: one byte over.
        assert_eq!((e.kind, e.len, e.max), (98, 65_536, 65_535));
        assert_eq!(
            buf.len(),
            3 + n,
            "the failed message is removed, the rest kept"
        );
    }

    #[test]
    fn an_overlong_nest_is_an_error() {
        let mut buf = Vec::new();
        let mut w = MsgWriter::begin(&mut buf, 0x20, 0, 1, IPVS_CMD_NEW_SERVICE);
        let nest = w.begin_nest(IPVS_CMD_ATTR_SERVICE);
        w.bytes(1, &vec![0; 40_000]);
        w.bytes(2, &vec![0; 40_000]);
        w.end_nest(nest);
        let e = w.finish().unwrap_err();
        assert!(e.to_string().contains("at most 65535"), "{e}");
        let e = e.too_long().expect("a length error");
        assert_eq!(e.kind, IPVS_CMD_ATTR_SERVICE);
        assert_eq!(e.len, 4 + 2 * 40_004);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_message_over_u32_is_an_error() {
        assert_eq!(message_len(u32::MAX as usize), Ok(u32::MAX));
        if let Ok(len) = usize::try_from(u64::from(u32::MAX) + 1) {
            let e = message_len(len).unwrap_err();
            assert_eq!(
                e.to_string(),
                "netlink message of 4294967296 bytes (at most 4294967295)"
            );
        }
    }

    fn align4(n: usize) -> usize {
        crate::wire::header::align(n)
    }
}
