//! The wire layer's one error type, [`Error`]: bytes that do not parse
//! (with the chain of what was being parsed), or a value too long for its
//! length field (encoding never truncates). It names no type of another
//! crate, so a dependency's release never changes it.

use std::fmt;

/// A wire error: bytes that do not parse, or a value that does not fit
/// its length field. Displayed outermost context first:
///
/// ```
/// use lvs::wire::{ServiceAttr, parse_attrs};
///
/// // IPVS_SVC_ATTR_TIMEOUT with a 2-byte value where a u32 must be.
/// let bytes = [6u8, 0, 8, 0, 1, 2, 0, 0];
/// let err = parse_attrs::<ServiceAttr>(&bytes, "IPVS_CMD_ATTR_SERVICE").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "parsing IPVS_CMD_ATTR_SERVICE: parsing IPVS_SVC_ATTR_TIMEOUT: need 4 bytes, got 2"
/// );
/// assert_eq!(err.cause(), "need 4 bytes, got 2");
/// assert!(err.too_long().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Boxed: one pointer keeps every `Result<_, Error>` of the parsers
    /// and writers small.
    inner: Box<Inner>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Inner {
    cause: String,
    /// Innermost first: the context added on the way out.
    context: Vec<String>,
    too_long: Option<TooLong>,
}

/// What did not fit when encoding: an attribute value over 65,531 bytes
/// (the 16-bit `nla_len` counts its 4-byte header), or a message over
/// `u32::MAX` bytes. See [`Error::too_long`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong {
    /// The attribute type (0 for the message itself).
    pub kind: u16,
    /// The length that did not fit, header included.
    pub len: usize,
    /// The largest length the field holds.
    pub max: usize,
}

impl Error {
    /// An error saying `what` is wrong with the bytes.
    #[cold]
    pub fn new(what: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                cause: what.into(),
                context: Vec::new(),
                too_long: None,
            }),
        }
    }

    /// An encoding error: `len` bytes do not fit a length field holding at
    /// most `max` (`kind` is the attribute type, 0 for the message).
    #[cold]
    pub fn length(kind: u16, len: usize, max: usize) -> Self {
        let cause = if kind == 0 && max == u32::MAX as usize {
            format!("netlink message of {len} bytes (at most {max})")
        } else {
            format!("netlink attribute {kind} of {len} bytes (at most {max})")
        };
        let mut e = Error::new(cause);
        e.inner.too_long = Some(TooLong { kind, len, max });
        e
    }

    /// Add what was being parsed when this error happened.
    #[must_use]
    #[cold]
    pub fn context(mut self, what: impl Into<String>) -> Self {
        self.inner.context.push(what.into());
        self
    }

    /// The innermost description, without context.
    pub fn cause(&self) -> &str {
        &self.inner.cause
    }

    /// For an encoding error, what did not fit; `None` for bytes that do
    /// not parse.
    pub fn too_long(&self) -> Option<TooLong> {
        self.inner.too_long
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.inner.context.iter().rev() {
            write!(f, "{part}: ")?;
        }
        f.write_str(&self.inner.cause)
    }
}

impl std::error::Error for Error {}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::new(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::new(s)
    }
}

/// Adds context to a `Result<_, Error>`.
pub trait Context<T> {
    /// Prefix the error (if any) with `what`.
    fn context(self, what: &'static str) -> Result<T, Error>;
    /// As [`Context::context`], with the text built only on error.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Error>;
}

impl<T> Context<T> for Result<T, Error> {
    #[inline]
    fn context(self, what: &'static str) -> Result<T, Error> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(e.context(what)),
        }
    }
    #[inline]
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, Error> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(e.context(what())),
        }
    }
}
