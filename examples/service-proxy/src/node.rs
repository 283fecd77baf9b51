//! The node side: the dummy interface and its addresses (through the `ip`
//! command), the sysctls IPVS mode needs, and the nftables table (through
//! the `nft` command).
//!
//! Both commands come from Debian's `iproute2` and `nftables` packages.
//! Addresses are changed in one `ip -batch` run per pass, the nftables
//! table in one `nft -f` transaction, and only when something changed.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// kube-proxy's dummy interface name.
pub const DUMMY: &str = "kube-ipvs0";

/// A node-side failure, with the command's own words.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {detail}")]
pub struct NodeError {
    /// What was being done.
    pub what: String,
    /// Why it failed.
    pub detail: String,
}

fn err(what: impl Into<String>, detail: impl Into<String>) -> NodeError {
    NodeError {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Run `prog args` with `input` on stdin; its stdout on success.
fn run(prog: &str, args: &[&str], input: Option<&str>) -> Result<String, NodeError> {
    let what = format!("{prog} {}", args.join(" "));
    let mut child = Command::new(prog)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(&what, format!("cannot run {prog}: {e}")))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| err(&what, format!("writing its input: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(&what, e.to_string()))?;
    if !out.status.success() {
        return Err(err(
            &what,
            format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Addresses in `ip -json addr show` output, with the interface name.
pub fn parse_ip_json(text: &str) -> Vec<(String, IpAddr)> {
    let Ok(Value::Array(links)) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for link in links {
        let name = link.get("ifname").and_then(Value::as_str).unwrap_or("");
        for a in link
            .get("addr_info")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(ip) = a
                .get("local")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
            {
                out.push((name.to_string(), ip));
            }
        }
    }
    out
}

/// The `ip -batch` lines that turn `have` into `want` on `dev`.
pub fn address_batch(dev: &str, have: &BTreeSet<IpAddr>, want: &BTreeSet<IpAddr>) -> String {
    let mut s = String::new();
    for ip in want.difference(have) {
        match ip {
            IpAddr::V4(_) => s.push_str(&format!("address add {ip}/32 dev {dev}\n")),
            IpAddr::V6(_) => s.push_str(&format!("address add {ip}/128 dev {dev} nodad\n")),
        }
    }
    for ip in have.difference(want) {
        let len = if ip.is_ipv6() { 128 } else { 32 };
        s.push_str(&format!("address del {ip}/{len} dev {dev}\n"));
    }
    s
}

/// The dummy interface and the host's addresses.
#[derive(Debug, Clone)]
pub struct Links {
    /// The dummy interface's name.
    pub dummy: String,
}

impl Links {
    /// Make sure the dummy interface exists (created as kube-proxy does:
    /// a `dummy` link left down; its addresses are local all the same).
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn ensure_dummy(dummy: &str) -> Result<Links, NodeError> {
        if run("ip", &["link", "show", "dev", dummy], None).is_err() {
            run("ip", &["link", "add", dummy, "type", "dummy"], None)?;
        }
        Ok(Links {
            dummy: dummy.to_string(),
        })
    }

    /// The addresses on the dummy interface.
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn bound(&self) -> Result<BTreeSet<IpAddr>, NodeError> {
        let out = run(
            "ip",
            &["-json", "address", "show", "dev", &self.dummy],
            None,
        )?;
        Ok(parse_ip_json(&out).into_iter().map(|(_, ip)| ip).collect())
    }

    /// Every address of the host's other interfaces (NodePort candidates;
    /// [`crate::translate::node_addresses`] filters them).
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn host_addresses(&self) -> Result<Vec<IpAddr>, NodeError> {
        let out = run("ip", &["-json", "address", "show"], None)?;
        Ok(parse_ip_json(&out)
            .into_iter()
            .filter(|(dev, _)| *dev != self.dummy)
            .map(|(_, ip)| ip)
            .collect())
    }

    /// Delete the dummy interface, and its addresses with it
    /// (`--cleanup`).
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn remove_dummy(&self) -> Result<(), NodeError> {
        run("ip", &["link", "del", "dev", &self.dummy], None).map(|_| ())
    }

    /// Bind exactly `want` on the dummy interface, given that `have` is
    /// bound now. Returns the number of changes.
    ///
    /// # Errors
    /// When `ip` fails (some changes may have been made).
    pub fn set_bound(
        &self,
        have: &BTreeSet<IpAddr>,
        want: &BTreeSet<IpAddr>,
    ) -> Result<usize, NodeError> {
        let batch = address_batch(&self.dummy, have, want);
        if batch.is_empty() {
            return Ok(0);
        }
        run("ip", &["-force", "-batch", "-"], Some(&batch))?;
        Ok(batch.lines().count())
    }
}

/// Apply an `nft -f` script.
///
/// # Errors
/// When `nft` fails (the transaction is then not applied at all).
pub fn nft_apply(script: &str) -> Result<(), NodeError> {
    run("nft", &["-f", "-"], Some(script)).map(|_| ())
}

/// One sysctl: set to `want` (or only read when `want` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Dotted name, e.g. `net.ipv4.vs.conntrack`.
    pub name: String,
    /// The value the proxy sets, if it sets one.
    pub want: Option<String>,
    /// The value read after setting, or the error.
    pub outcome: Result<String, String>,
}

fn sysctl_path(name: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(name.replace('.', "/"))
}

/// The sysctls IPVS mode needs, as kube-proxy sets them.
/// `conn_reuse_mode` is only reported: kube-proxy sets it to 0 on kernels
/// before 5.9 only, where reusing a port of a connection to a removed
/// destination stalled new connections for a second.
pub fn wanted_sysctls(strict_arp: bool) -> Vec<(&'static str, Option<&'static str>)> {
    let mut v = vec![
        ("net.ipv4.vs.conntrack", Some("1")),
        ("net.ipv4.vs.expire_nodest_conn", Some("1")),
        ("net.ipv4.vs.expire_quiescent_template", Some("1")),
        ("net.ipv4.vs.conn_reuse_mode", None),
        ("net.ipv4.ip_forward", Some("1")),
    ];
    if strict_arp {
        v.push(("net.ipv4.conf.all.arp_ignore", Some("1")));
        v.push(("net.ipv4.conf.all.arp_announce", Some("2")));
    }
    v
}

/// Set (and read back) the sysctls of [`wanted_sysctls`].
pub fn set_sysctls(strict_arp: bool) -> Vec<Sysctl> {
    wanted_sysctls(strict_arp)
        .into_iter()
        .map(|(name, want)| {
            let path = sysctl_path(name);
            let set = match want {
                Some(v) => std::fs::write(&path, v).map_err(|e| format!("cannot set: {e}")),
                None => Ok(()),
            };
            let outcome = set.and_then(|()| {
                std::fs::read_to_string(&path)
                    .map(|s| s.trim().to_string())
                    .map_err(|e| format!("cannot read: {e}"))
            });
            Sysctl {
                name: name.to_string(),
                want: want.map(str::to_string),
                outcome,
            }
        })
        .collect()
}
