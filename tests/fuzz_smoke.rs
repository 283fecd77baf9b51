//! The fuzz targets (`tests/fuzz/targets.rs`) on stable, in every `cargo
//! test`: each target runs over its seeds and a fixed number of
//! deterministic mutations of them (bit flips, byte changes, cuts,
//! insertions, splices). Not coverage-guided: that is `tests/fuzz/run`
//! (nightly, cargo-fuzz), whose figures are in RELIABILITY.md. A panic or
//! a failed round trip here prints the input that caused it.
//!
//! With `LVS_FUZZ_SEED_DIR` set, the seeds are also written there, one
//! directory per target, as libFuzzer's starting corpora
//! (`tests/fuzz/run --ci` does this, so its instrumented build need not
//! link a seeding program).
#![cfg(feature = "serde")]

#[path = "fuzz/targets.rs"]
mod targets;

use std::path::Path;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 1, 0x7f, 0x80, 0xff, b'"', b':', b'\n'][rng.below(8)];
            }
            2 => v.truncate(at),
            3 => v.insert(at, rng.next() as u8),
            4 if !v.is_empty() => {
                let n = rng.below(8).min(v.len() - at.min(v.len()));
                v.drain(at.min(v.len())..at.min(v.len()) + n);
            }
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => {
                // Repeat a slice (attribute runs and lines repeat).
                let end = (at + rng.below(16)).min(v.len());
                let piece = v[at.min(end)..end].to_vec();
                v.splice(at..at, piece);
            }
        }
    }
    v
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = targets::seeds(root);
    if let Some(dir) = std::env::var_os("LVS_FUZZ_SEED_DIR") {
        for (target, name, bytes) in &seeds {
            let dir = Path::new(&dir).join(target);
            std::fs::create_dir_all(&dir).expect("create corpus directory");
            std::fs::write(dir.join(name), bytes).expect("write seed");
        }
    }
    for (name, target) in targets::TARGETS {
        let mine: Vec<&Vec<u8>> = seeds
            .iter()
            .filter(|(t, _, _)| *t == name)
            .map(|(_, _, b)| b)
            .collect();
        assert!(!mine.is_empty(), "no seeds for {name}");
        let runs = if name == "config" { 4_000 } else { 40_000 };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for seed in &mine {
            target(seed);
        }
        for _ in 0..runs {
            let a = mine[rng.below(mine.len())];
            let b = mine[rng.below(mine.len())];
            let input = mutate(&mut rng, a, b);
            let r = std::panic::catch_unwind(|| target(&input));
            assert!(r.is_ok(), "{name} failed on input {input:02x?}");
        }
    }
}
