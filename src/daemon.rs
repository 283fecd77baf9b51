//! The connection synchronisation daemon (ipvsadm `--start-daemon`,
//! `--stop-daemon`, `-L --daemon`).
//!
//! A *master* daemon sends the state of the connections its IPVS handles to
//! a multicast group; a *backup* daemon on another director listens and
//! creates the same connection entries, so that a failover keeps
//! established connections on their real servers. Both run as kernel
//! threads of the network namespace they were started in, bound to one
//! interface; a namespace may run one of each.
//!
//! The sync protocol (version 1, the kernel's default) carries connections
//! of the service's own address family only: the kernel refuses to start a
//! daemon while a destination of the other family exists
//! ([`ErrorKind::MixedFamilyDestinations`]), and refuses such destinations
//! while a daemon runs.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use crate::error::{Error, ErrorKind, Operation, Result};
#[cfg(target_os = "linux")]
use crate::handle::Handle;
use crate::wire::Error as WireError;
use crate::wire::attr::{CmdAttr, DaemonAttr, parse_cmd_attrs};
use crate::wire::consts::*;

/// How long [`Handle::stop_daemon`] waits for the kernel's ACK before it
/// reads the daemon list instead: the kernel queues its answer before
/// `sendmsg` returns, or never (see there).
#[cfg(target_os = "linux")]
const STOP_ACK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Which half of the sync protocol a daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum DaemonRole {
    /// Sends this director's connections (`IP_VS_STATE_MASTER`).
    Master,
    /// Receives a master's connections (`IP_VS_STATE_BACKUP`).
    Backup,
    /// A state number the kernel reported that `lvs` does not know
    /// (read-only: refused on write).
    Other(u32),
}

impl DaemonRole {
    /// The kernel's `IP_VS_STATE_*` number.
    pub fn state(self) -> u32 {
        match self {
            DaemonRole::Master => IP_VS_STATE_MASTER,
            DaemonRole::Backup => IP_VS_STATE_BACKUP,
            DaemonRole::Other(n) => n,
        }
    }

    /// The role for an `IP_VS_STATE_*` number.
    pub fn from_state(state: u32) -> Self {
        match state {
            IP_VS_STATE_MASTER => DaemonRole::Master,
            IP_VS_STATE_BACKUP => DaemonRole::Backup,
            n => DaemonRole::Other(n),
        }
    }

    fn check(self, op: Operation) -> Result<()> {
        match self {
            DaemonRole::Master | DaemonRole::Backup => Ok(()),
            DaemonRole::Other(n) => Err(Error::invalid(
                op,
                "sync_daemon.role",
                format!("daemon state {n} is neither master (1) nor backup (2)"),
            )),
        }
    }
}

impl fmt::Display for DaemonRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonRole::Master => f.write_str("master"),
            DaemonRole::Backup => f.write_str("backup"),
            DaemonRole::Other(n) => write!(f, "state {n}"),
        }
    }
}

/// A connection synchronisation daemon: what to start, or what runs.
///
/// Build one with [`SyncDaemon::master`] or [`SyncDaemon::backup`] and the
/// `with_*` methods. `None` leaves an option to the kernel's default; a
/// daemon read back with [`Handle::daemons`] has every option the kernel
/// reports filled in with its effective value.
///
/// ```
/// use lvs::SyncDaemon;
///
/// let master = SyncDaemon::master("eth1", 7).with_group("239.1.2.3".parse().unwrap());
/// assert!(master.validate().is_ok());
/// assert!(SyncDaemon::backup("eth1/x", 7).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SyncDaemon {
    /// Master or backup.
    pub role: DaemonRole,
    /// The interface the daemon sends or receives on, in the handle's
    /// namespace (1 to 15 bytes).
    pub interface: String,
    /// Sync id, 0..=[`SyncDaemon::MAX_SYNC_ID`]: a master stamps it on its
    /// messages; a backup accepts only messages carrying its own id, or
    /// every message when it is 0. The protocol carries 8 bits, so the
    /// kernel's wider value is limited to that when sent.
    pub sync_id: u32,
    /// Largest sync message, in bytes of UDP payload (`--sync-maxlen`).
    /// Default: 1472 for a master (1452 with an IPv6 group); for a backup
    /// the interface's MTU (at least 1500) less the IP and UDP headers.
    #[cfg_attr(feature = "serde", serde(default))]
    pub max_len: Option<u16>,
    /// Multicast group, IPv4 or IPv6 (`--mcast-group`). Default 224.0.0.81.
    #[cfg_attr(feature = "serde", serde(default))]
    pub group: Option<IpAddr>,
    /// UDP port (`--mcast-port`). Default 8848. With several sync threads
    /// (sysctl `sync_ports`), thread `i` uses `port + i`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub port: Option<u16>,
    /// Multicast TTL or hop limit (`--mcast-ttl`). Default 1.
    #[cfg_attr(feature = "serde", serde(default))]
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    /// Largest sync id the protocol carries.
    pub const MAX_SYNC_ID: u32 = 255;
    /// The kernel's default group (`IP_VS_SYNC_GROUP`).
    pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
    /// The kernel's default port (`IP_VS_SYNC_PORT`).
    pub const DEFAULT_PORT: u16 = 8848;
    /// The kernel's default TTL.
    pub const DEFAULT_TTL: u8 = 1;

    /// A daemon of `role` on `interface` with `sync_id`, every option at
    /// the kernel's default.
    pub fn new(role: DaemonRole, interface: impl Into<String>, sync_id: u8) -> Self {
        SyncDaemon {
            role,
            interface: interface.into(),
            sync_id: u32::from(sync_id),
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        }
    }

    /// A master daemon (`--start-daemon master`).
    pub fn master(interface: impl Into<String>, sync_id: u8) -> Self {
        SyncDaemon::new(DaemonRole::Master, interface, sync_id)
    }

    /// A backup daemon (`--start-daemon backup`).
    pub fn backup(interface: impl Into<String>, sync_id: u8) -> Self {
        SyncDaemon::new(DaemonRole::Backup, interface, sync_id)
    }

    /// Set the largest sync message (UDP payload bytes).
    pub fn with_max_len(mut self, max_len: u16) -> Self {
        self.max_len = Some(max_len);
        self
    }

    /// Set the multicast group (IPv4 or IPv6).
    pub fn with_group(mut self, group: IpAddr) -> Self {
        self.group = Some(group);
        self
    }

    /// Set the UDP port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Set the multicast TTL.
    pub fn with_ttl(mut self, ttl: u8) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The range of `max_len` the kernel keeps as given: it silently
    /// clamps other values into it. The upper end leaves room for the IP
    /// and UDP headers of the group's family; a backup needs at least 1024.
    pub fn max_len_range(&self) -> std::ops::RangeInclusive<u16> {
        let headers: u16 = match self.group {
            Some(IpAddr::V6(_)) => 40 + 8,
            _ => 20 + 8,
        };
        let min = if self.role == DaemonRole::Backup {
            1024
        } else {
            1
        };
        min..=u16::MAX - headers
    }

    /// Check everything the kernel would reject, or silently change or
    /// misread.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`], naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field, why: String| Err(Error::invalid(Operation::Validate, field, why));
        self.role.check(Operation::Validate)?;
        check_interface(&self.interface)?;
        if self.sync_id > Self::MAX_SYNC_ID {
            return bad(
                "sync_daemon.sync_id",
                format!(
                    "sync id must be 0..={} (the sync protocol carries 8 bits; a backup \
                     with a larger id would drop every message), got {}",
                    Self::MAX_SYNC_ID,
                    self.sync_id
                ),
            );
        }
        if let Some(n) = self.max_len {
            let r = self.max_len_range();
            if !r.contains(&n) {
                return bad(
                    "sync_daemon.max_len",
                    format!(
                        "sync message length must be {}..={} for a {} with {} group \
                         (the kernel would clamp it; None picks the default), got {n}",
                        r.start(),
                        r.end(),
                        self.role,
                        if matches!(self.group, Some(IpAddr::V6(_))) {
                            "an IPv6"
                        } else {
                            "an IPv4"
                        }
                    ),
                );
            }
        }
        if let Some(g) = self.group
            && !g.is_multicast()
        {
            return bad(
                "sync_daemon.group",
                format!("the sync group must be a multicast address, got {g}"),
            );
        }
        if self.port == Some(0) {
            return bad(
                "sync_daemon.port",
                "port 0 means the default to the kernel: use None".into(),
            );
        }
        if self.ttl == Some(0) {
            return bad(
                "sync_daemon.ttl",
                "TTL 0 means the default (1) to the kernel: use None".into(),
            );
        }
        Ok(())
    }
}

/// The kernel's `dev_valid_name`: no interface can have another name.
fn check_interface(name: &str) -> Result<()> {
    let bad = |why: String| {
        Err(Error::invalid(
            Operation::Validate,
            "sync_daemon.interface",
            why,
        ))
    };
    if name.is_empty() {
        return bad("an interface name cannot be empty".into());
    }
    if name.len() >= IP_VS_IFNAME_MAXLEN {
        return bad(format!(
            "interface names are at most {} bytes, {name:?} has {}",
            IP_VS_IFNAME_MAXLEN - 1,
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return bad(format!("{name:?} cannot be an interface name"));
    }
    let forbidden = |c: char| matches!(c, '/' | ':' | '\0' | '\x0b') || c.is_ascii_whitespace();
    match name.chars().find(|&c| forbidden(c)) {
        Some(c) => bad(format!(
            "interface names cannot contain {c:?}, as in {name:?}"
        )),
        None => Ok(()),
    }
}

/// The `IPVS_CMD_ATTR_DAEMON` nest that starts `d` (validated first).
pub(crate) fn start_attrs(d: &SyncDaemon) -> Result<Vec<CmdAttr>> {
    d.validate()
        .map_err(|e| e.with_operation(Operation::StartDaemon))?;
    let mut v = vec![
        DaemonAttr::State(d.role.state()),
        DaemonAttr::McastIfn(d.interface.clone()),
        DaemonAttr::SyncId(d.sync_id),
    ];
    if let Some(n) = d.max_len {
        v.push(DaemonAttr::SyncMaxlen(n));
    }
    match d.group {
        Some(IpAddr::V4(g)) => v.push(DaemonAttr::McastGroup(g.octets())),
        Some(IpAddr::V6(g)) => v.push(DaemonAttr::McastGroup6(g.octets())),
        None => {}
    }
    if let Some(p) = d.port {
        v.push(DaemonAttr::McastPort(p));
    }
    if let Some(t) = d.ttl {
        v.push(DaemonAttr::McastTtl(t));
    }
    Ok(vec![CmdAttr::Daemon(v)])
}

/// The `IPVS_CMD_ATTR_DAEMON` nest that stops the daemon of `role`.
pub(crate) fn stop_attrs(role: DaemonRole) -> Result<Vec<CmdAttr>> {
    role.check(Operation::StopDaemon)?;
    Ok(vec![CmdAttr::Daemon(vec![DaemonAttr::State(role.state())])])
}

/// Decode one GET_DAEMON reply (cmd `NEW_DAEMON`); `None` if it has no
/// `IPVS_CMD_ATTR_DAEMON` nest. Options an older kernel does not report
/// stay `None`.
pub(crate) fn parse_daemon_reply(attrs: &[u8]) -> Result<Option<SyncDaemon>, WireError> {
    let Some(nest) = parse_cmd_attrs(attrs)?.into_iter().find_map(|a| match a {
        CmdAttr::Daemon(v) => Some(v),
        _ => None,
    }) else {
        return Ok(None);
    };
    let (mut role, mut interface, mut sync_id) = (None, None, None);
    let mut d = SyncDaemon::new(DaemonRole::Master, String::new(), 0);
    let (mut g4, mut g6) = (None, None);
    for a in nest {
        match a {
            DaemonAttr::State(s) => role = Some(DaemonRole::from_state(s)),
            DaemonAttr::McastIfn(s) => interface = Some(s),
            DaemonAttr::SyncId(n) => sync_id = Some(n),
            DaemonAttr::SyncMaxlen(n) => d.max_len = Some(n),
            DaemonAttr::McastGroup(g) => g4 = Some(IpAddr::from(g)),
            DaemonAttr::McastGroup6(g) => g6 = Some(IpAddr::from(g)),
            DaemonAttr::McastPort(p) => d.port = Some(p),
            DaemonAttr::McastTtl(t) => d.ttl = Some(t),
            _ => {}
        }
    }
    let missing = |what| WireError::new(format!("IPVS_CMD_ATTR_DAEMON without {what}"));
    d.role = role.ok_or_else(|| missing("IPVS_DAEMON_ATTR_STATE"))?;
    d.interface = interface.ok_or_else(|| missing("IPVS_DAEMON_ATTR_MCAST_IFN"))?;
    d.sync_id = sync_id.ok_or_else(|| missing("IPVS_DAEMON_ATTR_SYNC_ID"))?;
    d.group = g6.or(g4);
    Ok(Some(d))
}

#[cfg(target_os = "linux")]
impl Handle {
    /// Start a connection sync daemon in the handle's namespace
    /// (`IPVS_CMD_NEW_DAEMON`; ipvsadm `--start-daemon`). The kernel
    /// starts its threads before it answers. Not part of batches.
    ///
    /// A master on an interface without an IPv4 address still starts
    /// (it sends from 0.0.0.0).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] (nothing sent; see
    /// [`SyncDaemon::validate`]), [`ErrorKind::DaemonRunning`] (a daemon
    /// of that role already runs in this namespace),
    /// [`ErrorKind::NoSuchInterface`], [`ErrorKind::MixedFamilyDestinations`],
    /// [`ErrorKind::Kernel`] (e.g. `ENETUNREACH` when the group cannot be
    /// reached through the interface), [`ErrorKind::PermissionDenied`].
    pub fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<()> {
        let op = Operation::StartDaemon;
        let attrs = start_attrs(daemon)?;
        self.transact(&op, IPVS_CMD_NEW_DAEMON, NLM_F_ACK, &attrs, |_| {
            Ok(None::<()>)
        })
        .map_err(|e| match e.kind() {
            ErrorKind::NoSuchInterface => e.with_detail(format!(
                "no network interface {:?} in the handle's namespace",
                daemon.interface
            )),
            ErrorKind::DaemonRunning => e.with_detail(format!(
                "a {} sync daemon already runs in the handle's namespace",
                daemon.role
            )),
            _ => e,
        })?;
        Ok(())
    }

    /// Stop the sync daemon of `role` (`IPVS_CMD_DEL_DAEMON`; ipvsadm
    /// `--stop-daemon`). The kernel stops its threads before it answers,
    /// and `Ok` means the daemon is stopped.
    ///
    /// The kernel handles the request before `sendmsg` returns, but does
    /// not always answer it: when a daemon thread is stopped before it
    /// first ran (a stop right after a start), `kthread_stop` returns
    /// `-EINTR`, `IPVS_CMD_DEL_DAEMON` passes that on, and netlink sends no
    /// ACK at all for `-EINTR` (`netlink_rcv_skb` skips it) although the
    /// daemon is gone. So this waits for the ACK at most
    /// 500 ms (or the handle's timeout, if shorter); without
    /// one it reads the daemon list and returns `Ok` when no daemon of
    /// `role` runs, an [`ErrorKind::Io`] error when one still does.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for [`DaemonRole::Other`] (nothing
    /// sent), [`ErrorKind::DaemonNotRunning`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::Io`].
    pub fn stop_daemon(&mut self, role: DaemonRole) -> Result<()> {
        let op = Operation::StopDaemon;
        let attrs = stop_attrs(role)?;
        let acked = self
            .transact_ack_may_be_lost(&op, IPVS_CMD_DEL_DAEMON, &attrs, STOP_ACK_WAIT)
            .map_err(|e| match e.kind() {
                ErrorKind::DaemonNotRunning => e.with_detail(format!(
                    "no {role} sync daemon runs in the handle's namespace"
                )),
                _ => e,
            })?;
        if acked.is_some() {
            return Ok(());
        }
        tracing::trace!(%role, "no ACK for DEL_DAEMON: reading the daemon list");
        if self.daemons()?.iter().any(|d| d.role == role) {
            return Err(Error::new(
                op,
                ErrorKind::Io,
                format!(
                    "no reply to stopping the {role} sync daemon within {STOP_ACK_WAIT:?}, \
                     and it still runs"
                ),
            ));
        }
        Ok(())
    }

    /// The sync daemons running in the handle's namespace: none, one or
    /// both, the master first (`IPVS_CMD_GET_DAEMON`, a dump; ipvsadm
    /// `-L --daemon`). Every option the kernel reports is `Some`, with
    /// the defaults it filled in.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`], [`ErrorKind::Io`], [`ErrorKind::Decode`].
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        self.dump(
            &Operation::ListDaemons,
            IPVS_CMD_GET_DAEMON,
            &[],
            parse_daemon_reply,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::msg::push_request;
    use std::net::Ipv6Addr;

    /// `ipvsadm --start-daemon master --mcast-interface d0 --syncid 5`,
    /// from tests/fixtures/ipvsadm/start_daemon_master.txt: the attributes
    /// after the generic-netlink header.
    const IPVSADM_START: [u8; 28] = [
        0x1c, 0x00, 0x03, 0x80, 0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x02,
        0x00, 0x64, 0x30, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,
    ];

    /// The kernel's GET_DAEMON reply after that command
    /// (tests/fixtures/ipvsadm/list_daemons.txt), after the genl header.
    const KERNEL_DAEMON: [u8; 60] = [
        0x3c, 0x00, 0x03, 0x00, 0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x02,
        0x00, 0x64, 0x30, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06, 0x00,
        0x04, 0x00, 0xc0, 0x05, 0x00, 0x00, 0x06, 0x00, 0x07, 0x00, 0x90, 0x22, 0x00, 0x00, 0x05,
        0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00, 0xe0, 0x00, 0x00, 0x51,
    ];

    fn emitted(cmd: u8, attrs: &[CmdAttr]) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = push_request(&mut buf, 0x20, NLM_F_ACK, 1, cmd, attrs).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(buf[16], cmd);
        buf[NLMSG_HDRLEN + GENL_HDRLEN..].to_vec()
    }

    #[test]
    fn start_matches_ipvsadm_bytes() {
        let attrs = start_attrs(&SyncDaemon::master("d0", 5)).unwrap();
        assert_eq!(emitted(IPVS_CMD_NEW_DAEMON, &attrs), IPVSADM_START);
    }

    #[test]
    fn every_option_is_sent() {
        let d = SyncDaemon::backup("eth1", 9)
            .with_max_len(1400)
            .with_group(IpAddr::V6("ff02::1:81".parse().unwrap()))
            .with_port(9000)
            .with_ttl(3);
        let attrs = start_attrs(&d).unwrap();
        let CmdAttr::Daemon(v) = &attrs[0] else {
            panic!("{attrs:?}")
        };
        assert_eq!(
            v,
            &[
                DaemonAttr::State(IP_VS_STATE_BACKUP),
                DaemonAttr::McastIfn("eth1".into()),
                DaemonAttr::SyncId(9),
                DaemonAttr::SyncMaxlen(1400),
                DaemonAttr::McastGroup6("ff02::1:81".parse::<Ipv6Addr>().unwrap().octets()),
                DaemonAttr::McastPort(9000),
                DaemonAttr::McastTtl(3),
            ]
        );
        let stop = stop_attrs(DaemonRole::Backup).unwrap();
        assert_eq!(
            stop,
            [CmdAttr::Daemon(vec![DaemonAttr::State(IP_VS_STATE_BACKUP)])]
        );
    }

    #[test]
    fn kernel_reply_parses_with_defaults_filled_in() {
        let d = parse_daemon_reply(&KERNEL_DAEMON).unwrap().unwrap();
        let mut want = SyncDaemon::master("d0", 5)
            .with_max_len(1472)
            .with_group(IpAddr::V4(SyncDaemon::DEFAULT_GROUP))
            .with_port(SyncDaemon::DEFAULT_PORT)
            .with_ttl(SyncDaemon::DEFAULT_TTL);
        assert_eq!(d, want);
        // A kernel before 4.3 sends only the first three attributes.
        let old = [
            0x1c, 0x00, 0x03, 0x00, 0x08, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x00,
            0x02, 0x00, 0x64, 0x30, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x05, 0x00, 0x00, 0x00,
        ];
        want = SyncDaemon::backup("d0", 5);
        assert_eq!(parse_daemon_reply(&old).unwrap().unwrap(), want);
        // Without STATE: a decode error, never a panic.
        let no_state = [
            0x14, 0x00, 0x03, 0x00, 0x07, 0x00, 0x02, 0x00, 0x64, 0x30, 0x00, 0x00, 0x08, 0x00,
            0x03, 0x00, 0x05, 0x00, 0x00, 0x00,
        ];
        assert!(parse_daemon_reply(&no_state).is_err());
        assert_eq!(parse_daemon_reply(&[]).unwrap(), None);
    }

    #[test]
    fn validation_names_the_field() {
        let field = |d: SyncDaemon| d.validate().unwrap_err().field();
        let m = || SyncDaemon::master("eth0", 1);
        assert!(m().validate().is_ok());
        for bad in [
            "",
            "0123456789abcdef",
            "a/b",
            "a b",
            "a:b",
            ".",
            "..",
            "a\0",
        ] {
            assert_eq!(
                field(SyncDaemon::master(bad, 1)),
                Some("sync_daemon.interface"),
                "{bad:?}"
            );
        }
        assert!(SyncDaemon::master("0123456789abcde", 1).validate().is_ok());
        let mut d = m();
        d.sync_id = 256;
        assert_eq!(field(d), Some("sync_daemon.sync_id"));
        let mut d = m();
        d.role = DaemonRole::Other(3);
        assert_eq!(field(d), Some("sync_daemon.role"));
        assert_eq!(field(m().with_max_len(0)), Some("sync_daemon.max_len"));
        assert!(m().with_max_len(1).validate().is_ok());
        assert_eq!(
            field(SyncDaemon::backup("eth0", 1).with_max_len(1023)),
            Some("sync_daemon.max_len")
        );
        assert!(m().with_max_len(65507).validate().is_ok());
        assert_eq!(field(m().with_max_len(65508)), Some("sync_daemon.max_len"));
        let v6 = IpAddr::V6("ff02::1:81".parse().unwrap());
        assert_eq!(
            field(m().with_group(v6).with_max_len(65488)),
            Some("sync_daemon.max_len")
        );
        assert_eq!(
            field(m().with_group(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))),
            Some("sync_daemon.group")
        );
        assert_eq!(
            field(m().with_group(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            Some("sync_daemon.group")
        );
        assert_eq!(field(m().with_port(0)), Some("sync_daemon.port"));
        assert_eq!(field(m().with_ttl(0)), Some("sync_daemon.ttl"));
        let e = start_attrs(&m().with_ttl(0)).unwrap_err();
        assert_eq!(e.operation(), &Operation::StartDaemon);
        assert!(stop_attrs(DaemonRole::Other(0)).is_err());
    }
}
