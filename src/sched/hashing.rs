//! Table-driven hashing schedulers: `dh` (`ip_vs_dh.c`), `sh` (`ip_vs_sh.c`)
//! and `mh` (`ip_vs_mh.c`). Tables hold destination ids, so a pick is one hash, one table
//! read and one flag check: no allocation and no map lookup.

use super::SchedulerModel;
use super::hash::{FastMod, IP_VS_MH_HASH1, IP_VS_MH_HASH2, fold, hash_32, mh_hashkey};
use super::service::{DestId, Packet, ServiceState};

/// Empty bucket marker.
const NONE: u32 = u32::MAX;

#[inline(always)]
fn slot(v: u32) -> Option<DestId> {
    if v == NONE { None } else { Some(DestId(v)) }
}

/// `unavailable()` of `sh` and `mh`: weight <= 0 or OVERLOAD (the AVAILABLE
/// flag is not checked).
#[inline(always)]
fn sh_mh_unavailable(svc: &ServiceState, id: DestId) -> bool {
    let d = svc.d(id);
    d.weight <= 0 || d.overloaded
}

/// Destination hashing: a table of `2^bits` buckets filled with the list
/// cyclically, looked up by the packet's *destination* address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dh {
    bits: u32,
    table: Vec<u32>,
}

impl Dh {
    /// `init_service` with `bits` table bits (the kernel's is fixed at 8).
    pub fn new(svc: &ServiceState, bits: u8) -> Self {
        let bits = u32::from(bits.clamp(1, 20));
        let mut s = Self {
            bits,
            table: vec![NONE; 1 << bits],
        };
        s.assign(svc);
        s
    }

    fn assign(&mut self, svc: &ServiceState) {
        let n = svc.list.len();
        for (i, b) in self.table.iter_mut().enumerate() {
            *b = if n == 0 { NONE } else { svc.list[i % n].0 };
        }
    }

    /// The bucket table (`None` = empty bucket).
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = Option<DestId>> + '_ {
        self.table.iter().map(|&v| slot(v))
    }

    /// The pick for `pkt`; dh keeps no per-packet state.
    #[inline]
    pub fn lookup(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        let h = hash_32(fold(svc.family, pkt.dst.ip()), self.bits);
        let id = slot(*self.table.get(h as usize)?)?;
        let d = svc.d(id);
        if !d.available || d.weight <= 0 || d.overloaded {
            return None;
        }
        Some(id)
    }
}

impl SchedulerModel for Dh {
    fn name(&self) -> &'static str {
        "dh"
    }
    fn add_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.assign(svc);
    }
    fn del_dest(&mut self, svc: &ServiceState, _dest: DestId, _former_position: usize) {
        self.assign(svc);
    }
    // No upd_dest: dh keeps its table when a weight changes.
    #[inline]
    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        self.lookup(svc, pkt)
    }
}

/// Source hashing: `2^bits` buckets holding runs of `weight` consecutive
/// buckets per destination in list order, looked up by client address (and
/// source port with the port flag).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sh {
    bits: u32,
    mask: u32,
    table: Vec<u32>,
}

impl Sh {
    /// `init_service` with `bits` table bits (`CONFIG_IP_VS_SH_TAB_BITS`).
    pub fn new(svc: &ServiceState, bits: u8) -> Self {
        let bits = u32::from(bits.clamp(1, 24));
        let mut s = Self {
            bits,
            mask: (1u32 << bits) - 1,
            table: vec![NONE; 1 << bits],
        };
        s.assign(svc);
        s
    }

    fn assign(&mut self, svc: &ServiceState) {
        let list = &svc.list;
        if list.is_empty() {
            self.table.fill(NONE);
            return;
        }
        let mut p = 0usize;
        let mut cnt: i32 = 0;
        for b in self.table.iter_mut() {
            let id = list[p];
            *b = id.0;
            cnt += 1;
            if cnt >= svc.d(id).weight {
                p = (p + 1) % list.len();
                cnt = 0;
            }
        }
    }

    /// The bucket table (`None` = empty bucket).
    pub fn buckets(&self) -> impl ExactSizeIterator<Item = Option<DestId>> + '_ {
        self.table.iter().map(|&v| slot(v))
    }

    /// `ip_vs_sh_hashkey()` with offset 0: the home bucket of a client.
    #[inline]
    pub fn bucket_of(&self, svc: &ServiceState, pkt: &Packet) -> u32 {
        let port = if svc.flags.port { pkt.hash_port() } else { 0 };
        hash_32(
            u32::from(port).wrapping_add(fold(svc.family, pkt.src.ip())),
            self.bits,
        ) & self.mask
    }

    /// The pick for `pkt`; sh keeps no per-packet state.
    #[inline]
    pub fn lookup(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        let ih = self.bucket_of(svc, pkt);
        let id = slot(*self.table.get(ih as usize)?)?;
        if !sh_mh_unavailable(svc, id) {
            return Some(id);
        }
        if !svc.flags.fallback {
            return None;
        }
        self.fallback(svc, ih)
    }

    #[cold]
    fn fallback(&self, svc: &ServiceState, ih: u32) -> Option<DestId> {
        let size = self.mask.wrapping_add(1);
        for off in 0..size {
            let roff = off.wrapping_add(ih) & self.mask;
            // hashkey(roff) = (roff + hash) & mask, and hash == ih here.
            let h = roff.wrapping_add(ih) & self.mask;
            let id = slot(*self.table.get(h as usize)?)?;
            if !sh_mh_unavailable(svc, id) {
                return Some(id);
            }
        }
        None
    }
}

impl SchedulerModel for Sh {
    fn name(&self) -> &'static str {
        "sh"
    }
    fn add_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.assign(svc);
    }
    fn del_dest(&mut self, svc: &ServiceState, _dest: DestId, _former_position: usize) {
        self.assign(svc);
    }
    fn upd_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.assign(svc);
    }
    #[inline]
    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        self.lookup(svc, pkt)
    }
}

/// The Maglev table sizes (`primes[]` in `ip_vs_mh.c`), indexed by
/// `CONFIG_IP_VS_MH_TAB_INDEX - 8`.
pub const IP_VS_MH_PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131_071,
];

/// Maglev hashing. The lookup table has a prime size `M` (4093 by default)
/// and is rebuilt on every add, del and upd, from each destination's
/// `last_weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mh {
    size: u32,
    tab_bits: u32,
    #[cfg_attr(feature = "serde", serde(skip, default = "default_fastmod"))]
    modm: FastMod,
    table: Vec<u32>,
}

#[cfg(feature = "serde")]
fn default_fastmod() -> FastMod {
    FastMod::new(4093)
}

fn fls(x: i32) -> i32 {
    32 - (x as u32).leading_zeros() as i32
}

impl Mh {
    /// `init_service` with `CONFIG_IP_VS_MH_TAB_INDEX = tab_index`
    /// (clamped to 8..=17).
    pub fn new(svc: &ServiceState, tab_index: u8) -> Self {
        let idx = tab_index.clamp(8, 17);
        let size = IP_VS_MH_PRIMES[usize::from(idx - 8)];
        let mut s = Self {
            size,
            tab_bits: u32::from(idx / 2),
            modm: FastMod::new(size),
            table: vec![NONE; size as usize],
        };
        s.reassign(svc);
        s
    }

    /// Table size `M`.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The lookup table (`None` = empty slot).
    pub fn slots(&self) -> impl ExactSizeIterator<Item = Option<DestId>> + '_ {
        self.table.iter().map(|&v| slot(v))
    }

    /// `ip_vs_mh_reassign()`. Fails (table left as it was) when there are
    /// more destinations than slots, like the kernel's `-EINVAL`.
    fn reassign(&mut self, svc: &ServiceState) {
        let list = &svc.list;
        if list.len() > self.size as usize {
            return;
        }
        // gcd and shift over last_weight.
        let mut g: i32 = 0;
        let mut mw: i32 = 0;
        for &id in list {
            let w = svc.d(id).last_weight;
            if w > 0 {
                g = if g > 0 { gcd(w, g) } else { w };
            }
            mw = mw.max(w);
        }
        if g < 1 {
            self.table.fill(NONE);
            return;
        }
        let rshift = (fls(mw / g) - self.tab_bits as i32).max(0) as u32;
        let m = self.size;
        let modm1 = FastMod::new(m - 1);
        struct Setup {
            perm: u32,
            skip: u32,
            turns: i32,
        }
        let setup: Vec<Setup> = list
            .iter()
            .map(|&id| {
                let d = svc.d(id);
                let (ip, port) = (d.addr.ip(), d.addr.port());
                let offset = self
                    .modm
                    .rem(mh_hashkey(svc.family, ip, port, IP_VS_MH_HASH1, 0));
                let skip = modm1.rem(mh_hashkey(svc.family, ip, port, IP_VS_MH_HASH2, 0)) + 1;
                let lw = d.last_weight;
                let t = (lw / g) >> rshift;
                let turns = if t != 0 { t } else { i32::from(lw != 0) };
                Setup {
                    perm: offset,
                    skip,
                    turns,
                }
            })
            .collect();
        let mut setup = setup;
        let mut taken = vec![false; m as usize];
        let mut n: u32 = 0;
        let mut dt: i32 = 0;
        'fill: while n < m {
            let mut j = 0;
            while j < setup.len() {
                let ds = &mut setup[j];
                if ds.turns < 1 {
                    j += 1;
                    continue;
                }
                let mut c = ds.perm;
                while taken[c as usize] {
                    ds.perm += ds.skip;
                    if ds.perm >= m {
                        ds.perm -= m;
                    }
                    c = ds.perm;
                }
                taken[c as usize] = true;
                self.table[c as usize] = list[j].0;
                n += 1;
                if n == m {
                    break 'fill;
                }
                dt += 1;
                if dt >= ds.turns {
                    dt = 0;
                    j += 1;
                }
            }
        }
    }

    /// The home slot of a client: `mhkey(addr, port, K1, 0) % M`.
    #[inline]
    pub fn slot_of(&self, svc: &ServiceState, pkt: &Packet) -> u32 {
        let port = if svc.flags.port { pkt.hash_port() } else { 0 };
        self.modm.rem(mh_hashkey(
            svc.family,
            pkt.src.ip(),
            port,
            IP_VS_MH_HASH1,
            0,
        ))
    }

    /// The pick for `pkt`; mh keeps no per-packet state.
    #[inline]
    pub fn lookup(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        let ih = self.slot_of(svc, pkt);
        let id = slot(*self.table.get(ih as usize)?)?;
        if !sh_mh_unavailable(svc, id) {
            return Some(id);
        }
        if !svc.flags.fallback {
            return None;
        }
        self.fallback(svc, pkt, ih)
    }

    #[cold]
    fn fallback(&self, svc: &ServiceState, pkt: &Packet, ih: u32) -> Option<DestId> {
        let port = if svc.flags.port { pkt.hash_port() } else { 0 };
        let ip = pkt.src.ip();
        for off in 0..self.size {
            let roff = self.modm.rem(off.wrapping_add(ih));
            let h = self
                .modm
                .rem(mh_hashkey(svc.family, ip, port, IP_VS_MH_HASH1, roff));
            let id = slot(*self.table.get(h as usize)?)?;
            if !sh_mh_unavailable(svc, id) {
                return Some(id);
            }
        }
        None
    }
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl SchedulerModel for Mh {
    fn name(&self) -> &'static str {
        "mh"
    }
    fn add_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.reassign(svc);
    }
    fn del_dest(&mut self, svc: &ServiceState, _dest: DestId, _former_position: usize) {
        self.reassign(svc);
    }
    fn upd_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.reassign(svc);
    }
    #[inline]
    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        self.lookup(svc, pkt)
    }
}
