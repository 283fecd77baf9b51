//! Planning cost of the reconciler on the host: 10,000 services x 10
//! destinations, from an empty table, with no change, and with 1 % of the
//! destinations changed. Only `plan()` is timed (what a pass costs besides
//! the kernel's read and writes); the kernel side, beside `ipvsadm -R`, is
//! in the kernel benchmark.
//!
//! Then the host side of an incremental pass (`Policy::incremental`)
//! against `FakeKernel`: comparing the desired state with the kept view,
//! planning what differs and recording the results, for no change and
//! for one changed destination.
//!
//! Run with `cargo bench --bench reconcile`. Each scenario runs
//! `ROUNDS` times; the table shows the median.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs::reconcile::{DesiredState, FakeKernel, Kernel, Policy, Reconciler, apply, plan};
use lvs::{Destination, Scheduler, Service, ServiceKey};

const SERVICES: u32 = 10_000;
const DESTS: u32 = 10;
const ROUNDS: usize = 7;

fn desired(weight_bump_every: Option<u32>) -> DesiredState {
    let mut d = DesiredState::new();
    let mut n = 0u32;
    for i in 0..SERVICES {
        let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i)), 80);
        let dests: Vec<Destination> = (0..DESTS)
            .map(|j| {
                n += 1;
                let rip = Ipv4Addr::from(0xac10_0000 | (i * DESTS + j));
                let bump = weight_bump_every.is_some_and(|k| n.is_multiple_of(k));
                Destination::new(SocketAddr::new(IpAddr::V4(rip), 8080)).with_weight(if bump {
                    2
                } else {
                    1
                })
            })
            .collect();
        d.push(
            Service::new(ServiceKey::tcp(vip)).with_scheduler(Scheduler::Wrr),
            dests,
        );
    }
    d
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test` runs benches with no
    // such flag: do one quick round then.
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        1
    };
    let policy = Policy::default();
    let base = desired(None);
    let changed = desired(Some(100)); // every 100th destination: 1 %

    let mut kernel = FakeKernel::new();
    let now = Instant::now();
    let first = plan(&base, &[], &policy, &[], now).expect("plan");
    let r = apply(&mut kernel, &first);
    assert!(r.is_ok());
    let observed = kernel.table().expect("table");

    let mut rows = Vec::new();
    for (name, want, obs) in [
        ("from empty", &base, &[][..]),
        ("no change", &base, &observed[..]),
        ("1 % of destinations changed", &changed, &observed[..]),
    ] {
        let mut times = Vec::new();
        let mut ops = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let p = plan(black_box(want), black_box(obs), &policy, &[], now).expect("plan");
            times.push(t.elapsed());
            ops = p.len();
            black_box(&p);
        }
        rows.push((name, ops, median(times)));
    }

    // A whole pass against the in-memory kernel, counting its calls.
    let mut r = Reconciler::new(policy);
    let t = Instant::now();
    let rep = r.reconcile(&mut kernel, &base).expect("pass");
    let pass = t.elapsed();
    assert_eq!((rep.reads, rep.writes), (1, 0));
    assert_eq!(
        (kernel.reads(), kernel.batches()),
        (2, 1),
        "one read per pass (the first read is the setup's), no batch"
    );

    println!(
        "reconcile planning, {SERVICES} services x {DESTS} destinations (median of {rounds}):"
    );
    println!();
    println!("| scenario | operations planned | plan() time |");
    println!("|---|---:|---:|");
    for (name, ops, t) in rows {
        println!("| {name} | {ops} | {:.1} ms |", t.as_secs_f64() * 1e3);
    }
    println!();
    println!(
        "no-change pass through Reconciler + FakeKernel: reads={} writes={} in {:.1} ms \
         (includes copying the in-memory table)",
        rep.reads,
        rep.writes,
        pass.as_secs_f64() * 1e3
    );

    // Incremental passes: the view is built by the first pass; then each
    // pass at the same instant verifies nothing (no time has gone), so
    // this is the host cost of a pass besides the kernel's dumps.
    let mut inc = Reconciler::new(Policy::default().with_incremental(Duration::from_secs(60)));
    let t0 = Instant::now();
    inc.reconcile_at(&mut kernel, &base, t0)
        .expect("first pass");
    let mut one = base.clone();
    let mut rows = Vec::new();
    for name in ["no change", "one destination changed"] {
        let mut times = Vec::new();
        let mut writes = 0;
        for round in 0..rounds {
            let want = if name == "no change" {
                &base
            } else {
                one.services[17].destinations[3].weight = 3 + round as u32;
                &one
            };
            let t = Instant::now();
            let rep = inc.reconcile_at(&mut kernel, want, t0).expect("pass");
            times.push(t.elapsed());
            assert_eq!(rep.reads, 0);
            writes = rep.writes;
        }
        rows.push((name, writes, median(times)));
    }
    println!();
    println!("| incremental pass (FakeKernel, no verification slice) | writes | time |");
    println!("|---|---:|---:|");
    for (name, writes, t) in rows {
        println!("| {name} | {writes} | {:.2} ms |", t.as_secs_f64() * 1e3);
    }
}
