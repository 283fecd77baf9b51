//! `lvsadm`: ipvsadm 1.31's command line on the `lvs` library.
//!
//! It takes ipvsadm's options (short, bundled, long, `--opt=value`) and
//! prints what ipvsadm prints for the same kernel state, byte for byte,
//! with ipvsadm's exit status: `-L`/`-l` (optionally `-n`) with `--stats`, `--rate`,
//! `--thresholds`, `--persistent-conn`, `--exact`, `--tun-info`,
//! `--sort`, `--nosort`, one service (`-L -t ADDR`), `--timeout` and
//! `--daemon`; `-S [-n]`; `-C`; `-R` (rules on standard input);
//! `-A/-E/-D/-a/-e/-d` (read by [`lvs::rules::Rule::parse_args`]);
//! `--set`; `-Z`; `--start-daemon`/`--stop-daemon`.
//!
//! Exit status, as ipvsadm's: 0 on success; 2 for a usage error (a bad
//! value, an option the command does not take, two commands); 255 for an
//! option word it cannot read (unknown, value missing) and for a command
//! the kernel refused (the message is libipvs's, e.g. `Service already
//! exists`); 1 when a listing cannot be read (`No such service` for
//! `-L -t ADDR` of a missing service). `-R` stops at the first line it
//! cannot read (status 2) and otherwise exits with the status of its last
//! line, as ipvsadm does.
//!
//! The library part is [`run`] (opens the IPVS handle of the current
//! network namespace when a command needs one) and [`run_with`] (an
//! already-opened [`lvs::Handle`], e.g. one opened in another namespace
//! with [`lvs::Handle::open_netns`]); the binary is a thin `main` over
//! [`run`].
//!
//! # Known differences from ipvsadm 1.31
//! - Usage errors are found before the kernel is opened (ipvsadm opens
//!   it first, so without IPVS it fails with status 2 for any command).
//! - Messages for bad values of rule options (`-A/-E/-D/-a/-e/-d`) are
//!   `lvs::rules`' (they name the argument and what was expected), not
//!   ipvsadm's; the status (2) is the same. Option-combination errors
//!   (`Illegal 'numeric' option with the 'add-service' command`, ...) are
//!   ipvsadm's words.
//! - Host names print from `/etc/hosts` only (ipvsadm also asks the DNS).
//! - Scheduler flags that have no meaning for the scheduler (`flag-1` on
//!   `rr`) are not printed (`lvs` keeps only the sh/mh flags).
//! - A value `lvs` refuses before sending (outside its model's ranges)
//!   exits 255 with `lvs`'s message, as a kernel refusal would.
//! - `-h` and `-v` print `lvsadm`'s own text.
//! - Weights above 65535: `lvs::rules` refuses them as upstream ipvsadm
//!   1.31's source does (status 2), but Debian's ipvsadm 1.31 build took
//!   `-w 70000` in the guest (status 0).
//!
//! # Beyond ipvsadm
//! - `lvsadm diff FILE` prints, as ipvsadm rules, what the reconciler
//!   would change to make the table match FILE
//!   ([`lvs::reconcile::plan`], default [`lvs::reconcile::Policy`]).
//! - `lvsadm apply FILE` carries that plan out and prints it. A server
//!   that left the file drains first (weight 0, TCP); a later `apply`
//!   removes it once it has no connections. Services not in the file are
//!   removed.

use std::io::Read;

use lvs::rules::{ParseOptions, Rule, Rules};
use lvs::{Error, ErrorKind, Handle, Operation, ServiceKey};

mod args;
mod list;

use args::{Cmd, Id, opt};

/// What a run printed and its exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status (0, 1, 2 or 255, as ipvsadm's).
    pub status: i32,
}

/// Run one command line (`args[0]` is the program name) with the IPVS
/// handle of the current network namespace, opened only if the command
/// needs the kernel. `stdin` is read by `-R` only.
pub fn run<S: AsRef<str>>(args: &[S], stdin: &mut dyn Read) -> Output {
    let mut k = Kernel::Lazy(None);
    run_in(&mut k, args, stdin)
}

/// [`run`] with an already-opened handle (of any namespace).
pub fn run_with<S: AsRef<str>>(handle: &mut Handle, args: &[S], stdin: &mut dyn Read) -> Output {
    let mut k = Kernel::Given(handle);
    run_in(&mut k, args, stdin)
}

/// The handle, opened when first needed.
enum Kernel<'a> {
    Lazy(Option<Handle>),
    Given(&'a mut Handle),
}

impl Kernel<'_> {
    fn get(&mut self) -> Result<&mut Handle, Fail> {
        match self {
            Kernel::Given(h) => Ok(h),
            Kernel::Lazy(slot) => {
                if slot.is_none() {
                    let h = Handle::open().map_err(|e| {
                        Fail::new(
                            2,
                            format!(
                                "Can't initialize ipvs: {}\nAre you sure that IP Virtual \
                                 Server is built in the kernel or as module?",
                                if e.kind() == ErrorKind::IpvsUnavailable {
                                    "Protocol not available".to_owned()
                                } else {
                                    errno_text(&e)
                                }
                            ),
                        )
                    })?;
                    *slot = Some(h);
                }
                match slot {
                    Some(h) => Ok(h),
                    None => Err(Fail::new(2, "Can't initialize ipvs".into())),
                }
            }
        }
    }
}

/// A run that stops: the status and the message for standard error
/// (without its newline).
#[derive(Debug)]
struct Fail {
    status: i32,
    message: String,
}

impl Fail {
    fn new(status: i32, message: String) -> Fail {
        Fail { status, message }
    }
    fn usage(message: impl Into<String>) -> Fail {
        Fail::new(2, message.into())
    }
}

fn run_in<S: AsRef<str>>(k: &mut Kernel<'_>, argv: &[S], stdin: &mut dyn Read) -> Output {
    let prog = argv.first().map_or("lvsadm", |s| s.as_ref()).to_owned();
    let words: Vec<&str> = argv.iter().skip(1).map(|s| s.as_ref()).collect();
    let mut out = Output::default();
    let status = match command(k, &prog, &words, stdin, &mut out) {
        Ok(status) => status,
        Err(f) => {
            out.stderr.push_str(&f.message);
            out.stderr.push('\n');
            f.status
        }
    };
    out.status = status;
    out
}

fn tryhelp(prog: &str) -> Fail {
    Fail::new(
        255,
        format!("Try `{prog} -h' or '{prog} --help' for more information."),
    )
}

/// One command line. `Ok` carries the exit status of a command that ran
/// (a kernel refusal is `Ok(255)` with its message printed).
fn command(
    k: &mut Kernel<'_>,
    prog: &str,
    words: &[&str],
    stdin: &mut dyn Read,
    out: &mut Output,
) -> Result<i32, Fail> {
    if words.is_empty() {
        let h = k.get()?;
        list_all(h, list::Format::default(), out)?;
        return Ok(0);
    }
    match words[0] {
        "diff" => return diff_or_apply(k, prog, &words[1..], false, out),
        "apply" => return diff_or_apply(k, prog, &words[1..], true, out),
        _ => {}
    }
    let parsed = args::parse(words);
    let Some(first) = parsed.found.first() else {
        return Err(tryhelp(prog));
    };
    let cmd = match first.id {
        Id::Cmd(c) => c,
        Id::Help => {
            out.stdout.push_str(&usage(prog));
            return Ok(0);
        }
        Id::Version => {
            out.stdout
                .push_str(concat!("lvsadm ", env!("CARGO_PKG_VERSION"), "\n"));
            return Ok(0);
        }
        _ => return Err(tryhelp(prog)),
    };
    if cmd == Cmd::StartDaemon && !matches!(first.value.as_deref(), Some("master" | "backup")) {
        return Err(Fail::usage("illegal start-daemon parameter specified"));
    }
    if cmd == Cmd::StopDaemon && !matches!(first.value.as_deref(), Some("master" | "backup")) {
        return Err(Fail::usage("illegal start_daemon specified"));
    }
    // The options, in order, as ipvsadm takes them.
    let mut options: u64 = 0;
    let mut format = list::Format::default();
    let mut service_words: Vec<String> = Vec::new();
    let mut daemon = DaemonArgs::default();
    for f in &parsed.found[1..] {
        let n = match f.id {
            // ipvsadm takes the command from the first option only; a
            // later command word is an option it does not know there.
            Id::Cmd(_) | Id::Help | Id::Version => {
                return Err(Fail::usage(format!("invalid option `{}'", f.word)));
            }
            Id::Sort => continue,
            Id::Ipv6 => {
                if service_words.first().map(String::as_str) == Some("--fwmark-service") {
                    service_words.push("-6".into());
                    continue;
                }
                if cmd_is_rule(cmd) {
                    // lvs::rules checks it (ipvsadm: "-6 used before -f").
                    continue;
                }
                return Err(Fail::usage("-6 used before -f\n"));
            }
            Id::Opt(n) => n,
        };
        if options & (1 << n) != 0 {
            return Err(Fail::usage(format!(
                "multiple '{}' options specified",
                args::OPT_NAMES[n]
            )));
        }
        options |= 1 << n;
        let v = f.value.clone().unwrap_or_default();
        match n {
            opt::NUMERIC => format.numeric = true,
            opt::STATS => format.stats = true,
            opt::RATE => format.rate = true,
            opt::THRESHOLDS => format.thresholds = true,
            opt::PERSISTENTCONN => format.persistent_conn = true,
            opt::NOSORT => format.nosort = true,
            opt::EXACT => format.exact = true,
            opt::TUN_INFO => format.tun_info = true,
            opt::SERVICE => service_words = vec![format!("--{}", f.long), v],
            opt::MCAST => daemon.interface = Some(v),
            opt::SYNCID => {
                daemon.sync_id = Some(
                    number(&v, 0, 255).ok_or_else(|| Fail::usage("illegal syncid specified"))?,
                )
            }
            opt::MCAST_GROUP => {
                let ip: Option<std::net::IpAddr> = v.parse().ok();
                let ok = match ip {
                    Some(std::net::IpAddr::V4(a)) => !v.contains(':') && a.is_multicast(),
                    Some(std::net::IpAddr::V6(a)) => a.is_multicast(),
                    None => false,
                };
                if !ok {
                    let fam = if v.contains(':') { "IPv6" } else { "IPv4" };
                    return Err(Fail::usage(format!("invalid {fam} mcast-group `{v}'")));
                }
                daemon.group = ip;
            }
            opt::MCAST_PORT => {
                daemon.port = Some(
                    number(&v, 1, 65535)
                        .ok_or_else(|| Fail::usage("illegal mcast-port specified"))?,
                )
            }
            opt::MCAST_TTL => {
                daemon.ttl = Some(
                    number(&v, 1, 255).ok_or_else(|| Fail::usage("illegal mcast-ttl specified"))?,
                )
            }
            opt::SYNC_MAXLEN => {
                daemon.max_len = Some(
                    number(&v, 1, 65535 - 20 - 8)
                        .ok_or_else(|| Fail::usage("illegal sync-maxlen specified"))?,
                )
            }
            _ => {}
        }
    }
    if let Some(bad) = &parsed.bad {
        return Err(Fail::new(255, format!("{}: {}", bad.word, bad.reason)));
    }
    // --set takes three words; any other word is an error.
    let mut extra = parsed.args.iter();
    if cmd == Cmd::Timeout {
        let three: Vec<&String> = extra.by_ref().take(3).collect();
        if three.len() < 3 {
            return Err(Fail::usage("--set option requires 3 timeout values"));
        }
        for t in three {
            if number(t, 0, 86400 * 31).is_none() {
                return Err(Fail::usage(format!(
                    "invalid timeout value `{t}' specified"
                )));
            }
        }
    }
    if let Some(a) = extra.next() {
        return Err(Fail::usage(format!("unexpected argument {a}")));
    }
    args::check(cmd, options).map_err(Fail::usage)?;

    match cmd {
        Cmd::List => {
            let conflict =
                (options & (1 << opt::CONNECTION | 1 << opt::TIMEOUT | 1 << opt::DAEMON) != 0
                    && (format.stats || format.rate || format.thresholds))
                    || (options & (1 << opt::TIMEOUT | 1 << opt::DAEMON) != 0
                        && format.persistent_conn);
            if conflict {
                return Err(Fail::usage("options conflicts in the list command"));
            }
            let key = if service_words.is_empty() {
                None
            } else {
                Some(service_key(&service_words)?)
            };
            let h = k.get()?;
            if options & (1 << opt::CONNECTION) != 0 {
                list_connections(h, format, out)?;
            } else if let Some(key) = key {
                let entry = read_one(h, &key)?;
                list::one(&mut out.stdout, &entry, format);
            } else if options & (1 << opt::TIMEOUT) != 0 {
                let t = h
                    .timeouts()
                    .map_err(|e| Fail::new(1, libipvs_message(&e)))?;
                list::timeouts(&mut out.stdout, &t);
            } else if options & (1 << opt::DAEMON) != 0 {
                let d = h.daemons().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
                list::daemons(&mut out.stdout, &d);
            } else {
                list_all(h, format, out)?;
            }
            Ok(0)
        }
        Cmd::Save => {
            let h = k.get()?;
            let table = h.table().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
            out.stdout
                .push_str(&lvs::rules::save(&table, format.numeric));
            Ok(0)
        }
        Cmd::Restore => restore(k, prog, stdin, out),
        Cmd::Zero => {
            let key = if service_words.is_empty() {
                None
            } else {
                Some(service_key(&service_words)?)
            };
            let h = k.get()?;
            Ok(kernel_status(h.zero(key.as_ref()), out))
        }
        Cmd::StartDaemon => {
            let role = if first.value.as_deref() == Some("master") {
                lvs::DaemonRole::Master
            } else {
                lvs::DaemonRole::Backup
            };
            let mut d = lvs::SyncDaemon::new(
                role,
                daemon.interface.unwrap_or_else(|| "eth0".into()),
                daemon.sync_id.unwrap_or(0) as u8,
            );
            if let Some(m) = daemon.max_len {
                d = d.with_max_len(m as u16);
            }
            if let Some(g) = daemon.group {
                d = d.with_group(g);
            }
            if let Some(p) = daemon.port {
                d = d.with_port(p as u16);
            }
            if let Some(t) = daemon.ttl {
                d = d.with_ttl(t as u8);
            }
            let h = k.get()?;
            Ok(kernel_status(h.start_daemon(&d), out))
        }
        Cmd::StopDaemon => {
            let role = if first.value.as_deref() == Some("master") {
                lvs::DaemonRole::Master
            } else {
                lvs::DaemonRole::Backup
            };
            let h = k.get()?;
            Ok(kernel_status(h.stop_daemon(role), out))
        }
        Cmd::Add
        | Cmd::Edit
        | Cmd::Del
        | Cmd::AddDest
        | Cmd::EditDest
        | Cmd::DelDest
        | Cmd::Flush
        | Cmd::Timeout => {
            let rule = Rule::parse_args(words, &ParseOptions::ipvsadm())
                .map_err(|e| Fail::usage(e.message))?;
            let h = k.get()?;
            Ok(kernel_status(h.execute(&rule.op()), out))
        }
    }
}

/// Whether `lvs::rules` reads the command.
fn cmd_is_rule(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Add
            | Cmd::Edit
            | Cmd::Del
            | Cmd::AddDest
            | Cmd::EditDest
            | Cmd::DelDest
            | Cmd::Flush
            | Cmd::Timeout
    )
}

#[derive(Debug, Default)]
struct DaemonArgs {
    interface: Option<String>,
    sync_id: Option<u32>,
    group: Option<std::net::IpAddr>,
    port: Option<u32>,
    ttl: Option<u32>,
    max_len: Option<u32>,
}

/// A decimal number in `min..=max` (ipvsadm's `string_to_number`).
fn number(s: &str, min: i64, max: i64) -> Option<u32> {
    let n: i64 = s.parse().ok()?;
    (min..=max).contains(&n).then_some(n as u32)
}

/// The service of `-t/-u/--sctp-service/-f [-6]` for `-L` and `-Z`, read
/// by `lvs::rules` as ipvsadm reads it.
fn service_key(words: &[String]) -> Result<ServiceKey, Fail> {
    let mut line = vec!["-D".to_owned()];
    line.extend(words.iter().cloned());
    match Rule::parse_args(&line, &ParseOptions::ipvsadm()) {
        Ok(Rule::DeleteService(k)) => Ok(k),
        Ok(_) => Err(Fail::usage(
            "illegal virtual server address[:port] specified",
        )),
        Err(e) if words.first().map(String::as_str) == Some("--fwmark-service") => {
            Err(Fail::usage(e.message))
        }
        Err(_) => Err(Fail::usage(
            "illegal virtual server address[:port] specified",
        )),
    }
}

/// One service with its destinations (`-L -t ADDR`): exit 1 with
/// `No such service` when it is missing, as ipvsadm.
fn read_one(h: &mut Handle, key: &ServiceKey) -> Result<lvs::TableEntry, Fail> {
    let table = h.table().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
    table
        .into_iter()
        .find(|e| e.key() == *key)
        .ok_or_else(|| Fail::new(1, "No such service".into()))
}

fn list_all(h: &mut Handle, format: list::Format, out: &mut Output) -> Result<(), Fail> {
    let info = h.info().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
    list::header(&mut out.stdout, &info);
    let table = h.table().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
    list::all(&mut out.stdout, &table, format);
    Ok(())
}

/// `-c`: the connection table.
fn list_connections(h: &mut Handle, format: list::Format, out: &mut Output) -> Result<(), Fail> {
    let conns = h
        .connections()
        .map_err(|_| Fail::new(1, "cannot open file /proc/net/ip_vs_conn".into()))?;
    let o = &mut out.stdout;
    o.push_str("IPVS connection entries\n");
    if format.persistent_conn {
        o.push_str(&format!(
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} {}\n",
            "state", "source", "virtual", "destination", "pe name", "pe_data"
        ));
    } else {
        o.push_str(&format!(
            "pro expire {:<11} {:<18} {:<18} {}\n",
            "state", "source", "virtual", "destination"
        ));
    }
    for c in &conns {
        o.push_str(&connection_line(c, format));
    }
    Ok(())
}

fn connection_line(c: &lvs::Connection, format: list::Format) -> String {
    let proto = Some(c.protocol);
    let name = |a| lvs::rules::addr_port(a, proto, format.numeric);
    let secs = c.expires.as_secs();
    let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
    let pname = match c.protocol {
        lvs::Protocol::Tcp => "TCP".to_owned(),
        lvs::Protocol::Udp => "UDP".to_owned(),
        lvs::Protocol::Sctp => "SCTP".to_owned(),
        _ => "?".to_owned(),
    };
    let base = format!(
        "{pname:<3} {expire:<6} {:<11} {:<18} {:<18} ",
        c.state.as_str(),
        name(c.client),
        name(c.virtual_addr),
    );
    match (&c.pe, format.persistent_conn) {
        (Some(pe), true) => format!(
            "{base}{:<16} {:<18} {}\n",
            name(c.destination),
            pe.engine,
            pe.data
        ),
        _ => format!("{base}{}\n", name(c.destination)),
    }
}

/// A kernel command's result as ipvsadm reports it: 0, or the message and
/// 255 (ipvsadm returns libipvs's -1 from `main`).
fn kernel_status(r: lvs::Result<()>, out: &mut Output) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            out.stderr.push_str(&libipvs_message(&e));
            out.stderr.push('\n');
            255
        }
    }
}

/// The text of an errno, as C's `strerror`.
fn errno_text(e: &Error) -> String {
    match e.errno() {
        Some(n) => {
            let s = std::io::Error::from_raw_os_error(n).to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_owned(),
                None => s,
            }
        }
        None => e.to_string(),
    }
}

/// libipvs's message for an error of an operation (`ipvs_strerror`).
fn libipvs_message(e: &Error) -> String {
    let dest_op = matches!(
        e.operation(),
        Operation::AddDestination { .. }
            | Operation::UpdateDestination { .. }
            | Operation::RemoveDestination { .. }
    );
    match e.kind() {
        ErrorKind::ServiceExists => "Service already exists".into(),
        ErrorKind::SchedulerNotFound | ErrorKind::PersistenceEngineNotFound => {
            "Scheduler or persistence engine not found".into()
        }
        ErrorKind::ServiceNotFound if dest_op => "Service not defined".into(),
        ErrorKind::ServiceNotFound => "No such service".into(),
        ErrorKind::DestinationExists => "Destination already exists".into(),
        ErrorKind::DestinationNotFound => "No such destination".into(),
        ErrorKind::DaemonRunning => "Daemon has already run".into(),
        ErrorKind::DaemonNotRunning => "No daemon is running".into(),
        _ => match e.errno() {
            Some(1) => "Permission denied (you must be root)".into(),
            Some(22) => {
                "Invalid operation.  Possibly wrong module version, address not unicast, ...".into()
            }
            Some(92) => "Protocol not available".into(),
            Some(12) => "Memory allocation problem".into(),
            Some(95) => "Operation not supported with IPv6".into(),
            Some(97) => "Operation not supported with specified address family".into(),
            Some(90) => "Module is wrong version".into(),
            Some(_) => errno_text(e),
            None => e.to_string(),
        },
    }
}

/// `-R`: each line of standard input as a command; a line that cannot be
/// read stops it (2), else the status is the last line's.
fn restore(
    k: &mut Kernel<'_>,
    _prog: &str,
    stdin: &mut dyn Read,
    out: &mut Output,
) -> Result<i32, Fail> {
    let mut text = String::new();
    stdin
        .read_to_string(&mut text)
        .map_err(|e| Fail::new(1, format!("reading standard input: {e}")))?;
    let mut status = 0;
    for line in text.lines() {
        let rules = Rules::parse_with(line, &ParseOptions::ipvsadm())
            .map_err(|e| Fail::usage(e.message))?;
        for rule in &rules {
            let h = k.get()?;
            status = kernel_status(h.execute(&rule.op()), out);
        }
    }
    Ok(status)
}

/// `diff FILE` / `apply FILE` (`-` for standard input is not taken).
fn diff_or_apply(
    k: &mut Kernel<'_>,
    prog: &str,
    words: &[&str],
    apply: bool,
    out: &mut Output,
) -> Result<i32, Fail> {
    let [file] = words else {
        return Err(Fail::usage(format!(
            "usage: {prog} {} FILE",
            if apply { "apply" } else { "diff" }
        )));
    };
    let text = std::fs::read_to_string(file).map_err(|e| Fail::new(1, format!("{file}: {e}")))?;
    let rules = Rules::parse_with(&text, &ParseOptions::ipvsadm())
        .map_err(|e| Fail::usage(format!("{file}: {e}")))?;
    let desired = lvs::reconcile::DesiredState::from_rules(&rules)
        .map_err(|e| Fail::usage(format!("{file}: {e}")))?;
    let h = k.get()?;
    let table = h.table().map_err(|e| Fail::new(1, libipvs_message(&e)))?;
    let plan = lvs::reconcile::plan(
        &desired,
        &table,
        &lvs::reconcile::Policy::default(),
        &[],
        std::time::Instant::now(),
    )
    .map_err(|e| Fail::usage(format!("{file}: {e}")))?;
    let text = plan
        .to_ipvsadm_restore()
        .map_err(|e| Fail::new(1, e.to_string()))?;
    out.stdout.push_str(&text);
    if !apply {
        return Ok(0);
    }
    let result = h.apply(&plan.ops());
    let mut status = 0;
    for (_, e) in result.errors() {
        out.stderr.push_str(&libipvs_message(e));
        out.stderr.push('\n');
        status = 255;
    }
    Ok(status)
}

fn usage(prog: &str) -> String {
    format!(
        "lvsadm {v}: ipvsadm's command line on the lvs library\n\
         Usage:\n  \
         {prog} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n  \
         {prog} -D virtual-service\n  \
         {prog} -C\n  \
         {prog} -R\n  \
         {prog} -S [-n]\n  \
         {prog} -a|e virtual-service -r server-address [options]\n  \
         {prog} -d virtual-service -r server-address\n  \
         {prog} -L|l [virtual-service] [options]\n  \
         {prog} -Z [virtual-service]\n  \
         {prog} --set tcp tcpfin udp\n  \
         {prog} --start-daemon {{master|backup}} [daemon-options]\n  \
         {prog} --stop-daemon {{master|backup}}\n  \
         {prog} diff FILE     what -R of FILE would change, as rules\n  \
         {prog} apply FILE    make the table match FILE with the fewest changes\n  \
         {prog} -h\n\
         Options and output are ipvsadm 1.31's; see ipvsadm(8).\n",
        v = env!("CARGO_PKG_VERSION")
    )
}
