//! Loading the kernel modules a configuration needs before IPVS would.
//!
//! IPVS builds each scheduler (and the SIP persistence engine) as a module
//! of its own and loads it on demand: adding a service with the `lblc`
//! scheduler while `ip_vs_lblc` is not loaded makes the kernel run
//! `modprobe ip_vs_lblc` and wait for it. Up to Linux 7.0 the kernel waits
//! **while holding the IPVS configuration mutex, which is global**
//! (`__ip_vs_mutex`), and that can deadlock the host:
//!
//! 1. the caller's command holds the IPVS mutex and waits for `modprobe`;
//! 2. a network namespace is being torn down at that moment (a pod
//!    deleted, a container stopped): the teardown holds the kernel's
//!    per-namespace subsystem lock (`pernet_ops_rwsem`) for reading and
//!    waits for the IPVS mutex, to flush the namespace's services;
//! 3. the module being loaded registers per-namespace state (`ip_vs_lblc`
//!    and `ip_vs_lblcr` do), so its load waits for that lock for writing.
//!
//! Nothing moves until the waiting caller is killed with `SIGKILL`: no
//! IPVS command in any namespace, no namespace created or destroyed. In
//! this project's test guest (Debian's 6.1 kernel) one `lblc` service
//! added while four namespaces holding IPVS services were deleted hung on
//! the first try; the kernel's hung-task report shows the three waits
//! above. Linux 7.1 made the mutex per namespace, which removes the cycle
//! for services in other namespaces.
//!
//! Loading the modules first, from a process that holds no IPVS lock,
//! avoids it: the load then just waits for the teardown to finish.
//! [`ensure_loaded`] does that, for the names [`Service::kernel_modules`]
//! and [`DesiredState::kernel_modules`] give. A program that adds services
//! while namespaces come and go (a node's service proxy) should call it
//! before it adds a service whose scheduler it has not used yet. It
//! needs `CAP_SYS_MODULE`; without it the kernel's own on-demand load
//! still works, with the hazard above.
//!
//! ```no_run
//! use lvs::{Scheduler, Service, ServiceKey};
//! let svc = Service::new(ServiceKey::tcp("10.0.0.1:80".parse::<std::net::SocketAddr>()?))
//!     .with_scheduler(Scheduler::Lblc);
//! lvs::kmod::ensure_loaded(&svc.kernel_modules())?;
//! lvs::Handle::open()?.add_service(&svc)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Service::kernel_modules`]: crate::Service::kernel_modules
//! [`DesiredState::kernel_modules`]: crate::reconcile::DesiredState::kernel_modules

use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, ErrorKind, Operation, Result};

/// The longest module name the kernel takes (`MODULE_NAME_LEN - 1`).
const MAX_NAME: usize = 55;

/// Whether the kernel module `name` is loaded: it has a directory under
/// `/sys/module` (`-` and `_` are the same in module names).
///
/// A module built into the kernel has such a directory only when it has
/// parameters, so this may say `false` for a built-in one;
/// [`ensure_loaded`] then runs `modprobe`, which knows it is built in.
pub fn is_loaded(name: &str) -> bool {
    valid_name(name).is_ok() && Path::new("/sys/module").join(sysfs_name(name)).exists()
}

/// Load every module of `names` that is not loaded yet, with the kernel's
/// `modprobe` (the program `/proc/sys/kernel/modprobe` names, as the
/// kernel's own on-demand load uses), once for all of them. Does nothing,
/// and starts no process, when all are loaded. See the [module
/// docs](self) for why a program should call this before it adds a
/// service.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a name that is not a module name
/// (nothing run); [`ErrorKind::PermissionDenied`] when `modprobe` may not
/// load modules (no `CAP_SYS_MODULE`); [`ErrorKind::Unsupported`] when
/// this kernel has no such module; [`ErrorKind::Io`] when `modprobe`
/// cannot run or fails otherwise. The message carries what `modprobe`
/// printed.
pub fn ensure_loaded<S: AsRef<str>>(names: &[S]) -> Result<()> {
    let op = Operation::LoadModules;
    for n in names {
        valid_name(n.as_ref()).map_err(|why| Error::invalid(op.clone(), "module", why))?;
    }
    let missing: Vec<&str> = names
        .iter()
        .map(AsRef::as_ref)
        .filter(|n| !is_loaded(n))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let modprobe = std::fs::read_to_string("/proc/sys/kernel/modprobe")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/sbin/modprobe".to_owned());
    let out = Command::new(&modprobe)
        .arg("-a")
        .arg("--")
        .args(&missing)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            Error::new(
                op.clone(),
                ErrorKind::Io,
                format!("cannot run {modprobe} to load {}: {e}", missing.join(" ")),
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let kind = if said.contains("not permitted") || said.contains("ermission denied") {
        ErrorKind::PermissionDenied
    } else if said.contains("not found") {
        ErrorKind::Unsupported
    } else {
        ErrorKind::Io
    };
    let still: Vec<&str> = missing.iter().copied().filter(|n| !is_loaded(n)).collect();
    Err(Error::new(
        op,
        kind,
        format!(
            "{modprobe} -a {} failed ({}); not loaded: {}; it said: {said}",
            missing.join(" "),
            out.status,
            if still.is_empty() {
                "none".to_owned()
            } else {
                still.join(" ")
            },
        ),
    ))
}

/// The modules IPVS loads on demand that this kernel ships as files: its
/// schedulers (`ip_vs_rr` ...) and persistence engines (`ip_vs_pe_sip`),
/// the names (without extension) of
/// `/lib/modules/$(uname -r)/kernel/net/netfilter/ipvs/ip_vs_*.ko*` other
/// than `ip_vs` itself and `ip_vs_ftp` (an application helper IPVS never
/// loads on demand), sorted. Empty when IPVS is built in or the modules
/// are elsewhere. Load them all up front with
/// `ensure_loaded(&shipped_scheduler_modules()?)`.
///
/// # Errors
/// [`ErrorKind::Io`] when the kernel release cannot be read.
pub fn shipped_scheduler_modules() -> Result<Vec<String>> {
    let op = Operation::LoadModules;
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| Error::io(op.clone(), e))?;
    let dir = Path::new("/lib/modules")
        .join(release.trim())
        .join("kernel/net/netfilter/ipvs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| f.split_once(".ko").map(|(n, _)| n.to_owned()))
        .filter(|n| n.starts_with("ip_vs_") && n != "ip_vs_ftp" && valid_name(n).is_ok())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// A module name: 1 to 55 bytes of ASCII letters, digits, `_` and `-`,
/// not starting with `-` (it would read as an option).
fn valid_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "module name {name:?} must be 1 to {MAX_NAME} bytes long"
        ));
    }
    if name.starts_with('-') {
        return Err(format!("module name {name:?} starts with '-'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "module name {name:?} holds {c:?}: only letters, digits, '_' and '-' are allowed"
        ));
    }
    Ok(())
}

/// The name's directory under `/sys/module`: `-` written as `_`.
fn sysfs_name(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_runs() {
        for bad in ["", "ip_vs_lblc x", "../ip_vs", "-r", &"m".repeat(56)] {
            let e = ensure_loaded(&[bad]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad:?}: {e}");
            assert!(!is_loaded(bad));
        }
    }

    #[test]
    fn nothing_to_load_runs_nothing() {
        let none: [&str; 0] = [];
        ensure_loaded(&none).unwrap();
        assert_eq!(sysfs_name("ip-vs-lblc"), "ip_vs_lblc");
    }
}
