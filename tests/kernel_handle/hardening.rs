//! Hardening against an unfriendly environment (issue 14), on a real IPVS
//! kernel: reads while other handles churn thousands of services, and a
//! batch whose replies the kernel drops (`ENOBUFS`). The cargo runner boots
//! a Debian kernel under QEMU when the host has no IPVS.
//!
//! The tests print their figures (run with `--nocapture` to see them; a
//! failure shows them too).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::kernel_alone;
use crate::support::*;
use lvs::reconcile::*;
use lvs::*;

fn key(net: u8, i: usize) -> ServiceKey {
    ServiceKey::tcp(([10, net, (i / 256) as u8, (i % 256) as u8], 80))
}

fn dest(c: u8, d: usize, port: u16) -> Destination {
    Destination::new(([192, 168, c, d as u8], port))
}

/// `ErrorKind::InconsistentRead`, named by its `Debug` form so this file
/// also builds against a tree without it (to count the "before" figures).
fn is_inconsistent(e: &Error) -> bool {
    format!("{:?}", e.kind()) == "InconsistentRead"
}

fn apply_all(h: &mut Handle, ops: &[Op]) {
    let r = h.apply(ops);
    for (op, res) in ops.iter().zip(&r.results) {
        if let Err(e) = res {
            panic!("{op:?}: {e}");
        }
    }
}

/// Keep adding and removing `n` services of `net` (and, for `big`, `n / 10`
/// extra destinations of that service) until `stop`, resting `pause`
/// between batches. Counts the operations applied.
fn churn(
    ns_path: String,
    net: u8,
    n: usize,
    big: Option<ServiceKey>,
    pause: Duration,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut h = Handle::open_netns_path(&ns_path).unwrap_or_else(|e| panic!("{e}"));
        let adds: Vec<Op> = (0..n)
            .map(|i| Op::AddService(Service::new(key(net, i))))
            .chain(
                big.iter()
                    .flat_map(|b| (0..n / 10).map(|d| Op::AddDestination(*b, dest(2, d, 8080)))),
            )
            .collect();
        let removes: Vec<Op> = (0..n)
            .map(|i| Op::RemoveService(key(net, i)))
            .chain(big.iter().flat_map(|b| {
                (0..n / 10).map(|d| Op::RemoveDestination(*b, dest(2, d, 8080).addr))
            }))
            .collect();
        while !stop.load(Ordering::Relaxed) {
            for ops in [&adds, &removes] {
                let r = h.apply(ops);
                count.fetch_add(
                    r.results.iter().filter(|r| r.is_ok()).count(),
                    Ordering::Relaxed,
                );
                std::thread::sleep(pause);
            }
        }
        // Leave nothing behind.
        let _ = h.apply(&removes);
    })
}

/// What a read gave, checked against the fixed services.
#[derive(Debug, Default)]
struct Tally {
    exact: usize,
    inconsistent: usize,
    wrong: usize,
    first_wrong: Option<String>,
    time: Duration,
}

impl Tally {
    fn take<T>(&mut self, t0: Instant, r: Result<T>, check: impl FnOnce(T) -> Option<String>) {
        self.time += t0.elapsed();
        match r {
            Ok(v) => match check(v) {
                None => self.exact += 1,
                Some(why) => {
                    self.wrong += 1;
                    self.first_wrong.get_or_insert(why);
                }
            },
            Err(e) if is_inconsistent(&e) => self.inconsistent += 1,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    fn line(&self, what: &str) -> String {
        let n = self.exact + self.inconsistent + self.wrong;
        format!(
            "{what}: {n} reads, {} exact, {} InconsistentRead, {} WRONG; {:.1} ms per read{}",
            self.exact,
            self.inconsistent,
            self.wrong,
            self.time.as_secs_f64() * 1e3 / n.max(1) as f64,
            self.first_wrong
                .as_deref()
                .map(|w| format!(" (first wrong: {w})"))
                .unwrap_or_default()
        )
    }
}

/// Services: every fixed key exactly once, no key twice.
fn check_services(
    fixed: &HashSet<ServiceKey>,
    keys: impl Iterator<Item = ServiceKey>,
) -> Option<String> {
    let mut seen = HashSet::new();
    for k in keys {
        if !seen.insert(k) {
            return Some(format!("{k} listed twice"));
        }
    }
    let missing = fixed.iter().filter(|k| !seen.contains(k)).count();
    (missing != 0).then(|| format!("{missing} of {} fixed services missing", fixed.len()))
}

/// Destinations: every fixed one exactly once, none twice.
fn check_dests(svc: &ServiceKey, want: &[SocketAddr], got: &[DestinationEntry]) -> Option<String> {
    let mut seen = HashSet::new();
    for d in got {
        if !seen.insert(d.destination.addr) {
            return Some(format!("{svc}: {} listed twice", d.destination.addr));
        }
    }
    let missing = want.iter().filter(|a| !seen.contains(a)).count();
    (missing != 0).then(|| format!("{svc}: {missing} of {} destinations missing", want.len()))
}

/// Reads and reconciler passes while other handles churn, in this
/// namespace and in another one: every read is exact (all fixed services
/// there exactly once, with all their destinations) or fails with
/// `InconsistentRead`; never a wrong list.
#[test]
fn reads_under_churn_are_exact_or_fail_as_inconsistent() {
    const T: &str = "churn";
    let _kernel = kernel_alone();
    let ns = Netns::new("hard");
    let other = Netns::new("hardo");
    let mut h = ns.handle();

    // 300 fixed services with 2 destinations each, and one with 60.
    let big = key(1, 1000);
    let mut fixed: HashMap<ServiceKey, Vec<SocketAddr>> = HashMap::new();
    let mut ops = Vec::new();
    for i in 0..300 {
        let k = key(1, i);
        ops.push(Op::AddService(Service::new(k)));
        let ds = [dest(0, 1, 80), dest(0, 2, 80)];
        ops.extend(ds.iter().map(|d| Op::AddDestination(k, *d)));
        fixed.insert(k, ds.iter().map(|d| d.addr).collect());
    }
    ops.push(Op::AddService(Service::new(big)));
    let big_dests: Vec<Destination> = (1..=60).map(|d| dest(1, d, 8080)).collect();
    ops.extend(big_dests.iter().map(|d| Op::AddDestination(big, *d)));
    fixed.insert(big, big_dests.iter().map(|d| d.addr).collect());
    apply_all(&mut h, &ops);
    let fixed_keys: HashSet<ServiceKey> = fixed.keys().copied().collect();
    let big_want = fixed[&big].clone();
    // The reconciler owns the 300 small services (the big one's list is
    // churned on purpose, so it stays out of scope).
    let mut desired = DesiredState::new();
    for i in 0..300 {
        desired.push(Service::new(key(1, i)), [dest(0, 1, 80), dest(0, 2, 80)]);
    }
    let policy = Policy::new(Scope::services((0..300).map(|i| key(1, i))));

    let phase = |name: &str, h: &mut Handle, secs: u64| -> [Tally; 4] {
        let mut t: [Tally; 4] = Default::default();
        let mut r = Reconciler::new(policy.clone());
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            let t0 = Instant::now();
            t[0].take(t0, h.table(), |tab| {
                check_services(&fixed_keys, tab.iter().map(|e| e.service.service.key)).or_else(
                    || {
                        tab.iter()
                            .filter_map(|e| {
                                let k = e.service.service.key;
                                fixed
                                    .get(&k)
                                    .and_then(|w| check_dests(&k, w, &e.destinations))
                            })
                            .next()
                    },
                )
            });
            let t0 = Instant::now();
            t[1].take(t0, h.services(), |v| {
                check_services(&fixed_keys, v.iter().map(|e| e.service.key))
            });
            let t0 = Instant::now();
            t[2].take(t0, h.destinations(&big), |v| {
                check_dests(&big, &big_want, &v)
            });
            let t0 = Instant::now();
            t[3].take(t0, r.reconcile(&mut *h, &desired), |rep| {
                (!rep.plan.is_empty()).then(|| format!("reconciler planned:\n{}", rep.plan))
            });
        }
        for (what, t) in ["table()", "services()", "destinations(60)", "reconcile"]
            .iter()
            .zip(&t)
        {
            mark(T, &format!("{name}: {}", t.line(what)));
        }
        t
    };

    // Unchurned: the cost of consistency when nothing changes.
    let quiet = phase("no churn", &mut h, 10);

    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicUsize::new(0));
    let elsewhere = churn(
        other.path(),
        2,
        2000,
        None,
        Duration::ZERO,
        stop.clone(),
        churned.clone(),
    );
    let other_ns = phase("churn in another namespace", &mut h, 20);
    let here = churn(
        ns.path(),
        3,
        2000,
        Some(big),
        Duration::from_millis(50),
        stop.clone(),
        churned.clone(),
    );
    let same_ns = phase("churn in this namespace too", &mut h, 30);
    stop.store(true, Ordering::Relaxed);
    elsewhere.join().expect("churner");
    here.join().expect("churner");
    mark(
        T,
        &format!(
            "{} churn operations applied",
            churned.load(Ordering::Relaxed)
        ),
    );

    for t in quiet.iter().chain(&other_ns).chain(&same_ns) {
        assert_eq!(
            t.wrong, 0,
            "a read returned a wrong list: {:?}",
            t.first_wrong
        );
    }
    for t in &quiet {
        assert_eq!(t.inconsistent, 0, "unchurned reads must succeed");
    }
    let read = |ts: &[Tally; 4]| ts.iter().map(|t| t.exact).sum::<usize>();
    assert!(
        read(&other_ns) > 0,
        "no read succeeded under churn elsewhere"
    );
    // Now, not in the namespace's deferred cleanup during the next test.
    h.flush().expect("flush");
}

/// A batch on a starved receive buffer: the kernel drops replies
/// (`ENOBUFS`). With no timeout the batch must still end (a watchdog fails
/// the test instead of hanging it), and every result must be true: what is
/// reported applied is in the kernel, what is reported "exists" existed,
/// what is reported not attempted is not in the kernel.
#[test]
fn a_batch_whose_replies_are_dropped_ends_and_reports_truly() {
    const T: &str = "enobufs";
    let _kernel = kernel_alone();
    let ns = Netns::new("nobufs");
    let mut h = ns.handle();
    // 2000 services exist. The batch alternates blocks of 16 (the size of
    // a flight on a starved buffer): new services (no reply: the flight
    // fits) and existing ones added again (each fails with EEXIST, one
    // error reply each: the flight floods the buffer).
    let existing: Vec<ServiceKey> = (0..2000).map(|i| key(4, i)).collect();
    let setup: Vec<Op> = existing
        .iter()
        .map(|k| Op::AddService(Service::new(*k)))
        .collect();
    apply_all(&mut h, &setup);
    let mut ops = Vec::new();
    for i in 0..4000 {
        let k = if (i / 16) % 2 == 0 {
            key(5, i)
        } else {
            existing[i / 2]
        };
        ops.push(Op::AddService(Service::new(k)));
    }
    let old: HashSet<ServiceKey> = existing.iter().copied().collect();

    h.set_timeout(None).expect("no timeout");
    h.set_batch_recv_buffer(1);
    let (tx, rx) = mpsc::channel();
    let batch_ops = ops.clone();
    let t0 = Instant::now();
    std::thread::spawn(move || {
        let r = h.apply(&batch_ops);
        let _ = tx.send(r);
    });
    let r = rx
        .recv_timeout(Duration::from_secs(150))
        .unwrap_or_else(|_| panic!("the batch hung after ENOBUFS (no reply in 150 s)"));
    mark(
        T,
        &format!(
            "batch of {} ops ended in {:?}, {} flights",
            ops.len(),
            t0.elapsed(),
            r.sends
        ),
    );

    let now: HashSet<ServiceKey> = ns
        .handle()
        .services()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|e| e.service.key)
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (op, res) in ops.iter().zip(&r.results) {
        let Op::AddService(s) = op else {
            unreachable!()
        };
        let k = s.key;
        let what = match res {
            Ok(()) => {
                assert!(
                    !old.contains(&k) && now.contains(&k),
                    "{k}: reported applied"
                );
                "applied"
            }
            Err(e) => match e.kind() {
                ErrorKind::ServiceExists => {
                    assert!(old.contains(&k), "{k}: reported existing: {e}");
                    "exists"
                }
                ErrorKind::Io => {
                    assert!(e.to_string().contains("outcome unknown"), "{e}");
                    "unknown"
                }
                ErrorKind::NotAttempted => {
                    assert!(
                        !now.contains(&k) || old.contains(&k),
                        "{k}: not attempted: {e}"
                    );
                    "not attempted"
                }
                _ => panic!("{k}: unexpected {e}"),
            },
        };
        *counts.entry(what.to_string()).or_default() += 1;
    }
    mark(T, &format!("results: {counts:?}"));
    assert!(
        counts.get("unknown").copied().unwrap_or(0) > 0,
        "no reply was dropped: the buffer was not starved, nothing was tested"
    );
    assert!(
        counts.get("applied").copied().unwrap_or(0) > 0,
        "no flight succeeded"
    );
    ns.handle().flush().expect("flush");
    assert_eq!(
        counts.get("not attempted"),
        None,
        "every flight is sent: replies dropped are no reason to stop"
    );
}

/// What consistency costs when nothing changes: the time of whole-table,
/// service and destination reads of a quiet table (300 services with 2
/// destinations, one with 60, 8 services with 12). Prints figures only (no
/// timing assert: the guest's speed varies with the host's load).
#[test]
fn read_cost_on_a_quiet_table() {
    const T: &str = "cost";
    let _kernel = kernel_alone();
    let ns = Netns::new("cost");
    let mut h = ns.handle();
    let mut ops = Vec::new();
    for i in 0..300 {
        ops.push(Op::AddService(Service::new(key(6, i))));
        ops.extend([1, 2].map(|d| Op::AddDestination(key(6, i), dest(0, d, 80))));
    }
    let big = key(6, 1000);
    ops.push(Op::AddService(Service::new(big)));
    ops.extend((1..=60).map(|d| Op::AddDestination(big, dest(1, d, 8080))));
    let small: Vec<ServiceKey> = (0..8).map(|i| key(7, i)).collect();
    for k in &small {
        ops.push(Op::AddService(Service::new(*k)));
        ops.extend((1..=12).map(|d| Op::AddDestination(*k, dest(3, d, 80))));
    }
    apply_all(&mut h, &ops);
    let _ = h.table().expect("warm-up read");
    let time = |what: &str, n: u32, f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        for _ in 0..n {
            f();
        }
        let per = t0.elapsed().as_secs_f64() * 1e3 / f64::from(n);
        mark(T, &format!("{what}: {per:.1} ms per read ({n} reads)"));
    };
    time("table() of 309 services", 20, &mut || {
        assert_eq!(h.table().expect("table").len(), 309);
    });
    time("services() of 309", 40, &mut || {
        assert_eq!(h.services().expect("services").len(), 309);
    });
    time("destinations() of 60", 40, &mut || {
        assert_eq!(h.destinations(&big).expect("dests").len(), 60);
    });
    time("destinations_of() 8 x 12", 40, &mut || {
        assert_eq!(h.destinations_of(&small).expect("dests").len(), 8);
    });
    h.flush().expect("flush");
}
