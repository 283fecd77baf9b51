//! Properties of planning: for random (desired, observed) pairs, applying
//! the plan yields the desired state, planning again yields nothing, and
//! nothing outside the scope moves. Run against `FakeKernel` on the host.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs::reconcile::*;
use lvs::*;
use proptest::prelude::*;

/// The universe of service keys: a mix of kinds, families, and two prefixes
/// (10.0.0.0/24 and 10.9.0.0/24) so random scopes cut across it.
fn keys() -> Vec<ServiceKey> {
    let v4 = |a: [u8; 4], p| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p);
    let v6 = SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        80,
    );
    vec![
        ServiceKey::tcp(v4([10, 0, 0, 1], 80)),
        ServiceKey::tcp(v4([10, 0, 0, 2], 80)),
        ServiceKey::udp(v4([10, 0, 0, 1], 53)),
        ServiceKey::sctp(v4([10, 0, 0, 3], 3868)),
        ServiceKey::tcp(v4([10, 9, 0, 1], 443)),
        ServiceKey::udp(v4([10, 9, 0, 2], 53)),
        ServiceKey::fwmark(AddressFamily::Inet, 5),
        ServiceKey::fwmark(AddressFamily::Inet, 500),
        ServiceKey::tcp(v6),
    ]
}

fn scopes() -> Vec<Scope> {
    vec![
        Scope::All,
        Scope::prefixes(["10.0.0.0/24".parse().expect("net")]),
        Scope::prefixes(["10.9.0.0/24".parse().expect("net")]).or(Scope::Fwmarks(1..=99)),
        Scope::Fwmarks(100..=1000),
        Scope::services([keys()[0], keys()[8]]),
        Scope::Nothing,
    ]
}

fn scheduler() -> impl Strategy<Value = Scheduler> {
    let hf =
        (any::<bool>(), any::<bool>()).prop_map(|(fallback, port)| HashFlags { fallback, port });
    prop_oneof![
        Just(Scheduler::Rr),
        Just(Scheduler::Wlc),
        Just(Scheduler::Lc),
        hf.clone().prop_map(Scheduler::Sh),
        hf.prop_map(Scheduler::Mh),
    ]
}

fn service(key: ServiceKey) -> impl Strategy<Value = Service> {
    (
        scheduler(),
        prop::option::of(1u32..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(sched, persist, ops, pe)| {
            let mut s = Service::new(key).with_scheduler(sched);
            if let Some(t) = persist {
                s = s.with_persistence(t * 100);
                if pe && key.protocol() == Some(Protocol::Udp) {
                    s = s.with_persistence_engine("sip");
                }
            }
            if ops && matches!(key.protocol(), Some(Protocol::Udp) | None) {
                s = s.with_one_packet(true);
            }
            s
        })
}

fn dest_addrs(key: &ServiceKey) -> Vec<SocketAddr> {
    (1..=6u16)
        .map(|i| match key.family() {
            AddressFamily::Inet => SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(192, 168, 0, i as u8)),
                8000 + i % 2,
            ),
            AddressFamily::Inet6 => SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, i)),
                8000 + i % 2,
            ),
        })
        .collect()
}

fn destination(addr: SocketAddr) -> impl Strategy<Value = Destination> {
    let fwd = prop_oneof![
        Just(Forwarding::Masquerade),
        Just(Forwarding::DirectRoute),
        Just(Forwarding::Tunnel(Tunnel::Ipip)),
        Just(Forwarding::Tunnel(Tunnel::Gre { checksum: true })),
    ];
    (fwd, 0u32..4, 0u32..3).prop_map(move |(f, w, t)| {
        Destination::new(addr)
            .with_forwarding(f)
            .with_weight(w)
            .with_thresholds(Thresholds {
                upper: t * 10,
                lower: t,
            })
    })
}

/// A service with a random subset of its destination universe.
fn desired_service(key: ServiceKey) -> impl Strategy<Value = DesiredService> {
    let per_addr: Vec<_> = dest_addrs(&key)
        .into_iter()
        .map(|a| prop::option::of(destination(a)))
        .collect();
    (service(key), per_addr).prop_map(|(s, ds)| DesiredService::new(s, ds.into_iter().flatten()))
}

fn table() -> impl Strategy<Value = Vec<DesiredService>> {
    let per_key: Vec<_> = keys()
        .into_iter()
        .map(|k| prop::option::of(desired_service(k)))
        .collect();
    per_key.prop_map(|v| v.into_iter().flatten().collect())
}

/// An observed kernel: a table plus random connection counts.
fn observed() -> impl Strategy<Value = (Vec<DesiredService>, Vec<(u32, u32)>)> {
    (table(), prop::collection::vec((0u32..3, 0u32..3), 60))
}

fn kernel_with(svcs: &[DesiredService], conns: &[(u32, u32)]) -> FakeKernel {
    let mut k = FakeKernel::new();
    let mut ops = Vec::new();
    for s in svcs {
        ops.push(Op::AddService(s.service.clone()));
        ops.extend(
            s.destinations
                .iter()
                .map(|d| Op::AddDestination(s.service.key, *d)),
        );
    }
    let r = k.apply(&ops);
    assert!(r.is_ok(), "{:?}", r.into_result());
    let mut c = conns.iter().cycle();
    for s in svcs {
        for d in &s.destinations {
            let &(active, inactive) = c.next().expect("cycle");
            k.set_conns(
                &s.service.key,
                d.addr,
                ConnCounts {
                    active,
                    inactive,
                    persistent: 0,
                },
            );
        }
    }
    k.reset_counters();
    k
}

type Dests = BTreeMap<String, Destination>;
type Canon = BTreeMap<String, (Service, Dests)>;

/// Order-free view of a table: service configs and destination sets.
fn canon_table(t: &[TableEntry], keep: impl Fn(&ServiceKey) -> bool) -> Canon {
    t.iter()
        .filter(|e| keep(&e.service.service.key))
        .map(|e| {
            let ds = e
                .destinations
                .iter()
                .map(|d| (d.destination.addr.to_string(), d.destination))
                .collect();
            (
                e.service.service.key.to_string(),
                (e.service.service.clone(), ds),
            )
        })
        .collect()
}

fn canon_desired(d: &DesiredState) -> Canon {
    d.services
        .iter()
        .map(|s| {
            let ds = s
                .destinations
                .iter()
                .map(|d| (d.addr.to_string(), *d))
                .collect();
            (s.service.key.to_string(), (s.service.clone(), ds))
        })
        .collect()
}

fn run_plan(
    k: &mut FakeKernel,
    desired: &DesiredState,
    policy: &Policy,
    drains: &[Drain],
    now: Instant,
) -> Plan {
    let p = plan(desired, &k.snapshot(), policy, drains, now).expect("valid desired state");
    let r = reconcile::apply(k, &p);
    assert!(
        r.is_ok(),
        "plan failed to apply:\n{p}\n{:?}",
        r.into_result()
    );
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Immediate removal, everything owned: one plan makes the kernel equal
    /// to the desired state, and planning again gives nothing.
    #[test]
    fn applying_the_plan_yields_the_desired_state(
        want in table(),
        (have, conns) in observed(),
    ) {
        let desired: DesiredState = want.into_iter().collect();
        let mut k = kernel_with(&have, &conns);
        let policy = Policy::default().with_drain(DrainPolicy::immediate());
        let now = Instant::now();
        let before = canon_table(&k.snapshot(), |_| true);
        let p = run_plan(&mut k, &desired, &policy, &[], now);
        prop_assert_eq!(canon_table(&k.snapshot(), |_| true), canon_desired(&desired));
        let again = plan(&desired, &k.snapshot(), &policy, &[], now).expect("plan");
        prop_assert!(again.is_empty(), "second plan not empty:\n{}", again);

        // Minimal: exactly one operation per difference, and nothing that
        // is in both states is ever recreated.
        let want = canon_desired(&desired);
        let mut expected = 0;
        for (k, (svc, ds)) in &want {
            match before.get(k) {
                None => expected += 1 + ds.len(),
                Some((old, old_ds)) => {
                    expected += usize::from(old != svc);
                    expected += ds.iter().filter(|(a, d)| old_ds.get(*a) != Some(*d)).count();
                    expected += old_ds.keys().filter(|a| !ds.contains_key(*a)).count();
                }
            }
        }
        expected += before.keys().filter(|k| !want.contains_key(*k)).count();
        prop_assert_eq!(p.len(), expected, "{}", p);
        for c in p.changes() {
            if let Change::RemoveService { service, .. } = c {
                prop_assert!(desired.get(&service.key).is_none());
            }
        }
    }

    /// A batch interrupted anywhere converges on the next pass.
    #[test]
    fn an_interrupted_apply_converges(
        want in table(),
        (have, conns) in observed(),
        cut in 0usize..40,
    ) {
        let desired: DesiredState = want.into_iter().collect();
        let mut k = kernel_with(&have, &conns);
        let policy = Policy::default().with_drain(DrainPolicy::immediate());
        k.interrupt_next_batch_after(cut);
        let mut r = Reconciler::new(policy);
        let first = r.reconcile(&mut k, &desired).expect("pass");
        prop_assert_eq!(first.failures(), first.writes.saturating_sub(cut));
        let second = r.reconcile(&mut k, &desired).expect("pass");
        prop_assert!(second.is_ok());
        prop_assert_eq!(canon_table(&k.snapshot(), |_| true), canon_desired(&desired));
        prop_assert!(r.reconcile(&mut k, &desired).expect("pass").plan.is_empty());
    }

    /// Default (draining) policy under a random scope: services outside
    /// the scope never change; inside, the kernel holds the desired state
    /// plus draining destinations at weight 0; once their connections end
    /// one more pass makes it exact, and then nothing is planned.
    #[test]
    fn drains_converge_and_the_scope_is_respected(
        want in table(),
        (have, conns) in observed(),
        scope_idx in 0usize..6,
        removal_drains in any::<bool>(),
    ) {
        let scope = scopes().swap_remove(scope_idx);
        let desired: DesiredState = want
            .into_iter()
            .filter(|s| scope.contains(&s.service.key))
            .collect();
        let mut k = kernel_with(&have, &conns);
        let outside = |t: &[TableEntry]| -> Vec<TableEntry> {
            t.iter().filter(|e| !scope.contains(&e.service.service.key)).cloned().collect()
        };
        let foreign_before = outside(&k.snapshot());
        let removal = if removal_drains { ServiceRemoval::Drain } else { ServiceRemoval::Immediate };
        let policy = Policy::new(scope.clone())
            .with_drain(DrainPolicy::default().with_service_removal(removal));
        let now = Instant::now();
        let p = run_plan(&mut k, &desired, &policy, &[], now);
        let after = k.snapshot();
        prop_assert_eq!(&outside(&after), &foreign_before);

        // In scope: desired config everywhere; extra destinations only as drains.
        let want = canon_desired(&desired);
        let got = canon_table(&after, |key| scope.contains(key));
        for (key, (svc, ds)) in &got {
            match want.get(key) {
                Some((wsvc, wds)) => {
                    prop_assert_eq!(svc, wsvc);
                    for (a, d) in ds {
                        match wds.get(a) {
                            Some(w) => prop_assert_eq!(w, d),
                            None => prop_assert_eq!(d.weight, 0, "{} is not draining", a),
                        }
                    }
                    prop_assert!(wds.keys().all(|a| ds.contains_key(a)));
                }
                None => {
                    prop_assert!(removal_drains, "{key} should be gone");
                    prop_assert!(!ds.is_empty() && ds.values().all(|d| d.weight == 0));
                }
            }
        }
        for key in want.keys() {
            prop_assert!(got.contains_key(key));
        }
        // Every draining destination is reported.
        for d in p.draining() {
            prop_assert!(scope.contains(&d.service));
        }

        // Connections end: one pass removes the drained, then nothing.
        k.clear_conns();
        let foreign_before = outside(&k.snapshot());
        run_plan(&mut k, &desired, &policy, p.draining(), now + Duration::from_secs(1));
        prop_assert_eq!(canon_table(&k.snapshot(), |key| scope.contains(key)), want);
        prop_assert_eq!(&outside(&k.snapshot()), &foreign_before);
        let last = plan(&desired, &k.snapshot(), &policy, &[], now).expect("plan");
        prop_assert!(last.is_empty(), "{}", last);
    }

    /// Without clearing connections, the drain timeout also converges.
    #[test]
    fn drain_timeouts_converge(
        want in table(),
        (have, conns) in observed(),
    ) {
        let desired: DesiredState = want.into_iter().collect();
        let mut k = kernel_with(&have, &conns);
        let policy = Policy::default()
            .with_drain(DrainPolicy::graceful().with_timeout(Some(Duration::from_secs(10))));
        let mut r = Reconciler::new(policy);
        let t0 = Instant::now();
        r.reconcile_at(&mut k, &desired, t0).expect("pass");
        r.reconcile_at(&mut k, &desired, t0 + Duration::from_secs(10)).expect("pass");
        prop_assert!(r.draining().is_empty());
        prop_assert!(r.reconcile_at(&mut k, &desired, t0 + Duration::from_secs(11)).expect("pass").plan.is_empty());
        prop_assert_eq!(canon_table(&k.snapshot(), |_| true), canon_desired(&desired));
    }
}

/// One step of a history: a new desired state, someone else's edit, or a
/// pass.
#[derive(Debug, Clone)]
enum Step {
    /// A new desired state (only its services in scope are kept).
    Want(Vec<DesiredService>),
    /// Someone else removes the service at this key index and, with
    /// `Some`, makes it again with another configuration.
    Rewrite(usize, Option<DesiredService>),
    /// Someone else sets the weight of the first destination of the
    /// service at this key index.
    Weight(usize, u32),
    /// A pass, this many seconds after the previous step.
    Pass(u64),
    /// The incremental reconciler's process restarts (no view, no drain
    /// memory).
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    let n = keys().len();
    prop_oneof![
        table().prop_map(Step::Want),
        (0..n).prop_flat_map(|i| {
            prop::option::of(desired_service(keys()[i])).prop_map(move |d| Step::Rewrite(i, d))
        }),
        (0..n, 0u32..5).prop_map(|(i, w)| Step::Weight(i, w)),
        (0u64..40).prop_map(Step::Pass),
        Just(Step::Restart),
    ]
}

/// Make an edit of another client (failures ignored, as theirs would be).
fn edit(k: &mut FakeKernel, step: &Step) {
    match step {
        Step::Rewrite(i, again) => {
            let key = keys()[*i];
            let _ = k.execute(&Op::RemoveService(key));
            if let Some(d) = again {
                let _ = k.execute(&Op::AddService(d.service.clone()));
                for dest in &d.destinations {
                    let _ = k.execute(&Op::AddDestination(key, *dest));
                }
            }
        }
        Step::Weight(i, w) => {
            let key = keys()[*i];
            let first = k
                .snapshot()
                .into_iter()
                .find(|e| e.service.service.key == key)
                .and_then(|e| e.destinations.first().map(|d| d.destination));
            if let Some(d) = first {
                let _ = k.execute(&Op::UpdateDestination(key, d.with_weight(*w)));
            }
        }
        Step::Want(_) | Step::Pass(_) | Step::Restart => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Incremental passes converge to the same kernel table as full
    /// passes, for any interleaving of desired changes, edits by other
    /// clients, passes and restarts of the incremental reconciler's
    /// process: two kernels live the same history, one
    /// reconciled incrementally and one with whole-table reads; once the
    /// edits stop, passes over a little more than the verification period
    /// bring both to the desired state, and then plan nothing.
    #[test]
    fn incremental_passes_converge_like_full_passes(
        start in table(),
        steps in prop::collection::vec(step(), 0..24),
        scope in 0..scopes().len(),
        graceful in any::<bool>(),
        period in 1u64..90,
    ) {
        let scope = scopes()[scope].clone();
        let in_scope = |v: &[DesiredService]| -> DesiredState {
            v.iter().filter(|d| scope.contains(&d.service.key)).cloned().collect()
        };
        let drain = if graceful { DrainPolicy::graceful() } else { DrainPolicy::immediate() };
        let full = Policy::new(scope.clone()).with_drain(drain);
        let period = Duration::from_secs(period);
        let (mut ki, mut kf) = (kernel_with(&start, &[(0, 0)]), kernel_with(&start, &[(0, 0)]));
        let inc_policy = full.clone().with_incremental(period);
        let mut inc = Reconciler::new(inc_policy.clone());
        let mut fullr = Reconciler::new(full);
        let mut now = Instant::now();
        let mut desired = in_scope(&start);
        let mut pass = |inc: &mut Reconciler, now, desired: &DesiredState, ki: &mut FakeKernel, kf: &mut FakeKernel| {
            inc.reconcile_at(ki, desired, now).expect("incremental pass");
            fullr.reconcile_at(kf, desired, now).expect("full pass");
        };
        for s in &steps {
            match s {
                Step::Want(v) => desired = in_scope(v),
                Step::Pass(dt) => {
                    now += Duration::from_secs(*dt);
                    pass(&mut inc, now, &desired, &mut ki, &mut kf);
                }
                Step::Restart => inc = Reconciler::new(inc_policy.clone()),
                edit_step => {
                    edit(&mut ki, edit_step);
                    edit(&mut kf, edit_step);
                }
            }
        }
        for _ in 0..6 {
            now += period / 4;
            pass(&mut inc, now, &desired, &mut ki, &mut kf);
        }
        let all = |_: &ServiceKey| true;
        prop_assert_eq!(canon_table(&ki.snapshot(), all), canon_table(&kf.snapshot(), all));
        prop_assert_eq!(
            canon_table(&ki.snapshot(), |k| scope.contains(k)),
            canon_desired(&desired)
        );
    }
}
