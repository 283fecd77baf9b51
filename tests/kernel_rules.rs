//! Kernel tests of `lvs::rules` against ipvsadm 1.31, byte for byte.
//!
//! For each rule set of a battery (IPv4, IPv6, firewall marks v4/v6, UDP,
//! SCTP, every forwarding method and tunnel option, persistence with
//! netmasks, every scheduler and flag, the sip persistence engine,
//! one-packet scheduling, thresholds, edits and deletes, many services
//! sharing hash buckets):
//!
//! 1. `ipvsadm -R` restores it in one namespace; `lvs::rules::save` of the
//!    table `lvs` reads there equals `ipvsadm -Sn` (and `-S`) byte for byte;
//! 2. `lvs` applies the parsed rules (one `Handle::apply` batch) in a second
//!    namespace; `ipvsadm -Sn` and `ipvsadm -Ln --thresholds` there equal
//!    the first namespace's, and so does each service's destination order
//!    read by `lvs`;
//! 3. `ipvsadm -R` of the lossless text of the first table
//!    (`Rules::from_table`) re-creates it: thresholds included, in the
//!    same list order (services and destinations) in the same namespace
//!    after `ipvsadm -C`, and with the same destination order in another
//!    namespace (the kernel's service hash mixes in a per-namespace
//!    pointer, so service list order is per namespace).
//!
//! Every test runs against a real IPVS kernel (the cargo runner boots a
//! Debian kernel under QEMU when the host has none); a test that cannot
//! reach IPVS fails.

mod support;

use std::fmt::Write as _;

use lvs::rules::{Rules, save};
use lvs::*;
use support::*;

/// What a table holds, without counters: services with their
/// destinations, in kernel list order.
fn configs(table: &[TableEntry]) -> Vec<(Service, Vec<Destination>)> {
    table
        .iter()
        .map(|e| {
            (
                e.service.service.clone(),
                e.destinations.iter().map(|d| d.destination).collect(),
            )
        })
        .collect()
}

/// [`configs`] with the services in key order: the kernel's service
/// order depends on the namespace (its service hash mixes in the
/// per-namespace IPVS pointer), so only destination order compares
/// across namespaces.
fn by_key(table: &[TableEntry]) -> Vec<(Service, Vec<Destination>)> {
    let mut v = configs(table);
    v.sort_by_key(|(s, _)| s.key);
    v
}

/// Run the three comparisons of the module doc for one rule set.
fn agree(name: &str, text: &str) {
    mark(name, "start");
    let by_ipvsadm = Netns::new("rr-a");
    let by_lvs = Netns::new("rr-b");
    let recreated = Netns::new("rr-c");

    // 1. ipvsadm restores; lvs reads and prints -S as ipvsadm does.
    by_ipvsadm.ipvsadm_restore(text);
    let table = by_ipvsadm.handle().table().expect("read the table");
    let sn = by_ipvsadm.ipvsadm("-Sn");
    assert_eq!(save(&table, true), sn, "{name}: lvs save vs ipvsadm -Sn");
    assert!(
        !sn.is_empty() || text.trim().is_empty(),
        "{name}: empty table"
    );
    mark(name, &format!("-Sn equal ({} lines)", sn.lines().count()));

    // 2. lvs applies the parsed rules; ipvsadm sees what its own restore made.
    let rules = Rules::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let result = by_lvs.handle().apply(&rules.ops());
    assert!(
        result.is_ok(),
        "{name}: {:?}",
        result.errors().collect::<Vec<_>>()
    );
    assert_eq!(by_lvs.ipvsadm("-Sn"), sn, "{name}: -Sn after lvs apply");
    assert_eq!(
        by_lvs.ipvsadm("-Ln --thresholds"),
        by_ipvsadm.ipvsadm("-Ln --thresholds"),
        "{name}: -Ln --thresholds after lvs apply"
    );
    assert_eq!(
        by_key(&by_lvs.handle().table().expect("read")),
        by_key(&table),
        "{name}: destination order after lvs apply"
    );
    mark(name, "lvs apply equal");

    // 3. The lossless text re-creates the table: in the same namespace
    // (after ipvsadm -C) in the same list order, services included; in
    // another namespace with the same destination order.
    let lossless = Rules::from_table(&table).to_string();
    by_ipvsadm.ipvsadm("-C");
    by_ipvsadm.ipvsadm_restore(&lossless);
    assert_eq!(
        configs(&by_ipvsadm.handle().table().expect("read")),
        configs(&table),
        "{name}: ipvsadm -R of Rules::from_table, same namespace\n{lossless}"
    );
    recreated.ipvsadm_restore(&lossless);
    assert_eq!(
        by_key(&recreated.handle().table().expect("read")),
        by_key(&table),
        "{name}: ipvsadm -R of Rules::from_table, another namespace"
    );
    mark(name, "from_table re-creates it");
}

/// The battery: one file per rule set under tests/fixtures/rules/
/// (lvsadm's kernel test reads them too).
fn battery() -> Vec<(String, String)> {
    rule_battery(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rules"
    )))
}

#[test]
fn ipvsadm_and_lvs_agree_on_every_rule_set() {
    require_ipvs_kernel();
    let sets = battery();
    assert!(sets.len() >= 8, "the battery has {} rule sets", sets.len());
    for (name, text) in &sets {
        agree(name, text);
    }
}

/// Many services, several per hash bucket (the kernel hashes services
/// into 256 buckets and lists a bucket newest first), addresses that
/// libipvs's wrapping comparison sorts out of numeric order, and
/// destinations in every forwarding method.
#[test]
fn many_services_sharing_hash_buckets_agree() {
    require_ipvs_kernel();
    let mut text = String::new();
    for i in 0..600u32 {
        let (a, b) = (if i % 2 == 0 { 10 } else { 200 }, (i / 250) as u8);
        let vip = format!("{a}.{b}.{}.{}", (i % 250) / 50, i % 50 + 1);
        let proto = ["-t", "-u", "--sctp-service"][(i % 3) as usize];
        let port = 80 + i % 7;
        let _ = writeln!(text, "-A {proto} {vip}:{port} -s rr");
        for d in 0..(i % 4) {
            let fwd = ["-m", "-g", "-i --tun-type gue --tun-port 6080", "-m -x 9"][d as usize];
            let dport = if d == 0 || d == 3 { 8000 + d } else { port };
            let _ = writeln!(
                text,
                "-a {proto} {vip}:{port} -r 192.168.{}.{}:{dport} {fwd}",
                d,
                i % 250 + 1
            );
        }
        if i % 10 == 0 {
            let _ = writeln!(text, "-A -f {} -s wlc", i + 1);
            let _ = writeln!(text, "-A -f {} -6 -s wlc", i + 1);
            let _ = writeln!(text, "-a -f {} -6 -r [2001:db8::{:x}]:0 -g", i + 1, i + 1);
        }
    }
    agree("many", &text);
}

/// `--set` lines and names (a service name for the port, `localhost`),
/// and the `-S` listing with names: lvs prints what ipvsadm prints.
#[test]
fn timeouts_and_names_agree() {
    require_ipvs_kernel();
    const T: &str = "names";
    let a = Netns::new("rr-n");
    let b = Netns::new("rr-n");
    let text = "\
--set 900 120 300
-A -t localhost:http -s rr
-a -t localhost:http -r 127.0.0.2:https -m
-A -u 127.0.0.1:domain
";
    a.ipvsadm_restore(text);
    let rules = Rules::parse(text).expect("parse");
    assert!(b.handle().apply(&rules.ops()).is_ok());
    for args in ["-Sn", "-S", "-L --timeout", "-Ln"] {
        assert_eq!(b.ipvsadm(args), a.ipvsadm(args), "ipvsadm {args}");
    }
    let table = a.handle().table().expect("read");
    assert_eq!(save(&table, false), a.ipvsadm("-S"));
    assert!(save(&table, false).contains("-A -t localhost:http -s rr\n"));
    mark(T, "equal");
}
