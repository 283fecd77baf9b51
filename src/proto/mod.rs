//! The sans-IO core: the exact bytes of every request, and the handling
//! of the kernel's replies as pure state machines (datagrams in, values
//! and outcomes out). Below the handle, above the model: no socket here.
//!
//! Reached through [`lvs::request`](crate::request).

pub(crate) mod batch;
pub(crate) mod exchange;
pub mod request;
