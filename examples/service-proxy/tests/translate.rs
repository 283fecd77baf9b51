//! The core translation, on plain objects: kube-proxy IPVS-mode semantics.

use std::net::{IpAddr, SocketAddr};

use lvs::{Protocol, ServiceKey};
use lvs_service_proxy::manifest::parse_text;
use lvs_service_proxy::nft::{self, Tuple};
use lvs_service_proxy::store::{Cluster, Event, Kind, Object};
use lvs_service_proxy::translate::{Config, Translation, Translator, node_addresses, translate};
use serde_json::{Value, json};

const NODE: &str = "node-1";

fn cluster(objects: Vec<Value>) -> Cluster {
    let mut c = Cluster::new(NODE);
    let text = serde_json::to_string(&json!({"kind": "List", "items": objects})).unwrap();
    let parsed = parse_text("test", &text);
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    for kind in [Kind::Service, Kind::Slice, Kind::Node] {
        c.apply(Event::Replace(kind, parsed.objects.clone()));
    }
    c
}

fn svc(name: &str, spec: Value) -> Value {
    json!({"kind": "Service", "apiVersion": "v1",
           "metadata": {"namespace": "default", "name": name}, "spec": spec})
}

fn lb_svc(name: &str, spec: Value, ingress: Value) -> Value {
    let mut s = svc(name, spec);
    s["status"] = json!({"loadBalancer": {"ingress": ingress}});
    s
}

/// A slice of `service` with `ports` ([name, number, protocol]) and
/// endpoints ([address, node, ready, serving, terminating]).
fn slice(
    service: &str,
    name: &str,
    family: &str,
    ports: Value,
    eps: &[(&str, &str, bool, bool, bool)],
) -> Value {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|(a, n, r, s, t)| {
            json!({"addresses": [a], "nodeName": n,
              "conditions": {"ready": r, "serving": s, "terminating": t}})
        })
        .collect();
    json!({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
           "metadata": {"namespace": "default", "name": name,
                        "labels": {"kubernetes.io/service-name": service}},
           "addressType": family, "ports": ports, "endpoints": endpoints})
}

fn node(addrs: &[&str]) -> Value {
    let a: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"type": "InternalIP", "address": a}))
        .collect();
    json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": NODE},
           "status": {"addresses": a}})
}

fn run(objects: Vec<Value>, cfg: &Config) -> Translation {
    let c = cluster(objects);
    let addrs = node_addresses(&c, &[], cfg);
    translate(&c, &addrs, cfg)
}

fn dests(t: &Translation, key: ServiceKey) -> Vec<SocketAddr> {
    let mut v: Vec<SocketAddr> = t
        .desired
        .get(&key)
        .unwrap_or_else(|| panic!("no service {key} in {:#?}", t.desired))
        .destinations
        .iter()
        .map(|d| d.addr)
        .collect();
    v.sort();
    v
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tcp(s: &str) -> ServiceKey {
    ServiceKey::tcp(sa(s))
}

const READY: (bool, bool, bool) = (true, true, false);

fn ep<'a>(a: &'a str, n: &'a str) -> (&'a str, &'a str, bool, bool, bool) {
    (a, n, READY.0, READY.1, READY.2)
}

#[test]
fn cluster_ip_with_named_and_numbered_target_ports() {
    let t = run(
        vec![
            svc(
                "web",
                json!({"clusterIP": "10.96.0.10", "ports": [
                {"name": "http", "port": 80, "targetPort": "web"},
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353},
                {"name": "sig", "port": 9000, "protocol": "SCTP"}]}),
            ),
            slice(
                "web",
                "web-a",
                "IPv4",
                json!([{"name": "http", "port": 8080, "protocol": "TCP"},
                       {"name": "dns", "port": 5353, "protocol": "UDP"},
                       {"name": "sig", "port": 9000, "protocol": "SCTP"}]),
                &[ep("10.244.1.2", "node-1"), ep("10.244.2.2", "node-2")],
            ),
        ],
        &Config::default(),
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    assert_eq!(
        dests(&t, tcp("10.96.0.10:80")),
        [sa("10.244.1.2:8080"), sa("10.244.2.2:8080")]
    );
    assert_eq!(
        dests(&t, ServiceKey::udp(sa("10.96.0.10:53"))),
        [sa("10.244.1.2:5353"), sa("10.244.2.2:5353")]
    );
    assert_eq!(dests(&t, ServiceKey::sctp(sa("10.96.0.10:9000"))).len(), 2);
    assert_eq!(t.desired.len(), 3);
    let s = &t.desired.get(&tcp("10.96.0.10:80")).unwrap().service;
    assert_eq!(s.scheduler.name(), "rr");
    assert_eq!(s.persistence, None);
    assert_eq!(
        t.bind.iter().collect::<Vec<_>>(),
        [&"10.96.0.10".parse::<IpAddr>().unwrap()]
    );
    assert_eq!((t.services, t.endpoints), (1, 6));
    // Hairpin entries for every endpoint.
    assert!(t.nft.hairpin.contains(&Tuple {
        addr: "10.244.1.2".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 8080
    }));
}

#[test]
fn headless_and_external_name_are_ignored_without_complaint() {
    let t = run(
        vec![
            svc("h", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
            svc(
                "x",
                json!({"type": "ExternalName", "externalName": "example.invalid"}),
            ),
        ],
        &Config::default(),
    );
    assert!(t.desired.is_empty());
    assert!(t.problems.is_empty());
    assert!(t.bind.is_empty());
}

#[test]
fn dual_stack_uses_slices_of_each_family() {
    let t = run(
        vec![
            svc(
                "ds",
                json!({"clusterIPs": ["10.96.0.20", "fd00::20"], "ports": [{"port": 80}]}),
            ),
            slice(
                "ds",
                "ds-v4",
                "IPv4",
                json!([{"port": 8080}]),
                &[ep("10.244.1.5", "node-1")],
            ),
            slice(
                "ds",
                "ds-v6",
                "IPv6",
                json!([{"port": 8080}]),
                &[ep("fd01::5", "node-1")],
            ),
            slice(
                "ds",
                "ds-fqdn",
                "FQDN",
                json!([{"port": 8080}]),
                &[ep("a.example", "node-1")],
            ),
        ],
        &Config::default(),
    );
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    assert_eq!(dests(&t, tcp("10.96.0.20:80")), [sa("10.244.1.5:8080")]);
    assert_eq!(dests(&t, tcp("[fd00::20]:80")), [sa("[fd01::5]:8080")]);
    assert_eq!(t.bind.len(), 2);
}

#[test]
fn node_port_on_filtered_node_addresses_with_masquerade() {
    let cfg = Config {
        nodeport_cidrs: vec!["192.168.0.0/16".parse().unwrap()],
        ..Config::default()
    };
    let t = run(
        vec![
            node(&["192.168.1.1", "172.16.0.1", "127.0.0.1"]),
            svc(
                "np",
                json!({"type": "NodePort", "clusterIP": "10.96.0.30",
                "ports": [{"port": 80, "nodePort": 30080}]}),
            ),
            slice(
                "np",
                "np-a",
                "IPv4",
                json!([{"port": 8080}]),
                &[ep("10.244.2.9", "node-2")],
            ),
        ],
        &cfg,
    );
    assert_eq!(dests(&t, tcp("192.168.1.1:30080")), [sa("10.244.2.9:8080")]);
    assert!(t.desired.get(&tcp("172.16.0.1:30080")).is_none());
    assert!(t.desired.get(&tcp("127.0.0.1:30080")).is_none());
    assert_eq!(
        t.node_ports.iter().collect::<Vec<_>>(),
        [&tcp("192.168.1.1:30080")]
    );
    // Node addresses are not bound on the dummy interface.
    assert_eq!(t.bind.len(), 1);
    let np = Tuple {
        addr: "192.168.1.1".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 30080,
    };
    assert!(t.nft.masquerade.contains(&np));
}

#[test]
fn external_traffic_policy_local_and_health_check() {
    let objects = |local_ready: bool| {
        vec![
            node(&["192.168.1.1"]),
            lb_svc(
                "lb",
                json!({"type": "LoadBalancer", "clusterIP": "10.96.0.40",
                "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
                "externalIPs": ["198.51.100.7"],
                "loadBalancerSourceRanges": ["203.0.113.0/24", "bogus"],
                "ports": [{"port": 80, "nodePort": 30081}]}),
                json!([{"ip": "198.51.100.1"}, {"ip": "198.51.100.2", "ipMode": "Proxy"}]),
            ),
            slice(
                "lb",
                "lb-a",
                "IPv4",
                json!([{"port": 8080}]),
                &[
                    ("10.244.1.3", "node-1", local_ready, local_ready, false),
                    ep("10.244.2.3", "node-2"),
                ],
            ),
        ]
    };
    let t = run(objects(true), &Config::default());
    // ClusterIP: every endpoint; external paths: only this node's.
    assert_eq!(dests(&t, tcp("10.96.0.40:80")).len(), 2);
    for k in ["198.51.100.1:80", "198.51.100.7:80", "192.168.1.1:30081"] {
        assert_eq!(dests(&t, tcp(k)), [sa("10.244.1.3:8080")], "{k}");
    }
    // ipMode Proxy: not captured.
    assert!(t.desired.get(&tcp("198.51.100.2:80")).is_none());
    assert!(!t.bind.contains(&"198.51.100.2".parse::<IpAddr>().unwrap()));
    // Local: no masquerade on external paths.
    assert!(t.nft.masquerade.is_empty());
    let h = &t.health[&32000];
    assert_eq!((h.service.as_str(), h.local_endpoints), ("default/lb", 1));
    // Source ranges on the LB IP only; the bad entry is reported.
    let lb = Tuple {
        addr: "198.51.100.1".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    assert_eq!(
        t.nft.source_ranges[&lb],
        ["203.0.113.0/24".parse().unwrap()]
    );
    assert_eq!(t.nft.source_ranges.len(), 1);
    assert!(
        t.problems
            .iter()
            .any(|p| p.object == "Service default/lb" && p.reason.contains("bogus"))
    );

    // No local endpoint: the external services exist with no destination
    // (traffic dropped, as kube-proxy) and the health check says 0.
    let t = run(objects(false), &Config::default());
    assert_eq!(dests(&t, tcp("198.51.100.1:80")), []);
    assert_eq!(t.health[&32000].local_endpoints, 0);
}

#[test]
fn cluster_policy_masquerades_external_paths_and_cluster_cidr_ip() {
    let cfg = Config {
        cluster_cidrs: vec!["10.244.0.0/16".parse().unwrap()],
        ..Config::default()
    };
    let t = run(
        vec![svc(
            "c",
            json!({"clusterIP": "10.96.0.41", "externalIPs": ["198.51.100.9"],
            "ports": [{"port": 80}]}),
        )],
        &cfg,
    );
    let t9 = Tuple {
        addr: "198.51.100.9".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let tc = Tuple {
        addr: "10.96.0.41".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    assert!(t.nft.masquerade.contains(&t9));
    assert!(t.nft.masquerade_outside.contains(&tc));
    let all = run(
        vec![svc(
            "c",
            json!({"clusterIP": "10.96.0.41", "ports": [{"port": 80}]}),
        )],
        &Config {
            masquerade_all: true,
            ..Config::default()
        },
    );
    assert!(all.nft.masquerade.contains(&tc));
}

#[test]
fn internal_traffic_policy_local() {
    let t = run(
        vec![
            svc(
                "i",
                json!({"clusterIP": "10.96.0.50", "internalTrafficPolicy": "Local",
                "ports": [{"port": 80}]}),
            ),
            slice(
                "i",
                "i-a",
                "IPv4",
                json!([{"port": 80}]),
                &[ep("10.244.1.7", "node-1"), ep("10.244.2.7", "node-2")],
            ),
        ],
        &Config::default(),
    );
    assert_eq!(dests(&t, tcp("10.96.0.50:80")), [sa("10.244.1.7:80")]);
}

#[test]
fn session_affinity_is_persistence() {
    let t = run(
        vec![
            svc(
                "a",
                json!({"clusterIP": "10.96.0.60", "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
                "ports": [{"port": 80}]}),
            ),
            svc(
                "b",
                json!({"clusterIP": "10.96.0.61", "sessionAffinity": "ClientIP",
                "ports": [{"port": 80}]}),
            ),
        ],
        &Config::default(),
    );
    let p = |k| {
        t.desired
            .get(&tcp(k))
            .unwrap()
            .service
            .persistence
            .map(|p| p.timeout)
    };
    assert_eq!(p("10.96.0.60:80"), Some(600));
    assert_eq!(p("10.96.0.61:80"), Some(10_800));
}

#[test]
fn endpoint_conditions() {
    let objs = |eps: &[(&str, &str, bool, bool, bool)]| {
        vec![
            svc(
                "e",
                json!({"clusterIP": "10.96.0.70", "ports": [{"port": 80}]}),
            ),
            slice("e", "e-a", "IPv4", json!([{"port": 80}]), eps),
        ]
    };
    // Ready ones win; terminating (even serving) and not-ready are out.
    let t = run(
        objs(&[
            ("10.244.1.1", "node-1", true, true, false),
            ("10.244.1.2", "node-1", false, true, true),
            ("10.244.1.3", "node-1", false, false, false),
        ]),
        &Config::default(),
    );
    assert_eq!(dests(&t, tcp("10.96.0.70:80")), [sa("10.244.1.1:80")]);
    // No ready endpoint left: serving-terminating ones are used.
    let t = run(
        objs(&[
            ("10.244.1.2", "node-1", false, true, true),
            ("10.244.1.4", "node-1", false, false, true),
            ("10.244.1.3", "node-1", false, false, false),
        ]),
        &Config::default(),
    );
    assert_eq!(dests(&t, tcp("10.96.0.70:80")), [sa("10.244.1.2:80")]);
    // Conditions missing: ready.
    let mut o = objs(&[]);
    o[1]["endpoints"] = json!([{"addresses": ["10.244.1.9"]}]);
    let t = run(o, &Config::default());
    assert_eq!(dests(&t, tcp("10.96.0.70:80")), [sa("10.244.1.9:80")]);
}

#[test]
fn bad_objects_are_reported_and_skipped() {
    let t = run(
        vec![
            svc("noports", json!({"clusterIP": "10.96.0.80"})),
            svc(
                "badip",
                json!({"clusterIP": "10.96.0.999", "ports": [{"port": 80}]}),
            ),
            svc(
                "icmp",
                json!({"clusterIP": "10.96.0.81", "ports": [
                {"name": "x", "port": 1, "protocol": "ICMP"}, {"name": "y", "port": 80}]}),
            ),
            svc(
                "zdup",
                json!({"clusterIP": "10.96.0.81", "ports": [{"name": "y", "port": 80}]}),
            ),
            svc(
                "good",
                json!({"clusterIP": "10.96.0.82", "ports": [{"port": 80}]}),
            ),
            slice(
                "good",
                "good-a",
                "IPv4",
                json!([{"port": 80}]),
                &[
                    ep("10.244.1.300", "node-1"),
                    ep("10.244.1.8", "node-1"),
                    ep("fd00::1", "node-1"),
                ],
            ),
        ],
        &Config::default(),
    );
    let mut objs: Vec<&str> = t.problems.iter().map(|p| p.object.as_str()).collect();
    objs.sort();
    objs.dedup();
    assert_eq!(
        objs,
        [
            "EndpointSlice default/good-a",
            "Service default/badip",
            "Service default/icmp",
            "Service default/noports",
            "Service default/zdup"
        ]
    );
    // The good parts still work.
    assert_eq!(dests(&t, tcp("10.96.0.82:80")), [sa("10.244.1.8:80")]);
    assert!(t.desired.get(&tcp("10.96.0.81:80")).is_some());
    assert_eq!(t.desired.len(), 2);
}

#[test]
fn scheduler_flag() {
    let cfg = Config {
        scheduler: lvs::Scheduler::from_name("wlc").unwrap(),
        ..Config::default()
    };
    let t = run(
        vec![svc(
            "s",
            json!({"clusterIP": "10.96.0.90", "ports": [{"port": 80}]}),
        )],
        &cfg,
    );
    assert_eq!(t.desired.services[0].service.scheduler.name(), "wlc");
}

#[test]
fn nft_script_has_every_set_and_element() {
    let t = run(
        vec![
            node(&["192.168.1.1"]),
            lb_svc(
                "lb",
                json!({"type": "LoadBalancer", "clusterIP": "10.96.0.40",
                "loadBalancerSourceRanges": ["203.0.113.0/24"],
                "ports": [{"port": 80, "nodePort": 30081}]}),
                json!([{"ip": "198.51.100.1"}]),
            ),
            slice(
                "lb",
                "lb-a",
                "IPv4",
                json!([{"port": 8080}]),
                &[ep("10.244.1.3", "node-1")],
            ),
        ],
        &Config::default(),
    );
    let s = nft::render(&t.nft, &["10.244.0.0/16".parse().unwrap()]);
    for want in [
        "table inet lvs-proxy\ndelete table inet lvs-proxy\n",
        "set masq4 { type ipv4_addr . inet_proto . inet_service; elements = { 192.168.1.1 . tcp . 30081, 198.51.100.1 . tcp . 80 }; }",
        "set cluster-cidr4 { type ipv4_addr; flags interval; elements = { 10.244.0.0/16 }; }",
        "set hairpin4 { type ipv4_addr . inet_proto . inet_service . ipv4_addr; elements = { 10.244.1.3 . tcp . 8080 . 10.244.1.3 }; }",
        "set fw4 { type ipv4_addr . inet_proto . inet_service; elements = { 198.51.100.1 . tcp . 80 }; }",
        "elements = { 198.51.100.1 . tcp . 80 . 203.0.113.0/24 }",
        "ip daddr . meta l4proto . th dport @fw4 ip daddr . meta l4proto . th dport . ip saddr != @fw-allow4 counter drop",
        "masquerade",
    ] {
        assert!(s.contains(want), "missing {want:?} in\n{s}");
    }
}

// ----- incremental translation ---------------------------------------------

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

fn object(v: Value) -> Object {
    let mut p = parse_text("gen", &v.to_string());
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    assert_eq!(p.objects.len(), 1);
    p.objects.remove(0)
}

/// A random Service `s{i}`: mostly its own ClusterIP and ports;
/// sometimes another Service's ClusterIP and ports or health-check port
/// (clashes); load-balancer and external IPs shared by several Services
/// (on different ports); any type and policy.
fn random_service(r: &mut Rng, i: u64) -> Object {
    let j = if r.one_in(20) { r.below(6) } else { i };
    let (ip, http, dns) = (j, 8000 + j, 5300 + j);
    let mut ports = vec![json!({"name": "http", "port": http, "targetPort": "http",
                                "nodePort": 30000 + j})];
    if r.one_in(2) {
        ports.push(
            json!({"name": "dns", "port": dns, "protocol": "UDP", "targetPort": 5353,
                          "nodePort": 31000 + j}),
        );
    }
    let type_ = ["ClusterIP", "NodePort", "LoadBalancer"][r.below(3) as usize];
    let mut spec = json!({"type": type_, "clusterIP": format!("10.96.0.{ip}"), "ports": ports,
        "externalTrafficPolicy": if r.one_in(2) { "Local" } else { "Cluster" },
        "healthCheckNodePort": if r.one_in(25) { 32000 } else { 32000 + i }});
    if r.one_in(4) {
        spec["internalTrafficPolicy"] = json!("Local");
    }
    if r.one_in(4) {
        spec["externalIPs"] = json!([format!("192.0.2.{}", r.below(3))]);
    }
    if r.one_in(4) {
        spec["sessionAffinity"] = json!("ClientIP");
    }
    if r.one_in(5) {
        spec["loadBalancerSourceRanges"] = json!(["203.0.113.0/24"]);
    }
    let ingress = json!([{"ip": format!("198.51.100.{}", r.below(3))}]);
    object(lb_svc(&format!("s{i}"), spec, ingress))
}

/// A random slice `s{i}-{part}` of Service `s{i}` (sometimes of another
/// one: a relabelled slice moves), endpoints from a pool every Service
/// shares (hairpin entries in common).
fn random_slice(r: &mut Rng, i: u64, part: u64) -> Value {
    let owner = if r.one_in(8) { r.below(6) } else { i };
    let n = r.below(4);
    let eps: Vec<(String, &str, bool, bool, bool)> = (0..n)
        .map(|_| {
            let node = if r.one_in(2) { "node-1" } else { "node-2" };
            let addr = format!("10.244.{}.{}", 1 + r.below(2), 2 + r.below(3));
            (addr, node, !r.one_in(3), !r.one_in(4), r.one_in(3))
        })
        .collect();
    let eps: Vec<(&str, &str, bool, bool, bool)> = eps
        .iter()
        .map(|(a, n, x, y, z)| (a.as_str(), *n, *x, *y, *z))
        .collect();
    slice(
        &format!("s{owner}"),
        &format!("s{i}-{part}"),
        "IPv4",
        json!([{"name": "http", "port": 8080, "protocol": "TCP"},
               {"name": "dns", "port": 5353, "protocol": "UDP"}]),
        &eps,
    )
}

/// `t` with its IPVS services in key order: the one thing the
/// incremental translation leaves in another order.
fn sorted(t: &Translation) -> Translation {
    let mut t = t.clone();
    t.desired.services.sort_by_key(|s| s.service.key);
    t
}

#[test]
fn incremental_translation_equals_a_full_one_after_every_event() {
    for seed in [1u64, 7, 42, 1234, 99_991] {
        let mut r = Rng(seed);
        let mut c = Cluster::new(NODE);
        let mut cfg = Config {
            nodeport_cidrs: vec!["192.168.0.0/16".parse().unwrap()],
            ..Config::default()
        };
        let mut node_ips = vec!["192.168.0.1"];
        let mut tr = Translator::new();
        let (mut partial, mut full) = (0, 0);
        let mut services: Vec<Object> = Vec::new();
        for step in 0..400 {
            let i = r.below(6);
            let what = r.below(20);
            let event = match what {
                0..=5 => {
                    let s = random_service(&mut r, i);
                    services.retain(|o| o.key() != s.key());
                    services.push(s.clone());
                    Event::Upsert(s)
                }
                6..=12 => {
                    let part = r.below(2);
                    Event::Upsert(object(random_slice(&mut r, i, part)))
                }
                13 => {
                    let part = r.below(2);
                    Event::Delete(object(random_slice(&mut r, i, part)))
                }
                14 => {
                    let s = random_service(&mut r, i);
                    services.retain(|o| o.key() != s.key());
                    Event::Delete(s)
                }
                15 => {
                    // A re-list: everything again, one Service changed.
                    let s = random_service(&mut r, i);
                    services.retain(|o| o.key() != s.key());
                    services.push(s);
                    Event::Replace(Kind::Service, services.clone())
                }
                16 => {
                    node_ips = if node_ips.len() == 1 {
                        vec!["192.168.0.1", "192.168.1.1"]
                    } else {
                        vec!["192.168.0.1"]
                    };
                    Event::Upsert(object(node(&node_ips)))
                }
                17 => {
                    cfg.masquerade_all = !cfg.masquerade_all;
                    Event::Replace(Kind::Slice, Vec::new())
                }
                _ => {
                    cfg.cluster_cidrs = if cfg.cluster_cidrs.is_empty() {
                        vec!["10.244.0.0/16".parse().unwrap()]
                    } else {
                        Vec::new()
                    };
                    Event::Upsert(object(random_slice(&mut r, i, 0)))
                }
            };
            c.apply(event);
            let changes = c.take_changes();
            let addrs = node_addresses(&c, &[], &cfg);
            let n = tr.update(&c, &changes, &addrs, &cfg);
            if n < c.services().len() {
                partial += 1;
            } else {
                full += 1;
            }
            let want = translate(&c, &addrs, &cfg);
            assert_eq!(
                sorted(tr.translation()),
                sorted(&want),
                "seed {seed}, step {step}: incremental != full"
            );
        }
        // Both paths ran, the incremental one mostly.
        assert!(
            partial > 120 && full > 10,
            "seed {seed}: {partial} incremental, {full} full"
        );
    }
}

#[test]
fn one_slice_change_translates_one_service() {
    let mut c = Cluster::new(NODE);
    for i in 0..50 {
        c.apply(Event::Upsert(object(svc(
            &format!("s{i}"),
            json!({"clusterIP": format!("10.96.1.{i}"), "ports": [{"name": "http", "port": 80}]}),
        ))));
        c.apply(Event::Upsert(object(slice(
            &format!("s{i}"),
            &format!("s{i}-a"),
            "IPv4",
            json!([{"name": "http", "port": 8080}]),
            &[ep("10.244.1.2", "node-1")],
        ))));
    }
    let cfg = Config::default();
    let mut tr = Translator::new();
    let mut update = |c: &mut Cluster, cfg: &Config| {
        let changes = c.take_changes();
        tr.update(c, &changes, &[], cfg)
    };
    assert_eq!(update(&mut c, &cfg), 50);
    // Nothing changed: nothing translated.
    assert_eq!(update(&mut c, &cfg), 0);
    c.apply(Event::Upsert(object(slice(
        "s7",
        "s7-a",
        "IPv4",
        json!([{"name": "http", "port": 8080}]),
        &[ep("10.244.1.2", "node-1"), ep("10.244.2.9", "node-2")],
    ))));
    assert_eq!(update(&mut c, &cfg), 1);
    assert_eq!(
        dests(tr.translation(), tcp("10.96.1.7:80")),
        [sa("10.244.1.2:8080"), sa("10.244.2.9:8080")]
    );
    assert_eq!(sorted(tr.translation()), sorted(&translate(&c, &[], &cfg)));
    // A new configuration translates everything.
    let cfg = Config {
        masquerade_all: true,
        ..Config::default()
    };
    let changes = c.take_changes();
    assert_eq!(tr.update(&c, &changes, &[], &cfg), 50);
}
