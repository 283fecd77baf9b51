//! Reference traces and kernel-semantics checks for the scheduler models.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::*;
use crate::ConnState;
use crate::model::{Destination, Netmask, Protocol, Service, ServiceKey, Thresholds};

const FALLBACK: HashFlags = HashFlags {
    fallback: true,
    port: false,
};
const PORT: HashFlags = HashFlags {
    fallback: false,
    port: true,
};

/// A TCP service on `192.0.2.1:80` using `scheduler`.
fn svc(scheduler: Scheduler) -> Service {
    Service::new(ServiceKey::tcp(SocketAddr::new(ip(192, 0, 2, 1), 80))).with_scheduler(scheduler)
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sa(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(ip(10, 0, 0, last), port)
}

fn client(i: u32) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(0xac10_0000 + i)),
        1024 + (i % 50_000) as u16,
    )
}

/// Build a simulation whose **list order** is `list` (head first): the
/// destinations are added in reverse.
fn with_list(kind: Scheduler, list: &[(SocketAddr, u32)]) -> Simulation {
    let spec = svc(kind);
    Simulation::from_service(&spec, list.iter().rev().copied()).unwrap_or_else(|e| panic!("{e}"))
}

fn picks(sim: &mut Simulation, n: usize) -> Vec<SocketAddr> {
    let pkt = sim.packet_from(client(1));
    (0..n)
        .filter_map(|_| sim.pick(&pkt).and_then(|id| sim.addr_of(id)))
        .collect()
}

fn names(seq: &[SocketAddr], a: SocketAddr, b: SocketAddr, c: SocketAddr) -> String {
    seq.iter()
        .map(|x| {
            if *x == a {
                'A'
            } else if *x == b {
                'B'
            } else if *x == c {
                'C'
            } else {
                '?'
            }
        })
        .collect()
}

#[test]
fn list_is_newest_first() {
    let sim = Simulation::from_service(
        &svc(Scheduler::Rr),
        [(sa(1, 80), 1), (sa(2, 80), 1), (sa(3, 80), 1)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.destinations(), vec![sa(3, 80), sa(2, 80), sa(1, 80)]);
}

/// `ip_vs_wrr.c` example sequences (list order A, B, C), with the scheduler
/// initialised over the full list (as when `SET_SERVICE` switches a
/// populated service to `wrr`).
#[test]
fn wrr_reference_sequences() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let cases: [(&[u32], &str); 4] = [
        (&[4, 3, 2], "AABABCABC"),
        (&[4, 2], "AAB"),
        (&[5, 0, 3], "AAACACAC"),
        (&[6, 4, 2], "AABABC"),
    ];
    for (weights, cycle) in cases {
        let addrs = [a, b, c];
        let list: Vec<(SocketAddr, u32)> =
            weights.iter().zip(addrs).map(|(&w, x)| (x, w)).collect();
        let mut sim = with_list(Scheduler::Rr, &list);
        sim.set_scheduler(&Scheduler::Wrr)
            .unwrap_or_else(|e| panic!("{e}"));
        let seq = picks(&mut sim, cycle.len() * 3);
        assert_eq!(names(&seq, a, b, c), cycle.repeat(3), "weights {weights:?}");
    }
}

/// Adding the destinations one by one (the usual `ipvsadm -A; -a; -a; -a`)
/// runs the `add_dest` hook each time, which keeps `cw` from the first add:
/// the first round is a partial one, then the reference cycle repeats.
#[test]
fn wrr_incremental_adds_start_mid_cycle() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    // Added C (w=2), then B (3), then A (4): cw = 1 after the first add.
    let mut sim = with_list(Scheduler::Wrr, &[(a, 4), (b, 3), (c, 2)]);
    let seq = picks(&mut sim, 3 + 9 * 2);
    assert_eq!(
        names(&seq, a, b, c),
        format!("ABC{}", "AABABCABC".repeat(2))
    );
}

#[test]
fn wrr_all_zero_or_overloaded_gives_none() {
    let mut sim = with_list(Scheduler::Wrr, &[(sa(1, 80), 0), (sa(2, 80), 0)]);
    assert!(picks(&mut sim, 3).is_empty());
    // Huge weights, everything overloaded: must terminate quickly.
    let mut sim = Simulation::new(&svc(Scheduler::Wrr)).unwrap_or_else(|e| panic!("{e}"));
    for (i, w) in [(1u8, i32::MAX as u32), (2, 1), (3, 7)] {
        sim.add_destination(
            Destination::new(sa(i, 80))
                .with_weight(w)
                .with_thresholds(Thresholds { upper: 1, lower: 0 }),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    // First pick succeeds and overloads its destination; keep going.
    for i in 0..3 {
        sim.connect(client(9 + i));
    }
    let pkt = sim.packet_from(client(2));
    assert_eq!(sim.pick(&pkt), None);
}

#[test]
fn rr_cycles_and_skips_unusable() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let mut sim = with_list(Scheduler::Rr, &[(a, 1), (b, 0), (c, 5)]);
    let seq = picks(&mut sim, 6);
    assert_eq!(names(&seq, a, b, c), "ACACAC");
}

#[test]
fn rr_delete_cursor_moves_to_successor() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let mut sim = with_list(Scheduler::Rr, &[(a, 1), (b, 1), (c, 1)]);
    assert_eq!(names(&picks(&mut sim, 2), a, b, c), "AB");
    sim.remove_destination(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&picks(&mut sim, 3), a, b, c), "CAC");
    // A new destination goes to the head; the cursor stays on C.
    let d = sa(4, 80);
    sim.add_destination(Destination::new(d).with_weight(1))
        .unwrap_or_else(|e| panic!("{e}"));
    let seq = picks(&mut sim, 3);
    assert_eq!(seq, vec![d, a, c]);
}

#[test]
fn least_connection_family_reference_picks() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let mk = |kind| {
        let mut sim = with_list(kind, &[(a, 1), (b, 2), (c, 3)]);
        // (active, inactive)
        for (x, act, inact) in [(a, 1, 0), (b, 2, 10), (c, 3, 0)] {
            sim.set_conn_counts(x, act, inact, 0)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        sim
    };
    let first = |kind| {
        let mut sim = mk(kind);
        picks(&mut sim, 1).first().copied()
    };
    // overhead: a=256, b=522, c=768.
    assert_eq!(first(Scheduler::Lc), Some(a));
    // wlc: 256/1, 522/2=261, 768/3=256 -> first minimum in list order: a.
    assert_eq!(first(Scheduler::Wlc), Some(a));
    // sed: (1+1)/1=2, (2+1)/2=1.5, (3+1)/3=1.33 -> c.
    assert_eq!(first(Scheduler::Sed), Some(c));
    assert_eq!(first(Scheduler::Nq), Some(c));
    assert_eq!(first(Scheduler::Fo), Some(c));
    // ovf: c has active 3 == weight 3 -> still eligible, highest weight.
    assert_eq!(first(Scheduler::Ovf), Some(c));
    // nq takes the first idle destination.
    let mut sim = mk(Scheduler::Nq);
    sim.set_conn_counts(b, 0, 99, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(picks(&mut sim, 1), vec![b]);
}

/// `ip_vs_sh.c` table fill: weights [1, 2, 0] give buckets `0 1 1 2 0 1 1 2 ...`.
#[test]
fn sh_fill_reference() {
    let sim = with_list(
        Scheduler::Sh(HashFlags::default()),
        &[(sa(1, 80), 1), (sa(2, 80), 2), (sa(3, 80), 0)],
    );
    let AnyScheduler::Sh(sh) = sim.scheduler() else {
        panic!("not sh")
    };
    let list = sim.service().list().to_vec();
    let idx: Vec<usize> = sh
        .buckets()
        .take(8)
        .map(|b| {
            b.and_then(|id| list.iter().position(|&x| x == id))
                .unwrap_or(99)
        })
        .collect();
    assert_eq!(idx, vec![0, 1, 1, 2, 0, 1, 1, 2]);
    assert_eq!(sh.buckets().len(), 256);
}

/// SH with 256 buckets and port 0: 192.168.0.1 -> bucket 192,
/// 192.168.0.2 -> bucket 34.
#[test]
fn sh_reference_buckets() {
    let sim = with_list(Scheduler::Sh(HashFlags::default()), &[(sa(1, 80), 1)]);
    let AnyScheduler::Sh(sh) = sim.scheduler() else {
        panic!("not sh")
    };
    let b = |c: IpAddr| sh.bucket_of(sim.service(), &sim.packet_from(SocketAddr::new(c, 5555)));
    assert_eq!(b(ip(192, 168, 0, 1)), 192);
    assert_eq!(b(ip(192, 168, 0, 2)), 34);
}

#[test]
fn sh_fallback_and_port_flags() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let spec = svc(Scheduler::Sh(HashFlags::default()));
    let mut plain =
        Simulation::from_service(&spec.clone(), [(a, 1), (b, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let mut fb = Simulation::from_service(&svc(Scheduler::Sh(FALLBACK)), [(a, 1), (b, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    // Quiesce a: plain drops a's clients, fallback sends them to b.
    plain.set_weight(a, 0).unwrap_or_else(|e| panic!("{e}"));
    fb.set_weight(a, 0).unwrap_or_else(|e| panic!("{e}"));
    // sh rebuilds on upd: weight 0 still takes one bucket per cycle.
    let mut dropped = 0;
    for i in 0..1000 {
        let c = client(i);
        let p = plain.dest_for(c);
        let f = fb.dest_for(c);
        assert!(p.is_none() || p == Some(b));
        assert_eq!(f, Some(b));
        if p.is_none() {
            dropped += 1;
        }
    }
    assert!(dropped > 0);
    // Port flag: same address, different ports spread; without it they don't.
    let port = Simulation::from_service(&svc(Scheduler::Sh(PORT)), [(a, 1), (b, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    let noport =
        Simulation::from_service(&spec, [(a, 1), (b, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let host = ip(172, 16, 1, 1);
    let with: std::collections::BTreeSet<_> = (1000..1100)
        .map(|p| port.dest_for(SocketAddr::new(host, p)))
        .collect();
    let without: std::collections::BTreeSet<_> = (1000..1100)
        .map(|p| noport.dest_for(SocketAddr::new(host, p)))
        .collect();
    assert_eq!(with.len(), 2);
    assert_eq!(without.len(), 1);
}

/// An MH example computed from `ip_vs_mh.c`'s definitions.
#[test]
fn mh_reference_example() {
    // List order (newest first): [10.0.0.3:80 lw=2, 10.0.0.2:80 lw=1, 10.0.0.1:80 lw=1].
    let sim = Simulation::from_service(
        &svc(Scheduler::Mh(HashFlags::default())),
        [(sa(1, 80), 1), (sa(2, 80), 1), (sa(3, 80), 2)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.destinations(), vec![sa(3, 80), sa(2, 80), sa(1, 80)]);
    let AnyScheduler::Mh(mh) = sim.scheduler() else {
        panic!("not mh")
    };
    assert_eq!(mh.size(), 4093);
    let list = sim.service().list().to_vec();
    let idx: Vec<usize> = mh
        .slots()
        .map(|s| {
            s.and_then(|id| list.iter().position(|&x| x == id))
                .unwrap_or(99)
        })
        .collect();
    let count = |i| idx.iter().filter(|&&x| x == i).count();
    assert_eq!((count(0), count(1), count(2)), (2047, 1023, 1023));
    assert_eq!(idx[..16], [2, 1, 0, 0, 0, 0, 1, 0, 0, 2, 2, 1, 1, 2, 2, 0]);
    for (c, slot) in [
        (ip(192, 168, 0, 1), 1278),
        (ip(192, 168, 0, 2), 1806),
        (ip(172, 16, 5, 9), 3538),
    ] {
        let pkt = sim.packet_from(SocketAddr::new(c, 0));
        assert_eq!(mh.slot_of(sim.service(), &pkt), slot);
        assert_eq!(sim.dest_for(SocketAddr::new(c, 0)), Some(sa(3, 80)));
    }
}

#[test]
fn mh_quiesce_keeps_table_and_fallback_probes() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let spec = svc(Scheduler::Mh(HashFlags::default()));
    let mut sim = Simulation::from_service(&spec.clone(), [(a, 1), (b, 1), (c, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    let before: Vec<_> = {
        let AnyScheduler::Mh(mh) = sim.scheduler() else {
            panic!("not mh")
        };
        mh.slots().collect()
    };
    sim.set_weight(b, 0).unwrap_or_else(|e| panic!("{e}"));
    let AnyScheduler::Mh(mh) = sim.scheduler() else {
        panic!("not mh")
    };
    let after: Vec<_> = mh.slots().collect();
    assert_eq!(
        before, after,
        "weight 0 keeps last_weight, so the table is unchanged"
    );
    assert_eq!(sim.destination(b).map(|d| d.last_weight()), Some(1));
    let mut fb = Simulation::from_service(&svc(Scheduler::Mh(FALLBACK)), [(a, 1), (b, 1), (c, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    fb.set_weight(b, 0).unwrap_or_else(|e| panic!("{e}"));
    let mut none = 0;
    for i in 0..2000 {
        let cl = client(i);
        let p = sim.dest_for(cl);
        let f = fb.dest_for(cl);
        assert_ne!(p, Some(b));
        assert_ne!(f, Some(b));
        assert!(f.is_some());
        if p.is_none() {
            none += 1;
        } else {
            assert_eq!(p, f, "available home slot is kept under fallback");
        }
    }
    assert!(
        none > 400 && none < 900,
        "about a third of clients hashed to b: {none}"
    );
}

#[test]
fn dh_uses_destination_address_and_ignores_upd() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let mut sim = Simulation::from_service(&svc(Scheduler::Dh), [(a, 1), (b, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    let before: Vec<_> = {
        let AnyScheduler::Dh(dh) = sim.scheduler() else {
            panic!("not dh")
        };
        dh.buckets().collect()
    };
    // Every client of one VIP lands on one destination.
    let d = sim.dest_for(client(1));
    assert!((0..100).all(|i| sim.dest_for(client(i)) == d));
    sim.set_weight(b, 5).unwrap_or_else(|e| panic!("{e}"));
    let AnyScheduler::Dh(dh) = sim.scheduler() else {
        panic!("not dh")
    };
    assert_eq!(dh.buckets().collect::<Vec<_>>(), before);
    // Bucket i holds list[i mod n].
    let list = sim.service().list().to_vec();
    assert!(
        before
            .iter()
            .enumerate()
            .all(|(i, x)| *x == Some(list[i % 2]))
    );
}

#[test]
fn thresholds_drive_overload() {
    let a = sa(1, 80);
    let b = sa(2, 80);
    let mut sim = Simulation::from_service(
        &svc(Scheduler::Rr),
        [
            Destination::new(a)
                .with_weight(1)
                .with_thresholds(Thresholds { upper: 2, lower: 0 }),
            Destination::new(b).with_weight(1),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // list: b, a. rr: b, a, b, a(reaches u=2 -> OVERLOAD), then only b.
    let outs: Vec<_> = (0..6).map(|i| sim.connect(client(i))).collect();
    let got: Vec<_> = outs.iter().map(|o| o.addr).collect();
    assert_eq!(
        got,
        vec![Some(b), Some(a), Some(b), Some(a), Some(b), Some(b)]
    );
    assert!(sim.destination(a).is_some_and(|d| d.is_overloaded()));
    // Unbind one: total 1, 1*4 < 2*3 -> OVERLOAD cleared.
    let conn = outs[1].conn.unwrap_or_else(|| panic!("no conn"));
    sim.close(conn).unwrap_or_else(|e| panic!("{e}"));
    assert!(sim.destination(a).is_some_and(|d| !d.is_overloaded()));
    // Active/inactive transitions do not touch OVERLOAD.
    let c3 = outs[3].conn.unwrap_or_else(|| panic!("no conn"));
    sim.set_active(c3, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.destination(a)
            .map(|d| (d.active_conns(), d.inactive_conns())),
        Some((0, 1))
    );
}

/// Found by `tests/kernel_sched.rs` against Debian 6.1.192 (lc, wlc, sed,
/// nq, ovf, sh and mh with fallback): setting an upper threshold at or
/// below a destination's connection count overloads it at once, without a
/// new connection; the kernel sent the next connection elsewhere.
#[test]
fn threshold_edit_reevaluates_overload() {
    let a = sa(1, 80);
    let b = sa(2, 80);
    // List a, b. lc overheads: a = 3*257 + 2, b = 4*257: a is least.
    let mut sim = with_list(Scheduler::Lc, &[(a, 3), (b, 1)]);
    sim.set_conn_counts(a, 3, 2, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    sim.set_conn_counts(b, 4, 0, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let pick = |sim: &Simulation| sim.dest_for(client(1));
    let overloaded = |sim: &Simulation| sim.destination(a).is_some_and(|d| d.is_overloaded());
    let set = |sim: &mut Simulation, upper: u32, lower: u32| {
        sim.update_destination(
            Destination::new(a)
                .with_weight(3)
                .with_thresholds(Thresholds { upper, lower }),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    };
    assert_eq!(pick(&sim), Some(a));
    // 5 connections, upper threshold 5: overloaded now.
    set(&mut sim, 5, 0);
    assert!(overloaded(&sim));
    assert_eq!(pick(&sim), Some(b));
    // A weight edit (thresholds unchanged) keeps the flag.
    sim.set_weight(a, 3).unwrap_or_else(|e| panic!("{e}"));
    assert!(overloaded(&sim));
    // Raised to 6: 5 is not below the default lower threshold 6 - 6/4 = 5:
    // still overloaded (older kernels cleared it on any raise).
    set(&mut sim, 6, 0);
    assert!(overloaded(&sim));
    // Raised to 7: lower threshold 7 - 1 = 6 > 5: cleared.
    set(&mut sim, 7, 0);
    assert!(!overloaded(&sim));
    assert_eq!(pick(&sim), Some(a));
    // An explicit lower threshold counts the same way.
    set(&mut sim, 5, 5);
    assert!(overloaded(&sim));
    set(&mut sim, 9, 5);
    assert!(overloaded(&sim), "5 connections are not below l = 5");
    set(&mut sim, 9, 6);
    assert!(!overloaded(&sim));
    // No upper threshold: never overloaded.
    set(&mut sim, 5, 0);
    assert!(overloaded(&sim));
    set(&mut sim, 0, 0);
    assert!(!overloaded(&sim));
}

/// Found by `tests/kernel_sched.rs` against Debian 6.1.192: the connection
/// overhead counts an active connection 257 times an inactive one
/// (`(activeconns << 8) + totalconns`). With `a` (weight 256) holding one
/// active connection and `b` (weight 1) one inactive, wlc sends the next
/// connection to `b`; at weight 257 the loads tie and `a`, first, keeps it.
/// Kernels before July 2026 (`legacy_conn_accounting`) tie at 256.
#[test]
fn overhead_counts_active_connections_257_times() {
    let a = sa(1, 80);
    let b = sa(2, 80);
    for (legacy, ratio, expected) in [
        (false, 256, b),
        (false, 257, a),
        (true, 256, a),
        (true, 255, b),
    ] {
        let params = KernelParams::new().with_legacy_conn_accounting(legacy);
        for kind in [Scheduler::Wlc, Scheduler::Lblc, Scheduler::Lblcr] {
            let mut sim = Simulation::with_params(&svc(kind.clone()), params.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            for d in [
                Destination::new(b).with_weight(1),
                Destination::new(a).with_weight(ratio),
            ] {
                sim.add_destination(d).unwrap_or_else(|e| panic!("{e}"));
            }
            sim.set_conn_counts(a, 1, 0, 0)
                .unwrap_or_else(|e| panic!("{e}"));
            sim.set_conn_counts(b, 0, 1, 0)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                sim.dest_for(client(1)),
                Some(expected),
                "{kind} legacy={legacy} ratio={ratio}"
            );
        }
    }
    // lc: one active connection against 256 inactive ones.
    for (legacy, expected) in [(false, b), (true, a)] {
        let params = KernelParams::new().with_legacy_conn_accounting(legacy);
        let mut sim =
            Simulation::with_params(&svc(Scheduler::Lc), params).unwrap_or_else(|e| panic!("{e}"));
        for d in [
            Destination::new(b).with_weight(1),
            Destination::new(a).with_weight(1),
        ] {
            sim.add_destination(d).unwrap_or_else(|e| panic!("{e}"));
        }
        sim.set_conn_counts(a, 1, 0, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        sim.set_conn_counts(b, 0, 256, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sim.dest_for(client(1)),
            Some(expected),
            "lc legacy={legacy}"
        );
    }
}

/// The same edit under `legacy_conn_accounting`: OVERLOAD is only cleared
/// (new upper threshold 0 or raised), never set by the edit.
#[test]
fn legacy_threshold_edit_only_clears() {
    let a = sa(1, 80);
    let params = KernelParams::new().with_legacy_conn_accounting(true);
    let mut sim =
        Simulation::with_params(&svc(Scheduler::Lc), params).unwrap_or_else(|e| panic!("{e}"));
    sim.add_destination(Destination::new(a).with_weight(1))
        .unwrap_or_else(|e| panic!("{e}"));
    sim.set_conn_counts(a, 3, 2, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let overloaded = |sim: &Simulation| sim.destination(a).is_some_and(|d| d.is_overloaded());
    sim.update_destination(
        Destination::new(a)
            .with_weight(1)
            .with_thresholds(Thresholds { upper: 5, lower: 0 }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!overloaded(&sim));
    // The next connection reaches the threshold.
    sim.connect(client(1));
    assert!(overloaded(&sim));
    // Raised (to anything larger): cleared.
    sim.update_destination(
        Destination::new(a)
            .with_weight(1)
            .with_thresholds(Thresholds { upper: 6, lower: 0 }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!overloaded(&sim));
}

#[test]
fn control_plane_errors_match_kernel() {
    let mut sim = Simulation::new(&svc(Scheduler::Wlc)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.add_destination(Destination::new(sa(1, 80)).with_weight(1 << 31)),
        Err(Error::WeightOutOfRange { weight: 1 << 31 })
    );
    assert!(matches!(
        sim.add_destination(
            Destination::new(sa(1, 80))
                .with_weight(1)
                .with_thresholds(Thresholds { upper: 1, lower: 2 })
        ),
        Err(Error::ThresholdsOutOfRange { .. })
    ));
    assert!(
        sim.add_destination(Destination::new(sa(1, 80)).with_weight(1))
            .is_ok()
    );
    assert_eq!(
        sim.add_destination(Destination::new(sa(1, 80)).with_weight(1)),
        Err(Error::DestinationExists(sa(1, 80)))
    );
    assert_eq!(
        sim.remove_destination(sa(2, 80)),
        Err(Error::DestinationNotFound(sa(2, 80)))
    );
    assert!(matches!(
        Scheduler::from_name("mh"),
        Ok(Scheduler::Mh(f)) if f == HashFlags::default()
    ));
    // Kernel names are exact ("MH" is some other module), and `none` has
    // no model.
    for name in ["MH", "none"] {
        let s = Scheduler::from_name(name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Simulation::new(&svc(s)).err(),
            Some(Error::UnsupportedScheduler(name.into()))
        );
    }
    assert!(
        Simulation::with_params(
            &svc(Scheduler::Sh(HashFlags::default())),
            KernelParams::new().with_sh_tab_bits(30)
        )
        .is_err()
    );
}

#[test]
fn trash_revives_same_object_with_counters() {
    let a = sa(1, 80);
    let mut sim =
        Simulation::from_service(&svc(Scheduler::Rr), [(a, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let o = sim.connect(client(1));
    let id = sim.remove_destination(a).unwrap_or_else(|e| panic!("{e}"));
    // The open connection still maps to the removed destination (its
    // packets are dropped: expire_nodest_conn is off).
    let again = sim.connect(client(1));
    assert_eq!((again.addr, again.via), (Some(a), Via::Dropped));
    assert_eq!(sim.connect(client(2)).via, Via::NoDestination);
    let id2 = sim
        .add_destination(Destination::new(a).with_weight(3))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id, id2);
    assert_eq!(sim.destination(a).map(|d| d.active_conns()), Some(1));
    assert!(o.conn.is_some());
}

#[test]
fn persistence_reuses_template_and_masks_clients() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let spec = svc(Scheduler::Rr)
        .with_persistence_netmask(300, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
    let mut sim =
        Simulation::from_service(&spec, [(a, 1), (b, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let c1 = SocketAddr::new(ip(172, 16, 1, 1), 1000);
    let c2 = SocketAddr::new(ip(172, 16, 1, 2), 2000); // same /24
    let c3 = SocketAddr::new(ip(172, 16, 2, 1), 3000); // other /24
    let o1 = sim.connect(c1);
    let o2 = sim.connect(c2);
    let o3 = sim.connect(c3);
    assert_eq!(o1.via, Via::Scheduled);
    assert_eq!(o2.via, Via::Template);
    assert_eq!(o2.addr, o1.addr);
    assert_eq!(o3.via, Via::Scheduled);
    assert_ne!(o3.addr, o1.addr);
    assert_eq!(sim.templates(), 2);
    let d1 = o1.addr.unwrap_or(a);
    assert_eq!(sim.destination(d1).map(|d| d.persistent_conns()), Some(1));
    // Reuse ignores weight 0 (expire_quiescent_template off) ...
    sim.set_weight(d1, 0).unwrap_or_else(|e| panic!("{e}"));
    let o4 = sim.connect(SocketAddr::new(ip(172, 16, 1, 9), 9));
    assert_eq!((o4.addr, o4.via), (Some(d1), Via::Template));
    // ... but not removal.
    sim.remove_destination(d1).unwrap_or_else(|e| panic!("{e}"));
    let o5 = sim.connect(SocketAddr::new(ip(172, 16, 1, 10), 10));
    assert_eq!(o5.via, Via::Scheduled);
    assert_ne!(o5.addr, Some(d1));
    // The invalidated template stays bound while it controls connections
    // (established ones, which live 15 minutes).
    assert_eq!(sim.templates(), 3);
    for o in [o1, o2, o3, o4, o5] {
        sim.set_state(
            o.conn.unwrap_or_else(|| panic!("conn")),
            &ConnState::Established,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    sim.advance(301_000);
    assert_eq!(sim.templates(), 3);
    // Once nothing uses them, templates expire and release persistconns.
    for o in [o1, o2, o3, o4, o5] {
        sim.close(o.conn.unwrap_or_else(|| panic!("conn")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    sim.advance(60_000);
    assert_eq!(sim.templates(), 0);
    assert!(sim.service().iter().all(|(_, d)| d.persistent_conns() == 0));
    assert_eq!(sim.destination(d1).map(|d| d.persistent_conns()), Some(0));
}

#[test]
fn port_zero_requires_persistence_and_one_packet_releases() {
    let a = sa(1, 0);
    let spec = Service::new(ServiceKey::tcp(SocketAddr::new(ip(192, 0, 2, 1), 0)))
        .with_scheduler(Scheduler::Rr);
    let mut sim = Simulation::from_service(&spec, [(a, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let pkt = Packet::new(
        Protocol::Tcp,
        client(1),
        SocketAddr::new(ip(192, 0, 2, 1), 443),
    );
    assert_eq!(sim.connect_packet(&pkt).via, Via::NotScheduled);

    let spec = Service::new(ServiceKey::udp(SocketAddr::new(ip(192, 0, 2, 1), 53)))
        .with_scheduler(Scheduler::Lc)
        .with_one_packet(true);
    let (x, y) = (sa(1, 53), sa(2, 53));
    let mut sim =
        Simulation::from_service(&spec, [(x, 1), (y, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let o = sim.connect(client(1));
    assert!(o.conn.is_none());
    assert_eq!(sim.connections(), 0);
    assert_eq!(sim.destination(y).map(|d| d.inactive_conns()), Some(0));
    // The same client is scheduled again (no connection entry).
    assert_eq!(sim.connect(client(1)).via, Via::Scheduled);
}

#[test]
fn lblc_cache_ignores_threshold_overload() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let mut sim = Simulation::from_service(
        &svc(Scheduler::Lblc),
        [
            Destination::new(a)
                .with_weight(10)
                .with_thresholds(Thresholds { upper: 1, lower: 0 }),
            Destination::new(b).with_weight(10),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // list: b, a. wlc picks b first (tie -> first); make a the least loaded.
    sim.set_conn_counts(b, 5, 0, 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let o = sim.connect(client(1));
    assert_eq!(o.addr, Some(a));
    assert!(sim.destination(a).is_some_and(|d| d.is_overloaded()));
    // Same VIP: the cached dest is used although it is OVERLOADed.
    assert_eq!(sim.connect(client(2)).addr, Some(a));
    // After a day the full-expiration tick drops the entry.
    let AnyScheduler::Lblc(l) = sim.scheduler() else {
        panic!("not lblc")
    };
    assert_eq!(l.cache_len(), 1);
    sim.advance(25 * 3600 * 1000);
    let AnyScheduler::Lblc(l) = sim.scheduler() else {
        panic!("not lblc")
    };
    assert_eq!(l.cache_len(), 0);
}

#[test]
fn lblcr_grows_set_when_overloaded() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let mut sim = Simulation::from_service(&svc(Scheduler::Lblcr), [(a, 1), (b, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    // list b, a; first pick b.
    assert_eq!(sim.connect(client(1)).addr, Some(b));
    assert_eq!(sim.connect(client(2)).addr, Some(b));
    // b.active = 2 > weight 1 and a.active*2 < 1 -> overloaded: replicate to a.
    assert_eq!(sim.connect(client(3)).addr, Some(a));
    let AnyScheduler::Lblcr(l) = sim.scheduler() else {
        panic!("not lblcr")
    };
    let set = l
        .cached_set(sim.service(), &sim.packet_from(client(4)))
        .map(<[DestId]>::to_vec);
    let ids: Vec<_> = set
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| sim.addr_of(id))
        .collect();
    assert_eq!(ids, vec![a, b]);
}

#[test]
fn twos_is_seeded_and_respects_eligibility() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let run = |seed| {
        let spec = svc(Scheduler::Twos);
        let mut sim = Simulation::with_params(&spec, KernelParams::new().with_rng_seed(seed))
            .unwrap_or_else(|e| panic!("{e}"));
        for (x, w) in [(a, 1), (b, 0), (c, 3)] {
            sim.add_destination(Destination::new(x).with_weight(w))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        picks(&mut sim, 200)
    };
    assert_eq!(run(7), run(7));
    assert!(!run(7).contains(&b));
}

#[test]
fn simrng_below_is_in_range() {
    let mut r = SimRng::new(1);
    for ceil in [0u32, 1, 2, 3, 1000, u32::MAX] {
        for _ in 0..100 {
            let v = r.below(ceil);
            assert!(ceil == 0 && v == 0 || v < ceil);
        }
    }
}

#[test]
fn huge_clock_jumps_terminate() {
    for kind in [Scheduler::Lblc, Scheduler::Lblcr] {
        let mut sim = with_list(kind, &[(sa(1, 80), 1)]);
        sim.connect(client(1));
        sim.advance(u64::MAX / 2);
        sim.advance(u64::MAX);
        assert_eq!(sim.service().now_ms(), u64::MAX);
        let cache = match sim.scheduler() {
            AnyScheduler::Lblc(l) => l.cache_len(),
            AnyScheduler::Lblcr(l) => l.cache_len(),
            _ => 99,
        };
        assert_eq!(cache, 0);
    }
}

/// A table read from the kernel (newest destination first) becomes a
/// simulation with the kernel's list order, counters and OVERLOAD.
#[test]
fn from_table_keeps_kernel_order_and_counters() {
    use crate::model::{ConnCounts, DestinationEntry, ServiceEntry, Stats, TableEntry};
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    let service = svc(Scheduler::Wlc);
    let entry = |addr, weight, upper, active, inactive| DestinationEntry {
        destination: Destination::new(addr)
            .with_weight(weight)
            .with_thresholds(Thresholds { upper, lower: 0 }),
        conns: ConnCounts {
            active,
            inactive,
            persistent: 0,
        },
        stats: Stats::default(),
    };
    // Added to the kernel as a, b, c: listed c, b, a.
    let table = TableEntry {
        service: ServiceEntry {
            service: service.clone(),
            stats: Stats::default(),
        },
        destinations: vec![
            entry(c, 1, 2, 2, 0),
            entry(b, 1, 0, 0, 5),
            entry(a, 2, 0, 1, 1),
        ],
    };
    let sim = Simulation::from_table(&table).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.destinations(), vec![c, b, a]);
    let built = Simulation::from_service(&service, [(a, 2), (b, 1), (c, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.destinations(), built.destinations());
    let d = |x| sim.destination(x).unwrap_or_else(|| panic!("{x}"));
    assert_eq!((d(a).active_conns(), d(a).inactive_conns()), (1, 1));
    assert_eq!(d(b).inactive_conns(), 5);
    // c is at its upper threshold: overloaded, as the kernel set it.
    assert!(d(c).is_overloaded() && !d(b).is_overloaded());
    // wlc: c overloaded; b costs 5 / 1, a (257 + 1) / 2.
    assert_eq!(sim.dest_for(client(1)), Some(b));

    // What the models cannot run is refused, with the crate-wide kind.
    let mut none = table.clone();
    none.service.service.scheduler = Scheduler::None;
    let e = Simulation::from_table(&none).err();
    assert_eq!(e, Some(Error::UnsupportedScheduler("none".into())));
    let mut sip = table;
    sip.service.service = sip
        .service
        .service
        .with_persistence(300)
        .with_persistence_engine("sip");
    let e = Simulation::from_table(&sip).err();
    assert_eq!(e, Some(Error::UnsupportedPersistenceEngine("sip".into())));
    let lvs_err = crate::error::Error::from(Error::UnsupportedPersistenceEngine("sip".into()));
    assert_eq!(lvs_err.kind(), crate::error::ErrorKind::Unsupported);
    assert_eq!(
        crate::error::Error::from(Error::DestinationExists(a)).kind(),
        crate::error::ErrorKind::DestinationExists
    );
}

/// A packet of a connection whose destination was removed: dropped with
/// `expire_nodest_conn` off; with it on, the connection expires and the
/// packet is scheduled anew (UDP, TCP SYN) or passed on unscheduled (TCP
/// without SYN). With it on, a SYN matching a connection to a weight-0
/// destination is scheduled anew too.
#[test]
fn removed_destination_follows_expire_nodest_conn() {
    let vip = |port| SocketAddr::new(ip(192, 0, 2, 1), port);
    for expire in [false, true] {
        let params = KernelParams::new().with_expire_nodest_conn(expire);
        let build = |key: ServiceKey, port| {
            let svc = Service::new(key).with_scheduler(Scheduler::Rr);
            let mut sim =
                Simulation::with_params(&svc, params.clone()).unwrap_or_else(|e| panic!("{e}"));
            for d in [sa(1, port), sa(2, port)] {
                sim.add_destination(Destination::new(d))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            sim
        };
        let other = |x: SocketAddr| {
            if x.ip() == sa(1, 0).ip() {
                sa(2, x.port())
            } else {
                sa(1, x.port())
            }
        };

        // UDP: every datagram may open a connection.
        let mut sim = build(ServiceKey::udp(vip(53)), 53);
        let first = sim
            .connect(client(1))
            .addr
            .unwrap_or_else(|| panic!("scheduled"));
        sim.remove_destination(first)
            .unwrap_or_else(|e| panic!("{e}"));
        let again = sim.connect(client(1));
        if expire {
            assert_eq!(
                (again.via, again.addr),
                (Via::Scheduled, Some(other(first)))
            );
            assert_eq!(sim.destination(first).map(|d| d.inactive_conns()), Some(0));
            assert_eq!(sim.connections(), 1);
        } else {
            assert_eq!((again.via, again.addr), (Via::Dropped, Some(first)));
            assert_eq!(sim.dest_for(client(1)), None);
            assert_eq!(sim.destination(first).map(|d| d.inactive_conns()), Some(1));
        }

        // TCP: a segment without SYN is never scheduled.
        let mut sim = build(ServiceKey::tcp(vip(80)), 80);
        let syn = sim.packet_from(client(1));
        let first = sim
            .connect_packet(&syn)
            .addr
            .unwrap_or_else(|| panic!("scheduled"));
        assert_eq!(sim.flow_packet(&syn).via, Via::Existing);
        sim.remove_destination(first)
            .unwrap_or_else(|e| panic!("{e}"));
        let seg = sim.flow_packet(&syn);
        if expire {
            assert_eq!((seg.via, seg.addr), (Via::NotScheduled, None));
            assert_eq!(sim.connections(), 0);
            assert_eq!(sim.destination(first).map(|d| d.active_conns()), Some(0));
            // The rr cursor did not move: the next SYN goes where it would have.
            assert_eq!(sim.connect(client(2)).addr, Some(other(first)));
        } else {
            assert_eq!(seg.via, Via::Dropped);
            assert_eq!(sim.connections(), 1);
        }

        // TCP SYN reusing a connection to a weight-0 destination.
        let mut sim = build(ServiceKey::tcp(vip(80)), 80);
        let first = sim
            .connect_packet(&syn)
            .addr
            .unwrap_or_else(|| panic!("scheduled"));
        sim.set_weight(first, 0).unwrap_or_else(|e| panic!("{e}"));
        let again = sim.connect_packet(&syn);
        if expire {
            assert_eq!(
                (again.via, again.addr),
                (Via::Scheduled, Some(other(first)))
            );
        } else {
            assert_eq!((again.via, again.addr), (Via::Existing, Some(first)));
        }
    }
}

/// A firewall-mark service using `scheduler`.
fn fwmark_svc(scheduler: Scheduler) -> Service {
    Service::new(ServiceKey::fwmark(crate::AddressFamily::Inet, 7)).with_scheduler(scheduler)
}

fn vip(k: u8) -> SocketAddr {
    SocketAddr::new(ip(10, 99, 0, k), 80)
}

#[test]
fn fwmark_packets_name_their_vip_and_moved_packets_sees_it() {
    let dests = [
        (sa(1, 80), 1),
        (sa(2, 80), 1),
        (sa(3, 80), 1),
        (sa(4, 80), 1),
    ];
    for kind in [Scheduler::Dh, Scheduler::Lblc, Scheduler::Lblcr] {
        let mut sim = Simulation::from_service(&fwmark_svc(kind.clone()), dests)
            .unwrap_or_else(|e| panic!("{e}"));
        // Populate the lblc/lblcr caches: one connection per VIP.
        for k in 1..=40 {
            let o = sim.connect_to(client(u32::from(k)), vip(k));
            assert_eq!(o.via, Via::Scheduled, "{kind}");
        }
        let pairs: Vec<Packet> = (1..=40u8)
            .flat_map(|k| (0..3).map(move |c| (k, c)))
            .map(|(k, c)| sim.packet_to(client(100 + c), vip(k)))
            .collect();
        assert_eq!(pairs[0].protocol, Protocol::Tcp);
        // Different VIPs reach different destinations (dh hashes the VIP,
        // lblc/lblcr spread them by connection counts).
        let spread: std::collections::BTreeSet<_> = pairs
            .iter()
            .filter_map(|p| sim.dest_for_packet(p))
            .collect();
        assert!(spread.len() > 1, "{kind}: {spread:?}");
        let mut after = sim.clone();
        after
            .remove_destination(sa(2, 80))
            .unwrap_or_else(|e| panic!("{e}"));
        let moved = moved_packets(&sim, &after, pairs.iter().copied());
        assert!(!moved.is_empty(), "{kind}");
        for p in &pairs {
            let m = moved.iter().find(|m| m.packet == *p);
            let (b, a) = (sim.dest_for_packet(p), after.dest_for_packet(p));
            assert_eq!(m.is_some(), a != b, "{kind}");
            if kind != Scheduler::Dh {
                // Cached VIPs move only off the removed destination.
                assert_eq!(m.is_some(), b == Some(sa(2, 80)), "{kind} {p:?}");
            }
        }
        // The same client moves with one VIP and not with another: the
        // default packet (no VIP) cannot tell.
        if kind != Scheduler::Dh {
            let c = client(100);
            let default = moved_clients(&sim, &after, [c]);
            assert!(default.len() <= 1);
            let per_vip = moved.iter().filter(|m| m.packet.src == c).count();
            assert!((1..40).contains(&per_vip), "{kind}: {per_vip}");
        }
        assert_eq!(sim.dest_for_packet(&pairs[0]), {
            let mut s = sim.clone();
            s.connect_to(pairs[0].src, pairs[0].dst).addr
        });
    }
}

#[test]
fn record_connection_resyncs_counters_templates_and_caches() {
    let (a, b, c) = (sa(1, 80), sa(2, 80), sa(3, 80));
    // wlc: the model would pick a; the kernel went to c.
    let mut sim = with_list(Scheduler::Wlc, &[(a, 1), (b, 1), (c, 1)]);
    let pkt = sim.packet_from(client(1));
    assert_eq!(sim.dest_for_packet(&pkt), Some(a));
    let o = sim
        .record_connection(&pkt, c, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((o.addr, o.via), (Some(c), Via::Scheduled));
    let d = sim
        .destination(c)
        .map(|d| (d.active_conns(), d.inactive_conns()));
    assert_eq!(d, Some((1, 0)));
    // Recording it again only changes its state.
    let o2 = sim
        .record_connection(&pkt, c, &ConnState::TimeWait)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((o2.conn, o2.via), (o.conn, Via::Existing));
    let d = sim
        .destination(c)
        .map(|d| (d.active_conns(), d.inactive_conns()));
    assert_eq!(d, Some((0, 1)));
    assert_eq!(sim.connections(), 1);
    // The same packet on another destination moves the connection.
    sim.record_connection(&pkt, b, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.destination(c).map(DestState::inactive_conns), Some(0));
    assert_eq!(sim.destination(b).map(DestState::active_conns), Some(1));
    assert_eq!(sim.connections(), 1);
    // An address the service never had.
    assert_eq!(
        sim.record_connection(&pkt, sa(9, 80), &ConnState::Established)
            .map(|o| o.via),
        Err(Error::DestinationNotFound(sa(9, 80)))
    );
    // A removed destination still takes connections (they outlive it).
    sim.remove_destination(a).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        sim.record_connection(&sim.packet_from(client(2)), a, &ConnState::Established)
            .is_ok()
    );

    // Persistence: the template follows the recorded destination.
    let spec = svc(Scheduler::Rr).with_persistence(300);
    let mut sim =
        Simulation::from_service(&spec, [(a, 1), (b, 1), (c, 1)]).unwrap_or_else(|e| panic!("{e}"));
    let p1 = sim.packet_from(client(5));
    let o = sim
        .record_connection(&p1, b, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.via, Via::Scheduled);
    assert_eq!(sim.templates(), 1);
    assert_eq!(sim.destination(b).map(DestState::persistent_conns), Some(1));
    let again = SocketAddr::new(client(5).ip(), 4444);
    let o = sim.connect(again);
    assert_eq!((o.addr, o.via), (Some(b), Via::Template));
    // The kernel re-bound the client's template elsewhere.
    let p3 = sim.packet_from(SocketAddr::new(client(5).ip(), 5555));
    let o = sim
        .record_connection(&p3, c, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.via, Via::Scheduled);
    let o = sim.connect(SocketAddr::new(client(5).ip(), 6666));
    assert_eq!((o.addr, o.via), (Some(c), Via::Template));
    // rr: the recorded pick moves the cursor (the new template scheduled c).
    let o = sim.connect(client(77));
    assert_eq!(o.addr, Some(b), "rr: the cursor rests on c (list c, b, a)");

    // lblc: the recorded pick becomes the cache entry of its VIP.
    let mut sim = Simulation::from_service(&fwmark_svc(Scheduler::Lblc), [(a, 1), (b, 1), (c, 1)])
        .unwrap_or_else(|e| panic!("{e}"));
    let pkt = sim.packet_to(client(1), vip(9));
    sim.record_connection(&pkt, b, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.dest_for_packet(&sim.packet_to(client(2), vip(9))),
        Some(b)
    );
}

#[test]
fn sctp_counts_active_only_once_established() {
    let (a, b) = (sa(1, 80), sa(2, 80));
    let spec = Service::new(ServiceKey::sctp(SocketAddr::new(ip(192, 0, 2, 1), 80)))
        .with_scheduler(Scheduler::Wlc);
    let mut sim =
        Simulation::from_service(&spec, [(a, 1), (b, 1)]).unwrap_or_else(|e| panic!("{e}"));
    // list b, a. INIT: inactive (INIT1), so b's overhead is 1, a's 0.
    let o1 = sim.connect(client(1));
    assert_eq!(o1.addr, Some(b));
    let counts = |sim: &Simulation, x| {
        sim.destination(x)
            .map(|d| (d.active_conns(), d.inactive_conns()))
    };
    assert_eq!(counts(&sim, b), Some((0, 1)));
    assert_eq!(sim.connect(client(2)).addr, Some(a));
    let c1 = o1.conn.unwrap_or_else(|| panic!("conn"));
    sim.set_state(c1, &ConnState::Other("C-REPLIED".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts(&sim, b), Some((0, 1)));
    sim.set_state(c1, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts(&sim, b), Some((1, 0)));
    // b: 257, a: 1 -> a.
    assert_eq!(sim.connect(client(3)).addr, Some(a));
    sim.set_state(c1, &ConnState::Other("S-RECEIVED".into()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counts(&sim, b), Some((0, 1)));
    assert!(matches!(
        sim.set_state(c1, &ConnState::TimeWait),
        Err(Error::InvalidState { .. })
    ));
    // INIT1 lives 4 s: the two half-open associations are gone after 5 s,
    // the shut-down one (61 s) is not.
    sim.advance(5_000);
    assert_eq!(sim.connections(), 1);
    assert_eq!(counts(&sim, a), Some((0, 0)));
    sim.advance(60_000);
    assert_eq!(sim.connections(), 0);
    assert_eq!(counts(&sim, b), Some((0, 0)));
}

#[test]
fn connection_timers_follow_state_and_timeouts() {
    let a = sa(1, 80);
    let mut sim = Simulation::with_params(
        &svc(Scheduler::Wlc),
        KernelParams::new().with_timeouts(crate::Timeouts {
            tcp: Some(10),
            ..Default::default()
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    sim.add_destination(Destination::new(a))
        .unwrap_or_else(|e| panic!("{e}"));
    let syn = sim
        .connect(client(1))
        .conn
        .unwrap_or_else(|| panic!("conn"));
    let est = sim
        .connect(client(2))
        .conn
        .unwrap_or_else(|| panic!("conn"));
    sim.set_state(est, &ConnState::Established)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.connection_state(est),
        Some((&ConnState::Established, Some(10_000)))
    );
    assert_eq!(
        sim.connection_state(syn),
        Some((&ConnState::SynRecv, Some(60_000)))
    );
    sim.advance(9_000);
    // A packet re-arms the timer.
    assert_eq!(
        sim.flow_packet(&sim.packet_from(client(2))).via,
        Via::Existing
    );
    sim.advance(9_000);
    assert!(sim.connection_state(est).is_some());
    sim.advance(1_001);
    assert!(sim.connection_state(est).is_none());
    assert_eq!(sim.destination(a).map(|d| d.active_conns()), Some(1));
    // New timeouts apply to timers armed later.
    sim.set_timeouts(&crate::Timeouts {
        tcp_fin: Some(5),
        ..Default::default()
    });
    sim.set_state(syn, &ConnState::FinWait)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sim.destination(a)
            .map(|d| (d.active_conns(), d.inactive_conns())),
        Some((0, 1))
    );
    sim.advance(5_000);
    assert_eq!(sim.connections(), 0);
    assert_eq!(
        sim.destination(a)
            .map(|d| (d.active_conns(), d.inactive_conns())),
        Some((0, 0))
    );
}

#[test]
fn template_outlives_its_last_connection_by_a_rearm_period() {
    let a = sa(1, 80);
    let spec = svc(Scheduler::Rr).with_persistence(30);
    let mut sim = Simulation::from_service(&spec, [(a, 1)]).unwrap_or_else(|e| panic!("{e}"));
    // SYN_RECV: 60 s. The template fires at 30 s (controls one: re-armed
    // to 90 s); the connection expires at 60 s; the template at 90 s.
    sim.connect(client(1));
    sim.advance(89_000);
    assert_eq!((sim.connections(), sim.templates()), (0, 1));
    sim.advance(1_000);
    assert_eq!(sim.templates(), 0);
    assert_eq!(sim.destination(a).map(|d| d.persistent_conns()), Some(0));
}
