//! ipvsadm's spellings of the model's values: the C library's address
//! forms (`inet_aton`, glibc's `inet_ntop`) that ipvsadm's text goes
//! through, and the key, scheduler and forwarding words it prints.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{
    AddressFamily, Forwarding, GueChecksum, HashFlags, Protocol, Scheduler, ServiceKey, Tunnel,
};
use crate::error::{Error, Operation};

/// C's `strtoul(s, &end, 0)` over all of `s`: decimal, `0x` hex or
/// leading-`0` octal, no sign; `None` if `s` is not all digits of its base.
fn c_number(s: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// C's `inet_aton`: one to four numbers (each decimal, octal or hex), the
/// last filling the remaining bytes (`10.1` is `10.0.0.1`).
pub(crate) fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| c_number(p)).collect::<Option<_>>()?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let rest_bits = 8 * (4 - head.len() as u32);
    if rest_bits < 64 && *last >= 1u64 << rest_bits {
        return None;
    }
    let mut v: u32 = 0;
    for (i, &n) in head.iter().enumerate() {
        v |= (n as u32) << (24 - 8 * i as u32);
    }
    Some(Ipv4Addr::from(v | *last as u32))
}

/// glibc's `inet_ntop(AF_INET6)`: as RFC 5952 (the longest run of two or
/// more zero groups becomes `::`, the first on a tie), except that an
/// address whose first 96 bits are zero (IPv4-compatible, but not `::` or
/// `::1`-like runs of seven) or `::ffff:0:0/96` ends in dotted IPv4.
pub(crate) fn ntop6(ip: Ipv6Addr) -> String {
    let w = ip.segments();
    // The best run of zero groups (start, len), len >= 2.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            let len = i - start;
            if len >= 2 && best.is_none_or(|(_, l)| len > l) {
                best = Some((start, len));
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if let Some((s, l)) = best
            && i == s
        {
            out.push(':');
            i += l;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        // Dotted IPv4 tail: ::a.b.c.d (first 6 groups zero) or ::ffff:a.b.c.d.
        if i == 6 && best.is_some_and(|(s, l)| s == 0 && (l == 6 || (l == 5 && w[5] == 0xffff))) {
            let o = ip.octets();
            out.push_str(&format!("{}.{}.{}.{}", o[12], o[13], o[14], o[15]));
            return out;
        }
        out.push_str(&format!("{:x}", w[i]));
        i += 1;
    }
    out
}

/// An address as ipvsadm prints it numerically: glibc's `inet_ntop`, whose
/// IPv6 spelling differs from Rust's `Display` for addresses with an
/// embedded IPv4 tail (`::0.2.0.3` where Rust writes `::2:3`).
///
/// ```
/// use std::net::IpAddr;
/// assert_eq!(lvs::rules::ntop("::2:3".parse::<IpAddr>().unwrap()), "::0.2.0.3");
/// assert_eq!(lvs::rules::ntop("::2".parse::<IpAddr>().unwrap()), "::2");
/// assert_eq!(lvs::rules::ntop("::ffff:1.2.3.4".parse::<IpAddr>().unwrap()), "::ffff:1.2.3.4");
/// ```
pub fn ntop(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => ntop6(v6),
    }
}

/// A socket address as ipvsadm prints it numerically: `10.0.0.1:80`,
/// `[2001:db8::1]:80`, with glibc's IPv6 spelling (`[::0.2.0.3]:80` where
/// Rust's `SocketAddr` writes `[::2:3]:80`).
///
/// ```
/// use lvs::IpvsadmAddr;
/// let a: std::net::SocketAddr = "[2001:db8::7]:443".parse().unwrap();
/// assert_eq!(IpvsadmAddr(a).to_string(), "[2001:db8::7]:443");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpvsadmAddr(pub SocketAddr);

impl fmt::Display for IpvsadmAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SocketAddr::V4(a) => write!(f, "{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => write!(f, "[{}]:{}", ntop6(*a.ip()), a.port()),
        }
    }
}

/// A [`ServiceKey`] as ipvsadm spells it, from [`ServiceKey::ipvsadm`].
///
/// `{}` is the listing form (`ipvsadm -L -n`): `TCP  10.0.0.1:80`,
/// `UDP  [2001:db8::1]:53`, `SCTP 10.0.0.1:3868`, `FWM  42`, `FWM  42
/// IPv6`; as ipvsadm, a mark above 2^31 - 1 prints negative (`FWM
/// -294967296` for 4000000000). `{:#}` is the rule form (`ipvsadm -S
/// -n`): `-t 10.0.0.1:80`, `-u [2001:db8::1]:53`, `--sctp-service
/// 10.0.0.1:3868`, `-f 42`, `-f 42 -6`, marks unsigned (what `ipvsadm
/// -R` reads). [`ServiceKey`]'s `FromStr` reads both.
///
/// ```
/// use lvs::{AddressFamily, ServiceKey};
/// let web = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// assert_eq!(web.ipvsadm().to_string(), "TCP  10.0.0.1:80");
/// assert_eq!(format!("{:#}", web.ipvsadm()), "-t 10.0.0.1:80");
/// let marked = ServiceKey::fwmark(AddressFamily::Inet6, 42);
/// assert_eq!(marked.ipvsadm().to_string(), "FWM  42 IPv6");
/// assert_eq!(format!("{:#}", marked.ipvsadm()), "-f 42 -6");
/// assert_eq!("FWM  42 IPv6".parse::<ServiceKey>()?, marked);
/// assert_eq!("-t 10.0.0.1:80".parse::<ServiceKey>()?, web);
/// # Ok::<(), lvs::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpvsadmKey(pub ServiceKey);

impl fmt::Display for IpvsadmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, f.alternate()) {
            (ServiceKey::Fwmark { family, mark }, false) => {
                // ipvsadm prints the mark with %d.
                write!(f, "FWM  {}", mark as i32)?;
                if family == AddressFamily::Inet6 {
                    f.write_str(" IPv6")?;
                }
                Ok(())
            }
            (ServiceKey::Fwmark { family, mark }, true) => {
                write!(f, "-f {mark}")?;
                if family == AddressFamily::Inet6 {
                    f.write_str(" -6")?;
                }
                Ok(())
            }
            (ServiceKey::Addr { protocol, addr }, false) => {
                let name = match protocol {
                    Protocol::Tcp => "TCP",
                    Protocol::Udp => "UDP",
                    Protocol::Sctp => "SCTP",
                    Protocol::Other(_) => "?",
                };
                write!(f, "{name:<4} {}", IpvsadmAddr(addr))
            }
            (ServiceKey::Addr { protocol, addr }, true) => {
                write!(f, "{} {}", protocol_switch(protocol), IpvsadmAddr(addr))
            }
        }
    }
}

/// ipvsadm's option for a protocol's services (`--xxx-service`, as
/// `ipvsadm -S` prints it, for protocols it has none for).
pub(crate) fn protocol_switch(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "-t",
        Protocol::Udp => "-u",
        Protocol::Sctp => "--sctp-service",
        Protocol::Other(_) => "--xxx-service",
    }
}

impl ServiceKey {
    /// This key in ipvsadm's spelling: see [`IpvsadmKey`].
    pub fn ipvsadm(&self) -> IpvsadmKey {
        IpvsadmKey(*self)
    }
}

/// The ipvsadm forms of a key, for `ServiceKey`'s `FromStr`: `FWM  42`,
/// `FWM  42 IPv6`, `-t ADDR:PORT`, `-u ...`, `--sctp-service ...`, `-f
/// 42`, `-f 42 -6`. `None` when `words` is none of them.
pub(crate) fn ipvsadm_key(words: &[&str]) -> Option<ServiceKey> {
    let addr = |s: &str| s.parse::<SocketAddr>().ok();
    // The listing prints marks with %d: negative above 2^31 - 1.
    let listed = |s: &str| {
        s.parse::<u32>()
            .ok()
            .or_else(|| s.parse::<i32>().ok().filter(|m| *m < 0).map(|m| m as u32))
    };
    Some(match words {
        [fwm, mark] if fwm.eq_ignore_ascii_case("fwm") => ServiceKey::Fwmark {
            family: AddressFamily::Inet,
            mark: listed(mark)?,
        },
        [fwm, mark, v6] if fwm.eq_ignore_ascii_case("fwm") && v6.eq_ignore_ascii_case("ipv6") => {
            ServiceKey::Fwmark {
                family: AddressFamily::Inet6,
                mark: listed(mark)?,
            }
        }
        ["-f" | "--fwmark-service", mark] => ServiceKey::Fwmark {
            family: AddressFamily::Inet,
            mark: mark.parse().ok()?,
        },
        ["-f" | "--fwmark-service", mark, "-6" | "--ipv6"] => ServiceKey::Fwmark {
            family: AddressFamily::Inet6,
            mark: mark.parse().ok()?,
        },
        ["-t" | "--tcp-service", a] => ServiceKey::tcp(addr(a)?),
        ["-u" | "--udp-service", a] => ServiceKey::udp(addr(a)?),
        ["--sctp-service", a] => ServiceKey::sctp(addr(a)?),
        _ => return None,
    })
}

impl fmt::Display for GueChecksum {
    /// ipvsadm's `--tun-info` word: `-c` (none), `+c` (checksum), `r+c`
    /// (remote checksum offload).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GueChecksum::None => "-c",
            GueChecksum::Checksum => "+c",
            GueChecksum::RemoteChecksum => "r+c",
        })
    }
}

impl GueChecksum {
    /// ipvsadm's option for it: `--tun-nocsum`, `--tun-csum`, `--tun-remcsum`.
    pub fn ipvsadm_option(&self) -> &'static str {
        match self {
            GueChecksum::None => "--tun-nocsum",
            GueChecksum::Checksum => "--tun-csum",
            GueChecksum::RemoteChecksum => "--tun-remcsum",
        }
    }
}

/// ipvsadm's `--tun-info` column: `ipip`, `gue:6080:-c`, `gue:6080:+c`,
/// `gue:6080:r+c`, `gre:-c`, `gre:+c` (and `type 9 port 0 flags 0x0` for
/// a tunnel lvs does not model). `FromStr` reads the same, and also the
/// bare `gue:6080` (no checksum) and `gre`.
///
/// ```
/// use lvs::{GueChecksum, Tunnel};
/// let gue = Tunnel::Gue { port: 6080, checksum: GueChecksum::RemoteChecksum };
/// assert_eq!(gue.to_string(), "gue:6080:r+c");
/// assert_eq!("gue:6080:r+c".parse::<Tunnel>()?, gue);
/// assert_eq!("gre:+c".parse::<Tunnel>()?, Tunnel::Gre { checksum: true });
/// # Ok::<(), lvs::Error>(())
/// ```
impl fmt::Display for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tunnel::Ipip => f.write_str("ipip"),
            Tunnel::Gue { port, checksum } => write!(f, "gue:{port}:{checksum}"),
            Tunnel::Gre { checksum } => f.write_str(if *checksum { "gre:+c" } else { "gre:-c" }),
            Tunnel::Other { kind, port, flags } => {
                write!(f, "type {kind} port {port} flags {flags:#x}")
            }
        }
    }
}

impl std::str::FromStr for Tunnel {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || {
            Error::invalid(
                Operation::Validate,
                "destination.forwarding",
                format!(
                    "{text:?} is not a tunnel (\"ipip\", \"gue:6080:-c\", \"gue:6080:+c\", \
                     \"gue:6080:r+c\", \"gre:-c\", \"gre:+c\")"
                ),
            )
        };
        let parts: Vec<&str> = text.split(':').collect();
        let gue_csum = |s: &str| match s {
            "-c" => Some(GueChecksum::None),
            "+c" => Some(GueChecksum::Checksum),
            "r+c" => Some(GueChecksum::RemoteChecksum),
            _ => None,
        };
        Ok(match parts.as_slice() {
            ["ipip"] => Tunnel::Ipip,
            ["gue", port] | ["gue", port, _] => Tunnel::Gue {
                port: port.parse().ok().filter(|p| *p != 0).ok_or_else(bad)?,
                checksum: match parts.get(2) {
                    Some(c) => gue_csum(c).ok_or_else(bad)?,
                    None => GueChecksum::None,
                },
            },
            ["gre"] | ["gre", "-c"] => Tunnel::Gre { checksum: false },
            ["gre", "+c"] => Tunnel::Gre { checksum: true },
            _ => return Err(bad()),
        })
    }
}

impl Forwarding {
    /// ipvsadm's `Forward` column: `Masq`, `Route`, `Tunnel`, `Local`
    /// (empty for a method number the kernel has no transmitter for).
    pub fn ipvsadm_name(&self) -> &'static str {
        match self {
            Forwarding::Masquerade => "Masq",
            Forwarding::DirectRoute => "Route",
            Forwarding::Tunnel(_) => "Tunnel",
            Forwarding::Local => "Local",
            Forwarding::Other(_) => "",
        }
    }

    /// ipvsadm's option for it, as `ipvsadm -S` prints it: `-m`, `-g`,
    /// `-i`; local-node forwarding prints as `-g` (ipvsadm has no option
    /// for it), a method with no transmitter as `(null)`.
    pub fn ipvsadm_switch(&self) -> &'static str {
        match self {
            Forwarding::Masquerade => "-m",
            Forwarding::DirectRoute | Forwarding::Local => "-g",
            Forwarding::Tunnel(_) => "-i",
            Forwarding::Other(_) => "(null)",
        }
    }
}

/// Reads ipvsadm's words for a forwarding method: the `Forward` column
/// (`Masq`, `Route`, `Local`, `Tunnel`: an ipip tunnel), the options
/// (`-m`, `-g`, `-i`, `--masquerading`, `--gatewaying`, `--ipip`), and
/// what `Display` writes (`Tunnel(gue:6080:+c)`). Case-insensitive.
///
/// ```
/// use lvs::{Forwarding, GueChecksum, Tunnel};
/// assert_eq!("Route".parse::<Forwarding>()?, Forwarding::DirectRoute);
/// assert_eq!("-m".parse::<Forwarding>()?, Forwarding::Masquerade);
/// let gue = Forwarding::Tunnel(Tunnel::Gue { port: 6080, checksum: GueChecksum::Checksum });
/// assert_eq!(gue.to_string(), "Tunnel(gue:6080:+c)");
/// assert_eq!(gue.to_string().parse::<Forwarding>()?, gue);
/// assert_eq!(gue.ipvsadm_name(), "Tunnel");
/// # Ok::<(), lvs::Error>(())
/// ```
impl std::str::FromStr for Forwarding {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let lower = text.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "masq" | "-m" | "--masquerading" => Forwarding::Masquerade,
            "route" | "-g" | "--gatewaying" => Forwarding::DirectRoute,
            "local" => Forwarding::Local,
            "tunnel" | "-i" | "--ipip" => Forwarding::Tunnel(Tunnel::Ipip),
            t => match t.strip_prefix("tunnel(").and_then(|t| t.strip_suffix(')')) {
                Some(inner) => Forwarding::Tunnel(inner.parse()?),
                None => {
                    return Err(Error::invalid(
                        Operation::Validate,
                        "destination.forwarding",
                        format!(
                            "{text:?} is not a forwarding method (\"Masq\", \"Route\", \
                             \"Local\", \"Tunnel\", \"Tunnel(gue:6080:+c)\", \"-m\", \"-g\", \"-i\")"
                        ),
                    ));
                }
            },
        })
    }
}

/// Reads what `Display` writes, which is ipvsadm's listing: a scheduler
/// name, then for `sh`/`mh` their flags in parentheses (`sh
/// (sh-fallback,sh-port)`, `mh (mh-port)`). A name the kernel does not
/// build in becomes [`Scheduler::Custom`].
///
/// ```
/// use lvs::{HashFlags, Scheduler};
/// let sh = Scheduler::Sh(HashFlags { fallback: true, port: true });
/// assert_eq!(sh.to_string(), "sh (sh-fallback,sh-port)");
/// assert_eq!("sh (sh-fallback,sh-port)".parse::<Scheduler>()?, sh);
/// assert_eq!("wrr".parse::<Scheduler>()?, Scheduler::Wrr);
/// # Ok::<(), lvs::Error>(())
/// ```
impl std::str::FromStr for Scheduler {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (name, flags) = match text.trim().split_once(' ') {
            Some((n, rest)) => (n, Some(rest.trim())),
            None => (text.trim(), None),
        };
        let mut s = Scheduler::from_name(name)?;
        if let Some(flags) = flags {
            let bad = || {
                Error::invalid(
                    Operation::Validate,
                    "scheduler",
                    format!("{text:?}: expected scheduler flags such as \"(sh-fallback,sh-port)\""),
                )
            };
            let inner = flags
                .strip_prefix('(')
                .and_then(|f| f.strip_suffix(')'))
                .ok_or_else(bad)?;
            let mut h = HashFlags::default();
            for flag in inner.split(',') {
                match sched_flag(&s, flag.trim()) {
                    Some(SchedFlag::Fallback) => h.fallback = true,
                    Some(SchedFlag::Port) => h.port = true,
                    None => return Err(bad()),
                }
            }
            s = match s {
                Scheduler::Sh(_) => Scheduler::Sh(h),
                Scheduler::Mh(_) => Scheduler::Mh(h),
                _ => return Err(bad()),
            };
        }
        Ok(s)
    }
}

/// The two scheduler flags `lvs` models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchedFlag {
    /// `sh-fallback` / `mh-fallback` / `flag-1` (`IP_VS_SVC_F_SCHED1`).
    Fallback,
    /// `sh-port` / `mh-port` / `flag-2` (`IP_VS_SVC_F_SCHED2`).
    Port,
}

/// The flag ipvsadm's `-b` word names for scheduler `s`: `sh-*` only for
/// `sh`, `mh-*` only for `mh`, `flag-1`/`flag-2` (their bits) for either.
pub(crate) fn sched_flag(s: &Scheduler, word: &str) -> Option<SchedFlag> {
    match (s, word) {
        (Scheduler::Sh(_), "sh-fallback") | (Scheduler::Mh(_), "mh-fallback") => {
            Some(SchedFlag::Fallback)
        }
        (Scheduler::Sh(_), "sh-port") | (Scheduler::Mh(_), "mh-port") => Some(SchedFlag::Port),
        (Scheduler::Sh(_) | Scheduler::Mh(_), "flag-1") => Some(SchedFlag::Fallback),
        (Scheduler::Sh(_) | Scheduler::Mh(_), "flag-2") => Some(SchedFlag::Port),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_aton_takes_what_c_takes() {
        for (s, want) in [
            ("10.0.0.1", Some([10, 0, 0, 1])),
            ("10.1", Some([10, 0, 0, 1])),
            ("10.1.2", Some([10, 1, 0, 2])),
            ("167772161", Some([10, 0, 0, 1])),
            ("0x0a.0.0.010", Some([10, 0, 0, 8])),
            ("256.0.0.1", None),
            ("1.2.3.4.5", None),
            ("1..2", None),
            ("a.b", None),
            ("", None),
        ] {
            assert_eq!(inet_aton(s), want.map(Ipv4Addr::from), "{s}");
        }
    }

    #[test]
    fn ntop6_matches_glibc() {
        for (s, want) in [
            ("2001:db8::1", "2001:db8::1"),
            ("::1", "::1"),
            ("::", "::"),
            ("::2:3", "::0.2.0.3"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
            ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("fe80::", "fe80::"),
        ] {
            assert_eq!(ntop6(s.parse().unwrap()), want, "{s}");
        }
    }
}
