//! Host benchmark: encode and decode throughput of service and destination
//! messages (no kernel). `cargo bench --bench codec`.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lvs::wire::consts::*;
use lvs::wire::{CmdAttr, DestAttr, Messages, ServiceAttr, StatsAttr, SvcFlags, push_request};
use lvs::{AddressFamily, Destination, Op, Scheduler, Service, ServiceKey, request};

const N: u32 = 100_000;

fn best_of<F: FnMut() -> usize>(mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..7 {
        let t = Instant::now();
        bytes = f();
        best = best.min(t.elapsed());
    }
    (best, bytes)
}

fn report(what: &str, d: Duration, bytes: usize) {
    let per = d.as_secs_f64() / f64::from(N);
    println!(
        "{what:<44} {:>8.1} M msg/s {:>8.0} MB/s {:>7.0} ns/msg",
        1e-6 / per,
        bytes as f64 / d.as_secs_f64() / 1e6,
        per * 1e9
    );
}

fn stats64() -> Vec<StatsAttr> {
    (IPVS_STATS_ATTR_CONNS..=IPVS_STATS_ATTR_OUTBPS)
        .map(|k| StatsAttr::U64(k, u64::from(k) * 1000))
        .collect()
}

fn main() {
    let key = ServiceKey::tcp(SocketAddr::from(([10, 0, 0, 1], 80)));
    let svc_ops: Vec<Op> = (0..N)
        .map(|i| {
            Op::AddService(
                Service::new(ServiceKey::tcp(SocketAddr::from((
                    Ipv4Addr::from(0x0a00_0000 | i),
                    80,
                ))))
                .with_scheduler(Scheduler::Wrr),
            )
        })
        .collect();
    let dest_ops: Vec<Op> = (0..N)
        .map(|i| {
            Op::AddDestination(
                key,
                Destination::new(SocketAddr::from((Ipv4Addr::from(0xac10_0000 | i), 8080)))
                    .with_weight(i),
            )
        })
        .collect();
    let mut buf = Vec::with_capacity(32 << 20);
    let (d, b) = best_of(|| {
        buf.clear();
        for (i, op) in svc_ops.iter().enumerate() {
            request::write(&mut buf, 0x20, i as u32, op).expect("valid");
        }
        black_box(&buf);
        buf.len()
    });
    report("encode NEW_SERVICE (validate + write)", d, b);
    let (d, b) = best_of(|| {
        buf.clear();
        for (i, op) in dest_ops.iter().enumerate() {
            request::write(&mut buf, 0x20, i as u32, op).expect("valid");
        }
        black_box(&buf);
        buf.len()
    });
    report("encode NEW_DEST (validate + write)", d, b);

    // Kernel-like replies: one GET_DEST dump message per destination, with
    // both stats nests, as the kernel sends them.
    let mut replies = Vec::new();
    for i in 0..N {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&(0xac10_0000u32 | i).to_be_bytes());
        let dest = vec![
            DestAttr::Addr(a),
            DestAttr::Port(8080),
            DestAttr::FwdMethod(0),
            DestAttr::Weight(1),
            DestAttr::TunType(0),
            DestAttr::TunPort(0),
            DestAttr::TunFlags(0),
            DestAttr::UThresh(0),
            DestAttr::LThresh(0),
            DestAttr::ActiveConns(3),
            DestAttr::InactConns(4),
            DestAttr::PersistConns(0),
            DestAttr::AddrFamily(AF_INET),
            DestAttr::Stats(stats64()),
            DestAttr::Stats64(stats64()),
        ];
        push_request(
            &mut replies,
            0x20,
            NLM_F_MULTI,
            1,
            IPVS_CMD_NEW_DEST,
            &[CmdAttr::Dest(dest)],
        )
        .expect("fits");
    }
    let (d, _) = best_of(|| {
        let mut n = 0;
        for m in Messages::new(&replies) {
            let (_, attrs) = m.expect("message").genl().expect("genl");
            let e = request::parse_destination_reply(attrs, AddressFamily::Inet).expect("dest");
            n += usize::from(black_box(e).is_some());
        }
        assert_eq!(n, N as usize);
        n
    });
    report("decode GET_DEST reply (with stats)", d, replies.len());

    let mut sreplies = Vec::new();
    for i in 0..N {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&(0x0a00_0000u32 | i).to_be_bytes());
        let svc = vec![
            ServiceAttr::Af(AF_INET),
            ServiceAttr::Protocol(IPPROTO_TCP),
            ServiceAttr::Addr(a),
            ServiceAttr::Port(80),
            ServiceAttr::SchedName("wlc".into()),
            ServiceAttr::Flags(SvcFlags {
                flags: IP_VS_SVC_F_HASHED,
                mask: !0,
            }),
            ServiceAttr::Timeout(0),
            ServiceAttr::Netmask([255; 4]),
            ServiceAttr::Stats(stats64()),
            ServiceAttr::Stats64(stats64()),
        ];
        push_request(
            &mut sreplies,
            0x20,
            NLM_F_MULTI,
            1,
            IPVS_CMD_NEW_SERVICE,
            &[CmdAttr::Service(svc)],
        )
        .expect("fits");
    }
    let (d, _) = best_of(|| {
        let mut n = 0;
        for m in Messages::new(&sreplies) {
            let (_, attrs) = m.expect("message").genl().expect("genl");
            n +=
                usize::from(black_box(request::parse_service_reply(attrs).expect("svc")).is_some());
        }
        n
    });
    report("decode GET_SERVICE reply (with stats)", d, sreplies.len());
}
