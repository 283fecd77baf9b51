//! Locality-based schedulers `lblc` (`ip_vs_lblc.c`) and `lblcr`
//! (`ip_vs_lblcr.c`). Both
//! cache a choice per packet *destination* address and collect stale cache
//! entries from a 60 s timer ([`Scheduler::tick`]).

use std::collections::{BTreeMap, HashMap};

use super::SchedulerModel;
use super::hash::{hash_32, inet_addr_bytes};
use super::lc::weighted_least;
use super::service::{DestId, DestState, Packet, ServiceState};
use crate::model::AddressFamily;

/// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS`.
pub const IP_VS_LBLC_TAB_BITS: u32 = 10;
/// Timer period of the cache garbage collector (`CHECK_EXPIRE_INTERVAL`), ms.
pub const CHECK_EXPIRE_INTERVAL_MS: u64 = 60_000;
/// Idle time after which an entry may be collected when the table is over
/// full (`ENTRY_TIMEOUT`), ms.
pub const ENTRY_TIMEOUT_MS: u64 = 6 * 60_000;
/// Default of the `lblc_expiration` / `lblcr_expiration` sysctls, ms.
pub const DEFAULT_EXPIRATION_MS: u64 = 24 * 60 * 60_000;
/// `COUNT_FOR_FULL_EXPIRATION`.
pub const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
const TAB_SIZE: u32 = 1 << IP_VS_LBLC_TAB_BITS;
const MAX_SIZE: i64 = (TAB_SIZE as i64) * 16;

/// The cache key: the packet destination address as `ip_vs_addr_equal()`
/// compares it (4 bytes for an `AF_INET` service, 16 for `AF_INET6`).
type Key = [u8; 16];

fn key_of(family: AddressFamily, pkt: &Packet) -> Key {
    let mut b = inet_addr_bytes(pkt.dst.ip());
    if family == AddressFamily::Inet {
        b[4..].fill(0);
    }
    b
}

fn bucket_of(family: AddressFamily, key: &Key) -> u32 {
    let w = |i: usize| u32::from_be_bytes([key[i], key[i + 1], key[i + 2], key[i + 3]]);
    let f = match family {
        AddressFamily::Inet => w(0),
        AddressFamily::Inet6 => w(0) ^ w(4) ^ w(8) ^ w(12),
    };
    hash_32(f, IP_VS_LBLC_TAB_BITS)
}

/// `is_overloaded()` of lblc/lblcr: more active connections than weight,
/// while some destination is below half its weight.
fn is_overloaded(d: &DestState, svc: &ServiceState) -> bool {
    d.active > d.weight && svc.iter().any(|(_, x)| x.active.wrapping_mul(2) < x.weight)
}

/// Shared garbage-collector state and timer logic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct Gc {
    rover: u32,
    counter: u32,
    expiration_ms: u64,
}

impl Gc {
    fn new(expiration_ms: u64) -> Self {
        Self {
            rover: 0,
            counter: 1,
            expiration_ms,
        }
    }

    /// One timer run over entries `(key, lastuse)`; returns the keys to drop.
    fn run(
        &mut self,
        family: AddressFamily,
        now: u64,
        entries: impl Iterator<Item = (Key, u64)>,
    ) -> Vec<Key> {
        let entries: Vec<(Key, u64)> = entries.collect();
        if self.counter.is_multiple_of(COUNT_FOR_FULL_EXPIRATION) {
            self.counter = 1;
            // Full check: drop entries unused for the expiration time; the
            // rover goes round once and ends where it started.
            return entries
                .into_iter()
                .filter(|&(_, lastuse)| now >= lastuse.saturating_add(self.expiration_ms))
                .map(|(k, _)| k)
                .collect();
        }
        let n = entries.len() as i64;
        if n <= MAX_SIZE {
            self.counter += 1;
            return Vec::new();
        }
        let mut goal = ((n - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
        let mut by_bucket: BTreeMap<u32, Vec<Key>> = BTreeMap::new();
        for (k, lastuse) in entries {
            if now >= lastuse.saturating_add(ENTRY_TIMEOUT_MS) {
                by_bucket.entry(bucket_of(family, &k)).or_default().push(k);
            }
        }
        let mut out = Vec::new();
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & (TAB_SIZE - 1);
            if let Some(keys) = by_bucket.remove(&j) {
                goal -= keys.len() as i64;
                out.extend(keys);
            }
            if goal <= 0 {
                break;
            }
        }
        self.rover = j;
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct LblcEntry {
    dest: DestId,
    lastuse: u64,
}

/// Locality-based least connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lblc {
    cache: HashMap<Key, LblcEntry>,
    gc: Gc,
}

impl Lblc {
    /// `init_service` with the `lblc_expiration` sysctl in ms.
    pub fn new(expiration_ms: u64) -> Self {
        Self {
            cache: HashMap::new(),
            gc: Gc::new(expiration_ms),
        }
    }

    /// Number of cache entries.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The cached destination for a packet destination address.
    pub fn cached(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        self.cache.get(&key_of(svc.family, pkt)).map(|e| e.dest)
    }

    /// The pick without changing the cache (what `schedule` would return).
    pub fn peek(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        if let Some(en) = self.cache.get(&key_of(svc.family, pkt)) {
            let d = svc.d(en.dest);
            if d.available && d.weight > 0 && !is_overloaded(d, svc) {
                return Some(en.dest);
            }
        }
        weighted_least(svc, |d| svc.overhead(d))
    }
}

impl SchedulerModel for Lblc {
    fn name(&self) -> &'static str {
        "lblc"
    }

    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        let key = key_of(svc.family, pkt);
        let now = svc.now_ms;
        if let Some(en) = self.cache.get_mut(&key) {
            en.lastuse = now;
            let d = svc.d(en.dest);
            // The threshold OVERLOAD flag is not checked for a cached dest.
            if d.available && d.weight > 0 && !is_overloaded(d, svc) {
                return Some(en.dest);
            }
        }
        let dest = weighted_least(svc, |d| svc.overhead(d))?;
        match self.cache.get(&key) {
            Some(en) if en.dest == dest => {}
            _ => {
                self.cache.insert(key, LblcEntry { dest, lastuse: now });
            }
        }
        Some(dest)
    }

    fn picked(&mut self, svc: &ServiceState, pkt: &Packet, dest: DestId) {
        let now = svc.now_ms;
        let en = self
            .cache
            .entry(key_of(svc.family, pkt))
            .or_insert(LblcEntry { dest, lastuse: now });
        en.dest = dest;
        en.lastuse = now;
    }

    fn timer_interval_ms(&self) -> Option<u64> {
        Some(CHECK_EXPIRE_INTERVAL_MS)
    }

    fn tick(&mut self, svc: &ServiceState) {
        let drop = self.gc.run(
            svc.family,
            svc.now_ms,
            self.cache.iter().map(|(k, e)| (*k, e.lastuse)),
        );
        for k in drop {
            self.cache.remove(&k);
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
struct LblcrEntry {
    /// The destination set, newest first.
    set: Vec<DestId>,
    lastmod: u64,
    lastuse: u64,
}

/// `ip_vs_dest_set_min()`.
fn set_min(set: &[DestId], svc: &ServiceState) -> Option<DestId> {
    let start = set.iter().position(|&id| {
        let d = svc.d(id);
        !d.overloaded && d.weight > 0 && d.available
    })?;
    let mut least = set[start];
    let mut loh = svc.overhead(svc.d(least));
    for &id in &set[start + 1..] {
        let d = svc.d(id);
        if d.overloaded {
            continue;
        }
        let doh = svc.overhead(d);
        if i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(svc.d(least).weight)
            && d.available
        {
            least = id;
            loh = doh;
        }
    }
    Some(least)
}

/// `ip_vs_dest_set_max()`.
fn set_max(set: &[DestId], svc: &ServiceState) -> Option<DestId> {
    let start = set.iter().position(|&id| svc.d(id).weight > 0)?;
    let mut most = set[start];
    let mut moh = svc.overhead(svc.d(most));
    for &id in &set[start + 1..] {
        let d = svc.d(id);
        let doh = svc.overhead(d);
        if i64::from(moh) * i64::from(d.weight) < i64::from(doh) * i64::from(svc.d(most).weight)
            && d.weight > 0
        {
            most = id;
            moh = doh;
        }
    }
    Some(most)
}

/// Locality-based least connection with replication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Lblcr {
    cache: HashMap<Key, LblcrEntry>,
    gc: Gc,
}

impl Lblcr {
    /// `init_service` with the `lblcr_expiration` sysctl in ms.
    pub fn new(expiration_ms: u64) -> Self {
        Self {
            cache: HashMap::new(),
            gc: Gc::new(expiration_ms),
        }
    }

    /// Number of cache entries.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// The cached destination set for a packet destination address, newest
    /// first.
    pub fn cached_set(&self, svc: &ServiceState, pkt: &Packet) -> Option<&[DestId]> {
        self.cache
            .get(&key_of(svc.family, pkt))
            .map(|e| e.set.as_slice())
    }

    /// The pick without changing the cache (what `schedule` would return).
    pub fn peek(&self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        if let Some(en) = self.cache.get(&key_of(svc.family, pkt))
            && let Some(d) = set_min(&en.set, svc)
            && !is_overloaded(svc.d(d), svc)
        {
            return Some(d);
        }
        weighted_least(svc, |d| svc.overhead(d))
    }
}

impl SchedulerModel for Lblcr {
    fn name(&self) -> &'static str {
        "lblcr"
    }

    fn schedule(&mut self, svc: &ServiceState, pkt: &Packet) -> Option<DestId> {
        let key = key_of(svc.family, pkt);
        let now = svc.now_ms;
        let exp = self.gc.expiration_ms;
        if let Some(en) = self.cache.get_mut(&key) {
            en.lastuse = now;
            let d = set_min(&en.set, svc);
            if en.set.len() > 1
                && now > en.lastmod.saturating_add(exp)
                && let Some(m) = set_max(&en.set, svc)
                && let Some(i) = en.set.iter().position(|&x| x == m)
            {
                en.set.remove(i);
                en.lastmod = now;
            }
            if let Some(d) = d
                && !is_overloaded(svc.d(d), svc)
            {
                return Some(d);
            }
            let d = weighted_least(svc, |d| svc.overhead(d))?;
            if !en.set.contains(&d) {
                en.set.insert(0, d);
                en.lastmod = now;
            }
            return Some(d);
        }
        let d = weighted_least(svc, |d| svc.overhead(d))?;
        self.cache.insert(
            key,
            LblcrEntry {
                set: vec![d],
                lastmod: now,
                lastuse: now,
            },
        );
        Some(d)
    }

    fn picked(&mut self, svc: &ServiceState, pkt: &Packet, dest: DestId) {
        let now = svc.now_ms;
        let en = self
            .cache
            .entry(key_of(svc.family, pkt))
            .or_insert(LblcrEntry {
                set: Vec::new(),
                lastmod: now,
                lastuse: now,
            });
        en.lastuse = now;
        if !en.set.contains(&dest) {
            en.set.insert(0, dest);
            en.lastmod = now;
        }
    }

    fn timer_interval_ms(&self) -> Option<u64> {
        Some(CHECK_EXPIRE_INTERVAL_MS)
    }

    fn tick(&mut self, svc: &ServiceState) {
        let drop = self.gc.run(
            svc.family,
            svc.now_ms,
            self.cache.iter().map(|(k, e)| (*k, e.lastuse)),
        );
        for k in drop {
            self.cache.remove(&k);
        }
    }
}
