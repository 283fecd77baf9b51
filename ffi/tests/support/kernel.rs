//! What the C API kernel test binaries (`kernel_c*.rs`) share: the
//! kernel lock, network namespaces, and the two C workloads (kernel_test.c
//! and the examples) run plainly, under sanitizers or under valgrind.
//! Each binary is one guest boot: the plain and sanitizer runs share one
//! (`kernel_c.rs`), the slow valgrind run gets its own guest and its own
//! time budget on a busy host (`kernel_c_valgrind.rs`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::support::*;

/// IPVS keeps the services of every network namespace in one table, and a
/// multi-part service dump resumes by an index into it (Linux 6.1,
/// `ip_vs_genl_dump_services`): services added or removed in *any*
/// namespace while a dump is under way can make it skip or repeat entries.
/// kernel_test.c checks exact counts of large dumps, so each run of it has
/// the kernel to itself (write lock); the other tests, whose dumps fit one
/// datagram, share it (read lock).
static KERNEL: RwLock<()> = RwLock::new(());

/// Share the kernel with other tests; fail (never skip) without IPVS.
pub fn kernel() -> RwLockReadGuard<'static, ()> {
    let guard = KERNEL.read().unwrap_or_else(|p| p.into_inner());
    require_ipvs_kernel();
    guard
}

/// Have the kernel to this test alone; fail (never skip) without IPVS.
pub fn kernel_alone() -> RwLockWriteGuard<'static, ()> {
    let guard = KERNEL.write().unwrap_or_else(|p| p.into_inner());
    require_ipvs_kernel();
    guard
}

/// Fail (never skip) when this process cannot reach an IPVS kernel.
pub fn require_ipvs_kernel() {
    ECHO_OUTPUT.store(true, Ordering::Relaxed);
    let have = |cmd: &str| {
        Command::new("sh")
            .args(["-c", cmd])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let ipvs = have("test -e /proc/net/ip_vs || { modprobe -q ip_vs && test -e /proc/net/ip_vs; }");
    let root = have("test \"$(id -u)\" = 0");
    assert!(
        ipvs && root,
        "these tests need root in a kernel with IPVS ({}). Run them through `cargo test`, \
         whose runner (.cargo/ipvs-runner) boots a Debian kernel with IPVS under QEMU; \
         prerequisites: `.cargo/ipvs-runner --install-prerequisites` as root",
        if root {
            "this kernel has no IPVS"
        } else {
            "not root"
        }
    );
    // The kernel's on-demand load of a scheduler module can deadlock
    // against a namespace teardown (lvs::kmod): load them all first.
    static PRELOAD: std::sync::Once = std::sync::Once::new();
    PRELOAD.call_once(|| {
        let all = lvs::kmod::shipped_scheduler_modules().unwrap_or_else(|e| panic!("{e}"));
        lvs::kmod::ensure_loaded(&all).unwrap_or_else(|e| panic!("{e}"));
    });
}

pub fn sh(cmd: &str) -> String {
    run_ok(Command::new("sh").args(["-c", cmd]), cmd)
}

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace with `lo` up, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = NEXT_NS.fetch_add(1, Ordering::SeqCst);
        let name = format!("cffi-{tag}-{}-{n}", std::process::id());
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        Netns { name }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Remove the services now: the kernel tears a deleted namespace
        // down later, in the background, where it could disturb the next
        // test's dumps (see KERNEL).
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.name, "ipvsadm", "-C"])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The C programs, built once per run (or on the host beforehand).
pub fn programs() -> &'static Programs {
    static PROGRAMS: OnceLock<Programs> = OnceLock::new();
    PROGRAMS.get_or_init(crate::support::programs)
}

/// How a C program is run.
#[derive(Clone, Copy)]
pub enum Under {
    Plain,
    Sanitizers,
    Valgrind,
}

/// `ip netns exec <ns>` the program, under `how`.
pub fn command(ns: Option<&Netns>, how: Under, name: &str) -> Command {
    let p = programs();
    let (bin, wrap): (PathBuf, Vec<String>) = match how {
        Under::Plain => (p.get(Flavor::Plain, name), vec![]),
        Under::Sanitizers => (p.get(Flavor::Sanitized, name), vec![]),
        Under::Valgrind => {
            let vg = valgrind();
            let mut w = vec![vg.get_program().to_string_lossy().into_owned()];
            w.extend(vg.get_args().map(|a| a.to_string_lossy().into_owned()));
            (p.get(Flavor::Plain, name), w)
        }
    };
    let mut argv: Vec<String> = Vec::new();
    if let Some(ns) = ns {
        argv.extend(["ip".into(), "netns".into(), "exec".into(), ns.name.clone()]);
    }
    argv.extend(wrap);
    argv.push(bin.display().to_string());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    sanitizer_env(&mut cmd);
    if let Under::Valgrind = how {
        // kernel_test.c runs its heavy parts smaller under valgrind.
        cmd.env("LVS_TEST_UNDER_VALGRIND", "1");
    }
    cmd
}

/// kernel_test.c in namespace A (with a dummy link for the traffic tests
/// and a veth pair for the sync daemons) and B.
pub fn kernel_test(how: Under) {
    let _kernel = kernel_alone();
    let (a, b) = (Netns::new("a"), Netns::new("b"));
    sh(&format!(
        "ip -n {a} link add dummy0 type dummy && ip -n {a} addr add 10.99.0.254/24 dev dummy0 \
         && ip -n {a} link set dummy0 up \
         && ip -n {a} link add lvsync0 type veth peer name lvsync1 \
         && ip -n {a} addr add 10.98.0.1/24 dev lvsync0 \
         && ip -n {a} addr add 10.98.0.2/24 dev lvsync1 \
         && ip -n {a} link set lvsync0 up && ip -n {a} link set lvsync1 up",
        a = a.name
    ));
    let started = std::time::Instant::now();
    let out = run_ok(
        command(Some(&a), how, "kernel_test").arg(b.path()),
        "kernel_test",
    );
    assert_summary(&out, "kernel_test", 1500);
    let notes: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("kernel_test"))
        .collect();
    eprintln!(
        "{}\nkernel_test ran in {:.1?}",
        notes.join("\n"),
        started.elapsed()
    );
}

/// The examples do what they say, with clean sanitizer and valgrind runs.
/// (`examples/reconcile` is checked against `ipvsadm -Ln` too.)
pub fn examples(how: Under) {
    let _kernel = kernel();
    let started = std::time::Instant::now();
    // Four independent groups, each in namespaces of its own, side by
    // side: under valgrind each program start costs tens of seconds in
    // the emulated guest, and the guest has 2 CPUs.
    std::thread::scope(|scope| {
        for group in [
            example_create_service_and_watch_stats,
            example_quickstart,
            example_reconcile,
            example_quickstart_reconcile,
        ] {
            scope.spawn(move || group(how));
        }
    });
    eprintln!("the examples ran in {:.1?}", started.elapsed());
}

/// examples/create_service (twice: the second run fails) and
/// examples/watch_stats.
fn example_create_service_and_watch_stats(how: Under) {
    let ns = Netns::new("ex");
    let out = run_ok(
        command(None, how, "create_service").arg(ns.path()),
        "examples/create_service",
    );
    assert!(out.contains("TCP 10.0.0.1:80 (rr)"), "{out}");
    assert!(out.contains("-> 192.168.1.3:8080 weight 1"), "{out}");
    assert!(out.contains("-> 192.168.1.2:8080 weight 1"), "{out}");
    let listed = sh(&format!("ip netns exec {} ipvsadm -Ln", ns.name));
    for want in [
        "TCP  10.0.0.1:80 rr",
        "-> 192.168.1.2:8080",
        "-> 192.168.1.3:8080",
    ] {
        assert!(
            listed.contains(want),
            "ipvsadm -Ln lacks {want:?}:\n{listed}"
        );
    }
    // Again: the service exists now, and the example says so and fails.
    let again = run(command(None, how, "create_service").arg(ns.path()));
    assert_eq!(again.status.code(), Some(1), "{}", output_text(&again));
    assert!(
        output_text(&again).contains("already exists"),
        "{}",
        output_text(&again)
    );

    let out = run_ok(
        command(Some(&ns), how, "watch_stats").args(["-n", "2", "-i", "100"]),
        "examples/watch_stats",
    );
    assert!(out.contains("--- round 2: 1 services"), "{out}");
    assert!(out.contains("TCP 10.0.0.1:80"), "{out}");
    assert!(out.contains("  -> 192.168.1.2:8080"), "{out}");
    assert!(out.contains("active 0 inactive 0 persistent 0"), "{out}");
}

/// The README's example.
fn example_quickstart(how: Under) {
    // The README's example, in its own namespace (it uses the current one).
    let ns = Netns::new("quick");
    let out = run_ok(
        &mut command(Some(&ns), how, "quickstart"),
        "examples/quickstart",
    );
    assert_eq!(out.trim(), "success", "{out}");
    let listed = sh(&format!("ip netns exec {} ipvsadm -Ln", ns.name));
    assert_eq!(listed.matches("Masq    1").count(), 2, "{listed}");
}

/// examples/reconcile.
fn example_reconcile(how: Under) {
    // examples/reconcile: a JSON state, owning 10.0.0.0/8 only, beside
    // someone else's service.
    let ns = Netns::new("rec");
    sh(&format!(
        "ip netns exec {} ipvsadm -A -t 192.0.2.1:80 -s wlc",
        ns.name
    ));
    let scratch = Scratch::new("reconcile-json");
    let state = |name: &str, weight: u32| {
        let path = scratch.dir.join(name);
        let json = format!(
            r#"{{ "services": [
                  {{ "key": {{ "addr": {{ "protocol": "tcp", "addr": "10.0.0.1:80" }} }},
                     "scheduler": "rr",
                     "destinations": [ {{ "addr": "192.168.1.2:8080", "weight": {weight} }},
                                       {{ "addr": "192.168.1.3:8080" }} ] }} ] }}"#
        );
        std::fs::write(&path, json).expect("write the JSON state");
        path
    };
    let reconcile = |args: &[&std::ffi::OsStr]| {
        let mut cmd = command(Some(&ns), how, "reconcile");
        cmd.args(args);
        cmd
    };
    let first = state("state.json", 3);
    let out = run_ok(
        &mut reconcile(&[first.as_os_str(), "10.0.0.0/8".as_ref()]),
        "examples/reconcile",
    );
    for want in [
        "+ service TCP 10.0.0.1:80 rr\n",
        "+ dest TCP 10.0.0.1:80 -> 192.168.1.2:8080 masq weight 3\n",
        "+ dest TCP 10.0.0.1:80 -> 192.168.1.3:8080 masq weight 1\n",
        "# 1 service(s) outside the scope left alone\n",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
    let listed = sh(&format!("ip netns exec {} ipvsadm -Ln", ns.name));
    for want in [
        "TCP  10.0.0.1:80 rr",
        "TCP  192.0.2.1:80 wlc",
        "Masq    3",
        "Masq    1",
    ] {
        assert!(
            listed.contains(want),
            "ipvsadm -Ln lacks {want:?}:\n{listed}"
        );
    }
    // Again: nothing to do.
    let out = run_ok(
        &mut reconcile(&[first.as_os_str(), "10.0.0.0/8".as_ref()]),
        "examples/reconcile again",
    );
    assert!(out.contains("# no changes\n"), "{out}");
    // A dry run of a weight change prints the plan and ipvsadm -R input,
    // and changes nothing.
    let second = state("state2.json", 5);
    let out = run_ok(
        &mut reconcile(&["-n".as_ref(), second.as_os_str(), "10.0.0.0/8".as_ref()]),
        "examples/reconcile -n",
    );
    assert!(
        out.contains("~ dest TCP 10.0.0.1:80 -> 192.168.1.2:8080 weight 3 -> 5\n")
            && out.contains("-e -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 5\n"),
        "{out}"
    );
    let listed = sh(&format!("ip netns exec {} ipvsadm -Ln", ns.name));
    assert!(listed.contains("Masq    3"), "{listed}");
    // Malformed JSON: the error names the line and column.
    let bad = scratch.dir.join("bad.json");
    std::fs::write(&bad, "{ \"services\": [ }").expect("write bad JSON");
    let o = run(&mut reconcile(&[bad.as_os_str()]));
    let text = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("invalid JSON") && text.contains("line 1 column"),
        "{text}"
    );
}

/// The README's reconciler example.
fn example_quickstart_reconcile(how: Under) {
    // The README's reconciler example, in its own namespace, twice.
    let ns = Netns::new("quickrec");
    let out = run_ok(
        &mut command(Some(&ns), how, "quickstart_reconcile"),
        "examples/quickstart_reconcile",
    );
    assert!(
        out.starts_with("success: + service TCP 10.0.0.1:80 rr\n")
            && out.contains("+ dest TCP 10.0.0.1:80 -> 192.168.1.2:8080 masq weight 3\n"),
        "{out}"
    );
    let listed = sh(&format!("ip netns exec {} ipvsadm -Ln", ns.name));
    assert!(
        listed.contains("TCP  10.0.0.1:80 rr") && listed.contains("Masq    3"),
        "{listed}"
    );
    let out = run_ok(
        &mut command(Some(&ns), how, "quickstart_reconcile"),
        "examples/quickstart_reconcile again",
    );
    assert_eq!(out, "success: # no changes\n");
}
