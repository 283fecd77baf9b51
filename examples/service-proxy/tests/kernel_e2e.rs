//! End to end in the IPVS kernel (run by `.cargo/ipvs-runner` in a guest):
//! two nodes, each with a bridge and two pods, an outside client, one
//! `lvs-proxy` per node fed from a manifest directory, and real TCP and UDP
//! traffic for every behaviour the proxy promises.
//!
//! ```text
//!                      outside client c 192.168.0.100
//!                                 |
//!            ----------- lan bridge (netns "lan") 192.168.0.0/24 -----------
//!                  |                                          |
//!   node n1 eth0 192.168.0.1                   node n2 eth0 192.168.0.2
//!   lvs-proxy, kube-ipvs0, nftables            lvs-proxy, kube-ipvs0, nftables
//!   cbr0 10.244.1.1/24                         cbr0 10.244.2.1/24
//!     |             |                            |             |
//!   p1a .1.2      p1b .1.3                     p2a .2.2      p2b .2.3
//!   route 10.244.2.0/24 via 192.168.0.2        route 10.244.1.0/24 via 192.168.0.1
//! ```
//!
//! Pod ports on the bridges have hairpin mode on, as kubelet's
//! `hairpinMode` sets it: with `br_netfilter`, a pod balanced to itself gets
//! its reply bridged back out of the port it came from.
//!
//! Every pod serves TCP 8080 and UDP 5353, answering `<pod> <peer address>`.
//! Waits are bounded by deadlines and poll real state (the IPVS table, the
//! proxies' metrics), so a slow guest only makes the test slower.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::thread;
use std::time::Instant;

use lvs::ServiceKey;
use lvs_service_proxy::source;
use lvs_service_proxy::store::Cluster as Snapshot;
use lvs_service_proxy::translate::{self, Config};
use serde_json::{Value, json};
use support::*;

/// Marker for the rig: this binary needs the IPVS kernel.
#[used]
static NEEDS_KERNEL: &[u8] = b"LVS_RIG_NEEDS_IPVS_KERNEL";

// ------------------------------------------------------------ topology --

const PODS: [(&str, &str, &str); 4] = [
    ("p1a", "n1", "10.244.1.2"),
    ("p1b", "n1", "10.244.1.3"),
    ("p2a", "n2", "10.244.2.2"),
    ("p2b", "n2", "10.244.2.3"),
];

fn node_of(pod: &str) -> &'static str {
    PODS.iter()
        .find(|p| p.0 == pod)
        .map(|p| p.1)
        .unwrap_or("n1")
}

fn build_topology() {
    sh(
        "modprobe -a ip_vs ip_vs_rr veth dummy bridge br_netfilter nf_conntrack nft_masq nft_chain_nat 2>/dev/null; true",
    );
    let mut s = String::from("set -e\n");
    for ns in ["lan", "c", "n1", "n2", "p1a", "p1b", "p2a", "p2b"] {
        s += &format!("ip netns add {ns}\nip -n {ns} link set lo up\n");
    }
    s += "ip -n lan link add br0 type bridge && ip -n lan link set br0 up\n";
    for (ns, ip) in [
        ("n1", "192.168.0.1"),
        ("n2", "192.168.0.2"),
        ("c", "192.168.0.100"),
    ] {
        s += &format!(
            "ip link add eth0 netns {ns} type veth peer name v-{ns} netns lan
ip -n lan link set v-{ns} master br0 up
ip -n {ns} addr add {ip}/24 dev eth0 && ip -n {ns} link set eth0 up\n"
        );
    }
    for (n, idx, other_idx, other_ip) in [("n1", 1, 2, "192.168.0.2"), ("n2", 2, 1, "192.168.0.1")]
    {
        s += &format!(
            "ip -n {n} link add cbr0 type bridge && ip -n {n} addr add 10.244.{idx}.1/24 dev cbr0 && ip -n {n} link set cbr0 up
ip -n {n} route add 10.244.{other_idx}.0/24 via {other_ip}
ip netns exec {n} sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
ip netns exec {n} sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true\n"
        );
    }
    for (pod, n, ip) in PODS {
        let gw = if n == "n1" {
            "10.244.1.1"
        } else {
            "10.244.2.1"
        };
        s += &format!(
            "ip link add eth0 netns {pod} type veth peer name v-{pod} netns {n}
ip -n {n} link set v-{pod} master cbr0 up
ip -n {n} link set v-{pod} type bridge_slave hairpin on
ip -n {pod} addr add {ip}/24 dev eth0 && ip -n {pod} link set eth0 up
ip -n {pod} route add default via {gw}\n"
        );
    }
    // p1c: a client-only pod on node 1 (not an endpoint, never rolled).
    s += "ip netns add p1c\nip -n p1c link set lo up
ip link add eth0 netns p1c type veth peer name v-p1c netns n1
ip -n n1 link set v-p1c master cbr0 up
ip -n p1c addr add 10.244.1.4/24 dev eth0 && ip -n p1c link set eth0 up
ip -n p1c route add default via 10.244.1.1\n";
    // The load balancer in front of the cluster sends its IPs to node 1.
    s += "ip -n c route add 198.51.100.0/24 via 192.168.0.1\n";
    sh(&s);
}

// ----------------------------------------------------------- manifests --

#[derive(Clone)]
struct Ep {
    ip: String,
    pod: &'static str,
    ready: bool,
    terminating: bool,
}

fn ep(pod: &'static str, ip: &str) -> Ep {
    Ep {
        ip: ip.into(),
        pod,
        ready: true,
        terminating: false,
    }
}

#[derive(Clone)]
struct World {
    web: Vec<Ep>,
    local: Vec<Ep>,
    ranges: Vec<&'static str>,
}

fn slice(svc: &str, port_name: &str, port: u16, proto: &str, eps: &[Ep]) -> Value {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|e| {
            let node = if node_of(e.pod) == "n1" {
                "node-1"
            } else {
                "node-2"
            };
            json!({"addresses": [e.ip], "nodeName": node,
                   "conditions": {"ready": e.ready, "serving": true, "terminating": e.terminating}})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"namespace": "default", "name": format!("{svc}-abc"),
                        "labels": {"kubernetes.io/service-name": svc}},
           "addressType": "IPv4",
           "ports": [{"name": port_name, "port": port, "protocol": proto}],
           "endpoints": endpoints})
}

fn all_pods() -> Vec<Ep> {
    PODS.iter().map(|(p, _, ip)| ep(p, ip)).collect()
}

fn manifests(w: &World) -> Value {
    let node = |name: &str, ip: &str| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
               "status": {"addresses": [{"type": "InternalIP", "address": ip}]}})
    };
    let items = vec![
        node("node-1", "192.168.0.1"),
        node("node-2", "192.168.0.2"),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "web"},
               "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                        "externalTrafficPolicy": "Cluster", "loadBalancerSourceRanges": w.ranges,
                        "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080, "protocol": "TCP"}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.11"}]}}}),
        slice("web", "http", 8080, "TCP", &w.web),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "kube-system", "name": "dns"},
               "spec": {"clusterIP": "10.96.0.53",
                        "ports": [{"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]}}),
        {
            let mut s = slice("dns", "dns", 5353, "UDP", &all_pods());
            s["metadata"]["namespace"] = json!("kube-system");
            s
        },
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "local"},
               "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.30", "externalTrafficPolicy": "Local",
                        "healthCheckNodePort": 32100,
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30081}]},
               "status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}}),
        slice("local", "http", 8080, "TCP", &w.local),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "sticky"},
               "spec": {"clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
                        "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}),
        slice("sticky", "http", 8080, "TCP", &all_pods()),
    ];
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

struct Cluster {
    dir: PathBuf,
    logs: PathBuf,
    world: World,
    proxies: BTreeMap<&'static str, Child>,
}

impl Cluster {
    fn write(&mut self, w: World) {
        self.world = w;
        let tmp = self.dir.join(".cluster.json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(&manifests(&self.world)).unwrap(),
        )
        .unwrap();
        std::fs::rename(&tmp, self.dir.join("cluster.json")).unwrap();
    }

    fn start(&mut self, node: &'static str) {
        self.start_with(node, &[]);
    }

    /// Start `node`'s proxy with the test's flags plus `extra`.
    fn start_with(&mut self, node: &'static str, extra: &[&str]) {
        let name = if node == "n1" { "node-1" } else { "node-2" };
        let log = self.logs.join(format!("{node}.log"));
        let args: Vec<String> = [
            "--hostname-override",
            name,
            "--manifest-poll",
            "100ms",
            "--ipvs-sync-period",
            "3s",
            "--nodeport-addresses",
            "192.168.0.0/24",
            "--cluster-cidr",
            "10.244.0.0/16",
            "--ipvs-tcp-timeout",
            "900s",
            "--ipvs-udp-timeout",
            "30s",
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
        let child = spawn_proxy(node, &self.dir, &args, log);
        self.proxies.insert(node, child);
    }

    fn kill(&mut self, node: &str) {
        if let Some(mut c) = self.proxies.remove(node) {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{node}.log"))).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in ["n1", "n2"] {
            self.kill(n);
            if thread::panicking() {
                eprintln!("----- {n} proxy log -----\n{}", self.log(n));
            }
        }
    }
}

fn want_live(c: &Cluster, key: ServiceKey, eps: &[&str]) {
    let want: BTreeSet<SocketAddr> = eps
        .iter()
        .map(|e| format!("{e}:8080").parse().unwrap())
        .collect();
    for n in ["n1", "n2"] {
        wait_until(&format!("{n}: {key} -> {want:?}"), 120, || {
            live(n, key) == want
        });
    }
    let _ = c;
}

/// What `node`'s IPVS table should be for the manifests now in `c.dir`:
/// the proxy's own translation of them (service -> destination ->
/// weight). Equal to the kernel's table once the proxy there has applied
/// the last write and no drain is left.
fn expected_table(c: &Cluster, node: &str) -> BTreeMap<ServiceKey, BTreeMap<SocketAddr, u32>> {
    let name = if node == "n1" { "node-1" } else { "node-2" };
    let mut snap = Snapshot::new(name);
    for m in source::dir_messages(source::read_dir(&c.dir)) {
        if let source::Msg::Event(e) = m {
            snap.apply(e);
        }
    }
    let cfg = Config {
        nodeport_cidrs: vec!["192.168.0.0/24".parse().unwrap()],
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..Config::default()
    };
    let t = translate::translate(&snap, &translate::node_addresses(&snap, &[], &cfg), &cfg);
    t.desired
        .services
        .iter()
        .map(|s| {
            let d = s.destinations.iter().map(|d| (d.addr, d.weight)).collect();
            (s.service.key, d)
        })
        .collect()
}

/// Run one check; a failure is recorded (with the node state at that
/// moment) and the next check still runs, so one guest run shows every
/// behaviour's outcome.
fn section(
    results: &mut Vec<(String, Result<(), String>)>,
    logs: &std::path::Path,
    name: &str,
    f: impl FnOnce(),
) {
    let t = Instant::now();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        if results.iter().all(|r| r.1.is_ok()) {
            eprintln!("----- state at the first failure -----\n{}", diagnostics());
            for n in ["n1", "n2"] {
                let log =
                    std::fs::read_to_string(logs.join(format!("{n}.log"))).unwrap_or_default();
                eprintln!("----- {n} proxy log so far -----\n{log}");
            }
        }
        msg
    });
    eprintln!(
        "[{:.1}s] {} {name}",
        t.elapsed().as_secs_f64(),
        if r.is_ok() { "ok" } else { "FAILED" }
    );
    results.push((name.to_string(), r));
}

/// IPVS tables, nftables rulesets, routes and addresses of both nodes.
fn diagnostics() -> String {
    let mut s = String::new();
    for n in ["n1", "n2"] {
        for cmd in [
            format!("ip netns exec {n} ipvsadm -Ln"),
            format!("ip netns exec {n} nft list ruleset"),
            format!("ip -n {n} route; ip -n {n} -br addr"),
            format!(
                "ip netns exec {n} sysctl net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.rp_filter net.ipv4.conf.cbr0.rp_filter"
            ),
        ] {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&cmd)
                .output();
            let text = out
                .map(|o| {
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    )
                })
                .unwrap_or_else(|e| e.to_string());
            s.push_str(&format!("$ {cmd}\n{text}\n"));
        }
    }
    s
}

#[test]
fn kernel_two_node_cluster() {
    let t0 = Instant::now();
    build_topology();
    eprintln!("[{:?}] topology built", t0.elapsed());
    for (p, _, _) in PODS {
        start_servers(p);
    }
    let base = std::env::temp_dir().join(format!("lvs-proxy-e2e-{}", std::process::id()));
    let dir = base.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Cluster {
        dir: dir.clone(),
        logs: base.clone(),
        world: World {
            web: vec![],
            local: vec![],
            ranges: vec![],
        },
        proxies: BTreeMap::new(),
    };
    eprintln!("[{:?}] servers started", t0.elapsed());
    let web_all = all_pods();
    let local_eps = vec![
        ep("p1a", "10.244.1.2"),
        ep("p1b", "10.244.1.3"),
        ep("p2a", "10.244.2.2"),
    ];
    c.write(World {
        web: web_all.clone(),
        local: local_eps.clone(),
        ranges: vec!["192.168.0.100/32"],
    });
    c.start("n1");
    c.start("n2");
    let web = ServiceKey::tcp(SocketAddr::from(([10, 96, 0, 10], 80)));
    want_live(
        &c,
        web,
        &["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3"],
    );
    eprintln!("[{:?}] both proxies programmed", t0.elapsed());

    let mut results: Vec<(String, Result<(), String>)> = Vec::new();
    let logs = c.logs.clone();
    section(
        &mut results,
        &logs,
        "node side: kube-ipvs0 addresses, sysctls, NodePort addresses, /healthz",
        || {
            // Node side: the dummy interface holds the service IPs, sysctls set.
            let addrs = sh("ip -n n1 -o addr show dev kube-ipvs0");
            for ip in [
                "10.96.0.10",
                "10.96.0.53",
                "10.96.0.30",
                "10.96.0.20",
                "198.51.100.10",
                "198.51.100.11",
            ] {
                assert!(
                    addrs.contains(&format!("{ip}/32")),
                    "{ip} not on kube-ipvs0: {addrs}"
                );
            }
            assert_eq!(
                sh("ip netns exec n1 cat /proc/sys/net/ipv4/vs/conntrack").trim(),
                "1"
            );
            assert_eq!(
                sh("ip netns exec n1 cat /proc/sys/net/ipv4/vs/expire_nodest_conn").trim(),
                "1"
            );
            assert_eq!(
                sh("ip netns exec n1 cat /proc/sys/net/ipv4/ip_forward").trim(),
                "1"
            );
            let table = ipvs("n1");
            assert!(table.contains_key(&ServiceKey::tcp(SocketAddr::from((
                [192, 168, 0, 1],
                30080
            )))));
            assert!(
                !table
                    .keys()
                    .any(|k| k.to_string().contains("10.244.1.1:3008")),
                "NodePort only on --nodeport-addresses"
            );
            assert_eq!(
                http_get("n1", "127.0.0.1:10256", "/healthz").unwrap().0,
                200
            );
        },
    );

    section(
        &mut results,
        &logs,
        "ClusterIP from pods, answered on both nodes (hairpin included)",
        || {
            // 1. ClusterIP from a pod, answered by pods on both nodes (p1a may be
            //    balanced to itself: hairpin).
            let r = repeat(8, || tcp_from("p1a", "10.96.0.10:80"));
            assert_eq!(
                names(&r),
                ["p1a", "p1b", "p2a", "p2b"].map(String::from).into(),
                "{r:?}"
            );
            let r = repeat(8, || tcp_from("p2b", "10.96.0.10:80"));
            assert_eq!(names(&r).len(), 4, "{r:?}");
            eprintln!("[{:?}] ClusterIP ok", t0.elapsed());
        },
    );

    section(&mut results, &logs, "UDP on a fixed ClusterIP", || {
        // 2. UDP on a fixed ClusterIP, as cluster DNS.
        let r = repeat(8, || udp_from("p1b", "10.96.0.53:53"));
        assert_eq!(names(&r).len(), 4, "{r:?}");
    });

    section(
        &mut results,
        &logs,
        "NodePort + LB IP from outside, Cluster policy: both nodes, node source",
        || {
            // 3+4. NodePort and LB IP from outside, Cluster policy: both nodes'
            //      pods answer, they see a node address, replies come back.
            let node1 = ["192.168.0.1", "10.244.1.1"];
            for to in ["192.168.0.1:30080", "198.51.100.11:80"] {
                let r = repeat(8, || tcp_from("c", to));
                assert_eq!(names(&r).len(), 4, "{to}: {r:?}");
                assert!(
                    r.iter().all(|x| node1.contains(&x.1.as_str())),
                    "{to}: source not a node address: {r:?}"
                );
            }
            eprintln!("[{:?}] NodePort / LB Cluster ok", t0.elapsed());
        },
    );

    section(
        &mut results,
        &logs,
        "Local policy: node-1 pods only, client address kept, health 200/503",
        || {
            // 5. Local: only node-1 pods, the client's own address, health checks.
            for to in ["198.51.100.10:80", "192.168.0.1:30081"] {
                let r = repeat(8, || tcp_from("c", to));
                assert_eq!(
                    names(&r),
                    ["p1a", "p1b"].map(String::from).into(),
                    "{to}: {r:?}"
                );
                assert!(
                    r.iter().all(|x| x.1 == "192.168.0.100"),
                    "{to}: client address lost: {r:?}"
                );
            }
            let (code, body) = http_get("c", "192.168.0.1:32100", "/").unwrap();
            assert_eq!(code, 200, "{body}");
            assert!(body.contains("\"localEndpoints\":2"), "{body}");
            assert_eq!(http_get("c", "192.168.0.2:32100", "/").unwrap().0, 200);
            // Node 2 loses its only local endpoint: 503 there, 200 on node 1.
            let mut w = c.world.clone();
            w.local = local_eps[..2].to_vec();
            c.write(w);
            wait_until("node 2 health check 503", 120, || {
                http_get("c", "192.168.0.2:32100", "/").map(|r| r.0) == Ok(503)
            });
            assert_eq!(http_get("c", "192.168.0.1:32100", "/").unwrap().0, 200);
            eprintln!("[{:?}] Local ok", t0.elapsed());
        },
    );

    section(&mut results, &logs, "sessionAffinity ClientIP", || {
        // 6. ClientIP affinity keeps one client on one pod.
        let r = repeat(8, || tcp_from("p2a", "10.96.0.20:80"));
        assert_eq!(names(&r).len(), 1, "{r:?}");
        let r = repeat(6, || tcp_from("c", "192.168.0.1:30080"));
        assert!(names(&r).len() > 1, "web has no affinity: {r:?}");
    });

    section(
        &mut results,
        &logs,
        "kill -9 + restart under load: 0 failures, first pass writes nothing",
        || {
            // 7. Kill -9 and restart a proxy under load: nothing fails and the
            //    first pass after the restart writes nothing to IPVS.
            // An unchanged cluster: the proxy on n1 has applied the last
            // manifest write and its drains have finished. (Killing it
            // before that leaves real work for the next process: the run
            // that failed here killed n1 while the previous section's
            // change was still unapplied, and the restarted proxy started
            // that drain, 1 write. "No weight 0 in the table" is also true
            // before a drain starts, so it is not enough.)
            let want = expected_table(&c, "n1");
            wait_until(
                "n1's table is the current manifests' translation",
                300,
                || ipvs("n1") == want,
            );
            let load = Load::start("p1a", "10.96.0.10:80");
            load.pass(5);
            c.kill("n1");
            load.pass(5);
            c.start("n1");
            wait_until("restarted proxy synced", 120, || {
                metric("n1", "lvs_proxy_syncs_total").unwrap_or(0.0) >= 1.0
            });
            assert_eq!(
                metric("n1", "lvs_proxy_ipvs_writes_total"),
                Some(0.0),
                "{}",
                c.log("n1")
            );
            load.pass(5);
            let (ok, failed) = load.finish();
            assert!(
                failed.is_empty(),
                "{} failed of {}: {failed:?}",
                failed.len(),
                ok + failed.len()
            );
            eprintln!("[{:?}] restart under load ok: {ok} requests", t0.elapsed());
        },
    );

    section(
        &mut results,
        &logs,
        "scale + roll every pod under load: 0 failures",
        || {
            // 8. Scaling and rolling every pod under load: zero failures.
            // From a pod that is not rolled: a rolled pod's successor here
            // shares its netns, which a real successor pod never does.
            let load = Load::start("p1c", "10.96.0.10:80");
            let outside = Load::start("c", "192.168.0.1:30080");
            load.pass(3);
            let mut w = c.world.clone();
            w.web.retain(|e| e.pod != "p2b");
            c.write(w.clone());
            want_live(&c, web, &["10.244.1.2", "10.244.1.3", "10.244.2.2"]);
            load.pass(3);
            w.web = web_all.clone();
            c.write(w.clone());
            want_live(
                &c,
                web,
                &["10.244.1.2", "10.244.1.3", "10.244.2.2", "10.244.2.3"],
            );
            load.pass(3);
            // Roll: each pod gets a successor at a new address (.12, .13), the old
            // one terminates (still serving), then goes.
            for (i, (pod, _, ip)) in PODS.iter().enumerate() {
                let new_ip = ip
                    .rsplit_once('.')
                    .map(|(a, b)| format!("{a}.1{b}"))
                    .unwrap();
                sh(&format!("ip -n {pod} addr add {new_ip}/24 dev eth0"));
                let old = w.web.iter().position(|e| e.pod == *pod).unwrap();
                w.web[old].ready = false;
                w.web[old].terminating = true;
                w.web.push(ep(pod, &new_ip));
                c.write(w.clone());
                let live_now: Vec<String> = w
                    .web
                    .iter()
                    .filter(|e| e.ready)
                    .map(|e| e.ip.clone())
                    .collect();
                let live_refs: Vec<&str> = live_now.iter().map(String::as_str).collect();
                want_live(&c, web, &live_refs);
                load.pass(2);
                w.web.remove(old);
                c.write(w.clone());
                // The old address stays until both proxies stopped using it.
                for n in ["n1", "n2"] {
                    let old_dest: SocketAddr = format!("{ip}:8080").parse().unwrap();
                    wait_until(&format!("{n}: {old_dest} drained"), 120, || {
                        ipvs(n)
                            .get(&web)
                            .map(|d| d.get(&old_dest).is_none_or(|w| *w == 0))
                            .unwrap_or(false)
                    });
                }
                load.pass(2);
                eprintln!("[{:?}] rolled pod {i} ({pod}) to {new_ip}", t0.elapsed());
            }
            let (ok, failed) = load.finish();
            let (ok2, failed2) = outside.finish();
            assert!(
                failed.is_empty(),
                "{} of {} failed: {failed:?}",
                failed.len(),
                ok + failed.len()
            );
            assert!(
                failed2.is_empty(),
                "{} of {} failed: {failed2:?}",
                failed2.len(),
                ok2 + failed2.len()
            );
            eprintln!(
                "[{:?}] scale + roll under load ok: {ok} + {ok2} requests",
                t0.elapsed()
            );
        },
    );

    section(
        &mut results,
        &logs,
        "loadBalancerSourceRanges refuses an outside client",
        || {
            // 9. loadBalancerSourceRanges: the client is allowed, then refused.
            assert!(tcp_from("c", "198.51.100.11:80").is_ok());
            let mut w = c.world.clone();
            w.ranges = vec!["10.99.0.0/16"];
            c.write(w);
            wait_until("client refused by loadBalancerSourceRanges", 120, || {
                tcp_from("c", "198.51.100.11:80").is_err()
            });
            // Other paths of the same service are not filtered.
            assert!(tcp_from("c", "192.168.0.1:30080").is_ok());
            eprintln!("[{:?}] source ranges ok", t0.elapsed());
        },
    );

    section(
        &mut results,
        &logs,
        "--ipvs-strict-arp sets arp_ignore=1 and arp_announce=2",
        || {
            let get = |k: &str| {
                sh(&format!(
                    "ip netns exec n2 cat /proc/sys/net/ipv4/conf/all/{k}"
                ))
                .trim()
                .to_string()
            };
            // The kernel's defaults, until a proxy with the flag starts.
            sh(
                "ip netns exec n2 sysctl -qw net.ipv4.conf.all.arp_ignore=0 net.ipv4.conf.all.arp_announce=0",
            );
            assert_eq!(
                (get("arp_ignore"), get("arp_announce")),
                ("0".into(), "0".into())
            );
            c.kill("n2");
            c.start_with("n2", &["--ipvs-strict-arp"]);
            wait_until("n2 restarted with --ipvs-strict-arp synced", 120, || {
                metric("n2", "lvs_proxy_syncs_total").unwrap_or(0.0) >= 1.0
            });
            assert_eq!(
                (get("arp_ignore"), get("arp_announce")),
                ("1".into(), "2".into())
            );
        },
    );

    section(
        &mut results,
        &logs,
        "--cleanup removes the proxy's services, dummy interface and nftables table only",
        || {
            // Someone else's IPVS service on node 2 must stay.
            sh("ip netns exec n2 ipvsadm -A -t 192.0.2.1:80 -s rr");
            let before = ipvs("n2");
            assert!(before.len() > 1, "{before:?}");
            c.kill("n2");
            let out = std::process::Command::new("ip")
                .args(["netns", "exec", "n2", env!("CARGO_BIN_EXE_lvs-proxy")])
                .args(["--cleanup", "--hostname-override", "node-2"])
                .args(["--nodeport-addresses", "192.168.0.0/24"])
                .output()
                .expect("lvs-proxy --cleanup runs");
            assert!(
                out.status.success(),
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let foreign = ServiceKey::tcp(SocketAddr::from(([192, 0, 2, 1], 80)));
            assert_eq!(ipvs("n2").into_keys().collect::<Vec<_>>(), [foreign]);
            let links = sh("ip -n n2 -o link show");
            assert!(!links.contains("kube-ipvs0"), "{links}");
            let tables = sh("ip netns exec n2 nft list tables");
            assert!(!tables.contains("lvs-proxy"), "{tables}");
            // Node 1 is untouched.
            assert!(ipvs("n1").contains_key(&web));
        },
    );

    eprintln!("----- results -----");
    for (name, r) in &results {
        match r {
            Ok(()) => eprintln!("PASS  {name}"),
            Err(e) => eprintln!("FAIL  {name}: {e}"),
        }
    }
    let failed: Vec<&String> = results
        .iter()
        .filter(|r| r.1.is_err())
        .map(|r| &r.0)
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}\n{}", diagnostics());
    for n in ["n1", "n2"] {
        let log = c.log(n);
        assert!(!log.contains("ERROR"), "{n} logged errors:\n{log}");
        // The scheduler's module is loaded at start, not by the kernel's
        // on-demand load under its IPVS mutex (lvs::kmod).
        assert!(
            log.contains("scheduler module loaded") && log.contains("ip_vs_rr"),
            "{n} did not load its scheduler's module:\n{log}"
        );
    }
    assert!(lvs::kmod::is_loaded("ip_vs_rr"));
}
