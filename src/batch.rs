//! Batches over the handle's socket: many operations per `sendmsg`, one
//! result per operation. What goes in a flight and which reply settles
//! which operation is decided by the sans-IO core (`proto::batch`).

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

    fn apply_pipelined(&mut self, ops: &[Op]) -> BatchResult {
        let mut results: Vec<Option<Result<()>>> = (0..ops.len()).map(|_| None).collect();
        let mut sends = 0;
        // Bigger buffers make fewer, larger flights; failure to grow is fine.
        let _ = self
            .sock()
            .set_buffers(self.batch_recv_buffer(), BATCH_SNDBUF);
        let rcvbuf = self.sock().recv_buffer_size().unwrap_or(212_992);
        let sndbuf = self.sock().send_buffer_size().unwrap_or(212_992);
        let limits = FlightLimits {
            // Every op in a flight may fail: its error replies must fit.
            max_ops: (rcvbuf / 2 / ERROR_REPLY_COST).clamp(16, 4096),
            max_bytes: CHUNK_BYTES.min(sndbuf / 2).max(4096),
            module_loaded: crate::sys::module_loaded,
        };

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
