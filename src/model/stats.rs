//! Traffic counters and rates.

/// Estimated rates, averaged by the kernel over a few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rates {
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub in_pps: u64,
    /// Outgoing packets per second.
    pub out_pps: u64,
    /// Incoming **bytes** per second.
    pub in_bps: u64,
    /// Outgoing **bytes** per second.
    pub out_bps: u64,
}

/// Counters since creation (or the last zeroing) and current rates.
///
/// # Example
/// ```no_run
/// # fn main() -> lvs::Result<()> {
/// for svc in lvs::Handle::open()?.services()? {
///     let s = &svc.stats;
///     println!("{}: {} conns, {} packets in, {} B/s in", svc.service.key, s.conns, s.in_packets, s.rates.in_bps);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in (client to server).
    pub in_packets: u64,
    /// Packets out (server to client; NAT only).
    pub out_packets: u64,
    /// Bytes in.
    pub in_bytes: u64,
    /// Bytes out.
    pub out_bytes: u64,
    /// Rates.
    pub rates: Rates,
    /// `true` when the kernel sent only the 32-bit nest (pre-4.1 kernels),
    /// so `conns`, packet counts and rates wrapped at 2^32.
    pub from_32bit: bool,
}
