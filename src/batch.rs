//! Batches: many operations per `sendmsg`, one result per operation.

use std::net::SocketAddr;

use tracing::{debug, debug_span};

use crate::error::{Error, ErrorKind, Operation, Result, libc_errno};
use crate::handle::{Handle, Timeouts};
use crate::model::*;
use crate::wire::CmdAttr;
use crate::wire::consts::*;

/// One write operation, for [`Handle::apply`] (and the reconciler).
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

impl Op {
    /// What this operation is, as errors name it.
    pub fn operation(&self) -> Operation {
        match self {
            Op::AddService(s) => Operation::AddService(s.key),
            Op::UpdateService(s) => Operation::UpdateService(s.key),
            Op::RemoveService(k) => Operation::RemoveService(*k),
            Op::AddDestination(k, d) => Operation::AddDestination {
                service: *k,
                dest: d.addr,
            },
            Op::UpdateDestination(k, d) => Operation::UpdateDestination {
                service: *k,
                dest: d.addr,
            },
            Op::RemoveDestination(k, a) => Operation::RemoveDestination {
                service: *k,
                dest: *a,
            },
            Op::Zero(k) => Operation::Zero(*k),
            Op::Flush => Operation::Flush,
            Op::SetTimeouts(_) => Operation::SetTimeouts,
        }
    }

    /// Validate and build the command number and attributes. Nothing is
    /// sent for an operation that fails here.
    pub(crate) fn prepare(&self) -> Result<(u8, Vec<CmdAttr>)> {
        let op = || self.operation();
        let svc = |k: &ServiceKey| CmdAttr::Service(service_key_attrs(k));
        Ok(match self {
            Op::AddService(s) | Op::UpdateService(s) => {
                s.validate().map_err(|e| e.with_operation(op()))?;
                let cmd = if matches!(self, Op::AddService(_)) {
                    IPVS_CMD_NEW_SERVICE
                } else {
                    IPVS_CMD_SET_SERVICE
                };
                (cmd, vec![CmdAttr::Service(service_attrs(s))])
            }
            Op::RemoveService(k) => {
                k.validate().map_err(|e| e.with_operation(op()))?;
                (IPVS_CMD_DEL_SERVICE, vec![svc(k)])
            }
            Op::AddDestination(k, d) | Op::UpdateDestination(k, d) => {
                k.validate()
                    .and_then(|_| d.validate_for(k))
                    .map_err(|e| e.with_operation(op()))?;
                let cmd = if matches!(self, Op::AddDestination(..)) {
                    IPVS_CMD_NEW_DEST
                } else {
                    IPVS_CMD_SET_DEST
                };
                (cmd, vec![svc(k), CmdAttr::Dest(dest_attrs(d))])
            }
            Op::RemoveDestination(k, a) => {
                k.validate().map_err(|e| e.with_operation(op()))?;
                (
                    IPVS_CMD_DEL_DEST,
                    vec![svc(k), CmdAttr::Dest(dest_key_attrs(*a))],
                )
            }
            Op::Zero(Some(k)) => {
                k.validate().map_err(|e| e.with_operation(op()))?;
                (IPVS_CMD_ZERO, vec![svc(k)])
            }
            Op::Zero(None) => (IPVS_CMD_ZERO, vec![]),
            Op::Flush => (IPVS_CMD_FLUSH, vec![]),
            Op::SetTimeouts(t) => (IPVS_CMD_SET_CONFIG, timeout_attrs(t)?),
        })
    }
}

pub(crate) fn timeout_attrs(t: &Timeouts) -> Result<Vec<CmdAttr>> {
    let mut attrs = Vec::new();
    for (field, v, make) in [
        (
            "timeouts.tcp",
            t.tcp,
            CmdAttr::TimeoutTcp as fn(u32) -> CmdAttr,
        ),
        ("timeouts.tcp_fin", t.tcp_fin, CmdAttr::TimeoutTcpFin),
        ("timeouts.udp", t.udp, CmdAttr::TimeoutUdp),
    ] {
        match v {
            None => {}
            Some(s) if s == 0 || s > Timeouts::MAX => {
                return Err(Error::invalid(
                    Operation::SetTimeouts,
                    field,
                    format!(
                        "timeout must be 1..={} seconds (use None to leave it unchanged), got {s}",
                        Timeouts::MAX
                    ),
                ));
            }
            Some(s) => attrs.push(make(s)),
        }
    }
    Ok(attrs)
}

/// How [`Handle::apply_with`] treats failures.
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
    /// `true` when every operation succeeded.
    pub fn is_ok(&self) -> bool {
        self.results.iter().all(|r| r.is_ok())
    }
    /// Number of operations that failed.
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| r.is_err()).count()
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

/// Largest datagram a batch sends (the kernel copies it into one skb).
const CHUNK_BYTES: usize = 256 * 1024;
/// Socket buffers a batch asks for (root may exceed `net.core.*mem_max`).
const BATCH_RCVBUF: usize = 8 * 1024 * 1024;
const BATCH_SNDBUF: usize = 4 * 1024 * 1024;
/// Receive-buffer cost of one error reply (skb truesize, generously).
const ERROR_REPLY_COST: usize = 2048;

impl Handle {
    /// Apply `ops` pipelined: as many per `sendmsg` as fit, no per-message
    /// ACK, then an ACKed barrier. The kernel still answers every failure
    /// with an error message carrying its sequence number, so each
    /// operation gets its own `Result`, in order, and one failure never
    /// hides the others. Invalid operations are refused locally (not sent);
    /// the rest still go.
    ///
    /// Replies are bounded so they always fit the socket's receive buffer;
    /// if the kernel drops replies anyway (`ENOBUFS`), the operations whose
    /// outcome is then unknown get an [`ErrorKind::Io`] error saying so —
    /// never a silent success.
    pub fn apply(&mut self, ops: &[Op]) -> BatchResult {
        self.apply_with(ops, OnError::Continue)
    }

    /// [`Handle::apply`] with a failure policy.
    pub fn apply_with(&mut self, ops: &[Op], on_error: OnError) -> BatchResult {
        let _span = debug_span!("ipvs_batch", ops = ops.len(), ?on_error).entered();
        match on_error {
            OnError::Stop => self.apply_sequential(ops),
            OnError::Continue => self.apply_pipelined(ops),
        }
    }

    fn apply_sequential(&mut self, ops: &[Op]) -> BatchResult {
        let mut results = Vec::with_capacity(ops.len());
        let mut failed = false;
        let mut sends = 0;
        for op in ops {
            if failed {
                results.push(Err(not_attempted(op)));
                continue;
            }
            let r = op.prepare().and_then(|(cmd, attrs)| {
                sends += 1;
                self.command(op.operation(), cmd, &attrs)
            });
            failed = r.is_err();
            results.push(r);
        }
        BatchResult { results, sends }
    }

    fn apply_pipelined(&mut self, ops: &[Op]) -> BatchResult {
        let mut results: Vec<Option<Result<()>>> = (0..ops.len()).map(|_| None).collect();
        let mut sends = 0;
        // Bigger buffers make fewer, larger flights; failure to grow is fine.
        let _ = self.sock().set_buffers(BATCH_RCVBUF, BATCH_SNDBUF);
        let rcvbuf = self.sock().recv_buffer_size().unwrap_or(212_992);
        let sndbuf = self.sock().send_buffer_size().unwrap_or(212_992);
        // Every op in a flight may fail: its error replies must fit.
        let max_ops = (rcvbuf / 2 / ERROR_REPLY_COST).clamp(16, 4096);
        let max_bytes = CHUNK_BYTES.min(sndbuf / 2).max(4096);

        let mut next = 0;
        let mut buf = std::mem::take(self.wbuf_mut());
        while next < ops.len() {
            // Build one flight: [first, end) with sequence numbers base + i.
            buf.clear();
            let first = next;
            let base = self.reserve_seqs(max_ops as u32 + 1);
            let mut count = 0;
            while next < ops.len() && count < max_ops && buf.len() < max_bytes {
                let op = &ops[next];
                match op.prepare() {
                    Ok((cmd, attrs)) => {
                        let seq = base.wrapping_add((next - first) as u32);
                        crate::wire::push_request(&mut buf, self.family_id(), 0, seq, cmd, &attrs);
                        count += 1;
                    }
                    Err(e) => results[next] = Some(Err(e)),
                }
                next += 1;
            }
            if count == 0 {
                continue;
            }
            let barrier = base.wrapping_add((next - first) as u32);
            push_barrier(&mut buf, barrier);
            sends += 1;
            let flight = first..next;
            match self.send_flight(&buf, base, barrier, ops, flight.clone(), &mut results) {
                Ok(()) => {}
                Err(e) => {
                    // The socket failed: nothing after this is known.
                    debug!(error = %e, "batch flight failed");
                    let msg = e.to_string();
                    for i in flight.start..ops.len() {
                        if results[i].is_none() {
                            results[i] = Some(Err(Error::new(
                                ops[i].operation(),
                                ErrorKind::Io,
                                format!("outcome unknown: {msg}"),
                            )));
                        }
                    }
                    next = ops.len();
                }
            }
        }
        *self.wbuf_mut() = buf;
        let results = results
            .into_iter()
            .zip(ops)
            .map(|(r, op)| r.unwrap_or_else(|| Err(not_attempted(op))))
            .collect();
        BatchResult { results, sends }
    }

    /// Send one flight and read replies until its barrier's ACK. Operations
    /// in `flight` with no error reply succeeded.
    fn send_flight(
        &mut self,
        buf: &[u8],
        base: u32,
        barrier: u32,
        ops: &[Op],
        flight: std::ops::Range<usize>,
        results: &mut [Option<Result<()>>],
    ) -> Result<()> {
        let op = Operation::Batch;
        self.sock()
            .send(buf)
            .map_err(|e| Error::io(op.clone(), e))?;
        let mut lost = false;
        let mut want = barrier;
        loop {
            let errors = match self.recv_errors(&op) {
                Ok(v) => v,
                Err(e) if e.errno() == Some(libc_errno::ENOBUFS) => {
                    // The kernel dropped replies: outcomes in this flight
                    // that were not reported are unknown. Re-sync with a
                    // fresh barrier, since the old one may be lost too.
                    lost = true;
                    want = self.reserve_seqs(1);
                    let mut b = Vec::new();
                    push_barrier(&mut b, want);
                    self.sock().send(&b).map_err(|e| Error::io(op.clone(), e))?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for (seq, code, text) in errors {
                if seq == want {
                    if code != 0 {
                        return Err(Error::from_kernel(op, -code, text));
                    }
                    if lost {
                        for i in flight.clone() {
                            if results[i].is_none() {
                                results[i] = Some(Err(Error::new(
                                    ops[i].operation(),
                                    ErrorKind::Io,
                                    "outcome unknown: the kernel dropped replies (ENOBUFS)",
                                )));
                            }
                        }
                    }
                    for r in &mut results[flight.clone()] {
                        if r.is_none() {
                            *r = Some(Ok(()));
                        }
                    }
                    return Ok(());
                }
                let idx = seq.wrapping_sub(base) as usize;
                if code != 0 && idx < flight.len() {
                    let i = flight.start + idx;
                    let e = Error::from_kernel(ops[i].operation(), -code, text);
                    results[i] = Some(Err(crate::handle::explain_missing_module(e, &ops[i])));
                }
            }
        }
    }
}

fn not_attempted(op: &Op) -> Error {
    Error::new(
        op.operation(),
        ErrorKind::NotAttempted,
        "not sent: an earlier operation of the batch failed",
    )
}

/// An `NLMSG_NOOP` request with `NLM_F_ACK`: the kernel ACKs it after
/// handling everything before it in the datagram.
fn push_barrier(buf: &mut Vec<u8>, seq: u32) {
    let start = buf.len();
    buf.resize(start + NLMSG_HDRLEN, 0);
    let m = &mut buf[start..];
    m[0..4].copy_from_slice(&(NLMSG_HDRLEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&NLMSG_NOOP.to_ne_bytes());
    m[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
}
