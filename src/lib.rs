//! `lvs`: drive Linux IPVS over generic netlink.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Pure models of the kernel's IPVS schedulers (no socket, no kernel).
pub mod sched;
