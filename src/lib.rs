//! `lvs`: drive Linux IPVS over generic netlink.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sched;
