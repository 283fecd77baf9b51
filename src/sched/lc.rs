//! Stateless connection-count schedulers and `twos`: `lc`, `wlc`, `sed`,
//! `nq`, `fo`, `ovf` (`ip_vs_<name>.c`) and `twos`
//! (`ip_vs_twos.c`).

use super::SchedulerModel;
use super::service::{DestId, DestState, Packet, ServiceState};

/// `wlc`-style selection: the first usable destination, replaced by any
/// later non-overloaded one whose `load * least.weight` is strictly smaller
/// (cross-multiplied in `i64`). Weight-0 destinations after the first pick
/// are not skipped explicitly; they can never win while loads are >= 0.
#[inline]
pub(crate) fn weighted_least(
    svc: &ServiceState,
    load: impl Fn(&DestState) -> i32,
) -> Option<DestId> {
    let list = &svc.list;
    let start = list.iter().position(|&id| svc.d(id).usable())?;
    let mut least = list[start];
    let mut loh = load(svc.d(least));
    for &id in &list[start + 1..] {
        let d = svc.d(id);
        if d.overloaded {
            continue;
        }
        let doh = load(d);
        if i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(svc.d(least).weight) {
            least = id;
            loh = doh;
        }
    }
    Some(least)
}

macro_rules! unit_scheduler {
    ($(#[$m:meta])* $name:ident, $kernel_name:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name;

        impl $name {
            /// The scheduler (it keeps no per-service state).
            pub fn new() -> Self {
                Self
            }
        }

        impl SchedulerModel for $name {
            fn name(&self) -> &'static str {
                $kernel_name
            }
            #[inline]
            fn schedule(&mut self, svc: &ServiceState, _pkt: &Packet) -> Option<DestId> {
                self.pick(svc)
            }
        }
    };
}

unit_scheduler!(
    /// Least connection: the first usable destination with the smallest
    /// `overhead` (compared as C `unsigned int`).
    Lc,
    "lc"
);
unit_scheduler!(
    /// Weighted least connection: minimises `overhead / weight`.
    Wlc,
    "wlc"
);
unit_scheduler!(
    /// Shortest expected delay: minimises `(activeconns + 1) / weight`.
    Sed,
    "sed"
);
unit_scheduler!(
    /// Never queue: the first idle usable destination, else as `sed`.
    Nq,
    "nq"
);
unit_scheduler!(
    /// Weighted fail-over: the first non-overloaded destination with the
    /// highest weight.
    Fo,
    "fo"
);
unit_scheduler!(
    /// Weighted overflow: the first highest-weight usable destination whose
    /// `activeconns` does not exceed its weight.
    Ovf,
    "ovf"
);

impl Lc {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        let mut least: Option<(DestId, u32)> = None;
        for &id in &svc.list {
            let d = svc.d(id);
            if !d.usable() {
                continue;
            }
            let doh = svc.overhead(d) as u32;
            if least.is_none_or(|(_, loh)| doh < loh) {
                least = Some((id, doh));
            }
        }
        least.map(|(id, _)| id)
    }
}

impl Wlc {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        weighted_least(svc, |d| svc.overhead(d))
    }
}

impl Sed {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        weighted_least(svc, |d| d.active.wrapping_add(1))
    }
}

impl Nq {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        let mut least: Option<(DestId, i32, i32)> = None; // (id, loh, weight)
        for &id in &svc.list {
            let d = svc.d(id);
            if !d.usable() {
                continue;
            }
            let doh = d.active.wrapping_add(1);
            if d.active == 0 {
                return Some(id);
            }
            let better = match least {
                None => true,
                Some((_, loh, lw)) => {
                    i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(lw)
                }
            };
            if better {
                least = Some((id, doh, d.weight));
            }
        }
        least.map(|(id, _, _)| id)
    }
}

impl Fo {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        let mut hw = 0;
        let mut h = None;
        for &id in &svc.list {
            let d = svc.d(id);
            if !d.overloaded && d.weight > hw {
                h = Some(id);
                hw = d.weight;
            }
        }
        h
    }
}

impl Ovf {
    /// The pick, without state.
    #[inline]
    pub fn pick(&self, svc: &ServiceState) -> Option<DestId> {
        let mut h: Option<(DestId, i32)> = None;
        for &id in &svc.list {
            let d = svc.d(id);
            let w = d.weight;
            if d.overloaded || d.active > w || w == 0 {
                continue;
            }
            if h.is_none_or(|(_, hw)| w > hw) {
                h = Some((id, w));
            }
        }
        h.map(|(id, _)| id)
    }
}

/// Small deterministic random source for `twos` (SplitMix64). The kernel
/// uses `get_random_u32_below()`; the model injects this seeded generator
/// so that runs are reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u32
    }

    /// Uniform in `[0, ceil)` by the same multiply-and-reject method as the
    /// kernel's `get_random_u32_below()`; `ceil == 0` returns 0.
    pub fn below(&mut self, ceil: u32) -> u32 {
        let mut mult = u64::from(ceil) * u64::from(self.next_u32());
        if (mult as u32) < ceil {
            let bound = ceil.wrapping_neg() % ceil;
            while (mult as u32) < bound {
                mult = u64::from(ceil) * u64::from(self.next_u32());
            }
        }
        (mult >> 32) as u32
    }
}

/// Weighted random "power of two choices" with an injected, seeded RNG.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Twos {
    rng: SimRng,
}

impl Twos {
    /// `twos` drawing from a [`SimRng`] seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SimRng::new(seed),
        }
    }

    /// `twos` drawing from `rng`.
    pub fn with_rng(rng: SimRng) -> Self {
        Self { rng }
    }
}

impl SchedulerModel for Twos {
    fn name(&self) -> &'static str {
        "twos"
    }

    fn schedule(&mut self, svc: &ServiceState, _pkt: &Packet) -> Option<DestId> {
        let mut total: i32 = 0;
        let mut choice1 = None;
        for &id in &svc.list {
            let d = svc.d(id);
            if d.usable() {
                total = total.wrapping_add(d.weight);
                choice1 = Some(id);
            }
        }
        let mut choice1 = choice1?;
        total = total.wrapping_add(1);
        let mut r1 = self.rng.below(total as u32) as i32;
        let mut r2 = self.rng.below(total as u32) as i32;
        let (mut w1, mut w2, mut o1, mut o2) = (-1i32, -1i32, 0i32, 0i32);
        let mut choice2 = None;
        for &id in &svc.list {
            let d = svc.d(id);
            if !d.usable() {
                continue;
            }
            r1 = r1.wrapping_sub(d.weight);
            r2 = r2.wrapping_sub(d.weight);
            if r1 <= 0 && w1 == -1 {
                choice1 = id;
                w1 = d.weight;
                o1 = svc.overhead(d);
            }
            if r2 <= 0 && w2 == -1 {
                choice2 = Some(id);
                w2 = d.weight;
                o2 = svc.overhead(d);
            }
            if w1 != -1 && w2 != -1 {
                break;
            }
        }
        if let Some(c2) = choice2
            && w2.wrapping_mul(o1) > w1.wrapping_mul(o2)
        {
            choice1 = c2;
        }
        Some(choice1)
    }
}
