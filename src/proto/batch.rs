//! A pipelined batch as a state machine: which operations go in one
//! datagram, and which reply settles which operation. The handle sends
//! and receives; everything decided here depends on bytes only.

use std::ops::Range;

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::Op;
use crate::wire::Messages;

use super::request;

/// One flight: operations `ops[range]` with sequence numbers `base + i`,
/// then an ACKed `NLMSG_NOOP` barrier. The kernel handles a datagram's
/// messages in order and answers only failures (no per-message ACK), so
/// an operation without an error reply before the barrier's ACK
/// succeeded.
#[derive(Debug)]
pub(crate) struct Flight {
    base: u32,
    barrier: u32,
    range: Range<usize>,
    /// Whether the kernel dropped replies (`ENOBUFS`) during this flight.
    lost: bool,
    module_loaded: fn(&str) -> bool,
}

/// The limits of one flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlightLimits {
    /// Most operations per flight (their error replies must fit the
    /// receive buffer).
    pub(crate) max_ops: usize,
    /// Most bytes per datagram.
    pub(crate) max_bytes: usize,
    /// Whether a kernel module is loaded: names the missing module of a
    /// `SchedulerNotFound` (see `OpRef::explain`); I/O the caller supplies.
    pub(crate) module_loaded: fn(&str) -> bool,
}

impl Flight {
    /// Encode the next flight into `buf` (cleared first), starting at
    /// `ops[next]`, with sequence numbers from `base` (`max_ops + 1` of
    /// them must be reserved). An operation that fails validation gets its
    /// error in `results` and is not sent. Returns the flight (`None` if
    /// nothing is to be sent) and the index after its last operation.
    pub(crate) fn build(
        buf: &mut Vec<u8>,
        family: u16,
        base: u32,
        ops: &[Op],
        next: usize,
        limits: FlightLimits,
        results: &mut [Option<Result<()>>],
    ) -> (Option<Flight>, usize) {
        buf.clear();
        let first = next;
        let mut next = next;
        let mut count = 0;
        while next < ops.len() && count < limits.max_ops && buf.len() < limits.max_bytes {
            let seq = base.wrapping_add((next - first) as u32);
            match ops[next].as_ref().encode(buf, family, 0, seq) {
                Ok(_) => count += 1,
                Err(e) => results[next] = Some(Err(e)),
            }
            next += 1;
        }
        if count == 0 {
            return (None, next);
        }
        let barrier = base.wrapping_add((next - first) as u32);
        request::barrier(buf, barrier);
        let flight = Flight {
            base,
            barrier,
            range: first..next,
            lost: false,
            module_loaded: limits.module_loaded,
        };
        (Some(flight), next)
    }

    /// The operations of this flight.
    pub(crate) fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// The kernel dropped replies: outcomes not reported so far are
    /// unknown. Wait for the fresh barrier `seq` (written into `buf`,
    /// to be sent) instead, since the old one may be lost too.
    pub(crate) fn replies_lost(&mut self, seq: u32, buf: &mut Vec<u8>) {
        self.lost = true;
        self.barrier = seq;
        buf.clear();
        request::barrier(buf, seq);
    }

    /// Take one received datagram: each error reply settles its
    /// operation in `results`. `Ok(true)` when the barrier's ACK came:
    /// every operation of the flight has its result then.
    ///
    /// # Errors
    /// A reply that does not parse, or the barrier itself failing.
    pub(crate) fn receive(
        &mut self,
        datagram: &[u8],
        ops: &[Op],
        results: &mut [Option<Result<()>>],
    ) -> Result<bool> {
        let op = Operation::Batch;
        for msg in Messages::new(datagram) {
            let msg = msg.map_err(|e| Error::decode(op.clone(), e))?;
            let Some(e) = msg.error() else {
                continue;
            };
            let e = e.map_err(|e| Error::decode(op.clone(), e))?;
            let (seq, code) = (msg.seq, e.code);
            if seq == self.barrier {
                if code != 0 {
                    return Err(Error::from_kernel(op, -code, e.message));
                }
                self.settle(ops, results);
                return Ok(true);
            }
            let idx = seq.wrapping_sub(self.base) as usize;
            if code != 0 && idx < self.range.len() {
                let i = self.range.start + idx;
                let o = ops[i].as_ref();
                let err = Error::from_kernel(o.operation(), -code, e.message);
                results[i] = Some(Err(o.explain(err, self.module_loaded)));
            }
        }
        Ok(false)
    }

    /// The barrier's ACK came: the rest of the flight succeeded, or, if
    /// replies were lost, has an unknown outcome.
    fn settle(&self, ops: &[Op], results: &mut [Option<Result<()>>]) {
        for i in self.range() {
            if results[i].is_none() {
                results[i] = Some(if self.lost {
                    Err(Error::new(
                        ops[i].operation(),
                        ErrorKind::Io,
                        "outcome unknown: the kernel dropped replies (ENOBUFS)",
                    ))
                } else {
                    Ok(())
                });
            }
        }
    }
}

/// The socket failed during the flight of `ops[range]` with `error`: its
/// operations without a result have an unknown outcome. Those after it
/// keep no result, so [`finish`] reports them not attempted (they were
/// never sent).
pub(crate) fn flight_failed(
    ops: &[Op],
    range: Range<usize>,
    results: &mut [Option<Result<()>>],
    error: &Error,
) {
    for i in range {
        if results[i].is_none() {
            results[i] = Some(Err(Error::new(
                ops[i].operation(),
                ErrorKind::Io,
                format!("outcome unknown: {error}"),
            )));
        }
    }
}

/// Every operation without a result: not attempted (the batch stopped
/// at a failed flight before sending it).
pub(crate) fn finish(ops: &[Op], results: Vec<Option<Result<()>>>) -> Vec<Result<()>> {
    results
        .into_iter()
        .zip(ops)
        .map(|(r, op)| {
            r.unwrap_or_else(|| {
                Err(Error::new(
                    op.operation(),
                    ErrorKind::NotAttempted,
                    "not sent: the batch stopped when the socket failed on an earlier flight",
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::model::{Service, ServiceKey, Timeouts};
    use crate::wire::consts::*;

    /// An `NLMSG_ERROR` answer to request `seq`, as the kernel sends it
    /// with capped ACKs (code, then the echoed header).
    fn error_reply(buf: &mut Vec<u8>, seq: u32, code: i32) {
        let mut payload = code.to_ne_bytes().to_vec();
        let mut echoed = vec![0u8; NLMSG_HDRLEN];
        echoed[8..12].copy_from_slice(&seq.to_ne_bytes());
        payload.extend_from_slice(&echoed);
        buf.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&NLM_F_CAPPED.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&payload);
    }

    /// A whole flight without a socket: one invalid operation refused
    /// locally, one failed by the kernel, the rest settled by the barrier.
    #[test]
    fn a_flight_settles_every_operation_from_bytes_alone() {
        let key = |port| ServiceKey::tcp(([10, 0, 0, 1], port));
        let ops = vec![
            Op::AddService(Service::new(key(80))),
            Op::SetTimeouts(Timeouts::new(0, 1, 1)), // 0: refused locally
            Op::AddService(Service::new(key(81))),
            Op::RemoveService(key(82)),
        ];
        let mut results = vec![None, None, None, None];
        let limits = FlightLimits {
            max_ops: 16,
            max_bytes: 4096,
            module_loaded: |_| false,
        };
        let mut buf = Vec::new();
        let (flight, next) = Flight::build(&mut buf, 0x20, 100, &ops, 0, limits, &mut results);
        let mut flight = flight.expect("something to send");
        assert_eq!(next, 4);
        assert_eq!(flight.range(), 0..4);
        assert_eq!(
            results[1].as_ref().map(|r| r.as_ref().unwrap_err().kind()),
            Some(ErrorKind::InvalidArgument)
        );
        // Three requests (seq 100, 102, 103) and the barrier (seq 104).
        let seqs: Vec<u32> = Messages::new(&buf).map(|m| m.unwrap().seq).collect();
        assert_eq!(seqs, [100, 102, 103, 104]);

        // The kernel: ESRCH for the removal, then the barrier's ACK.
        let mut reply = Vec::new();
        error_reply(&mut reply, 103, -3);
        assert!(!flight.receive(&reply, &ops, &mut results).unwrap());
        let mut ack = Vec::new();
        error_reply(&mut ack, 104, 0);
        assert!(flight.receive(&ack, &ops, &mut results).unwrap());

        let results = finish(&ops, results);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(
            results[3].as_ref().unwrap_err().kind(),
            ErrorKind::ServiceNotFound
        );
    }

    /// A flight whose socket failed: its unsettled operations have an
    /// unknown outcome, the operations of later flights were never sent.
    #[test]
    fn a_failed_flight_leaves_later_operations_not_attempted() {
        let ops: Vec<Op> = (0..6)
            .map(|i| Op::RemoveService(ServiceKey::tcp(([10, 0, 0, 1], 80 + i))))
            .collect();
        let mut results: Vec<Option<Result<()>>> = (0..6).map(|_| None).collect();
        // The first flight (0..2) was settled; the second (2..4) failed
        // after the kernel reported op 2; 4 and 5 were never sent.
        results[0] = Some(Ok(()));
        results[1] = Some(Ok(()));
        results[2] = Some(Err(Error::new(
            ops[2].operation(),
            ErrorKind::ServiceNotFound,
            "gone",
        )));
        let e = Error::new(Operation::Batch, ErrorKind::Io, "timed out");
        flight_failed(&ops, 2..4, &mut results, &e);
        let kinds: Vec<_> = finish(&ops, results)
            .into_iter()
            .map(|r| r.err().map(|e| e.kind()))
            .collect();
        use ErrorKind::*;
        assert_eq!(
            kinds,
            [
                None,
                None,
                Some(ServiceNotFound),
                Some(Io),
                Some(NotAttempted),
                Some(NotAttempted)
            ]
        );
    }
}
