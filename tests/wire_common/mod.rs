//! Shorthands shared by the wire tests (`wire_golden`, `wire_props`):
//! one copy of each.
#![allow(dead_code)]

use std::net::IpAddr;

/// Typed shorthands over `request::write` (the one write path, via `Op`).
pub mod req {
    use std::net::SocketAddr;

    use lvs::request::write;
    use lvs::{Destination, Op, Result, Service, ServiceKey, Timeouts};

    pub fn add_service(b: &mut Vec<u8>, f: u16, s: u32, svc: &Service) -> Result<usize> {
        write(b, f, s, &Op::AddService(svc.clone()))
    }
    pub fn update_service(b: &mut Vec<u8>, f: u16, s: u32, svc: &Service) -> Result<usize> {
        write(b, f, s, &Op::UpdateService(svc.clone()))
    }
    pub fn remove_service(b: &mut Vec<u8>, f: u16, s: u32, k: &ServiceKey) -> Result<usize> {
        write(b, f, s, &Op::RemoveService(*k))
    }
    pub fn add_destination(
        b: &mut Vec<u8>,
        f: u16,
        s: u32,
        k: &ServiceKey,
        d: &Destination,
    ) -> Result<usize> {
        write(b, f, s, &Op::AddDestination(*k, *d))
    }
    pub fn update_destination(
        b: &mut Vec<u8>,
        f: u16,
        s: u32,
        k: &ServiceKey,
        d: &Destination,
    ) -> Result<usize> {
        write(b, f, s, &Op::UpdateDestination(*k, *d))
    }
    pub fn remove_destination(
        b: &mut Vec<u8>,
        f: u16,
        s: u32,
        k: &ServiceKey,
        d: SocketAddr,
    ) -> Result<usize> {
        write(b, f, s, &Op::RemoveDestination(*k, d))
    }
    pub fn zero(b: &mut Vec<u8>, f: u16, s: u32, k: Option<&ServiceKey>) -> Result<usize> {
        write(b, f, s, &Op::Zero(k.copied()))
    }
    pub fn flush(b: &mut Vec<u8>, f: u16, s: u32) -> usize {
        write(b, f, s, &Op::Flush).expect("FLUSH needs no validation")
    }
    pub fn set_config(b: &mut Vec<u8>, f: u16, s: u32, t: &Timeouts) -> Result<usize> {
        write(b, f, s, &Op::SetTimeouts(*t))
    }
}

/// A 16-byte `nf_inet_addr`: IPv4 in the first 4 bytes, zero padded.
pub fn raw16(ip: IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v) => a[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => a = v.octets(),
    }
    a
}
