//! Migration from kube-proxy's IPVS mode, in the IPVS kernel: a node whose
//! IPVS table, `kube-ipvs0` interface and addresses were left by kube-proxy
//! for the same Services. `lvs-proxy` starts under load; its first pass
//! writes nothing to IPVS and no request fails.
//!
//! ```text
//!   client c 192.168.0.100 --- eth0 192.168.0.1 [node n] cbr0 10.244.1.1 --- p1 10.244.1.2
//!   (routes 10.96.0.0/12 via the node)                                    \-- p2 10.244.1.3
//! ```

mod support;

use std::net::SocketAddr;
use std::time::Instant;

use lvs::ServiceKey;
use serde_json::json;
use support::*;

#[used]
static NEEDS_KERNEL: &[u8] = b"LVS_RIG_NEEDS_IPVS_KERNEL";

fn topology() {
    sh("modprobe -a ip_vs ip_vs_rr veth dummy bridge 2>/dev/null; true");
    sh("set -e
for ns in c n p1 p2; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add eth0 netns c type veth peer name eth0 netns n
ip -n c addr add 192.168.0.100/24 dev eth0 && ip -n c link set eth0 up
ip -n n addr add 192.168.0.1/24 dev eth0 && ip -n n link set eth0 up
ip -n c route add 10.96.0.0/12 via 192.168.0.1
ip -n n link add cbr0 type bridge && ip -n n addr add 10.244.1.1/24 dev cbr0 && ip -n n link set cbr0 up
ip netns exec n sysctl -qw net.ipv4.ip_forward=1
for p in p1:2 p2:3; do
  ns=${p%:*}; i=${p#*:}
  ip link add eth0 netns $ns type veth peer name v-$ns netns n
  ip -n n link set v-$ns master cbr0 up
  ip -n $ns addr add 10.244.1.$i/24 dev eth0 && ip -n $ns link set eth0 up
  ip -n $ns route add default via 10.244.1.1
done");
}

/// What kube-proxy's IPVS mode leaves for the Services below: the dummy
/// interface (down, as kube-proxy creates it) with the ClusterIPs, and
/// one rr virtual server per service port with NAT real servers.
fn kube_proxy_state() {
    sh("set -e
ip -n n link add kube-ipvs0 type dummy
for ip in 10.96.0.10 10.96.0.53 10.96.0.20; do ip -n n addr add $ip/32 dev kube-ipvs0; done
ip netns exec n ipvsadm -A -t 10.96.0.10:80 -s rr
ip netns exec n ipvsadm -A -u 10.96.0.53:53 -s rr
ip netns exec n ipvsadm -A -t 10.96.0.20:80 -s rr -p 10800
ip netns exec n ipvsadm -A -t 192.168.0.1:30080 -s rr
for p in 10.244.1.2 10.244.1.3; do
  ip netns exec n ipvsadm -a -t 10.96.0.10:80 -r $p:8080 -m -w 1
  ip netns exec n ipvsadm -a -u 10.96.0.53:53 -r $p:5353 -m -w 1
  ip netns exec n ipvsadm -a -t 10.96.0.20:80 -r $p:8080 -m -w 1
  ip netns exec n ipvsadm -a -t 192.168.0.1:30080 -r $p:8080 -m -w 1
done");
}

fn manifests() -> serde_json::Value {
    let eps = json!([
        {"addresses": ["10.244.1.2"], "nodeName": "node-1", "conditions": {"ready": true}},
        {"addresses": ["10.244.1.3"], "nodeName": "node-1", "conditions": {"ready": true}}]);
    let slice = |svc: &str, name: &str, port: u16, proto: &str| {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"namespace": "default", "name": format!("{svc}-1"),
                            "labels": {"kubernetes.io/service-name": svc}},
               "addressType": "IPv4", "ports": [{"name": name, "port": port, "protocol": proto}],
               "endpoints": eps})
    };
    json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
         "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.1"}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "web"},
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.10",
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}},
        slice("web", "http", 8080, "TCP"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "dns"},
         "spec": {"clusterIP": "10.96.0.53", "ports": [{"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]}},
        slice("dns", "dns", 5353, "UDP"),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "sticky"},
         "spec": {"clusterIP": "10.96.0.20", "sessionAffinity": "ClientIP",
                  "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        slice("sticky", "http", 8080, "TCP"),
    ]})
}

#[test]
fn kernel_migration_from_kube_proxy() {
    let t0 = Instant::now();
    topology();
    start_servers("p1");
    start_servers("p2");
    kube_proxy_state();
    let before = ipvs("n");
    assert_eq!(before.len(), 4);
    // kube-proxy's table serves before we start.
    let load = Load::start("c", "10.96.0.10:80");
    load.pass(5);

    let base = std::env::temp_dir().join(format!("lvs-proxy-migration-{}", std::process::id()));
    let dir = base.join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cluster.json"), manifests().to_string()).unwrap();
    let args: Vec<String> = [
        "--hostname-override",
        "node-1",
        "--nodeport-addresses",
        "192.168.0.0/24",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = base.join("proxy.log");
    let mut child = spawn_proxy("n", &dir, &args, log.clone());
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until("first sync", 120, || {
        metric("n", "lvs_proxy_syncs_total").unwrap_or(0.0) >= 1.0
    });
    let writes = metric("n", "lvs_proxy_ipvs_writes_total");
    load.pass(10);
    let (ok, failed) = load.finish();
    let after = ipvs("n");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        writes,
        Some(0.0),
        "first pass wrote to IPVS:\n{}",
        read_log()
    );
    assert_eq!(before, after, "the table changed");
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        ok + failed.len()
    );
    let addrs = sh("ip -n n -o addr show dev kube-ipvs0");
    assert_eq!(addrs.matches("/32").count(), 3, "{addrs}");
    // And the migrated services still answer, from both pods.
    let r = repeat(4, || tcp_from("c", "10.96.0.10:80"));
    assert_eq!(names(&r).len(), 2, "{r:?}");
    let r = repeat(4, || udp_from("c", "10.96.0.53:53"));
    assert_eq!(names(&r).len(), 2, "{r:?}");
    let key = ServiceKey::tcp(SocketAddr::from(([10, 96, 0, 20], 80)));
    assert_eq!(live("n", key).len(), 2);
    eprintln!(
        "[{:?}] migration: 0 IPVS writes, {ok} requests, none failed",
        t0.elapsed()
    );
}
