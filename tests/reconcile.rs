//! Reconciler planning and sync-loop behaviour against the in-memory
//! `FakeKernel` (host tests; the kernel proof is tests/kernel_reconcile.rs).

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use lvs::reconcile::*;
use lvs::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn conns(active: u32, inactive: u32) -> ConnCounts {
    ConnCounts {
        active,
        inactive,
        persistent: 0,
    }
}

fn web() -> ServiceKey {
    ServiceKey::tcp(sa("10.0.0.1:80"))
}

fn dest(addr: &str, weight: u32) -> Destination {
    Destination::new(sa(addr)).with_weight(weight)
}

fn state(svcs: &[(Service, Vec<Destination>)]) -> DesiredState {
    let mut d = DesiredState::new();
    for (s, ds) in svcs {
        d.push(s.clone(), ds.clone());
    }
    d
}

fn web_with(dests: &[Destination]) -> DesiredState {
    state(&[(
        Service::new(web()).with_scheduler(Scheduler::Rr),
        dests.to_vec(),
    )])
}

fn lines(p: &Plan) -> Vec<String> {
    p.changes().iter().map(|c| c.to_string()).collect()
}

/// The destinations of `key` in kernel order: (addr, weight).
fn dests_of(k: &FakeKernel, key: &ServiceKey) -> Vec<(SocketAddr, u32)> {
    k.snapshot()
        .into_iter()
        .find(|e| e.service.service.key == *key)
        .map(|e| {
            e.destinations
                .iter()
                .map(|d| (d.destination.addr, d.destination.weight))
                .collect()
        })
        .unwrap_or_default()
}

fn ok(r: Result<Report>) -> Report {
    let r = r.unwrap_or_else(|e| panic!("reconcile failed: {e}"));
    assert!(r.is_ok(), "changes failed:\n{r}");
    r
}

#[test]
fn from_empty_services_first_then_destinations_in_desired_order() {
    let desired = web_with(&[
        dest("192.168.1.1:80", 1),
        dest("192.168.1.2:80", 2),
        dest("192.168.1.3:80", 3),
    ]);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    let rep = ok(r.reconcile(&mut kern, &desired));
    assert_eq!(
        lines(&rep.plan),
        [
            "+ service TCP 10.0.0.1:80 rr",
            "+ dest TCP 10.0.0.1:80 -> 192.168.1.3:80 masq weight 3",
            "+ dest TCP 10.0.0.1:80 -> 192.168.1.2:80 masq weight 2",
            "+ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 masq weight 1",
        ]
    );
    assert_eq!((rep.reads, rep.writes), (1, 4));
    // The kernel lists newest first, so the list now reads in desired order.
    assert_eq!(
        dests_of(&kern, &web()),
        [
            (sa("192.168.1.1:80"), 1),
            (sa("192.168.1.2:80"), 2),
            (sa("192.168.1.3:80"), 3)
        ]
    );
}

#[test]
fn unchanged_table_costs_one_read_and_no_write() {
    let desired = web_with(&[dest("192.168.1.1:80", 1), dest("192.168.1.2:80", 2)]);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &desired));
    // Traffic and counters change; configuration does not.
    kern.set_conns(&web(), sa("192.168.1.1:80"), conns(40, 7));
    kern.reset_counters();
    for _ in 0..3 {
        let rep = ok(r.reconcile(&mut kern, &desired));
        assert!(rep.plan.is_empty(), "{}", rep.plan);
        assert_eq!((rep.reads, rep.writes), (1, 0));
    }
    let k = &kern;
    assert_eq!((k.reads(), k.batches(), k.ops()), (3, 0, 0));
}

#[test]
fn stats_and_connection_counts_never_cause_a_change() {
    let desired = web_with(&[dest("192.168.1.1:80", 1)]);
    let mut k = FakeKernel::new();
    reconcile::apply(
        &mut k,
        &plan(&desired, &[], &Policy::default(), &[], Instant::now()).unwrap(),
    );
    let mut observed = k.snapshot();
    observed[0].service.stats.conns = 12345;
    observed[0].service.stats.in_bytes = 1 << 40;
    observed[0].destinations[0].stats.out_packets = 99;
    observed[0].destinations[0].conns = conns(3, 4);
    let p = plan(&desired, &observed, &Policy::default(), &[], Instant::now()).unwrap();
    assert!(p.is_empty(), "{p}");
}

#[test]
fn scheduler_and_flag_changes_update_the_service_in_place() {
    let d1 = dest("192.168.1.1:80", 1);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[d1])));
    let changed = state(&[(
        Service::new(web())
            .with_scheduler(Scheduler::Sh(HashFlags {
                fallback: true,
                port: false,
            }))
            .with_persistence(300),
        vec![d1],
    )]);
    let rep = ok(r.reconcile(&mut kern, &changed));
    assert_eq!(
        lines(&rep.plan),
        [
            "~ service TCP 10.0.0.1:80 scheduler rr -> sh (sh-fallback), \
          persistence none -> 300 s netmask 255.255.255.255"
        ]
    );
    assert!(matches!(rep.plan.ops()[..], [Op::UpdateService(_)]));
    assert!(ok(r.reconcile(&mut kern, &changed)).plan.is_empty());
}

#[test]
fn destination_changes_update_in_place_including_forwarding() {
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[dest("192.168.1.1:80", 1)])));
    kern.set_conns(&web(), sa("192.168.1.1:80"), conns(5, 0));
    let d = dest("192.168.1.1:80", 4)
        .with_forwarding(Forwarding::DirectRoute)
        .with_thresholds(Thresholds {
            upper: 100,
            lower: 10,
        });
    let rep = ok(r.reconcile(&mut kern, &web_with(&[d])));
    assert_eq!(
        lines(&rep.plan),
        [
            "~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 masq -> route, weight 1 -> 4, \
          thresholds 0/0 -> 10/100"
        ]
    );
    // In place: the connection counts survived.
    let e = &kern.snapshot()[0].destinations[0];
    assert_eq!((e.destination, e.conns.active), (d, 5));
}

#[test]
fn tcp_destination_drains_then_goes_when_idle() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(2, 1));
    let only_b = web_with(&[b]);
    let t0 = Instant::now();
    let rep = ok(r.reconcile_at(&mut kern, &only_b, t0));
    assert_eq!(
        lines(&rep.plan),
        ["~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 3 -> 0 (drain)"]
    );
    assert_eq!(r.draining().len(), 1);
    assert_eq!(r.draining()[0].since, t0);
    // Still busy: nothing to do, the drain waits.
    let rep = ok(r.reconcile_at(&mut kern, &only_b, t0 + Duration::from_secs(60)));
    assert!(rep.plan.is_empty());
    assert_eq!(rep.plan.draining().len(), 1);
    assert!(
        rep.plan
            .to_string()
            .contains("# draining TCP 10.0.0.1:80 -> 192.168.1.1:80: 2 active, 1 inactive connections, 840 s left"),
        "{}",
        rep.plan
    );
    assert_eq!(dests_of(&kern, &web()), [(a.addr, 0), (b.addr, 1)]);
    // Only inactive connections left (e.g. TIME_WAIT): still waits.
    kern.set_conns(&web(), a.addr, conns(0, 1));
    assert!(
        ok(r.reconcile_at(&mut kern, &only_b, t0 + Duration::from_secs(61)))
            .plan
            .is_empty()
    );
    kern.set_conns(&web(), a.addr, conns(0, 0));
    let rep = ok(r.reconcile_at(&mut kern, &only_b, t0 + Duration::from_secs(62)));
    assert_eq!(
        lines(&rep.plan),
        ["- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (drained)"]
    );
    assert!(r.draining().is_empty());
    assert_eq!(dests_of(&kern, &web()), [(b.addr, 1)]);
}

#[test]
fn idle_destination_still_goes_through_weight_zero() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    let rep = ok(r.reconcile(&mut kern, &web_with(&[b])));
    assert!(matches!(rep.plan.ops()[..], [Op::UpdateDestination(_, d)] if d.weight == 0));
    let rep = ok(r.reconcile(&mut kern, &web_with(&[b])));
    assert!(matches!(rep.plan.ops()[..], [Op::RemoveDestination(_, x)] if x == a.addr));
}

#[test]
fn drain_times_out() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let policy = Policy::default()
        .with_drain(DrainPolicy::default().with_timeout(Some(Duration::from_secs(30))));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(policy);
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(1, 0));
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0));
    assert!(
        ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(29)))
            .plan
            .is_empty()
    );
    let rep = ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(30)));
    assert_eq!(
        lines(&rep.plan),
        [
            "- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (drain timed out after 30 s; 1 active, 0 inactive connections)"
        ]
    );
}

#[test]
fn no_timeout_waits_for_connections_however_long() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let policy = Policy::default().with_drain(DrainPolicy::default().with_timeout(None));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(policy);
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(1, 0));
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0));
    let rep = ok(r.reconcile_at(
        &mut kern,
        &web_with(&[b]),
        t0 + Duration::from_secs(86_400 * 30),
    ));
    assert!(rep.plan.is_empty());
    assert!(rep.plan.to_string().contains("no timeout"));
}

#[test]
fn returning_destination_gets_its_weight_back() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(1, 0));
    ok(r.reconcile(&mut kern, &web_with(&[b])));
    // It comes back, with a new weight even.
    let back = dest("192.168.1.1:80", 5);
    let rep = ok(r.reconcile(&mut kern, &web_with(&[back, b])));
    assert_eq!(
        lines(&rep.plan),
        ["~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 0 -> 5 (restore)"]
    );
    assert!(r.draining().is_empty());
    assert_eq!(dests_of(&kern, &web()), [(a.addr, 5), (b.addr, 1)]);
}

#[test]
fn desired_weight_zero_is_a_quiesce_not_a_drain() {
    let (a, b) = (dest("192.168.1.1:80", 0), dest("192.168.1.2:80", 1));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    let t0 = Instant::now();
    for h in [0, 1, 10_000] {
        let rep = ok(r.reconcile_at(
            &mut kern,
            &web_with(&[a, b]),
            t0 + Duration::from_secs(h * 3600),
        ));
        assert!(rep.plan.is_empty());
        assert!(rep.plan.draining().is_empty());
    }
    assert_eq!(dests_of(&kern, &web()), [(a.addr, 0), (b.addr, 1)]);
}

#[test]
fn udp_and_sctp_go_at_once_fwmark_drains_by_default() {
    let udp = ServiceKey::udp(sa("10.0.0.1:53"));
    let sctp = ServiceKey::sctp(sa("10.0.0.1:3868"));
    let fwm = ServiceKey::fwmark(AddressFamily::Inet, 7);
    let (a, b) = (dest("192.168.1.1:0", 1), dest("192.168.1.2:0", 1));
    let all = |ds: &[Destination]| {
        state(&[
            (Service::new(udp), ds.to_vec()),
            (Service::new(sctp), ds.to_vec()),
            (Service::new(fwm), ds.to_vec()),
        ])
    };
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &all(&[a, b])));
    for k in [udp, sctp, fwm] {
        kern.set_conns(&k, a.addr, conns(0, 9));
    }
    let rep = ok(r.reconcile(&mut kern, &all(&[b])));
    assert_eq!(
        lines(&rep.plan),
        [
            "~ dest FWM 7 (IPv4) -> 192.168.1.1:0 weight 1 -> 0 (drain)",
            "- dest UDP 10.0.0.1:53 -> 192.168.1.1:0 (not desired; 0 active, 9 inactive connections)",
            "- dest SCTP 10.0.0.1:3868 -> 192.168.1.1:0 (not desired; 0 active, 9 inactive connections)",
        ]
    );
    // Policy can make UDP graceful too.
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default().with_drain(DrainPolicy::graceful()));
    ok(r.reconcile(&mut kern, &all(&[a, b])));
    let rep = ok(r.reconcile(&mut kern, &all(&[b])));
    assert_eq!(rep.plan.len(), 3);
    assert!(
        rep.plan
            .ops()
            .iter()
            .all(|o| matches!(o, Op::UpdateDestination(_, d) if d.weight == 0))
    );
}

#[test]
fn restarted_reconciler_resumes_the_drain_and_times_it_from_first_sight() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let policy = Policy::default()
        .with_drain(DrainPolicy::default().with_timeout(Some(Duration::from_secs(100))));
    let mut kern = FakeKernel::new();
    let mut first = Reconciler::new(policy.clone());
    ok(first.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(1, 0));
    let t0 = Instant::now();
    ok(first.reconcile_at(&mut kern, &web_with(&[b]), t0));
    // The process dies; a new one starts with no memory, 90 s later.
    let mut second = Reconciler::new(policy);
    let t1 = t0 + Duration::from_secs(90);
    let rep = ok(second.reconcile_at(&mut kern, &web_with(&[b]), t1));
    assert!(rep.plan.is_empty());
    assert_eq!(
        second.draining().len(),
        1,
        "the drain is found in the kernel"
    );
    assert_eq!(
        second.draining()[0].since,
        t1,
        "its timeout starts at first sight"
    );
    // Not at t0 + 100 s (the first process's deadline)...
    assert!(
        ok(second.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(150)))
            .plan
            .is_empty()
    );
    // ...but 100 s after first sight.
    let rep = ok(second.reconcile_at(&mut kern, &web_with(&[b]), t1 + Duration::from_secs(100)));
    assert!(matches!(
        rep.plan.changes(),
        [Change::RemoveDestination {
            reason: RemoveReason::DrainTimedOut(_),
            ..
        }]
    ));
    // And if the connections end first, it completes at once.
    let mut third = Reconciler::new(Policy::default());
    assert_eq!(dests_of(&kern, &web()), [(b.addr, 1)]);
    ok(third.reconcile(&mut kern, &web_with(&[])));
    kern.set_conns(&web(), b.addr, conns(0, 0));
    let mut fourth = Reconciler::new(Policy::default());
    let rep = ok(fourth.reconcile(&mut kern, &web_with(&[])));
    assert_eq!(
        lines(&rep.plan),
        ["- dest TCP 10.0.0.1:80 -> 192.168.1.2:80 (drained)"]
    );
}

#[test]
fn services_outside_the_scope_are_never_touched() {
    let mut k = FakeKernel::new();
    // Someone else's rules (keepalived, an operator with ipvsadm).
    let theirs = [
        Op::AddService(Service::new(ServiceKey::tcp(sa("192.0.2.1:443")))),
        Op::AddDestination(
            ServiceKey::tcp(sa("192.0.2.1:443")),
            dest("192.168.9.9:443", 1),
        ),
        Op::AddService(Service::new(ServiceKey::fwmark(AddressFamily::Inet, 3))),
        Op::AddService(Service::new(ServiceKey::tcp(sa("10.0.0.1:22")))),
    ];
    assert!(k.apply(&theirs).is_ok());
    let before = k.snapshot();
    let scope = Scope::prefixes(["10.0.0.0/24".parse().unwrap()]).or(Scope::Fwmarks(100..=199));
    // Port 22 on our VIP is in our prefix: we own it and remove it. Take
    // it out of the scope by listing exact services instead.
    let scope2 = Scope::services([web()]).or(Scope::Fwmarks(100..=199));
    // Exactly our VIP's address (any port): as the prefix.
    let scope3 = Scope::addresses([sa("10.0.0.1:0").ip()]).or(Scope::Fwmarks(100..=199));
    for (scope, expect_unmanaged) in [(scope, 2), (scope2, 3), (scope3, 2)] {
        let mut kern = k.clone();
        let mut r = Reconciler::new(Policy::new(scope));
        for desired in [
            web_with(&[dest("192.168.1.1:80", 1)]),
            web_with(&[]),
            DesiredState::new(),
        ] {
            let rep = ok(r.reconcile(&mut kern, &desired));
            assert_eq!(rep.plan.unmanaged(), expect_unmanaged, "{}", rep.plan);
        }
        let after = kern.snapshot();
        for e in &before {
            let key = e.service.service.key;
            if r.policy().scope.contains(&key) {
                assert!(after.iter().all(|x| x.service.service.key != key));
            } else {
                assert!(after.contains(e), "{key} was touched");
            }
        }
    }
}

#[test]
fn desired_services_outside_the_scope_are_an_error() {
    let policy = Policy::new(Scope::Fwmarks(1..=10));
    let e = plan(&web_with(&[]), &[], &policy, &[], Instant::now()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(
        e.to_string().contains("outside the reconciler's scope"),
        "{e}"
    );
}

#[test]
fn invalid_desired_state_plans_nothing() {
    let p = Policy::default();
    let now = Instant::now();
    let dup = state(&[(Service::new(web()), vec![]), (Service::new(web()), vec![])]);
    let e = plan(&dup, &[], &p, &[], now).unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    let dup_dest = web_with(&[dest("192.168.1.1:80", 1), dest("192.168.1.1:80", 2)]);
    let e = plan(&dup_dest, &[], &p, &[], now).unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    let mixed = web_with(&[dest("[2001:db8::1]:80", 1)]);
    let e = plan(&mixed, &[], &p, &[], now).unwrap_err();
    assert_eq!(e.field(), Some("destination.addr"));
    let heavy = web_with(&[dest("192.168.1.1:80", u32::MAX)]);
    assert_eq!(
        plan(&heavy, &[], &p, &[], now).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn removed_service_goes_at_once_by_default() {
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &web_with(&[dest("192.168.1.1:80", 1)])));
    kern.set_conns(&web(), sa("192.168.1.1:80"), conns(4, 0));
    let rep = ok(r.reconcile(&mut kern, &DesiredState::new()));
    assert_eq!(
        lines(&rep.plan),
        ["- service TCP 10.0.0.1:80 (not desired)"]
    );
    assert_eq!(kern.service_count(), 0);
}

#[test]
fn removed_service_can_drain_first() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let policy = Policy::default()
        .with_drain(DrainPolicy::default().with_service_removal(ServiceRemoval::Drain));
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(policy);
    ok(r.reconcile(&mut kern, &web_with(&[a, b])));
    kern.set_conns(&web(), a.addr, conns(1, 0));
    let none = DesiredState::new();
    let rep = ok(r.reconcile(&mut kern, &none));
    assert_eq!(
        lines(&rep.plan),
        [
            "~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 3 -> 0 (drain)",
            "~ dest TCP 10.0.0.1:80 -> 192.168.1.2:80 weight 1 -> 0 (drain)",
        ]
    );
    // b is idle and goes; a still has its connection: the service stays.
    let rep = ok(r.reconcile(&mut kern, &none));
    assert_eq!(
        lines(&rep.plan),
        ["- dest TCP 10.0.0.1:80 -> 192.168.1.2:80 (drained)"]
    );
    assert!(ok(r.reconcile(&mut kern, &none)).plan.is_empty());
    kern.clear_conns();
    // Last destination drained: one DEL_SERVICE, no separate DEL_DEST.
    let rep = ok(r.reconcile(&mut kern, &none));
    assert_eq!(
        lines(&rep.plan),
        ["- service TCP 10.0.0.1:80 (not desired)"]
    );
    assert_eq!(kern.service_count(), 0);
}

#[test]
fn interrupted_apply_converges_on_the_next_pass() {
    let desired = state(&[
        (
            Service::new(web()),
            (1..=5)
                .map(|i| dest(&format!("192.168.1.{i}:80"), i))
                .collect(),
        ),
        (
            Service::new(ServiceKey::udp(sa("10.0.0.1:53"))),
            vec![dest("192.168.2.1:53", 1)],
        ),
    ]);
    for cut in 0..8 {
        let mut kern = FakeKernel::new();
        let mut r = Reconciler::new(Policy::default());
        kern.interrupt_next_batch_after(cut);
        let rep = r.reconcile(&mut kern, &desired).unwrap();
        assert_eq!(rep.failures(), 8 - cut);
        let rep = ok(r.reconcile(&mut kern, &desired));
        assert_eq!(rep.writes, 8 - cut, "cut at {cut}: only what is missing");
        assert!(ok(r.reconcile(&mut kern, &desired)).plan.is_empty());
    }
}

/// A kernel where someone else removes a service between our read and our
/// write.
struct Racy {
    inner: FakeKernel,
    victim: ServiceKey,
}

impl Kernel for Racy {
    fn table(&mut self) -> lvs::Result<Vec<TableEntry>> {
        let t = self.inner.table();
        let _ = self.inner.execute(&Op::RemoveService(self.victim));
        t
    }
    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        self.inner.apply(ops)
    }
}

#[test]
fn one_failed_change_does_not_stop_the_others() {
    let other = ServiceKey::tcp(sa("10.0.0.2:80"));
    let two = |w| {
        state(&[
            (Service::new(web()), vec![dest("192.168.1.1:80", w)]),
            (Service::new(other), vec![dest("192.168.1.2:80", w)]),
        ])
    };
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    ok(r.reconcile(&mut kern, &two(1)));
    let mut racy = Racy {
        inner: kern,
        victim: web(),
    };
    let rep = r.reconcile(&mut racy, &two(2)).unwrap();
    let errs: Vec<_> = rep
        .errors()
        .map(|(c, e)| (c.service_key(), e.kind()))
        .collect();
    assert_eq!(errs, [(web(), ErrorKind::ServiceNotFound)]);
    assert_eq!(rep.results.len(), 2);
    assert!(rep.to_string().contains("FAILED"), "{rep}");
    // Next pass (nobody racing now) recreates what went missing.
    let mut kern = racy.inner;
    let rep = ok(r.reconcile(&mut kern, &two(2)));
    assert_eq!(rep.writes, 2);
    assert!(ok(r.reconcile(&mut kern, &two(2))).plan.is_empty());
}

#[test]
fn plan_prints_for_humans_and_for_ipvsadm() {
    let mut k = FakeKernel::new();
    let old = ServiceKey::udp(sa("10.0.0.9:53"));
    assert!(
        k.apply(&[
            Op::AddService(Service::new(web()).with_scheduler(Scheduler::Wlc)),
            Op::AddDestination(web(), dest("192.168.1.1:80", 3)),
            Op::AddDestination(web(), dest("192.168.1.2:80", 1)),
            Op::AddService(Service::new(old)),
        ])
        .is_ok()
    );
    k.set_conns(&web(), sa("192.168.1.1:80"), conns(2, 0));
    let fw6 = ServiceKey::fwmark(AddressFamily::Inet6, 42);
    let desired = state(&[
        (
            Service::new(web()).with_scheduler(Scheduler::Mh(HashFlags {
                fallback: true,
                port: true,
            })),
            vec![
                dest("192.168.1.2:80", 1).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
                    port: 6080,
                    checksum: GueChecksum::RemoteChecksum,
                })),
                dest("192.168.1.3:80", 2).with_thresholds(Thresholds {
                    upper: 50,
                    lower: 5,
                }),
            ],
        ),
        (
            Service::new(fw6)
                .with_scheduler(Scheduler::Rr)
                .with_persistence_netmask(60, Netmask::V6(64)),
            vec![dest("[2001:db8::7]:0", 1).with_forwarding(Forwarding::DirectRoute)],
        ),
    ]);
    let p = plan(
        &desired,
        &k.snapshot(),
        &Policy::default(),
        &[],
        Instant::now(),
    )
    .unwrap();
    assert_eq!(
        p.to_string(),
        "\
~ service TCP 10.0.0.1:80 scheduler wlc -> mh (mh-fallback,mh-port)
+ service FWM 42 (IPv6) rr persistent 60 netmask 64
~ dest TCP 10.0.0.1:80 -> 192.168.1.2:80 masq -> tunnel(gue:6080:r+c)
~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 3 -> 0 (drain)
+ dest TCP 10.0.0.1:80 -> 192.168.1.3:80 masq weight 2 thresholds 5/50
+ dest FWM 42 (IPv6) -> [2001:db8::7]:0 route weight 1
- service UDP 10.0.0.9:53 (not desired)
# draining TCP 10.0.0.1:80 -> 192.168.1.1:80: 2 active, 0 inactive connections, 900 s left
"
    );
    assert_eq!(
        p.to_ipvsadm_restore().unwrap(),
        "\
-E -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port
-A -f 42 -6 -s rr -p 60 -M 64
-e -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-e -t 10.0.0.1:80 -r 192.168.1.1:80 -m -w 0
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 2 -x 50 -y 5
-a -f 42 -6 -r [2001:db8::7]:0 -g -w 1
-D -u 10.0.0.9:53
"
    );
    // Unchanged: "no changes", and an empty restore script.
    let mut k2 = FakeKernel::new();
    reconcile::apply(
        &mut k2,
        &plan(&desired, &[], &Policy::default(), &[], Instant::now()).unwrap(),
    );
    let p = plan(
        &desired,
        &k2.snapshot(),
        &Policy::default(),
        &[],
        Instant::now(),
    )
    .unwrap();
    assert_eq!(p.to_string(), "# no changes\n");
    assert_eq!(p.to_ipvsadm_restore().unwrap(), "");
    // ipvsadm forces the service port on direct-routing destinations.
    let dr = web_with(&[dest("192.168.1.1:8080", 1).with_forwarding(Forwarding::DirectRoute)]);
    let p = plan(&dr, &[], &Policy::default(), &[], Instant::now()).unwrap();
    let e = p.to_ipvsadm_restore().unwrap_err();
    assert!(e.to_string().contains("replaces the port"), "{e}");
    // ipvsadm has no local forwarding.
    let local = web_with(&[dest("192.168.1.1:80", 1).with_forwarding(Forwarding::Local)]);
    let p = plan(&local, &[], &Policy::default(), &[], Instant::now()).unwrap();
    assert_eq!(
        p.to_ipvsadm_restore().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn fake_kernel_answers_with_the_kernels_error_kinds() {
    let mut k = FakeKernel::new();
    let s = Service::new(web());
    let d = dest("192.168.1.1:80", 1);
    let kinds = |r: BatchResult| -> Vec<Option<ErrorKind>> {
        r.results
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.kind()))
            .collect()
    };
    let r = k.apply(&[
        Op::UpdateService(s.clone()),
        Op::AddDestination(web(), d),
        Op::AddService(s.clone()),
        Op::AddService(s.clone()),
        Op::UpdateDestination(web(), d),
        Op::RemoveDestination(web(), d.addr),
        Op::AddDestination(web(), d),
        Op::AddDestination(web(), d),
        Op::AddDestination(web(), d.with_weight(u32::MAX)),
        Op::RemoveService(ServiceKey::fwmark(AddressFamily::Inet, 1)),
    ]);
    use ErrorKind::*;
    assert_eq!(
        kinds(r),
        [
            Some(ServiceNotFound),
            Some(ServiceNotFound),
            None,
            Some(ServiceExists),
            Some(DestinationNotFound),
            Some(DestinationNotFound),
            None,
            Some(DestinationExists),
            Some(InvalidArgument),
            Some(ServiceNotFound),
        ]
    );
    let e = k.execute(&Op::AddService(s)).unwrap_err();
    assert_eq!(e.errno(), Some(17));
}

#[test]
fn run_reconciles_on_demand_and_periodically() {
    let (tx, rx) = std::sync::mpsc::channel();
    let (a, b) = (dest("192.168.1.1:80", 1), dest("192.168.1.2:80", 1));
    tx.send(web_with(&[a, b])).unwrap();
    tx.send(web_with(&[b])).unwrap(); // supersedes the first before any pass
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(Policy::default());
    let mut passes = Vec::new();
    let t = Instant::now();
    r.run(&mut kern, &rx, Duration::from_millis(10), |rep| {
        let rep = rep.as_ref().expect("pass");
        passes.push(rep.writes);
        if passes.len() == 3 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    // Latest state only, then periodic passes with nothing to do.
    assert_eq!(passes, [2, 0, 0]);
    assert!(t.elapsed() >= Duration::from_millis(20));
    assert_eq!(dests_of(&kern, &web()), [(b.addr, 1)]);
    // Ends when the sender is gone.
    drop(tx);
    r.run(&mut kern, &rx, Duration::from_millis(10), |_| {
        ControlFlow::Continue(())
    });
}

#[cfg(feature = "serde")]
#[test]
fn desired_state_and_policy_load_from_json() {
    let json = r#"{
        "services": [
            { "key": { "addr": { "protocol": "tcp", "addr": "10.0.0.1:80" } },
              "scheduler": "rr",
              "destinations": [ { "addr": "192.168.1.1:80", "weight": 3 },
                                { "addr": "192.168.1.2:80", "forwarding": "directroute" } ] },
            { "key": { "fwmark": { "family": "inet", "mark": 7 } } }
        ]
    }"#;
    let d: DesiredState = serde_json::from_str(json).unwrap();
    assert_eq!(
        d,
        state(&[
            (
                Service::new(web()).with_scheduler(Scheduler::Rr),
                vec![
                    dest("192.168.1.1:80", 3),
                    dest("192.168.1.2:80", 1).with_forwarding(Forwarding::DirectRoute),
                ],
            ),
            (
                Service::new(ServiceKey::fwmark(AddressFamily::Inet, 7)),
                vec![]
            ),
        ])
    );
    let back: DesiredState = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    let p: Policy = serde_json::from_str(
        r#"{ "scope": { "any": [ { "prefixes": ["10.0.0.0/8"] },
                                 { "fwmarks": { "start": 1, "end": 9 } } ] },
             "drain": { "udp": "graceful", "timeout": 60, "services": "drain" } }"#,
    )
    .unwrap();
    assert!(p.scope.contains(&web()));
    assert!(
        p.scope
            .contains(&ServiceKey::fwmark(AddressFamily::Inet, 7))
    );
    assert_eq!(p.drain.udp, DrainMode::Graceful);
    assert_eq!(p.drain.tcp, DrainMode::Graceful);
    assert_eq!(p.drain.sctp, DrainMode::Immediate);
    assert_eq!(p.drain.timeout, Some(Duration::from_secs(60)));
    assert_eq!(p.drain.services, ServiceRemoval::Drain);
    let p: Policy =
        serde_json::from_str(r#"{ "scope": "all", "drain": { "timeout": null } }"#).unwrap();
    assert_eq!((p.scope, p.drain.timeout), (Scope::All, None));
}

/// Issue 16 item 7: a fwmark range whose start is above its end would
/// scope nothing; JSON refuses it as the C API's
/// `lvs_policy_scope_add_fwmarks` does, nested in `any` too.
#[cfg(feature = "serde")]
#[test]
fn an_empty_fwmark_range_is_refused() {
    for json in [
        r#"{ "scope": { "fwmarks": { "start": 9, "end": 1 } } }"#,
        r#"{ "scope": { "any": [ { "fwmarks": { "start": 2000, "end": 1999 } } ] } }"#,
    ] {
        let e = serde_json::from_str::<Policy>(json)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is above its end"), "{json}: {e}");
    }
    let p: Policy =
        serde_json::from_str(r#"{ "scope": { "fwmarks": { "start": 5, "end": 5 } } }"#).unwrap();
    assert!(
        p.scope
            .contains(&ServiceKey::fwmark(AddressFamily::Inet, 5))
    );
}

/// Issue 16 item 7: an IPv4 persistence netmask must be a prefix.
#[test]
fn a_scattered_ipv4_netmask_is_refused() {
    use std::net::Ipv4Addr;
    let svc = |m: Ipv4Addr| {
        Service::new(ServiceKey::tcp(
            "10.0.0.1:80".parse::<SocketAddr>().unwrap(),
        ))
        .with_persistence_netmask(60, Netmask::V4(m))
    };
    for ok in ["255.255.255.255", "255.255.255.0", "255.128.0.0", "0.0.0.0"] {
        svc(ok.parse().unwrap()).validate().unwrap();
    }
    for bad in ["255.0.255.0", "0.0.0.255", "255.255.255.253"] {
        let e = svc(bad.parse().unwrap()).validate().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
        assert_eq!(e.field(), Some("persistence.netmask"), "{bad}");
    }
}

/// A misspelt key must never become a default: an ignored "services"
/// would be an empty desired state (remove everything in scope), an
/// ignored "scope" would manage every service.
#[cfg(feature = "serde")]
#[test]
fn unknown_or_missing_json_fields_are_errors() {
    let svc = r#"{ "key": { "addr": { "protocol": "tcp", "addr": "10.0.0.1:80" } } }"#;
    for (json, field) in [
        (r#"{ "servces": [] }"#.to_string(), "servces"),
        ("{}".to_string(), "services"),
        (
            format!(
                r#"{{ "services": [ {} ] }}"#,
                svc.replace("} } }", r#"} }, "schedular": "rr" }"#)
            ),
            "schedular",
        ),
        (
            format!(
                r#"{{ "services": [ {} ] }}"#,
                svc.replace(
                    "} } }",
                    r#"} }, "destinations": [ { "addr": "192.168.1.1:80", "wieght": 0 } ] }"#
                )
            ),
            "wieght",
        ),
    ] {
        let e = serde_json::from_str::<DesiredState>(&json)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{json}: {e}");
    }
    let d: DesiredState = serde_json::from_str(r#"{ "services": [] }"#).unwrap();
    assert!(d.is_empty(), "an empty state is spelled out");
    for (json, field) in [
        (r#"{ "scop": { "prefixes": ["10.0.0.0/8"] } }"#, "scop"),
        (r#"{ "drain": { "timout": 5 } }"#, "timout"),
    ] {
        let e = serde_json::from_str::<Policy>(json)
            .unwrap_err()
            .to_string();
        assert!(e.contains(field), "{json}: {e}");
    }
    let e = serde_json::from_str::<Service>(&svc.replace("} } }", r#"} }, "one_pakcet": true }"#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("one_pakcet"), "{e}");
}

#[test]
fn destination_with_unwritable_forwarding_is_removed_not_drained() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let mut k = FakeKernel::new();
    let p = plan(
        &web_with(&[a, b]),
        &[],
        &Policy::default(),
        &[],
        Instant::now(),
    )
    .unwrap();
    assert!(reconcile::apply(&mut k, &p).is_ok());
    // As if another client had set a forwarding method lvs cannot write.
    let mut observed = k.snapshot();
    for d in &mut observed[0].destinations {
        if d.destination.addr == a.addr {
            d.destination.forwarding = Forwarding::Other(5);
        }
    }
    let p = plan(
        &web_with(&[b]),
        &observed,
        &Policy::default(),
        &[],
        Instant::now(),
    )
    .unwrap();
    assert_eq!(
        lines(&p),
        ["- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (not desired)"]
    );
    // Desired again: updated to a writable configuration.
    let p = plan(
        &web_with(&[a, b]),
        &observed,
        &Policy::default(),
        &[],
        Instant::now(),
    )
    .unwrap();
    assert!(matches!(p.ops()[..], [Op::UpdateDestination(_, d)] if d == a));
}

// ----- incremental passes ------------------------------------------------------

/// `n` TCP services 10.1.x.y:80, each with 3 destinations.
fn many(n: u16) -> DesiredState {
    let mut d = DesiredState::new();
    for i in 0..n {
        let [hi, lo] = i.to_be_bytes();
        d.push(
            Service::new(ServiceKey::tcp(SocketAddr::from(([10, 1, hi, lo], 80)))),
            (1..=3u8).map(|j| {
                Destination::new(SocketAddr::from(([192, 168, hi, lo], 8000 + u16::from(j))))
            }),
        );
    }
    d
}

fn incremental(period_secs: u64) -> Policy {
    Policy::default()
        .with_drain(DrainPolicy::immediate())
        .with_incremental(Duration::from_secs(period_secs))
}

#[test]
fn an_incremental_pass_costs_the_change_not_the_table() {
    let mut desired = many(300);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(incremental(60));
    let t0 = Instant::now();
    // The first pass reads the whole table and keeps it as its view.
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0));
    assert_eq!((rep.reads, rep.writes), (1, 300 * 4));
    assert!(r.has_view());
    kern.reset_counters();
    // Nothing changed, 1 s later: no whole-table read, no write, and a
    // verification slice of ceil(300 / 60) services.
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_secs(1)));
    assert!(rep.plan.is_empty(), "{}", rep.plan);
    assert_eq!(
        (
            rep.reads,
            rep.writes,
            rep.service_reads,
            rep.destination_reads
        ),
        (0, 0, 0, 5)
    );
    // One destination changed: one write, and one more destination dump
    // (the changed service, planned against the kernel's counts).
    desired.services[7].destinations[1].weight = 9;
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_secs(2)));
    assert_eq!(
        lines(&rep.plan),
        ["~ dest TCP 10.1.0.7:80 -> 192.168.0.7:8002 weight 1 -> 9"]
    );
    assert_eq!(
        (rep.reads, rep.writes, rep.destination_reads),
        (0, 1, 5 + 1)
    );
    assert_eq!((kern.reads(), kern.batches(), kern.ops()), (0, 1, 1));
    // A service added, another removed: only those.
    desired.services.remove(0);
    desired.push(
        Service::new(ServiceKey::udp(sa("10.1.9.9:53"))),
        [dest("192.168.9.9:53", 1)],
    );
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_secs(3)));
    assert_eq!(rep.reads, 0);
    assert_eq!(
        lines(&rep.plan),
        [
            "+ service UDP 10.1.9.9:53 wlc",
            "+ dest UDP 10.1.9.9:53 -> 192.168.9.9:53 masq weight 1",
            "- service TCP 10.1.0.0:80 (not desired)",
        ]
    );
    assert_eq!(kern.reads(), 0, "no whole-table read since the first pass");
    // The view matches the kernel: a full pass finds nothing to do.
    r.request_full_pass();
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_secs(4)));
    assert_eq!((rep.reads, rep.writes), (1, 0));
}

#[test]
fn an_incremental_pass_finds_edits_by_others_within_the_period() {
    let desired = many(40);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(incremental(10));
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut kern, &desired, t0));
    let want = kern.snapshot();
    // Another client changes a weight, removes a destination and a
    // service, and adds a service of its own (inside our scope).
    let (a, b, c) = (
        desired.services[3].service.key,
        desired.services[22].service.key,
        desired.services[39].service.key,
    );
    let theirs = ServiceKey::tcp(sa("10.1.200.1:80"));
    for op in [
        Op::UpdateDestination(a, desired.services[3].destinations[0].with_weight(7)),
        Op::RemoveDestination(b, desired.services[22].destinations[2].addr),
        Op::RemoveService(c),
        Op::AddService(Service::new(theirs)),
    ] {
        kern.execute(&op).expect("edit");
    }
    kern.reset_counters();
    // Passes every second: all four are repaired within the period, with
    // no whole-table read.
    for s in 1..=11 {
        let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_secs(s)));
        assert_eq!(rep.reads, 0, "pass at {s} s:\n{rep}");
    }
    assert_eq!(kern.reads(), 0);
    assert_eq!(kern.service_reads(), 1, "one service dump per period");
    assert_eq!(canon(&kern.snapshot()), canon(&want));
}

/// Services and destinations of a table, ignoring order and counters.
fn canon(t: &[TableEntry]) -> Vec<(Service, Vec<Destination>)> {
    let mut v: Vec<_> = t
        .iter()
        .map(|e| {
            let mut d: Vec<Destination> = e.destinations.iter().map(|d| d.destination).collect();
            d.sort_by_key(|d| d.addr);
            (e.service.service.clone(), d)
        })
        .collect();
    v.sort_by_key(|(s, _)| s.key);
    v
}

#[test]
fn a_failure_that_contradicts_the_view_makes_the_next_pass_read_everything() {
    let mut desired = many(5);
    let mut kern = FakeKernel::new();
    let mut r = Reconciler::new(incremental(3600));
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut kern, &desired, t0));
    // Someone removes a service; we change one of its destinations before
    // the verification gets there.
    let gone = desired.services[2].service.key;
    kern.execute(&Op::RemoveService(gone)).expect("edit");
    desired.services[2].destinations[0].weight = 4;
    let rep = r
        .reconcile_at(&mut kern, &desired, t0 + Duration::from_millis(10))
        .expect("pass");
    // (Its destinations read back empty, so the plan adds all three.)
    let errs: Vec<_> = rep.errors().map(|(_, e)| e.kind()).collect();
    assert_eq!(errs, [ErrorKind::ServiceNotFound; 3]);
    assert!(!r.has_view(), "the view was dropped");
    // The next pass reads the whole table and recreates the service.
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_millis(20)));
    assert_eq!((rep.reads, rep.writes), (1, 4));
    assert!(r.has_view());
    let rep = ok(r.reconcile_at(&mut kern, &desired, t0 + Duration::from_millis(30)));
    assert_eq!((rep.reads, rep.writes), (0, 0));
}

#[test]
fn incremental_drains_read_their_service_every_pass() {
    let (a, b) = (dest("192.168.1.1:80", 1), dest("192.168.1.2:80", 1));
    let mut kern = FakeKernel::new();
    let policy = Policy::default().with_incremental(Duration::from_secs(3600));
    let mut r = Reconciler::new(policy);
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut kern, &web_with(&[a, b]), t0));
    kern.set_conns(&web(), a.addr, conns(2, 0));
    let rep = ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(1)));
    assert_eq!(
        lines(&rep.plan),
        ["~ dest TCP 10.0.0.1:80 -> 192.168.1.1:80 weight 1 -> 0 (drain)"]
    );
    assert_eq!(rep.reads, 0);
    // While it drains, each pass reads that service's destinations (live
    // connection counts), and nothing else.
    for s in 2..5 {
        let rep = ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(s)));
        assert!(rep.plan.is_empty(), "{}", rep.plan);
        assert_eq!((rep.reads, rep.destination_reads), (0, 1));
        assert_eq!(r.draining().len(), 1);
    }
    kern.clear_conns();
    let rep = ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(5)));
    assert_eq!(
        lines(&rep.plan),
        ["- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (drained)"]
    );
    assert!(r.draining().is_empty());
    let rep = ok(r.reconcile_at(&mut kern, &web_with(&[b]), t0 + Duration::from_secs(6)));
    assert_eq!((rep.reads, rep.destination_reads, rep.writes), (0, 0, 0));
}

/// A kernel whose next whole-table read misses one destination, as a dump
/// resumed under churn can (issue 14, item 5).
struct MissOnce {
    kernel: FakeKernel,
    hide: Option<(ServiceKey, SocketAddr)>,
}

impl Kernel for MissOnce {
    fn table(&mut self) -> Result<Vec<TableEntry>> {
        let mut t = self.kernel.table()?;
        if let Some((svc, addr)) = self.hide.take() {
            for e in &mut t {
                if e.service.service.key == svc {
                    e.destinations.retain(|d| d.destination.addr != addr);
                }
            }
        }
        Ok(t)
    }

    fn apply(&mut self, ops: &[Op]) -> BatchResult {
        self.kernel.apply(ops)
    }
}

/// A reconciler under `policy` that has started draining `a` (busy, one
/// active connection) out of `[a, b]` at the returned instant.
fn draining_a(policy: Policy, a: Destination, b: Destination) -> (MissOnce, Reconciler, Instant) {
    let mut k = MissOnce {
        kernel: FakeKernel::new(),
        hide: None,
    };
    let mut r = Reconciler::new(policy);
    ok(r.reconcile(&mut k, &web_with(&[a, b])));
    k.kernel.set_conns(&web(), a.addr, conns(1, 0));
    let t0 = Instant::now();
    ok(r.reconcile_at(&mut k, &web_with(&[b]), t0));
    (k, r, t0)
}

#[test]
fn a_read_that_misses_a_draining_destination_does_not_restart_its_timer() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    for incremental in [false, true] {
        let mut policy = Policy::default()
            .with_drain(DrainPolicy::default().with_timeout(Some(Duration::from_secs(30))));
        if incremental {
            policy = policy.with_incremental(Duration::from_secs(1));
        }
        let (mut k, mut r, t0) = draining_a(policy, a, b);
        assert_eq!(r.draining()[0].since, t0);
        // A full pass whose read misses the draining destination.
        r.request_full_pass();
        k.hide = Some((web(), a.addr));
        let missed = ok(r.reconcile_at(&mut k, &web_with(&[b]), t0 + Duration::from_secs(10)));
        assert!(missed.plan.is_empty(), "{}", missed.plan);
        assert_eq!(r.draining().len(), 1, "incremental: {incremental}");
        assert_eq!(r.draining()[0].since, t0, "the drain keeps its start");
        // Seen again, still busy, after the timeout counted from t0.
        let rep = ok(r.reconcile_at(&mut k, &web_with(&[b]), t0 + Duration::from_secs(30)));
        assert_eq!(
            lines(&rep.plan),
            [
                "- dest TCP 10.0.0.1:80 -> 192.168.1.1:80 (drain timed out after 30 s; 1 active, 0 inactive connections)"
            ],
            "incremental: {incremental}"
        );
        assert!(r.draining().is_empty());
    }
}

#[test]
fn a_missed_drain_is_forgotten_once_desired_again() {
    let (a, b) = (dest("192.168.1.1:80", 3), dest("192.168.1.2:80", 1));
    let policy = Policy::default()
        .with_drain(DrainPolicy::default().with_timeout(Some(Duration::from_secs(30))));
    let (mut k, mut r, t0) = draining_a(policy, a, b);
    // Missed by the read while desired again: nothing is remembered.
    k.hide = Some((web(), a.addr));
    let _ = r.reconcile_at(&mut k, &web_with(&[a, b]), t0 + Duration::from_secs(1));
    assert!(r.draining().is_empty());
}
