//! The OS glue, all of it: the netlink socket (the only file that
//! touches `netlink-sys`), entering a network namespace on a helper
//! thread, the page size, and errno numbers (rustix's, right on every
//! architecture).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};
use rustix::net::sockopt;

use crate::wire::consts::NETLINK_GENERIC;

/// Errno numbers by name, as this architecture's kernel numbers them.
pub(crate) use rustix::io::Errno;

/// The system page size.
///
/// rustix's `param::page_size`, built with its `use-libc-auxv` feature so
/// it asks libc (`sysconf`). Its default backend reads the auxiliary
/// vector itself and validates the vDSO image `AT_SYSINFO_EHDR` points
/// at, by reading it: under valgrind that address is not mapped and the
/// process dies with SIGSEGV (seen in the C API's valgrind run).
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Run `f` on a short-lived helper thread that first enters the network
/// namespace `netns` (`setns`, which needs `CAP_SYS_ADMIN`); the calling
/// thread never changes namespace. Sockets and `/proc/thread-self/net`
/// files opened by `f` belong to that namespace.
///
/// A plain spawned thread, not a scoped one: `std::thread::scope` makes
/// the standard library allocate a handle for the calling thread, which
/// for a C program's main thread is never freed (valgrind: "possibly
/// lost"). So `f` and its result are `'static`.
pub(crate) fn in_netns<T: Send + 'static>(
    netns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let netns = netns.try_clone_to_owned()?;
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            netns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| {
            let e = io::Error::from(e);
            io::Error::new(
                e.kind(),
                format!("cannot enter the network namespace (needs CAP_SYS_ADMIN): {e}"),
            )
        })?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns helper thread panicked")))
}

/// `NSFS_MAGIC`: the filesystem of namespace files.
pub(crate) const NSFS_MAGIC: u64 = 0x6e73_6673;

/// A namespace file for `netns`: a copy of it when it is one (nsfs),
/// else (a pidfd) the network namespace it leads to, opened on a helper
/// thread that entered it. A namespace file keeps the namespace alive and
/// names it (its inode), where a pidfd does neither once the process is
/// gone.
pub(crate) fn netns_file(netns: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let fs = rustix::fs::fstatfs(netns)?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    if fs.f_type as u64 == NSFS_MAGIC {
        return netns.try_clone_to_owned();
    }
    in_netns(netns, || {
        use rustix::fs::{Mode, OFlags};
        Ok(rustix::fs::open(
            "/proc/thread-self/ns/net",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    })
}

/// Whether the kernel module `name` is loaded (`/sys/module/NAME`; a
/// module built into the kernel shows there only if it has parameters).
pub(crate) fn module_loaded(name: &str) -> bool {
    !name.contains('/') && std::path::Path::new("/sys/module").join(name).exists()
}

/// Whether `ns` is the calling thread's network namespace.
pub(crate) fn is_current_netns(ns: BorrowedFd<'_>) -> bool {
    match (
        rustix::fs::fstat(ns),
        rustix::fs::stat("/proc/thread-self/ns/net"),
    ) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// `MSG_TRUNC`: make recv return the datagram's real length.
const MSG_TRUNC: i32 = 0x20;
/// `MSG_DONTWAIT`: return `EAGAIN` instead of waiting.
const MSG_DONTWAIT: i32 = 0x40;

/// A bound, connected generic-netlink socket with extended ACKs on and
/// echoed requests capped in error replies.
#[derive(Debug)]
pub(crate) struct NlSocket {
    sock: Socket,
    port: u32,
}

impl NlSocket {
    /// Open a socket in the calling thread's network namespace.
    pub(crate) fn open(timeout: Option<Duration>) -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_GENERIC)?;
        let addr = sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Extended ACKs carry the kernel's error text; capping keeps error
        // replies small (no echo of our whole request).
        sock.set_ext_ack(true)?;
        sock.set_cap_ack(true)?;
        let s = NlSocket {
            sock,
            port: addr.port_number(),
        };
        s.set_timeout(timeout)?;
        Ok(s)
    }

    /// Open a socket in the network namespace `netns` (an fd of
    /// `/proc/PID/ns/net` or `/run/netns/NAME`). A socket stays in the
    /// namespace it was created in, so a short-lived helper thread enters
    /// the namespace, creates the socket and exits: the calling thread never
    /// changes namespace. In the calling thread's own namespace no thread
    /// is started and no `setns` made (so `CAP_NET_ADMIN` alone suffices).
    pub(crate) fn open_in(netns: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<Self> {
        if is_current_netns(netns) {
            return NlSocket::open(timeout);
        }
        in_netns(netns, move || NlSocket::open(timeout))
    }

    /// Our netlink port id.
    #[allow(dead_code)]
    pub(crate) fn port(&self) -> u32 {
        self.port
    }

    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        sockopt::set_socket_timeout(self.sock.as_fd(), sockopt::Timeout::Recv, timeout)?;
        Ok(())
    }

    /// Grow the socket buffers; as root beyond `net.core.{r,w}mem_max`.
    pub(crate) fn set_buffers(&self, rcv: usize, snd: usize) -> io::Result<()> {
        let fd = self.sock.as_fd();
        if sockopt::set_socket_recv_buffer_size_force(fd, rcv).is_err() {
            sockopt::set_socket_recv_buffer_size(fd, rcv)?;
        }
        if sockopt::set_socket_send_buffer_size_force(fd, snd).is_err() {
            sockopt::set_socket_send_buffer_size(fd, snd)?;
        }
        Ok(())
    }

    /// The current receive buffer size (as the kernel doubled it).
    pub(crate) fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_recv_buffer_size(self.sock.as_fd())?)
    }

    /// The current send buffer size (as the kernel doubled it).
    pub(crate) fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(sockopt::socket_send_buffer_size(self.sock.as_fd())?)
    }

    /// The socket's file descriptor, to wait on (`poll`, `epoll`).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }

    /// Send one datagram (any number of netlink messages).
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<()> {
        self.send_flags(buf, 0)
    }

    /// [`NlSocket::send`] without waiting: `Ok(false)` when the send
    /// buffer is full. (Sends to the kernel are handled inside the call,
    /// so this does not happen in practice.)
    pub(crate) fn try_send(&self, buf: &[u8]) -> io::Result<bool> {
        match self.send_flags(buf, MSG_DONTWAIT) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn send_flags(&self, buf: &[u8], flags: i32) -> io::Result<()> {
        let n = self.sock.send(buf, flags)?;
        if n != buf.len() {
            return Err(io::Error::other(format!(
                "short netlink send: {n} of {} bytes",
                buf.len()
            )));
        }
        Ok(())
    }

    /// Receive one datagram into `buf` (cleared first). A datagram larger
    /// than the buffer grows it for next time and returns an error, since
    /// the kernel has already dropped the rest.
    ///
    /// This waits even when the caller made the socket non-blocking
    /// (`O_NONBLOCK`, for an event loop): then it polls for up to the
    /// receive timeout before each receive.
    pub(crate) fn recv(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            match self.recv_flags(buf, MSG_TRUNC) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.is_nonblocking() => {
                    self.wait_readable()?
                }
                r => return r,
            }
        }
    }

    fn is_nonblocking(&self) -> bool {
        rustix::fs::fcntl_getfl(self.sock.as_fd())
            .is_ok_and(|f| f.contains(rustix::fs::OFlags::NONBLOCK))
    }

    /// Wait until a datagram is queued, for at most the receive timeout
    /// (`SO_RCVTIMEO`; none: for ever); `WouldBlock` when it passed, as a
    /// blocking receive reports its timeout.
    fn wait_readable(&self) -> io::Result<()> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let timeout = sockopt::socket_timeout(self.sock.as_fd(), sockopt::Timeout::Recv)?;
        let ts = timeout.map(|t| Timespec {
            tv_sec: t.as_secs().try_into().unwrap_or(i64::MAX),
            tv_nsec: t.subsec_nanos().into(),
        });
        let mut fds = [PollFd::new(&self.sock, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => Err(io::Error::from(io::ErrorKind::WouldBlock)),
            Ok(_) => Ok(()),
            Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// [`NlSocket::recv`] without waiting: `Ok(None)` when no datagram is
    /// queued.
    pub(crate) fn try_recv(&self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        match self.recv_flags(buf, MSG_TRUNC | MSG_DONTWAIT) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn recv_flags(&self, buf: &mut Vec<u8>, flags: i32) -> io::Result<usize> {
        buf.clear();
        let n = self.sock.recv(buf, flags)?;
        if n > buf.len() {
            let want = n.next_power_of_two();
            buf.reserve(want);
            return Err(io::Error::other(format!(
                "netlink datagram of {n} bytes truncated to {} bytes",
                buf.len()
            )));
        }
        Ok(n)
    }
}
