//! The one public error type: what we were doing, a kind to match on, and
//! the kernel's own words. Part of the model layer: an [`Operation`] names
//! model values, and every layer above reports through it. (The wire
//! layer below has its own [`wire::Error`](crate::wire::Error).)

use std::fmt;
use std::io;
use std::net::SocketAddr;

use rustix::io::Errno;

use super::{AddressFamily, ServiceKey};

/// What `lvs` was doing when an error happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening a handle (socket, family lookup).
    Open,
    /// Checking a value before sending it.
    Validate,
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(ServiceKey),
    /// `IPVS_CMD_SET_SERVICE`.
    UpdateService(ServiceKey),
    /// `IPVS_CMD_DEL_SERVICE`.
    RemoveService(ServiceKey),
    /// `IPVS_CMD_GET_SERVICE` for one service.
    GetService(ServiceKey),
    /// `IPVS_CMD_GET_SERVICE` dump.
    ListServices,
    /// `IPVS_CMD_NEW_DEST`.
    AddDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_SET_DEST`.
    UpdateDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_DEL_DEST`.
    RemoveDestination {
        /// The service.
        service: ServiceKey,
        /// The destination.
        dest: SocketAddr,
    },
    /// `IPVS_CMD_GET_DEST` dump.
    ListDestinations(ServiceKey),
    /// `IPVS_CMD_FLUSH`.
    Flush,
    /// `IPVS_CMD_ZERO` of one service, or of all (`None`).
    Zero(Option<ServiceKey>),
    /// `IPVS_CMD_GET_INFO`.
    GetInfo,
    /// `IPVS_CMD_GET_CONFIG`.
    GetTimeouts,
    /// `IPVS_CMD_SET_CONFIG`.
    SetTimeouts,
    /// `IPVS_CMD_NEW_DAEMON`.
    StartDaemon,
    /// `IPVS_CMD_DEL_DAEMON`.
    StopDaemon,
    /// `IPVS_CMD_GET_DAEMON` dump.
    ListDaemons,
    /// Reading the connection table.
    ListConnections,
    /// Reading an IPVS sysctl (its name under `net.ipv4.vs`).
    ReadSysctl(&'static str),
    /// Writing an IPVS sysctl (its name under `net.ipv4.vs`).
    WriteSysctl(&'static str),
    /// Sending or finishing a batch.
    Batch,
    /// Loading kernel modules ([`crate::kmod::ensure_loaded`]).
    LoadModules,
    /// A raw command sent with `Handle::send_raw`.
    Raw {
        /// The `IPVS_CMD_*` number.
        cmd: u8,
    },
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Operation::*;
        match self {
            Open => f.write_str("open IPVS handle"),
            Validate => f.write_str("check input"),
            AddService(k) => write!(f, "add service {k}"),
            UpdateService(k) => write!(f, "update service {k}"),
            RemoveService(k) => write!(f, "remove service {k}"),
            GetService(k) => write!(f, "get service {k}"),
            ListServices => f.write_str("list services"),
            AddDestination { service, dest } => write!(f, "add destination {dest} to {service}"),
            UpdateDestination { service, dest } => {
                write!(f, "update destination {dest} of {service}")
            }
            RemoveDestination { service, dest } => {
                write!(f, "remove destination {dest} from {service}")
            }
            ListDestinations(k) => write!(f, "list destinations of {k}"),
            Flush => f.write_str("flush IPVS table"),
            Zero(Some(k)) => write!(f, "zero counters of {k}"),
            Zero(None) => f.write_str("zero all counters"),
            GetInfo => f.write_str("get IPVS info"),
            GetTimeouts => f.write_str("get timeouts"),
            SetTimeouts => f.write_str("set timeouts"),
            StartDaemon => f.write_str("start sync daemon"),
            StopDaemon => f.write_str("stop sync daemon"),
            ListDaemons => f.write_str("list sync daemons"),
            ListConnections => f.write_str("list connections"),
            ReadSysctl(name) => write!(f, "read sysctl net.ipv4.vs.{name}"),
            WriteSysctl(name) => write!(f, "write sysctl net.ipv4.vs.{name}"),
            Batch => f.write_str("batch"),
            LoadModules => f.write_str("load kernel modules"),
            Raw { cmd } => write!(f, "raw IPVS command {cmd}"),
        }
    }
}

/// What went wrong, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The service does not exist (kernel `ESRCH`).
    ServiceNotFound,
    /// The service already exists (`EEXIST` on add).
    ServiceExists,
    /// The destination does not exist (`ENOENT` on update/remove).
    DestinationNotFound,
    /// The destination already exists (`EEXIST` on add).
    DestinationExists,
    /// The scheduler module was not found (`ENOENT` on service add or
    /// update); also when the kernel does not say whether the scheduler
    /// or the persistence engine is missing (the message names both).
    SchedulerNotFound,
    /// The sync daemon of that state is already running (`EEXIST`).
    DaemonRunning,
    /// The sync daemon of that state is not running (`ESRCH`).
    DaemonNotRunning,
    /// No such network interface (`ENODEV`).
    NoSuchInterface,
    /// A sync daemon cannot start while the namespace has destinations of
    /// the other address family than their service (tunnels IPv4-in-IPv6 or
    /// IPv6-in-IPv4): the sync protocol cannot carry them (`EINVAL` on
    /// `IPVS_CMD_NEW_DAEMON`).
    MixedFamilyDestinations,
    /// The kernel has no IPVS: the generic-netlink family is missing.
    IpvsUnavailable,
    /// The caller lacks `CAP_NET_ADMIN` in the initial user namespace
    /// (`EPERM` from IPVS), or `CAP_SYS_ADMIN` to enter another network
    /// namespace (opening a handle there).
    PermissionDenied,
    /// Input rejected by `lvs` before anything was sent.
    InvalidArgument,
    /// The kernel lacks a feature (attribute, scheduler) this call needs.
    Unsupported,
    /// Any other kernel error; see [`Error::errno`] and [`Error::kernel_message`].
    Kernel,
    /// A socket error, or no reply within the handle's timeout.
    Io,
    /// A reply `lvs` could not decode (a bug: please report it).
    Decode,
    /// Not sent, because an earlier operation of a batch failed
    /// ([`OnError::Stop`](crate::OnError::Stop)), or because the batch
    /// stopped before reaching it.
    NotAttempted,
    /// The persistence engine module was not found (`ENOENT` on service
    /// add or update, with the scheduler's module loaded).
    PersistenceEngineNotFound,
    /// A list read ([`Handle::services`](crate::Handle::services),
    /// [`Handle::destinations`](crate::Handle::destinations),
    /// [`Handle::table`](crate::Handle::table)) could not get a consistent
    /// answer: the table kept changing while it was dumped, and repeated
    /// dumps did not agree. Nothing is returned rather than a list that may
    /// miss or repeat entries; retry later.
    InconsistentRead,
}

/// An `lvs` error: the operation, a matchable [`ErrorKind`], and the raw
/// detail (errno, the kernel's extended-ACK text, the field at fault).
///
/// One pointer wide, so `Result<(), Error>` stays small in batch results.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(Box<Inner>);

#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
struct Inner {
    op: Operation,
    kind: ErrorKind,
    errno: Option<i32>,
    kernel_message: Option<String>,
    field: Option<&'static str>,
    detail: String,
    #[source]
    source: Option<io::Error>,
}

impl Error {
    pub(crate) fn new(op: Operation, kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            op,
            kind,
            errno: None,
            kernel_message: None,
            field: None,
            detail: detail.into(),
            source: None,
        }))
    }

    pub(crate) fn invalid(op: Operation, field: &'static str, why: impl Into<String>) -> Self {
        let mut e = Error::new(op, ErrorKind::InvalidArgument, why);
        e.0.field = Some(field);
        e
    }

    pub(crate) fn io(op: Operation, err: io::Error) -> Self {
        let detail = if matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            "no reply from the kernel before the handle's timeout".to_string()
        } else {
            format!("socket error: {err}")
        };
        let kind = if err.kind() == io::ErrorKind::PermissionDenied {
            ErrorKind::PermissionDenied
        } else {
            ErrorKind::Io
        };
        let mut e = Error::new(op, kind, detail);
        e.0.errno = err.raw_os_error();
        e.0.source = Some(err);
        e
    }

    /// Whether this is a socket receive that timed out (no reply in time).
    pub(crate) fn is_timeout(&self) -> bool {
        self.0.source.as_ref().is_some_and(|e| {
            matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            )
        })
    }

    pub(crate) fn decode(op: Operation, err: impl fmt::Display) -> Self {
        Error::new(
            op,
            ErrorKind::Decode,
            format!(
                "could not decode the kernel's reply ({err}); this is a bug in lvs, please report it"
            ),
        )
    }

    /// Map a kernel errno (positive) to an error, given the operation that
    /// caused it: the same errno means different things per command.
    pub(crate) fn from_kernel(op: Operation, errno: i32, kernel_message: Option<String>) -> Self {
        use ErrorKind::*;
        use Operation as O;
        let (kind, detail): (ErrorKind, String) = match (Errno::from_raw_os_error(errno), &op) {
            (Errno::PERM, _) => (
                PermissionDenied,
                "operation not permitted: IPVS needs CAP_NET_ADMIN in the initial user namespace"
                    .into(),
            ),
            (Errno::SRCH, O::StopDaemon) => (
                DaemonNotRunning,
                "no sync daemon of that state is running".into(),
            ),
            (Errno::SRCH, _) => (ServiceNotFound, "no such service".into()),
            (Errno::EXIST, O::AddService(_)) => {
                (ServiceExists, "the service already exists".into())
            }
            (Errno::EXIST, O::AddDestination { .. }) => {
                (DestinationExists, "the destination already exists".into())
            }
            (Errno::EXIST, O::StartDaemon) => (
                DaemonRunning,
                "a sync daemon of that state is already running".into(),
            ),
            (Errno::NOENT, O::UpdateDestination { .. } | O::RemoveDestination { .. }) => {
                (DestinationNotFound, "no such destination".into())
            }
            (Errno::NOENT, O::AddService(_) | O::UpdateService(_)) => (
                SchedulerNotFound,
                "scheduler or persistence engine not found: is its kernel module \
                 (ip_vs_<name> / ip_vs_pe_<name>) available?"
                    .into(),
            ),
            (Errno::NODEV, O::StartDaemon) => (NoSuchInterface, "no such network interface".into()),
            // Everything else NEW_DAEMON refuses with EINVAL is checked
            // before sending (state, interface name, group).
            (Errno::INVAL, O::StartDaemon) => (
                MixedFamilyDestinations,
                "the sync daemon cannot start while a service has a destination of the \
                 other address family (a tunnel across IPv4 and IPv6): the sync protocol \
                 cannot carry those connections; remove them first"
                    .into(),
            ),
            (Errno::NETUNREACH | Errno::ADDRNOTAVAIL, O::StartDaemon) => (
                Kernel,
                "the sync daemon cannot reach its multicast group through that interface \
                 (is it up, with an address of the group's family?)"
                    .into(),
            ),
            (
                Errno::INVAL,
                O::AddDestination { service, dest } | O::UpdateDestination { service, dest },
            ) if service.family() != AddressFamily::of(dest.ip()) => (
                Kernel,
                "the kernel refused this destination: a destination of the other address \
                 family than its service is refused while a sync daemon runs (and any \
                 address that is not unicast is refused)"
                    .into(),
            ),
            (_, _) => (Kernel, io::Error::from_raw_os_error(errno).to_string()),
        };
        let mut err = Error::new(op, kind, detail);
        err.0.errno = Some(errno);
        err.0.kernel_message = kernel_message.filter(|m| !m.is_empty());
        err
    }

    pub(crate) fn with_operation(mut self, op: Operation) -> Self {
        self.0.op = op;
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.0.kind = kind;
        self
    }

    /// The explanation alone (no operation, field or errno).
    pub(crate) fn detail(&self) -> &str {
        &self.0.detail
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = detail.into();
        self
    }

    /// The kind, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// What `lvs` was doing.
    pub fn operation(&self) -> &Operation {
        &self.0.op
    }
    /// The kernel's (positive) errno, if the kernel or a syscall reported one.
    pub fn errno(&self) -> Option<i32> {
        self.0.errno
    }
    /// The kernel's extended-ACK message, if it sent one.
    pub fn kernel_message(&self) -> Option<&str> {
        self.0.kernel_message.as_deref()
    }
    /// The input field at fault, for [`ErrorKind::InvalidArgument`].
    pub fn field(&self) -> Option<&'static str> {
        self.0.field
    }
}

impl Inner {
    fn render(&self) -> String {
        let mut s = String::new();
        let _ = self.render_into(&mut s);
        s
    }

    fn render_into(&self, f: &mut impl fmt::Write) -> fmt::Result {
        write!(f, "{}: ", self.op)?;
        if let Some(field) = self.field {
            write!(f, "invalid {field}: ")?;
        }
        f.write_str(&self.detail)?;
        if let Some(m) = &self.kernel_message {
            write!(f, " (kernel: {m})")?;
        }
        if let (Some(e), true) = (self.errno, self.source.is_none()) {
            write!(f, " [errno {e}]")?;
        }
        Ok(())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
