//! The wire layer's errors: [`DecodeError`] for bytes that do not parse,
//! with the chain of what was being parsed, and [`EncodeError`] for a
//! value too long for its length field. Neither names a type of another
//! crate, so a dependency's release never changes them.

use std::fmt;

/// Bytes that do not parse: what was wrong, and what was being parsed
/// around it, outermost first when displayed:
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
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Boxed: one pointer keeps every `Result<_, DecodeError>` of the
    /// parsers small.
    chain: Box<Chain>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Chain {
    cause: String,
    /// Innermost first: the context added on the way out.
    context: Vec<String>,
}

impl DecodeError {
    /// An error saying `what` is wrong.
    #[cold]
    pub fn new(what: impl Into<String>) -> Self {
        DecodeError {
            chain: Box::new(Chain {
                cause: what.into(),
                context: Vec::new(),
            }),
        }
    }

    /// Add what was being parsed when this error happened.
    #[must_use]
    #[cold]
    pub fn context(mut self, what: impl Into<String>) -> Self {
        self.chain.context.push(what.into());
        self
    }

    /// The innermost description, without context.
    pub fn cause(&self) -> &str {
        &self.chain.cause
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.chain.context.iter().rev() {
            write!(f, "{part}: ")?;
        }
        f.write_str(&self.chain.cause)
    }
}

impl std::error::Error for DecodeError {}

impl From<String> for DecodeError {
    fn from(s: String) -> Self {
        DecodeError::new(s)
    }
}

impl From<&str> for DecodeError {
    fn from(s: &str) -> Self {
        DecodeError::new(s)
    }
}

/// Adds context to a `Result<_, DecodeError>`.
pub trait Context<T> {
    /// Prefix the error (if any) with `what`.
    fn context(self, what: &'static str) -> Result<T, DecodeError>;
    /// As [`Context::context`], with the text built only on error.
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, DecodeError>;
}

impl<T> Context<T> for Result<T, DecodeError> {
    #[inline]
    fn context(self, what: &'static str) -> Result<T, DecodeError> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(e.context(what)),
        }
    }
    #[inline]
    fn with_context<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T, DecodeError> {
        match self {
            Ok(v) => Ok(v),
            Err(e) => Err(e.context(what())),
        }
    }
}

/// A value too long for its netlink length field: an attribute value over
/// 65,531 bytes (the 16-bit `nla_len` counts its 4-byte header), or a
/// message over `u32::MAX` bytes. Nothing is ever truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// The attribute type (0 for the message itself).
    pub kind: u16,
    /// The length that did not fit, header included.
    pub len: usize,
    /// The largest length the field holds.
    pub max: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == 0 && self.max == u32::MAX as usize {
            write!(
                f,
                "netlink message of {} bytes (at most {})",
                self.len, self.max
            )
        } else {
            write!(
                f,
                "netlink attribute {} of {} bytes (at most {})",
                self.kind, self.len, self.max
            )
        }
    }
}

impl std::error::Error for EncodeError {}
