//! Reading rules: one line (one ipvsadm command line) at a time, with
//! ipvsadm 1.31's options, defaults and checks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::{ParseError, Rule, names};
use crate::model::{
    AddressFamily, Destination, Forwarding, GueChecksum, HashFlags, Netmask, Persistence, Protocol,
    SchedFlag, Scheduler, Service, ServiceKey, Timeouts, Tunnel, inet_aton, sched_flag,
};

/// How [`Rules::parse_with`](super::Rules::parse_with) reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// Accept service names for ports (`10.0.0.1:http`, from
    /// `/etc/services`) and IPv4 host names (`/etc/hosts`, then the
    /// system resolver), as ipvsadm does. Default `true`; `false` accepts
    /// numbers only and never touches a file or the network.
    pub names: bool,
    /// Refuse what ipvsadm 1.31 refuses although the kernel takes it:
    /// weights above 65535 and persistence timeouts above 2678400 s (31
    /// days). Default `false`: the model's limits, so that whatever `lvs`
    /// can write to the kernel reads back from its text.
    pub ipvsadm_limits: bool,
    /// Accept scheduler names the kernel does not build in
    /// ([`Scheduler::Custom`]), as ipvsadm does (the kernel then refuses
    /// a module it cannot load). Default `false`: an unknown name such as
    /// `rrr` is a parse error naming the known ones.
    pub custom_schedulers: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            names: true,
            ipvsadm_limits: false,
            custom_schedulers: false,
        }
    }
}

impl ParseOptions {
    /// Numbers only: no name lookups.
    pub fn numeric() -> Self {
        ParseOptions {
            names: false,
            ..ParseOptions::default()
        }
    }

    /// What ipvsadm 1.31 accepts: its limits
    /// ([`ParseOptions::ipvsadm_limits`]), any scheduler name, names on.
    pub fn ipvsadm() -> Self {
        ParseOptions {
            ipvsadm_limits: true,
            custom_schedulers: true,
            ..ParseOptions::default()
        }
    }
}

/// A word of a line and where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) text: &'a str,
    /// 1-based column in characters.
    pub(super) column: usize,
}

/// The words of a line, as ipvsadm's restore splits it: at spaces, tabs
/// and carriage returns; the word `ipvsadm` dropped wherever it stands;
/// from a word starting with `#`, the rest of the line is a comment.
pub(super) fn tokens(line: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, column)
    let mut words = Vec::new();
    for (col, (byte, ch)) in line.char_indices().enumerate() {
        let blank = matches!(ch, ' ' | '\t' | '\r');
        match (start, blank) {
            (None, false) => start = Some((byte, col + 1)),
            (Some((s, c)), true) => {
                words.push((s, byte, c));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((s, c)) = start {
        words.push((s, line.len(), c));
    }
    for (s, e, c) in words {
        let text = &line[s..e];
        if text.starts_with('#') {
            break;
        }
        if text == "ipvsadm" {
            continue;
        }
        out.push(Token { text, column: c });
    }
    out
}

/// What an option is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Id {
    // Commands.
    AddService,
    EditService,
    DeleteService,
    Clear,
    AddServer,
    EditServer,
    DeleteServer,
    Set,
    OtherCommand,
    // Options of rule commands.
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gatewaying,
    Weight,
    UThreshold,
    LThreshold,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    TunType,
    TunPort,
    TunNocsum,
    TunCsum,
    TunRemcsum,
    // Options of other commands (illegal in rules).
    OtherOption,
}

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Yes,
    Optional,
}

/// ipvsadm 1.31's options: long name, short letter, value, meaning.
const OPTIONS: &[(&str, Option<char>, Arg, Id)] = &[
    ("add-service", Some('A'), Arg::No, Id::AddService),
    ("edit-service", Some('E'), Arg::No, Id::EditService),
    ("delete-service", Some('D'), Arg::No, Id::DeleteService),
    ("clear", Some('C'), Arg::No, Id::Clear),
    ("list", Some('L'), Arg::No, Id::OtherCommand),
    ("list", Some('l'), Arg::No, Id::OtherCommand),
    ("zero", Some('Z'), Arg::No, Id::OtherCommand),
    ("add-server", Some('a'), Arg::No, Id::AddServer),
    ("edit-server", Some('e'), Arg::No, Id::EditServer),
    ("delete-server", Some('d'), Arg::No, Id::DeleteServer),
    ("set", None, Arg::No, Id::Set),
    ("help", Some('h'), Arg::No, Id::OtherCommand),
    ("version", Some('v'), Arg::No, Id::OtherCommand),
    ("restore", Some('R'), Arg::No, Id::OtherCommand),
    ("save", Some('S'), Arg::No, Id::OtherCommand),
    ("start-daemon", None, Arg::Yes, Id::OtherCommand),
    ("stop-daemon", None, Arg::Yes, Id::OtherCommand),
    ("tcp-service", Some('t'), Arg::Yes, Id::Tcp),
    ("udp-service", Some('u'), Arg::Yes, Id::Udp),
    ("sctp-service", None, Arg::Yes, Id::Sctp),
    ("fwmark-service", Some('f'), Arg::Yes, Id::Fwmark),
    ("scheduler", Some('s'), Arg::Yes, Id::Scheduler),
    ("persistent", Some('p'), Arg::Optional, Id::Persistent),
    ("netmask", Some('M'), Arg::Yes, Id::Netmask),
    ("real-server", Some('r'), Arg::Yes, Id::RealServer),
    ("masquerading", Some('m'), Arg::No, Id::Masq),
    ("ipip", Some('i'), Arg::No, Id::Ipip),
    ("gatewaying", Some('g'), Arg::No, Id::Gatewaying),
    ("weight", Some('w'), Arg::Yes, Id::Weight),
    ("u-threshold", Some('x'), Arg::Yes, Id::UThreshold),
    ("l-threshold", Some('y'), Arg::Yes, Id::LThreshold),
    ("numeric", Some('n'), Arg::No, Id::OtherOption),
    ("connection", Some('c'), Arg::No, Id::OtherOption),
    ("mcast-interface", None, Arg::Yes, Id::OtherOption),
    ("syncid", None, Arg::Yes, Id::OtherOption),
    ("timeout", None, Arg::No, Id::OtherOption),
    ("daemon", None, Arg::No, Id::OtherOption),
    ("stats", None, Arg::No, Id::OtherOption),
    ("rate", None, Arg::No, Id::OtherOption),
    ("thresholds", None, Arg::No, Id::OtherOption),
    ("persistent-conn", None, Arg::No, Id::OtherOption),
    ("nosort", None, Arg::No, Id::OtherOption),
    ("sort", None, Arg::No, Id::OtherOption),
    ("exact", Some('X'), Arg::No, Id::OtherOption),
    ("ipv6", Some('6'), Arg::No, Id::Ipv6),
    ("ops", Some('o'), Arg::No, Id::Ops),
    ("pe", None, Arg::Yes, Id::Pe),
    ("sched-flags", Some('b'), Arg::Yes, Id::SchedFlags),
    ("mcast-group", None, Arg::Yes, Id::OtherOption),
    ("mcast-port", None, Arg::Yes, Id::OtherOption),
    ("mcast-ttl", None, Arg::Yes, Id::OtherOption),
    ("sync-maxlen", None, Arg::Yes, Id::OtherOption),
    ("tun-info", None, Arg::No, Id::OtherOption),
    ("tun-type", None, Arg::Yes, Id::TunType),
    ("tun-port", None, Arg::Yes, Id::TunPort),
    ("tun-nocsum", None, Arg::No, Id::TunNocsum),
    ("tun-csum", None, Arg::No, Id::TunCsum),
    ("tun-remcsum", None, Arg::No, Id::TunRemcsum),
];

/// ipvsadm's name for an option in its messages (`optnames[]`).
fn option_name(id: Id) -> &'static str {
    match id {
        Id::Tcp | Id::Udp | Id::Sctp | Id::Fwmark => "service-address",
        Id::Scheduler => "scheduler",
        Id::Persistent => "persistent",
        Id::Netmask => "netmask",
        Id::RealServer => "real-server",
        Id::Masq | Id::Ipip | Id::Gatewaying => "forwarding-method",
        Id::Weight => "weight",
        Id::UThreshold => "u-threshold",
        Id::LThreshold => "l-threshold",
        Id::Ops => "ops",
        Id::Pe => "pe",
        Id::SchedFlags => "sched-flags",
        Id::TunType => "tun-type",
        Id::TunPort => "tun-port",
        Id::TunNocsum => "tun-nocsum",
        Id::TunCsum => "tun-csum",
        Id::TunRemcsum => "tun-remcsum",
        _ => "option",
    }
}

/// ipvsadm's name for a command in its messages (`cmdnames[]`).
fn command_name(id: Id) -> &'static str {
    match id {
        Id::AddService => "add-service",
        Id::EditService => "edit-service",
        Id::DeleteService => "delete-service",
        Id::Clear => "flush",
        Id::AddServer => "add-server",
        Id::EditServer => "edit-server",
        Id::DeleteServer => "delete-server",
        Id::Set => "set",
        _ => "command",
    }
}

/// Whether option `opt` may go with command `cmd` (ipvsadm's
/// `commands_v_options`, for the rule commands). `-6` is always allowed.
fn allowed(cmd: Id, opt: Id) -> bool {
    use Id::*;
    let service_side = matches!(
        opt,
        Tcp | Udp | Sctp | Fwmark | Ipv6 | Scheduler | Persistent | Netmask | Ops | Pe | SchedFlags
    );
    let server_side = matches!(
        opt,
        Tcp | Udp
            | Sctp
            | Fwmark
            | Ipv6
            | RealServer
            | Masq
            | Ipip
            | Gatewaying
            | Weight
            | UThreshold
            | LThreshold
            | TunType
            | TunPort
            | TunNocsum
            | TunCsum
            | TunRemcsum
    );
    match cmd {
        AddService | EditService => service_side,
        DeleteService => matches!(opt, Tcp | Udp | Sctp | Fwmark | Ipv6),
        AddServer | EditServer => server_side,
        DeleteServer => matches!(opt, Tcp | Udp | Sctp | Fwmark | Ipv6 | RealServer),
        _ => opt == Ipv6,
    }
}

/// A value found on the line: the option it belongs to, its text, where.
#[derive(Debug, Clone, Copy)]
struct Found<'a> {
    id: Id,
    /// How the option was spelled (for messages).
    spelled: &'a str,
    /// Column of the option.
    column: usize,
    value: Option<Token<'a>>,
}

fn err(line: usize, column: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        column,
        message: message.into(),
    }
}

/// Split a line's words into options (with their values) and other
/// arguments, the way popt does for ipvsadm.
fn options<'a>(
    tokens: &[Token<'a>],
    line: usize,
) -> Result<(Vec<Found<'a>>, Vec<Token<'a>>), ParseError> {
    let mut found = Vec::new();
    let mut args = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        i += 1;
        if let Some(long) = t.text.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (
                    n,
                    Some(Token {
                        text: v,
                        column: t.column + 3 + n.chars().count(),
                    }),
                ),
                None => (long, None),
            };
            let Some(&(_, _, arg, id)) = OPTIONS.iter().find(|o| o.0 == name) else {
                return Err(err(
                    line,
                    t.column,
                    format!("expected an ipvsadm option, found {:?}", t.text),
                ));
            };
            let value = match (arg, attached) {
                (Arg::No, Some(v)) => {
                    return Err(err(
                        line,
                        v.column,
                        format!("option --{name} takes no value, found {:?}", v.text),
                    ));
                }
                (Arg::No, None) => None,
                (_, Some(v)) => Some(v),
                (Arg::Yes, None) => {
                    let v = tokens.get(i).copied().ok_or_else(|| {
                        err(
                            line,
                            t.column + t.text.chars().count(),
                            format!("expected a value after --{name}, found the end of the line"),
                        )
                    })?;
                    i += 1;
                    Some(v)
                }
                (Arg::Optional, None) => match tokens.get(i) {
                    Some(v) if !v.text.starts_with('-') => {
                        i += 1;
                        Some(*v)
                    }
                    _ => None,
                },
            };
            found.push(Found {
                id,
                spelled: t.text,
                column: t.column,
                value,
            });
        } else if t.text.len() > 1 && t.text.starts_with('-') {
            // Short options, possibly bundled (-Sn); a value may follow
            // its letter in the same word (-w3) or be the next word.
            for (k, (byte, c)) in t.text.char_indices().enumerate().skip(1) {
                let Some(&(_, _, arg, id)) = OPTIONS.iter().find(|o| o.1 == Some(c)) else {
                    return Err(err(
                        line,
                        t.column + k,
                        format!("expected an ipvsadm option, found \"-{c}\""),
                    ));
                };
                let rest = &t.text[byte + c.len_utf8()..];
                let spelled = &t.text[byte - 1..byte + c.len_utf8()];
                let spelled = if k == 1 { spelled } else { &t.text[..byte + 1] };
                let attached = (!rest.is_empty()).then_some(Token {
                    text: rest,
                    column: t.column + k + 1,
                });
                let value = match arg {
                    Arg::No => None,
                    Arg::Yes if attached.is_some() => attached,
                    Arg::Yes => {
                        let v = tokens.get(i).copied().ok_or_else(|| {
                            err(
                                line,
                                t.column + t.text.chars().count(),
                                format!("expected a value after -{c}, found the end of the line"),
                            )
                        })?;
                        i += 1;
                        Some(v)
                    }
                    Arg::Optional if attached.is_some() => attached,
                    Arg::Optional => match tokens.get(i) {
                        Some(v) if !v.text.starts_with('-') => {
                            i += 1;
                            Some(*v)
                        }
                        _ => None,
                    },
                };
                found.push(Found {
                    id,
                    spelled,
                    column: t.column + k - 1,
                    value,
                });
                if arg != Arg::No {
                    break;
                }
            }
        } else {
            args.push(t);
        }
    }
    Ok((found, args))
}

/// C's `strtol` over a whole word, in `min..=max` (ipvsadm's
/// `string_to_number`): decimal with an optional sign.
fn number(text: &str, min: i64, max: i64) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = text.parse().ok()?;
    (min..=max).contains(&n).then_some(n)
}

/// The service (or real-server) address being built, as ipvsadm's
/// `ipvs_service_t` fills up option by option.
#[derive(Debug, Clone, Copy, Default)]
struct Addr {
    family: Option<AddressFamily>,
    ip: Option<IpAddr>,
    port: u16,
}

/// ipvsadm's `parse_service`: `ADDR`, `ADDR:PORT`, `[IPV6]:PORT`, a bare
/// IPv6 address (no port), host and service names. `port` is kept when
/// the text has none.
fn address(
    value: Token<'_>,
    protocol: Option<Protocol>,
    keep_port: u16,
    line: usize,
    opts: &ParseOptions,
    what: &str,
) -> Result<(Addr, bool), ParseError> {
    let text = value.text;
    let expected = || {
        err(
            line,
            value.column,
            format!(
                "expected {what} (ADDRESS[:PORT], [IPV6]:PORT{}), found {text:?}",
                if opts.names { " or names" } else { "" }
            ),
        )
    };
    if text.is_empty() || text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(expected)?;
        let port = after.strip_prefix(':').ok_or_else(expected)?;
        let ip = inner
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| expected())?;
        (IpAddr::V6(ip), Some(port))
    } else if let Ok(ip) = text.parse::<std::net::Ipv6Addr>() {
        (IpAddr::V6(ip), None)
    } else {
        let (h, p) = match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        };
        let ip = match inet_aton(h) {
            Some(ip) => ip,
            None if opts.names => names::resolve_v4(h).ok_or_else(|| {
                err(
                    line,
                    value.column,
                    format!("expected {what}, found {h:?}, which is not an address or a known IPv4 host name"),
                )
            })?,
            None => return Err(expected()),
        };
        (IpAddr::V4(ip), p)
    };
    let port_column = value.column + text.chars().count() - port.map_or(0, |p| p.chars().count());
    let (port, has_port) = match port {
        None => (keep_port, false),
        Some(p) => {
            let n = match number(p, 0, 65535) {
                Some(n) => n as u16,
                None if opts.names => names::port_of(p, protocol).ok_or_else(|| {
                    err(
                        line,
                        port_column,
                        format!(
                            "expected a port number or a service name{}, found {p:?}",
                            match protocol {
                                Some(Protocol::Tcp) => " of TCP",
                                Some(Protocol::Udp) => " of UDP",
                                Some(Protocol::Sctp) => " of SCTP",
                                _ => "",
                            }
                        ),
                    )
                })?,
                None => {
                    return Err(err(
                        line,
                        port_column,
                        format!("expected a port number (0 to 65535), found {p:?}"),
                    ));
                }
            };
            (n, true)
        }
    };
    Ok((
        Addr {
            family: Some(AddressFamily::of(host)),
            ip: Some(host),
            port,
        },
        has_port,
    ))
}

/// Parse one line's words into a command (`None` for an empty line).
pub(super) fn command(
    tokens: &[Token<'_>],
    line: usize,
    opts: &ParseOptions,
) -> Result<Option<Rule>, ParseError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let (found, args) = options(tokens, line)?;
    // The command: exactly one.
    let mut cmd: Option<Found<'_>> = None;
    for f in &found {
        let is_cmd = matches!(
            f.id,
            Id::AddService
                | Id::EditService
                | Id::DeleteService
                | Id::Clear
                | Id::AddServer
                | Id::EditServer
                | Id::DeleteServer
                | Id::Set
                | Id::OtherCommand
        );
        if !is_cmd {
            continue;
        }
        if f.id == Id::OtherCommand {
            return Err(err(
                line,
                f.column,
                format!(
                    "expected a rule command (-A, -E, -D, -a, -e, -d, -C, --set), found {:?}",
                    f.spelled
                ),
            ));
        }
        if let Some(first) = cmd {
            return Err(err(
                line,
                f.column,
                format!(
                    "expected one command per line, found {:?} after {:?}",
                    f.spelled, first.spelled
                ),
            ));
        }
        cmd = Some(*f);
    }
    let Some(cmd) = cmd else {
        let t = tokens[0];
        return Err(err(
            line,
            t.column,
            format!(
                "expected a command (-A, -E, -D, -a, -e, -d, -C, --set) first, found {:?}",
                t.text
            ),
        ));
    };
    let mut p = Line {
        line,
        opts,
        cmd,
        protocol: None,
        svc: Addr::default(),
        fwmark: 0,
        netmask: Netmask::V4(Ipv4Addr::BROADCAST),
        persistent: None,
        scheduler: None,
        flags: None,
        pe: None,
        ops: false,
        real: None,
        forwarding: None,
        weight: 1,
        upper: 0,
        lower: 0,
        tun_type: None,
        tun_port: None,
        tun_csum: None,
        seen: Vec::new(),
    };
    for f in found.iter().filter(|f| f.id != cmd.id) {
        p.option(f)?;
    }
    if cmd.id == Id::Set {
        let [tcp, fin, udp] = args.as_slice() else {
            let at = args.get(3).map_or(cmd.column, |t| t.column);
            return Err(err(
                line,
                at,
                format!(
                    "expected three timeouts after --set (TCP TCPFIN UDP), found {}",
                    args.len()
                ),
            ));
        };
        let t = |tok: &Token<'_>| -> Result<Option<u32>, ParseError> {
            let n = number(tok.text, 0, 86400 * 31).ok_or_else(|| {
                err(
                    line,
                    tok.column,
                    format!(
                        "expected a timeout in seconds (0 to 2678400), found {:?}",
                        tok.text
                    ),
                )
            })?;
            Ok((n != 0).then_some(n as u32))
        };
        return Ok(Some(Rule::SetTimeouts(Timeouts {
            tcp: t(tcp)?,
            tcp_fin: t(fin)?,
            udp: t(udp)?,
        })));
    }
    if let Some(a) = args.first() {
        return Err(err(
            line,
            a.column,
            format!("expected an option, found the argument {:?}", a.text),
        ));
    }
    p.finish().map(Some)
}

/// The state of one command line being read, as ipvsadm's
/// `ipvs_command_entry` fills up.
struct Line<'a, 'o> {
    line: usize,
    opts: &'o ParseOptions,
    cmd: Found<'a>,
    protocol: Option<Protocol>,
    svc: Addr,
    fwmark: u32,
    netmask: Netmask,
    persistent: Option<u32>,
    scheduler: Option<(Scheduler, Found<'a>)>,
    flags: Option<Found<'a>>,
    pe: Option<String>,
    ops: bool,
    real: Option<(Addr, Found<'a>)>,
    forwarding: Option<Id>,
    weight: u32,
    upper: u32,
    lower: u32,
    tun_type: Option<(u8, Found<'a>)>,
    tun_port: Option<u16>,
    tun_csum: Option<Id>,
    /// Options seen, by ipvsadm's name (each at most once).
    seen: Vec<(&'static str, Found<'a>)>,
}

impl<'a> Line<'a, '_> {
    fn err(&self, column: usize, message: impl Into<String>) -> ParseError {
        err(self.line, column, message)
    }

    fn value(&self, f: &Found<'a>) -> Token<'a> {
        // Options with Arg::Yes always have one (checked by `options`).
        f.value.unwrap_or(Token {
            text: "",
            column: f.column,
        })
    }

    fn number(&self, f: &Found<'a>, min: i64, max: i64, what: &str) -> Result<i64, ParseError> {
        let v = self.value(f);
        number(v.text, min, max).ok_or_else(|| {
            self.err(
                v.column,
                format!("expected {what} ({min} to {max}), found {:?}", v.text),
            )
        })
    }

    /// Take one option, in line order.
    fn option(&mut self, f: &Found<'a>) -> Result<(), ParseError> {
        if !allowed(self.cmd.id, f.id) {
            return Err(self.err(
                f.column,
                format!(
                    "{:?} is not an option of the '{}' command ({})",
                    f.spelled,
                    command_name(self.cmd.id),
                    self.cmd.spelled
                ),
            ));
        }
        if f.id != Id::Ipv6 {
            let name = option_name(f.id);
            if let Some((_, first)) = self.seen.iter().find(|(n, _)| *n == name) {
                return Err(self.err(
                    f.column,
                    format!(
                        "expected one {name} option, found {:?} after {:?}",
                        f.spelled, first.spelled
                    ),
                ));
            }
            self.seen.push((name, *f));
        }
        let v = self.value(f);
        match f.id {
            Id::Tcp | Id::Udp | Id::Sctp => {
                let protocol = match f.id {
                    Id::Tcp => Protocol::Tcp,
                    Id::Udp => Protocol::Udp,
                    _ => Protocol::Sctp,
                };
                self.protocol = Some(protocol);
                let (a, _) = address(
                    v,
                    Some(protocol),
                    self.svc.port,
                    self.line,
                    self.opts,
                    "a virtual service address",
                )?;
                if a.family == Some(AddressFamily::Inet6) {
                    self.netmask = Netmask::V6(128);
                }
                self.svc = a;
            }
            Id::Fwmark => {
                self.svc.family = Some(AddressFamily::Inet);
                self.protocol = Some(Protocol::Tcp);
                self.fwmark = self.number(f, 1, i64::from(u32::MAX), "a firewall mark")? as u32;
            }
            Id::Ipv6 => {
                if self.fwmark == 0 {
                    return Err(self.err(
                        f.column,
                        "expected -f (--fwmark-service) before -6: -6 makes a firewall-mark service IPv6",
                    ));
                }
                self.svc.family = Some(AddressFamily::Inet6);
                self.netmask = Netmask::V6(128);
            }
            Id::Scheduler => {
                let s = Scheduler::from_name(v.text).map_err(|_| {
                    self.err(
                        v.column,
                        format!("expected a scheduler name, found {:?}", v.text),
                    )
                })?;
                if let Scheduler::Custom(_) = s
                    && !self.opts.custom_schedulers
                {
                    return Err(self.err(
                        v.column,
                        format!(
                            "expected a scheduler name (rr, wrr, lc, wlc, sed, nq, dh, sh, mh, \
                             lblc, lblcr, fo, ovf, twos, none), found {:?}",
                            v.text
                        ),
                    ));
                }
                self.scheduler = Some((s, *f));
            }
            Id::Persistent => {
                let max = if self.opts.ipvsadm_limits {
                    86400 * 31
                } else {
                    i64::from(Persistence::MAX_TIMEOUT)
                };
                self.persistent = Some(match f.value {
                    // ipvsadm's default persistence timeout (libipvs's
                    // IPVS_SVC_PERSISTENT_TIMEOUT, 6 minutes; checked in
                    // the guest: `-p` alone restores as 360).
                    None => 360,
                    Some(_) => self.number(f, 1, max, "a persistence timeout in seconds")? as u32,
                });
            }
            Id::Netmask => {
                if self.svc.family == Some(AddressFamily::Inet6) {
                    let n = self.number(f, 1, 128, "an IPv6 prefix length")?;
                    self.netmask = Netmask::V6(n as u8);
                } else {
                    let m = inet_aton(v.text)
                        .or_else(|| self.opts.names.then(|| names::resolve_v4(v.text)).flatten())
                        .ok_or_else(|| {
                            self.err(
                                v.column,
                                format!(
                                    "expected an IPv4 netmask such as 255.255.255.0, found {:?}",
                                    v.text
                                ),
                            )
                        })?;
                    self.netmask = Netmask::V4(m);
                }
            }
            Id::RealServer => {
                let (a, _) = address(
                    v,
                    self.protocol,
                    self.svc.port,
                    self.line,
                    self.opts,
                    "a real server address",
                )?;
                self.real = Some((a, *f));
            }
            Id::Masq | Id::Ipip | Id::Gatewaying => self.forwarding = Some(f.id),
            Id::Weight => {
                let max = if self.opts.ipvsadm_limits {
                    65535
                } else {
                    i64::from(Destination::MAX_WEIGHT)
                };
                self.weight = self.number(f, 0, max, "a weight")? as u32;
            }
            Id::UThreshold | Id::LThreshold => {
                let max = if self.opts.ipvsadm_limits {
                    i64::from(i32::MAX)
                } else {
                    i64::from(u32::MAX)
                };
                let n = self.number(f, 0, max, "a connection threshold")? as u32;
                if f.id == Id::UThreshold {
                    self.upper = n;
                } else {
                    self.lower = n;
                }
            }
            Id::Ops => self.ops = true,
            Id::Pe => {
                if v.text.is_empty()
                    || v.text.len() > 15
                    || !v
                        .text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(self.err(
                        v.column,
                        format!(
                            "expected a persistence engine name such as sip, found {:?}",
                            v.text
                        ),
                    ));
                }
                self.pe = Some(v.text.to_owned());
            }
            Id::SchedFlags => self.flags = Some(*f),
            Id::TunType => {
                let t = match v.text {
                    "ipip" => 0,
                    "gue" => 1,
                    "gre" => 2,
                    _ => {
                        return Err(self.err(
                            v.column,
                            format!(
                                "expected a tunnel type (ipip, gue, gre), found {:?}",
                                v.text
                            ),
                        ));
                    }
                };
                self.tun_type = Some((t, *f));
            }
            Id::TunPort => {
                self.tun_port = Some(self.number(f, 1, 65535, "a tunnel port")? as u16);
            }
            Id::TunNocsum | Id::TunCsum | Id::TunRemcsum => {
                if let Some(prev) = self.tun_csum {
                    let prev = self
                        .seen
                        .iter()
                        .find(|(_, s)| s.id == prev)
                        .map_or("", |(_, s)| s.spelled);
                    return Err(self.err(
                        f.column,
                        format!(
                            "expected one tunnel checksum option, found {:?} after {prev:?}",
                            f.spelled
                        ),
                    ));
                }
                self.tun_csum = Some(f.id);
            }
            _ => {}
        }
        Ok(())
    }

    /// The service key, once every option is in.
    fn key(&self) -> Result<ServiceKey, ParseError> {
        if self.fwmark != 0 {
            return Ok(ServiceKey::Fwmark {
                family: self.svc.family.unwrap_or(AddressFamily::Inet),
                mark: self.fwmark,
            });
        }
        match (self.protocol, self.svc.ip) {
            (Some(protocol), Some(ip)) => Ok(ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(ip, self.svc.port),
            }),
            _ => Err(self.err(
                self.cmd.column,
                format!(
                    "expected a service (-t, -u, --sctp-service or -f) for the '{}' command",
                    command_name(self.cmd.id)
                ),
            )),
        }
    }

    fn scheduler(&self) -> Result<Scheduler, ParseError> {
        let mut s = self
            .scheduler
            .as_ref()
            .map_or(Scheduler::Wlc, |(s, _)| s.clone());
        let Some(f) = self.flags else {
            return Ok(s);
        };
        let v = self.value(&f);
        let mut h = HashFlags::default();
        let mut col = v.column;
        for word in v.text.split(',') {
            match sched_flag(&s, word) {
                Some(SchedFlag::Fallback) => h.fallback = true,
                Some(SchedFlag::Port) => h.port = true,
                None => {
                    let known = matches!(
                        word,
                        "flag-1"
                            | "flag-2"
                            | "flag-3"
                            | "sh-fallback"
                            | "sh-port"
                            | "mh-fallback"
                            | "mh-port"
                    );
                    let message = if known {
                        format!(
                            "expected a flag of scheduler {} ({}), found {word:?}",
                            s.name(),
                            match s {
                                Scheduler::Sh(_) => "sh-fallback, sh-port",
                                Scheduler::Mh(_) => "mh-fallback, mh-port",
                                _ => "it has none lvs models; sh and mh have flags",
                            }
                        )
                    } else {
                        format!(
                            "expected a scheduler flag (sh-fallback, sh-port, mh-fallback, \
                             mh-port, flag-1, flag-2), found {word:?}"
                        )
                    };
                    return Err(self.err(col, message));
                }
            }
            col += word.chars().count() + 1;
        }
        s = match s {
            Scheduler::Sh(_) => Scheduler::Sh(h),
            Scheduler::Mh(_) => Scheduler::Mh(h),
            other => other,
        };
        Ok(s)
    }

    fn require_real(&self) -> Result<(Addr, Found<'a>), ParseError> {
        self.real.ok_or_else(|| {
            self.err(
                self.cmd.column,
                format!(
                    "expected a real server (-r ADDRESS[:PORT]) for the '{}' command",
                    command_name(self.cmd.id)
                ),
            )
        })
    }

    fn finish(self) -> Result<Rule, ParseError> {
        let cmd = self.cmd.id;
        if cmd == Id::Clear {
            return Ok(Rule::Clear);
        }
        let key = self.key()?;
        let at = self.cmd.column;
        let invalid = |e: crate::Error| self.err(at, e.detail().to_owned());
        match cmd {
            Id::AddService | Id::EditService => {
                let mut s = Service::new(key).with_scheduler(self.scheduler()?);
                s.persistence = self.persistent.map(|timeout| Persistence {
                    timeout,
                    netmask: self.netmask,
                });
                s.one_packet = self.ops;
                s.persistence_engine = self.pe.clone();
                s.validate().map_err(invalid)?;
                Ok(if cmd == Id::AddService {
                    Rule::AddService(s)
                } else {
                    Rule::EditService(s)
                })
            }
            Id::DeleteService => Ok(Rule::DeleteService(key)),
            Id::DeleteServer => {
                let (a, _) = self.require_real()?;
                let ip = a.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                Ok(Rule::DeleteServer(key, SocketAddr::new(ip, a.port)))
            }
            _ => {
                let (a, rf) = self.require_real()?;
                let ip = a.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                let tunnel_opts =
                    self.tun_type.is_some() || self.tun_port.is_some() || self.tun_csum.is_some();
                if tunnel_opts && self.forwarding != Some(Id::Ipip) {
                    let f = self
                        .seen
                        .iter()
                        .find(|(n, _)| n.starts_with("tun-"))
                        .map_or(self.cmd, |(_, f)| *f);
                    return Err(self.err(
                        f.column,
                        format!(
                            "expected -i (--ipip) with tunnel option {:?}: tunnel options \
                             need tunnel forwarding",
                            f.spelled
                        ),
                    ));
                }
                let forwarding = match self.forwarding {
                    Some(Id::Masq) => Forwarding::Masquerade,
                    Some(Id::Ipip) => Forwarding::Tunnel(self.tunnel()?),
                    // ipvsadm's default: direct routing.
                    _ => Forwarding::DirectRoute,
                };
                // ipvsadm gives a direct-routing or tunnel destination of an
                // address service the service's port.
                let port = match (key, forwarding) {
                    (
                        ServiceKey::Addr { addr, .. },
                        Forwarding::DirectRoute | Forwarding::Tunnel(_),
                    ) => addr.port(),
                    _ => a.port,
                };
                let d = Destination::new(SocketAddr::new(ip, port))
                    .with_forwarding(forwarding)
                    .with_weight(self.weight)
                    .with_upper_threshold(self.upper)
                    .with_lower_threshold(self.lower);
                d.validate_for(&key)
                    .map_err(|e| self.err(rf.column, e.detail().to_owned()))?;
                Ok(if cmd == Id::AddServer {
                    Rule::AddServer(key, d)
                } else {
                    Rule::EditServer(key, d)
                })
            }
        }
    }

    /// The tunnel of `-i`, with ipvsadm's `tunnel_types_v_options` checks.
    fn tunnel(&self) -> Result<Tunnel, ParseError> {
        let kind = self.tun_type.map_or(0, |(k, _)| k);
        let port_opt = self
            .seen
            .iter()
            .find(|(n, _)| *n == "tun-port")
            .map(|(_, f)| *f);
        let csum_opt = self
            .seen
            .iter()
            .find(|(n, _)| matches!(*n, "tun-nocsum" | "tun-csum" | "tun-remcsum"))
            .map(|(_, f)| *f);
        let kind_name = ["ipip", "gue", "gre"][usize::from(kind)];
        let illegal = |f: Found<'_>| {
            self.err(
                f.column,
                format!(
                    "{:?} is not an option of the '{kind_name}' tunnel type",
                    f.spelled
                ),
            )
        };
        match kind {
            0 => {
                if let Some(f) = port_opt.or(csum_opt) {
                    return Err(illegal(f));
                }
                Ok(Tunnel::Ipip)
            }
            1 => {
                let port = self.tun_port.ok_or_else(|| {
                    let f = self.tun_type.map_or(self.cmd, |(_, f)| f);
                    self.err(
                        f.column,
                        "expected --tun-port PORT with the 'gue' tunnel type",
                    )
                })?;
                let checksum = match self.tun_csum {
                    Some(Id::TunCsum) => GueChecksum::Checksum,
                    Some(Id::TunRemcsum) => GueChecksum::RemoteChecksum,
                    _ => GueChecksum::None,
                };
                Ok(Tunnel::Gue { port, checksum })
            }
            _ => {
                if let Some(f) = port_opt {
                    return Err(illegal(f));
                }
                if self.tun_csum == Some(Id::TunRemcsum)
                    && let Some(f) = csum_opt
                {
                    return Err(illegal(f));
                }
                Ok(Tunnel::Gre {
                    checksum: self.tun_csum == Some(Id::TunCsum),
                })
            }
        }
    }
}
