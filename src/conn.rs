//! The connection table (ipvsadm `-Lnc`): the kernel's current IPVS
//! connection entries and persistence templates.
//!
//! Generic netlink has no command for it: the kernel prints the table in
//! `/proc/net/ip_vs_conn` (with persistence-engine data) and
//! `/proc/net/ip_vs_conn_sync` (with each entry's origin), per network
//! namespace. `lvs` reads them in the handle's namespace.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Operation, Result};
#[cfg(target_os = "linux")]
use crate::handle::Handle;
use crate::model::Protocol;
#[cfg(target_os = "linux")]
use crate::sys::{in_netns, is_current_netns};

/// State of a connection entry, as the kernel names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ConnState {
    /// `NONE`: no state yet; also a persistence template none of whose
    /// connections has been established.
    None,
    /// `ASSURED`: a persistence template one of whose connections was
    /// established (TCP; kernels from 5.x print it).
    Assured,
    /// `ESTABLISHED` (TCP or SCTP).
    Established,
    /// `SYN_SENT`.
    SynSent,
    /// `SYN_RECV`.
    SynRecv,
    /// `FIN_WAIT`.
    FinWait,
    /// `TIME_WAIT`.
    TimeWait,
    /// `CLOSE`.
    Close,
    /// `CLOSE_WAIT`.
    CloseWait,
    /// `LAST_ACK`.
    LastAck,
    /// `LISTEN`.
    Listen,
    /// `SYNACK`.
    SynAck,
    /// `UDP`: the one state of a UDP entry.
    Udp,
    /// Any other name (SCTP states, newer kernels), kept as printed.
    Other(String),
}

impl ConnState {
    /// The state for a kernel name.
    pub fn from_name(name: &str) -> Self {
        use ConnState::*;
        match name {
            "NONE" => None,
            "ASSURED" => Assured,
            "ESTABLISHED" => Established,
            "SYN_SENT" => SynSent,
            "SYN_RECV" => SynRecv,
            "FIN_WAIT" => FinWait,
            "TIME_WAIT" => TimeWait,
            "CLOSE" => Close,
            "CLOSE_WAIT" => CloseWait,
            "LAST_ACK" => LastAck,
            "LISTEN" => Listen,
            "SYNACK" => SynAck,
            "UDP" => Udp,
            other => Other(other.to_owned()),
        }
    }

    /// The kernel's name of the state.
    pub fn as_str(&self) -> &str {
        use ConnState::*;
        match self {
            None => "NONE",
            Assured => "ASSURED",
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait => "FIN_WAIT",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            SynAck => "SYNACK",
            Udp => "UDP",
            Other(s) => s,
        }
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a connection entry came from (`/proc/net/ip_vs_conn_sync`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ConnOrigin {
    /// `LOCAL`: scheduled by this host.
    Local,
    /// `SYNC`: created by this host's backup sync daemon from a master's
    /// message.
    Sync,
    /// Any other word, kept as printed.
    Other(String),
}

/// Persistence-engine data of an entry (e.g. the SIP Call-ID of a `sip`
/// persistence template).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PeData {
    /// Engine name, e.g. `"sip"`.
    pub engine: String,
    /// The engine's data as the kernel prints it (for `sip`, the Call-ID).
    pub data: String,
}

/// One entry of the kernel's connection table: a connection, or a
/// persistence template (client port 0; see [`Connection::is_template`]).
///
/// # Example
/// ```
/// use lvs::Connection;
///
/// let text = "\
/// Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
/// TCP 0A090002 DA1C 0A090064 0051 0A09000B 0051 ESTABLISHED     103
/// ";
/// let conns = Connection::parse_proc(text)?;
/// assert_eq!(conns[0].client, "10.9.0.2:55836".parse().unwrap());
/// assert_eq!(conns[0].destination, "10.9.0.11:81".parse().unwrap());
/// assert_eq!(conns[0].state.as_str(), "ESTABLISHED");
/// assert!(!conns[0].is_template());
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Connection {
    /// Transport protocol; `Other(0)` for a firewall-mark template.
    pub protocol: Protocol,
    /// The client's address and port (port 0 in templates).
    pub client: SocketAddr,
    /// The virtual address and port the client reached (for a
    /// firewall-mark template, the mark as an IPv4 address).
    pub virtual_addr: SocketAddr,
    /// The real server: its family may differ from the client's (tunnels).
    pub destination: SocketAddr,
    /// Protocol state.
    pub state: ConnState,
    /// Time left before the entry expires (whole seconds).
    pub expires: Duration,
    /// Persistence-engine data, from [`Handle::connections`] only.
    pub pe: Option<PeData>,
    /// Origin, from [`Handle::connections_with_origin`] only.
    pub origin: Option<ConnOrigin>,
}

impl Connection {
    /// Whether this is a persistence template rather than a connection:
    /// templates carry client port 0, which no TCP, UDP or SCTP
    /// connection has.
    pub fn is_template(&self) -> bool {
        self.client.port() == 0
    }

    /// Parse the text of `/proc/net/ip_vs_conn` (with persistence-engine
    /// data) or `/proc/net/ip_vs_conn_sync` (with origins), told apart by
    /// the header line, as [`Handle::connections`] and
    /// [`Handle::connections_with_origin`] do: for a table read some other
    /// way (a saved file, another host).
    ///
    /// # Errors
    /// [`ErrorKind::Decode`] naming the line that does not parse.
    pub fn parse_proc(text: &str) -> Result<Vec<Connection>> {
        let header = text.lines().next().unwrap_or_default();
        let table = if header.split_whitespace().any(|w| w == "Origin") {
            Table::Sync
        } else {
            Table::Conn
        };
        parse_table(text, table)
    }
}

#[cfg(target_os = "linux")]
impl Handle {
    /// The connection table of the handle's namespace: every connection
    /// and persistence template, with persistence-engine data (ipvsadm
    /// `-Lnc`).
    ///
    /// Netlink has no such command: this reads `/proc/net/ip_vs_conn` as
    /// the kernel prints it for the handle's namespace. When that is not
    /// the calling thread's namespace, a short-lived helper thread enters
    /// it to read the file (`setns`, which needs `CAP_SYS_ADMIN`); the
    /// calling thread never changes namespace. The table is read in
    /// several chunks, so entries that change while it is read may be
    /// missed or seen twice. Entries come in hash-table order.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] (the file cannot be read, or the namespace
    /// cannot be entered), [`ErrorKind::IpvsUnavailable`] (no such file:
    /// IPVS is not loaded), [`ErrorKind::Decode`] (a line `lvs` cannot
    /// parse).
    ///
    /// It takes `&self`, where the netlink reads take `&mut self`: it
    /// reads a file, not the handle's socket, so it may run beside them.
    pub fn connections(&self) -> Result<Vec<Connection>> {
        let text = read_proc_net(self.netns(), "ip_vs_conn")?;
        parse_table(&text, Table::Conn)
    }

    /// As [`Handle::connections`], with each entry's origin (local, or
    /// synced from a master) and without persistence-engine data: reads
    /// `/proc/net/ip_vs_conn_sync`.
    ///
    /// # Errors
    /// As [`Handle::connections`].
    pub fn connections_with_origin(&self) -> Result<Vec<Connection>> {
        let text = read_proc_net(self.netns(), "ip_vs_conn_sync")?;
        parse_table(&text, Table::Sync)
    }
}

/// Read `/proc/thread-self/net/<name>` in network namespace `ns` (the
/// calling thread's if `None`). `/proc/net` itself would not do: it is
/// `/proc/self/net`, the namespace of the process's main thread.
#[cfg(target_os = "linux")]
fn read_proc_net(ns: Option<BorrowedFd<'_>>, name: &str) -> Result<String> {
    let op = Operation::ListConnections;
    let path = format!("/proc/thread-self/net/{name}");
    let read = {
        let path = path.clone();
        move || std::fs::read_to_string(path)
    };
    let res = match ns {
        Some(ns) if !is_current_netns(ns) => in_netns(ns, read),
        _ => read(),
    };
    res.map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            Error::new(
                op,
                ErrorKind::IpvsUnavailable,
                format!("no {path} in the handle's namespace: is the ip_vs module loaded?"),
            )
        } else {
            let d = format!("reading {path}: {e}");
            Error::io(op, e).with_detail(d)
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// `ip_vs_conn`: `... State Expires [PEName PEData]`.
    Conn,
    /// `ip_vs_conn_sync`: `... State Origin Expires`.
    Sync,
}

fn parse_table(text: &str, table: Table) -> Result<Vec<Connection>> {
    let file = match table {
        Table::Conn => "ip_vs_conn",
        Table::Sync => "ip_vs_conn_sync",
    };
    let bad = |n: usize, why: &str, line: &str| {
        Error::decode(
            Operation::ListConnections,
            format!("{file} line {n}: {why}: {line:?}"),
        )
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.starts_with("Pro ") => {}
        Some((_, h)) => return Err(bad(1, "unexpected header", h)),
        None => return Ok(Vec::new()),
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line, table).map_err(|why| bad(i + 1, why, line))?);
    }
    Ok(out)
}

/// Space-separated fields, keeping what follows the last one taken.
struct Fields<'a>(&'a str);

impl<'a> Fields<'a> {
    fn next(&mut self, what: &'static str) -> Result<&'a str, &'static str> {
        let s = self.0.trim_start_matches(' ');
        let end = s.find(' ').unwrap_or(s.len());
        let (tok, rest) = s.split_at(end);
        self.0 = rest;
        if tok.is_empty() { Err(what) } else { Ok(tok) }
    }
}

fn parse_line(line: &str, table: Table) -> Result<Connection, &'static str> {
    let mut f = Fields(line);
    let protocol = parse_protocol(f.next("no protocol")?).ok_or("unknown protocol")?;
    let mut sock = |what_a, what_p| -> Result<SocketAddr, &'static str> {
        let a = parse_addr(f.next(what_a)?).ok_or(what_a)?;
        let p = u16::from_str_radix(f.next(what_p)?, 16).map_err(|_| what_p)?;
        Ok(SocketAddr::new(a, p))
    };
    let client = sock("bad client address", "bad client port")?;
    let virtual_addr = sock("bad virtual address", "bad virtual port")?;
    let destination = sock("bad destination address", "bad destination port")?;
    let state = ConnState::from_name(f.next("no state")?);
    let origin = match table {
        Table::Sync => Some(match f.next("no origin")? {
            "LOCAL" => ConnOrigin::Local,
            "SYNC" => ConnOrigin::Sync,
            o => ConnOrigin::Other(o.to_owned()),
        }),
        Table::Conn => None,
    };
    let expires = f
        .next("no expiry")?
        .parse::<u64>()
        .map_err(|_| "bad expiry")?;
    // ip_vs_conn prints " <engine> <data>" after the expiry when the entry
    // has persistence-engine data; the data is kept verbatim.
    let pe = match (table, f.0.strip_prefix(' ')) {
        (Table::Conn, Some(rest)) if !rest.is_empty() => {
            let (engine, data) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(PeData {
                engine: engine.to_owned(),
                data: data.to_owned(),
            })
        }
        _ => None,
    };
    Ok(Connection {
        protocol,
        client,
        virtual_addr,
        destination,
        state,
        expires: Duration::from_secs(expires),
        pe,
        origin,
    })
}

/// `ip_vs_proto_name`: a name, or `IP_<n>` for the others.
fn parse_protocol(s: &str) -> Option<Protocol> {
    Some(Protocol::from_number(match s {
        "TCP" => 6,
        "UDP" => 17,
        "SCTP" => 132,
        "IP" => 0,
        "ICMP" => 1,
        "ICMPv6" => 58,
        "IPIP" => 4,
        "GRE" => 47,
        _ => s.strip_prefix("IP_")?.parse().ok()?,
    }))
}

/// IPv4 as 8 hex digits (`%08X` of the host-order address), IPv6 as the
/// kernel's `%pI6` (eight groups of four hex digits).
fn parse_addr(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else if s.len() == 8 {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured in a Debian 6.1 guest: DR, IPv6 service with an IPv4
    // tunnel destination, sip persistence templates, UDP.
    const CONN: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
UDP 0A090002 9C42 0A090064 13C4 0A09000C 13C4 UDP             297
UDP 0A090002 0000 0A090064 13C4 0A09000C 13C4 NONE             57 sip aaa
TCP 0A090002 DA1C 0A090064 0051 0A09000B 0051 FIN_WAIT        103
TCP 2001:0db8:0009:0000:0000:0000:0000:0002 CFDC 2001:0db8:0009:0000:0000:0000:0000:0100 0055 0A09000C 0055 FIN_WAIT        110
";

    const SYNC: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires
TCP 0A000002 AE96 0A000001 0050 0A010002 0050 TIME_WAIT   SYNC       118
TCP 0A000002 AE94 0A000001 0050 0A010002 0050 TIME_WAIT   LOCAL      117
";

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_proc_tells_the_tables_apart() {
        let conn = Connection::parse_proc(CONN).unwrap();
        assert_eq!(conn, parse_table(CONN, Table::Conn).unwrap());
        let sync = Connection::parse_proc(SYNC).unwrap();
        assert_eq!(sync, parse_table(SYNC, Table::Sync).unwrap());
        assert!(sync[0].origin.is_some() && conn[0].origin.is_none());
        assert!(Connection::parse_proc("").unwrap().is_empty());
    }

    #[test]
    fn parses_the_kernel_format() {
        let v = parse_table(CONN, Table::Conn).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[0],
            Connection {
                protocol: Protocol::Udp,
                client: sa("10.9.0.2:40002"),
                virtual_addr: sa("10.9.0.100:5060"),
                destination: sa("10.9.0.12:5060"),
                state: ConnState::Udp,
                expires: Duration::from_secs(297),
                pe: None,
                origin: None,
            }
        );
        assert!(!v[0].is_template());
        assert!(v[1].is_template());
        assert_eq!(v[1].state, ConnState::None);
        assert_eq!(
            v[1].pe,
            Some(PeData {
                engine: "sip".into(),
                data: "aaa".into()
            })
        );
        assert_eq!(v[2].protocol, Protocol::Tcp);
        assert_eq!(v[2].state, ConnState::FinWait);
        assert_eq!(v[2].client, sa("10.9.0.2:55836"));
        assert_eq!(v[3].client, sa("[2001:db8:9::2]:53212"));
        assert_eq!(v[3].virtual_addr, sa("[2001:db8:9::100]:85"));
        assert_eq!(v[3].destination, sa("10.9.0.12:85"));

        let s = parse_table(SYNC, Table::Sync).unwrap();
        assert_eq!(s[0].origin, Some(ConnOrigin::Sync));
        assert_eq!(s[1].origin, Some(ConnOrigin::Local));
        assert_eq!(s[0].state, ConnState::TimeWait);
        assert_eq!(s[0].expires, Duration::from_secs(118));
        assert_eq!(s[0].pe, None);
    }

    #[test]
    fn protocols_and_states_round_trip() {
        assert_eq!(parse_protocol("IP"), Some(Protocol::Other(0)));
        assert_eq!(parse_protocol("IP_50"), Some(Protocol::Other(50)));
        assert_eq!(parse_protocol("SCTP"), Some(Protocol::Sctp));
        assert_eq!(parse_protocol("ERR!"), None);
        for s in [
            "NONE",
            "ASSURED",
            "ESTABLISHED",
            "SYN_RECV",
            "CLOSE_WAIT",
            "UDP",
            "COOKIE_ECHOED",
        ] {
            assert_eq!(ConnState::from_name(s).as_str(), s);
        }
    }

    #[test]
    fn bad_lines_are_decode_errors() {
        let header = CONN.lines().next().unwrap();
        for line in [
            "TCP 0A09000 DA1C 0A090064 0051 0A09000B 0051 FIN_WAIT 1",
            "TCP 0A090002 DA1C 0A090064 0051 0A09000B 0051 FIN_WAIT",
            "TCP 0A090002 DA1C 0A090064 0051 0A09000B 10051 FIN_WAIT 1",
            "XYZ 0A090002 DA1C 0A090064 0051 0A09000B 0051 FIN_WAIT 1",
            "TCP 0A090002",
        ] {
            let e = parse_table(&format!("{header}\n{line}\n"), Table::Conn).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode, "{line}");
            assert!(e.to_string().contains("line 2"), "{e}");
        }
        assert!(parse_table("garbage\n", Table::Conn).is_err());
        assert_eq!(parse_table("", Table::Conn).unwrap(), vec![]);
        assert_eq!(parse_table(header, Table::Conn).unwrap(), vec![]);
    }
}
