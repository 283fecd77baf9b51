//! `lvsadm` against ipvsadm 1.31 in a real IPVS kernel, byte for byte.
//!
//! For every rule set of the battery in the root crate's
//! `tests/fixtures/rules/` (the one `tests/kernel_rules.rs` uses):
//!
//! (a) `ipvsadm -R` restores it; every listing and save mode of `lvsadm`
//!     (run in-process on a handle of that namespace) prints what
//!     `ipvsadm` prints there, with the same exit status;
//! (b) `lvsadm -R` restores it in another namespace; `ipvsadm -Sn` and
//!     the `-Ln` modes there print what they print after ipvsadm's own
//!     restore;
//! (c) error cases (bad address, unknown scheduler, missing service or
//!     server, duplicates, usage errors) give ipvsadm's exit status, and
//!     its message where `lvsadm` claims to match it;
//! (d) with live state (connections and a persistence template, counters
//!     after traffic, `-Z`, a sync daemon), `-c`, `--stats`, `--rate` and
//!     `--daemon` print as ipvsadm prints them.
//!
//! ipvsadm runs once per namespace and rule set (one `sh -c` printing all
//! modes between separators); lvsadm runs in-process.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;

use support::*;

/// The listing and save modes compared in (a).
const MODES: &[&str] = &[
    "-L",
    "-Ln",
    "-l -n",
    "-Ln --stats",
    "-Ln --stats --exact",
    "-Ln --rate",
    "-Ln --thresholds",
    "-Ln --persistent-conn",
    "-Ln --tun-info",
    "-Ln --nosort",
    "-L --sort -n",
    "-L --stats",
    "-S",
    "-Sn",
    "-S -n",
    "-L --timeout",
    "-L --daemon",
    "-Lnc",
];

/// The modes compared in (b): the kernel's state, printed by ipvsadm.
const IPVSADM_MODES: &[&str] = &[
    "-Sn",
    "-Ln",
    "-Ln --thresholds",
    "-Ln --tun-info",
    "-Ln --persistent-conn",
];

fn battery() -> Vec<(String, String)> {
    rule_battery(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/rules"
    )))
}

/// `ipvsadm ARGS` for each of `modes` in one shell: the sections of
/// stdout+stderr and the status, in order.
fn ipvsadm_batch(ns: &Netns, modes: &[String]) -> Vec<(String, i32)> {
    let mut script = String::new();
    for m in modes {
        let _ = writeln!(
            script,
            "echo '@@@ begin'; ipvsadm {m} </dev/null 2>&1; echo \"@@@ status $?\""
        );
    }
    let text = ns.sh(&script);
    let mut out = Vec::new();
    for part in text.split("@@@ begin\n").skip(1) {
        let (body, status) = part
            .rsplit_once("@@@ status ")
            .expect("a status line ends each section");
        out.push((body.to_owned(), status.trim().parse().expect("status")));
    }
    assert_eq!(out.len(), modes.len(), "one section per mode:\n{text}");
    out
}

/// `lvsadm ARGS` in-process on `h` (argv[0] `ipvsadm`, so that messages
/// naming the program compare): stdout+stderr and the status.
fn lvsadm(h: &mut lvs::Handle, args: &str, stdin: &str) -> (String, i32) {
    let mut argv = vec!["ipvsadm"];
    argv.extend(args.split_whitespace());
    let o = lvsadm::run_with(h, &argv, &mut stdin.as_bytes());
    (o.stdout + &o.stderr, o.status)
}

#[test]
fn lvsadm_prints_and_restores_as_ipvsadm() {
    require_ipvs_kernel();
    let sets = battery();
    assert!(sets.len() >= 8, "{} rule sets", sets.len());
    let (mut compared, mut restored) = (0, 0);
    let mut failures: Vec<String> = Vec::new();
    for (name, text) in &sets {
        // (a) ipvsadm restores; lvsadm lists.
        let a = Netns::new("la");
        a.ipvsadm_restore(text);
        let mut h = a.handle();
        let mut modes: Vec<String> = MODES.iter().map(|m| m.to_string()).collect();
        // One service at a time, for the first few services.
        for e in h.table().expect("read").iter().take(3) {
            let k = format!("{:#}", e.key().ipvsadm());
            modes.push(format!("-Ln {k}"));
            modes.push(format!("-L {k} --tun-info -n"));
            modes.push(format!("-L --stats {k}"));
        }
        let reference = ipvsadm_batch(&a, &modes);
        for (m, want) in modes.iter().zip(&reference) {
            let got = lvsadm(&mut h, m, "");
            if &got != want {
                failures.push(format!("{name}: lvsadm {m}\n got: {got:?}\nwant: {want:?}"));
            }
            compared += 1;
        }
        mark(name, &format!("(a) {} modes equal", modes.len()));

        // (b) lvsadm restores; ipvsadm lists the same.
        let b = Netns::new("lb");
        let mut hb = b.handle();
        let (out, status) = lvsadm(&mut hb, "-R", text);
        assert_eq!((out.as_str(), status), ("", 0), "{name}: lvsadm -R");
        let ipv: Vec<String> = IPVSADM_MODES.iter().map(|m| m.to_string()).collect();
        let after_lvsadm = ipvsadm_batch(&b, &ipv);
        for (i, m) in ipv.iter().enumerate() {
            let want = MODES.iter().position(|x| x == m).map(|j| &reference[j]);
            let want = match want {
                Some(w) => w.clone(),
                None => ipvsadm_batch(&a, std::slice::from_ref(m)).remove(0),
            };
            assert_eq!(after_lvsadm[i], want, "{name}: ipvsadm {m} after lvsadm -R");
            restored += 1;
        }
        mark(name, "(b) ipvsadm sees lvsadm's restore");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    mark(
        "lvsadm",
        &format!("{compared} listings and {restored} restores equal"),
    );
}

/// (args, stdin for -R, whether lvsadm prints ipvsadm's message).
const ERRORS: &[(&str, &str, bool)] = &[
    ("-A -t 10.0.0.1:80", "", true),
    ("-a -t 10.0.0.1:80 -r 10.1.1.1:80 -m", "", true),
    ("-a -t 10.0.0.9:80 -r 10.1.1.1:80 -m", "", true),
    ("-e -t 10.0.0.9:80 -r 10.1.1.1:80 -m", "", true),
    ("-D -t 10.0.0.9:80", "", true),
    ("-E -t 10.0.0.9:80", "", true),
    ("-d -t 10.0.0.1:80 -r 10.1.1.9:80", "", true),
    ("-e -t 10.0.0.1:80 -r 10.1.1.9:80 -m", "", true),
    ("-A -t 10.0.0.2:80 -s nosuch", "", true),
    ("-L -t 10.0.0.9:80", "", true),
    ("-Ln -f 77", "", true),
    ("-Z -t 10.0.0.9:80", "", true),
    ("-A -t 10.0.0.300:80", "", false),
    ("-A -t 10.0.0.2:http2x", "", false),
    ("-A -t 10.0.0.2:80 -p 0", "", false),
    ("-A -t 10.0.0.2:0", "", false),
    ("-A -t 10.0.0.2:80 -n", "", true),
    ("-A -u 10.0.0.2:53 -w 3", "", true),
    ("-A -t 10.0.0.2:80 -s rr -s wlc", "", true),
    ("-a -t 10.0.0.1:80", "", true),
    ("-L -A", "", true),
    ("-L --foo", "", true),
    ("-n -L", "", true),
    ("-L x", "", true),
    ("-L -c --stats", "", true),
    ("-L --timeout --persistent-conn", "", true),
    ("--set 1 2", "", true),
    ("--set 1 2 x", "", true),
    ("-S -c", "", true),
    ("-Z -n", "", true),
    ("-C -t 10.0.0.1:80", "", true),
    ("-L -t", "", true),
    ("--start-daemon foo", "", true),
    ("--stop-daemon master", "", true),
    ("-R", "-A -t 10.0.0.1:80\n", true),
    ("-R", "-A -t 10.0.0.3:80\n-A -t 10.0.0.300:80\n", false),
];

#[test]
fn errors_exit_as_ipvsadm() {
    require_ipvs_kernel();
    let setup = "ipvsadm -A -t 10.0.0.1:80 -s rr && ipvsadm -a -t 10.0.0.1:80 -r 10.1.1.1:80 -m";
    let (a, b) = (Netns::new("le"), Netns::new("le"));
    a.sh(setup);
    b.sh(setup);
    // ipvsadm, all cases in one shell (each -R gets its own input).
    let mut script = String::new();
    for (args, input, _) in ERRORS {
        let feed = if input.is_empty() {
            "</dev/null".to_owned()
        } else {
            format!("<<'EOF'\n{input}EOF\n")
        };
        let _ = writeln!(
            script,
            "echo '@@@ begin'; ipvsadm {args} 2>&1 {feed}\necho \"@@@ status $?\""
        );
    }
    let text = a.sh(&script);
    let reference: Vec<(String, i32)> = text
        .split("@@@ begin\n")
        .skip(1)
        .map(|part| {
            let (body, status) = part.rsplit_once("@@@ status ").expect("status line");
            (body.to_owned(), status.trim().parse().expect("status"))
        })
        .collect();
    assert_eq!(reference.len(), ERRORS.len(), "{text}");
    let mut h = b.handle();
    let mut same_message = 0;
    let mut failures: Vec<String> = Vec::new();
    for ((args, input, msg), (want, status)) in ERRORS.iter().zip(&reference) {
        let (got, got_status) = lvsadm(&mut h, args, input);
        if got_status != *status || (*msg && &got != want) {
            failures.push(format!(
                "{args}: lvsadm {got_status} {got:?}, ipvsadm {status} {want:?}"
            ));
        } else if *msg {
            same_message += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cases changed nothing (both namespaces still hold the setup).
    assert_eq!(b.ipvsadm("-Sn"), a.ipvsadm("-Sn"));
    mark(
        "errors",
        &format!(
            "{} cases: same status; {same_message} with ipvsadm's message",
            ERRORS.len()
        ),
    );
}

/// `lvsadm diff FILE` prints the changes `apply` makes; `apply` drains a
/// removed server (weight 0) and a second `apply` removes it once idle,
/// leaving what `ipvsadm -R` of the file makes in an empty namespace.
#[test]
fn diff_and_apply_reach_the_file() {
    require_ipvs_kernel();
    let (a, fresh) = (Netns::new("ld"), Netns::new("ld"));
    a.sh("ipvsadm -A -t 10.0.0.1:80 -s rr && \
         ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m && \
         ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.3:80 -m && \
         ipvsadm -A -u 10.0.0.9:53 -s rr");
    let want = "\
-A -t 10.0.0.1:80 -s wrr
-a -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 5
-a -t 10.0.0.1:80 -r 192.168.1.4:80 -m -w 1
-A -f 7 -s rr
";
    let path = format!("/tmp/lvsadm-apply-{}.txt", std::process::id());
    std::fs::write(&path, want).expect("write the rule file");
    let mut h = a.handle();
    let run = |h: &mut lvs::Handle, verb: &str| {
        let o = lvsadm::run_with(h, &["lvsadm", verb, path.as_str()], &mut std::io::empty());
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (0, ""),
            "lvsadm {verb}: {o:?}"
        );
        o.stdout
    };
    let diff = run(&mut h, "diff");
    for line in [
        "-E -t 10.0.0.1:80 -s wrr",
        "-a -t 10.0.0.1:80 -r 192.168.1.4:80 -m -w 1",
        "-e -t 10.0.0.1:80 -r 192.168.1.3:80 -m -w 5",
        "-e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 0",
        "-D -u 10.0.0.9:53",
        "-A -f 7 -s rr",
    ] {
        assert!(diff.contains(line), "diff lacks {line:?}:\n{diff}");
    }
    assert_eq!(run(&mut h, "apply"), diff, "apply does what diff said");
    // The removed server drains at weight 0; idle, the next apply removes it.
    assert!(a.ipvsadm("-Sn").contains("-r 192.168.1.2:80 -m -w 0"));
    assert!(run(&mut h, "diff").contains("-d -t 10.0.0.1:80 -r 192.168.1.2:80"));
    run(&mut h, "apply");
    assert_eq!(run(&mut h, "diff"), "", "nothing left to change");
    fresh.ipvsadm_restore(want);
    assert_eq!(a.ipvsadm("-Sn"), fresh.ipvsadm("-Sn"));
    let _ = std::fs::remove_file(&path);
    mark("diff/apply", "the table matches the file");
}

/// Live state: connection entries and a persistence template (`-c`),
/// counters and rates after traffic, `-Z` of one service, and a running
/// sync daemon print as ipvsadm prints them.
#[test]
fn live_connections_counters_and_daemons_as_ipvsadm() {
    require_ipvs_kernel();
    const T: &str = "live";
    let a = Netns::new("lv");
    a.sh("ip link set lo up && ip addr add 10.0.0.5/32 dev lo && \
          ip addr add 10.0.0.6/32 dev lo && \
          ip link add lvsync0 type dummy && ip link set lvsync0 multicast on up && \
          ipvsadm -A -u 10.0.0.5:53 -s rr && \
          ipvsadm -a -u 10.0.0.5:53 -r 10.0.0.6:5353 -m && \
          ipvsadm -A -u 10.0.0.5:54 -s rr -p 120 && \
          ipvsadm -a -u 10.0.0.5:54 -r 10.0.0.6:5354 -m && \
          ipvsadm --set 0 0 3600");
    // Local clients: IPVS schedules them on the way out (each socket's
    // own port is a connection of its own).
    a.run(|| {
        for port in [53, 54] {
            for _ in 0..3 {
                let s = std::net::UdpSocket::bind("10.0.0.5:0").expect("bind");
                s.send_to(b"hi", ("10.0.0.5", port)).expect("send");
            }
        }
    });
    let mut h = a.handle();
    h.set_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("set the timeout");
    let entries = h.connections().expect("read the connection table");
    assert!(
        entries.len() >= 7,
        "6 connections and a template: {entries:?}"
    );

    // The expiry column and the rates move while both run: compare until
    // one round agrees with ipvsadm before or after lvsadm (for `-c`, the
    // same lines with each expiry between the two).
    let modes: Vec<String> = [
        "-Lnc",
        "-Lc",
        "-Ln --stats",
        "-Ln --stats --exact",
        "-Ln --rate",
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    let mut left: Vec<String> = modes.clone();
    for round in 0..5 {
        let before = ipvsadm_batch(&a, &left);
        let got: Vec<(String, i32)> = left.iter().map(|m| lvsadm(&mut h, m, "")).collect();
        let after = ipvsadm_batch(&a, &left);
        let mut still = Vec::new();
        for (i, m) in left.iter().enumerate() {
            if got[i] != before[i]
                && got[i] != after[i]
                && !expiry_between(&got[i], &before[i], &after[i])
            {
                still.push((m.clone(), got[i].clone(), after[i].clone()));
            }
        }
        if still.is_empty() {
            left.clear();
            break;
        }
        mark(T, &format!("round {round}: {still:#?}"));
        if round == 4 {
            panic!("lvsadm vs ipvsadm with live entries: {still:#?}");
        }
        left = still.into_iter().map(|(m, _, _)| m).collect();
    }
    assert!(left.is_empty());
    let listing = lvsadm(&mut h, "-Lnc", "").0;
    assert!(
        listing.contains("10.0.0.6:5353") && listing.contains("10.0.0.6:5354"),
        "{listing}"
    );
    mark(
        T,
        &format!("{} modes equal with {} entries", modes.len(), entries.len()),
    );

    // -Z of one service zeroes its counters and no other's.
    let conns = |h: &mut lvs::Handle, port: u16| {
        let key = lvs::ServiceKey::udp(([10, 0, 0, 5], port));
        h.service(&key).expect("read the service").stats.conns
    };
    let other = conns(&mut h, 54);
    assert_eq!(conns(&mut h, 53), 3);
    assert!(other > 0);
    assert_eq!(lvsadm(&mut h, "-Z -u 10.0.0.5:53", ""), (String::new(), 0));
    assert_eq!((conns(&mut h, 53), conns(&mut h, 54)), (0, other));
    let stats = a.ipvsadm("-Ln --stats --exact -u 10.0.0.5:53");
    assert_eq!(
        stats,
        lvsadm(&mut h, "-Ln --stats --exact -u 10.0.0.5:53", "").0
    );

    // A sync daemon started and stopped by lvsadm, listed by both.
    let start = "--start-daemon master --mcast-interface lvsync0 --syncid 5";
    assert_eq!(lvsadm(&mut h, start, ""), (String::new(), 0));
    let daemons = a.ipvsadm("-L --daemon");
    assert!(daemons.contains("master sync daemon"), "{daemons}");
    assert_eq!(lvsadm(&mut h, "-L --daemon", ""), (daemons, 0));
    assert_eq!(
        lvsadm(&mut h, "--stop-daemon master", ""),
        (String::new(), 0)
    );
    assert_eq!(a.ipvsadm("-L --daemon"), "");
    mark(T, "-Z and the daemon agree");
}

/// `-c` listings: `got` is `before` and `after` (ipvsadm's, run just
/// before and after it) line for line but for the expiry column (mm:ss),
/// and each of its expiries lies between theirs.
fn expiry_between(got: &(String, i32), before: &(String, i32), after: &(String, i32)) -> bool {
    fn split(line: &str) -> Option<(String, u32)> {
        let start = line.find(' ')? + 1;
        let end = start + line[start..].find(' ')?;
        let (m, s) = line[start..end].split_once(':')?;
        let secs = m.parse::<u32>().ok()? * 60 + s.parse::<u32>().ok()?;
        Some((format!("{}{}", &line[..start], &line[end..]), secs))
    }
    let lines = |t: &str| t.lines().map(str::to_owned).collect::<Vec<_>>();
    let (g, b, a) = (lines(&got.0), lines(&before.0), lines(&after.0));
    if got.1 != before.1 || g.len() != b.len() || g.len() != a.len() || g.len() < 3 {
        return false;
    }
    g[..2] == b[..2]
        && g[..2] == a[..2]
        && (2..g.len()).all(|i| match (split(&g[i]), split(&b[i]), split(&a[i])) {
            (Some((gl, gs)), Some((bl, bs)), Some((al, as_))) => {
                gl == bl && gl == al && as_ <= gs && gs <= bs
            }
            _ => false,
        })
}
