//! The operations and results the layers above exchange: [`Op`] (one write
//! operation), [`OnError`] and [`BatchResult`] (batches), [`Info`] and
//! [`Timeouts`] (global settings). Values only: encoding is in the codec,
//! sending in the handle.

use std::net::SocketAddr;

use super::{Destination, Scheduler, Service, ServiceKey};
use crate::error::{Error, ErrorKind, Operation, Result};

/// IPVS version and connection table size (`IPVS_CMD_GET_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Info {
    /// `IP_VS_VERSION_CODE`: `(major, minor, patch)`, e.g. `(1, 2, 1)`.
    pub version: (u8, u8, u8),
    /// Size of the connection hash table.
    pub conn_table_size: u32,
}

/// Protocol timeouts in seconds (`IPVS_CMD_GET_CONFIG` / `SET_CONFIG`).
///
/// On set, `None` leaves a value unchanged (the kernel's 0).
///
/// # Example
/// ```no_run
/// use lvs::{Handle, Timeouts};
///
/// # fn main() -> lvs::Result<()> {
/// let mut ipvs = Handle::open()?;
/// // ipvsadm --set 900 120 0: change TCP and TCP FIN, leave UDP as it is.
/// let mut t = Timeouts::default(); // None: leave unchanged
/// t.tcp = Some(900);
/// t.tcp_fin = Some(120);
/// ipvs.set_timeouts(&t)?;
/// assert_eq!(ipvs.timeouts()?.tcp, Some(900));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Timeouts {
    /// Established TCP connections (ipvsadm's first `--set` value).
    pub tcp: Option<u32>,
    /// TCP after FIN (second value).
    pub tcp_fin: Option<u32>,
    /// UDP (third value).
    pub udp: Option<u32>,
}

impl Timeouts {
    /// The largest value the kernel accepts at any HZ up to 1000
    /// (`INT_MAX / HZ`).
    pub const MAX: u32 = (i32::MAX / 1000) as u32;

    /// Timeouts with all three values set.
    pub fn new(tcp: u32, tcp_fin: u32, udp: u32) -> Self {
        Timeouts {
            tcp: Some(tcp),
            tcp_fin: Some(tcp_fin),
            udp: Some(udp),
        }
    }

    /// This with the established-TCP timeout set (`None`s stay unchanged).
    ///
    /// ```
    /// use lvs::Timeouts;
    /// let t = Timeouts::default().with_udp(60); // ipvsadm --set 0 0 60
    /// assert_eq!((t.tcp, t.tcp_fin, t.udp), (None, None, Some(60)));
    /// ```
    pub fn with_tcp(mut self, seconds: u32) -> Self {
        self.tcp = Some(seconds);
        self
    }

    /// This with the TCP-after-FIN timeout set.
    pub fn with_tcp_fin(mut self, seconds: u32) -> Self {
        self.tcp_fin = Some(seconds);
        self
    }

    /// This with the UDP timeout set.
    pub fn with_udp(mut self, seconds: u32) -> Self {
        self.udp = Some(seconds);
        self
    }

    fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("timeouts.tcp", self.tcp),
            ("timeouts.tcp_fin", self.tcp_fin),
            ("timeouts.udp", self.udp),
        ] {
            if let Some(s) = v
                && (s == 0 || s > Timeouts::MAX)
            {
                return Err(Error::invalid(
                    Operation::SetTimeouts,
                    field,
                    format!(
                        "timeout must be 1..={} seconds (use None to leave it unchanged), got {s}",
                        Timeouts::MAX
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// One write operation, for [`Handle::apply`](crate::Handle::apply) (and
/// the reconciler).
///
/// `Display` writes it as the ipvsadm command that does the same (see
/// [`Rule`](crate::rules::Rule)'s `Display`): `-A -t 10.0.0.1:80 -s rr`,
/// `-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3`, `-Z`, `-C`, `--set 900
/// 0 0`.
///
/// # Example
/// One batch, one result per operation (see [`Handle::apply`](crate::Handle::apply)):
/// ```no_run
/// use lvs::{Destination, Handle, Op, Service, ServiceKey};
///
/// # fn main() -> lvs::Result<()> {
/// let key = ServiceKey::udp(([10, 0, 0, 53], 53));
/// let ops = vec![
///     Op::AddService(Service::new(key)),
///     Op::AddDestination(key, Destination::new(([192, 168, 1, 2], 53))),
///     Op::AddDestination(key, Destination::new(([192, 168, 1, 3], 53))),
/// ];
/// let result = Handle::open()?.apply(&ops);
/// for (i, err) in result.errors() {
///     eprintln!("{:?}: {err}", ops[i]);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Op {
    /// `IPVS_CMD_NEW_SERVICE`.
    AddService(Service),
    /// `IPVS_CMD_SET_SERVICE`.
    UpdateService(Service),
    /// `IPVS_CMD_DEL_SERVICE`.
    RemoveService(ServiceKey),
    /// `IPVS_CMD_NEW_DEST`.
    AddDestination(ServiceKey, Destination),
    /// `IPVS_CMD_SET_DEST`.
    UpdateDestination(ServiceKey, Destination),
    /// `IPVS_CMD_DEL_DEST`.
    RemoveDestination(ServiceKey, SocketAddr),
    /// `IPVS_CMD_ZERO` of one service or all.
    Zero(Option<ServiceKey>),
    /// `IPVS_CMD_FLUSH`.
    Flush,
    /// `IPVS_CMD_SET_CONFIG`.
    SetTimeouts(Timeouts),
}

/// An [`Op`] by reference: what the codec encodes, so a caller holding a
/// `&Service` never clones it into an `Op` to send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpRef<'a> {
    AddService(&'a Service),
    UpdateService(&'a Service),
    RemoveService(&'a ServiceKey),
    AddDestination(&'a ServiceKey, &'a Destination),
    UpdateDestination(&'a ServiceKey, &'a Destination),
    RemoveDestination(&'a ServiceKey, SocketAddr),
    Zero(Option<&'a ServiceKey>),
    Flush,
    SetTimeouts(&'a Timeouts),
}

impl Op {
    /// The operation by reference.
    pub(crate) fn as_ref(&self) -> OpRef<'_> {
        match self {
            Op::AddService(s) => OpRef::AddService(s),
            Op::UpdateService(s) => OpRef::UpdateService(s),
            Op::RemoveService(k) => OpRef::RemoveService(k),
            Op::AddDestination(k, d) => OpRef::AddDestination(k, d),
            Op::UpdateDestination(k, d) => OpRef::UpdateDestination(k, d),
            Op::RemoveDestination(k, a) => OpRef::RemoveDestination(k, *a),
            Op::Zero(k) => OpRef::Zero(k.as_ref()),
            Op::Flush => OpRef::Flush,
            Op::SetTimeouts(t) => OpRef::SetTimeouts(t),
        }
    }

    /// What this operation is, as errors name it.
    pub fn operation(&self) -> Operation {
        self.as_ref().operation()
    }

    /// Check the operation as [`Handle::execute`](crate::Handle::execute)
    /// would, sending nothing.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the field at fault.
    pub fn validate(&self) -> Result<()> {
        self.as_ref().validate()
    }
}

impl OpRef<'_> {
    pub(crate) fn operation(self) -> Operation {
        match self {
            OpRef::AddService(s) => Operation::AddService(s.key),
            OpRef::UpdateService(s) => Operation::UpdateService(s.key),
            OpRef::RemoveService(k) => Operation::RemoveService(*k),
            OpRef::AddDestination(k, d) => Operation::AddDestination {
                service: *k,
                dest: d.addr,
            },
            OpRef::UpdateDestination(k, d) => Operation::UpdateDestination {
                service: *k,
                dest: d.addr,
            },
            OpRef::RemoveDestination(k, a) => Operation::RemoveDestination {
                service: *k,
                dest: a,
            },
            OpRef::Zero(k) => Operation::Zero(k.copied()),
            OpRef::Flush => Operation::Flush,
            OpRef::SetTimeouts(_) => Operation::SetTimeouts,
        }
    }

    pub(crate) fn validate(self) -> Result<()> {
        match self {
            OpRef::AddService(s) | OpRef::UpdateService(s) => s.validate(),
            OpRef::RemoveService(k) | OpRef::RemoveDestination(k, _) | OpRef::Zero(Some(k)) => {
                k.validate()
            }
            OpRef::AddDestination(k, d) | OpRef::UpdateDestination(k, d) => {
                k.validate().and_then(|_| d.validate_for(k))
            }
            OpRef::Zero(None) | OpRef::Flush => Ok(()),
            OpRef::SetTimeouts(t) => t.validate(),
        }
        .map_err(|e| e.with_operation(self.operation()))
    }

    /// Name the missing module of a `SchedulerNotFound` error: the kernel
    /// only says `ENOENT`, for a missing scheduler and for a missing
    /// persistence engine alike (it looks the scheduler up first, loading
    /// its module on demand). `module_loaded` tells which modules are
    /// loaded: a service with a persistence engine whose scheduler module
    /// is loaded and whose engine module is not lacks the engine
    /// ([`ErrorKind::PersistenceEngineNotFound`]).
    pub(crate) fn explain(self, e: Error, module_loaded: fn(&str) -> bool) -> Error {
        let (OpRef::AddService(svc) | OpRef::UpdateService(svc)) = self else {
            return e;
        };
        if e.kind() != ErrorKind::SchedulerNotFound {
            return e;
        }
        let name = svc.scheduler.name();
        let sched = format!("scheduler {name:?} (module ip_vs_{name})");
        let Some(pe) = &svc.persistence_engine else {
            let mut detail =
                format!("{sched} not found: this kernel has no such module, loaded or loadable");
            if matches!(svc.scheduler, Scheduler::Twos) {
                detail.push_str("; twos needs Linux 6.4 or later");
            }
            return e.with_detail(detail);
        };
        let engine = format!("persistence engine {pe:?} (module ip_vs_pe_{pe})");
        let sched_loaded = module_loaded(&format!("ip_vs_{name}"));
        let pe_loaded = module_loaded(&format!("ip_vs_pe_{pe}"));
        match (sched_loaded, pe_loaded) {
            (true, false) => e
                .with_kind(ErrorKind::PersistenceEngineNotFound)
                .with_detail(format!(
                    "{engine} not found: this kernel has no such module, loaded or loadable"
                )),
            (false, true) => e.with_detail(format!(
                "{sched} not found: this kernel has no such module, loaded or loadable"
            )),
            _ => e.with_detail(format!(
                "{sched} or {engine} not found: the kernel does not say which"
            )),
        }
    }

    /// The error of an operation not sent because an earlier one failed.
    pub(crate) fn not_attempted(self) -> Error {
        Error::new(
            self.operation(),
            ErrorKind::NotAttempted,
            "not sent: an earlier operation of the batch failed",
        )
    }
}

/// How [`Handle::apply_with`](crate::Handle::apply_with) treats failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// Send everything pipelined; every operation gets its own result and
    /// a failure never hides the others (the default).
    #[default]
    Continue,
    /// Apply operations in order and stop at the first failure: later ones
    /// are not sent and report [`ErrorKind::NotAttempted`]. The kernel has
    /// no way to abort a pipelined sequence, so this mode waits for each
    /// operation's ACK before sending the next (one round trip each).
    Stop,
}

/// What one batch did: one result per operation, in the order given.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchResult {
    /// `results[i]` is the outcome of operation `i`.
    pub results: Vec<Result<()>>,
    /// Number of `sendmsg` calls made (data chunks and barriers).
    pub sends: usize,
}

impl BatchResult {
    /// A result of `results` made with `sends` datagrams.
    pub(crate) fn new(results: Vec<Result<()>>, sends: usize) -> Self {
        BatchResult { results, sends }
    }
    /// `true` when every operation succeeded.
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(|r| r.is_ok())
    }
    /// Number of operations that were sent and failed. Operations not sent
    /// ([`ErrorKind::NotAttempted`](crate::ErrorKind::NotAttempted): after
    /// a stop-on-error failure, or when the socket failed) are not failures;
    /// [`BatchResult::not_attempted`] counts them, so `results.len()` =
    /// succeeded + failures + not attempted (the C API's rule).
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.kind() != crate::ErrorKind::NotAttempted))
            .count()
    }
    /// Number of operations not sent (`ErrorKind::NotAttempted`).
    pub fn not_attempted(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.kind() == crate::ErrorKind::NotAttempted))
            .count()
    }
    /// The failures with their operation index.
    pub fn errors(&self) -> impl Iterator<Item = (usize, &Error)> {
        self.results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }
    /// The first failure, as a `Result`.
    pub fn into_result(self) -> Result<()> {
        self.results
            .into_iter()
            .find(|r| r.is_err())
            .unwrap_or(Ok(()))
    }
}
