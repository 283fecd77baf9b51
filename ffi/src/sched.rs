//! `lvs_simulate`: where would IPVS send these clients? The scheduler
//! models of `lvs::sched`, without a kernel.

use std::net::SocketAddr;

use lvs::sched::{
    DestSpec, Family, Persistence, Protocol, SchedError, SchedFlags, SchedulerKind, ServiceSpec,
};
use lvs::{AddressFamily, ServiceKey};

use crate::error::{Failure, Outcome, finish, lvs_result};
use crate::types::{
    LVS_SVC_F_ONEPACKET, LVS_SVC_F_SCHED_FALLBACK, LVS_SVC_F_SCHED_PORT, lvs_addr, lvs_destination,
    lvs_service, read_name,
};

impl From<SchedError> for Failure {
    fn from(e: SchedError) -> Self {
        let code = match &e {
            SchedError::DestinationExists(_) => lvs_result::LVS_DESTINATION_EXISTS,
            SchedError::DestinationNotFound(_) => lvs_result::LVS_DESTINATION_NOT_FOUND,
            SchedError::UnknownScheduler(_) => lvs_result::LVS_SCHEDULER_NOT_FOUND,
            _ => lvs_result::LVS_INVALID_ARGUMENT,
        };
        Failure::new(code, format!("simulate: {e}"))
    }
}

fn sched_family(f: AddressFamily) -> Family {
    match f {
        AddressFamily::Inet => Family::Inet,
        AddressFamily::Inet6 => Family::Inet6,
    }
}

/// The model service for `svc` (the same struct the handle takes).
fn spec_of(svc: &lvs_service) -> Outcome<ServiceSpec> {
    let model = svc.model("service")?;
    let name = read_name(&svc.scheduler, "service.scheduler")?;
    let name = if name.is_empty() { "wlc" } else { &name };
    let kind: SchedulerKind = name.parse().map_err(|_| {
        let known: Vec<&str> = SchedulerKind::ALL.iter().map(|k| k.name()).collect();
        Failure::new(
            lvs_result::LVS_UNSUPPORTED,
            format!(
                "simulate: there is no model of the scheduler {name:?}; models exist for {}",
                known.join(", ")
            ),
        )
    })?;
    if model.persistence_engine.is_some() {
        return Err(Failure::new(
            lvs_result::LVS_UNSUPPORTED,
            "simulate: persistence engines are not modelled; leave pe_name empty",
        ));
    }
    let family = sched_family(model.key.family());
    let mut spec = match model.key {
        ServiceKey::Fwmark { mark, .. } => ServiceSpec::new(kind).with_fwmark(family, mark),
        ServiceKey::Addr { protocol, addr } => {
            let n = u8::try_from(protocol.number()).map_err(|_| {
                Failure::invalid(
                    "service.key.protocol",
                    format_args!("IP protocol numbers are 0..=255, got {}", protocol.number()),
                )
            })?;
            ServiceSpec::new(kind).with_addr(Protocol::from_number(n), addr)
        }
        other => {
            return Err(Failure::new(
                lvs_result::LVS_UNSUPPORTED,
                format!("simulate: no model for the service key {other:?}"),
            ));
        }
    };
    spec = spec
        .with_flags(
            SchedFlags::new()
                .with_fallback(svc.flags & LVS_SVC_F_SCHED_FALLBACK != 0)
                .with_port(svc.flags & LVS_SVC_F_SCHED_PORT != 0),
        )
        .with_one_packet(svc.flags & LVS_SVC_F_ONEPACKET != 0);
    if let Some(p) = model.persistence {
        let netmask = match p.netmask {
            lvs::Netmask::V4(m) => u32::from(m),
            lvs::Netmask::V6(len) => u32::from(len),
            other => {
                return Err(Failure::new(
                    lvs_result::LVS_UNSUPPORTED,
                    format!("simulate: no model for the netmask {other:?}"),
                ));
            }
        };
        spec = spec.with_persistence(Persistence::new(p.timeout, netmask));
    }
    Ok(spec)
}

/// Simulate IPVS scheduling without a kernel: build the service `service`
/// with the destinations `dests` (in the order they would be added to the
/// kernel, which puts each new one first), connect each client of
/// `clients` once (connections stay open, so least-connection schedulers
/// see them), and count where they went.
///
/// On success `counts[i]` is the number of clients sent to `dests[i]`, and
/// `*unscheduled` (if `unscheduled` is not NULL) the number that found no
/// destination. The models follow the kernel's code for rr, wrr, lc, wlc,
/// sed, nq, fo, ovf, twos, dh, sh, mh, lblc and lblcr, including
/// persistence, one-packet scheduling, the sh/mh flags, weights and
/// thresholds; forwarding methods do not matter to them.
///
/// Errors: `LVS_INVALID_ARGUMENT` (an invalid service, destination or
/// client address; the message says which), `LVS_UNSUPPORTED` (a scheduler
/// with no model, such as "none", or a persistence engine),
/// `LVS_DESTINATION_EXISTS` (the same destination twice),
/// `LVS_NULL_PARAMETER`. The message is the thread's last error. Nothing is
/// written to `counts` or `unscheduled` on failure.
///
/// # Safety
/// `service`: valid for reading one `lvs_service` (not NULL). `dests`:
/// valid for reading `n_dests` `lvs_destination`s (NULL only if `n_dests`
/// is 0). `clients`: valid for reading `n_clients` `lvs_addr`s (NULL only
/// if `n_clients` is 0). `counts`: valid for writing `n_dests` `uint64_t`s
/// (NULL only if `n_dests` is 0). `unscheduled`: NULL or valid for writing
/// one `uint64_t`. Nothing is kept.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_simulate(
    service: *const lvs_service,
    dests: *const lvs_destination,
    n_dests: usize,
    clients: *const lvs_addr,
    n_clients: usize,
    counts: *mut u64,
    unscheduled: *mut u64,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let spec = spec_of(try_ref!(service)?)?;
            let dest_list = try_slice!(dests, n_dests)?;
            let clients = try_slice!(clients, n_clients)?;
            let counts = try_slice_out!(counts, n_dests)?;
            let mut unscheduled = if unscheduled.is_null() {
                None
            } else {
                Some(try_out!(unscheduled)?)
            };
            let specs = dest_list
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let d = d.model(&format!("dests[{i}]"))?;
                    Ok(DestSpec::new(d.addr, d.weight)
                        .with_thresholds(d.upper_threshold, d.lower_threshold))
                })
                .collect::<Outcome<Vec<_>>>()?;
            let clients = clients
                .iter()
                .enumerate()
                .map(|(i, c)| c.socket_addr(&format!("clients[{i}]")))
                .collect::<Outcome<Vec<SocketAddr>>>()?;
            let dist = lvs::sched::simulate(spec, specs.iter().copied(), clients)?;
            for (slot, d) in counts.iter_mut().zip(&specs) {
                slot.write(dist.count(d.addr));
            }
            if let Some(u) = unscheduled.as_mut() {
                u.set(dist.unscheduled());
            }
            Ok(())
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::*;
    use std::ffi::c_char;

    fn addr(s: &str) -> lvs_addr {
        lvs_addr::from_socket(s.parse().unwrap())
    }

    fn service(sched: &str) -> lvs_service {
        let mut s = lvs_service {
            key: lvs_service_key {
                addr: addr("10.0.0.1:80"),
                protocol: LVS_PROTO_TCP,
                fwmark: 0,
            },
            ..Default::default()
        };
        for (o, b) in s.scheduler.iter_mut().zip(sched.bytes()) {
            *o = b as c_char;
        }
        s
    }

    fn run(svc: &lvs_service, dests: &[lvs_destination], n: u32) -> (lvs_result, Vec<u64>, u64) {
        let clients: Vec<lvs_addr> = (0..n)
            .map(|i| {
                lvs_addr::from_socket(SocketAddr::new(
                    std::net::Ipv4Addr::from(0xc633_6400 + i).into(),
                    40000,
                ))
            })
            .collect();
        let mut counts = vec![0u64; dests.len()];
        let mut none = 0u64;
        // SAFETY: every pointer covers its count.
        let r = unsafe {
            lvs_simulate(
                svc,
                dests.as_ptr(),
                dests.len(),
                clients.as_ptr(),
                clients.len(),
                counts.as_mut_ptr(),
                &mut none,
            )
        };
        (r, counts, none)
    }

    fn dest(s: &str, weight: u32) -> lvs_destination {
        lvs_destination {
            addr: addr(s),
            weight,
            ..Default::default()
        }
    }

    #[test]
    fn wrr_follows_weights() {
        let (r, counts, none) = run(
            &service("wrr"),
            &[dest("10.1.0.1:80", 1), dest("10.1.0.2:80", 3)],
            400,
        );
        assert_eq!((r, counts, none), (lvs_result::LVS_OK, vec![100, 300], 0));
    }

    #[test]
    fn unmodelled_and_invalid_input_is_refused() {
        let d = [dest("10.1.0.1:80", 1)];
        assert_eq!(run(&service("none"), &d, 1).0, lvs_result::LVS_UNSUPPORTED);
        let twice = [dest("10.1.0.1:80", 1), dest("10.1.0.1:80", 1)];
        assert_eq!(
            run(&service("rr"), &twice, 1).0,
            lvs_result::LVS_DESTINATION_EXISTS
        );
        let heavy = [dest("10.1.0.1:80", u32::MAX)];
        assert_eq!(
            run(&service("rr"), &heavy, 1).0,
            lvs_result::LVS_INVALID_ARGUMENT
        );
        // No destinations: everyone is unscheduled.
        assert_eq!(run(&service("rr"), &[], 5), (lvs_result::LVS_OK, vec![], 5));
    }
}
