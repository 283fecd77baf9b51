//! Command lines `lvsadm` refuses before it needs a kernel: ipvsadm 1.31's
//! messages and exit statuses (2 for usage errors, 255 for words its
//! option parser cannot read). The same cases run against ipvsadm itself
//! in the guest (kernel_lvsadm.rs).

fn run(args: &str) -> lvsadm::Output {
    let mut argv = vec!["ipvsadm"];
    argv.extend(args.split_whitespace());
    lvsadm::run(&argv, &mut std::io::empty())
}

/// (command line, status, standard error).
const CASES: &[(&str, i32, &str)] = &[
    (
        "-A -t 10.0.0.2:80 -n",
        2,
        "Illegal 'numeric' option with the 'add-service' command\n",
    ),
    (
        "-A -u 10.0.0.2:53 -w 3",
        2,
        "Illegal 'weight' option with the 'add-service' command\n",
    ),
    (
        "-Ln --tun-type gre",
        2,
        "Illegal 'tun-type' option with the 'list' command\n",
    ),
    (
        "-A -t 10.0.0.2:80 -s rr -s wlc",
        2,
        "multiple 'scheduler' options specified\n",
    ),
    ("-Ln -n", 2, "multiple 'numeric' options specified\n"),
    (
        "-a -t 10.0.0.1:80",
        2,
        "You need to supply the 'real-server' option for the 'add-server' command\n",
    ),
    (
        "-A",
        2,
        "You need to supply the 'service-address' option for the 'add-service' command\n",
    ),
    (
        "-L -c -t 10.0.0.1:80",
        2,
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n",
    ),
    ("-L -A", 2, "invalid option `-A'\n"),
    ("-Ln -h", 2, "invalid option `-h'\n"),
    ("-L x", 2, "unexpected argument x\n"),
    (
        "-L -c --stats",
        2,
        "options conflicts in the list command\n",
    ),
    (
        "-L --daemon --persistent-conn",
        2,
        "options conflicts in the list command\n",
    ),
    ("--set 1 2", 2, "--set option requires 3 timeout values\n"),
    ("--set 1 2 x", 2, "invalid timeout value `x' specified\n"),
    ("--set 1 2 3 4", 2, "unexpected argument 4\n"),
    (
        "-S -c",
        2,
        "Illegal 'connection' option with the 'save' command\n",
    ),
    (
        "-Z -n",
        2,
        "Illegal 'numeric' option with the 'zero' command\n",
    ),
    (
        "-C -t 10.0.0.1:80",
        2,
        "Illegal 'service-address' option with the 'flush' command\n",
    ),
    (
        "-L -t 10.0.0.300:80",
        2,
        "illegal virtual server address[:port] specified\n",
    ),
    (
        "--start-daemon foo",
        2,
        "illegal start-daemon parameter specified\n",
    ),
    ("--stop-daemon foo", 2, "illegal start_daemon specified\n"),
    (
        "--start-daemon master --syncid 256",
        2,
        "illegal syncid specified\n",
    ),
    (
        "--start-daemon master --mcast-group 10.0.0.1",
        2,
        "invalid IPv4 mcast-group `10.0.0.1'\n",
    ),
    (
        "--start-daemon master --mcast-port 0",
        2,
        "illegal mcast-port specified\n",
    ),
    ("-L -6", 2, "-6 used before -f\n\n"),
    ("-L --foo", 255, "--foo: unknown option\n"),
    ("-Lq", 255, "-Lq: unknown option\n"),
    ("-L -t", 255, "-t: missing argument\n"),
    (
        "-L --stats=1",
        255,
        "--stats=1: option does not take an argument\n",
    ),
    (
        "-n -L",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
    (
        "foo",
        255,
        "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n",
    ),
];

#[test]
fn usage_errors_as_ipvsadm() {
    let mut bad = Vec::new();
    for (args, status, stderr) in CASES {
        let o = run(args);
        if (o.status, o.stderr.as_str(), o.stdout.as_str()) != (*status, *stderr, "") {
            bad.push(format!(
                "{args}: {} {:?} {:?}",
                o.status, o.stderr, o.stdout
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn rule_value_errors_exit_2() {
    for args in [
        "-A -t 10.0.0.300:80",
        "-A -t 10.0.0.2:0",
        "-A -t 10.0.0.2:80 -p 0",
        "-A -t 10.0.0.2:80 -s rr -b sh-port",
        "-a -t 10.0.0.1:80 -r 10.1.1.1 -x -1",
        "-e -t 10.0.0.1:80 -r 10.1.1.1 -m --tun-type gre",
    ] {
        let o = run(args);
        assert_eq!(o.status, 2, "{args}: {o:?}");
        assert!(!o.stderr.is_empty(), "{args}");
    }
}

#[test]
fn help_and_version_exit_0() {
    let o = run("-h");
    assert_eq!(o.status, 0);
    assert!(o.stdout.contains("ipvsadm -L|l"));
    let o = run("--version");
    assert_eq!(o.status, 0);
    assert!(o.stdout.starts_with("lvsadm "));
}
