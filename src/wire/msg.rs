//! Netlink + generic-netlink framing: build requests into a reusable buffer,
//! walk the messages of a received datagram in place.

use super::attr::{CmdAttr, str_of, u32_of};
use super::consts::*;
use super::error::Error;
use super::header::{NlBuffer, align, field, get_u16, get_u32};
use super::writer::MsgWriter;

/// Append one request (nlmsghdr + genlmsghdr + attributes) to `buf`.
///
/// Returns the number of bytes appended. `flags` is ORed with
/// `NLM_F_REQUEST`. The port id is left 0 (the kernel fills in ours).
///
/// # Errors
/// An attribute or nest too long for its length field; nothing is
/// appended then.
pub fn push_request(
    buf: &mut Vec<u8>,
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    attrs: &[CmdAttr],
) -> Result<usize, Error> {
    let mut w = MsgWriter::begin(buf, family, flags, seq, cmd);
    w.attrs(attrs);
    w.finish()
}

/// One netlink message inside a received datagram, borrowed in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`: a family id, or `NLMSG_ERROR` / `NLMSG_DONE` / ...
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub port: u32,
    /// Everything after the 16-byte header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// What an `NLMSG_ERROR` message says: 0 is an ACK, a negative errno a
/// failure, with the kernel's extended-ACK text when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// 0 for an ACK, else a negative errno.
    pub code: i32,
    /// Sequence number of the request this answers (from the echoed header).
    pub request_seq: u32,
    /// `NLMSGERR_ATTR_MSG`: the kernel's human-readable reason.
    pub message: Option<String>,
    /// `NLMSGERR_ATTR_OFFS`: byte offset of the offending attribute in the request.
    pub offset: Option<u32>,
    /// `NLMSGERR_ATTR_MISS_TYPE`: the attribute type the kernel missed.
    pub missing_type: Option<u32>,
}

impl<'a> Message<'a> {
    /// The generic-netlink command and the attribute bytes after its header.
    pub fn genl(&self) -> Result<(u8, &'a [u8]), Error> {
        match self.payload.get(field::GENL_ATTRS) {
            Some(attrs) if self.payload.len() >= GENL_HDRLEN => {
                Ok((self.payload[field::GENL_CMD], attrs))
            }
            _ => Err(Error::new(format!(
                "generic netlink header needs {GENL_HDRLEN} bytes, got {}",
                self.payload.len()
            ))),
        }
    }

    /// Decode an `NLMSG_ERROR` payload (`None` for other message types).
    pub fn error(&self) -> Option<Result<NlError, Error>> {
        (self.kind == NLMSG_ERROR).then(|| self.parse_error())
    }

    fn parse_error(&self) -> Result<NlError, Error> {
        let p = self.payload;
        let need = field::ERROR_REQUEST.start + NLMSG_HDRLEN;
        if p.len() < need {
            return Err(Error::new(format!(
                "netlink error message of {} bytes (need {need})",
                p.len(),
            )));
        }
        let code = get_u32(p, field::ERROR_CODE) as i32;
        let orig = &p[field::ERROR_REQUEST];
        let request_seq = get_u32(orig, field::SEQ);
        let mut err = NlError {
            code,
            request_seq,
            message: None,
            offset: None,
            missing_type: None,
        };
        if self.flags & NLM_F_ACK_TLVS == 0 {
            return Ok(err);
        }
        // The echoed request: only its header when capped (or for an ACK),
        // else the whole request.
        let echoed = if self.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            let orig_len = get_u32(orig, field::LENGTH) as usize;
            align(orig_len.max(NLMSG_HDRLEN))
        };
        let tlvs = orig.get(echoed..).unwrap_or(&[]);
        for a in Attrs::new(tlvs) {
            let (kind, value) = a?;
            match kind {
                NLMSGERR_ATTR_MSG => err.message = Some(str_of(value)?),
                NLMSGERR_ATTR_OFFS => err.offset = Some(u32_of(value)?),
                NLMSGERR_ATTR_MISS_TYPE => err.missing_type = Some(u32_of(value)?),
                _ => {}
            }
        }
        Ok(err)
    }
}

/// Iterator over the netlink messages of one received datagram.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
}

impl<'a> Messages<'a> {
    /// Walk the messages in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Messages { buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let b = self.buf;
        let view = match NlBuffer::new_checked(b) {
            Ok(v) => v,
            Err(e) => {
                self.buf = &[];
                return Some(Err(e));
            }
        };
        let len = view.length() as usize;
        let msg = Message {
            kind: view.message_type(),
            flags: view.flags(),
            seq: view.seq(),
            port: view.port(),
            payload: &b[NLMSG_HDRLEN..len],
        };
        self.buf = b.get(align(len)..).unwrap_or(&[]);
        Some(Ok(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::attr::ServiceAttr;

    #[test]
    fn request_then_walk() {
        let mut buf = Vec::new();
        let n = push_request(
            &mut buf,
            0x20,
            NLM_F_ACK,
            7,
            IPVS_CMD_DEL_SERVICE,
            &[CmdAttr::Service(vec![
                ServiceAttr::Af(AF_INET),
                ServiceAttr::Fwmark(3),
            ])],
        )
        .unwrap();
        push_request(&mut buf, 0x20, NLM_F_ACK, 8, IPVS_CMD_FLUSH, &[]).unwrap();
        let msgs: Vec<_> = Messages::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].kind, 0x20);
        assert_eq!(msgs[0].flags, NLM_F_ACK | NLM_F_REQUEST);
        assert_eq!(msgs[0].seq, 7);
        assert_eq!(msgs[0].payload.len() + NLMSG_HDRLEN, n);
        assert_eq!(msgs[1].genl().unwrap(), (IPVS_CMD_FLUSH, &[][..]));
    }

    #[test]
    fn error_with_ext_ack() {
        // nlmsghdr(ERROR, flags CAPPED|ACK_TLVS) + code -22 + echoed header + MSG TLV.
        let mut p = Vec::new();
        p.extend_from_slice(&(-22i32).to_ne_bytes());
        let mut orig = [0u8; 16];
        orig[0..4].copy_from_slice(&36u32.to_ne_bytes());
        orig[8..12].copy_from_slice(&42u32.to_ne_bytes());
        p.extend_from_slice(&orig);
        p.extend_from_slice(&[8, 0, 1, 0, b'b', b'a', b'd', 0]);
        let mut buf = Vec::new();
        buf.extend_from_slice(&((16 + p.len()) as u32).to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_CAPPED | NLM_F_ACK_TLVS).to_ne_bytes());
        buf.extend_from_slice(&42u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&p);
        let m = Messages::new(&buf).next().unwrap().unwrap();
        let e = m.error().unwrap().unwrap();
        assert_eq!(e.code, -22);
        assert_eq!(e.request_seq, 42);
        assert_eq!(e.message.as_deref(), Some("bad"));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64u8 {
            let buf: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            for m in Messages::new(&buf).flatten() {
                let _ = m.genl();
                let _ = m.error();
            }
        }
    }
}

/// Iterator over the attributes of a netlink payload or nest: yields each
/// attribute's type (without the NESTED and NET_BYTEORDER flag bits) and
/// its value bytes, borrowed from the buffer.
///
/// The thinnest reader of the wire: one bounds check per attribute, no
/// intermediate buffer types. An attribute whose length runs past the
/// buffer or is below the 4-byte header ends the walk with an error, as
/// do 1 to 3 stray trailing bytes.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    type_mask: u16,
}

impl<'a> Attrs<'a> {
    /// Walk the attributes in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs {
            buf,
            type_mask: NLA_TYPE_MASK,
        }
    }

    /// Walk the attributes in `buf`, yielding each type with its
    /// `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` bits as sent.
    pub fn with_flags(buf: &'a [u8]) -> Self {
        Attrs {
            buf,
            type_mask: u16::MAX,
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8]), Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        if b.is_empty() {
            return None;
        }
        if b.len() < NLA_HDRLEN {
            self.buf = &[];
            return Some(Err(Error::new(format!(
                "attribute header needs {NLA_HDRLEN} bytes, got {}",
                b.len()
            ))));
        }
        let len = usize::from(get_u16(b, field::NLA_LENGTH));
        let kind = get_u16(b, field::NLA_TYPE) & self.type_mask;
        match b.get(field::NLA_VALUE.start..len.max(NLA_HDRLEN)) {
            Some(value) if len >= NLA_HDRLEN => {
                self.buf = b.get(align(len)..).unwrap_or(&[]);
                Some(Ok((kind, value)))
            }
            _ => {
                self.buf = &[];
                Some(Err(Error::new(format!(
                    "attribute {kind} of length {len} in {} bytes",
                    b.len()
                ))))
            }
        }
    }
}
