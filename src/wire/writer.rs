//! A zero-allocation writer of one netlink + generic-netlink message
//! straight into a growing buffer: the hot path of requests.
//!
//! It writes the same bytes as emitting the attribute enums (the wire
//! tests check both against ipvsadm's captures) without building them.

use super::consts::*;

/// Writes one request at the end of a buffer; [`MsgWriter::finish`]
/// patches its length. Attribute values are padded to 4 bytes with zeros.
#[derive(Debug)]
pub struct MsgWriter<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> MsgWriter<'a> {
    /// Start a request (`flags` is ORed with `NLM_F_REQUEST`).
    pub fn begin(buf: &'a mut Vec<u8>, family: u16, flags: u16, seq: u32, cmd: u8) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&family.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&[cmd, IPVS_GENL_VERSION, 0, 0]);
        MsgWriter { buf, start }
    }

    fn header(&mut self, kind: u16, len: usize) {
        self.buf
            .extend_from_slice(&((len + 4) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
    }

    /// Zero-pad to a 4-byte boundary, counted from the message's start
    /// (the buffer may hold anything before it).
    fn pad(&mut self) {
        let n = (4 - (self.buf.len() - self.start) % 4) % 4;
        self.buf.extend_from_slice(&[0u8; 3][..n]);
    }

    /// An attribute with raw bytes as its value.
    pub fn bytes(&mut self, kind: u16, v: &[u8]) {
        self.header(kind, v.len());
        self.buf.extend_from_slice(v);
        self.pad();
    }

    /// A `u8` attribute.
    pub fn u8(&mut self, kind: u16, v: u8) {
        self.bytes(kind, &[v]);
    }
    /// A host-order `u16` attribute.
    pub fn u16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_ne_bytes());
    }
    /// A network-order `u16` attribute (ports).
    pub fn be16(&mut self, kind: u16, v: u16) {
        self.bytes(kind, &v.to_be_bytes());
    }
    /// A host-order `u32` attribute.
    pub fn u32(&mut self, kind: u16, v: u32) {
        self.bytes(kind, &v.to_ne_bytes());
    }
    /// A NUL-terminated string attribute.
    pub fn cstr(&mut self, kind: u16, s: &str) {
        self.header(kind, s.len() + 1);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        self.pad();
    }

    /// Open a nested attribute (`NLA_F_NESTED` set); close it with
    /// [`MsgWriter::end_nest`] and the returned position.
    pub fn begin_nest(&mut self, kind: u16) -> usize {
        let at = self.buf.len();
        self.header(kind | netlink_packet_core::NLA_F_NESTED, 0);
        at
    }

    /// Close the nest opened at `at`.
    pub fn end_nest(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }

    /// Patch the message length; returns the message's size in bytes.
    pub fn finish(self) -> usize {
        let len = self.buf.len() - self.start;
        self.buf[self.start..self.start + 4].copy_from_slice(&(len as u32).to_ne_bytes());
        len
    }
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
        push_request(&mut a, 0x20, NLM_F_ACK, 9, IPVS_CMD_NEW_SERVICE, &attrs);
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
        assert_eq!(w.finish(), a.len());
        assert_eq!(a, b);
    }
}
