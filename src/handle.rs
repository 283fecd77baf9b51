//! [`Handle`]: one netlink socket to IPVS, with every command as a method.

use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use tracing::{debug_span, trace};

use crate::error::{Error, ErrorKind, Operation, Result};
use crate::model::*;
use crate::proto::request::{
    self, Exchange, Reply, parse_config_reply, parse_destination_reply, parse_family_reply,
    parse_info_reply, parse_service_reply,
};
use crate::sys::{Errno, NlSocket, page_size};
use crate::wire::consts::*;
use crate::wire::{CmdAttr, Error as WireError, push_request};

/// Default receive timeout of a handle.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The receive buffer batches ask for by default
/// ([`Handle::set_batch_recv_buffer`]; root may exceed `net.core.rmem_max`).
const BATCH_RCVBUF: usize = 8 * 1024 * 1024;

/// How many times a dump interrupted by a concurrent change is restarted
/// before giving up.
const DUMP_RETRIES: usize = 8;

/// How many dumps a consistent list read makes at most
/// ([`Handle::consistent_dump`]).
const CONSISTENT_READ_ATTEMPTS: usize = 8;

/// More than any one service or destination message of a dump takes
/// (about 400 bytes with both stats nests): a dump datagram with this much
/// room left was not cut short for lack of room.
const MAX_DUMP_MSG: usize = 1024;

/// The length of every `recvmsg` on a handle's socket: the kernel's
/// `NLMSG_GOODSIZE` on 64-bit kernels (a page, at most 8 KiB, less the
/// 320-byte `skb_shared_info`).
///
/// Why not a big buffer: the kernel sizes each dump datagram by the largest
/// receive length the socket has ever asked for (capped at 32 KiB), and
/// distribution kernels zero every allocation (`init_on_alloc=1`). A
/// destination dump takes two kernel callbacks (data, then DONE), each
/// allocating one such datagram, so a 64 KiB buffer made every dump
/// allocate and zero 2 x 32 KiB: 43 % of a whole-table read's time in a
/// profile. At `NLMSG_GOODSIZE` each callback takes one 4 KiB slab object.
/// No reply is larger: dump datagrams are at most
/// `max(this length, NLMSG_GOODSIZE)`, other replies are built in
/// `NLMSG_GOODSIZE`, and error replies are capped (`NETLINK_CAP_ACK`). A
/// datagram that did not fit would be reported as an error, never
/// silently cut ([`NlSocket::recv`]).
/// The bulk socket's receive length: the kernel's largest dump datagram
/// (`SKB_WITH_OVERHEAD(32768)`, rounded up).
const BULK_RECV_LEN: usize = 32 * 1024;

fn recv_len() -> usize {
    static LEN: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LEN.get_or_init(|| {
        let page = page_size().clamp(4096, 8192);
        if cfg!(target_pointer_width = "64") {
            page - 320
        } else {
            // A 32-bit kernel's skb_shared_info is smaller; a whole page is
            // safe on either kernel a 32-bit process may run on.
            page
        }
    })
}

/// A connection to the kernel's IPVS, in one network namespace.
///
/// A handle owns a netlink socket (and a second one for service dumps,
/// opened on first use: the kernel sizes dump datagrams per socket, and
/// service and destination dumps want different sizes). It runs no
/// threads of its own; opening a socket in another namespace uses a
/// short-lived helper thread, so the caller's never moves. Methods take
/// `&mut self`: use a handle from one thread at a time (it is `Send`);
/// open one handle per thread for parallel work.
///
/// Every method validates its input before sending anything, names the
/// kernel command it sends, and maps the kernel's errno to an
/// [`ErrorKind`] that depends on the command (the kernel reuses `ESRCH`,
/// `ENOENT` and `EEXIST` for different things). See `ipvsadm(8)` for the
/// meaning of each setting and `netlink(7)` for the transport.
///
/// # Example
/// ```no_run
/// use lvs::{Destination, ErrorKind, Handle, Scheduler, Service, ServiceKey};
///
/// # fn main() -> lvs::Result<()> {
/// let mut ipvs = Handle::open()?; // needs CAP_NET_ADMIN
/// let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
/// match ipvs.add_service(&Service::new(key).with_scheduler(Scheduler::Rr)) {
///     Err(e) if e.kind() == ErrorKind::ServiceExists => {} // already there
///     other => other?,
/// }
/// ipvs.add_destination(&key, &Destination::new(([192, 168, 1, 2], 8080)))?;
/// for entry in ipvs.table()? {
///     println!("{} -> {} destinations", entry.service.service.key, entry.destinations.len());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Handle {
    sock: NlSocket,
    /// A second socket for service dumps, opened on first use (see
    /// [`Handle::with_bulk_socket`]); `None` until then or if it could
    /// not be opened.
    bulk: Option<NlSocket>,
    /// Whether opening the bulk socket was tried (it is tried once).
    bulk_tried: bool,
    /// Extra handles for parallel destination dumps (see
    /// [`Handle::set_read_threads`]), opened on first use.
    readers: Vec<Handle>,
    read_threads: usize,
    timeout: Option<Duration>,
    /// The receive buffer batches ask for ([`Handle::set_batch_recv_buffer`]).
    batch_rcvbuf: usize,
    family: u16,
    seq: u32,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The socket's network namespace, for reading its `/proc/net` files
    /// (`None` if it could not be opened).
    netns: Option<OwnedFd>,
}

impl Handle {
    /// Open a handle in the calling thread's network namespace.
    ///
    /// Resolves the "IPVS" generic-netlink family (the kernel may autoload
    /// `ip_vs` for the lookup; `lvs` itself never runs `modprobe`).
    ///
    /// # Errors
    /// [`ErrorKind::IpvsUnavailable`] when the kernel has no IPVS family,
    /// [`ErrorKind::Io`] when the socket cannot be opened.
    pub fn open() -> Result<Handle> {
        let sock =
            NlSocket::open(Some(DEFAULT_TIMEOUT)).map_err(|e| Error::io(Operation::Open, e))?;
        let netns = File::open("/proc/thread-self/ns/net")
            .ok()
            .map(OwnedFd::from);
        Handle::with_socket(sock, netns)
    }

    /// Open a handle in another network namespace, given as a path such as
    /// `/run/netns/NAME` or `/proc/PID/ns/net`. The calling thread stays in
    /// its own namespace.
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`] without `CAP_SYS_ADMIN` (needed to
    /// enter a namespace other than the caller's own; the message says
    /// so); [`ErrorKind::Io`] if the path cannot be opened or is not a
    /// network namespace; otherwise as [`Handle::open`].
    pub fn open_netns_path(path: impl AsRef<Path>) -> Result<Handle> {
        let path = path.as_ref();
        let f = File::open(path).map_err(|e| {
            let d = format!("cannot open network namespace {}: {e}", path.display());
            Error::io(Operation::Open, e).with_detail(d)
        })?;
        Handle::open_netns(f.as_fd())
    }

    /// Open a handle in the network namespace referred to by `netns` (an
    /// open `/proc/PID/ns/net`, `/run/netns/NAME`, or a pidfd). The fd is
    /// only borrowed; the calling thread stays in its own namespace.
    ///
    /// # Errors
    /// As [`Handle::open_netns_path`].
    pub fn open_netns(netns: BorrowedFd<'_>) -> Result<Handle> {
        let sock = NlSocket::open_in(netns, Some(DEFAULT_TIMEOUT)).map_err(|e| {
            let d = format!("cannot open a netlink socket in that network namespace: {e}");
            Error::io(Operation::Open, e).with_detail(d)
        })?;
        Handle::with_socket(sock, crate::sys::netns_file(netns).ok())
    }

    fn with_socket(sock: NlSocket, netns: Option<OwnedFd>) -> Result<Handle> {
        let mut h = Handle {
            sock,
            bulk: None,
            bulk_tried: false,
            readers: Vec::new(),
            read_threads: 1,
            timeout: Some(DEFAULT_TIMEOUT),
            batch_rcvbuf: BATCH_RCVBUF,
            family: 0,
            seq: 0,
            rbuf: Vec::with_capacity(recv_len()),
            wbuf: Vec::with_capacity(4096),
            netns,
        };
        h.family = h.resolve_family()?;
        Ok(h)
    }

    /// Set the receive timeout (`None`: wait forever). A reply that does
    /// not come in time is an [`ErrorKind::Io`] error, never a retry.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for `Some(Duration::ZERO)` (a
    /// timeout that never waits; `None` waits forever).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(Error::new(
                Operation::Validate,
                ErrorKind::InvalidArgument,
                "a zero receive timeout would never wait for a reply: give a positive \
                 duration, or None to wait forever",
            ));
        }
        for s in std::iter::once(&self.sock).chain(&self.bulk) {
            s.set_timeout(timeout)
                .map_err(|e| Error::io(Operation::Open, e))?;
        }
        for r in &mut self.readers {
            r.set_timeout(timeout)?;
        }
        self.timeout = timeout;
        Ok(())
    }

    /// The receive timeout ([`Handle::set_timeout`]); `None` waits
    /// forever.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The identity of the handle's network namespace: the inode number of
    /// its namespace file, as `/proc/PID/ns/net` shows it (`net:[N]`) and
    /// `lsns -t net` lists it. Two handles in the same namespace give the
    /// same number.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] when the handle holds no namespace file
    /// (it could not be opened), [`ErrorKind::Io`] when it cannot be read.
    /// A handle opened with a pidfd holds the file of the namespace the
    /// process was in at the time.
    pub fn netns_id(&self) -> Result<u64> {
        let op = Operation::Open;
        let unsupported = || {
            Error::new(
                op.clone(),
                ErrorKind::Unsupported,
                "the handle holds no network namespace file (it could not be opened)",
            )
        };
        let ns = self.netns.as_ref().ok_or_else(unsupported)?;
        let fs = rustix::fs::fstatfs(ns).map_err(|e| Error::io(op.clone(), e.into()))?;
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        if fs.f_type as u64 != crate::sys::NSFS_MAGIC {
            return Err(unsupported());
        }
        let st = rustix::fs::fstat(ns).map_err(|e| Error::io(op.clone(), e.into()))?;
        #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
        Ok(st.st_ino as u64)
    }

    /// Set the socket receive buffer that batches ([`Handle::apply`]) ask
    /// for, in bytes (default 8 MiB; the kernel doubles it). A flight
    /// holds as many operations as their error replies fit in it (at
    /// least 16), so a smaller buffer means more round trips. Below about
    /// 64 KiB the kernel may drop replies to failing operations
    /// (`ENOBUFS`): their outcome is then reported unknown, never as a
    /// success, and the batch goes on.
    pub fn set_batch_recv_buffer(&mut self, bytes: usize) {
        self.batch_rcvbuf = bytes;
    }

    /// The receive buffer batches ask for ([`Handle::set_batch_recv_buffer`]).
    pub fn batch_recv_buffer(&self) -> usize {
        self.batch_rcvbuf
    }

    /// Let whole-table reads ([`Handle::table`], [`Handle::destinations_of`])
    /// run their destination dumps on up to `threads` sockets at once,
    /// one scoped thread each (the calling thread is one of them). The
    /// default, 1, reads on the calling thread only and starts no thread.
    ///
    /// Each destination dump is a round trip whose kernel side is mostly
    /// serialized by IPVS's locks, but building, copying and decoding the
    /// replies are not: on a 2-CPU guest, 2 threads read 10,000 services
    /// about 1.4x faster. Reads of fewer than 512 services stay on one
    /// thread. The extra sockets are opened in the handle's namespace on
    /// first use and kept; if they cannot be opened, reads stay sequential.
    pub fn set_read_threads(&mut self, threads: std::num::NonZeroUsize) {
        self.read_threads = threads.get();
        self.readers.truncate(threads.get() - 1);
    }

    /// The read parallelism set by [`Handle::set_read_threads`].
    pub fn read_threads(&self) -> usize {
        self.read_threads
    }

    /// Run `f` with the handle's socket swapped for its bulk socket, which
    /// receives in 32 KiB datagrams, the kernel's largest.
    ///
    /// Service dumps want big datagrams: the kernel resumes a service dump
    /// by walking its whole service hash from the start to the next index,
    /// so the walk runs once per datagram (a read of 10,000 services spent
    /// 18 % of its time there with 4 KiB datagrams). Destination dumps want
    /// small ones (see [`recv_len`]). The kernel sizes a socket's dump
    /// datagrams by the largest receive length it has ever seen, so each
    /// kind gets its own socket. Without a namespace fd to open the bulk
    /// socket in, `f` runs on the main socket (correct, slower).
    fn with_bulk_socket<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let fresh = self.bulk.is_none() && !self.bulk_tried;
        if fresh {
            // Tried once: a socket that cannot be opened now (no permission
            // to enter the namespace) is not retried on every read.
            self.bulk_tried = true;
            self.bulk = self.netns.as_ref().and_then(|ns| {
                NlSocket::open_in(ns.as_fd(), self.timeout)
                    .inspect_err(|e| trace!(error = %e, "no bulk socket; using the main one"))
                    .ok()
            });
        }
        let Some(mut bulk) = self.bulk.take() else {
            return f(self);
        };
        let mut big = Vec::with_capacity(BULK_RECV_LEN);
        std::mem::swap(&mut self.sock, &mut bulk);
        std::mem::swap(&mut self.rbuf, &mut big);
        // The kernel builds a dump's first datagram inside our sendmsg,
        // sized by the largest receive this socket has done: one round
        // trip with the big buffer first, or the first dump would start
        // with a 4 KiB datagram (more parts, more exposure to concurrent
        // changes). Its answer is not needed; a failure shows in `f`.
        if fresh {
            let _ = self.resolve_family();
        }
        let r = f(self);
        std::mem::swap(&mut self.rbuf, &mut big);
        std::mem::swap(&mut self.sock, &mut bulk);
        self.bulk = Some(bulk);
        r
    }

    /// The generic-netlink family id the kernel gave IPVS.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    fn resolve_family(&mut self) -> Result<u16> {
        let op = Operation::Open;
        let seq = self.next_seq();
        self.wbuf.clear();
        request::get_family(&mut self.wbuf, seq)?;
        match self.send_wbuf(&op, seq, parse_family_reply) {
            Ok(ids) => ids
                .out
                .into_iter()
                .next()
                .ok_or_else(|| Error::decode(op, "family reply without CTRL_ATTR_FAMILY_ID")),
            Err(e) if e.errno() == Some(Errno::NOENT.raw_os_error()) => Err(Error::new(
                Operation::Open,
                ErrorKind::IpvsUnavailable,
                "the kernel has no IPVS generic-netlink family: load the ip_vs module \
                 (modprobe ip_vs) or use a kernel built with CONFIG_IP_VS",
            )),
            Err(e) => Err(e),
        }
    }

    /// Send one request (`flags` without REQUEST) and collect its replies.
    pub(crate) fn transact<T>(
        &mut self,
        op: &Operation,
        cmd: u8,
        flags: u16,
        attrs: &[CmdAttr],
        parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
    ) -> Result<Reply<T>> {
        let _span = debug_span!("ipvs", cmd, %op).entered();
        let seq = self.next_seq();
        self.wbuf.clear();
        push_request(&mut self.wbuf, self.family, flags, seq, cmd, attrs)
            .map_err(|e| too_long(op.clone(), e))?;
        self.send_wbuf(op, seq, parse)
    }

    /// [`Handle::transact`] for a request whose ACK the kernel may never
    /// send: wait for it at most `wait` (or the handle's timeout, if
    /// shorter). `Ok(None)` when no reply came in that time; the socket's
    /// own timeout is restored either way (a late reply is skipped as
    /// stale by the next request).
    pub(crate) fn transact_ack_may_be_lost(
        &mut self,
        op: &Operation,
        cmd: u8,
        attrs: &[CmdAttr],
        wait: Duration,
    ) -> Result<Option<()>> {
        let wait = self.timeout.map_or(wait, |t| t.min(wait));
        self.sock
            .set_timeout(Some(wait))
            .map_err(|e| Error::io(op.clone(), e))?;
        let r = self.transact(op, cmd, NLM_F_ACK, attrs, |_| Ok(None::<()>));
        self.sock
            .set_timeout(self.timeout)
            .map_err(|e| Error::io(op.clone(), e))?;
        match r {
            Ok(_) => Ok(Some(())),
            Err(e) if e.kind() == ErrorKind::Io && e.is_timeout() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Send the request already in the write buffer and collect its replies.
    fn send_wbuf<T>(
        &mut self,
        op: &Operation,
        seq: u32,
        parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
    ) -> Result<Reply<T>> {
        trace!(bytes = self.wbuf.len(), seq, "send");
        self.sock
            .send(&self.wbuf)
            .map_err(|e| Error::io(op.clone(), e))?;
        self.receive(op, seq, parse)
    }

    /// Receive the replies to request `seq` until its ACK (or DONE for a
    /// dump), parsing each data message's attributes with `parse`: the
    /// core's [`Exchange`] fed from the socket.
    fn receive<T>(
        &mut self,
        op: &Operation,
        seq: u32,
        parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
    ) -> Result<Reply<T>> {
        let mut exchange = Exchange::new(op.clone(), seq, parse);
        loop {
            let n = self.recv_datagram(op)?;
            if let Some(reply) = exchange.receive(&self.rbuf[..n])? {
                return Ok(reply);
            }
        }
    }

    /// Receive one datagram into the read buffer; returns its length.
    pub(crate) fn recv_datagram(&mut self, op: &Operation) -> Result<usize> {
        self.sock
            .recv(&mut self.rbuf)
            .map_err(|e| Error::io(op.clone(), e))
    }

    /// Receive one datagram if one is queued, without waiting; returns its
    /// length. An `ENOBUFS` (replies were dropped) is skipped over: the
    /// caller already knows.
    pub(crate) fn try_recv_datagram(&mut self, op: &Operation) -> Result<Option<usize>> {
        loop {
            match self.sock.try_recv(&mut self.rbuf) {
                Err(e) if e.raw_os_error() == Some(Errno::NOBUFS.raw_os_error()) => continue,
                r => return r.map_err(|e| Error::io(op.clone(), e)),
            }
        }
    }

    /// [`Handle::try_recv_datagram`] reporting an `ENOBUFS` (the kernel
    /// dropped replies) as an error with that errno.
    pub(crate) fn try_recv_datagram_raw(&mut self, op: &Operation) -> Result<Option<usize>> {
        self.sock
            .try_recv(&mut self.rbuf)
            .map_err(|e| Error::io(op.clone(), e))
    }

    /// The read buffer (the last datagram received).
    pub(crate) fn rbuf(&self) -> &[u8] {
        &self.rbuf
    }

    /// Run a dump, restarting it when the kernel flags it as interrupted
    /// by a concurrent change (`NLM_F_DUMP_INTR`).
    pub(crate) fn dump<T>(
        &mut self,
        op: &Operation,
        cmd: u8,
        attrs: &[CmdAttr],
        parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
    ) -> Result<Vec<T>> {
        let build = |buf: &mut Vec<u8>, family, seq| {
            push_request(buf, family, NLM_F_DUMP, seq, cmd, attrs)
                .map(|_| ())
                .map_err(|e| too_long(op.clone(), e))
        };
        self.dump_with(op, build, parse).map(|r| r.out)
    }

    /// [`Handle::dump`] with the request written by `build(buf, family,
    /// seq)`, again for each restart; returns the whole [`Reply`] (its
    /// parts tell whether the dump is a snapshot: [`Handle::is_snapshot`]).
    fn dump_with<T>(
        &mut self,
        op: &Operation,
        mut build: impl FnMut(&mut Vec<u8>, u16, u32) -> Result<()>,
        mut parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
    ) -> Result<Reply<T>> {
        let _span = debug_span!("ipvs_dump", %op).entered();
        for attempt in 0..DUMP_RETRIES {
            let seq = self.next_seq();
            self.wbuf.clear();
            build(&mut self.wbuf, self.family, seq)?;
            let r = self.send_wbuf(op, seq, &mut parse)?;
            if !r.interrupted {
                return Ok(r);
            }
            trace!(
                attempt,
                "dump interrupted by a concurrent change; restarting"
            );
        }
        Err(Error::new(
            op.clone(),
            ErrorKind::InconsistentRead,
            format!("the dump was interrupted by concurrent changes {DUMP_RETRIES} times in a row"),
        ))
    }

    /// Whether a dump just answered on this socket is a snapshot: its data
    /// came in one datagram with room left for another message, so one
    /// kernel callback, run under the IPVS mutex that every change takes,
    /// walked the whole list. IPVS resumes a dump of several parts by a
    /// position in the list and never sets `NLM_F_DUMP_INTR`, so such a
    /// dump may miss or repeat entries when the list changes between parts.
    ///
    /// The room: the kernel builds a dump datagram of the largest receive
    /// length the socket has asked for (our read buffer's capacity, at most
    /// `SKB_WITH_OVERHEAD(32 KiB)`), but falls back to `NLMSG_GOODSIZE`
    /// when that allocation fails. A datagram longer than `NLMSG_GOODSIZE`
    /// had the large size; a shorter one is judged by the small size.
    fn is_snapshot<T>(&self, r: &Reply<T>) -> bool {
        let small = recv_len();
        let room = if r.part_bytes > small {
            self.rbuf.capacity().min(32 * 1024 - 320)
        } else {
            small
        };
        r.parts == 0 || (r.parts == 1 && r.part_bytes + MAX_DUMP_MSG <= room)
    }

    /// Run the dump `build` makes until it is consistent: a snapshot
    /// ([`Handle::is_snapshot`]) at once; otherwise until two dumps list
    /// the same entries (by `key`, none twice). Returns the last dump.
    ///
    /// The dumps alternate between the bulk socket (32 KiB datagrams) and
    /// the main one (NLMSG_GOODSIZE datagrams), starting with the bulk one
    /// if `bulk_first`, and only dumps of different sockets are compared:
    /// their parts end at different places in the list, so concurrent
    /// changes cannot make both skip the same entries. (Two dumps of one
    /// socket can: under churn in two namespaces, a guest run saw two
    /// same-sized dumps agree while both missed 96 of 300 services.)
    ///
    /// # Errors
    /// [`ErrorKind::InconsistentRead`] after [`CONSISTENT_READ_ATTEMPTS`]
    /// dumps without two agreeing; any error of a dump.
    fn consistent_dump<T, K: Eq + std::hash::Hash>(
        &mut self,
        op: &Operation,
        bulk_first: bool,
        mut build: impl FnMut(&mut Vec<u8>, u16, u32) -> Result<()>,
        mut parse: impl FnMut(&[u8]) -> Result<Option<T>, WireError>,
        key: impl Fn(&T) -> K,
    ) -> Result<Vec<T>> {
        // The key sets of the unique dumps so far, by socket (0: the
        // first-used kind, 1: the other).
        let mut seen: [Vec<std::collections::HashSet<K>>; 2] = [Vec::new(), Vec::new()];
        for attempt in 0..CONSISTENT_READ_ATTEMPTS {
            let kind = attempt % 2;
            let mut dump = |h: &mut Handle| {
                let r = h.dump_with(op, &mut build, &mut parse)?;
                let snapshot = h.is_snapshot(&r);
                Ok::<_, Error>((r, snapshot))
            };
            let (r, snapshot) = if (kind == 0) == bulk_first {
                self.with_bulk_socket(dump)?
            } else {
                dump(self)?
            };
            if snapshot {
                return Ok(r.out);
            }
            let mut keys = std::collections::HashSet::with_capacity(r.out.len());
            if r.out.iter().all(|e| keys.insert(key(e))) {
                if seen[1 - kind].contains(&keys) {
                    return Ok(r.out);
                }
                seen[kind].push(keys);
            }
            if attempt > 0 {
                trace!(attempt, parts = r.parts, "dumps disagree; reading again");
                // The list is changing: let the changes pass (2, 4, ...
                // 64 ms; about 126 ms over all attempts).
                std::thread::sleep(Duration::from_millis(1 << attempt.min(6)));
            }
        }
        Err(Error::new(
            op.clone(),
            ErrorKind::InconsistentRead,
            format!(
                "the list changed during every read: {CONSISTENT_READ_ATTEMPTS} dumps, \
                 no two (one per datagram size) agreed"
            ),
        ))
    }

    /// The handle's network namespace, if known.
    pub(crate) fn netns(&self) -> Option<BorrowedFd<'_>> {
        self.netns.as_ref().map(|f| f.as_fd())
    }

    pub(crate) fn sock(&self) -> &NlSocket {
        &self.sock
    }

    pub(crate) fn wbuf_mut(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// Reserve `n` consecutive sequence numbers; returns the first.
    pub(crate) fn reserve_seqs(&mut self, n: u32) -> u32 {
        let base = self.next_seq();
        self.seq = self.seq.wrapping_add(n.saturating_sub(1));
        base
    }

    /// Validate, send and wait for the ACK of one operation (the named
    /// methods such as [`Handle::add_service`] call this).
    ///
    /// # Errors
    /// As the named method for that operation.
    pub fn execute(&mut self, op: &Op) -> Result<()> {
        self.execute_ref(op.as_ref())
    }

    /// [`Handle::execute`] encoding from references.
    fn execute_ref(&mut self, op: OpRef<'_>) -> Result<()> {
        let seq = self.next_seq();
        self.wbuf.clear();
        op.encode(&mut self.wbuf, self.family, NLM_F_ACK, seq)?;
        let operation = op.operation();
        let _span = debug_span!("ipvs", %operation).entered();
        self.send_wbuf(&operation, seq, |_| Ok(None::<()>))
            .map(|_| ())
            .map_err(|e| op.explain(e, crate::sys::module_loaded))
    }

    pub(crate) fn command(&mut self, op: Operation, cmd: u8, attrs: &[CmdAttr]) -> Result<()> {
        self.transact(&op, cmd, NLM_F_ACK, attrs, |_| Ok(None::<()>))
            .map(|_| ())
    }

    /// Send a raw IPVS command with the given top-level attributes and
    /// wait for its ACK, with no validation: an escape hatch for kernel
    /// features newer than this crate, and for tests that show what the
    /// kernel does with input `lvs` refuses.
    ///
    /// # Errors
    /// The kernel's errno: [`ErrorKind::Kernel`], or
    /// [`ErrorKind::PermissionDenied`] / [`ErrorKind::ServiceNotFound`]
    /// for `EPERM` / `ESRCH`.
    pub fn send_raw(&mut self, cmd: u8, attrs: &[CmdAttr]) -> Result<()> {
        self.command(Operation::Raw { cmd }, cmd, attrs)
    }

    // ----- services -------------------------------------------------------

    /// Add a virtual service (`IPVS_CMD_NEW_SERVICE`; ipvsadm `-A`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] (nothing sent), [`ErrorKind::ServiceExists`],
    /// [`ErrorKind::SchedulerNotFound`], [`ErrorKind::PermissionDenied`].
    pub fn add_service(&mut self, svc: &Service) -> Result<()> {
        self.execute_ref(OpRef::AddService(svc))
    }

    /// Replace the configuration of an existing service in place
    /// (`IPVS_CMD_SET_SERVICE`; ipvsadm `-E`). Connections and, when the
    /// scheduler stays the same, scheduler state are kept.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`], [`ErrorKind::ServiceNotFound`],
    /// [`ErrorKind::SchedulerNotFound`], [`ErrorKind::PermissionDenied`].
    pub fn update_service(&mut self, svc: &Service) -> Result<()> {
        self.execute_ref(OpRef::UpdateService(svc))
    }

    /// Remove a service and all its destinations (`IPVS_CMD_DEL_SERVICE`;
    /// ipvsadm `-D`).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`], [`ErrorKind::ServiceNotFound`],
    /// [`ErrorKind::PermissionDenied`].
    pub fn remove_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.execute_ref(OpRef::RemoveService(key))
    }

    /// Read one service (`IPVS_CMD_GET_SERVICE`, not a dump).
    ///
    /// # Errors
    /// [`ErrorKind::ServiceNotFound`], [`ErrorKind::InvalidArgument`],
    /// [`ErrorKind::PermissionDenied`].
    pub fn service(&mut self, key: &ServiceKey) -> Result<ServiceEntry> {
        let op = Operation::GetService(*key);
        let seq = self.next_seq();
        self.wbuf.clear();
        request::get_service(&mut self.wbuf, self.family, seq, key)?;
        let mut v = self.send_wbuf(&op, seq, parse_service_reply)?.out;
        v.pop()
            .ok_or_else(|| Error::decode(op, "GET_SERVICE reply without a service"))
    }

    /// List every service of the namespace (`IPVS_CMD_GET_SERVICE` with
    /// `NLM_F_DUMP`). Order is unspecified.
    ///
    /// # Consistency
    ///
    /// IPVS resumes a dump that spans several datagrams by a position in
    /// its service table and never flags it as interrupted, so services
    /// added or removed during a large dump (in this namespace, or before
    /// Linux 7.1 in *any* namespace: the position counts them all) can make
    /// it skip or repeat entries. This method returns a list that is
    /// consistent or fails:
    ///
    /// - a dump whose services fit one datagram with room to spare (up to
    ///   about 80 services) is taken at once: the kernel builds each
    ///   datagram under its lock;
    /// - a larger one is dumped again on a second socket whose datagrams
    ///   have another size, until a dump of each socket list the same
    ///   services, none twice (so one extra dump when nothing changes);
    ///   the parts of the two dumps end at different places, so changes
    ///   cannot make both skip the same services;
    /// - after 8 dumps without agreement (about 130 ms of backoff in
    ///   between) it fails with [`ErrorKind::InconsistentRead`].
    ///
    /// Under steady churn of the same table, expect that error rather than
    /// a list often. The check is by agreement, not proof: two dumps that
    /// missed the same service would pass, which takes changes that skip
    /// the same entries at different datagram boundaries of two reads.
    ///
    /// # Errors
    /// [`ErrorKind::InconsistentRead`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::Io`], [`ErrorKind::Decode`].
    pub fn services(&mut self) -> Result<Vec<ServiceEntry>> {
        let build = |buf: &mut Vec<u8>, family, seq| {
            push_request(buf, family, NLM_F_DUMP, seq, IPVS_CMD_GET_SERVICE, &[])
                .map(|_| ())
                .map_err(|e| too_long(Operation::ListServices, e))
        };
        self.consistent_dump(
            &Operation::ListServices,
            true,
            build,
            parse_service_reply,
            |e: &ServiceEntry| e.service.key,
        )
    }

    // ----- destinations ---------------------------------------------------

    /// Add a destination to a service (`IPVS_CMD_NEW_DEST`; ipvsadm `-a`).
    /// The kernel puts it at the head of the service's list.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] (nothing sent; includes a family
    /// differing from the service's without tunnel forwarding),
    /// [`ErrorKind::ServiceNotFound`], [`ErrorKind::DestinationExists`],
    /// [`ErrorKind::Kernel`] (`EINVAL` for an address the kernel will not
    /// route to, e.g. multicast), [`ErrorKind::PermissionDenied`].
    pub fn add_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute_ref(OpRef::AddDestination(service, dest))
    }

    /// Change a destination's forwarding, weight or thresholds
    /// (`IPVS_CMD_SET_DEST`; ipvsadm `-e`).
    ///
    /// # Errors
    /// As [`Handle::add_destination`], with [`ErrorKind::DestinationNotFound`]
    /// in place of `DestinationExists`.
    pub fn update_destination(&mut self, service: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute_ref(OpRef::UpdateDestination(service, dest))
    }

    /// Remove a destination (`IPVS_CMD_DEL_DEST`; ipvsadm `-d`). Its
    /// connections stay until they expire.
    ///
    /// # Errors
    /// [`ErrorKind::ServiceNotFound`], [`ErrorKind::DestinationNotFound`],
    /// [`ErrorKind::InvalidArgument`], [`ErrorKind::PermissionDenied`].
    pub fn remove_destination(&mut self, service: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.execute_ref(OpRef::RemoveDestination(service, dest))
    }

    /// List a service's destinations in the kernel's list order (most
    /// recently added first), in one dump (`IPVS_CMD_GET_DEST`).
    ///
    /// The kernel answers a dump for a missing service with an empty list;
    /// this method asks for the service first, so a missing service is an
    /// error and an empty list means "no destinations".
    ///
    /// Consistent as [`Handle::services`] is: a list that fits one small
    /// datagram (about 7 destinations) is taken at once; a longer one is
    /// dumped again in large datagrams (a snapshot up to about 80
    /// destinations), and beyond that until dumps with the two datagram
    /// sizes agree.
    ///
    /// # Errors
    /// [`ErrorKind::ServiceNotFound`], [`ErrorKind::InvalidArgument`],
    /// [`ErrorKind::InconsistentRead`], [`ErrorKind::PermissionDenied`].
    pub fn destinations(&mut self, service: &ServiceKey) -> Result<Vec<DestinationEntry>> {
        let op = Operation::ListDestinations(*service);
        self.service(service)
            .map_err(|e| e.with_operation(op.clone()))?;
        self.destinations_unchecked(service)
    }

    /// The `IPVS_CMD_GET_DEST` dump alone: an unknown service gives an
    /// empty list (one round trip instead of two).
    fn destinations_unchecked(&mut self, service: &ServiceKey) -> Result<Vec<DestinationEntry>> {
        let op = Operation::ListDestinations(*service);
        let family = service.family();
        self.consistent_dump(
            &op,
            false,
            |buf, fam, seq| request::list_destinations(buf, fam, seq, service).map(|_| ()),
            |a| parse_destination_reply(a, family),
            |d: &DestinationEntry| d.destination.addr,
        )
    }

    // ----- whole table, counters, config ----------------------------------

    /// Read every service with all its destinations: one service dump,
    /// then one destination dump per service with reused buffers (see
    /// [`Handle::destinations_of`] for why these dumps cannot share a
    /// `sendmsg`, and [`Handle::set_read_threads`] to spread them over
    /// threads). Services come in dump order (unspecified); destinations
    /// in kernel list order.
    ///
    /// Each list is consistent as [`Handle::services`] and
    /// [`Handle::destinations`] say (or the read fails with
    /// [`ErrorKind::InconsistentRead`]); the table as a whole is not one
    /// snapshot: a service removed while the read runs shows with no
    /// destinations, one added after the service dump is not listed.
    ///
    /// # Errors
    /// [`ErrorKind::InconsistentRead`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::Io`], [`ErrorKind::Decode`].
    pub fn table(&mut self) -> Result<Vec<TableEntry>> {
        let services = self.services()?;
        let keys: Vec<ServiceKey> = services.iter().map(|s| s.service.key).collect();
        let dests = self.destinations_of(&keys)?;
        Ok(services
            .into_iter()
            .zip(dests)
            .map(|(service, destinations)| TableEntry {
                service,
                destinations,
            })
            .collect())
    }

    /// The destinations of each of `keys`, in order: one GET_DEST dump each,
    /// on this socket with reused buffers (or spread over
    /// [`Handle::set_read_threads`] sockets and threads). An unknown
    /// service gives an empty list.
    ///
    /// These dumps cannot be pipelined on one socket: a netlink socket runs
    /// one dump at a time (a second request is answered `EBUSY`), and the
    /// IPVS destination dump always needs a second kernel callback, run by
    /// our next `recvmsg`, to end. So each service costs one `sendmsg` and
    /// two `recvmsg` calls (data, then DONE), and nothing else: no extra
    /// GET_SERVICE, no socket or family lookup per service.
    ///
    /// Each list is consistent as [`Handle::destinations`] says.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an invalid key,
    /// [`ErrorKind::InconsistentRead`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::Io`], [`ErrorKind::Decode`].
    pub fn destinations_of(&mut self, keys: &[ServiceKey]) -> Result<Vec<Vec<DestinationEntry>>> {
        let workers = self.open_readers(keys.len());
        if workers <= 1 {
            return keys
                .iter()
                .map(|k| self.destinations_unchecked(k))
                .collect();
        }
        let per = keys.len().div_ceil(workers);
        let mut chunks = keys.chunks(per);
        let mine = chunks.next().unwrap_or(&[]);
        // Plain spawned threads that own their reader and keys, not scoped
        // ones (see `sys::in_netns` for why).
        let mut idle = Vec::new();
        let mut spawned = Vec::new();
        for mut r in std::mem::take(&mut self.readers) {
            let Some(chunk) = chunks.next() else {
                idle.push(r);
                continue;
            };
            let chunk = chunk.to_vec();
            spawned.push(std::thread::spawn(move || {
                let got = chunk
                    .iter()
                    .map(|k| r.destinations_unchecked(k))
                    .collect::<Result<Vec<_>>>();
                (r, got)
            }));
        }
        let mut parts = vec![
            mine.iter()
                .map(|k| self.destinations_unchecked(k))
                .collect::<Result<Vec<_>>>(),
        ];
        for t in spawned {
            match t.join() {
                Ok((r, got)) => {
                    idle.push(r);
                    parts.push(got);
                }
                Err(_) => parts.push(Err(Error::new(
                    Operation::ListDestinations(keys[0]),
                    ErrorKind::Io,
                    "a destination reader thread panicked",
                ))),
            }
        }
        self.readers = idle;
        let mut out = Vec::with_capacity(keys.len());
        for part in parts {
            out.extend(part?);
        }
        Ok(out)
    }

    /// Open the extra readers a read of `n` services may use (see
    /// [`Handle::set_read_threads`]); returns how many threads to use,
    /// counting the caller's.
    fn open_readers(&mut self, n: usize) -> usize {
        const MIN_SERVICES_PER_THREAD: usize = 256;
        let want = self.read_threads.min(n / MIN_SERVICES_PER_THREAD).max(1);
        while self.readers.len() + 1 < want {
            let Some(ns) = self.netns.as_ref() else {
                break;
            };
            match Handle::open_netns(ns.as_fd()) {
                Ok(mut r) => {
                    if r.set_timeout(self.timeout).is_err() {
                        break;
                    }
                    self.readers.push(r);
                }
                Err(e) => {
                    trace!(error = %e, "cannot open a reader socket; reading with fewer threads");
                    break;
                }
            }
        }
        want.min(self.readers.len() + 1)
    }

    /// Remove every service of the namespace (`IPVS_CMD_FLUSH`; ipvsadm `-C`).
    ///
    /// # Errors
    /// [`ErrorKind::PermissionDenied`].
    pub fn flush(&mut self) -> Result<()> {
        self.execute_ref(OpRef::Flush)
    }

    /// Zero the counters of one service and its destinations, or of
    /// everything with `None` (`IPVS_CMD_ZERO`; ipvsadm `-Z`).
    ///
    /// # Errors
    /// [`ErrorKind::ServiceNotFound`], [`ErrorKind::PermissionDenied`].
    pub fn zero(&mut self, service: Option<&ServiceKey>) -> Result<()> {
        self.execute_ref(OpRef::Zero(service))
    }

    /// IPVS version and connection table size (`IPVS_CMD_GET_INFO`).
    pub fn info(&mut self) -> Result<Info> {
        let op = Operation::GetInfo;
        self.transact(&op, IPVS_CMD_GET_INFO, NLM_F_ACK, &[], |a| {
            parse_info_reply(a).map(Some)
        })?
        .out
        .pop()
        .ok_or_else(|| Error::decode(op, "no GET_INFO reply"))
    }

    /// The TCP, TCP-FIN and UDP timeouts (`IPVS_CMD_GET_CONFIG`). A value
    /// the kernel did not report (protocol support not built) is `None`.
    pub fn timeouts(&mut self) -> Result<Timeouts> {
        let op = Operation::GetTimeouts;
        self.transact(&op, IPVS_CMD_GET_CONFIG, NLM_F_ACK, &[], |a| {
            parse_config_reply(a).map(Some)
        })?
        .out
        .pop()
        .ok_or_else(|| Error::decode(op, "no GET_CONFIG reply"))
    }

    /// Set timeouts (`IPVS_CMD_SET_CONFIG`; ipvsadm `--set`). `None`
    /// leaves a value unchanged; `Some(0)` is rejected (the kernel would
    /// read it as "unchanged" too, silently).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for 0 or a value above
    /// [`Timeouts::MAX`], [`ErrorKind::PermissionDenied`].
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<()> {
        self.execute_ref(OpRef::SetTimeouts(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_length_is_nlmsg_goodsize_for_this_page_size() {
        let page = page_size();
        assert!(page.is_power_of_two() && page >= 4096, "page size {page}");
        let want = page.min(8192)
            - if cfg!(target_pointer_width = "64") {
                320
            } else {
                0
            };
        assert_eq!(recv_len(), want);
        if page == 4096 && cfg!(target_pointer_width = "64") {
            // SKB_WITH_OVERHEAD(4096) with a 320-byte skb_shared_info.
            assert_eq!(recv_len(), 3776);
        }
    }
}
