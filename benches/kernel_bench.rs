//! Kernel benchmarks: program and read large IPVS tables with `lvs`, side
//! by side with `ipvsadm` and with a floor (the same messages prebuilt and
//! sent pipelined by the thinnest code we can write), all in one boot.
//!
//! `cargo bench --bench kernel_bench` runs it inside a real IPVS kernel
//! (the cargo runner boots one under QEMU when the host has none). Each
//! phase runs in a fresh network namespace: IPVS keeps deleted
//! destinations in a trash list that would slow re-creation.
//!
//! Set `LVS_BENCH_WORKLOADS` to a subset of `ABRS` (workload A, workload B,
//! R: reconcile with full and incremental passes and the incremental
//! view's memory at 10,000 x 10, S: a 100,000 x 10 table) to run only
//! those; the default is all four.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lvs::wire::consts::*;
use lvs::wire::{CmdAttr, DestAttr, ServiceAttr, SvcFlags};
use lvs::{Destination, Handle, Op, Service, ServiceKey};
use support::Netns;

/// Marker for the cargo runner: this binary needs an IPVS kernel.
#[used]
static NEEDS_KERNEL: &str = "LVS_RIG_NEEDS_IPVS_KERNEL";

/// Repetitions of the cheap phases; the best time counts.
const REPS: usize = 3;

/// `Handle::set_read_threads` for the parallel read row (the guest has 2
/// vCPUs).
const READ_THREADS: usize = 2;

struct Workload {
    name: &'static str,
    services: u32,
    dests: u32,
}

fn vip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 | i)
}
fn rip(i: u32, j: u32, per: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xac10_0000 | (i * per + j))
}

fn ops(w: &Workload) -> Vec<Op> {
    let mut v = Vec::with_capacity((w.services * (w.dests + 1)) as usize);
    for i in 0..w.services {
        let key = ServiceKey::tcp(SocketAddr::new(IpAddr::V4(vip(i)), 80));
        v.push(Op::AddService(Service::new(key)));
        for j in 0..w.dests {
            let d = Destination::new(SocketAddr::new(IpAddr::V4(rip(i, j, w.dests)), 8080));
            v.push(Op::AddDestination(key, d));
        }
    }
    v
}

fn restore_text(w: &Workload) -> String {
    let mut s = String::new();
    for i in 0..w.services {
        s += &format!("-A -t {}:80 -s wlc\n", vip(i));
        for j in 0..w.dests {
            s += &format!(
                "-a -t {}:80 -r {}:8080 -m -w 1\n",
                vip(i),
                rip(i, j, w.dests)
            );
        }
    }
    s
}

/// The floor: every request prebuilt as bytes (no ACK flag), sent in
/// 256 KiB datagrams on a raw netlink socket, then one ACKed NOOP barrier.
fn floor_requests(w: &Workload, family: u16) -> Vec<Vec<u8>> {
    let mut chunks = vec![Vec::with_capacity(256 * 1024)];
    let mut seq = 1u32;
    let addr16 = |ip: Ipv4Addr| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&ip.octets());
        a
    };
    for i in 0..w.services {
        let svc = vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Protocol(IPPROTO_TCP),
            ServiceAttr::Addr(addr16(vip(i))),
            ServiceAttr::Port(80),
        ];
        let mut full = svc.clone();
        full.extend([
            ServiceAttr::SchedName("wlc".into()),
            ServiceAttr::Flags(SvcFlags { flags: 0, mask: !0 }),
            ServiceAttr::Timeout(0),
            ServiceAttr::Netmask([255; 4]),
        ]);
        let mut push = |cmd, attrs: &[CmdAttr]| {
            if chunks.last().is_some_and(|c| c.len() > 250 * 1024) {
                chunks.push(Vec::with_capacity(256 * 1024));
            }
            let c = chunks.last_mut().expect("a chunk");
            lvs::wire::push_request(c, family, 0, seq, cmd, attrs).expect("fits");
            seq += 1;
        };
        push(IPVS_CMD_NEW_SERVICE, &[CmdAttr::Service(full)]);
        for j in 0..w.dests {
            let d = vec![
                DestAttr::AddrFamily(AF_INET),
                DestAttr::Addr(addr16(rip(i, j, w.dests))),
                DestAttr::Port(8080),
                DestAttr::FwdMethod(IP_VS_CONN_F_MASQ),
                DestAttr::Weight(1),
                DestAttr::UThresh(0),
                DestAttr::LThresh(0),
            ];
            push(
                IPVS_CMD_NEW_DEST,
                &[CmdAttr::Service(svc.clone()), CmdAttr::Dest(d)],
            );
        }
    }
    let last = chunks.last_mut().expect("a chunk");
    let barrier = [
        &16u32.to_ne_bytes()[..],
        &NLMSG_NOOP.to_ne_bytes(),
        &(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes(),
        &0xffff_fff0u32.to_ne_bytes(),
        &0u32.to_ne_bytes(),
    ]
    .concat();
    last.extend_from_slice(&barrier);
    chunks
}

fn raw_socket_in(ns: &Netns) -> netlink_sys::Socket {
    let f = File::open(ns.path()).expect("netns");
    std::thread::scope(|s| {
        s.spawn(|| {
            rustix::thread::move_into_link_name_space(
                f.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            let mut sock = netlink_sys::Socket::new(NETLINK_GENERIC).expect("socket");
            sock.bind_auto().expect("bind");
            sock.connect(&netlink_sys::SocketAddr::new(0, 0))
                .expect("connect");
            let fd = sock.as_fd();
            let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(fd, 8 << 20);
            let _ = rustix::net::sockopt::set_socket_send_buffer_size_force(fd, 4 << 20);
            sock
        })
        .join()
        .expect("thread")
    })
}

fn floor(ns: &Netns, chunks: &[Vec<u8>]) -> (Duration, usize) {
    let sock = raw_socket_in(ns);
    let t = Instant::now();
    for c in chunks {
        sock.send(c, 0).expect("send");
    }
    let mut errors = 0;
    let mut buf = Vec::with_capacity(64 * 1024);
    'outer: loop {
        buf.clear();
        let n = sock.recv(&mut buf, 0).expect("recv");
        for m in lvs::wire::Messages::new(&buf[..n]).flatten() {
            if let Some(Ok(e)) = m.error() {
                if m.seq == 0xffff_fff0 {
                    break 'outer;
                }
                errors += usize::from(e.code != 0);
            }
        }
    }
    (t.elapsed(), errors)
}

fn ipvsadm_in(ns: &Netns, args: &str, stdin: Option<&str>) -> Duration {
    let t = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name, "ipvsadm"])
        .args(args.split_whitespace())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .spawn()
        .expect("ipvsadm");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write rules");
    }
    let st = child.wait().expect("wait");
    assert!(st.success(), "ipvsadm {args} failed");
    t.elapsed()
}

fn count_rules(ns: &Netns) -> usize {
    ns.ipvsadm("-Sn").lines().count()
}

/// Let the kernel finish tearing down the namespace just deleted (it frees
/// its destinations asynchronously, under the IPVS mutex) before the next
/// phase is timed.
fn settle(ops: usize) {
    std::thread::sleep(Duration::from_millis(1000 + ops as u64 / 20));
}

struct Row {
    what: String,
    time: Duration,
    note: String,
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn run(w: &Workload, rows: &mut Vec<Row>, summary: &mut Vec<String>) {
    let ops = ops(w);
    let n = ops.len();
    let expect_rules = n;
    let rules = restore_text(w);
    eprintln!(
        "workload {}: {} services x {} destinations = {n} creates",
        w.name, w.services, w.dests
    );

    // ipvsadm -R once (it is slow); then read that same table with
    // ipvsadm -Sn and with lvs, alternately, best of REPS each.
    let ns = Netns::new("bench-ipvsadm");
    let t_ipvsadm = ipvsadm_in(&ns, "-R", Some(&rules));
    assert_eq!(count_rules(&ns), expect_rules);
    let mut h = ns.handle();
    let mut hp = ns.handle();
    hp.set_read_threads(std::num::NonZeroUsize::new(READ_THREADS).expect("nonzero"));
    let (mut t_ipvsadm_read, mut t_read, mut t_read_par) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..REPS {
        t_ipvsadm_read = t_ipvsadm_read.min(ipvsadm_in(&ns, "-Sn", None));
        let t = Instant::now();
        let table = h.table().expect("table");
        t_read = t_read.min(t.elapsed());
        assert_eq!(table.len(), w.services as usize);
        let got: usize = table.iter().map(|t| t.destinations.len()).sum();
        assert_eq!(got, (w.services * w.dests) as usize);
        drop(table);
        let t = Instant::now();
        let par = hp.table().expect("parallel table");
        t_read_par = t_read_par.min(t.elapsed());
        assert_eq!(par, h.table().expect("table"), "parallel read differs");
    }
    drop(hp);
    let mem = table_read_memory(&ns);
    let t_ipvsadm_flush = ipvsadm_in(&ns, "-C", None);
    drop(h);
    drop(ns);

    settle(n);
    // lvs one at a time
    let ns = Netns::new("bench-single");
    let mut h = ns.handle();
    let t = Instant::now();
    for op in &ops {
        h.execute(op).expect("single op");
    }
    let t_single = t.elapsed();
    assert_eq!(count_rules(&ns), expect_rules);
    h.flush().expect("flush");
    drop(h);
    drop(ns);
    settle(n);

    // The floor and lvs batched, alternately, best of REPS each, each in
    // a fresh namespace; the last batched table is flushed by lvs.
    let (mut t_floor, mut t_batch, mut t_flush) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut chunks_n, mut sends) = (0, 0);
    for _ in 0..REPS {
        let ns = Netns::new("bench-floor");
        let mut h = ns.handle();
        let chunks = floor_requests(w, h.family_id());
        chunks_n = chunks.len();
        let (t, errors) = floor(&ns, &chunks);
        t_floor = t_floor.min(t);
        assert_eq!(errors, 0, "floor requests failed");
        assert_eq!(count_rules(&ns), expect_rules);
        h.flush().expect("flush");
        drop(h);
        drop(ns);
        settle(n);

        let ns = Netns::new("bench-batch");
        let mut h = ns.handle();
        let t = Instant::now();
        let r = h.apply(&ops);
        t_batch = t_batch.min(t.elapsed());
        assert!(r.is_ok(), "batch failed: {:?}", r.errors().next());
        sends = r.sends;
        drop(r);
        assert_eq!(count_rules(&ns), expect_rules);
        let t = Instant::now();
        h.flush().expect("flush");
        t_flush = t_flush.min(t.elapsed());
        drop(h);
        drop(ns);
        settle(n);
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let w_ = w.name;
    rows.push(Row {
        what: format!("{w_}: create, ipvsadm -R"),
        time: t_ipvsadm,
        note: "1.00x (baseline)".into(),
    });
    rows.push(Row {
        what: format!("{w_}: create, lvs one at a time"),
        time: t_single,
        note: format!("{:.1}x faster than ipvsadm -R", ratio(t_ipvsadm, t_single)),
    });
    rows.push(Row {
        what: format!("{w_}: create, lvs batched ({sends} datagrams)"),
        time: t_batch,
        note: format!(
            "{:.1}x faster than ipvsadm -R; {:.2}x the floor",
            ratio(t_ipvsadm, t_batch),
            ratio(t_batch, t_floor)
        ),
    });
    rows.push(Row {
        what: format!("{w_}: create, floor ({chunks_n} datagrams)"),
        time: t_floor,
        note: String::new(),
    });
    rows.push(Row {
        what: format!("{w_}: read all, ipvsadm -Sn"),
        time: t_ipvsadm_read,
        note: "1.00x".into(),
    });
    rows.push(Row {
        what: format!("{w_}: read all, lvs table()"),
        time: t_read,
        note: format!(
            "{:.1}x faster than ipvsadm -Sn; {mem}",
            ratio(t_ipvsadm_read, t_read)
        ),
    });
    rows.push(Row {
        what: format!("{w_}: read all, lvs table(), {READ_THREADS} threads"),
        time: t_read_par,
        note: format!(
            "{:.1}x faster than ipvsadm -Sn",
            ratio(t_ipvsadm_read, t_read_par)
        ),
    });
    rows.push(Row {
        what: format!("{w_}: flush, ipvsadm -C"),
        time: t_ipvsadm_flush,
        note: String::new(),
    });
    rows.push(Row {
        what: format!("{w_}: flush, lvs flush()"),
        time: t_flush,
        note: String::new(),
    });
    summary.push(format!(
        "{w_}: batched/floor {:.2}x (target <= 1.2), batched vs ipvsadm -R {:.1}x (target >= 40), \
         one-at-a-time vs ipvsadm -R {:.1}x (target >= 5), read vs ipvsadm -Sn {:.1}x \
         ({:.1}x on {READ_THREADS} threads) (target >= 5)",
        ratio(t_batch, t_floor),
        ratio(t_ipvsadm, t_batch),
        ratio(t_ipvsadm, t_single),
        ratio(t_ipvsadm_read, t_read),
        ratio(t_ipvsadm_read, t_read_par)
    ));
}

/// Peak memory of a whole-table read, measured in a child process (this
/// binary re-executed) so nothing else is on its heap.
fn table_read_memory(ns: &Netns) -> String {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .env("LVS_BENCH_TABLE_CHILD", ns.path())
        .output()
        .expect("child");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn vm_kib(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn table_child(path: &str) {
    let mut h = Handle::open_netns_path(path).expect("handle");
    let before = vm_kib("VmRSS:");
    let table = h.table().expect("table");
    let peak = vm_kib("VmHWM:");
    let decoded = decoded_bytes(&table);
    let extra = peak.saturating_sub(before) * 1024;
    println!(
        "peak RSS +{:.1} MiB for {:.1} MiB decoded ({:.2}x)",
        extra as f64 / 1048576.0,
        decoded as f64 / 1048576.0,
        extra as f64 / decoded as f64
    );
}

/// The reconcile workload's desired state: `SERVICES + extra` services x
/// `DESTS`, every 100th destination at weight 2 when `bump`, and the first
/// destination of the first service at weight `w0`.
fn reconcile_state(services: u32, dests: u32, bump: bool, w0: u32) -> lvs::reconcile::DesiredState {
    let mut d = lvs::reconcile::DesiredState::new();
    for i in 0..services {
        d.push(
            Service::new(ServiceKey::tcp(SocketAddr::new(IpAddr::V4(vip(i)), 80))),
            (0..dests).map(|j| {
                let n = i * dests + j;
                let w = if n == 0 {
                    w0
                } else if bump && n % 100 == 99 {
                    2
                } else {
                    1
                };
                Destination::new(SocketAddr::new(IpAddr::V4(rip(i, j, dests)), 8080)).with_weight(w)
            }),
        );
    }
    d
}

/// Reconcile 10,000 services x 10 destinations with full passes (from
/// empty, no change, 1 % of the destinations changed, one destination
/// changed, one service added), then the same changes with incremental
/// passes (`Policy::incremental`, 60 s verification period), all in one
/// namespace, beside `ipvsadm -R` fed the same change sets
/// (`Plan::to_ipvsadm_restore`) in another; then the incremental view's
/// memory and a 100,000 x 10 table, each in a child process.
fn reconcile_phase(rows: &mut Vec<Row>, summary: &mut Vec<String>) {
    use lvs::reconcile::{Policy, Reconciler};
    const SERVICES: u32 = 10_000;
    const DESTS: u32 = 10;
    eprintln!("reconcile: {SERVICES} services x {DESTS} destinations");
    let state =
        |extra: u32, bump: bool, w0: u32| reconcile_state(SERVICES + extra, DESTS, bump, w0);
    let ours = Netns::new("bench-rec");
    let theirs = Netns::new("bench-rec-adm");
    let mut ipvs = ours.handle();
    let mut full = Reconciler::new(Policy::default());
    let mut inc = Reconciler::new(Policy::default().with_incremental(Duration::from_secs(60)));
    let mut full_times: Vec<(&str, Duration)> = Vec::new();
    let steps: [(&str, bool, StateArgs); 11] = [
        ("from empty", false, (0, false, 1)),
        ("no change", false, (0, false, 1)),
        ("1% of destinations changed", false, (0, true, 1)),
        ("one destination changed", false, (0, true, 5)),
        ("one service added", false, (1, true, 5)),
        ("first pass (whole-table read)", true, (1, true, 5)),
        ("no change", true, (1, true, 5)),
        ("one destination changed", true, (1, true, 6)),
        ("one service added", true, (2, true, 6)),
        ("1% of destinations changed", true, (2, false, 6)),
        ("no change, again", true, (2, false, 6)),
    ];
    for (name, incremental, (extra, bump, w0)) in steps {
        let want = state(extra, bump, w0);
        let r = if incremental { &mut inc } else { &mut full };
        let t = Instant::now();
        let rep = r.reconcile(&mut ipvs, &want).expect("reconcile");
        let total = t.elapsed();
        assert!(rep.is_ok(), "reconcile failed:\n{rep}");
        let restore = rep.plan.to_ipvsadm_restore().expect("ipvsadm syntax");
        let adm = if restore.is_empty() {
            Duration::ZERO
        } else {
            ipvsadm_in(&theirs, "-R", Some(&restore))
        };
        let versus = if incremental {
            full_times
                .iter()
                .find(|(n, _)| name.starts_with(n))
                .map(|(_, t)| {
                    let x = t.as_secs_f64() / total.as_secs_f64();
                    format!("; {x:.0}x faster than the full pass")
                })
                .unwrap_or_default()
        } else {
            full_times.push((name, total));
            String::new()
        };
        let mode = if incremental { "incremental" } else { "full" };
        rows.push(Row {
            what: format!("reconcile 10k x 10, {mode}: {name}"),
            time: total,
            note: format!(
                "{} ops, {} whole read(s), {} service + {} destination dump(s) \
                 ({} read, {} plan, {} apply, {} verify; changes in the kernel after {}); \
                 ipvsadm -R of the same changes {}{versus}",
                rep.writes,
                rep.reads,
                rep.service_reads,
                rep.destination_reads,
                secs(rep.read_time),
                secs(rep.plan_time),
                secs(rep.apply_time),
                secs(rep.verify_time),
                secs(rep.read_time + rep.plan_time + rep.apply_time),
                secs(adm)
            ),
        });
        summary.push(format!(
            "reconcile ({mode}) {name}: {} ops sent in {} vs ipvsadm -R {}{versus}",
            rep.writes,
            secs(total),
            secs(adm)
        ));
    }
    assert_eq!(count_rules(&ours), count_rules(&theirs));
    drop(ipvs);
    drop(ours);
    drop(theirs);
    let view = child_report("LVS_BENCH_VIEW_CHILD", &format!("{SERVICES} {DESTS}"));
    summary.push(format!("incremental view, 10k x 10: {view}"));
}

/// Workload S: a 100,000 x 10 table (create, read, incremental passes,
/// peak memory), in a child process.
fn scale_phase(summary: &mut Vec<String>) {
    let big = child_report("LVS_BENCH_BIG_CHILD", "100000 10");
    summary.push(format!("100k x 10: {big}"));
}

/// (extra services, 1 % bumped, weight of the first destination).
type StateArgs = (u32, bool, u32);

/// Run this binary again with `var=arg` and return what it printed.
fn child_report(var: &str, arg: &str) -> String {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe).env(var, arg).output().expect("child");
    if !out.status.success() {
        eprintln!(
            "{var} child failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Bytes of a decoded table: entries and destination arrays (what
/// `table_child` counts).
fn decoded_bytes(table: &[lvs::TableEntry]) -> usize {
    std::mem::size_of_val(table)
        + table
            .iter()
            .map(|t| std::mem::size_of_val(t.destinations.as_slice()))
            .sum::<usize>()
}

/// `LVS_BENCH_VIEW_CHILD="services dests"`: build the table, then measure
/// the memory an incremental reconciler keeps after its first pass (its
/// view), against the decoded table's size.
fn view_child(arg: &str) {
    use lvs::reconcile::{Policy, Reconciler};
    let mut it = arg.split(' ').map(|n| n.parse::<u32>().expect("number"));
    let (services, dests) = (it.next().expect("services"), it.next().expect("dests"));
    let ns = Netns::new("bench-view");
    let mut h = ns.handle();
    let desired = reconcile_state(services, dests, false, 1);
    Reconciler::new(Policy::default())
        .reconcile(&mut h, &desired)
        .expect("build");
    let before = vm_kib("VmRSS:");
    let mut r = Reconciler::new(Policy::default().with_incremental(Duration::from_secs(60)));
    r.reconcile(&mut h, &desired).expect("first pass");
    let kept = vm_kib("VmRSS:").saturating_sub(before) * 1024;
    let decoded = decoded_bytes(&h.table().expect("table"));
    println!(
        "view keeps +{:.1} MiB RSS for {:.1} MiB decoded ({:.2}x; target < 2x)",
        kept as f64 / 1048576.0,
        decoded as f64 / 1048576.0,
        kept as f64 / decoded as f64
    );
}

/// `LVS_BENCH_BIG_CHILD="services dests"`: create the table in one batch,
/// read it whole, then an incremental reconciler's first pass and a
/// no-change pass; print the times and this process's peak RSS.
fn big_child(arg: &str) {
    use lvs::reconcile::{Policy, Reconciler};
    let mut it = arg.split(' ').map(|n| n.parse::<u32>().expect("number"));
    let (services, dests) = (it.next().expect("services"), it.next().expect("dests"));
    let ns = Netns::new("bench-big");
    let mut h = ns.handle();
    let w = Workload {
        name: "big",
        services,
        dests,
    };
    let all = ops(&w);
    let t = Instant::now();
    let res = h.apply(&all);
    let create = t.elapsed();
    assert!(res.is_ok(), "create failed");
    drop(all);
    let t = Instant::now();
    let table = h.table().expect("table");
    let read = t.elapsed();
    let decoded = decoded_bytes(&table);
    assert_eq!(table.len(), services as usize);
    drop(table);
    let desired = reconcile_state(services, dests, false, 1);
    let mut r = Reconciler::new(Policy::default().with_incremental(Duration::from_secs(60)));
    let t = Instant::now();
    let first = r.reconcile(&mut h, &desired).expect("first pass");
    let first_t = t.elapsed();
    assert_eq!(first.writes, 0, "{first}");
    let t = Instant::now();
    let again = r.reconcile(&mut h, &desired).expect("no-change pass");
    let again_t = t.elapsed();
    assert_eq!((again.reads, again.writes), (0, 0));
    println!(
        "create {} ({} ops in one batch), whole-table read {} ({:.1} MiB decoded), \
         incremental first pass {}, no-change pass {} ({} destination dumps); peak RSS {:.0} MiB",
        secs(create),
        services * (dests + 1),
        secs(read),
        decoded as f64 / 1048576.0,
        secs(first_t),
        secs(again_t),
        again.destination_reads,
        vm_kib("VmHWM:") as f64 / 1024.0
    );
}

/// `LVS_BENCH_PROFILE=A|B`: build the workload's table, then read it
/// with `lvs` and with `ipvsadm -Sn` under `perf record` (cpu-clock
/// samples of kernel and user stacks) and print where the time goes.
fn profile(w: &Workload) {
    let ns = Netns::new("bench-profile");
    let mut h = ns.handle();
    assert!(h.apply(&ops(w)).is_ok(), "batch failed");
    let me = std::process::id();
    // Where perf.data goes: a host directory the guest may write to
    // (LVS_VM_RWDIRS) keeps it for `perf report --kallsyms` on the host.
    let dir = std::env::var("LVS_BENCH_PROFILE_DIR").unwrap_or_else(|_| "/tmp".into());
    let _ = std::fs::copy("/proc/kallsyms", format!("{dir}/kallsyms"));
    let lvs_data = format!("{dir}/lvs.perf");
    let ipvsadm_data = format!("{dir}/ipvsadm.perf");
    let report = |data: &str| {
        support::sh(&format!(
            "perf report -i {data} --stdio --no-children --percent-limit 0.7 \
             --sort sym -g none 2>/dev/null | grep -v '^$' | head -70"
        ))
    };
    for rep in 0..2 {
        let t = Instant::now();
        h.table().expect("table");
        eprintln!("warm-up table() {rep}: {:?}", t.elapsed());
    }
    let _ = std::fs::remove_file("/dev/shm/lvs.perf.ctl");
    let _ = std::fs::remove_file("/dev/shm/lvs.perf.ack");
    support::sh("mkfifo /dev/shm/lvs.perf.ctl /dev/shm/lvs.perf.ack");
    let mut perf = Command::new("perf")
        .args(["record", "-F", "2000", "-g", "-o", &lvs_data, "-D", "-1"])
        .args([
            "--control",
            "fifo:/dev/shm/lvs.perf.ctl,/dev/shm/lvs.perf.ack",
            "-p",
        ])
        .arg(me.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("perf (apt install linux-perf)");
    let mut ctl = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/shm/lvs.perf.ctl")
        .expect("ctl");
    let mut ack = File::open("/dev/shm/lvs.perf.ack").expect("ack");
    ctl.write_all(b"enable\n").expect("enable");
    let mut a = [0u8; 5];
    let _ = std::io::Read::read(&mut ack, &mut a);
    let t = Instant::now();
    for _ in 0..3 {
        h.table().expect("table");
    }
    eprintln!("3 x table() under perf: {:?}", t.elapsed());
    ctl.write_all(b"disable\n").expect("disable");
    let _ = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status();
    let _ = perf.wait();
    println!(
        "=== lvs table(), workload {} ===\n{}",
        w.name,
        report(&lvs_data)
    );
    let t = Instant::now();
    let _ = ns.sh(&format!(
        "perf record -q -F 2000 -g -o {ipvsadm_data} -- ipvsadm -Sn > /dev/null"
    ));
    eprintln!("ipvsadm -Sn under perf: {:?}", t.elapsed());
    println!(
        "=== ipvsadm -Sn, workload {} ===\n{}",
        w.name,
        report(&ipvsadm_data)
    );
}

fn main() {
    if let Ok(path) = std::env::var("LVS_BENCH_TABLE_CHILD") {
        table_child(&path);
        return;
    }
    if let Ok(arg) = std::env::var("LVS_BENCH_VIEW_CHILD") {
        view_child(&arg);
        return;
    }
    if let Ok(arg) = std::env::var("LVS_BENCH_BIG_CHILD") {
        big_child(&arg);
        return;
    }
    if let Ok(which) = std::env::var("LVS_BENCH_PROFILE") {
        support::require_ipvs_kernel();
        let (services, dests) = if which == "A" {
            (2000, 4)
        } else {
            (10_000, 10)
        };
        profile(&Workload {
            name: if which == "A" { "A" } else { "B" },
            services,
            dests,
        });
        return;
    }
    // libtest-style arguments from `cargo bench` are ignored.
    support::require_ipvs_kernel();
    let only = std::env::var("LVS_BENCH_WORKLOADS").unwrap_or_else(|_| "ABRS".into());
    let mut rows = Vec::new();
    let mut summary = Vec::new();
    for w in [
        Workload {
            name: "A",
            services: 2000,
            dests: 4,
        },
        Workload {
            name: "B",
            services: 10_000,
            dests: 10,
        },
    ] {
        if only.contains(w.name) {
            run(&w, &mut rows, &mut summary);
        }
    }
    if only.contains('R') {
        reconcile_phase(&mut rows, &mut summary);
    }
    if only.contains('S') {
        scale_phase(&mut summary);
    }
    let kernel = support::sh("uname -r");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|m| m.trim().to_string())
        .unwrap_or_default();
    println!(
        "\nCPU as the kernel sees it: {cpu}; best of {REPS} for lvs, the floor and ipvsadm -Sn"
    );
    println!(
        "\nIPVS kernel benchmark, kernel {} ({} CPUs)",
        kernel.trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:<48} {:>10}  ratio", "phase", "time");
    for r in &rows {
        println!("{:<48} {:>10}  {}", r.what, secs(r.time), r.note);
    }
    println!();
    for s in &summary {
        println!("{s}");
    }
}
