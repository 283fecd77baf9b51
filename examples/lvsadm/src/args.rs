//! ipvsadm's command line, read the way its option parser (popt) reads it:
//! short options alone or bundled (`-Ln`), a short option's value joined
//! or in the next word (`-t10.0.0.1:80`, `-t 10.0.0.1:80`), long options
//! with `=VALUE` or the next word, `-p`'s optional value only when the next
//! word does not start with `-`, other words kept as arguments.

/// The commands, in ipvsadm's numbering (its `cmdnames` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmd {
    Add,
    Edit,
    Del,
    Flush,
    List,
    AddDest,
    DelDest,
    EditDest,
    Timeout,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
}

impl Cmd {
    /// ipvsadm's name of the command, as its messages print it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cmd::Add => "add-service",
            Cmd::Edit => "edit-service",
            Cmd::Del => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddDest => "add-server",
            Cmd::DelDest => "delete-server",
            Cmd::EditDest => "edit-server",
            Cmd::Timeout => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
        }
    }

    /// Which options the command takes, one letter per option in
    /// [`OPT_NAMES`] order: `+` required, `x` refused, `1` at most one
    /// of the `1`s, blank optional (ipvsadm's table of legal
    /// combinations).
    fn legal(self) -> &'static [u8; N_OPTS] {
        match self {
            Cmd::Add | Cmd::Edit => b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx",
            Cmd::Del => b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Flush | Cmd::Timeout | Cmd::Restore => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::List => b" 11xxxxxxxxx11       xxxxxxx xxxxx",
            Cmd::AddDest | Cmd::EditDest => b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ",
            Cmd::DelDest => b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::StartDaemon => b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx",
            Cmd::StopDaemon => b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx",
            Cmd::Save => b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            Cmd::Zero => b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        }
    }
}

/// Number of options ipvsadm tracks.
pub(crate) const N_OPTS: usize = 34;

/// ipvsadm's option names (its `optnames`), by option number.
pub(crate) const OPT_NAMES: [&str; N_OPTS] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// Option numbers used by name in the code.
pub(crate) mod opt {
    pub(crate) const NUMERIC: usize = 0;
    pub(crate) const CONNECTION: usize = 1;
    pub(crate) const SERVICE: usize = 2;
    pub(crate) const MCAST: usize = 11;
    pub(crate) const TIMEOUT: usize = 12;
    pub(crate) const DAEMON: usize = 13;
    pub(crate) const STATS: usize = 14;
    pub(crate) const RATE: usize = 15;
    pub(crate) const THRESHOLDS: usize = 16;
    pub(crate) const PERSISTENTCONN: usize = 17;
    pub(crate) const NOSORT: usize = 18;
    pub(crate) const SYNCID: usize = 19;
    pub(crate) const EXACT: usize = 20;
    pub(crate) const MCAST_GROUP: usize = 24;
    pub(crate) const MCAST_PORT: usize = 25;
    pub(crate) const MCAST_TTL: usize = 26;
    pub(crate) const SYNC_MAXLEN: usize = 27;
    pub(crate) const TUN_INFO: usize = 28;
}

/// What an option word means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Id {
    Cmd(Cmd),
    Help,
    Version,
    /// An option ipvsadm tracks (its number).
    Opt(usize),
    /// `-6` (no option bit of its own).
    Ipv6,
    /// `--sort` (the default; accepted and ignored).
    Sort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Yes,
    Optional,
}

/// (long name, short letter, value, meaning), in ipvsadm's table order.
const TABLE: &[(&str, Option<char>, Arg, Id)] = &[
    ("add-service", Some('A'), Arg::No, Id::Cmd(Cmd::Add)),
    ("edit-service", Some('E'), Arg::No, Id::Cmd(Cmd::Edit)),
    ("delete-service", Some('D'), Arg::No, Id::Cmd(Cmd::Del)),
    ("clear", Some('C'), Arg::No, Id::Cmd(Cmd::Flush)),
    ("list", Some('L'), Arg::No, Id::Cmd(Cmd::List)),
    ("list", Some('l'), Arg::No, Id::Cmd(Cmd::List)),
    ("zero", Some('Z'), Arg::No, Id::Cmd(Cmd::Zero)),
    ("add-server", Some('a'), Arg::No, Id::Cmd(Cmd::AddDest)),
    ("edit-server", Some('e'), Arg::No, Id::Cmd(Cmd::EditDest)),
    ("delete-server", Some('d'), Arg::No, Id::Cmd(Cmd::DelDest)),
    ("set", None, Arg::No, Id::Cmd(Cmd::Timeout)),
    ("help", Some('h'), Arg::No, Id::Help),
    ("version", Some('v'), Arg::No, Id::Version),
    ("restore", Some('R'), Arg::No, Id::Cmd(Cmd::Restore)),
    ("save", Some('S'), Arg::No, Id::Cmd(Cmd::Save)),
    ("start-daemon", None, Arg::Yes, Id::Cmd(Cmd::StartDaemon)),
    ("stop-daemon", None, Arg::Yes, Id::Cmd(Cmd::StopDaemon)),
    ("tcp-service", Some('t'), Arg::Yes, Id::Opt(2)),
    ("udp-service", Some('u'), Arg::Yes, Id::Opt(2)),
    ("sctp-service", None, Arg::Yes, Id::Opt(2)),
    ("fwmark-service", Some('f'), Arg::Yes, Id::Opt(2)),
    ("scheduler", Some('s'), Arg::Yes, Id::Opt(3)),
    ("persistent", Some('p'), Arg::Optional, Id::Opt(4)),
    ("netmask", Some('M'), Arg::Yes, Id::Opt(5)),
    ("real-server", Some('r'), Arg::Yes, Id::Opt(6)),
    ("masquerading", Some('m'), Arg::No, Id::Opt(7)),
    ("ipip", Some('i'), Arg::No, Id::Opt(7)),
    ("gatewaying", Some('g'), Arg::No, Id::Opt(7)),
    ("weight", Some('w'), Arg::Yes, Id::Opt(8)),
    ("u-threshold", Some('x'), Arg::Yes, Id::Opt(9)),
    ("l-threshold", Some('y'), Arg::Yes, Id::Opt(10)),
    ("numeric", Some('n'), Arg::No, Id::Opt(0)),
    ("connection", Some('c'), Arg::No, Id::Opt(1)),
    ("mcast-interface", None, Arg::Yes, Id::Opt(11)),
    ("syncid", None, Arg::Yes, Id::Opt(19)),
    ("timeout", None, Arg::No, Id::Opt(12)),
    ("daemon", None, Arg::No, Id::Opt(13)),
    ("stats", None, Arg::No, Id::Opt(14)),
    ("rate", None, Arg::No, Id::Opt(15)),
    ("thresholds", None, Arg::No, Id::Opt(16)),
    ("persistent-conn", None, Arg::No, Id::Opt(17)),
    ("nosort", None, Arg::No, Id::Opt(18)),
    ("sort", None, Arg::No, Id::Sort),
    ("exact", Some('X'), Arg::No, Id::Opt(20)),
    ("ipv6", Some('6'), Arg::No, Id::Ipv6),
    ("ops", Some('o'), Arg::No, Id::Opt(21)),
    ("pe", None, Arg::Yes, Id::Opt(22)),
    ("sched-flags", Some('b'), Arg::Yes, Id::Opt(23)),
    ("mcast-group", None, Arg::Yes, Id::Opt(24)),
    ("mcast-port", None, Arg::Yes, Id::Opt(25)),
    ("mcast-ttl", None, Arg::Yes, Id::Opt(26)),
    ("sync-maxlen", None, Arg::Yes, Id::Opt(27)),
    ("tun-info", None, Arg::No, Id::Opt(28)),
    ("tun-type", None, Arg::Yes, Id::Opt(29)),
    ("tun-port", None, Arg::Yes, Id::Opt(30)),
    ("tun-nocsum", None, Arg::No, Id::Opt(31)),
    ("tun-csum", None, Arg::No, Id::Opt(32)),
    ("tun-remcsum", None, Arg::No, Id::Opt(33)),
];

/// One option found.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) id: Id,
    /// The long name (`tcp-service`), for telling `-t` from `-u`.
    pub(crate) long: &'static str,
    pub(crate) value: Option<String>,
    /// The command-line word it was found in (popt names it in errors).
    pub(crate) word: String,
}

/// An option word the parser could not take: the word as written and
/// popt's reason (`unknown option`, `missing argument`, ...).
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    pub(crate) word: String,
    pub(crate) reason: &'static str,
}

/// A command line split into options (in order), the words that are no
/// option, and the first word that could not be read (options after it
/// are not read, as popt stops there).
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) found: Vec<Found>,
    pub(crate) args: Vec<String>,
    pub(crate) bad: Option<Bad>,
}

fn by_long(name: &str) -> Option<&'static (&'static str, Option<char>, Arg, Id)> {
    TABLE.iter().find(|(l, ..)| *l == name)
}

fn by_short(c: char) -> Option<&'static (&'static str, Option<char>, Arg, Id)> {
    TABLE.iter().find(|(_, s, ..)| *s == Some(c))
}

/// Split `words` (without the program name) as popt does.
pub(crate) fn parse<S: AsRef<str>>(words: &[S]) -> Parsed {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut rest_are_args = false;
    while i < words.len() {
        let w = words[i].as_ref();
        i += 1;
        if rest_are_args || w == "-" || !w.starts_with('-') {
            p.args.push(w.to_owned());
            continue;
        }
        if w == "--" {
            rest_are_args = true;
            continue;
        }
        if let Some(long) = w.strip_prefix("--") {
            let (name, joined) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let Some(&(lname, _, arg, id)) = by_long(name) else {
                p.bad = Some(Bad {
                    word: w.to_owned(),
                    reason: "unknown option",
                });
                return p;
            };
            let value = match (arg, joined) {
                (Arg::No, Some(_)) => {
                    p.bad = Some(Bad {
                        word: w.to_owned(),
                        reason: "option does not take an argument",
                    });
                    return p;
                }
                (Arg::No, None) => None,
                (_, Some(v)) => Some(v),
                (Arg::Yes, None) => match required_next(words, &mut i, w) {
                    Ok(v) => Some(v),
                    Err(bad) => {
                        p.bad = Some(bad);
                        return p;
                    }
                },
                (Arg::Optional, None) => optional_next(words, &mut i),
            };
            p.found.push(Found {
                id,
                long: lname,
                value,
                word: w.to_owned(),
            });
            continue;
        }
        // A bundle of short options.
        let letters: Vec<char> = w[1..].chars().collect();
        let mut k = 0;
        while k < letters.len() {
            let Some(&(lname, _, arg, id)) = by_short(letters[k]) else {
                p.bad = Some(Bad {
                    word: w.to_owned(),
                    reason: "unknown option",
                });
                return p;
            };
            k += 1;
            let joined: String = letters[k..].iter().collect();
            let joined = joined.strip_prefix('=').unwrap_or(&joined).to_owned();
            let value = match arg {
                Arg::No => None,
                _ if !joined.is_empty() => {
                    k = letters.len();
                    Some(joined)
                }
                Arg::Yes => match required_next(words, &mut i, w) {
                    Ok(v) => Some(v),
                    Err(bad) => {
                        p.bad = Some(bad);
                        return p;
                    }
                },
                Arg::Optional => optional_next(words, &mut i),
            };
            p.found.push(Found {
                id,
                long: lname,
                value,
                word: w.to_owned(),
            });
        }
    }
    p
}

/// The word after option word `w`, which takes a value: consumed, or
/// "missing argument" at the end of the line.
fn required_next<S: AsRef<str>>(words: &[S], i: &mut usize, w: &str) -> Result<String, Bad> {
    let v = words.get(*i).ok_or_else(|| Bad {
        word: w.to_owned(),
        reason: "missing argument",
    })?;
    *i += 1;
    Ok(v.as_ref().to_owned())
}

/// An optional value: the next word, unless it starts with `-`.
fn optional_next<S: AsRef<str>>(words: &[S], i: &mut usize) -> Option<String> {
    match words.get(*i) {
        Some(v) if !v.as_ref().starts_with('-') => {
            *i += 1;
            Some(v.as_ref().to_owned())
        }
        _ => None,
    }
}

/// ipvsadm's check of a command's options (`generic_opt_check`): the
/// message of the first option missing, refused or conflicting.
pub(crate) fn check(cmd: Cmd, options: u64) -> Result<(), String> {
    let legal = cmd.legal();
    let mut first_one: Option<usize> = None;
    for (j, &rule) in legal.iter().enumerate() {
        let set = options & (1 << j) != 0;
        match (set, rule) {
            (false, b'+') => {
                return Err(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    OPT_NAMES[j],
                    cmd.name()
                ));
            }
            (true, b'x') => {
                return Err(format!(
                    "Illegal '{}' option with the '{}' command",
                    OPT_NAMES[j],
                    cmd.name()
                ));
            }
            (true, b'1') => match first_one {
                None => first_one = Some(j),
                Some(last) => {
                    return Err(format!(
                        "The option '{}' conflicts with the '{}' option in the '{}' command",
                        OPT_NAMES[j],
                        OPT_NAMES[last],
                        cmd.name()
                    ));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_and_values() {
        let p = parse(&[
            "-Ln",
            "-t10.0.0.1:80",
            "--weight=3",
            "-p",
            "-x",
            "5",
            "extra",
        ]);
        let ids: Vec<Id> = p.found.iter().map(|f| f.id).collect();
        assert_eq!(
            ids,
            [
                Id::Cmd(Cmd::List),
                Id::Opt(0),
                Id::Opt(2),
                Id::Opt(8),
                Id::Opt(4),
                Id::Opt(9)
            ]
        );
        assert_eq!(p.found[2].value.as_deref(), Some("10.0.0.1:80"));
        assert_eq!(p.found[3].value.as_deref(), Some("3"));
        assert_eq!(p.found[4].value, None);
        assert_eq!(p.found[5].value.as_deref(), Some("5"));
        assert_eq!(p.args, ["extra"]);
        assert!(p.bad.is_none());
    }

    #[test]
    fn tables_have_one_letter_per_option() {
        for c in [
            Cmd::Add,
            Cmd::List,
            Cmd::AddDest,
            Cmd::StartDaemon,
            Cmd::Zero,
        ] {
            assert_eq!(c.legal().len(), N_OPTS);
        }
        assert_eq!(check(Cmd::List, 1 << opt::NUMERIC), Ok(()));
        assert!(check(Cmd::Add, 0).is_err());
    }
}
