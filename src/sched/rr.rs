//! `rr` and `wrr` (`ip_vs_rr.c`, `ip_vs_wrr.c`).

use super::SchedulerModel;
use super::service::{DestId, Packet, ServiceState};

/// Round robin. The cursor is a list position: the list head (`None`) or a
/// destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rr {
    cursor: Option<DestId>,
}

impl Rr {
    /// `init_service`: the cursor starts at the list head.
    pub fn new() -> Self {
        Self { cursor: None }
    }

    /// The destination the cursor rests on (`None` = list head).
    pub fn cursor(&self) -> Option<DestId> {
        self.cursor
    }
}

impl SchedulerModel for Rr {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn del_dest(&mut self, svc: &ServiceState, dest: DestId, former_position: usize) {
        // The cursor moves to the removed destination's predecessor, so the
        // next pick is its successor.
        if self.cursor == Some(dest) {
            self.cursor = former_position
                .checked_sub(1)
                .and_then(|p| svc.list.get(p).copied());
        }
    }

    fn picked(&mut self, svc: &ServiceState, _pkt: &Packet, dest: DestId) {
        if svc.position(dest).is_some() {
            self.cursor = Some(dest);
        }
    }

    #[inline]
    fn schedule(&mut self, svc: &ServiceState, _pkt: &Packet) -> Option<DestId> {
        let list = &svc.list;
        let start = self.cursor.and_then(|c| svc.position(c));
        let first = start.map_or(0, |p| p + 1);
        for &id in list.get(first..).unwrap_or(&[]) {
            if svc.d(id).usable() {
                self.cursor = Some(id);
                return Some(id);
            }
        }
        if let Some(s) = start {
            // Second pass: wrap and stop after checking the start itself.
            for &id in list.get(..=s).unwrap_or(&[]) {
                if svc.d(id).usable() {
                    self.cursor = Some(id);
                    return Some(id);
                }
            }
        }
        None
    }
}

/// Weighted round robin. State `{cl, cw, mw, di}` as in the kernel; `cl` is
/// a list position (`None` = head). Every add/del/upd resets `cl` to the
/// head, so positions are stable between changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Wrr {
    cl: Option<usize>,
    cw: i32,
    mw: i32,
    di: i32,
}

fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

fn gcd_weight(svc: &ServiceState) -> i32 {
    let mut g = 0;
    for (_, d) in svc.iter() {
        if d.weight > 0 {
            g = if g > 0 { gcd(d.weight, g) } else { d.weight };
        }
    }
    if g != 0 { g } else { 1 }
}

fn max_weight(svc: &ServiceState) -> i32 {
    svc.iter().map(|(_, d)| d.weight).fold(0, i32::max)
}

impl Wrr {
    /// `init_service`.
    pub fn new(svc: &ServiceState) -> Self {
        let di = gcd_weight(svc);
        let mw = max_weight(svc) - (di - 1);
        Self {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }

    /// Current weight `cw`.
    pub fn current_weight(&self) -> i32 {
        self.cw
    }

    /// `ip_vs_wrr_dest_changed()`: the add, del and upd hook.
    fn changed(&mut self, svc: &ServiceState) {
        self.cl = None;
        self.di = gcd_weight(svc);
        self.mw = max_weight(svc) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }
}

impl SchedulerModel for Wrr {
    fn name(&self) -> &'static str {
        "wrr"
    }

    fn add_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.changed(svc);
    }

    fn del_dest(&mut self, svc: &ServiceState, _dest: DestId, _former_position: usize) {
        self.changed(svc);
    }

    fn upd_dest(&mut self, svc: &ServiceState, _dest: DestId) {
        self.changed(svc);
    }

    fn picked(&mut self, svc: &ServiceState, _pkt: &Packet, dest: DestId) {
        if let Some(p) = svc.position(dest) {
            self.cl = Some(p);
        }
    }

    fn schedule(&mut self, svc: &ServiceState, _pkt: &Packet) -> Option<DestId> {
        if self.mw == 0 {
            return None;
        }
        let list = &svc.list;
        let last = self.cl;
        let mut pos = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        // Largest weight a non-overloaded destination has; computed only if
        // a full traversal fails, to skip passes that cannot succeed.
        let mut best: Option<i32> = None;
        loop {
            let first = pos.map_or(0, |p| p + 1);
            for (i, &id) in list.iter().enumerate().skip(first) {
                let d = svc.d(id);
                if !d.overloaded && d.weight >= self.cw {
                    self.cl = Some(i);
                    return Some(id);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            if pos.is_none() && stop.is_none() {
                // The kernel would now repeat failing full passes while
                // cw - k*di stays above both the best weight and di; jump
                // over them (same end state, bounded time for huge weights).
                let w = *best.get_or_insert_with(|| {
                    svc.iter()
                        .filter(|(_, d)| !d.overloaded)
                        .map(|(_, d)| d.weight)
                        .fold(0, i32::max)
                });
                let t = w.max(self.di);
                if self.cw > t {
                    let k = (self.cw - t - 1) / self.di;
                    if k > 0 {
                        self.cw -= k * self.di;
                        last_pass = false;
                    }
                }
            }
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                stop = last;
            }
            pos = None;
        }
    }
}
