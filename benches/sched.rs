//! Picks per second of each scheduler model on one core.
//!
//! Run with `cargo bench --bench sched`. Each scheduler gets a service of
//! `DESTS` destinations with mixed weights and some connection counts, and
//! is asked to schedule a rotating set of pre-built client packets. Only the
//! scheduler call is timed (`SchedulerModel::schedule`, as the kernel calls it):
//! no connection is bound.
//!
//! Rates are picks per second of *on-CPU time* of the benchmark thread
//! (from `/proc/thread-self/schedstat`), so that a machine shared with other
//! work still reports the throughput of one core; wall-clock rates are
//! printed beside them. Where schedstat is missing, CPU time falls back to
//! wall time.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs::sched::{MODELLED_SCHEDULERS, Packet, SchedulerModel, Simulation};
use lvs::{Destination, HashFlags, Protocol, Scheduler, Service, ServiceKey};

const DESTS: u8 = 10;
const CLIENTS: u32 = 4096;
/// Length of one timed round.
const ROUND: Duration = Duration::from_millis(100);
/// Rounds per scheduler; the table shows the median round.
const ROUNDS: usize = 9;

fn service(scheduler: Scheduler) -> Simulation {
    let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
    let spec = Service::new(ServiceKey::tcp(vip)).with_scheduler(scheduler);
    let mut sim = match Simulation::new(&spec) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    for i in 0..DESTS {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i + 1)), 80);
        let weight = u32::from(i % 4) + 1;
        if let Err(e) = sim.add_destination(Destination::new(addr).with_weight(weight)) {
            panic!("{e}");
        }
        if let Err(e) = sim.set_conn_counts(addr, i32::from(i) * 3, i32::from(i) * 7, 0) {
            panic!("{e}");
        }
    }
    sim
}

fn packets() -> Vec<Packet> {
    let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
    (0..CLIENTS)
        .map(|i| {
            let src = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(0xc633_6400u32.wrapping_add(i * 7919))),
                1024 + (i % 60_000) as u16,
            );
            // dh keys on the destination address: vary it too.
            let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0xc000_0200u32 + (i % 251))), 80);
            let dst = if i % 2 == 0 { vip } else { dst };
            Packet::new(Protocol::Tcp, src, dst)
        })
        .collect()
}

/// Nanoseconds this thread has spent on a CPU, if the kernel reports it.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// (picks per CPU second, picks per wall second) of one timed round.
fn round(
    sched: &mut impl SchedulerModel,
    svc: &lvs::sched::ServiceState,
    pkts: &[Packet],
) -> (f64, f64) {
    let mask = pkts.len() - 1;
    let mut picks: u64 = 0;
    let mut hits: u64 = 0;
    let cpu0 = cpu_ns();
    let start = Instant::now();
    let mut i = 0usize;
    loop {
        for _ in 0..16_384 {
            let p = &pkts[i & mask];
            i = i.wrapping_add(1);
            if black_box(sched.schedule(svc, black_box(p))).is_some() {
                hits += 1;
            }
        }
        picks += 16_384;
        if start.elapsed() >= ROUND {
            break;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = match (cpu0, cpu_ns()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => wall,
    };
    black_box(hits);
    (picks as f64 / cpu, picks as f64 / wall)
}

/// Median of (per CPU second, per wall second) over the rounds.
fn measure(sim: &Simulation, pkts: &[Packet]) -> (f64, f64) {
    let svc = sim.service().clone();
    let mut sched = sim.scheduler().clone();
    // Warm up.
    for p in pkts {
        black_box(sched.schedule(&svc, black_box(p)));
    }
    let rounds: Vec<(f64, f64)> = (0..ROUNDS).map(|_| round(&mut sched, &svc, pkts)).collect();
    let mut cpu: Vec<f64> = rounds.iter().map(|r| r.0).collect();
    let mut wall: Vec<f64> = rounds.iter().map(|r| r.1).collect();
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    (cpu[ROUNDS / 2], wall[ROUNDS / 2])
}

fn main() {
    let pkts = packets();
    let port = HashFlags {
        fallback: false,
        port: true,
    };
    let mut rows: Vec<(String, Scheduler)> = MODELLED_SCHEDULERS
        .iter()
        .map(|k| (k.name().to_owned(), k.clone()))
        .collect();
    rows.push(("sh (port)".into(), Scheduler::Sh(port)));
    rows.push(("mh (port)".into(), Scheduler::Mh(port)));
    println!("{DESTS} destinations, {CLIENTS} rotating clients, one core");
    println!("| scheduler | Mpicks/s (CPU time) | ns/pick (CPU time) | Mpicks/s (wall) |");
    println!("|---|---:|---:|---:|");
    for (name, scheduler) in rows {
        let sim = service(scheduler);
        let (cpu, wall) = measure(&sim, &pkts);
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} |",
            cpu / 1e6,
            1e9 / cpu,
            wall / 1e6
        );
    }
}
