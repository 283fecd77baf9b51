//! The sync pass on a fake kernel (logic only; the kernel tests prove it
//! against IPVS): ownership, restarts, drains, bad input.

use std::sync::Arc;

use lvs::reconcile::{FakeKernel, Kernel};
use lvs::{ConnCounts, Destination, Op, Service, ServiceKey};
use lvs_service_proxy::manifest::parse_text;
use lvs_service_proxy::metrics::Metrics;
use lvs_service_proxy::proxy::Proxy;
use lvs_service_proxy::store::{Cluster, Event, Kind};
use lvs_service_proxy::translate::Config;

fn objects(eps: &[(&str, bool)]) -> String {
    let mut eps_yaml = String::new();
    for (a, terminating) in eps {
        eps_yaml.push_str(&format!(
            "- addresses: [\"{a}\"]\n  nodeName: node-2\n  conditions: {{ready: {}, serving: true, terminating: {terminating}}}\n",
            !terminating
        ));
    }
    format!(
        "apiVersion: v1
kind: Service
metadata: {{namespace: default, name: web}}
spec:
  clusterIP: 10.96.0.10
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: default
  name: web-1
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{{name: http, port: 8080}}]
endpoints:
{eps_yaml}"
    )
}

fn load(c: &mut Cluster, text: &str) {
    let p = parse_text("t.yaml", text);
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    for k in [Kind::Service, Kind::Slice, Kind::Node] {
        c.apply(Event::Replace(k, p.objects.clone()));
    }
}

fn proxy(kernel: FakeKernel, text: &str) -> Proxy<FakeKernel> {
    let mut c = Cluster::new("node-1");
    load(&mut c, text);
    Proxy::new(c, Config::default(), kernel, None, Arc::new(Metrics::new()))
}

#[test]
fn restart_on_an_unchanged_cluster_writes_nothing_and_foreign_services_stay() {
    let mut kernel = FakeKernel::new();
    // Someone else's service on the host.
    let foreign = ServiceKey::tcp(([192, 0, 2, 1], 80));
    kernel.apply(&[Op::AddService(Service::new(foreign))]);
    let text = objects(&[("10.244.2.2", false), ("10.244.2.3", false)]);
    let mut p = proxy(kernel, &text);
    let r = p.sync().unwrap();
    assert_eq!(r.ipvs.writes, 3, "{}", r.ipvs.plan);
    assert_eq!(r.address_changes, 1);
    let again = p.sync().unwrap();
    assert_eq!(again.ipvs.writes, 0);

    // A new process: same kernel, same cluster. The dummy interface keeps
    // its address, which the fake node side cannot carry over, so the
    // new proxy is told about it through a first pass that binds it.
    let kernel = std::mem::take(p.ipvs.kernel_mut());
    let mut p2 = proxy(kernel, &text);
    let r = p2.sync().unwrap();
    assert_eq!(r.ipvs.writes, 0, "{}", r.ipvs.plan);
    assert!(
        p2.ipvs
            .kernel()
            .snapshot()
            .iter()
            .any(|e| e.service.service.key == foreign)
    );
    let m = p2.metrics.render();
    assert!(m.contains("lvs_proxy_ipvs_writes_total 0"), "{m}");
    assert!(m.contains("lvs_proxy_endpoints 2"), "{m}");
}

#[test]
fn terminating_endpoints_drain_then_go_and_deleted_services_go() {
    let key = ServiceKey::tcp(([10, 96, 0, 10], 80));
    let a = "10.244.2.2:8080".parse().unwrap();
    let mut p = proxy(
        FakeKernel::new(),
        &objects(&[("10.244.2.2", false), ("10.244.2.3", false)]),
    );
    p.sync().unwrap();
    p.ipvs.kernel_mut().set_conns(
        &key,
        a,
        ConnCounts {
            active: 1,
            ..Default::default()
        },
    );
    load(
        &mut p.cluster,
        &objects(&[("10.244.2.2", true), ("10.244.2.3", false)]),
    );
    let r = p.sync().unwrap();
    assert!(
        r.ipvs.plan.contains("weight 1 -> 0 (drain)"),
        "{}",
        r.ipvs.plan
    );
    assert_eq!(r.ipvs.draining, 1);
    p.ipvs.kernel_mut().clear_conns();
    let r = p.sync().unwrap();
    assert!(
        r.ipvs
            .plan
            .contains("- dest TCP 10.96.0.10:80 -> 10.244.2.2:8080 (drained)"),
        "{}",
        r.ipvs.plan
    );

    // Every endpoint terminating but serving: they are used.
    load(&mut p.cluster, &objects(&[("10.244.2.3", true)]));
    let r = p.sync().unwrap();
    assert_eq!(r.ipvs.writes, 0, "{}", r.ipvs.plan);

    // Service deleted: IPVS service and address go; the foreign-free
    // table is empty.
    p.cluster.apply(Event::Replace(Kind::Service, Vec::new()));
    let r = p.sync().unwrap();
    assert_eq!(r.address_changes, 1);
    assert_eq!(p.ipvs.kernel().service_count(), 0, "{}", r.ipvs.plan);
}

#[test]
fn bad_input_is_counted_once_and_never_stops_a_pass() {
    let mut text = objects(&[("10.244.2.2", false)]);
    text.push_str(
        "---\napiVersion: v1\nkind: Service\nmetadata: {namespace: default, name: bad}\nspec: {clusterIP: 10.96.0.11}\n",
    );
    let mut p = proxy(FakeKernel::new(), &text);
    let r = p.sync().unwrap();
    assert_eq!(r.new_problems.len(), 1);
    assert_eq!(r.new_problems[0].object, "Service default/bad");
    assert_eq!(p.ipvs.kernel().service_count(), 1);
    let r = p.sync().unwrap();
    assert!(r.new_problems.is_empty());
    assert!(
        p.metrics
            .render()
            .contains("lvs_proxy_invalid_objects_total 1")
    );
    let _ = Destination::new(([10, 0, 0, 1], 80));
}

#[test]
fn restart_with_an_unapplied_change_plans_exactly_that_change() {
    // The old process programmed two endpoints, then died before a pass
    // saw the slice lose one: the new process's first pass (a full read)
    // starts that drain and writes nothing else. (What the kernel test's
    // restart check once caught: it killed a proxy that had not applied
    // the last edit yet.)
    let mut p = proxy(
        FakeKernel::new(),
        &objects(&[("10.244.2.2", false), ("10.244.2.3", false)]),
    );
    p.sync().unwrap();
    let key = ServiceKey::tcp(([10, 96, 0, 10], 80));
    let gone = "10.244.2.3:8080".parse().unwrap();
    let mut kernel = std::mem::take(p.ipvs.kernel_mut());
    kernel.set_conns(
        &key,
        gone,
        ConnCounts {
            active: 1,
            ..Default::default()
        },
    );
    let mut p2 = proxy(kernel, &objects(&[("10.244.2.2", false)]));
    let r = p2.sync().unwrap();
    assert!(r.ipvs.full_read);
    assert_eq!(
        r.ipvs.plan.lines().next(),
        Some("~ dest TCP 10.96.0.10:80 -> 10.244.2.3:8080 weight 1 -> 0 (drain)"),
        "{}",
        r.ipvs.plan
    );
    assert_eq!((r.ipvs.writes, r.ipvs.draining), (1, 1));
    // Applied: the next pass writes nothing while the connection lasts.
    let r = p2.sync().unwrap();
    assert_eq!(r.ipvs.writes, 0, "{}", r.ipvs.plan);
}
