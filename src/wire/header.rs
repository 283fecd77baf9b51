//! The netlink header (`struct nlmsghdr`), the generic-netlink header
//! (`struct genlmsghdr`) and the attribute header (`struct nlattr`): each
//! field's byte range named once, and a checked view over a message.
//!
//! Every offset into a header anywhere in `lvs` is one of these names.

use super::consts::{NLA_ALIGNTO, NLMSG_HDRLEN};
use super::error::Error;

/// A byte range inside a header.
pub type Field = std::ops::Range<usize>;

/// Byte ranges of the headers, as in `linux/netlink.h` and
/// `linux/genetlink.h`.
pub mod field {
    use super::Field;

    /// `nlmsg_len`: the message's length, header included (host order u32).
    pub const LENGTH: Field = 0..4;
    /// `nlmsg_type`: a family id, or `NLMSG_ERROR` / `NLMSG_DONE` / ...
    pub const TYPE: Field = 4..6;
    /// `nlmsg_flags`.
    pub const FLAGS: Field = 6..8;
    /// `nlmsg_seq`.
    pub const SEQ: Field = 8..12;
    /// `nlmsg_pid`: the sender's port id (0 in requests: the kernel fills it).
    pub const PORT: Field = 12..16;
    /// Everything after `struct nlmsghdr`.
    pub const PAYLOAD: std::ops::RangeFrom<usize> = 16..;

    /// Generic netlink, relative to the payload: `genlmsghdr.cmd`.
    pub const GENL_CMD: usize = 0;
    /// `genlmsghdr.version`.
    pub const GENL_VERSION: usize = 1;
    /// `genlmsghdr.reserved`.
    pub const GENL_RESERVED: Field = 2..4;
    /// The attributes after `struct genlmsghdr`, relative to the payload.
    pub const GENL_ATTRS: std::ops::RangeFrom<usize> = 4..;

    /// `NLMSG_ERROR`, relative to the payload: `nlmsgerr.error`, 0 for an
    /// ACK or a negative errno.
    pub const ERROR_CODE: Field = 0..4;
    /// `nlmsgerr.msg`: the echoed request, starting with its header.
    pub const ERROR_REQUEST: std::ops::RangeFrom<usize> = 4..;
    /// `NLMSG_DONE`, relative to the payload: the dump's status (an int).
    pub const DONE_STATUS: Field = 0..4;

    /// `nla_len`: the attribute's length, header included (u16).
    pub const NLA_LENGTH: Field = 0..2;
    /// `nla_type`: the attribute type and its two flag bits.
    pub const NLA_TYPE: Field = 2..4;
    /// The value after `struct nlattr`.
    pub const NLA_VALUE: std::ops::RangeFrom<usize> = 4..;
}

/// `n` rounded up to netlink's 4-byte alignment.
pub const fn align(n: usize) -> usize {
    (n + NLA_ALIGNTO - 1) & !(NLA_ALIGNTO - 1)
}

#[inline]
pub(crate) fn get_u16(b: &[u8], f: Field) -> u16 {
    let mut v = [0u8; 2];
    v.copy_from_slice(&b[f]);
    u16::from_ne_bytes(v)
}

#[inline]
pub(crate) fn get_u32(b: &[u8], f: Field) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[f]);
    u32::from_ne_bytes(v)
}

/// A netlink message header read and written in place over a buffer.
///
/// [`NlBuffer::new_checked`] makes sure the buffer holds a whole header
/// and that `nlmsg_len` fits in it; after that no accessor can panic.
///
/// ```
/// use lvs::wire::NlBuffer;
///
/// // 20 bytes of a message whose header says 24: truncated.
/// let mut bytes = [0u8; 20];
/// bytes[..4].copy_from_slice(&24u32.to_ne_bytes());
/// let err = NlBuffer::new_checked(&bytes[..]).unwrap_err();
/// assert_eq!(err.to_string(), "netlink message length 24 outside 16..=20");
/// assert!(NlBuffer::new_checked(&bytes[..12]).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlBuffer<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> NlBuffer<T> {
    /// A view without checks; only the setters of a buffer known to hold
    /// a whole header should use it.
    pub fn new_unchecked(buf: T) -> Self {
        NlBuffer { buf }
    }

    /// A view over `buf`, checking that it holds a whole header and that
    /// `nlmsg_len` is at least a header and at most `buf`'s length.
    ///
    /// # Errors
    /// A [`Error`] saying which length is wrong.
    pub fn new_checked(buf: T) -> Result<Self, Error> {
        let b = buf.as_ref();
        if b.len() < NLMSG_HDRLEN {
            return Err(Error::new(format!(
                "netlink header needs {NLMSG_HDRLEN} bytes, got {}",
                b.len()
            )));
        }
        let len = get_u32(b, field::LENGTH) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            return Err(Error::new(format!(
                "netlink message length {len} outside {NLMSG_HDRLEN}..={}",
                b.len()
            )));
        }
        Ok(NlBuffer { buf })
    }

    /// `nlmsg_len`.
    pub fn length(&self) -> u32 {
        get_u32(self.buf.as_ref(), field::LENGTH)
    }
    /// `nlmsg_type`.
    pub fn message_type(&self) -> u16 {
        get_u16(self.buf.as_ref(), field::TYPE)
    }
    /// `nlmsg_flags`.
    pub fn flags(&self) -> u16 {
        get_u16(self.buf.as_ref(), field::FLAGS)
    }
    /// `nlmsg_seq`.
    pub fn seq(&self) -> u32 {
        get_u32(self.buf.as_ref(), field::SEQ)
    }
    /// `nlmsg_pid`.
    pub fn port(&self) -> u32 {
        get_u32(self.buf.as_ref(), field::PORT)
    }
    /// The bytes after the header, up to `nlmsg_len`.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[NLMSG_HDRLEN..self.length() as usize]
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NlBuffer<T> {
    /// Set `nlmsg_len`.
    pub fn set_length(&mut self, v: u32) {
        self.buf.as_mut()[field::LENGTH].copy_from_slice(&v.to_ne_bytes());
    }
    /// Set `nlmsg_type`.
    pub fn set_message_type(&mut self, v: u16) {
        self.buf.as_mut()[field::TYPE].copy_from_slice(&v.to_ne_bytes());
    }
    /// Set `nlmsg_flags`.
    pub fn set_flags(&mut self, v: u16) {
        self.buf.as_mut()[field::FLAGS].copy_from_slice(&v.to_ne_bytes());
    }
    /// Set `nlmsg_seq`.
    pub fn set_seq(&mut self, v: u32) {
        self.buf.as_mut()[field::SEQ].copy_from_slice(&v.to_ne_bytes());
    }
    /// Set `nlmsg_pid`.
    pub fn set_port(&mut self, v: u32) {
        self.buf.as_mut()[field::PORT].copy_from_slice(&v.to_ne_bytes());
    }
}
