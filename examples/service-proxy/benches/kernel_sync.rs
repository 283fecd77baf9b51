//! Sync at scale, in the IPVS kernel (the rig runs it in the guest):
//! 10,000 Services x 10 endpoints programmed, then the time from one
//! EndpointSlice change arriving to the kernel updated (the proxy's normal
//! pass: only the changed Service translated, IPVS planned against the
//! reconciler's view), beside a full resync with nothing to change (every
//! Service translated, the whole table read and planned).
//!
//! `LVS_PROXY_BENCH_SERVICES` and `LVS_PROXY_BENCH_ENDPOINTS` change the
//! size. Run: `cargo bench -p lvs-service-proxy --bench kernel_sync`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use lvs::{Handle, ServiceKey};
use lvs_service_proxy::metrics::Metrics;
use lvs_service_proxy::proxy::{PassReport, Proxy};
use lvs_service_proxy::store::{Cluster, Event, Object, SERVICE_NAME_LABEL};
use lvs_service_proxy::translate::Config;

#[used]
static NEEDS_KERNEL: &[u8] = b"LVS_RIG_NEEDS_IPVS_KERNEL";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vip(i: usize) -> String {
    format!("10.96.{}.{}", i / 250, 1 + i % 250)
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some("bench".into()),
        name: Some(name.into()),
        ..ObjectMeta::default()
    }
}

fn service(i: usize) -> Service {
    Service {
        metadata: meta(&format!("s{i}")),
        spec: Some(ServiceSpec {
            cluster_ip: Some(vip(i)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: 80,
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn slice(i: usize, eps: usize, generation: usize) -> EndpointSlice {
    let mut m = meta(&format!("s{i}-x"));
    m.labels = Some(BTreeMap::from([(
        SERVICE_NAME_LABEL.to_string(),
        format!("s{i}"),
    )]));
    EndpointSlice {
        metadata: m,
        address_type: "IPv4".into(),
        ports: Some(vec![EndpointPort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            ..EndpointPort::default()
        }]),
        endpoints: (0..eps)
            .map(|e| {
                // `generation` moves the last endpoint: one changed address.
                let n = i * eps + e + if e + 1 == eps { generation * 7919 } else { 0 };
                Endpoint {
                    addresses: vec![format!(
                        "10.{}.{}.{}",
                        128 + (n >> 16) % 64,
                        (n >> 8) & 255,
                        n & 255
                    )],
                    node_name: Some("node-x".into()),
                    ..Endpoint::default()
                }
            })
            .collect(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn show(what: &str, r: &PassReport) {
    println!(
        "{what:<38} {:>9.1} ms  ({} Services translated in {:.1}; IPVS {} {:.1} ({} destination dumps), plan {:.1}, apply {:.1}; {} writes)",
        ms(r.duration),
        r.translated,
        ms(r.translate_time),
        if r.ipvs.full_read {
            "whole-table read"
        } else {
            "view + reads"
        },
        ms(r.ipvs.read_time),
        r.ipvs.destination_dumps,
        ms(r.ipvs.plan_time),
        ms(r.ipvs.apply_time),
        r.ipvs.writes
    );
}

fn main() {
    let n = env("LVS_PROXY_BENCH_SERVICES", 10_000);
    let eps = env("LVS_PROXY_BENCH_ENDPOINTS", 10);
    let _ = std::process::Command::new("modprobe")
        .args(["-a", "ip_vs", "ip_vs_rr"])
        .status();
    let handle = match Handle::open() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("kernel_sync: cannot reach IPVS: {e}");
            std::process::exit(1);
        }
    };
    let mut cluster = Cluster::new("node-x");
    let t = Instant::now();
    for i in 0..n {
        cluster.apply(Event::Upsert(Object::Service(Box::new(service(i)))));
        cluster.apply(Event::Upsert(Object::Slice(Box::new(slice(i, eps, 0)))));
    }
    println!(
        "{n} Services x {eps} endpoints; cluster built in {:.1} ms",
        ms(t.elapsed())
    );
    let mut proxy = Proxy::new(
        cluster,
        Config::default(),
        handle,
        None,
        Arc::new(Metrics::new()),
    );
    let first = proxy.sync().expect("first pass");
    show("initial programming", &first);
    assert_eq!(first.ipvs.failures, 0, "{}", first.ipvs.plan);

    let mut full = Vec::new();
    for _ in 0..3 {
        proxy.request_full_pass();
        let r = proxy.sync().expect("full pass");
        assert_eq!(r.ipvs.writes, 0, "{}", r.ipvs.plan);
        assert!(r.ipvs.full_read && r.translated == n);
        full.push(r);
    }
    full.sort_by_key(|r| r.duration);
    show("full resync, nothing changed (median)", &full[1]);

    let mut change = Vec::new();
    for g in 1..=5 {
        let i = (g * 1237) % n;
        let s = slice(i, eps, g);
        let moved = s.endpoints[eps - 1].addresses[0].clone();
        let arrived = Instant::now();
        proxy
            .cluster
            .apply(Event::Upsert(Object::Slice(Box::new(s))));
        let mut r = proxy.sync().expect("pass after a change");
        r.duration = arrived.elapsed();
        assert!(
            r.ipvs.writes >= 1 && r.ipvs.failures == 0,
            "{}",
            r.ipvs.plan
        );
        assert!(!r.ipvs.full_read && r.translated == 1);
        change.push(r);
        // The kernel has the moved endpoint (one service's dump: a
        // whole-table read here would also stretch the time the next
        // pass's verification slice covers).
        let key = ServiceKey::tcp(
            format!("{}:80", vip(i))
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        );
        let dests = proxy
            .ipvs
            .kernel_mut()
            .destinations_of(&[key])
            .expect("destinations");
        assert!(
            dests[0]
                .iter()
                .any(|d| d.destination.addr.ip().to_string() == moved && d.destination.weight > 0),
            "{moved} not in {dests:?}"
        );
    }
    // Each pass also verifies a share of the table proportional to the
    // time since the previous pass (the whole table once per 60 s): the
    // first change, which follows a 3-4 s resync, verifies the most.
    let each: Vec<String> = change
        .iter()
        .map(|r| {
            format!(
                "{:.1} ms/{} dumps",
                ms(r.duration),
                r.ipvs.destination_dumps
            )
        })
        .collect();
    println!("one EndpointSlice change, in order: {}", each.join(", "));
    change.sort_by_key(|r| r.duration);
    show("one EndpointSlice change (median of 5)", &change[2]);
    println!(
        "ratio change/full resync: {:.3}  (target for the change: < 50 ms)",
        change[2].duration.as_secs_f64() / full[1].duration.as_secs_f64()
    );
}
