//! IPVS sysctls (`/proc/sys/net/ipv4/vs/*`) of a handle's network
//! namespace: the settings kube-proxy, kube-router and Docker set, read
//! and written as numbers.

use std::fmt;
use std::io;
use std::ops::RangeInclusive;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::handle::Handle;
use crate::sys::{in_netns, is_current_netns};

/// An integer IPVS sysctl under `/proc/sys/net/ipv4/vs/`. See the kernel's
/// `Documentation/networking/ipvs-sysctl.rst` for each one's meaning.
///
/// # Example
/// What kube-proxy's IPVS mode sets:
/// ```no_run
/// use lvs::{Handle, Sysctl};
///
/// # fn main() -> lvs::Result<()> {
/// let ipvs = Handle::open()?;
/// ipvs.set_sysctl(Sysctl::Conntrack, 1)?;
/// ipvs.set_sysctl(Sysctl::ExpireNodestConn, 1)?;
/// ipvs.set_sysctl(Sysctl::ExpireQuiescentTemplate, 1)?;
/// assert_eq!(ipvs.sysctl(Sysctl::from_name("conntrack").expect("known"))?, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sysctl {
    /// `conntrack`: keep netfilter connection tracking for IPVS
    /// connections (needed for SNAT/masquerade of NATed replies; only
    /// where the kernel has conntrack).
    Conntrack,
    /// `conn_reuse_mode`: how a new connection reusing an old one's ports
    /// is handled (bit 1: reschedule; bit 2: also for synced entries).
    ConnReuseMode,
    /// `expire_nodest_conn`: expire at once, rather than drop, packets of
    /// connections whose destination was removed.
    ExpireNodestConn,
    /// `expire_quiescent_template`: expire persistence templates of
    /// destinations at weight 0.
    ExpireQuiescentTemplate,
    /// `sloppy_tcp`: create connections from any TCP packet, not only SYN.
    SloppyTcp,
    /// `sloppy_sctp`: create connections from any SCTP packet, not only INIT.
    SloppySctp,
    /// `schedule_icmp`: schedule ICMP packets that have no connection.
    ScheduleIcmp,
    /// `ignore_tunneled`: leave tunneled packets to the rest of the stack.
    IgnoreTunneled,
    /// `snat_reroute`: reroute SNATed replies of NAT connections.
    SnatReroute,
    /// `backup_only`: a sync backup only, no balancing.
    BackupOnly,
    /// `pmtu_disc`: path MTU discovery for tunnel forwarding.
    PmtuDisc,
    /// `run_estimation`: compute the rate estimates (Linux 5.16 and later).
    RunEstimation,
    /// `drop_entry`: defense strategy against connection-table floods.
    DropEntry,
    /// `drop_packet`: defense strategy dropping packets.
    DropPacket,
    /// `secure_tcp`: defense strategy with shorter TCP timeouts.
    SecureTcp,
    /// `amemthresh`: available-memory threshold for the defense strategies.
    Amemthresh,
    /// `cache_bypass`: send packets with no destination straight on.
    CacheBypass,
    /// `sync_version`: the sync protocol version sent (0 or 1).
    SyncVersion,
    /// `sync_ports`: sync threads (and ports) per daemon.
    SyncPorts,
    /// `nat_icmp_send`: send ICMP errors for NATed connections.
    NatIcmpSend,
    /// `lblc_expiration`: seconds before an unused lblc entry expires.
    LblcExpiration,
    /// `lblcr_expiration`: seconds before an unused lblcr set expires.
    LblcrExpiration,
}

impl Sysctl {
    /// Every sysctl this type names.
    pub const ALL: [Sysctl; 22] = [
        Sysctl::Conntrack,
        Sysctl::ConnReuseMode,
        Sysctl::ExpireNodestConn,
        Sysctl::ExpireQuiescentTemplate,
        Sysctl::SloppyTcp,
        Sysctl::SloppySctp,
        Sysctl::ScheduleIcmp,
        Sysctl::IgnoreTunneled,
        Sysctl::SnatReroute,
        Sysctl::BackupOnly,
        Sysctl::PmtuDisc,
        Sysctl::RunEstimation,
        Sysctl::DropEntry,
        Sysctl::DropPacket,
        Sysctl::SecureTcp,
        Sysctl::Amemthresh,
        Sysctl::CacheBypass,
        Sysctl::SyncVersion,
        Sysctl::SyncPorts,
        Sysctl::NatIcmpSend,
        Sysctl::LblcExpiration,
        Sysctl::LblcrExpiration,
    ];

    /// The file name under `/proc/sys/net/ipv4/vs/`.
    pub fn name(self) -> &'static str {
        use Sysctl::*;
        match self {
            Conntrack => "conntrack",
            ConnReuseMode => "conn_reuse_mode",
            ExpireNodestConn => "expire_nodest_conn",
            ExpireQuiescentTemplate => "expire_quiescent_template",
            SloppyTcp => "sloppy_tcp",
            SloppySctp => "sloppy_sctp",
            ScheduleIcmp => "schedule_icmp",
            IgnoreTunneled => "ignore_tunneled",
            SnatReroute => "snat_reroute",
            BackupOnly => "backup_only",
            PmtuDisc => "pmtu_disc",
            RunEstimation => "run_estimation",
            DropEntry => "drop_entry",
            DropPacket => "drop_packet",
            SecureTcp => "secure_tcp",
            Amemthresh => "amemthresh",
            CacheBypass => "cache_bypass",
            SyncVersion => "sync_version",
            SyncPorts => "sync_ports",
            NatIcmpSend => "nat_icmp_send",
            LblcExpiration => "lblc_expiration",
            LblcrExpiration => "lblcr_expiration",
        }
    }

    /// The sysctl with this file name.
    pub fn from_name(name: &str) -> Option<Sysctl> {
        Sysctl::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The values that mean something for this sysctl, checked by
    /// [`Handle::set_sysctl`] before anything is written: `0..=1` for the
    /// switches (the kernel stores any integer in them and reads it as a
    /// boolean, so a 2 would read back as 2 and a typo would go unnoticed),
    /// `0..=3` for the defense modes and for `conn_reuse_mode` (a two-bit
    /// map), `0..=1` for `sync_version`, `1..=64` for `sync_ports`
    /// (`IPVS_SYNC_PORTS_MAX`; a power of two, see [`Sysctl::check`]),
    /// `1..=2147483` seconds for the lblc/lblcr expirations (what the
    /// kernel's jiffies conversion takes at any HZ up to 1000), and
    /// `0..=i32::MAX` for `amemthresh` (pages).
    pub fn range(self) -> RangeInclusive<i64> {
        use Sysctl::*;
        match self {
            DropEntry | DropPacket | SecureTcp | ConnReuseMode => 0..=3,
            SyncPorts => 1..=64,
            LblcExpiration | LblcrExpiration => 1..=i64::from(i32::MAX / 1000),
            Amemthresh => 0..=i64::from(i32::MAX),
            Conntrack
            | ExpireNodestConn
            | ExpireQuiescentTemplate
            | SloppyTcp
            | SloppySctp
            | ScheduleIcmp
            | IgnoreTunneled
            | SnatReroute
            | BackupOnly
            | PmtuDisc
            | RunEstimation
            | CacheBypass
            | SyncVersion
            | NatIcmpSend => 0..=1,
        }
    }

    /// Check `value` for this sysctl as [`Handle::set_sysctl`] does: inside
    /// [`Sysctl::range`], and a power of two for `sync_ports` (the kernel
    /// refuses other counts).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the sysctl and its range.
    ///
    /// # Example
    /// ```
    /// use lvs::Sysctl;
    ///
    /// assert!(Sysctl::ExpireNodestConn.check(1).is_ok());
    /// assert!(Sysctl::ExpireNodestConn.check(2).is_err()); // a switch
    /// assert!(Sysctl::SyncPorts.check(3).is_err()); // not a power of two
    /// ```
    pub fn check(self, value: i64) -> Result<()> {
        let range = self.range();
        let why = if !range.contains(&value) {
            format!("{value} is outside {}..={}", range.start(), range.end())
        } else if self == Sysctl::SyncPorts && value.count_ones() != 1 {
            format!("{value} is not a power of two")
        } else {
            return Ok(());
        };
        Err(Error::invalid(
            Operation::WriteSysctl(self.name()),
            "value",
            format!("{self}: {why}"),
        ))
    }

    fn path(self) -> String {
        format!("/proc/sys/net/ipv4/vs/{}", self.name())
    }
}

impl fmt::Display for Sysctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net.ipv4.vs.{}", self.name())
    }
}

impl Handle {
    /// Read an IPVS sysctl of the handle's namespace. Another namespace's
    /// sysctls are read on a helper thread that enters it (which needs
    /// `CAP_SYS_ADMIN`); the caller's own need nothing beyond read access.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] if this kernel has no such sysctl (e.g.
    /// `conntrack` without netfilter conntrack, or IPVS not loaded),
    /// [`ErrorKind::PermissionDenied`], [`ErrorKind::Io`],
    /// [`ErrorKind::Decode`] for a value that is not one integer.
    pub fn sysctl(&self, sysctl: Sysctl) -> Result<i64> {
        let op = Operation::ReadSysctl(sysctl.name());
        let path = sysctl.path();
        let text = self
            .in_own_netns(move || std::fs::read_to_string(path))
            .map_err(|e| sysctl_error(op.clone(), sysctl, e))?;
        text.trim().parse::<i64>().map_err(|_| {
            Error::decode(
                op,
                format!("{sysctl} holds {:?}, not an integer", text.trim()),
            )
        })
    }

    /// Set an IPVS sysctl of the handle's namespace (root, or
    /// `CAP_NET_ADMIN` over the namespace, and a writable `/proc/sys`).
    ///
    /// # Errors
    /// As [`Handle::sysctl`], and [`ErrorKind::InvalidArgument`] for a value
    /// outside [`Sysctl::range`] (checked here, nothing written) or one the
    /// kernel refuses.
    pub fn set_sysctl(&self, sysctl: Sysctl, value: i64) -> Result<()> {
        sysctl.check(value)?;
        let op = Operation::WriteSysctl(sysctl.name());
        let path = sysctl.path();
        self.in_own_netns(move || std::fs::write(path, format!("{value}\n")))
            .map_err(|e| {
                if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) {
                    Error::new(
                        op.clone(),
                        ErrorKind::InvalidArgument,
                        format!("the kernel refused {value} for {sysctl} (out of its range)"),
                    )
                } else {
                    sysctl_error(op.clone(), sysctl, e)
                }
            })
    }

    /// Run `f` in the handle's namespace: here if it is the calling
    /// thread's, on a helper thread that enters it otherwise.
    fn in_own_netns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        match self.netns() {
            Some(ns) if !is_current_netns(ns) => in_netns(ns, f),
            _ => f(),
        }
    }
}

fn sysctl_error(op: Operation, sysctl: Sysctl, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::NotFound => Error::new(
            op,
            ErrorKind::Unsupported,
            format!("this kernel has no {sysctl} (is ip_vs loaded, and the feature built?)"),
        ),
        _ => {
            let d = format!("{sysctl}: {e}");
            Error::io(op, e).with_detail(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Sysctl::ALL.iter().map(|s| s.name()).collect();
        for s in Sysctl::ALL {
            assert_eq!(Sysctl::from_name(s.name()), Some(s));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Sysctl::ALL.len());
        assert_eq!(Sysctl::from_name("nope"), None);
        for s in Sysctl::ALL {
            let r = s.range();
            assert!(s.check(*r.start()).is_ok() || s == Sysctl::SyncPorts, "{s}");
            assert!(s.check(*r.end()).is_ok(), "{s}");
            assert!(s.check(r.start() - 1).is_err(), "{s}");
            let e = s.check(r.end() + 1).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.to_string().contains(s.name()), "{e}");
        }
        assert!(Sysctl::SyncPorts.check(1).is_ok());
        assert!(Sysctl::SyncPorts.check(16).is_ok());
        assert!(Sysctl::SyncPorts.check(12).is_err());
        assert!(Sysctl::Conntrack.check(2).is_err());
        assert_eq!(
            Sysctl::ExpireNodestConn.to_string(),
            "net.ipv4.vs.expire_nodest_conn"
        );
    }
}
