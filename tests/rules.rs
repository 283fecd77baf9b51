//! `lvs::rules`: ipvsadm's rule text in and out, on the host. The kernel
//! side (restores by ipvsadm and by lvs compared byte for byte) is in
//! `tests/kernel_rules.rs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use lvs::reconcile::{DesiredState, FakeKernel};
use lvs::rules::{ParseOptions, Rule, Rules, save};
use lvs::*;
use proptest::prelude::*;

/// Parse, then print canonically.
fn canonical(text: &str) -> String {
    Rules::parse(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .to_string()
}

#[test]
fn every_option_in_every_spelling_reads_to_the_canonical_form() {
    for (input, want) in [
        // Services: protocols, addresses, names.
        ("-A -t 10.0.0.1:80 -s rr", "-A -t 10.0.0.1:80 -s rr"),
        (
            "--add-service --tcp-service 10.0.0.1:80 --scheduler rr",
            "-A -t 10.0.0.1:80 -s rr",
        ),
        (
            "--add-service --tcp-service=10.0.0.1:80 --scheduler=rr",
            "-A -t 10.0.0.1:80 -s rr",
        ),
        ("ipvsadm -A -t 10.0.0.1:80", "-A -t 10.0.0.1:80 -s wlc"),
        ("-A -t10.0.0.1:80 -srr", "-A -t 10.0.0.1:80 -s rr"),
        ("-A -u 10.0.0.1:53 -o", "-A -u 10.0.0.1:53 -s wlc -o"),
        (
            "-A --udp-service 10.0.0.1:53 --ops",
            "-A -u 10.0.0.1:53 -s wlc -o",
        ),
        (
            "-A --sctp-service 10.0.0.1:3868 -s mh -b mh-fallback,mh-port",
            "-A --sctp-service 10.0.0.1:3868 -s mh -b mh-fallback,mh-port",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh --sched-flags sh-port",
            "-A -t 10.0.0.1:80 -s sh -b sh-port",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b flag-1,flag-2",
            "-A -t 10.0.0.1:80 -s sh -b sh-fallback,sh-port",
        ),
        (
            "-A -t [2001:db8::1]:443 -s wrr",
            "-A -t [2001:db8::1]:443 -s wrr",
        ),
        ("-A -t 10.1:80", "-A -t 10.0.0.1:80 -s wlc"),
        ("-A -f 42", "-A -f 42 -s wlc"),
        ("-A --fwmark-service 42 --ipv6 -s rr", "-A -f 42 -6 -s rr"),
        ("-A -f 42 -6 -p 60 -M 64", "-A -f 42 -6 -s wlc -p 60 -M 64"),
        // Persistence: optional timeout (360), netmasks, the engine.
        ("-A -t 10.0.0.1:80 -p", "-A -t 10.0.0.1:80 -s wlc -p 360"),
        (
            "-A -t 10.0.0.1:80 -p -s rr",
            "-A -t 10.0.0.1:80 -s rr -p 360",
        ),
        ("-A -t 10.0.0.1:80 -p 60", "-A -t 10.0.0.1:80 -s wlc -p 60"),
        ("-A -t 10.0.0.1:80 -p60", "-A -t 10.0.0.1:80 -s wlc -p 60"),
        (
            "-A -t 10.0.0.1:80 --persistent=60",
            "-A -t 10.0.0.1:80 -s wlc -p 60",
        ),
        (
            "-A -t 10.0.0.1:80 --persistent",
            "-A -t 10.0.0.1:80 -s wlc -p 360",
        ),
        (
            "-A -t 10.0.0.1:0 -p 600 -M 255.255.255.0",
            "-A -t 10.0.0.1:0 -s wlc -p 600 -M 255.255.255.0",
        ),
        (
            "-A -t 10.0.0.1:80 -p 600 --netmask 255.255.255.255",
            "-A -t 10.0.0.1:80 -s wlc -p 600",
        ),
        (
            "-A -u 10.0.0.1:5060 -p 60 --pe sip -o",
            "-A -u 10.0.0.1:5060 -s wlc -p 60 --pe sip -o",
        ),
        (
            "-A -t [2001:db8::1]:80 -p 60 -M 64",
            "-A -t [2001:db8::1]:80 -s wlc -p 60 -M 64",
        ),
        // Edit and delete.
        ("-E -t 10.0.0.1:80 -s lc", "-E -t 10.0.0.1:80 -s lc"),
        ("--edit-service -t 10.0.0.1:80", "-E -t 10.0.0.1:80 -s wlc"),
        ("-D -t 10.0.0.1:80", "-D -t 10.0.0.1:80"),
        ("--delete-service -f 7 -6", "-D -f 7 -6"),
        ("-C", "-C"),
        ("--clear", "-C"),
        ("--set 900 120 0", "--set 900 120 0"),
        // Real servers: forwarding (-g is ipvsadm's default), weights,
        // thresholds, ports (DR and tunnels take the service's).
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 1",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -g",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -g -w 1",
        ),
        (
            "--add-server --tcp-service 10.0.0.1:80 --real-server 192.168.1.2 --masquerading --weight 0",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 0",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -m -x 100 -y 10",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1 -x 100 -y 10",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -m --u-threshold=100 --l-threshold 10",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1 -x 100 -y 10",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -mw3",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 3",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type ipip",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 --ipip --tun-type ipip",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type ipip",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type gue --tun-port 6080",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type=gue --tun-port=6080 --tun-csum",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type gue --tun-port 6080 --tun-remcsum",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type gre --tun-csum",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gre --tun-csum",
        ),
        (
            "-a -t 10.0.0.1:80 -r 192.168.1.2 -i --tun-type gre",
            "-a -t 10.0.0.1:80 -r 192.168.1.2:80 -i -w 1 --tun-type gre --tun-nocsum",
        ),
        (
            "-a -t 10.0.0.1:80 -r 2001:db8::2 -i",
            "-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -i -w 1 --tun-type ipip",
        ),
        (
            "-a -t [2001:db8::1]:80 -r 2001:db8::2 -m",
            "-a -t [2001:db8::1]:80 -r [2001:db8::2]:80 -m -w 1",
        ),
        (
            "-a -f 42 -r 192.168.1.2 -g",
            "-a -f 42 -r 192.168.1.2:0 -g -w 1",
        ),
        (
            "-a -f 42 -r 192.168.1.2:8080 -g",
            "-a -f 42 -r 192.168.1.2:8080 -g -w 1",
        ),
        (
            "-e -t 10.0.0.1:80 -r 192.168.1.2 -m -w 5",
            "-e -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 5",
        ),
        (
            "-d -t 10.0.0.1:80 -r 192.168.1.2",
            "-d -t 10.0.0.1:80 -r 192.168.1.2:80",
        ),
        (
            "--delete-server -t 10.0.0.1:80 -r 192.168.1.2:8080",
            "-d -t 10.0.0.1:80 -r 192.168.1.2:8080",
        ),
        // Names: services from /etc/services, localhost from /etc/hosts.
        ("-A -t 10.0.0.1:http", "-A -t 10.0.0.1:80 -s wlc"),
        ("-A -u localhost:domain", "-A -u 127.0.0.1:53 -s wlc"),
        // Comments and blank words.
        (
            "  -A\t-t 10.0.0.1:80  # a comment -s rr",
            "-A -t 10.0.0.1:80 -s wlc",
        ),
    ] {
        assert_eq!(canonical(input), format!("{want}\n"), "{input}");
        // The canonical form is a fixed point.
        assert_eq!(canonical(want), format!("{want}\n"), "{want}");
    }
    assert_eq!(canonical("\n# only a comment\n\n"), "");
}

#[test]
fn errors_name_line_column_and_what_was_expected() {
    for (input, line, column, message) in [
        (
            "-A -t 10.0.0.1:80\n-A -u 10.0.0.1:53 -s rrr",
            2,
            22,
            "expected a scheduler name (rr, wrr,",
        ),
        (
            "-A -t 10.0.0.300:80",
            1,
            7,
            "expected a virtual service address",
        ),
        ("-A -t 80", 1, 7, "expected a virtual service address"),
        (
            "-A -t [2001:db8::1]",
            1,
            7,
            "expected a virtual service address",
        ),
        (
            "-A -t 10.0.0.1:99999",
            1,
            16,
            "expected a port number or a service name of TCP",
        ),
        (
            "-A -t 10.0.0.1:nosuchservice",
            1,
            16,
            "found \"nosuchservice\"",
        ),
        ("-A -t 10.0.0.1:80 -s", 1, 21, "expected a value after -s"),
        (
            "-A -t 10.0.0.1:80 -w 3",
            1,
            19,
            "\"-w\" is not an option of the 'add-service' command",
        ),
        (
            "-a -t 10.0.0.1:80",
            1,
            1,
            "expected a real server (-r ADDRESS[:PORT])",
        ),
        (
            "-a -r 10.0.0.2",
            1,
            1,
            "expected a service (-t, -u, --sctp-service or -f)",
        ),
        (
            "-A -t 10.0.0.1:80 -t 10.0.0.2:80",
            1,
            19,
            "expected one service-address option",
        ),
        (
            "-A -E -t 10.0.0.1:80",
            1,
            4,
            "expected one command per line",
        ),
        ("-L -n", 1, 1, "expected a rule command"),
        ("-t 10.0.0.1:80", 1, 1, "expected a command"),
        (
            "-A -t 10.0.0.1:80 --bogus",
            1,
            19,
            "expected an ipvsadm option, found \"--bogus\"",
        ),
        (
            "-A -t 10.0.0.1:80 extra",
            1,
            19,
            "expected an option, found the argument \"extra\"",
        ),
        (
            "-A -t 10.0.0.1:80 -s rr -b sh-port",
            1,
            28,
            "expected a flag of scheduler rr",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b mh-port",
            1,
            28,
            "expected a flag of scheduler sh (sh-fallback, sh-port)",
        ),
        (
            "-A -t 10.0.0.1:80 -s sh -b sh-port,bogus",
            1,
            36,
            "expected a scheduler flag",
        ),
        ("-A -t 10.0.0.1:0", 1, 1, "port 0"),
        (
            "-A -t 10.0.0.1:80 -o",
            1,
            1,
            "one-packet scheduling works only for UDP",
        ),
        ("-A -t 10.0.0.1:80 --pe sip", 1, 1, "needs persistence"),
        (
            "-A -t 10.0.0.1:80 -p 0",
            1,
            22,
            "expected a persistence timeout in seconds",
        ),
        (
            "-A -t 10.0.0.1:80 -p 60 -M 255.0.255.0",
            1,
            1,
            "is not a prefix",
        ),
        (
            "-A -t 10.0.0.1:80 -p 60 -M mask",
            1,
            28,
            "expected an IPv4 netmask",
        ),
        (
            "-A -f 1 -6 -p 60 -M 129",
            1,
            21,
            "expected an IPv6 prefix length (1 to 128)",
        ),
        (
            "-A -6 -f 1",
            1,
            4,
            "expected -f (--fwmark-service) before -6",
        ),
        (
            "-A -f 0",
            1,
            7,
            "expected a firewall mark (1 to 4294967295)",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -m -w -1",
            1,
            37,
            "expected a weight (0 to 2147483647)",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -m -x 1 -y 2",
            1,
            19,
            "lower threshold 2 is above upper threshold 1",
        ),
        (
            "-a -t 10.0.0.1:80 -r [2001:db8::2]:80 -m",
            1,
            19,
            "mixed families need tunnel forwarding",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -m --tun-type gue",
            1,
            34,
            "expected -i (--ipip) with tunnel option \"--tun-type\"",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue",
            1,
            34,
            "expected --tun-port PORT with the 'gue' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type vxlan",
            1,
            45,
            "expected a tunnel type (ipip, gue, gre)",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-port 6080",
            1,
            34,
            "\"--tun-port\" is not an option of the 'ipip' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-remcsum",
            1,
            49,
            "\"--tun-remcsum\" is not an option of the 'gre' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum",
            1,
            73,
            "expected one tunnel checksum option",
        ),
        ("--set 1 2", 1, 1, "expected three timeouts after --set"),
        ("--set 1 2 x", 1, 11, "expected a timeout in seconds"),
        (
            "-C -t 10.0.0.1:80",
            1,
            4,
            "is not an option of the 'flush' command",
        ),
        ("--weight=3 -a", 1, 12, "expected a service"),
        (
            "-a -t 10.0.0.1:80 -r 10.0.0.2 -m=3",
            1,
            33,
            "expected an ipvsadm option, found \"-=\"",
        ),
        ("--clear=1", 1, 9, "option --clear takes no value"),
    ] {
        let e = Rules::parse(input).expect_err(input);
        assert_eq!((e.line, e.column), (line, column), "{input}: {e}");
        assert!(e.message.contains(message), "{input}: {e}");
        assert_eq!(
            e.to_string(),
            format!("line {line}, column {column}: {}", e.message)
        );
    }
    // Numbers only: names are errors, and nothing is looked up.
    let e = Rules::parse_with("-A -t localhost:http", &ParseOptions::numeric()).unwrap_err();
    assert!(
        e.message.contains("expected a virtual service address"),
        "{e}"
    );
    // ipvsadm's own limits on request; the model's by default.
    let big = "-a -t 10.0.0.1:80 -r 10.0.0.2 -m -w 70000";
    assert!(Rules::parse(big).is_ok());
    let e = Rules::parse_with(big, &ParseOptions::ipvsadm()).unwrap_err();
    assert!(e.message.contains("expected a weight (0 to 65535)"), "{e}");
    assert!(Rules::parse_with("-A -t 10.0.0.1:80 -s mine", &ParseOptions::ipvsadm()).is_ok());
}

#[test]
fn one_command_from_separate_arguments() {
    let r = Rule::parse_args(
        &[
            "-a",
            "-t",
            "10.0.0.1:80",
            "-r",
            "10.0.0.2:8080",
            "-m",
            "-w",
            "2",
        ],
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(r.to_string(), "-a -t 10.0.0.1:80 -r 10.0.0.2:8080 -m -w 2");
    let e = Rule::parse_args(
        &["-A", "-t", "10.0.0.1:80", "-s", "rrr"],
        &ParseOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.column, 5, "{e}");
    assert_eq!(
        "-D -u 10.0.0.1:53".parse::<Rule>().unwrap(),
        Rule::DeleteService(ServiceKey::udp(([10, 0, 0, 1], 53)))
    );
}

/// A table built the way the kernel builds it (newest destination first).
fn table(rules: &str) -> Vec<TableEntry> {
    let mut k = FakeKernel::new();
    for op in Rules::parse(rules).unwrap().ops() {
        k.execute(&op).unwrap();
    }
    k.snapshot()
}

#[test]
fn save_prints_as_ipvsadm_with_its_sort_order_and_names() {
    let t = table(
        "-A -t 10.0.0.1:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -x 10\n\
         -a -t 10.0.0.1:80 -r 200.1.0.1:80 -m\n\
         -a -t 10.0.0.1:80 -r 10.1.0.1:81 -m\n\
         -A -t 200.0.0.1:80 -s rr\n\
         -A -f 1 -6 -s rr\n\
         -A -f 1\n\
         -A -u 127.0.0.1:53 -p 60\n",
    );
    // libipvs compares addresses by a wrapping 32-bit difference: 10.x is
    // "greater" than 200.x (their difference exceeds 2^31); fwmark
    // services after address services, TCP (6) before UDP (17), IPv4
    // before IPv6.
    assert_eq!(
        save(&t, true),
        "\
-A -t 200.0.0.1:80 -s rr
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 200.1.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.1:81 -m -w 1
-A -u 127.0.0.1:53 -s wlc -p 60
-A -f 1 -s wlc
-A -f 1 -6 -s rr
"
    );
    // Without -n: names from /etc/hosts and /etc/services.
    assert!(save(&t, false).starts_with("-A -t 200.0.0.1:http -s rr\n"));
    assert!(save(&t, false).contains("\n-A -u localhost:domain -s wlc -p 60\n"));
    // The lossless text keeps the thresholds and re-creates each
    // service's destination order (the kernel's service order, by hash
    // bucket, is checked in the guest: the fake lists by creation).
    let rules = Rules::from_table(&t);
    assert!(
        rules
            .to_string()
            .contains("-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 1 -x 10\n")
    );
    let again = table(&rules.to_string());
    for e in &t {
        let key = e.service.service.key;
        let same = again.iter().find(|a| a.service.service.key == key).unwrap();
        assert_eq!(same, e);
    }
    // A desired state from the table, through rules and back.
    let desired = DesiredState::from_table(&t);
    let web = desired.get(&ServiceKey::tcp(([10, 0, 0, 1], 80))).unwrap();
    assert_eq!(web.destinations[0].addr.to_string(), "10.1.0.1:81");
    assert_eq!(
        DesiredState::from_rules(&desired.to_rules()).unwrap(),
        desired
    );
    assert_eq!(DesiredState::from(t), desired);
}

#[test]
fn ops_print_as_ipvsadm_commands_and_entries_have_flat_accessors() {
    let key = ServiceKey::tcp(([10, 0, 0, 1], 80));
    let d = Destination::new(([192, 168, 1, 2], 8080)).with_weight(3);
    for (op, text) in [
        (
            Op::AddService(Service::new(key).with_scheduler(Scheduler::Rr)),
            "-A -t 10.0.0.1:80 -s rr",
        ),
        (
            Op::UpdateDestination(key, d),
            "-e -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3",
        ),
        (
            Op::RemoveDestination(key, d.addr),
            "-d -t 10.0.0.1:80 -r 192.168.1.2:8080",
        ),
        (Op::Zero(Some(key)), "-Z -t 10.0.0.1:80"),
        (Op::Zero(None), "-Z"),
        (Op::Flush, "-C"),
        (
            Op::SetTimeouts(Timeouts::default().with_tcp(900).with_udp(60)),
            "--set 900 0 60",
        ),
    ] {
        assert_eq!(op.to_string(), text);
    }
    let t = Timeouts::default().with_tcp_fin(120);
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (None, Some(120), None));
    let t = table("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 192.168.1.2:8080 -m -w 3\n");
    assert_eq!(t[0].key(), key);
    assert_eq!(t[0].service.key(), key);
    assert_eq!(t[0].config().scheduler, Scheduler::Rr);
    assert_eq!(t[0].destinations[0].addr(), d.addr);
    assert_eq!(*t[0].destinations[0].config(), d);
    assert_eq!(t[0].destination_configs().collect::<Vec<_>>(), [&d]);
}

#[test]
fn ipvsadm_spelling_of_the_types() {
    // Marks print as ipvsadm prints them (%d) in listings and in save(),
    // unsigned in the canonical text (ipvsadm -R refuses negative ones).
    let big = ServiceKey::fwmark(AddressFamily::Inet, 4_000_000_000);
    assert_eq!(big.ipvsadm().to_string(), "FWM  -294967296");
    assert_eq!("FWM  -294967296".parse::<ServiceKey>().unwrap(), big);
    assert_eq!(format!("{:#}", big.ipvsadm()), "-f 4000000000");
    let t = table("-A -f 4000000000 -s rr\n");
    assert_eq!(save(&t, true), "-A -f -294967296 -s rr\n");
    assert_eq!(
        Rules::from_table(&t).to_string(),
        "-A -f 4000000000 -s rr\n"
    );
    let gue = Forwarding::Tunnel(Tunnel::Gue {
        port: 6080,
        checksum: GueChecksum::None,
    });
    assert_eq!(gue.to_string(), "Tunnel(gue:6080:-c)");
    for f in [
        Forwarding::Masquerade,
        Forwarding::DirectRoute,
        Forwarding::Local,
        Forwarding::Tunnel(Tunnel::Ipip),
        Forwarding::Tunnel(Tunnel::Gre { checksum: false }),
        gue,
    ] {
        assert_eq!(f.to_string().parse::<Forwarding>().unwrap(), f, "{f}");
    }
    assert_eq!(
        "Tunnel".parse::<Forwarding>().unwrap(),
        Forwarding::Tunnel(Tunnel::Ipip)
    );
    assert!("Bridge".parse::<Forwarding>().is_err());
    for s in [
        "rr",
        "wlc",
        "sh",
        "sh (sh-port)",
        "mh (mh-fallback,mh-port)",
    ] {
        assert_eq!(s.parse::<Scheduler>().unwrap().to_string(), s);
    }
    assert!("rr (sh-port)".parse::<Scheduler>().is_err());
    let v6: SocketAddr = "[::2:3]:80".parse().unwrap();
    assert_eq!(IpvsadmAddr(v6).to_string(), "[::0.2.0.3]:80");
}

// ----- parse(emit(x)) == x ----------------------------------------------------

fn arb_ip(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|n| IpAddr::V6(Ipv6Addr::from(n)))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|n| IpAddr::V4(Ipv4Addr::from(n)))
            .boxed()
    }
}

fn arb_key() -> impl Strategy<Value = ServiceKey> {
    prop_oneof![
        (0..3u8, any::<bool>(), 0..=u16::MAX).prop_flat_map(|(p, v6, port)| {
            arb_ip(v6).prop_map(move |ip| {
                let addr = SocketAddr::new(ip, port);
                match p {
                    0 => ServiceKey::tcp(addr),
                    1 => ServiceKey::udp(addr),
                    _ => ServiceKey::sctp(addr),
                }
            })
        }),
        (any::<bool>(), 1..=u32::MAX).prop_map(|(v6, mark)| ServiceKey::fwmark(
            if v6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            mark
        )),
    ]
}

fn arb_scheduler() -> impl Strategy<Value = Scheduler> {
    let all = lvs::sched::MODELLED_SCHEDULERS;
    (0..=all.len(), any::<bool>(), any::<bool>()).prop_map(move |(i, fallback, port)| {
        let h = HashFlags { fallback, port };
        match all.get(i) {
            Some(Scheduler::Sh(_)) => Scheduler::Sh(h),
            Some(Scheduler::Mh(_)) => Scheduler::Mh(h),
            Some(s) => s.clone(),
            None => Scheduler::None,
        }
    })
}

fn arb_service() -> impl Strategy<Value = Service> {
    (
        arb_key(),
        arb_scheduler(),
        proptest::option::of((1..=Persistence::MAX_TIMEOUT, 0..=128u8)),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(key, sched, persist, one_packet, pe)| {
            let mut s = Service::new(key).with_scheduler(sched);
            let persist = match key {
                // Port 0 needs persistence.
                ServiceKey::Addr { addr, .. } if addr.port() == 0 => persist.or(Some((300, 128))),
                _ => persist,
            };
            if let Some((timeout, len)) = persist {
                let netmask = match key.family() {
                    AddressFamily::Inet => Netmask::prefix(AddressFamily::Inet, len % 33).unwrap(),
                    AddressFamily::Inet6 => Netmask::V6(len.max(1)),
                };
                s = s.with_persistence_netmask(timeout, netmask);
                if pe {
                    s = s.with_persistence_engine("sip");
                }
            }
            s.with_one_packet(one_packet && matches!(key.protocol(), None | Some(Protocol::Udp)))
        })
}

fn arb_dest(key: ServiceKey) -> impl Strategy<Value = Destination> {
    (
        any::<bool>(),
        0..6u8,
        0..=u16::MAX,
        0..=Destination::MAX_WEIGHT,
        any::<u32>(),
        any::<u32>(),
        1..=u16::MAX,
    )
        .prop_flat_map(move |(other_family, fwd, port, weight, a, b, tun_port)| {
            let forwarding = match fwd {
                0 => Forwarding::Masquerade,
                1 => Forwarding::DirectRoute,
                2 => Forwarding::Tunnel(Tunnel::Ipip),
                3 => Forwarding::Tunnel(Tunnel::Gue {
                    port: tun_port,
                    checksum: [
                        GueChecksum::None,
                        GueChecksum::Checksum,
                        GueChecksum::RemoteChecksum,
                    ][usize::from(tun_port % 3)],
                }),
                4 => Forwarding::Tunnel(Tunnel::Gre {
                    checksum: tun_port % 2 == 0,
                }),
                _ => Forwarding::Masquerade,
            };
            let tunnel = matches!(forwarding, Forwarding::Tunnel(_));
            let v6 = (key.family() == AddressFamily::Inet6) != (other_family && tunnel);
            // Direct routing and tunnels keep the service's port.
            let port = match key {
                ServiceKey::Addr { addr, .. } if forwarding != Forwarding::Masquerade => {
                    addr.port()
                }
                _ => port,
            };
            arb_ip(v6).prop_map(move |ip| {
                Destination::new(SocketAddr::new(ip, port))
                    .with_forwarding(forwarding)
                    .with_weight(weight)
                    .with_thresholds(Thresholds {
                        upper: a.max(b),
                        lower: a.min(b),
                    })
            })
        })
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        arb_service().prop_map(Rule::AddService),
        arb_service().prop_map(Rule::EditService),
        arb_key().prop_map(Rule::DeleteService),
        arb_key().prop_flat_map(|k| arb_dest(k).prop_map(move |d| Rule::AddServer(k, d))),
        arb_key().prop_flat_map(|k| arb_dest(k).prop_map(move |d| Rule::EditServer(k, d))),
        arb_key().prop_flat_map(|k| arb_dest(k).prop_map(move |d| Rule::DeleteServer(k, d.addr))),
        Just(Rule::Clear),
        (0..=2678400u32, 0..=2678400u32, 0..=2678400u32).prop_map(|(a, b, c)| {
            let some = |n: u32| (n != 0).then_some(n);
            let mut t = Timeouts::default();
            t.tcp = some(a);
            t.tcp_fin = some(b);
            t.udp = some(c);
            Rule::SetTimeouts(t)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn canonical_text_reads_back_the_same(rules in proptest::collection::vec(arb_rule(), 0..12)) {
        let rules = Rules::from(rules);
        for r in &rules {
            r.check().unwrap();
            if let Rule::AddService(s) | Rule::EditService(s) = r {
                s.validate().unwrap();
            }
            if let Rule::AddServer(k, d) | Rule::EditServer(k, d) = r {
                d.validate_for(k).unwrap();
            }
        }
        let text = rules.to_string();
        let back = Rules::parse_with(&text, &ParseOptions::numeric())
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(back, rules);
    }

    #[test]
    fn parsing_never_panics(text in "[-a-zA-Z0-9:.\\[\\] =,#]{0,60}") {
        let _ = Rules::parse_with(&text, &ParseOptions::numeric());
    }
}
