//! Kernel tests: every test runs against a real IPVS kernel (the cargo
//! runner boots a Debian kernel under QEMU when the host has none), each in
//! a fresh network namespace. A test that cannot reach IPVS fails.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use lvs::wire::consts::*;
use lvs::wire::{CmdAttr, DestAttr, ServiceAttr, SvcFlags};
use lvs::*;
use support::*;

/// Most tests share the kernel (read lock); the one that unloads the IPVS
/// modules takes it exclusively.
static KERNEL: RwLock<()> = RwLock::new(());

fn kernel() -> RwLockReadGuard<'static, ()> {
    let g = KERNEL.read().unwrap_or_else(|p| p.into_inner());
    require_ipvs_kernel();
    g
}

fn kernel_exclusive() -> RwLockWriteGuard<'static, ()> {
    let g = KERNEL.write().unwrap_or_else(|p| p.into_inner());
    require_ipvs_kernel();
    g
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn hf(fallback: bool, port: bool) -> HashFlags {
    HashFlags { fallback, port }
}

/// A spread of services covering every key kind, family, scheduler and option.
fn service_zoo() -> Vec<Service> {
    use AddressFamily::*;
    vec![
        Service::new(ServiceKey::tcp(sa("10.0.0.1:80"))).with_scheduler(Scheduler::Rr),
        Service::new(ServiceKey::udp(sa("10.0.0.1:53"))).with_scheduler(Scheduler::Wrr),
        Service::new(ServiceKey::sctp(sa("10.0.0.1:3868"))).with_scheduler(Scheduler::Lc),
        Service::new(ServiceKey::tcp(sa("[2001:db8::1]:443"))).with_scheduler(Scheduler::Wlc),
        Service::new(ServiceKey::udp(sa("[2001:db8::1]:53")))
            .with_scheduler(Scheduler::Sed)
            .with_persistence_netmask(600, Netmask::V6(64)),
        Service::new(ServiceKey::sctp(sa("[2001:db8::2]:3868"))).with_scheduler(Scheduler::Nq),
        Service::new(ServiceKey::fwmark(Inet, 1)).with_scheduler(Scheduler::Dh),
        Service::new(ServiceKey::fwmark(Inet6, 1)).with_scheduler(Scheduler::Sh(hf(true, true))),
        Service::new(ServiceKey::fwmark(Inet, 2)).with_scheduler(Scheduler::Sh(hf(false, true))),
        Service::new(ServiceKey::tcp(sa("10.0.0.2:80")))
            .with_scheduler(Scheduler::Mh(hf(true, false))),
        Service::new(ServiceKey::tcp(sa("10.0.0.3:80")))
            .with_scheduler(Scheduler::Mh(hf(false, false))),
        Service::new(ServiceKey::tcp(sa("10.0.0.4:80"))).with_scheduler(Scheduler::Lblc),
        Service::new(ServiceKey::tcp(sa("10.0.0.5:80"))).with_scheduler(Scheduler::Lblcr),
        Service::new(ServiceKey::tcp(sa("10.0.0.6:80"))).with_scheduler(Scheduler::Fo),
        Service::new(ServiceKey::tcp(sa("10.0.0.7:80"))).with_scheduler(Scheduler::Ovf),
        Service::new(ServiceKey::tcp(sa("10.0.0.8:80"))).with_scheduler(Scheduler::None),
        Service::new(ServiceKey::tcp(sa("10.0.0.9:0")))
            .with_scheduler(Scheduler::Rr)
            .with_persistence_netmask(3600, Netmask::prefix(Inet, 24).expect("valid prefix")),
        Service::new(ServiceKey::udp(sa("10.0.0.10:5060")))
            .with_scheduler(Scheduler::Rr)
            .with_persistence(120)
            .with_persistence_engine("sip"),
        Service::new(ServiceKey::udp(sa("10.0.0.11:9000")))
            .with_scheduler(Scheduler::Rr)
            .with_one_packet(true),
        Service::new(ServiceKey::fwmark(Inet, 0xffff_ffff))
            .with_scheduler(Scheduler::Wlc)
            .with_persistence(Persistence::MAX_TIMEOUT),
    ]
}

#[test]
fn every_service_kind_round_trips() {
    let _k = kernel();
    let ns = Netns::new("svc");
    let mut h = ns.handle();
    let zoo = service_zoo();
    for s in &zoo {
        h.add_service(s).unwrap_or_else(|e| panic!("{e}"));
        let got = h.service(&s.key).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&got.service, s, "GET_SERVICE of {}", s.key);
    }
    let mut listed: Vec<Service> = h
        .services()
        .unwrap()
        .into_iter()
        .map(|e| e.service)
        .collect();
    assert_eq!(listed.len(), zoo.len());
    for s in &zoo {
        let i = listed
            .iter()
            .position(|l| l == s)
            .unwrap_or_else(|| panic!("{} not listed", s.key));
        listed.swap_remove(i);
    }
    // Update in place: scheduler, flags, persistence all change.
    let mut s = zoo[0].clone();
    s.scheduler = Scheduler::Sh(hf(true, false));
    s = s.with_persistence(30);
    h.update_service(&s).unwrap();
    assert_eq!(h.service(&s.key).unwrap().service, s);
    // Dropping persistence and the PE on update.
    let mut sip = zoo[17].clone();
    sip.persistence = None;
    sip.persistence_engine = None;
    h.update_service(&sip).unwrap();
    assert_eq!(h.service(&sip.key).unwrap().service, sip);
    for s in &zoo {
        h.remove_service(&s.key).unwrap();
    }
    assert!(h.services().unwrap().is_empty());
}

fn dest_zoo_v4() -> Vec<Destination> {
    vec![
        Destination::new(sa("192.168.1.1:8080")).with_weight(0),
        Destination::new(sa("192.168.1.2:8080"))
            .with_forwarding(Forwarding::DirectRoute)
            .with_weight(Destination::MAX_WEIGHT),
        Destination::new(sa("192.168.1.3:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
        Destination::new(sa("192.168.1.4:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            checksum: GueChecksum::None,
        })),
        Destination::new(sa("192.168.1.5:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
            port: 6081,
            checksum: GueChecksum::Checksum,
        })),
        Destination::new(sa("192.168.1.6:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
            port: 6082,
            checksum: GueChecksum::RemoteChecksum,
        })),
        Destination::new(sa("192.168.1.7:80"))
            .with_forwarding(Forwarding::Tunnel(Tunnel::Gre { checksum: false })),
        Destination::new(sa("192.168.1.8:80"))
            .with_forwarding(Forwarding::Tunnel(Tunnel::Gre { checksum: true })),
        Destination::new(sa("127.0.0.1:80")).with_forwarding(Forwarding::Local),
        Destination::new(sa("192.168.1.9:0")).with_thresholds(Thresholds {
            upper: 100,
            lower: 10,
        }),
        Destination::new(sa("192.168.1.10:80"))
            .with_thresholds(Thresholds { upper: 5, lower: 0 })
            .with_weight(7),
        // Mixed family: an IPv6 real server behind an IPv4 service, tunnelled.
        Destination::new(sa("[2001:db8:1::9]:80"))
            .with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
    ]
}

#[test]
fn every_destination_kind_round_trips_in_list_order() {
    let _k = kernel();
    let ns = Netns::new("dst");
    let mut h = ns.handle();
    let key = ServiceKey::tcp(sa("10.1.0.1:80"));
    h.add_service(&Service::new(key)).unwrap();
    let zoo = dest_zoo_v4();
    for d in &zoo {
        h.add_destination(&key, d).unwrap_or_else(|e| panic!("{e}"));
    }
    let got: Vec<Destination> = h
        .destinations(&key)
        .unwrap()
        .into_iter()
        .map(|e| e.destination)
        .collect();
    // The kernel lists the most recently added first.
    let want: Vec<Destination> = zoo.iter().rev().copied().collect();
    assert_eq!(got, want);
    // Update every destination's weight and thresholds; forwarding changes too.
    for d in &zoo {
        let mut u = d
            .with_weight(d.weight / 2 + 1)
            .with_thresholds(Thresholds { upper: 9, lower: 1 });
        if u.family() == AddressFamily::Inet && u.forwarding == Forwarding::Masquerade {
            u.forwarding = Forwarding::DirectRoute;
        }
        h.update_destination(&key, &u)
            .unwrap_or_else(|e| panic!("{e}"));
        let back = h.destinations(&key).unwrap();
        let b = back
            .iter()
            .find(|e| e.destination.addr == d.addr)
            .expect("still listed");
        assert_eq!(b.destination, u);
        assert_eq!(b.conns, ConnCounts::default());
    }
    for d in &zoo {
        h.remove_destination(&key, d.addr).unwrap();
    }
    assert!(h.destinations(&key).unwrap().is_empty());
}

#[test]
fn ipv6_and_fwmark_services_take_destinations() {
    let _k = kernel();
    let ns = Netns::new("v6");
    let mut h = ns.handle();
    for key in [
        ServiceKey::udp(sa("[2001:db8::10]:53")),
        ServiceKey::sctp(sa("[2001:db8::10]:3868")),
        ServiceKey::fwmark(AddressFamily::Inet6, 77),
    ] {
        h.add_service(&Service::new(key).with_scheduler(Scheduler::Wrr))
            .unwrap();
        let ds = [
            Destination::new(sa("[2001:db8:2::1]:53")).with_weight(2),
            Destination::new(sa("[2001:db8:2::2]:53")).with_forwarding(Forwarding::DirectRoute),
            Destination::new(sa("10.9.9.9:53")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
                port: 5555,
                checksum: GueChecksum::Checksum,
            })),
        ];
        for d in &ds {
            h.add_destination(&key, d)
                .unwrap_or_else(|e| panic!("{key}: {e}"));
        }
        let got: Vec<_> = h
            .destinations(&key)
            .unwrap()
            .into_iter()
            .map(|e| e.destination)
            .collect();
        assert_eq!(got, ds.iter().rev().copied().collect::<Vec<_>>(), "{key}");
    }
    let fwm4 = ServiceKey::fwmark(AddressFamily::Inet, 77);
    h.add_service(&Service::new(fwm4)).unwrap();
    assert_eq!(
        h.services().unwrap().len(),
        4,
        "fwmark 77 v4 and v6 are distinct services"
    );
    h.flush().unwrap();
    assert!(h.services().unwrap().is_empty());
}

#[test]
fn ipvsadm_prints_what_lvs_writes() {
    let _k = kernel();
    let ns = Netns::new("sx");
    let mut h = ns.handle();
    let a = ServiceKey::tcp(sa("10.2.0.1:80"));
    h.add_service(&Service::new(a).with_scheduler(Scheduler::Wrr))
        .unwrap();
    h.add_destination(&a, &Destination::new(sa("10.2.1.1:8080")).with_weight(5))
        .unwrap();
    h.add_destination(
        &a,
        &Destination::new(sa("10.2.1.2:8080"))
            .with_forwarding(Forwarding::DirectRoute)
            .with_thresholds(Thresholds {
                upper: 200,
                lower: 10,
            }),
    )
    .unwrap();
    h.add_destination(
        &a,
        &Destination::new(sa("10.2.1.3:8080")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
            port: 6080,
            checksum: GueChecksum::Checksum,
        })),
    )
    .unwrap();
    h.add_destination(
        &a,
        &Destination::new(sa("10.2.1.4:8080"))
            .with_forwarding(Forwarding::Tunnel(Tunnel::Gre { checksum: true })),
    )
    .unwrap();
    let b = ServiceKey::udp(sa("[2001:db8::5]:53"));
    h.add_service(
        &Service::new(b)
            .with_scheduler(Scheduler::Sh(hf(true, true)))
            .with_persistence_netmask(300, Netmask::V6(64)),
    )
    .unwrap();
    h.add_destination(&b, &Destination::new(sa("[2001:db8::6]:53")).with_weight(0))
        .unwrap();
    let c = ServiceKey::fwmark(AddressFamily::Inet, 9);
    h.add_service(
        &Service::new(c)
            .with_scheduler(Scheduler::Mh(hf(false, true)))
            .with_persistence_netmask(60, Netmask::prefix(AddressFamily::Inet, 16).unwrap()),
    )
    .unwrap();
    let d = ServiceKey::udp(sa("10.2.0.9:5060"));
    h.add_service(
        &Service::new(d)
            .with_scheduler(Scheduler::Rr)
            .with_one_packet(true)
            .with_persistence(90)
            .with_persistence_engine("sip"),
    )
    .unwrap();
    let mut lines: Vec<String> = ns.ipvsadm("-Sn").lines().map(str::to_owned).collect();
    lines.sort();
    let mut want: Vec<String> = [
        "-A -t 10.2.0.1:80 -s wrr",
        "-a -t 10.2.0.1:80 -r 10.2.1.1:8080 -m -w 5",
        "-a -t 10.2.0.1:80 -r 10.2.1.2:8080 -g -w 1",
        "-a -t 10.2.0.1:80 -r 10.2.1.3:8080 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
        "-a -t 10.2.0.1:80 -r 10.2.1.4:8080 -i -w 1 --tun-type gre --tun-csum",
        "-A -u [2001:db8::5]:53 -s sh -p 300 -M 64 -b sh-fallback,sh-port",
        "-a -u [2001:db8::5]:53 -r [2001:db8::6]:53 -m -w 0",
        "-A -f 9 -s mh -p 60 -M 255.255.0.0 -b mh-port",
        "-A -u 10.2.0.9:5060 -s rr -p 90 --pe sip -o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    want.sort();
    assert_eq!(lines, want);
    // `-S` does not save thresholds; `-L --thresholds` shows them.
    let th = ns.ipvsadm("-Ln --thresholds -t 10.2.0.1:80");
    assert!(
        th.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["->", "10.2.1.2:8080", "200", "10", "0", "0"]),
        "{th}"
    );
}

#[test]
fn lvs_reads_what_ipvsadm_writes() {
    let _k = kernel();
    let ns = Netns::new("rx");
    for cmd in [
        "-A -t 10.3.0.1:80 -s wlc",
        "-a -t 10.3.0.1:80 -r 10.3.1.1:80 -m -w 4",
        "-a -t 10.3.0.1:80 -r 10.3.1.2 -g -w 2 -x 50 -y 5",
        "-a -t 10.3.0.1:80 -r 10.3.1.3:80 -i --tun-type gue --tun-port 7777 --tun-remcsum",
        "-a -t 10.3.0.1:80 -r 10.3.1.4:80 -i --tun-type ipip",
        "-A -u [2001:db8::7]:53 -s mh -b mh-fallback,mh-port -p 100 -M 48",
        "-a -u [2001:db8::7]:53 -r [2001:db8::8]:53 -g -w 9",
        "-A -f 42 -s sh -b sh-port -p -M 255.255.255.0", // ipvsadm's default -p is 360 s
        "-A --sctp-service 10.3.0.2:3868 -s nq",
        "-A -u 10.3.0.3:5060 -s rr -o -p 45 --pe sip",
    ] {
        ns.ipvsadm(cmd);
    }
    let mut h = ns.handle();
    let k1 = ServiceKey::tcp(sa("10.3.0.1:80"));
    assert_eq!(h.service(&k1).unwrap().service, Service::new(k1));
    let got: Vec<_> = h
        .destinations(&k1)
        .unwrap()
        .into_iter()
        .map(|e| e.destination)
        .collect();
    assert_eq!(
        got,
        vec![
            Destination::new(sa("10.3.1.4:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Ipip)),
            Destination::new(sa("10.3.1.3:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
                port: 7777,
                checksum: GueChecksum::RemoteChecksum
            })),
            // ipvsadm gives a port-less DR real server the service's port.
            Destination::new(sa("10.3.1.2:80"))
                .with_forwarding(Forwarding::DirectRoute)
                .with_weight(2)
                .with_thresholds(Thresholds {
                    upper: 50,
                    lower: 5
                }),
            Destination::new(sa("10.3.1.1:80")).with_weight(4),
        ]
    );
    let k2 = ServiceKey::udp(sa("[2001:db8::7]:53"));
    assert_eq!(
        h.service(&k2).unwrap().service,
        Service::new(k2)
            .with_scheduler(Scheduler::Mh(hf(true, true)))
            .with_persistence_netmask(100, Netmask::V6(48))
    );
    assert_eq!(
        h.destinations(&k2).unwrap()[0].destination,
        Destination::new(sa("[2001:db8::8]:53"))
            .with_forwarding(Forwarding::DirectRoute)
            .with_weight(9)
    );
    let k3 = ServiceKey::fwmark(AddressFamily::Inet, 42);
    assert_eq!(
        h.service(&k3).unwrap().service,
        Service::new(k3)
            .with_scheduler(Scheduler::Sh(hf(false, true)))
            .with_persistence_netmask(360, Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)))
    );
    let k4 = ServiceKey::sctp(sa("10.3.0.2:3868"));
    assert_eq!(
        h.service(&k4).unwrap().service,
        Service::new(k4).with_scheduler(Scheduler::Nq)
    );
    let k5 = ServiceKey::udp(sa("10.3.0.3:5060"));
    assert_eq!(
        h.service(&k5).unwrap().service,
        Service::new(k5)
            .with_scheduler(Scheduler::Rr)
            .with_one_packet(true)
            .with_persistence(45)
            .with_persistence_engine("sip")
    );
    assert_eq!(h.services().unwrap().len(), 5);
}

#[test]
fn kernel_errors_map_to_kinds() {
    let _k = kernel();
    let ns = Netns::new("err");
    let mut h = ns.handle();
    let key = ServiceKey::tcp(sa("10.4.0.1:80"));
    let ghost = ServiceKey::tcp(sa("10.4.0.99:80"));
    let d = Destination::new(sa("10.4.1.1:80"));
    let kind = |r: Result<(), Error>| r.expect_err("must fail").kind();

    assert_eq!(
        h.service(&ghost).unwrap_err().kind(),
        ErrorKind::ServiceNotFound
    );
    assert_eq!(kind(h.remove_service(&ghost)), ErrorKind::ServiceNotFound);
    assert_eq!(
        kind(h.update_service(&Service::new(ghost))),
        ErrorKind::ServiceNotFound
    );
    assert_eq!(
        kind(h.add_destination(&ghost, &d)),
        ErrorKind::ServiceNotFound
    );
    assert_eq!(kind(h.zero(Some(&ghost))), ErrorKind::ServiceNotFound);
    let e = h.destinations(&ghost).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ServiceNotFound);
    assert_eq!(
        e.to_string(),
        "list destinations of TCP 10.4.0.99:80: no such service [errno 3]"
    );

    h.add_service(&Service::new(key)).unwrap();
    let e = h.add_service(&Service::new(key)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ServiceExists);
    assert_eq!(e.errno(), Some(17));
    assert!(
        h.destinations(&key).unwrap().is_empty(),
        "empty list, not an error"
    );
    assert_eq!(
        kind(h.update_destination(&key, &d)),
        ErrorKind::DestinationNotFound
    );
    assert_eq!(
        kind(h.remove_destination(&key, d.addr)),
        ErrorKind::DestinationNotFound
    );
    h.add_destination(&key, &d).unwrap();
    assert_eq!(
        kind(h.add_destination(&key, &d)),
        ErrorKind::DestinationExists
    );

    let custom = Scheduler::Custom(SchedName::new("nosuchsched").unwrap());
    let e = h
        .add_service(
            &Service::new(ServiceKey::tcp(sa("10.4.0.2:80"))).with_scheduler(custom.clone()),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::SchedulerNotFound);
    assert!(e.to_string().contains("ip_vs_nosuchsched"), "{e}");
    assert_eq!(
        kind(h.update_service(&Service::new(key).with_scheduler(custom))),
        ErrorKind::SchedulerNotFound
    );
    // A multicast real server: the kernel refuses it (EINVAL, no kind of its own).
    let e = h
        .add_destination(&key, &Destination::new(sa("224.0.0.5:80")))
        .unwrap_err();
    assert_eq!((e.kind(), e.errno()), (ErrorKind::Kernel, Some(22)));
    // Nothing failed halfway: the table is as before.
    assert_eq!(h.services().unwrap().len(), 1);
    assert_eq!(h.destinations(&key).unwrap().len(), 1);
}

#[test]
fn twos_is_a_clear_error_where_the_kernel_lacks_it() {
    let _k = kernel();
    let ns = Netns::new("twos");
    let mut h = ns.handle();
    let key = ServiceKey::tcp(sa("10.5.0.1:80"));
    let have_twos = sh_out("modinfo ip_vs_twos").status.success();
    match h.add_service(&Service::new(key).with_scheduler(Scheduler::Twos)) {
        Ok(()) => assert!(have_twos, "twos accepted by a kernel without ip_vs_twos"),
        Err(e) => {
            assert!(!have_twos, "{e}");
            assert_eq!(e.kind(), ErrorKind::SchedulerNotFound, "{e}");
            assert!(e.to_string().contains("twos needs Linux 6.4"), "{e}");
        }
    }
}

/// Each `InvalidArgument` check is shown necessary: the same input sent raw
/// (bypassing validation) is rejected by the kernel or silently misread.
#[test]
fn invalid_input_is_refused_before_the_kernel_and_the_kernel_agrees() {
    let _k = kernel();
    let ns = Netns::new("inv");
    let mut h = ns.handle();
    let key = ServiceKey::tcp(sa("10.6.0.1:80"));
    h.add_service(&Service::new(key)).unwrap();
    let invalid = |r: Result<(), Error>, field: &str| {
        let e = r.expect_err("must be refused");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(e.to_string().contains(field), "{e}");
    };
    let svc_attrs = |extra: Vec<ServiceAttr>| {
        let mut v = vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Protocol(IPPROTO_TCP),
            ServiceAttr::Addr([10, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ServiceAttr::Port(80),
        ];
        v.extend(extra);
        v
    };
    let dest_raw = |port: u16, weight: u32, u: u32, l: u32, fwd: u32, tun: Vec<DestAttr>| {
        let mut v = vec![
            DestAttr::Addr([10, 6, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            DestAttr::Port(port),
            DestAttr::FwdMethod(fwd),
            DestAttr::Weight(weight),
            DestAttr::UThresh(u),
            DestAttr::LThresh(l),
        ];
        v.extend(tun);
        vec![CmdAttr::Service(svc_attrs(vec![])), CmdAttr::Dest(v)]
    };
    let kernel_errno = |h: &mut Handle, cmd, attrs: &[CmdAttr]| {
        h.send_raw(cmd, attrs)
            .expect_err("kernel must refuse")
            .errno()
    };

    // Weight above i32::MAX: the kernel answers ERANGE.
    let mut d = Destination::new(sa("10.6.1.1:80"));
    d.weight = 1 << 31;
    invalid(h.add_destination(&key, &d), "destination.weight");
    assert_eq!(
        kernel_errno(
            &mut h,
            IPVS_CMD_NEW_DEST,
            &dest_raw(80, 1 << 31, 0, 0, 0, vec![])
        ),
        Some(34)
    );
    // Lower threshold above upper: ERANGE.
    invalid(
        h.add_destination(
            &key,
            &Destination::new(sa("10.6.1.1:80")).with_thresholds(Thresholds { upper: 4, lower: 5 }),
        ),
        "destination.lower_threshold",
    );
    assert_eq!(
        kernel_errno(&mut h, IPVS_CMD_NEW_DEST, &dest_raw(80, 1, 4, 5, 0, vec![])),
        Some(34)
    );
    // GUE without a port: EINVAL.
    invalid(
        h.add_destination(
            &key,
            &Destination::new(sa("10.6.1.1:80")).with_forwarding(Forwarding::Tunnel(Tunnel::Gue {
                port: 0,
                checksum: GueChecksum::None,
            })),
        ),
        "destination.forwarding",
    );
    assert_eq!(
        kernel_errno(
            &mut h,
            IPVS_CMD_NEW_DEST,
            &dest_raw(
                80,
                1,
                0,
                0,
                IP_VS_CONN_F_TUNNEL,
                vec![DestAttr::TunType(1), DestAttr::TunPort(0)]
            )
        ),
        Some(22)
    );
    // Mixed family without a tunnel: EINVAL.
    invalid(
        h.add_destination(&key, &Destination::new(sa("[2001:db8::1]:80"))),
        "destination.addr",
    );
    let mut mixed = dest_raw(
        80,
        1,
        0,
        0,
        IP_VS_CONN_F_MASQ,
        vec![DestAttr::AddrFamily(AF_INET6)],
    );
    if let CmdAttr::Dest(v) = &mut mixed[1] {
        v[0] = DestAttr::Addr(
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
    }
    assert_eq!(kernel_errno(&mut h, IPVS_CMD_NEW_DEST, &mixed), Some(22));
    // IPv6 persistence prefix 0 or 129: EINVAL.
    let v6 = ServiceKey::tcp(sa("[2001:db8::1]:80"));
    for bad in [0u8, 129] {
        invalid(
            h.add_service(&Service::new(v6).with_persistence_netmask(60, Netmask::V6(bad))),
            "persistence.netmask",
        );
        let attrs = [CmdAttr::Service(vec![
            ServiceAttr::Af(AF_INET6),
            ServiceAttr::Protocol(IPPROTO_TCP),
            ServiceAttr::Addr(
                "2001:db8::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            ),
            ServiceAttr::Port(80),
            ServiceAttr::SchedName("wlc".into()),
            ServiceAttr::Flags(SvcFlags {
                flags: IP_VS_SVC_F_PERSISTENT,
                mask: !0,
            }),
            ServiceAttr::Timeout(60),
            ServiceAttr::Netmask(u32::from(bad).to_ne_bytes()),
        ])];
        assert_eq!(kernel_errno(&mut h, IPVS_CMD_NEW_SERVICE, &attrs), Some(22));
    }
    // Scheduler and persistence-engine names longer than 15 bytes.
    assert_eq!(
        SchedName::new("a_very_long_scheduler").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    invalid(
        h.add_service(
            &Service::new(key)
                .with_persistence(5)
                .with_persistence_engine("sip_engine_too_long"),
        ),
        "persistence_engine",
    );
    let long = |pe: bool| {
        [CmdAttr::Service(svc_attrs(vec![
            ServiceAttr::SchedName(if pe {
                "wlc".into()
            } else {
                "a_very_long_scheduler".into()
            }),
            ServiceAttr::Flags(SvcFlags { flags: 1, mask: !0 }),
            ServiceAttr::Timeout(5),
            ServiceAttr::Netmask([255; 4]),
            ServiceAttr::PeName(if pe {
                "sip_engine_too_long".into()
            } else {
                String::new()
            }),
        ]))]
    };
    assert!(matches!(
        kernel_errno(&mut h, IPVS_CMD_SET_SERVICE, &long(false)),
        Some(22 | 34)
    ));
    assert!(matches!(
        kernel_errno(&mut h, IPVS_CMD_SET_SERVICE, &long(true)),
        Some(22 | 34)
    ));

    // Firewall mark 0: the kernel does not refuse it, it silently creates
    // an address service TCP 0.0.0.0:0 instead.
    invalid(
        h.add_service(&Service::new(ServiceKey::fwmark(AddressFamily::Inet, 0))),
        "key.mark",
    );
    h.send_raw(
        IPVS_CMD_NEW_SERVICE,
        &[CmdAttr::Service(vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Fwmark(0),
            ServiceAttr::SchedName("rr".into()),
            ServiceAttr::Flags(SvcFlags { flags: 0, mask: !0 }),
            ServiceAttr::Timeout(0),
            ServiceAttr::Netmask([255; 4]),
        ])],
    )
    .expect("the kernel accepts FWMARK=0");
    let zero = ServiceKey::tcp(sa("0.0.0.0:0"));
    assert!(h.service(&zero).is_ok(), "FWMARK=0 became TCP 0.0.0.0:0");
    h.remove_service(&zero).unwrap();

    // A persistence timeout beyond u32::MAX / HZ wraps in the kernel.
    invalid(
        h.add_service(&Service::new(ServiceKey::tcp(sa("10.6.0.2:80"))).with_persistence(u32::MAX)),
        "persistence.timeout",
    );
    h.send_raw(
        IPVS_CMD_SET_SERVICE,
        &[CmdAttr::Service(svc_attrs(vec![
            ServiceAttr::SchedName("wlc".into()),
            ServiceAttr::Flags(SvcFlags {
                flags: IP_VS_SVC_F_PERSISTENT,
                mask: !0,
            }),
            ServiceAttr::Timeout(u32::MAX),
            ServiceAttr::Netmask([255; 4]),
        ]))],
    )
    .expect("the kernel accepts any timeout");
    let back = h
        .service(&key)
        .unwrap()
        .service
        .persistence
        .expect("persistent");
    assert_ne!(back.timeout, u32::MAX, "the kernel wrapped timeout * HZ");
    // Persistence timeout 0: accepted by the kernel, and persistence then
    // does nothing; lvs refuses it.
    invalid(
        h.update_service(&Service::new(key).with_persistence(0)),
        "persistence.timeout",
    );

    // One-packet scheduling on TCP: the kernel stores the flag and ignores it.
    invalid(
        h.update_service(&Service::new(key).with_one_packet(true)),
        "one_packet",
    );
    h.send_raw(
        IPVS_CMD_SET_SERVICE,
        &[CmdAttr::Service(svc_attrs(vec![
            ServiceAttr::SchedName("wlc".into()),
            ServiceAttr::Flags(SvcFlags {
                flags: IP_VS_SVC_F_ONEPACKET,
                mask: !0,
            }),
            ServiceAttr::Timeout(0),
            ServiceAttr::Netmask([255; 4]),
        ]))],
    )
    .expect("the kernel accepts one-packet on TCP");
    // A persistence engine without persistence: accepted, never consulted.
    invalid(
        h.update_service(&Service::new(key).with_persistence_engine("sip")),
        "persistence_engine",
    );
    // A timeout of 0 reads as "unchanged" in the kernel.
    let before = h.timeouts().unwrap();
    invalid(h.set_timeouts(&Timeouts::new(0, 10, 10)), "timeouts.tcp");
    h.send_raw(IPVS_CMD_SET_CONFIG, &[CmdAttr::TimeoutTcp(0)])
        .unwrap();
    assert_eq!(h.timeouts().unwrap(), before, "0 silently changed nothing");
    invalid(
        h.set_timeouts(&Timeouts::new(Timeouts::MAX + 1, 10, 10)),
        "timeouts.tcp",
    );
    assert_eq!(
        kernel_errno(
            &mut h,
            IPVS_CMD_SET_CONFIG,
            &[CmdAttr::TimeoutTcp(u32::MAX)]
        ),
        Some(22)
    );
    // Custom names of built-in schedulers would never compare equal on read.
    invalid(
        h.update_service(
            &Service::new(key).with_scheduler(Scheduler::Custom(SchedName::new("rr").unwrap())),
        ),
        "scheduler",
    );
    // IPv6 scope ids do not exist in IPVS: refused rather than dropped.
    let mut scoped: std::net::SocketAddrV6 = "[fe80::1]:80".parse().unwrap();
    scoped.set_scope_id(2);
    invalid(
        h.add_service(&Service::new(ServiceKey::tcp(scoped))),
        "key.addr",
    );
}

#[test]
fn flush_zero_info_timeouts() {
    let _k = kernel();
    let ns = Netns::new("misc");
    let mut h = ns.handle();
    let info = h.info().unwrap();
    assert_eq!(info.version, (1, 2, 1));
    assert_eq!(
        info.conn_table_size, 4096,
        "Debian builds IP_VS_TAB_BITS=12"
    );
    assert_eq!(
        ns.ipvsadm("-Ln").lines().next().unwrap(),
        "IP Virtual Server version 1.2.1 (size=4096)"
    );
    let t = h.timeouts().unwrap();
    assert_eq!(t, Timeouts::new(900, 120, 300), "kernel defaults");
    let mut partial = Timeouts::default();
    partial.tcp_fin = Some(33);
    h.set_timeouts(&partial).unwrap();
    assert_eq!(
        h.timeouts().unwrap(),
        Timeouts::new(900, 33, 300),
        "None left the others unchanged"
    );
    h.set_timeouts(&Timeouts::new(1000, 60, 45)).unwrap();
    assert_eq!(
        ns.ipvsadm("-Ln --timeout").trim(),
        "Timeout (tcp tcpfin udp): 1000 60 45"
    );
    for i in 0..5u8 {
        h.add_service(&Service::new(ServiceKey::tcp(SocketAddr::from((
            [10, 7, 0, i],
            80,
        )))))
        .unwrap();
    }
    h.zero(None).unwrap();
    h.zero(Some(&ServiceKey::tcp(sa("10.7.0.1:80")))).unwrap();
    assert_eq!(h.services().unwrap().len(), 5);
    h.flush().unwrap();
    assert!(h.services().unwrap().is_empty());
    assert_eq!(ns.ipvsadm("-Sn"), "");
}

#[test]
fn large_tables_dump_across_many_datagrams() {
    // Multi-part service dumps on 6.1 resume by an index over every
    // namespace's services: changes elsewhere during the dump can skip or
    // repeat entries (no NLM_F_DUMP_INTR). Run alone.
    let _k = kernel_exclusive();
    let ns = Netns::new("big");
    let mut h = ns.handle();
    let n_svc = 600u16;
    for i in 0..n_svc {
        let key = ServiceKey::tcp(SocketAddr::from(([10, 8, (i >> 8) as u8, i as u8], 80)));
        h.add_service(&Service::new(key).with_scheduler(Scheduler::Rr))
            .unwrap();
    }
    let key = ServiceKey::tcp(sa("10.8.0.0:80"));
    let n_dst = 700u32;
    for i in 0..n_dst {
        let d = Destination::new(SocketAddr::from(([10, 9, (i >> 8) as u8, i as u8], 8080)))
            .with_weight(i);
        h.add_destination(&key, &d).unwrap();
    }
    let svcs = h.services().unwrap();
    assert_eq!(svcs.len(), usize::from(n_svc));
    let dests = h.destinations(&key).unwrap();
    assert_eq!(dests.len(), n_dst as usize);
    let weights: Vec<u32> = dests.iter().map(|d| d.destination.weight).collect();
    assert_eq!(weights, (0..n_dst).rev().collect::<Vec<_>>());
    assert_eq!(
        ns.ipvsadm("-Sn").lines().count(),
        usize::from(n_svc) + n_dst as usize
    );

    // The same table read with destination dumps spread over threads (600
    // services: 2 of the 3 allowed, 256 services per thread at least) is
    // the sequential read, in the same order; readers open in the handle's
    // namespace, so another namespace's services never show.
    let other = Netns::new("big-other");
    other
        .handle()
        .add_service(&Service::new(ServiceKey::tcp(sa("10.8.0.1:80"))))
        .unwrap();
    let sequential = h.table().unwrap();
    h.set_read_threads(std::num::NonZeroUsize::new(3).unwrap());
    assert_eq!(h.read_threads(), 3);
    let parallel = h.table().unwrap();
    assert_eq!(parallel, sequential);
    assert_eq!(parallel.len(), usize::from(n_svc));
    let keys: Vec<ServiceKey> = parallel.iter().map(|t| t.service.service.key).collect();
    let unknown = ServiceKey::tcp(sa("10.99.0.1:80"));
    let mut with_unknown = keys.clone();
    with_unknown.insert(300, unknown);
    let lists = h.destinations_of(&with_unknown).unwrap();
    assert_eq!(lists.len(), keys.len() + 1);
    assert!(
        lists[300].is_empty(),
        "an unknown service has no destinations"
    );
    assert_eq!(
        lists[..300],
        sequential[..300]
            .iter()
            .map(|t| t.destinations.clone())
            .collect::<Vec<_>>()[..]
    );
    // An invalid key fails the whole read, whichever thread meets it.
    let mut bad = keys.clone();
    bad.insert(500, ServiceKey::fwmark(AddressFamily::Inet, 0));
    let e = h.destinations_of(&bad).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn handles_in_other_namespaces_are_isolated() {
    let _k = kernel();
    let a = Netns::new("iso-a");
    let b = Netns::new("iso-b");
    let mut ha = a.handle();
    let file = std::fs::File::open(b.path()).unwrap();
    let mut hb = Handle::open_netns(std::os::fd::AsFd::as_fd(&file)).unwrap();
    let key = ServiceKey::tcp(sa("10.10.0.1:80"));
    ha.add_service(&Service::new(key)).unwrap();
    assert_eq!(ha.services().unwrap().len(), 1);
    assert!(
        hb.services().unwrap().is_empty(),
        "b must not see a's service"
    );
    assert_eq!(b.ipvsadm("-Sn"), "");
    assert_eq!(a.ipvsadm("-Sn"), "-A -t 10.10.0.1:80 -s wlc\n");
    // The calling thread stayed in its own namespace.
    let here = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let init = std::fs::read_link("/proc/1/ns/net").unwrap();
    assert_eq!(here, init);
    let e = Handle::open_netns_path("/run/netns/does-not-exist").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("/run/netns/does-not-exist"), "{e}");
}

/// Without CAP_NET_ADMIN every IPVS command fails with PermissionDenied.
#[test]
fn permission_denied_without_cap_net_admin() {
    if std::env::var_os("LVS_TEST_EPERM_CHILD").is_some() {
        // Child: runs with CAP_NET_ADMIN dropped from its bounding set.
        let mut h = Handle::open().expect("family lookup needs no privilege");
        let e = h.services().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(e.to_string().contains("CAP_NET_ADMIN"), "{e}");
        let e = h
            .add_service(&Service::new(ServiceKey::tcp(sa("10.11.0.1:80"))))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        return;
    }
    let _k = kernel();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set", "-net_admin", "--inh-caps", "-net_admin"])
        .arg(&exe)
        .args([
            "--exact",
            "permission_denied_without_cap_net_admin",
            "--nocapture",
        ])
        .env("LVS_TEST_EPERM_CHILD", "1")
        .output()
        .expect("run setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
}

/// With the IPVS modules unloaded and module autoloading blocked, opening a
/// handle is IpvsUnavailable (runs alone: it unloads IPVS for a moment).
#[test]
fn ipvs_unavailable_when_the_module_cannot_load() {
    let _k = kernel_exclusive();
    let modprobe = std::fs::read_to_string("/proc/sys/kernel/modprobe").unwrap();
    sh("echo /bin/false > /proc/sys/kernel/modprobe");
    let restore = || std::fs::write("/proc/sys/kernel/modprobe", modprobe.trim());
    // Namespaces of earlier tests may still be tearing down: retry.
    let mut unloaded = false;
    for _ in 0..100 {
        let mods = sh("lsmod | awk '$1 ~ /^ip_vs_/ {print $1}'");
        for m in mods.split_whitespace() {
            let _ = sh_out(&format!("rmmod {m}"));
        }
        if sh_out("rmmod ip_vs").status.success()
            || !std::path::Path::new("/sys/module/ip_vs").exists()
        {
            unloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = Handle::open();
    restore().unwrap();
    assert!(
        unloaded,
        "could not unload ip_vs: {}",
        sh("lsmod | grep ip_vs || true")
    );
    let e = result.expect_err("open must fail without IPVS");
    assert_eq!(e.kind(), ErrorKind::IpvsUnavailable, "{e}");
    assert!(e.to_string().contains("modprobe ip_vs"), "{e}");
    // Autoload works again once allowed.
    Handle::open().unwrap();
    // Later tests find every module loaded, as they did at the start.
    load_ipvs_modules();
}

/// `lvs::kmod`: a scheduler module loaded by `ensure_loaded` before the
/// service is added keeps the kernel's on-demand load, which holds the
/// global IPVS mutex while `ip_vs_lblc`'s init waits for the namespace
/// lock, out of a namespace teardown running at the same time. Without
/// the preload this sequence deadlocked the kernel on the first try (see
/// src/kmod.rs); with it the add must return promptly.
#[test]
fn preloaded_scheduler_module_cannot_deadlock_a_namespace_teardown() {
    use std::time::{Duration, Instant};
    let _k = kernel_exclusive();
    let svc = Service::new(ServiceKey::tcp(sa("10.17.0.1:80"))).with_scheduler(Scheduler::Lblc);
    assert_eq!(svc.kernel_modules(), ["ip_vs_lblc"]);
    // Namespaces of earlier tests may still hold lblc services: retry.
    wait_for("ip_vs_lblc unloaded", Duration::from_secs(60), || {
        let _ = sh_out("rmmod ip_vs_lblc");
        if kmod::is_loaded("ip_vs_lblc") {
            Err(sh("lsmod | grep ip_vs_lblc || true"))
        } else {
            Ok(())
        }
    });
    // Namespaces with IPVS services and a veth each, to tear down below.
    let doomed: Vec<Netns> = (0..4).map(|i| Netns::new(&format!("kmod{i}"))).collect();
    for (i, ns) in doomed.iter().enumerate() {
        ns.sh(&format!("ip link add km{i}a type veth peer name km{i}b"));
        ns.handle()
            .add_service(&Service::new(ServiceKey::tcp(sa("10.17.1.1:80"))))
            .unwrap();
    }
    let t = Instant::now();
    kmod::ensure_loaded(&svc.kernel_modules()).unwrap();
    assert!(
        kmod::is_loaded("ip_vs_lblc"),
        "ensure_loaded returned Ok without loading"
    );
    eprintln!("kmod: ip_vs_lblc loaded in {:?}", t.elapsed());
    // Loaded modules: nothing runs (and nothing can fail).
    kmod::ensure_loaded(&["ip_vs_lblc", "ip_vs"]).unwrap();
    let e = kmod::ensure_loaded(&["ip_vs_nosuchsched"]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("ip_vs_nosuchsched"), "{e}");

    let ns = Netns::new("kmod");
    let mut h = ns.handle();
    let (tx, rx) = std::sync::mpsc::channel();
    let adder = std::thread::spawn(move || {
        let t = Instant::now();
        let r = h.add_service(&svc);
        let _ = tx.send((r, t.elapsed()));
    });
    drop(doomed); // `ip netns del` each: their teardown runs now
    let (r, took) = rx
        .recv_timeout(Duration::from_secs(90))
        .expect("adding an lblc service during a namespace teardown hung: kernel deadlock");
    r.unwrap();
    adder.join().unwrap();
    eprintln!("kmod: lblc service added during the teardown in {took:?}");
    assert!(ns.ipvsadm("-Ln").contains("lblc"));
}

#[test]
fn batch_gives_one_result_per_operation_in_order() {
    let _k = kernel();
    let ns = Netns::new("batch");
    let mut h = ns.handle();
    let a = ServiceKey::tcp(sa("10.12.0.1:80"));
    let ghost = ServiceKey::tcp(sa("10.12.0.99:80"));
    let d1 = Destination::new(sa("10.12.1.1:80"));
    let d2 = Destination::new(sa("10.12.1.2:80")).with_weight(5);
    let mut too_heavy = Destination::new(sa("10.12.1.3:80"));
    too_heavy.weight = u32::MAX;
    let ops = vec![
        Op::AddService(Service::new(a).with_scheduler(Scheduler::Rr)),
        Op::AddDestination(a, d1),
        Op::AddService(Service::new(a)),  // exists
        Op::AddDestination(ghost, d1),    // no such service
        Op::AddDestination(a, too_heavy), // refused locally, never sent
        Op::AddDestination(a, d2),
        Op::RemoveDestination(a, sa("10.12.1.9:80")), // no such destination
        Op::UpdateDestination(a, d1.with_weight(7)),
    ];
    let r = h.apply(&ops);
    let kinds: Vec<Option<ErrorKind>> = r
        .results
        .iter()
        .map(|r| r.as_ref().err().map(Error::kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            None,
            None,
            Some(ErrorKind::ServiceExists),
            Some(ErrorKind::ServiceNotFound),
            Some(ErrorKind::InvalidArgument),
            None,
            Some(ErrorKind::DestinationNotFound),
            None,
        ]
    );
    assert_eq!(r.failures(), 4);
    assert_eq!(r.sends, 1, "one datagram for the whole batch");
    let e = r.results[3].as_ref().unwrap_err();
    assert_eq!(
        e.operation(),
        &Operation::AddDestination {
            service: ghost,
            dest: d1.addr
        }
    );
    let got: Vec<_> = h
        .destinations(&a)
        .unwrap()
        .into_iter()
        .map(|e| e.destination)
        .collect();
    assert_eq!(got, vec![d2, d1.with_weight(7)]);
    assert_eq!(
        h.service(&a).unwrap().service.scheduler,
        Scheduler::Rr,
        "the failed re-add changed nothing"
    );

    // Stop at the first error: the rest is not sent.
    let b = ServiceKey::tcp(sa("10.12.0.2:80"));
    let r = h.apply_with(
        &[
            Op::AddService(Service::new(b)),
            Op::AddService(Service::new(a)),
            Op::AddDestination(b, d1),
        ],
        OnError::Stop,
    );
    assert!(r.results[0].is_ok());
    assert_eq!(
        r.results[1].as_ref().unwrap_err().kind(),
        ErrorKind::ServiceExists
    );
    assert_eq!(
        r.results[2].as_ref().unwrap_err().kind(),
        ErrorKind::NotAttempted
    );
    assert!(h.destinations(&b).unwrap().is_empty());
}

#[test]
fn batch_far_larger_than_the_socket_buffer() {
    // Multi-part service dumps on 6.1 resume by an index over every
    // namespace's services: changes elsewhere during the dump can skip or
    // repeat entries (no NLM_F_DUMP_INTR). Run alone.
    let _k = kernel_exclusive();
    let ns = Netns::new("bigbatch");
    let mut h = ns.handle();
    let n_svc = 3000u32;
    let per = 3u32;
    let mut ops = Vec::new();
    for i in 0..n_svc {
        let key = ServiceKey::tcp(SocketAddr::from(([10, 13, (i >> 8) as u8, i as u8], 80)));
        ops.push(Op::AddService(
            Service::new(key).with_scheduler(Scheduler::Wrr),
        ));
        for j in 0..per {
            let d = Destination::new(SocketAddr::from((
                [10, 14, (i >> 8) as u8, i as u8],
                8000 + j as u16,
            )))
            .with_weight(j + 1);
            ops.push(Op::AddDestination(key, d));
        }
    }
    let r = h.apply(&ops);
    assert!(r.is_ok(), "first failure: {:?}", r.errors().next());
    assert!(r.sends > 1, "{} ops must take several datagrams", ops.len());
    let table = h.table().unwrap();
    assert_eq!(table.len(), n_svc as usize);
    assert!(table.iter().all(|t| t.destinations.len() == per as usize));
    assert_eq!(
        ns.ipvsadm("-Sn").lines().count(),
        (n_svc * (per + 1)) as usize
    );
    // Every operation of a second, equally large batch fails: each failure
    // is reported, none is lost.
    let removes: Vec<Op> = (0..n_svc * per)
        .map(|i| {
            Op::RemoveDestination(
                ServiceKey::tcp(sa("10.13.0.0:80")),
                SocketAddr::from(([10, 99, (i >> 8) as u8, i as u8], 1)),
            )
        })
        .collect();
    let r = h.apply(&removes);
    assert_eq!(r.failures(), removes.len());
    assert!(
        r.results
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind() == ErrorKind::DestinationNotFound)
    );
}

#[test]
fn whole_table_read_matches_per_service_reads() {
    // Multi-part service dumps on 6.1 resume by an index over every
    // namespace's services: changes elsewhere during the dump can skip or
    // repeat entries (no NLM_F_DUMP_INTR). Run alone.
    let _k = kernel_exclusive();
    let ns = Netns::new("table");
    let mut h = ns.handle();
    let mut ops = Vec::new();
    let mut keys = Vec::new();
    for i in 0..200u32 {
        let key = if i % 10 == 0 {
            ServiceKey::fwmark(AddressFamily::Inet6, i + 1)
        } else {
            ServiceKey::udp(SocketAddr::from(([10, 15, 0, i as u8], 53)))
        };
        keys.push(key);
        ops.push(Op::AddService(Service::new(key)));
        // One service with enough destinations to need several datagrams.
        let n = if i == 7 { 400 } else { i % 5 };
        for j in 0..n {
            let ip = if key.family() == AddressFamily::Inet6 {
                format!("[2001:db8:15::{:x}]:{}", j + 1, 53)
            } else {
                format!("10.16.{}.{}:53", j >> 8, j & 0xff)
            };
            ops.push(Op::AddDestination(
                key,
                Destination::new(sa(&ip)).with_weight(j),
            ));
        }
    }
    assert!(h.apply(&ops).is_ok());
    let table = h.table().unwrap();
    assert_eq!(table.len(), keys.len());
    for t in &table {
        let one = h.destinations(&t.service.service.key).unwrap();
        assert_eq!(t.destinations, one, "{}", t.service.service.key);
    }
    assert_eq!(
        table
            .iter()
            .find(|t| t.service.service.key == keys[7])
            .unwrap()
            .destinations
            .len(),
        400
    );
    // Unknown services give empty lists in destinations_of.
    let v = h
        .destinations_of(&[keys[1], ServiceKey::tcp(sa("10.15.9.9:1"))])
        .unwrap();
    assert_eq!(v[1], vec![]);
    assert_eq!(v[0].len(), 1);
}

/// A stop right after a start (issue 16, item 2). When the kernel stops a
/// daemon thread that has not run yet, `kthread_stop` returns `-EINTR`,
/// `IPVS_CMD_DEL_DAEMON` passes it on and netlink sends no ACK at all for
/// `-EINTR`, although the daemon is gone. `stop_daemon` must still return
/// `Ok` promptly (not after the handle's timeout), and the list be empty.
#[test]
fn daemon_stop_right_after_start_returns_promptly() {
    use std::time::{Duration, Instant};
    let _k = kernel();
    let a = Netns::new("dstopa");
    let b = Netns::new("dstopb");
    veth("dst", &a, "10.96.0.1/24", &b, "10.96.0.2/24");
    let mut h = a.handle();
    // Long enough that waiting for a lost ACK would show.
    h.set_timeout(Some(Duration::from_secs(30))).unwrap();
    let (mut slowest, mut without_ack) = (Duration::ZERO, 0);
    for i in 0..20 {
        let (daemon, role) = if i % 2 == 0 {
            (SyncDaemon::master("dsta", 7), DaemonRole::Master)
        } else {
            (SyncDaemon::backup("dsta", 7), DaemonRole::Backup)
        };
        h.start_daemon(&daemon)
            .unwrap_or_else(|e| panic!("start #{i}: {e}"));
        let t = Instant::now();
        h.stop_daemon(role)
            .unwrap_or_else(|e| panic!("stop #{i} right after its start: {e}"));
        let took = t.elapsed();
        slowest = slowest.max(took);
        // The ACK wait is 500 ms: a stop that took that long got none.
        if took >= Duration::from_millis(500) {
            without_ack += 1;
        }
        assert!(
            took < Duration::from_secs(5),
            "stop #{i} took {took:?}: it waited for a reply that never comes"
        );
        assert_eq!(h.daemons().unwrap(), [], "after stop #{i}");
        let e = h.stop_daemon(role).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DaemonNotRunning, "{e}");
    }
    eprintln!(
        "daemon_stop_right_after_start_returns_promptly: 20 start+stop pairs, slowest stop \
         {slowest:?}, {without_ack} stops without the kernel's ACK"
    );
}

/// `Handle::timeout` reads back what `set_timeout` set; `Handle::netns_id`
/// is the namespace file's inode, the same for every handle in it.
#[test]
fn handle_timeout_and_namespace_read_back() {
    use std::os::unix::fs::MetadataExt;
    use std::time::Duration;
    let _k = kernel();
    let a = Netns::new("idsa");
    let b = Netns::new("idsb");
    let mut h = a.handle();
    assert_eq!(h.timeout(), Some(Duration::from_secs(10)));
    h.set_timeout(None).unwrap();
    assert_eq!(h.timeout(), None);
    h.set_timeout(Some(Duration::from_millis(1500))).unwrap();
    assert_eq!(h.timeout(), Some(Duration::from_millis(1500)));
    let ino = |ns: &Netns| std::fs::metadata(ns.path()).unwrap().ino();
    assert_eq!(h.netns_id().unwrap(), ino(&a));
    let f = std::fs::File::open(b.path()).unwrap();
    use std::os::fd::AsFd;
    let hb = Handle::open_netns(f.as_fd()).unwrap();
    assert_eq!(hb.netns_id().unwrap(), ino(&b));
    assert_ne!(ino(&a), ino(&b));
    let own = Handle::open().unwrap();
    let self_ino = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
    assert_eq!(own.netns_id().unwrap(), self_ino);

    // A handle opened with a pidfd of a process in b names b, and keeps
    // working after that process is gone.
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", &b.name, "sleep", "60"])
        .spawn()
        .expect("ip netns exec sleep");
    let proc_ns = format!("/proc/{}/ns/net", child.id());
    let entered = (0..200).any(|_| {
        let now = std::fs::metadata(&proc_ns).map(|m| m.ino()).ok();
        now == Some(ino(&b)) || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(entered, "the child never entered {}", b.name);
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    let pidfd =
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd_open");
    let mut hp = Handle::open_netns(pidfd.as_fd()).expect("open with a pidfd");
    assert_eq!(hp.netns_id().unwrap(), ino(&b));
    child.kill().expect("kill");
    child.wait().expect("wait");
    drop(pidfd);
    hp.set_read_threads(std::num::NonZeroUsize::new(2).unwrap());
    hp.table().expect("a read after the process is gone");
    assert_eq!(hp.netns_id().unwrap(), ino(&b));
}
