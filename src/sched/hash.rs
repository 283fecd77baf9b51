//! Hash primitives used by the hashing schedulers (`sh`, `dh`, `mh`, `lblc`,
//! `lblcr`), written from their definitions in the kernel (`hash_32()` of
//! `<linux/hash.h>`, the address folds of `ip_vs_sh.c`/`ip_vs_dh.c`, and
//! the SipHash-1-3 keys of `ip_vs_mh.c`).
//!
//! They are public so that conformance tests can check individual steps
//! (address folding, bucket index, Maglev key) against a running kernel.

use std::net::IpAddr;

use crate::model::AddressFamily;

/// `GOLDEN_RATIO_32` from `include/linux/hash.h` (mainline since v4.7).
pub const GOLDEN_RATIO_32: u32 = 0x61C8_8647;

/// First Maglev key word (`hash1` in `ip_vs_mh.c`): both key words are
/// `2654435761` (`0x9E3779B1`). The kernel uses fixed keys, not random ones.
pub const IP_VS_MH_HASH1: [u64; 2] = [2_654_435_761, 2_654_435_761];

/// Second Maglev key (`hash2`): both words `2654446892` (`0x9E37A52C`).
pub const IP_VS_MH_HASH2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// `hash_32(val, bits)`: multiply by [`GOLDEN_RATIO_32`] and keep the top
/// `bits` bits.
///
/// `bits` is clamped to `1..=32` (the kernel never calls it with other
/// values), so this never panics.
#[inline]
pub fn hash_32(val: u32, bits: u32) -> u32 {
    let bits = bits.clamp(1, 32);
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// The 16 bytes of the kernel's `union nf_inet_addr` for `addr`: an IPv4
/// address fills the first 4 bytes and the rest is zero.
#[inline]
pub fn inet_addr_bytes(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => {
            let o = a.octets();
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&o);
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

/// The address fold used by every hashing scheduler, in host order:
/// `ntohl(addr.ip)` for an `AF_INET` service and
/// `ntohl(w0 ^ w1 ^ w2 ^ w3)` for `AF_INET6`.
///
/// `family` is the *service* family (the kernel passes `svc->af`), and the
/// address is read as the kernel's `union nf_inet_addr`, so mixed-family
/// inputs fold as the kernel folds them.
#[inline]
pub fn fold(family: AddressFamily, addr: IpAddr) -> u32 {
    match (family, addr) {
        (AddressFamily::Inet, IpAddr::V4(a)) => u32::from(a),
        (AddressFamily::Inet, IpAddr::V6(a)) => {
            let o = a.octets();
            u32::from_be_bytes([o[0], o[1], o[2], o[3]])
        }
        (AddressFamily::Inet6, IpAddr::V4(a)) => u32::from(a),
        (AddressFamily::Inet6, IpAddr::V6(a)) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

#[inline(always)]
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-1-3 of the 4-byte little-endian message `msg`, returning all
/// 64 bits. This is `hsiphash()` on 64-bit kernels for a 4-byte input.
#[inline]
pub fn siphash13_u32(key: [u64; 2], msg: u32) -> u64 {
    let [k0, k1] = key;
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let b = (4u64 << 56) | u64::from(msg);
    v[3] ^= b;
    sipround(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    sipround(&mut v);
    sipround(&mut v);
    sipround(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// `ip_vs_mh_hashkey()`: `hsiphash(&v, 4, key)` truncated to `unsigned int`,
/// where `v = offset + port + fold(family, addr)` (wrapping, host order).
#[inline]
pub fn mh_hashkey(
    family: AddressFamily,
    addr: IpAddr,
    port: u16,
    key: [u64; 2],
    offset: u32,
) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(fold(family, addr));
    siphash13_u32(key, v) as u32
}

/// `a % d` for a fixed divisor, computed with a multiplication
/// (Lemire, Kaser, Kurz: "Faster remainder by direct computation").
/// Exact for every `u32` dividend and every divisor `d >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FastMod {
    m: u64,
    d: u32,
}

impl FastMod {
    /// `d == 0` is treated as 1 so that the type never divides by zero.
    pub(crate) fn new(d: u32) -> Self {
        let d = d.max(1);
        Self {
            m: (u64::MAX / u64::from(d)).wrapping_add(1),
            d,
        }
    }

    #[inline(always)]
    pub(crate) fn rem(self, a: u32) -> u32 {
        let low = self.m.wrapping_mul(u64::from(a));
        ((u128::from(low) * u128::from(self.d)) >> 64) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Generic SipHash-c-d over arbitrary bytes, used only to check the
    /// specialised version and the official test vectors.
    fn siphash_cd(c: usize, d: usize, k0: u64, k1: u64, msg: &[u8]) -> u64 {
        let mut v = [
            0x736f_6d65_7073_6575 ^ k0,
            0x646f_7261_6e64_6f6d ^ k1,
            0x6c79_6765_6e65_7261 ^ k0,
            0x7465_6462_7974_6573 ^ k1,
        ];
        let chunks = msg.chunks_exact(8);
        let tail = chunks.remainder();
        for ch in chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(ch);
            let m = u64::from_le_bytes(w);
            v[3] ^= m;
            for _ in 0..c {
                sipround(&mut v);
            }
            v[0] ^= m;
        }
        let mut last = [0u8; 8];
        last[..tail.len()].copy_from_slice(tail);
        last[7] = msg.len() as u8;
        let b = u64::from_le_bytes(last);
        v[3] ^= b;
        for _ in 0..c {
            sipround(&mut v);
        }
        v[0] ^= b;
        v[2] ^= 0xff;
        for _ in 0..d {
            sipround(&mut v);
        }
        v[0] ^ v[1] ^ v[2] ^ v[3]
    }

    #[test]
    fn official_siphash24_vectors() {
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        assert_eq!(siphash_cd(2, 4, k0, k1, &[]), 0x726f_db47_dd0e_0e31);
        let msg: Vec<u8> = (0u8..15).collect();
        assert_eq!(siphash_cd(2, 4, k0, k1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn specialised_matches_generic_13() {
        for (i, x) in [0u32, 1, 0x0a00_0001, 0xdead_beef, u32::MAX]
            .into_iter()
            .enumerate()
        {
            let key = [i as u64 * 77 + 3, 0x1234_5678_9abc_def0 ^ i as u64];
            assert_eq!(
                siphash13_u32(key, x),
                siphash_cd(1, 3, key[0], key[1], &x.to_le_bytes())
            );
        }
    }

    /// Values computed from the kernel's definitions: `mhkey(K1)`, `mhkey(K2)`, offset and skip for M = 4093.
    #[test]
    fn reference_mh_keys() {
        let cases: [(IpAddr, u16, u32, u32, u32, u32); 4] = [
            (
                Ipv4Addr::new(10, 0, 0, 1).into(),
                0,
                0x0308_0ce4,
                0x48f9_d0c1,
                3711,
                966,
            ),
            (
                Ipv4Addr::new(10, 0, 0, 1).into(),
                80,
                0x439c_0cbe,
                0x97b3_dc47,
                3167,
                700,
            ),
            (
                Ipv4Addr::new(192, 168, 1, 10).into(),
                8080,
                0x5929_9ba7,
                0xe144_ac00,
                1686,
                2881,
            ),
            (
                "2001:db8::1"
                    .parse::<Ipv6Addr>()
                    .map(IpAddr::V6)
                    .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                443,
                0x9238_df72,
                0xbbf4_070c,
                3902,
                4045,
            ),
        ];
        for (addr, port, k1, k2, offset, skip) in cases {
            let fam = AddressFamily::of(addr);
            let h1 = mh_hashkey(fam, addr, port, IP_VS_MH_HASH1, 0);
            let h2 = mh_hashkey(fam, addr, port, IP_VS_MH_HASH2, 0);
            assert_eq!(h1, k1, "{addr}:{port} K1");
            assert_eq!(h2, k2, "{addr}:{port} K2");
            assert_eq!(h1 % 4093, offset);
            assert_eq!(h2 % 4092 + 1, skip);
        }
    }

    /// Values computed from the kernel's definitions: fold and `hash_32(fold, 8)`.
    #[test]
    fn reference_fold_and_hash32() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert_eq!(fold(AddressFamily::Inet, v4(10, 0, 0, 1)), 0x0a00_0001);
        assert_eq!(hash_32(0x0a00_0001, 8), 39);
        assert_eq!(fold(AddressFamily::Inet, v4(192, 168, 1, 10)), 0xc0a8_010a);
        assert_eq!(hash_32(0xc0a8_010a, 8), 248);
        let v6: IpAddr = "2001:db8::1"
            .parse()
            .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(fold(AddressFamily::Inet6, v6), 0x2001_0db9);
        assert_eq!(hash_32(0x2001_0db9, 8), 63);
        // SH with 256 buckets and port 0.
        assert_eq!(
            hash_32(fold(AddressFamily::Inet, v4(192, 168, 0, 1)), 8),
            192
        );
        assert_eq!(
            hash_32(fold(AddressFamily::Inet, v4(192, 168, 0, 2)), 8),
            34
        );
    }

    #[test]
    fn fastmod_is_exact() {
        for d in [1u32, 2, 3, 251, 4092, 4093, 131_071, u32::MAX] {
            let f = FastMod::new(d);
            for a in [
                0u32,
                1,
                d - 1,
                d,
                d.wrapping_add(1),
                12345,
                0x8000_0000,
                u32::MAX,
            ] {
                assert_eq!(f.rem(a), a % d, "{a} % {d}");
            }
        }
    }
}
