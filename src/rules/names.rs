//! Names where ipvsadm takes or prints them: service (port) names from
//! `/etc/services`, host names from `/etc/hosts` (and, when parsing, the
//! system resolver).

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::sync::OnceLock;

use crate::model::Protocol;

/// `/etc/services` as (name or alias, port, protocol name), in file order.
fn services() -> &'static [(String, u16, String)] {
    static TABLE: OnceLock<Vec<(String, u16, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = std::fs::read_to_string("/etc/services").unwrap_or_default();
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(name), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            for n in std::iter::once(name).chain(words) {
                out.push((n.to_owned(), port, proto.to_ascii_lowercase()));
            }
        }
        out
    })
}

/// The protocol name `/etc/services` uses, for the protocols ipvsadm
/// looks names up for.
fn proto_name(protocol: Option<Protocol>) -> Option<&'static str> {
    match protocol? {
        Protocol::Tcp => Some("tcp"),
        Protocol::Udp => Some("udp"),
        Protocol::Sctp => Some("sctp"),
        Protocol::Other(_) => None,
    }
}

/// The port of service `name` for `protocol` (`getservbyname`), e.g.
/// `http` -> 80 for TCP.
pub(crate) fn port_of(name: &str, protocol: Option<Protocol>) -> Option<u16> {
    let p = proto_name(protocol)?;
    services()
        .iter()
        .find(|(n, _, pr)| n == name && pr == p)
        .map(|(_, port, _)| *port)
}

/// The service name of `port` for `protocol` (`getservbyport`: the first
/// line's official name), if `/etc/services` has one.
pub(crate) fn service_of(port: u16, protocol: Option<Protocol>) -> Option<&'static str> {
    let p = proto_name(protocol)?;
    // The official name is the first word of its line: the first entry
    // with this port and protocol (aliases follow it).
    services()
        .iter()
        .find(|(_, po, pr)| *po == port && pr == p)
        .map(|(n, _, _)| n.as_str())
}

/// `/etc/hosts` as (address, official name), in file order.
fn hosts() -> &'static [(IpAddr, String)] {
    static TABLE: OnceLock<Vec<(IpAddr, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_whitespace();
                let ip = words.next()?.parse::<IpAddr>().ok()?;
                Some((ip, words.next()?.to_owned()))
            })
            .collect()
    })
}

/// The host name of `ip` (`gethostbyaddr` through `/etc/hosts` only: the
/// DNS is not asked, so a name only DNS knows prints as the address).
pub(crate) fn host_of(ip: IpAddr) -> Option<&'static str> {
    hosts()
        .iter()
        .find(|(a, _)| *a == ip)
        .map(|(_, n)| n.as_str())
}

/// The first IPv4 address of host `name` (`gethostbyname`, which ipvsadm
/// uses: IPv4 only), through the system resolver.
pub(crate) fn resolve_v4(name: &str) -> Option<Ipv4Addr> {
    if let Some((ip, _)) = hosts().iter().find(|(ip, n)| n == name && ip.is_ipv4()) {
        return match ip {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        };
    }
    (name, 0)
        .to_socket_addrs()
        .ok()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}
