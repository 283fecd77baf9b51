//! `lvs_simulate`: where would IPVS send these clients? The scheduler
//! models of `lvs::sched`, without a kernel.

use std::net::SocketAddr;

use crate::error::{Failure, Outcome, finish, lvs_result};
use crate::types::{DESTINATION_SIZE_V1, SERVICE_SIZE_V1, lvs_addr, lvs_destination, lvs_service};

impl From<lvs::sched::Error> for Failure {
    fn from(e: lvs::sched::Error) -> Self {
        Failure::new(lvs_result::from_kind(e.kind()), format!("simulate: {e}"))
    }
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
        // SAFETY: forwarded from this function's contract; the first layouts.
        unsafe {
            lvs_simulate_sized(
                service,
                SERVICE_SIZE_V1,
                dests,
                n_dests,
                DESTINATION_SIZE_V1,
                clients,
                n_clients,
                counts,
                unscheduled,
            )
        }
    }
}

/// `lvs_simulate` with the size of `*service` and of each element of
/// `dests` (pass `sizeof *service` and `sizeof dests[0]`): the growth rule
/// of lvs.h ("Structs that grow").
///
/// # Safety
/// As `lvs_simulate`, with `service` valid for reading `service_size`
/// bytes and `dests` for `n_dests * dest_size` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_simulate_sized(
    service: *const lvs_service,
    service_size: usize,
    dests: *const lvs_destination,
    n_dests: usize,
    dest_size: usize,
    clients: *const lvs_addr,
    n_clients: usize,
    counts: *mut u64,
    unscheduled: *mut u64,
) -> lvs_result {
    ffi_boundary! {
        finish((|| {
            let service = try_sized!(service, service_size)?.model("service")?;
            let dest_list = try_sized_slice!(dests, n_dests, dest_size)?;
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
                .map(|(i, d)| d.model(&format!("dests[{i}]")))
                .collect::<Outcome<Vec<_>>>()?;
            let clients = clients
                .iter()
                .enumerate()
                .map(|(i, c)| c.socket_addr(&format!("clients[{i}]")))
                .collect::<Outcome<Vec<SocketAddr>>>()?;
            let dist = lvs::sched::simulate(&service, specs.iter().copied(), clients)?;
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
                reserved: 0,
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
