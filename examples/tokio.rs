//! Driving `lvs` from async code without blocking the runtime.
//!
//! A `Handle` does blocking netlink I/O: a whole-table read of 10,000
//! services takes seconds under emulation. Called from an async task it
//! would stall every other task on that worker. Here one dedicated thread
//! owns the handle and serves requests sent over a channel; async tasks
//! `await` the answers and the runtime stays free. (`spawn_blocking` per
//! call works too, but opens a handle per call or needs a lock around a
//! shared one; a thread that owns it needs neither.)
//!
//! ```sh
//! cargo run --example tokio
//! ```
//!
//! prints how many services the table holds and the longest pause another
//! task saw while it was read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use lvs::{BatchResult, Handle, Op, TableEntry};
use tokio::sync::{mpsc, oneshot};

/// An error of the async face: the kernel's, or the IPVS thread gone.
#[derive(Debug)]
pub enum Error {
    /// What the handle reported.
    Ipvs(lvs::Error),
    /// The IPVS thread has stopped (it panicked).
    Stopped,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Ipvs(e) => e.fmt(f),
            Error::Stopped => f.write_str("the IPVS thread has stopped"),
        }
    }
}

/// What async code can ask of the IPVS thread.
enum Request {
    Table(oneshot::Sender<lvs::Result<Vec<TableEntry>>>),
    Apply(Vec<Op>, oneshot::Sender<BatchResult>),
}

/// The async face of a handle owned by its own thread. Cheap to clone;
/// the thread ends when the last clone is dropped.
#[derive(Clone)]
pub struct Ipvs {
    tx: mpsc::Sender<Request>,
}

impl Ipvs {
    /// Move `handle` to a new thread and return the async face.
    pub fn spawn(mut handle: Handle) -> Ipvs {
        let (tx, mut rx) = mpsc::channel::<Request>(16);
        thread::Builder::new()
            .name("ipvs".into())
            .spawn(move || {
                while let Some(req) = rx.blocking_recv() {
                    match req {
                        Request::Table(reply) => {
                            let _ = reply.send(handle.table());
                        }
                        Request::Apply(ops, reply) => {
                            let _ = reply.send(handle.apply(&ops));
                        }
                    }
                }
            })
            .expect("spawn the IPVS thread");
        Ipvs { tx }
    }

    /// The whole table, read on the IPVS thread.
    ///
    /// # Errors
    /// As [`Handle::table`], or [`Error::Stopped`].
    pub async fn table(&self) -> Result<Vec<TableEntry>, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Table(reply)).await?;
        answer
            .await
            .map_err(|_| Error::Stopped)?
            .map_err(Error::Ipvs)
    }

    /// Apply a batch on the IPVS thread; one result per operation.
    ///
    /// # Errors
    /// [`Error::Stopped`].
    pub async fn apply(&self, ops: Vec<Op>) -> Result<BatchResult, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Apply(ops, reply)).await?;
        answer.await.map_err(|_| Error::Stopped)
    }

    async fn send(&self, req: Request) -> Result<(), Error> {
        self.tx.send(req).await.map_err(|_| Error::Stopped)
    }
}

/// Read the table through `ipvs` while another task ticks every 10 ms on
/// the same runtime; returns the table's size, how long the read took,
/// and the longest gap between ticks (a read blocking the runtime would
/// stretch it to the whole read).
///
/// # Errors
/// As [`Ipvs::table`].
pub async fn read_while_ticking(ipvs: &Ipvs) -> Result<(usize, Duration, Duration), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let ticking = stop.clone();
    let ticker = tokio::spawn(async move {
        let mut longest = Duration::ZERO;
        let mut last = Instant::now();
        while !ticking.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(10)).await;
            longest = longest.max(last.elapsed());
            last = Instant::now();
        }
        longest
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let table = ipvs.table().await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let longest = ticker.await.unwrap_or(Duration::MAX);
    Ok((table?.len(), took, longest))
}

fn main() {
    let handle = Handle::open().unwrap_or_else(|e| {
        eprintln!("tokio example: {e}");
        std::process::exit(1);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let ipvs = Ipvs::spawn(handle);
        match read_while_ticking(&ipvs).await {
            Ok((n, took, longest)) => println!(
                "read {n} services in {took:?}; the other task never waited more than {longest:?}"
            ),
            Err(e) => {
                eprintln!("tokio example: {e}");
                std::process::exit(1);
            }
        }
    });
}
