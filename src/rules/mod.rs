//! ipvsadm's rule text (`ipvsadm -S` writes it, `ipvsadm -R` reads it),
//! in and out of the typed model.
//!
//! - [`Rules::parse`] reads a rule file into [`Rule`]s: every command and
//!   option `ipvsadm -R` takes (`-A/-E/-D/-a/-e/-d/-C/--set`,
//!   `-t/-u/--sctp-service/-f`, `-6`, `-s`, `-b`, `-p [timeout]`, `-M`,
//!   `--pe`, `-o`, `-r`, `-g/-i/-m`, `--tun-type`, `--tun-port`,
//!   `--tun-nocsum/--tun-csum/--tun-remcsum`, `-w`, `-x`, `-y`), short and
//!   long (`--add-service`, `--tcp-service=ADDR`, `--weight 3`, ...),
//!   service and host names where ipvsadm takes them. An error names its
//!   line and column and what was expected ([`ParseError`]).
//! - [`Rules`]' `Display` writes the canonical text: the syntax of
//!   `ipvsadm -S -n`, one command per line, plus the thresholds (`-x`,
//!   `-y`) that `ipvsadm -S` leaves out. [`Rules::parse`] reads it back to
//!   the same value.
//! - [`Rules::from_table`] turns a table read from the kernel
//!   ([`Handle::table`](crate::Handle::table)) into the commands that
//!   re-create it, destinations and same-bucket services in the order the
//!   kernel lists them (it lists the newest first, so they are added
//!   oldest first).
//! - [`save`] prints a table exactly as `ipvsadm -S` (or `-S -n`) prints
//!   it: ipvsadm's sort order, host and service names, no thresholds.
//!
//! The reconciler's [`DesiredState`](crate::reconcile::DesiredState)
//! converts from and to rules, and its plans print as rules
//! ([`Plan::to_ipvsadm_restore`](crate::reconcile::Plan::to_ipvsadm_restore)).
//!
//! # Example
//! ```
//! use lvs::rules::{Rule, Rules};
//! use lvs::{Forwarding, ServiceKey};
//!
//! let rules = Rules::parse(
//!     "-A -t 10.0.0.1:80 -s rr\n\
//!      -a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3 --u-threshold=100\n",
//! )?;
//! let Rule::AddServer(key, dest) = &rules.rules[1] else { unreachable!() };
//! assert_eq!(*key, ServiceKey::tcp(([10, 0, 0, 1], 80)));
//! assert_eq!((dest.forwarding, dest.weight, dest.upper_threshold), (Forwarding::Masquerade, 3, 100));
//! // The canonical text, which parses back to the same rules:
//! assert_eq!(rules.to_string(), "\
//! -A -t 10.0.0.1:80 -s rr
//! -a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3 -x 100
//! ");
//! assert_eq!(Rules::parse(&rules.to_string())?, rules);
//!
//! // Errors name the line, the column and what was expected.
//! let e = Rules::parse("-A -t 10.0.0.1:80\n-A -u 10.0.0.1:53 -s rrr\n").unwrap_err();
//! assert_eq!((e.line, e.column), (2, 22));
//! assert!(e.to_string().starts_with("line 2, column 22: expected a scheduler name (rr, wrr, "));
//! assert!(e.to_string().ends_with("found \"rrr\""));
//! # Ok::<(), lvs::rules::ParseError>(())
//! ```

use std::fmt;
use std::net::SocketAddr;

use crate::model::{Destination, Op, Service, ServiceKey, TableEntry, Timeouts};

mod emit;
mod names;
mod parse;

pub use crate::model::ntop;
pub use emit::{IpvsadmKey, addr_port, ipvsadm_sorted, save};
pub use parse::ParseOptions;

/// One ipvsadm command of a rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// `-A` (`--add-service`): create a service.
    AddService(Service),
    /// `-E` (`--edit-service`): change a service. Like ipvsadm, the whole
    /// configuration: an option left out takes its default.
    EditService(Service),
    /// `-D` (`--delete-service`).
    DeleteService(ServiceKey),
    /// `-a` (`--add-server`): add a real server to a service.
    AddServer(ServiceKey, Destination),
    /// `-e` (`--edit-server`): change a real server (the whole
    /// configuration, as for `-E`).
    EditServer(ServiceKey, Destination),
    /// `-d` (`--delete-server`).
    DeleteServer(ServiceKey, SocketAddr),
    /// `-C` (`--clear`): remove every service.
    Clear,
    /// `--set TCP TCPFIN UDP`: connection timeouts (0 leaves one as it
    /// is, a `None` here).
    SetTimeouts(Timeouts),
}

impl Rule {
    /// The operation that carries out this command.
    pub fn op(&self) -> Op {
        match self {
            Rule::AddService(s) => Op::AddService(s.clone()),
            Rule::EditService(s) => Op::UpdateService(s.clone()),
            Rule::DeleteService(k) => Op::RemoveService(*k),
            Rule::AddServer(k, d) => Op::AddDestination(*k, *d),
            Rule::EditServer(k, d) => Op::UpdateDestination(*k, *d),
            Rule::DeleteServer(k, a) => Op::RemoveDestination(*k, *a),
            Rule::Clear => Op::Flush,
            Rule::SetTimeouts(t) => Op::SetTimeouts(*t),
        }
    }

    /// The command for an operation, if ipvsadm's rules have one (`Zero`
    /// has none).
    pub fn from_op(op: &Op) -> Option<Rule> {
        Some(match op {
            Op::AddService(s) => Rule::AddService(s.clone()),
            Op::UpdateService(s) => Rule::EditService(s.clone()),
            Op::RemoveService(k) => Rule::DeleteService(*k),
            Op::AddDestination(k, d) => Rule::AddServer(*k, *d),
            Op::UpdateDestination(k, d) => Rule::EditServer(*k, *d),
            Op::RemoveDestination(k, a) => Rule::DeleteServer(*k, *a),
            Op::Flush => Rule::Clear,
            Op::SetTimeouts(t) => Rule::SetTimeouts(*t),
            _ => return None,
        })
    }

    /// Parse one command (one line of a rule file; `line` in the error is 1).
    ///
    /// # Errors
    /// A [`ParseError`] naming the column and what was expected.
    pub fn parse(text: &str) -> Result<Rule, ParseError> {
        let mut rules = Rules::parse(text)?;
        match rules.rules.len() {
            1 => Ok(rules.rules.remove(0)),
            n => Err(ParseError {
                line: 1,
                column: 1,
                message: format!("expected one command, found {n}"),
            }),
        }
    }

    /// Parse one command given as separate arguments, as ipvsadm's command
    /// line passes them (`["-a", "-t", "10.0.0.1:80", "-r", "10.1.1.1"]`).
    /// The error's `column` is then the 1-based index of the argument at
    /// fault, its `line` 1.
    ///
    /// # Errors
    /// A [`ParseError`] naming the argument and what was expected.
    pub fn parse_args<S: AsRef<str>>(
        args: &[S],
        options: &ParseOptions,
    ) -> Result<Rule, ParseError> {
        let tokens: Vec<parse::Token<'_>> = args
            .iter()
            .enumerate()
            .map(|(i, a)| parse::Token {
                text: a.as_ref(),
                column: i + 1,
            })
            .collect();
        match parse::command(&tokens, 1, options)? {
            Some(rule) => Ok(rule),
            None => Err(ParseError {
                line: 1,
                column: 1,
                message: "expected a command, found nothing".into(),
            }),
        }
    }
}

/// A rule file: ipvsadm commands in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Rules {
    /// The commands, in file order.
    pub rules: Vec<Rule>,
}

impl Rules {
    /// No commands.
    pub fn new() -> Self {
        Rules::default()
    }

    /// Parse `ipvsadm -R` input with [`ParseOptions::default`]: names of
    /// services (`http`, from `/etc/services`) and IPv4 hosts (through the
    /// system resolver, as ipvsadm) are accepted. Blank lines are skipped,
    /// and so is the rest of a line from a word starting with `#`; the word
    /// `ipvsadm` is ignored wherever it stands, as ipvsadm does.
    ///
    /// # Errors
    /// The first [`ParseError`], with its line and column.
    pub fn parse(text: &str) -> Result<Rules, ParseError> {
        Rules::parse_with(text, &ParseOptions::default())
    }

    /// Parse with explicit [`ParseOptions`].
    ///
    /// # Errors
    /// The first [`ParseError`], with its line and column.
    pub fn parse_with(text: &str, options: &ParseOptions) -> Result<Rules, ParseError> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let tokens = parse::tokens(line);
            if let Some(rule) = parse::command(&tokens, i + 1, options)? {
                rules.push(rule);
            }
        }
        Ok(Rules { rules })
    }

    /// The commands that re-create `table` (a whole-table read, e.g.
    /// [`Handle::table`](crate::Handle::table)) on an empty kernel, so that
    /// the kernel then lists it in the same order: the kernel lists a
    /// service's destinations newest first, and services of one hash
    /// bucket newest first, so both are added in reverse list order. Every
    /// `-A` comes before the `-a` lines of its service.
    ///
    /// Destination order is re-created in any namespace; service order in
    /// the namespace the table was read from (the kernel's service hash
    /// mixes in a per-namespace pointer, so another namespace buckets the
    /// same services differently). ipvsadm's listings sort services
    /// anyway; `lvs`'s reads show the kernel's order.
    pub fn from_table(table: &[TableEntry]) -> Rules {
        let mut rules = Vec::new();
        for e in table.iter().rev() {
            let key = e.service.service.key;
            rules.push(Rule::AddService(e.service.service.clone()));
            rules.extend(
                e.destinations
                    .iter()
                    .rev()
                    .map(|d| Rule::AddServer(key, d.destination)),
            );
        }
        Rules { rules }
    }

    /// The operations, in order, for [`Handle::apply`](crate::Handle::apply).
    pub fn ops(&self) -> Vec<Op> {
        self.rules.iter().map(Rule::op).collect()
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// `true` with no commands.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The commands.
    pub fn iter(&self) -> std::slice::Iter<'_, Rule> {
        self.rules.iter()
    }
}

impl From<Vec<Rule>> for Rules {
    fn from(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }
}

impl FromIterator<Rule> for Rules {
    fn from_iter<T: IntoIterator<Item = Rule>>(iter: T) -> Self {
        Rules {
            rules: iter.into_iter().collect(),
        }
    }
}

impl IntoIterator for Rules {
    type Item = Rule;
    type IntoIter = std::vec::IntoIter<Rule>;
    fn into_iter(self) -> Self::IntoIter {
        self.rules.into_iter()
    }
}

impl<'a> IntoIterator for &'a Rules {
    type Item = &'a Rule;
    type IntoIter = std::slice::Iter<'a, Rule>;
    fn into_iter(self) -> Self::IntoIter {
        self.rules.iter()
    }
}

impl std::str::FromStr for Rules {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Rules::parse(s)
    }
}

impl std::str::FromStr for Rule {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Rule::parse(s)
    }
}

/// The canonical text: one command per line, each ending in `\n`.
impl fmt::Display for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

/// The canonical text of one command (no newline): `ipvsadm -S -n`'s
/// syntax, with `-x`/`-y` for non-zero thresholds.
///
/// What ipvsadm cannot say is written as ipvsadm writes it and does not
/// read back the same: a service of another IP protocol
/// (`--xxx-service`), local-node forwarding (`-g`, as `ipvsadm -S`), a
/// forwarding method or tunnel the kernel reported but `lvs` does not
/// model, and a direct-routing or tunnel destination whose port differs
/// from its address service's (ipvsadm gives it the service's port).
/// [`Rule::check`] finds them.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&emit::rule_line(self, emit::Style::CANONICAL))
    }
}

/// A rule file that could not be parsed: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the word or value at fault.
    pub column: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}
