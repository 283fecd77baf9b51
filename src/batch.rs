//! Batches over the handle's socket: many operations per `sendmsg`, one
//! result per operation. What goes in a flight and which reply settles
//! which operation is decided by the sans-IO core (`proto::batch`).

use std::os::fd::{AsFd, BorrowedFd};
use std::task::Poll;

use tracing::{debug, debug_span};

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::handle::Handle;
use crate::model::{BatchResult, OnError, Op};
use crate::proto::batch::{Flight, FlightLimits, finish, flight_failed};
use crate::sys::Errno;

/// Largest datagram a batch sends (the kernel copies it into one skb).
const CHUNK_BYTES: usize = 256 * 1024;
/// The send buffer a batch asks for (root may exceed `net.core.wmem_max`);
/// the receive buffer is the handle's ([`Handle::set_batch_recv_buffer`]).
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
    /// never a silent success — and the batch goes on (the queued replies
    /// are read before re-syncing, so this cannot hang, even without a
    /// timeout). If the socket fails, the operations of the flight in the
    /// air get that `Io` error and the ones not yet sent
    /// [`ErrorKind::NotAttempted`].
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
                results.push(Err(op.as_ref().not_attempted()));
                continue;
            }
            let r = self.execute(op);
            sends += usize::from(!matches!(&r, Err(e) if e.kind() == ErrorKind::InvalidArgument));
            failed = r.is_err();
            results.push(r);
        }
        BatchResult::new(results, sends)
    }

    /// Grow the socket buffers for a batch and give the flight limits
    /// they allow.
    fn flight_limits(&mut self) -> FlightLimits {
        // Bigger buffers make fewer, larger flights; failure to grow is fine.
        let _ = self
            .sock()
            .set_buffers(self.batch_recv_buffer(), BATCH_SNDBUF);
        let rcvbuf = self.sock().recv_buffer_size().unwrap_or(212_992);
        let sndbuf = self.sock().send_buffer_size().unwrap_or(212_992);
        FlightLimits {
            // Every op in a flight may fail: its error replies must fit.
            max_ops: (rcvbuf / 2 / ERROR_REPLY_COST).clamp(16, 4096),
            max_bytes: CHUNK_BYTES.min(sndbuf / 2).max(4096),
            module_loaded: crate::sys::module_loaded,
        }
    }

    fn apply_pipelined(&mut self, ops: &[Op]) -> BatchResult {
        let mut results: Vec<Option<Result<()>>> = (0..ops.len()).map(|_| None).collect();
        let mut sends = 0;
        let limits = self.flight_limits();

        let mut next = 0;
        let mut buf = std::mem::take(self.wbuf_mut());
        while next < ops.len() {
            let base = self.reserve_seqs(limits.max_ops as u32 + 1);
            let family = self.family_id();
            let (flight, after) =
                Flight::build(&mut buf, family, base, ops, next, limits, &mut results);
            next = after;
            let Some(flight) = flight else {
                continue;
            };
            sends += 1;
            let range = flight.range();
            if let Err(e) = self.send_flight(&mut buf, flight, ops, &mut results) {
                // The socket failed: this flight's unsettled operations
                // have an unknown outcome; later ones were never sent.
                debug!(error = %e, "batch flight failed");
                flight_failed(ops, range, &mut results, &e);
                break;
            }
        }
        *self.wbuf_mut() = buf;
        BatchResult::new(finish(ops, results), sends)
    }

    /// Send one flight (in `buf`) and feed the replies to it until its
    /// barrier's ACK.
    fn send_flight(
        &mut self,
        buf: &mut Vec<u8>,
        mut flight: Flight,
        ops: &[Op],
        results: &mut [Option<Result<()>>],
    ) -> Result<()> {
        let op = Operation::Batch;
        self.sock()
            .send(buf)
            .map_err(|e| Error::io(op.clone(), e))?;
        loop {
            match self.recv_datagram(&op) {
                Ok(n) => {
                    if flight.receive(&self.rbuf()[..n], ops, results)? {
                        return Ok(());
                    }
                }
                Err(e) if e.errno() == Some(Errno::NOBUFS.raw_os_error()) => {
                    // The kernel dropped replies, and keeps dropping every
                    // reply to this socket (the barrier's ACK too) until
                    // its receive queue has been emptied. The kernel
                    // handled the whole flight inside our send, so what is
                    // queued is all there will be: read it (settling the
                    // failures it reports), then re-sync with a fresh
                    // barrier, whose ACK now has room.
                    let seq = self.reserve_seqs(1);
                    flight.replies_lost(seq, buf);
                    while let Some(n) = self.try_recv_datagram(&op)? {
                        flight.receive(&self.rbuf()[..n], ops, results)?;
                    }
                    self.sock()
                        .send(buf)
                        .map_err(|e| Error::io(op.clone(), e))?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Most operations per flight of a submitted batch: the kernel handles a
/// flight inside the `sendmsg`, so this bounds how long one
/// [`Handle::poll_batch`] call runs.
const EVENT_FLIGHT_OPS: usize = 1024;

/// A batch submitted with [`Handle::submit`] and not finished: its
/// operations, the results so far and the flight in the air. Drive it
/// with [`Handle::poll_batch`] on the handle that submitted it, whenever
/// the handle's socket ([`Handle::as_fd`]) is readable.
#[derive(Debug)]
pub struct PendingBatch {
    ops: Vec<Op>,
    results: Vec<Option<Result<()>>>,
    /// The first operation not yet in a flight.
    next: usize,
    flight: Option<Flight>,
    /// `buf` holds a flight (or a re-sync barrier) that is still to send.
    unsent: bool,
    /// The kernel dropped answers (`ENOBUFS`) during this flight.
    lost: bool,
    buf: Vec<u8>,
    limits: FlightLimits,
    stop_on_error: bool,
    sends: usize,
}

impl PendingBatch {
    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of operations with a result so far.
    pub fn settled(&self) -> usize {
        self.results.iter().filter(|r| r.is_some()).count()
    }
}

impl AsFd for Handle {
    /// The handle's netlink socket, for an event loop: wait until it is
    /// readable, then call [`Handle::poll_batch`]. It may be made
    /// non-blocking (`O_NONBLOCK`); the handle's other methods still wait
    /// for their answers (they poll the socket up to the timeout). Do not
    /// read from or write to it.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock().fd()
    }
}

impl Handle {
    /// Start applying `ops` without waiting for the kernel: the event-loop
    /// form of [`Handle::apply_with`] (the same flights, results and
    /// failure rules). Nothing here waits: the first flight is sent with
    /// `MSG_DONTWAIT` (the kernel handles it inside the send and queues its
    /// answers). Then, each time [`Handle::as_fd`] is readable, call
    /// [`Handle::poll_batch`] until it is `Ready`.
    ///
    /// Until then, use this handle for nothing else: the answers to another
    /// request would be read by the wrong party. With [`OnError::Stop`]
    /// each flight holds one operation and the batch stops at the first
    /// failure (later ones [`ErrorKind::NotAttempted`]).
    pub fn submit(&mut self, ops: Vec<Op>, on_error: OnError) -> PendingBatch {
        let stop_on_error = matches!(on_error, OnError::Stop);
        let mut limits = self.flight_limits();
        limits.max_ops = if stop_on_error {
            1
        } else {
            limits.max_ops.min(EVENT_FLIGHT_OPS)
        };
        let results = (0..ops.len()).map(|_| None).collect();
        let mut p = PendingBatch {
            ops,
            results,
            next: 0,
            flight: None,
            unsent: false,
            lost: false,
            buf: Vec::new(),
            limits,
            stop_on_error,
            sends: 0,
        };
        self.next_flight(&mut p);
        self.send_pending(&mut p);
        p
    }

    /// Make progress on a batch from [`Handle::submit`] without waiting:
    /// read the answers queued on the socket, and when a flight is settled
    /// send the next one. `Poll::Pending` means "call again when the
    /// socket is readable" (it may be readable at once: one call handles
    /// at most one flight, so an event loop can serve other work between
    /// flights); `Poll::Ready` gives the results, as
    /// [`Handle::apply_with`] would, and the handle is free again.
    pub fn poll_batch(&mut self, p: &mut PendingBatch) -> Poll<BatchResult> {
        let op = Operation::Batch;
        loop {
            if p.unsent && !self.send_pending(p) {
                return Poll::Pending;
            }
            if p.flight.is_none() {
                break;
            }
            let n = match self.try_recv_datagram_raw(&op) {
                Ok(Some(n)) => n,
                Err(e) if e.errno() == Some(Errno::NOBUFS.raw_os_error()) => {
                    // The kernel dropped answers; read what is queued,
                    // then re-sync (as `send_flight` does).
                    p.lost = true;
                    continue;
                }
                Ok(None) if p.lost => {
                    p.lost = false;
                    let seq = self.reserve_seqs(1);
                    if let Some(f) = p.flight.as_mut() {
                        f.replies_lost(seq, &mut p.buf);
                    }
                    p.unsent = true;
                    continue;
                }
                Ok(None) => return Poll::Pending,
                Err(e) => {
                    self.fail_flight(p, &e);
                    break;
                }
            };
            let Some(flight) = p.flight.as_mut() else {
                break;
            };
            match flight.receive(&self.rbuf()[..n], &p.ops, &mut p.results) {
                Ok(false) => {}
                Ok(true) => {
                    let range = flight.range();
                    p.flight = None;
                    let failed = range.clone().any(|i| matches!(p.results[i], Some(Err(_))));
                    if p.stop_on_error && failed {
                        for i in p.next..p.ops.len() {
                            p.results[i] = Some(Err(p.ops[i].as_ref().not_attempted()));
                        }
                        p.next = p.ops.len();
                    }
                    self.next_flight(p);
                    if p.flight.is_none() {
                        break;
                    }
                    self.send_pending(p);
                    return Poll::Pending;
                }
                Err(e) => {
                    self.fail_flight(p, &e);
                    break;
                }
            }
        }
        let results = std::mem::take(&mut p.results);
        Poll::Ready(BatchResult::new(finish(&p.ops, results), p.sends))
    }

    /// Build the next flight of `p` into its buffer (none when every
    /// operation is in one).
    fn next_flight(&mut self, p: &mut PendingBatch) {
        while p.flight.is_none() && p.next < p.ops.len() {
            let base = self.reserve_seqs(p.limits.max_ops as u32 + 1);
            let family = self.family_id();
            let (flight, after) = Flight::build(
                &mut p.buf,
                family,
                base,
                &p.ops,
                p.next,
                p.limits,
                &mut p.results,
            );
            p.next = after;
            p.unsent = flight.is_some();
            p.flight = flight;
        }
    }

    /// Send what `p` has to send without waiting; `false` if the socket
    /// would block (or failed: then the flight has its error).
    fn send_pending(&mut self, p: &mut PendingBatch) -> bool {
        if !p.unsent {
            return true;
        }
        match self.sock().try_send(&p.buf) {
            Ok(true) => {
                p.unsent = false;
                p.sends += 1;
                true
            }
            Ok(false) => false,
            Err(e) => {
                let e = Error::io(Operation::Batch, e);
                self.fail_flight(p, &e);
                true
            }
        }
    }

    /// The socket failed: the flight in the air has an unknown outcome,
    /// later operations are not attempted.
    fn fail_flight(&mut self, p: &mut PendingBatch, e: &Error) {
        debug!(error = %e, "submitted batch flight failed");
        if let Some(f) = p.flight.take() {
            flight_failed(&p.ops, f.range(), &mut p.results, e);
        }
        p.unsent = false;
        p.next = p.ops.len();
    }
}
