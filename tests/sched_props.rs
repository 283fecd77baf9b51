//! Property tests of the scheduler models. Each test states the claim it
//! checks; the claims are about the kernel's scheduling logic as modelled.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use lvs::sched::{
    AnyScheduler, KernelParams, MODELLED_SCHEDULERS, Packet, Simulation, moved_packets,
};
use lvs::{Destination, HashFlags, Netmask, Protocol, Scheduler, Service, ServiceKey, Thresholds};
use proptest::prelude::*;

fn dest_addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250) as u8 + 1)),
        80,
    )
}

fn client(i: u32) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(
            0x0b00_0000u32.wrapping_add(i.wrapping_mul(2_654_435_761)),
        )),
        1024 + (i % 60_000) as u16,
    )
}

/// A service whose list order (head first) is `weights` in order.
/// A `protocol` service on `192.0.2.1:80` using `scheduler`.
fn service_on(protocol: Protocol, scheduler: Scheduler) -> Service {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 80);
    Service::new(ServiceKey::Addr { protocol, addr }).with_scheduler(scheduler)
}

/// A TCP service on `192.0.2.1:80` using `scheduler`.
fn svc(scheduler: Scheduler) -> Service {
    service_on(Protocol::Tcp, scheduler)
}

/// `scheduler` with `flags` if it is sh or mh (the others have none).
fn flagged(scheduler: Scheduler, flags: HashFlags) -> Scheduler {
    match scheduler {
        Scheduler::Sh(_) => Scheduler::Sh(flags),
        Scheduler::Mh(_) => Scheduler::Mh(flags),
        other => other,
    }
}

const NO_FLAGS: HashFlags = HashFlags {
    fallback: false,
    port: false,
};

fn build(kind: Scheduler, flags: HashFlags, weights: &[u32]) -> Simulation {
    let spec = svc(flagged(kind, flags));
    let mut sim = Simulation::new(&spec).unwrap_or_else(|e| panic!("{e}"));
    for (i, &w) in weights.iter().enumerate().rev() {
        sim.add_destination(Destination::new(dest_addr(i)).with_weight(w))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    sim
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn picks(sim: &mut Simulation, n: usize) -> Vec<Option<SocketAddr>> {
    let pkt = sim.packet_from(client(0));
    (0..n)
        .map(|_| sim.pick(&pkt).and_then(|id| sim.addr_of(id)))
        .collect()
}

/// Per destination: weight, overloaded, active, inactive.
fn dest_state() -> impl Strategy<Value = (u32, bool, i32, i32)> {
    (0u32..20, prop::bool::weighted(0.2), 0i32..1000, 0i32..1000)
}

fn apply_state(sim: &mut Simulation, states: &[(u32, bool, i32, i32)]) {
    for (i, &(_, ov, act, inact)) in states.iter().enumerate() {
        sim.set_conn_counts(dest_addr(i), act, inact, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        sim.set_overloaded(dest_addr(i), ov)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// wrr, initialised over the list (cl = head, cw = mw): with g = gcd of
    /// the positive weights, the first cycle of sum(w)/g picks contains each
    /// destination exactly w/g times, and the sequence repeats with that
    /// period. Weight-0 destinations are never picked.
    #[test]
    fn wrr_gives_each_destination_its_weight_share(weights in prop::collection::vec(0u32..12, 1..7)) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        let cycle = (weights.iter().sum::<u32>() / g) as usize;
        let mut sim = build(Scheduler::Rr, NO_FLAGS, &weights);
        sim.set_scheduler(&Scheduler::Wrr).unwrap_or_else(|e| panic!("{e}"));
        let seq = picks(&mut sim, cycle * 3);
        let mut counts: BTreeMap<SocketAddr, u32> = BTreeMap::new();
        for p in &seq[..cycle] {
            let a = p.unwrap_or_else(|| panic!("wrr returned no destination"));
            *counts.entry(a).or_default() += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            prop_assert_eq!(counts.get(&dest_addr(i)).copied().unwrap_or(0), w / g);
        }
        prop_assert_eq!(&seq[..cycle], &seq[cycle..2 * cycle]);
        prop_assert_eq!(&seq[..cycle], &seq[2 * cycle..]);
    }

    /// wrr after destinations are added one at a time (each add runs the
    /// dest_changed hook): once the first partial round is over, every
    /// window of sum(w)/g consecutive picks has each destination exactly
    /// w/g times.
    #[test]
    fn wrr_incremental_adds_settle_into_weight_share(weights in prop::collection::vec(0u32..12, 1..7)) {
        prop_assume!(weights.iter().any(|&w| w > 0));
        let g = weights.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        let cycle = (weights.iter().sum::<u32>() / g) as usize;
        let maxk = (weights.iter().copied().max().unwrap_or(0) / g) as usize;
        let mut sim = build(Scheduler::Wrr, NO_FLAGS, &weights);
        // The partial first round is at most one pass per weight step.
        let seq = picks(&mut sim, cycle * 4 + maxk * weights.len());
        let tail = &seq[maxk * weights.len()..];
        for start in 0..cycle {
            let mut counts: BTreeMap<SocketAddr, u32> = BTreeMap::new();
            for p in &tail[start..start + cycle] {
                *counts.entry(p.unwrap_or_else(|| panic!("none"))).or_default() += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                prop_assert_eq!(counts.get(&dest_addr(i)).copied().unwrap_or(0), w / g);
            }
        }
    }

    /// rr visits every usable destination (weight > 0, not overloaded)
    /// exactly once per cycle of that many picks, in list order.
    #[test]
    fn rr_visits_each_usable_destination_once_per_cycle(states in prop::collection::vec(dest_state(), 1..10)) {
        let weights: Vec<u32> = states.iter().map(|s| s.0).collect();
        let mut sim = build(Scheduler::Rr, NO_FLAGS, &weights);
        apply_state(&mut sim, &states);
        let usable: Vec<SocketAddr> = states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.0 > 0 && !s.1)
            .map(|(i, _)| dest_addr(i))
            .collect();
        let seq = picks(&mut sim, usable.len().max(1) * 3);
        if usable.is_empty() {
            prop_assert!(seq.iter().all(Option::is_none));
        } else {
            let got: Vec<SocketAddr> = seq.iter().map(|p| p.unwrap_or_else(|| panic!("none"))).collect();
            let expected: Vec<SocketAddr> = usable.iter().copied().cycle().take(got.len()).collect();
            prop_assert_eq!(got, expected);
        }
    }

    /// No scheduler except lblc ever returns a destination with weight 0
    /// or OVERLOAD set (counts here are realistic: non-negative and small
    /// enough that the overhead does not wrap). lblc is the documented
    /// exception: its cached destination is not checked for OVERLOAD; it is
    /// checked for weight > 0.
    #[test]
    fn weight_zero_and_overloaded_are_never_picked(
        states in prop::collection::vec(dest_state(), 1..10),
        kind in prop::sample::select(MODELLED_SCHEDULERS.to_vec()),
        fallback in any::<bool>(),
        port in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let weights: Vec<u32> = states.iter().map(|s| s.0).collect();
        let spec = svc(flagged(kind.clone(), HashFlags { fallback, port }));
        let mut sim = Simulation::with_params(&spec, KernelParams::new().with_rng_seed(seed)).unwrap_or_else(|e| panic!("{e}"));
        for (i, &w) in weights.iter().enumerate().rev() {
            sim.add_destination(Destination::new(dest_addr(i)).with_weight(w)).unwrap_or_else(|e| panic!("{e}"));
        }
        apply_state(&mut sim, &states);
        for c in 0..50u32 {
            let pkt = sim.packet_from(client(c));
            if let Some(addr) = sim.pick(&pkt).and_then(|id| sim.addr_of(id)) {
                let d = sim.destination(addr).unwrap_or_else(|| panic!("unknown"));
                prop_assert!(d.weight() > 0, "{kind} picked weight 0");
                if kind != Scheduler::Lblc {
                    prop_assert!(!d.is_overloaded(), "{kind} picked an overloaded destination");
                }
            }
        }
    }

    /// lc, wlc, sed and nq pick a destination minimising their kernel
    /// formula among usable destinations, the first such in list order:
    /// lc: overhead = (active << 8) + active + inactive (current kernels);
    /// wlc: overhead / weight;
    /// sed: (active + 1) / weight; nq: the first idle destination, else as
    /// sed. They return nothing only when no destination is usable.
    #[test]
    fn least_connection_family_minimises_its_formula(states in prop::collection::vec(dest_state(), 1..10)) {
        let weights: Vec<u32> = states.iter().map(|s| s.0).collect();
        let usable: Vec<usize> = (0..states.len()).filter(|&i| states[i].0 > 0 && !states[i].1).collect();
        let overhead = |i: usize| i64::from(states[i].2) * 257 + i64::from(states[i].3);
        let sed = |i: usize| i64::from(states[i].2) + 1;
        let w = |i: usize| i64::from(states[i].0);
        for kind in [Scheduler::Lc, Scheduler::Wlc, Scheduler::Sed, Scheduler::Nq] {
            let mut sim = build(kind.clone(), NO_FLAGS, &weights);
            apply_state(&mut sim, &states);
            let got = picks(&mut sim, 1)[0];
            // (load, weight) of the expected minimum, compared by cross-multiplication.
            let better = |a: usize, b: usize| -> bool {
                // true if a is strictly better than b
                match kind {
                    Scheduler::Lc => overhead(a) < overhead(b),
                    Scheduler::Wlc => overhead(a) * w(b) < overhead(b) * w(a),
                    _ => sed(a) * w(b) < sed(b) * w(a),
                }
            };
            let expected = if kind == Scheduler::Nq && usable.iter().any(|&i| states[i].2 == 0) {
                usable.iter().copied().find(|&i| states[i].2 == 0)
            } else {
                usable.iter().copied().fold(None, |best: Option<usize>, i| match best {
                    Some(b) if !better(i, b) => Some(b),
                    _ => Some(i),
                })
            };
            prop_assert_eq!(got, expected.map(dest_addr), "{}", kind);
        }
    }

    /// sh, dh and mh are deterministic: two services built the same way
    /// agree on every client, and asking twice gives the same answer.
    #[test]
    fn hashing_schedulers_are_deterministic(
        weights in prop::collection::vec(0u32..8, 1..12),
        kind in prop::sample::select(vec![Scheduler::Sh(HashFlags::default()), Scheduler::Dh, Scheduler::Mh(HashFlags::default())]),
        port in any::<bool>(),
        fallback in any::<bool>(),
    ) {
        let flags = HashFlags { fallback, port };
        let mut s1 = build(kind.clone(), flags, &weights);
        let s2 = build(kind, flags, &weights);
        for c in 0..300u32 {
            let pkt = Packet::new(Protocol::Tcp, client(c), SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0xc000_0200 + c % 7)), 80));
            let a = s1.peek(&pkt);
            prop_assert_eq!(a, s2.peek(&pkt));
            prop_assert_eq!(a, s1.pick(&pkt));
            prop_assert_eq!(a, s1.pick(&pkt));
        }
    }

    /// Maglev minimal disruption. Removing one of N <= 20 destinations
    /// (weights 1..=5): every slot of the removed destination is reassigned
    /// to a live one, and at most 8 % (equal weights) or 15 % (mixed weights)
    /// of the slots that belonged to the other destinations change owner
    /// (measured worst cases over 3000 random sets: 5.9 % and 12.2 %). Clients of the removed destination all move; a
    /// client of another destination moves only if its slot changed owner.
    #[test]
    fn mh_removal_moves_few_other_clients(
        weights in prop::collection::vec(1u32..=5, 2..=20),
        victim_pick in any::<prop::sample::Index>(),
        salt in 0u8..200,
    ) {
        let n = weights.len();
        let addr = |i: usize| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, salt, (i / 250) as u8, (i % 250) as u8 + 1)), 80);
        let mut before = Simulation::new(&svc(Scheduler::Mh(HashFlags::default()))).unwrap_or_else(|e| panic!("{e}"));
        for (i, &w) in weights.iter().enumerate() {
            before.add_destination(Destination::new(addr(i)).with_weight(w)).unwrap_or_else(|e| panic!("{e}"));
        }
        let victim = addr(victim_pick.index(n));
        let mut after = before.clone();
        after.remove_destination(victim).unwrap_or_else(|e| panic!("{e}"));
        let owners = |sim: &Simulation| -> Vec<Option<SocketAddr>> {
            let AnyScheduler::Mh(mh) = sim.scheduler() else { panic!("not mh") };
            mh.slots().map(|s| s.and_then(|id| sim.addr_of(id))).collect()
        };
        let (ob, oa) = (owners(&before), owners(&after));
        let mut others = 0usize;
        let mut changed = 0usize;
        for (b, a) in ob.iter().zip(&oa) {
            prop_assert!(a.is_some() && *a != Some(victim));
            if *b != Some(victim) {
                others += 1;
                if a != b {
                    changed += 1;
                }
            }
        }
        // Bounds from 3000 random cases (worst seen: 5.9 % with equal
        // weights, 12.2 % with mixed ones: a weight-w destination claims w
        // consecutive slots per turn, so removing one reorders more claims).
        let bound = if weights.iter().all(|&w| w == weights[0]) { 8 } else { 15 };
        prop_assert!(changed * 100 <= others * bound, "{changed} of {others} slots moved (bound {bound} %)");
        let clients: Vec<SocketAddr> = (0..500u32).map(|i| SocketAddr::new(client(i).ip(), 0)).collect();
        for m in lvs::sched::moved_clients(&before, &after, clients.iter().copied()) {
            prop_assert!(m.after.is_some());
            if m.before != Some(victim) {
                let pkt = before.packet_from(m.client);
                let AnyScheduler::Mh(mh) = before.scheduler() else { panic!("not mh") };
                let s = mh.slot_of(before.service(), &pkt) as usize;
                prop_assert_ne!(ob[s], oa[s]);
            }
        }
        for c in &clients {
            if before.dest_for(*c) == Some(victim) {
                prop_assert_ne!(after.dest_for(*c), Some(victim));
            }
        }
    }

    /// Maglev shares. When max(w)/gcd(w) < 64 (so the kernel does not shift
    /// weights), destination j owns between R*k_j and (R+1)*k_j of the
    /// M = 4093 slots, with k_j = w_j/g and R = floor(M / sum k): within
    /// k_j slots of its exact weight share M*w_j/sum(w). Clients follow the
    /// slots: over 20 000 clients each share is within 2.5 points of the
    /// slot share.
    #[test]
    fn mh_shares_follow_weights(weights in prop::collection::vec(1u32..=12, 1..=8)) {
        let sim = build(Scheduler::Mh(HashFlags::default()), NO_FLAGS, &weights);
        let g = weights.iter().copied().fold(0, gcd);
        let ks: Vec<u32> = weights.iter().map(|w| w / g).collect();
        let total: u32 = ks.iter().sum();
        let m = 4093u32;
        let r = m / total;
        let AnyScheduler::Mh(mh) = sim.scheduler() else { panic!("not mh") };
        let mut slots: BTreeMap<SocketAddr, u32> = BTreeMap::new();
        for s in mh.slots() {
            let a = s.and_then(|id| sim.addr_of(id)).unwrap_or_else(|| panic!("empty slot"));
            *slots.entry(a).or_default() += 1;
        }
        for (i, &k) in ks.iter().enumerate() {
            let got = slots.get(&dest_addr(i)).copied().unwrap_or(0);
            prop_assert!(got >= r * k && got <= (r + 1) * k, "dest {i}: {got} slots, k={k}, R={r}");
        }
        let dist = sim.distribution_of((0..20_000u32).map(client));
        for i in 0..weights.len() {
            let slot_share = f64::from(slots.get(&dest_addr(i)).copied().unwrap_or(0)) / f64::from(m);
            prop_assert!((dist.share(dest_addr(i)) - slot_share).abs() < 0.025);
        }
    }

    /// sh flags, checked against the bucket table directly. Without
    /// fallback the pick is the home bucket's destination or nothing. With
    /// fallback it is the home bucket's destination when usable, else the
    /// first usable destination probing buckets 2*home, 2*home+1, ... (mod
    /// size), and nothing only when no destination is usable. Without the
    /// port flag the source port never changes the pick.
    #[test]
    fn sh_fallback_and_port_behave_as_the_kernel(
        states in prop::collection::vec(dest_state(), 1..8),
        fallback in any::<bool>(),
        port in any::<bool>(),
    ) {
        let weights: Vec<u32> = states.iter().map(|s| s.0).collect();
        let flags = HashFlags { fallback, port };
        let mut sim = build(Scheduler::Sh(HashFlags::default()), flags, &weights);
        apply_state(&mut sim, &states);
        let AnyScheduler::Sh(sh) = sim.scheduler() else { panic!("not sh") };
        let table: Vec<Option<SocketAddr>> = sh.buckets().map(|b| b.and_then(|id| sim.addr_of(id))).collect();
        let usable = |a: &Option<SocketAddr>| a.is_some_and(|a| sim.destination(a).is_some_and(|d| d.weight() > 0 && !d.is_overloaded()));
        let size = table.len();
        for c in 0..200u32 {
            let pkt = sim.packet_from(client(c));
            let home = sh.bucket_of(sim.service(), &pkt) as usize;
            let expected = if usable(&table[home]) {
                table[home]
            } else if fallback {
                (0..size).map(|off| table[(2 * home + off) % size]).find(usable).flatten()
            } else {
                None
            };
            prop_assert_eq!(sim.dest_for(client(c)), expected);
            if !port {
                let other = SocketAddr::new(client(c).ip(), client(c).port() ^ 0x5a5a);
                prop_assert_eq!(sim.dest_for(other), expected);
            }
        }
    }

    /// mh fallback never changes the pick of a client whose home slot is
    /// usable, never returns an unusable destination, and the port flag
    /// alone decides whether the source port matters.
    #[test]
    fn mh_fallback_and_port_behave_as_the_kernel(
        states in prop::collection::vec(dest_state(), 1..8),
        port in any::<bool>(),
    ) {
        let weights: Vec<u32> = states.iter().map(|s| s.0).collect();
        let mut plain = build(Scheduler::Mh(HashFlags::default()), HashFlags { fallback: false, port }, &weights);
        let mut fb = build(Scheduler::Mh(HashFlags::default()), HashFlags { fallback: true, port }, &weights);
        apply_state(&mut plain, &states);
        apply_state(&mut fb, &states);
        for c in 0..200u32 {
            let p = plain.dest_for(client(c));
            let f = fb.dest_for(client(c));
            if p.is_some() {
                prop_assert_eq!(p, f);
            }
            if let Some(a) = f {
                let d = fb.destination(a).unwrap_or_else(|| panic!("unknown"));
                prop_assert!(d.weight() > 0 && !d.is_overloaded());
            }
            if !port {
                let other = SocketAddr::new(client(c).ip(), client(c).port() ^ 0x5a5a);
                prop_assert_eq!(plain.dest_for(other), p);
            }
        }
    }

    /// Any sequence of control-plane and traffic operations, with any
    /// weights, thresholds and scheduler, never panics, and the counters
    /// stay consistent: for every destination, active + inactive equals the
    /// open connections bound to it and persistconns equals its live
    /// templates (with one-packet UDP adding nothing).
    #[test]
    fn random_operation_sequences_keep_counters_consistent(
        kind in prop::sample::select(MODELLED_SCHEDULERS.to_vec()),
        persistent in any::<bool>(),
        one_packet in any::<bool>(),
        udp in any::<bool>(),
        ops in prop::collection::vec((0u8..7, 0usize..6, any::<u32>(), any::<u32>(), any::<u32>()), 1..80),
    ) {
        let proto = if udp { Protocol::Udp } else { Protocol::Tcp };
        let mut spec = service_on(proto, flagged(kind, HashFlags { fallback: true, port: false }))
            .with_one_packet(one_packet);
        if persistent {
            spec = spec.with_persistence_netmask(30, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)));
        }
        let mut sim = Simulation::new(&spec).unwrap_or_else(|e| panic!("{e}"));
        let mut open: Vec<(lvs::sched::ConnId, SocketAddr)> = Vec::new();
        for (op, d, a, b, c) in ops {
            let addr = dest_addr(d);
            match op {
                0 => { let _ = sim.add_destination(Destination::new(addr).with_weight(a % 8 + if a & 0x100 != 0 { u32::MAX / 2 } else { 0 }).with_thresholds(Thresholds { upper: b % 5, lower: c % 5 })); }
                1 => { let _ = sim.update_destination(Destination::new(addr).with_weight(a).with_thresholds(Thresholds { upper: b % 7, lower: c % 7 })); }
                2 => { let _ = sim.remove_destination(addr); }
                3 | 4 => {
                    let o = sim.connect(client(a % 64));
                    if let (Some(id), Some(dst)) = (o.conn, o.addr)
                        && !open.iter().any(|(x, _)| *x == id) {
                            open.push((id, dst));
                        }
                }
                5 => {
                    if !open.is_empty() {
                        let (id, _) = open.remove(a as usize % open.len());
                        prop_assert!(sim.close(id).is_ok());
                    }
                }
                _ => {
                    sim.advance(u64::from(b % 120_000));
                    // Connections whose timer ran out are gone.
                    open.retain(|(id, _)| sim.connection_state(*id).is_some());
                }
            }
        }
        let mut per_dest: BTreeMap<SocketAddr, i32> = BTreeMap::new();
        for (_, dst) in &open {
            *per_dest.entry(*dst).or_default() += 1;
        }
        prop_assert_eq!(open.len(), sim.connections());
        for i in 0..6 {
            if let Some(d) = sim.destination(dest_addr(i)) {
                prop_assert_eq!(d.active_conns() + d.inactive_conns(), per_dest.get(&dest_addr(i)).copied().unwrap_or(0));
                prop_assert!(d.persistent_conns() >= 0);
            }
        }
        let templates: i32 = (0..6).filter_map(|i| sim.destination(dest_addr(i))).map(|d| d.persistent_conns()).sum();
        prop_assert_eq!(templates as usize, sim.templates());
    }
}

/// A literal transcription of `ip_vs_wrr_schedule()` over plain arrays,
/// without the model's pass skipping, to check that skipping passes that
/// cannot succeed changes nothing.
fn naive_wrr(weights: &[i32], over: &[bool], n: usize) -> Vec<Option<usize>> {
    let g = weights
        .iter()
        .copied()
        .filter(|&w| w > 0)
        .fold(0, |a, b| gcd(a as u32, b as u32) as i32);
    let di = if g == 0 { 1 } else { g };
    let mw = weights.iter().copied().fold(0, i32::max) - (di - 1);
    let mut cw = mw;
    let mut cl: Option<usize> = None;
    let mut out = Vec::new();
    for _ in 0..n {
        if mw == 0 {
            out.push(None);
            continue;
        }
        let last = cl;
        let mut pos = cl;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        let pick = 'sched: loop {
            for i in pos.map_or(0, |p| p + 1)..weights.len() {
                if !over[i] && weights[i] >= cw {
                    cl = Some(i);
                    break 'sched Some(i);
                }
                if stop == Some(i) {
                    cl = Some(i);
                    break 'sched None;
                }
            }
            cw -= di;
            if cw <= 0 {
                cw = mw;
                if last_pass || last.is_none() {
                    cl = None;
                    break 'sched None;
                }
                restarted = true;
            }
            last_pass = cw <= di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
            pos = None;
        };
        out.push(pick);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The wrr model (which jumps over passes that cannot pick anything)
    /// returns exactly the sequence of the literal kernel loop, for any
    /// weights and OVERLOAD flags.
    #[test]
    fn wrr_matches_literal_kernel_loop(ws in prop::collection::vec((0u32..40, prop::bool::weighted(0.3)), 1..8)) {
        let weights: Vec<u32> = ws.iter().map(|w| w.0).collect();
        let mut sim = build(Scheduler::Rr, NO_FLAGS, &weights);
        for (i, w) in ws.iter().enumerate() {
            sim.set_overloaded(dest_addr(i), w.1).unwrap_or_else(|e| panic!("{e}"));
        }
        sim.set_scheduler(&Scheduler::Wrr).unwrap_or_else(|e| panic!("{e}"));
        let got = picks(&mut sim, 60);
        let wi: Vec<i32> = weights.iter().map(|&w| w as i32).collect();
        let ov: Vec<bool> = ws.iter().map(|w| w.1).collect();
        let expected: Vec<Option<SocketAddr>> = naive_wrr(&wi, &ov, 60).into_iter().map(|p| p.map(dest_addr)).collect();
        prop_assert_eq!(got, expected);
    }
}

/// lblc's documented exception: a cached destination is used even while
/// its threshold OVERLOAD flag is set (only weight, availability and the
/// lblc "is_overloaded" heuristic are checked).
#[test]
fn lblc_cached_destination_ignores_overload() {
    let mut sim = build(Scheduler::Lblc, NO_FLAGS, &[5, 5]);
    let first = sim.connect(client(1)).addr;
    let a = first.unwrap_or_else(|| panic!("none"));
    sim.set_overloaded(a, true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sim.connect(client(2)).addr, Some(a));
}

// ----- edges: kernel integer widths, IPv6, firewall-mark services ------------------

/// A count or weight drawn towards the kernel's `int` edges: 0, 1, the
/// values where `active << 8` first wraps (2^23, 2^24 - 1), `i32::MAX`,
/// or anything in `0..=i32::MAX`.
fn edge_int() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(1 << 23),
        Just((1 << 24) - 1),
        Just(i32::MAX),
        Just(i32::MAX - 1),
        0..=i32::MAX,
    ]
}

/// `ip_vs_dest_conn_overhead()` of current kernels in C `int` arithmetic:
/// `(activeconns << 8) + activeconns + inactconns`, wrapping.
fn c_overhead(active: i32, inactive: i32) -> i32 {
    active
        .wrapping_shl(8)
        .wrapping_add(active.wrapping_add(inactive))
}

/// The kernel loops of lc, wlc, sed and nq (ip_vs_{lc,wlc,sed,nq}.c) over
/// `(weight, overloaded, active, inactive)` in list order, with the C
/// types: `unsigned int` overheads in lc, `int` overheads multiplied as
/// `s64` in the others.
fn kernel_least(kind: &Scheduler, d: &[(i32, bool, i32, i32)]) -> Option<usize> {
    let usable = |i: usize| !d[i].1 && d[i].0 > 0;
    match kind {
        Scheduler::Lc => {
            let mut least: Option<(usize, u32)> = None;
            for i in (0..d.len()).filter(|&i| usable(i)) {
                let doh = c_overhead(d[i].2, d[i].3) as u32;
                if least.is_none_or(|(_, loh)| doh < loh) {
                    least = Some((i, doh));
                }
            }
            least.map(|(i, _)| i)
        }
        Scheduler::Wlc | Scheduler::Sed => {
            let load = |i: usize| {
                if *kind == Scheduler::Wlc {
                    c_overhead(d[i].2, d[i].3)
                } else {
                    d[i].2.wrapping_add(1)
                }
            };
            let start = (0..d.len()).find(|&i| usable(i))?;
            let (mut least, mut loh) = (start, load(start));
            for i in start + 1..d.len() {
                if d[i].1 {
                    continue;
                }
                let doh = load(i);
                if i64::from(loh) * i64::from(d[i].0) > i64::from(doh) * i64::from(d[least].0) {
                    least = i;
                    loh = doh;
                }
            }
            Some(least)
        }
        _ => {
            let mut least: Option<(usize, i32)> = None;
            for i in (0..d.len()).filter(|&i| usable(i)) {
                let doh = d[i].2.wrapping_add(1);
                if d[i].2 == 0 {
                    return Some(i);
                }
                if least.is_none_or(|(l, loh)| {
                    i64::from(loh) * i64::from(d[i].0) > i64::from(doh) * i64::from(d[l].0)
                }) {
                    least = Some((i, doh));
                }
            }
            least.map(|(i, _)| i)
        }
    }
}

/// An IPv6 address from four 32-bit words.
fn v6(w: [u32; 4]) -> IpAddr {
    let mut b = [0u8; 16];
    for (i, x) in w.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    IpAddr::V6(std::net::Ipv6Addr::from(b))
}

fn v6_dest(i: usize) -> SocketAddr {
    SocketAddr::new(v6([0x2001_0db8, 0, 0, 0x100 + i as u32]), 80)
}

/// The hashing and locality schedulers (sh and mh with their flags off).
fn hashing_kinds() -> Vec<Scheduler> {
    vec![
        Scheduler::Sh(NO_FLAGS),
        Scheduler::Mh(NO_FLAGS),
        Scheduler::Dh,
        Scheduler::Lblc,
        Scheduler::Lblcr,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// lc, wlc, sed and nq at the kernel's integer widths (weights and
    /// connection counts up to `i32::MAX`) pick what the kernel's loops
    /// pick, overflow included: `(active << 8) + active + inactive`
    /// wraps as the C `int` does (lc then compares it unsigned), the
    /// cross products are 64-bit, `active + 1` wraps in sed and nq.
    #[test]
    fn least_connection_family_at_kernel_widths(
        states in prop::collection::vec((edge_int(), prop::bool::weighted(0.2), edge_int(), edge_int()), 1..8),
    ) {
        let weights: Vec<u32> = states.iter().map(|s| s.0 as u32).collect();
        for kind in [Scheduler::Lc, Scheduler::Wlc, Scheduler::Sed, Scheduler::Nq] {
            let mut sim = build(kind.clone(), NO_FLAGS, &weights);
            for (i, &(_, ov, act, inact)) in states.iter().enumerate() {
                sim.set_conn_counts(dest_addr(i), act, inact, 0).unwrap_or_else(|e| panic!("{e}"));
                sim.set_overloaded(dest_addr(i), ov).unwrap_or_else(|e| panic!("{e}"));
            }
            let got = sim.dest_for(client(1));
            prop_assert_eq!(got, kernel_least(&kind, &states).map(dest_addr), "{}", kind);
        }
    }

    /// Binding a connection at the edge of the counters wraps them as the
    /// kernel's `int`s do, and the next pick still follows the kernel's
    /// loops on the wrapped values (no panic, no saturation).
    #[test]
    fn counters_wrap_at_int_max(act in edge_int(), inact in edge_int(), w in 1u32..=(i32::MAX as u32)) {
        let mut sim = build(Scheduler::Wlc, NO_FLAGS, &[w, 1]);
        sim.set_conn_counts(dest_addr(0), act, inact, 0).unwrap_or_else(|e| panic!("{e}"));
        let before = sim.dest_for(client(1));
        let o = sim.connect(client(1));
        prop_assert_eq!(o.addr, before);
        let d = sim.destination(dest_addr(0)).map(|d| (d.active_conns(), d.inactive_conns()));
        if before == Some(dest_addr(0)) {
            prop_assert_eq!(d, Some((act.wrapping_add(1), inact)));
        }
        let states: Vec<(i32, bool, i32, i32)> = [0, 1]
            .iter()
            .map(|&i| {
                let d = sim.destination(dest_addr(i)).unwrap_or_else(|| panic!("dest"));
                (d.weight(), d.is_overloaded(), d.active_conns(), d.inactive_conns())
            })
            .collect();
        prop_assert_eq!(sim.dest_for(client(2)), kernel_least(&Scheduler::Wlc, &states).map(dest_addr));
    }

    /// IPv6 in every hashing scheduler: sh and mh hash the client, dh the
    /// packet's destination, through the kernel's fold (the XOR of the
    /// four 32-bit words), so two addresses whose words are permuted get
    /// the same destination; lblc and lblcr key their caches on the whole
    /// address, so such a pair makes two cache entries. Every pick is a
    /// linked IPv6 destination with a weight.
    #[test]
    fn ipv6_in_every_hashing_scheduler(
        weights in prop::collection::vec(1u32..6, 1..8),
        words in prop::array::uniform4(any::<u32>()),
    ) {
        prop_assume!(words[0] != words[1]);
        let swapped = [words[1], words[0], words[2], words[3]];
        let vip = SocketAddr::new(v6([0x2001_0db8, 0xffff, 0, 1]), 80);
        for kind in hashing_kinds() {
            let key = if matches!(kind, Scheduler::Sh(_) | Scheduler::Mh(_)) {
                ServiceKey::tcp(vip)
            } else {
                ServiceKey::fwmark(lvs::AddressFamily::Inet6, 5)
            };
            let spec = Service::new(key).with_scheduler(kind.clone());
            let mut sim = Simulation::new(&spec).unwrap_or_else(|e| panic!("{e}"));
            for (i, &w) in weights.iter().enumerate() {
                sim.add_destination(Destination::new(v6_dest(i)).with_weight(w)).unwrap_or_else(|e| panic!("{e}"));
            }
            let (p1, p2) = match kind {
                Scheduler::Sh(_) | Scheduler::Mh(_) => (
                    sim.packet_to(SocketAddr::new(v6(words), 3000), vip),
                    sim.packet_to(SocketAddr::new(v6(swapped), 3000), vip),
                ),
                _ => {
                    let c = SocketAddr::new(v6([0x2001_0db8, 7, 7, 7]), 3000);
                    (
                        sim.packet_to(c, SocketAddr::new(v6(words), 80)),
                        sim.packet_to(c, SocketAddr::new(v6(swapped), 80)),
                    )
                }
            };
            let (d1, d2) = (sim.dest_for_packet(&p1), sim.dest_for_packet(&p2));
            let linked = sim.destinations();
            prop_assert!(d1.is_some_and(|d| linked.contains(&d)), "{}", kind);
            match kind {
                Scheduler::Lblc | Scheduler::Lblcr => {
                    sim.connect_packet(&p1);
                    sim.connect_packet(&p2);
                    let cached = match sim.scheduler() {
                        AnyScheduler::Lblc(s) => s.cache_len(),
                        AnyScheduler::Lblcr(s) => s.cache_len(),
                        _ => 0,
                    };
                    prop_assert_eq!(cached, 2, "{}", kind);
                }
                _ => prop_assert_eq!(d1, d2, "{}", kind),
            }
        }
    }

    /// Firewall-mark services (IPv4 and IPv6): dh's pick depends on the
    /// VIP alone, sh's on the client alone, and `moved_packets` names
    /// exactly the (client, VIP) pairs whose `dest_for_packet` differs
    /// after a removal.
    #[test]
    fn fwmark_services_key_on_the_vip(
        weights in prop::collection::vec(1u32..6, 2..8),
        removed in any::<prop::sample::Index>(),
        ipv6 in any::<bool>(),
    ) {
        let family = if ipv6 { lvs::AddressFamily::Inet6 } else { lvs::AddressFamily::Inet };
        let addr = |i: u32, net: u32| -> IpAddr {
            if ipv6 { v6([0x2001_0db8, net, 0, i]) } else { IpAddr::V4(Ipv4Addr::from((10 << 24) | (net << 16) | i)) }
        };
        let dest = |i: usize| SocketAddr::new(addr(i as u32 + 1, 1), 80);
        for kind in [Scheduler::Dh, Scheduler::Sh(NO_FLAGS)] {
            let spec = Service::new(ServiceKey::fwmark(family, 3)).with_scheduler(kind.clone());
            let mut sim = Simulation::new(&spec).unwrap_or_else(|e| panic!("{e}"));
            for (i, &w) in weights.iter().enumerate() {
                sim.add_destination(Destination::new(dest(i)).with_weight(w)).unwrap_or_else(|e| panic!("{e}"));
            }
            let packets: Vec<Packet> = (1..=12u32)
                .flat_map(|c| (1..=12u32).map(move |v| (c, v)))
                .map(|(c, v)| sim.packet_to(SocketAddr::new(addr(c * 7919, 2), 4000), SocketAddr::new(addr(v * 104_729, 3), 80)))
                .collect();
            for p in &packets {
                let other = match kind {
                    Scheduler::Dh => Packet::new(p.protocol, SocketAddr::new(addr(1, 9), 1), p.dst),
                    _ => Packet::new(p.protocol, p.src, SocketAddr::new(addr(1, 9), 1)),
                };
                prop_assert_eq!(sim.dest_for_packet(p), sim.dest_for_packet(&other), "{}", kind);
            }
            let mut after = sim.clone();
            after.remove_destination(dest(removed.index(weights.len()))).unwrap_or_else(|e| panic!("{e}"));
            let moved = moved_packets(&sim, &after, packets.iter().copied());
            let expected: Vec<Packet> = packets
                .iter()
                .copied()
                .filter(|p| sim.dest_for_packet(p) != after.dest_for_packet(p))
                .collect();
            let got: Vec<Packet> = moved.iter().map(|m| m.packet).collect();
            prop_assert_eq!(got, expected, "{}", kind);
        }
    }
}
