//! Kernel tests: every test runs against a real IPVS kernel (the rig boots
//! one under QEMU when the host has none), each in a fresh network namespace.

mod support;

use std::net::SocketAddr;

use lvs::*;
use support::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn smoke_add_list_remove() {
    require_ipvs_kernel();
    let ns = Netns::new("smoke");
    let mut h = ns.handle();
    let key = ServiceKey::tcp(sa("10.0.0.1:80"));
    h.add_service(&Service::new(key).with_scheduler(Scheduler::Rr)).unwrap();
    h.add_destination(&key, &Destination::new(sa("10.0.1.2:8080")).with_weight(3)).unwrap();
    let svcs = h.services().unwrap();
    assert_eq!(svcs.len(), 1);
    assert_eq!(svcs[0].service, Service::new(key).with_scheduler(Scheduler::Rr));
    let d = h.destinations(&key).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].destination.weight, 3);
    let saved = ns.ipvsadm("-Sn");
    assert_eq!(saved, "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 3\n");
    h.remove_service(&key).unwrap();
    assert!(h.services().unwrap().is_empty());
}
