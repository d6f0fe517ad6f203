//! The sampling loop's host work on its own, without a forward pass: what every backend's
//! batch step leaves the CPU for each sequence (SHA-256 of the logits, masking, sampling).
//! `cargo run --release -p aikernel-engine --example sampling -- [MODEL] [BATCH] [THREADS]
//! [N_GEN]` (MODEL defaults to `aikernel_engine::paths::model()`, whose vocabulary and stop
//! tokens it takes; BATCH 32, THREADS 2, N_GEN 32). Prints:
//! - one sequence's temperature sampling (`sample`, top-40 by selection) against the full
//!   sort it replaced, measured in the same run (the ratio);
//! - hashing one row of logits (`hash_logits`) against one SHA-256 `update` per value, which
//!   it replaced (the same hash, checked; the ratio);
//! - the loop's tokens/s at BATCH sequences (`generate_batch_on` over slots that hand back
//!   fixed logits at once), greedy and at temperature 0.7, on 1 and on THREADS threads: the
//!   most any backend's batch step can deliver through this loop.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use aikernel_engine::sample::{TOP_K, sample};
use aikernel_engine::{EngineError, GenerateOptions, Model, Slots, generate_batch_on, hash_logits};
use sha2::{Digest, Sha256};

/// Slots whose every step returns the same logits (a clone per sequence, as a backend's
/// read-back hands each sequence its own vector).
struct Canned {
    lens: Vec<usize>,
    logits: Vec<f32>,
}

impl Slots for Canned {
    type Error = EngineError;
    fn slots(&self) -> usize {
        self.lens.len()
    }
    fn len(&self, slot: usize) -> usize {
        self.lens.get(slot).copied().unwrap_or(0)
    }
    fn reset(&mut self, slot: usize) {
        self.lens[slot] = 0;
    }
    fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError> {
        Ok(seqs
            .iter()
            .map(|&(s, t)| {
                self.lens[s] += t.len();
                self.logits.clone()
            })
            .collect())
    }
}

/// The candidates as `sample` took them before: a full sort, then the first TOP_K.
fn full_sort(logits: &[f32], t: f32) -> Vec<(u32, f32)> {
    let mut cand: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .map(|(i, &l)| (i as u32, l / t))
        .collect();
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    cand.truncate(TOP_K);
    cand
}

/// The logits' hash as it was made before: one `update` per value.
fn hash_per_value(logits: &[f32]) -> [u8; 32] {
    let mut h = Sha256::new();
    for l in logits {
        h.update(l.to_le_bytes());
    }
    h.finalize().into()
}

fn per_call(reps: usize, mut f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for i in 0..reps {
        f(i);
    }
    t.elapsed().as_secs_f64() / reps as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .filter(|s| !s.is_empty())
        .map_or_else(aikernel_engine::paths::model, PathBuf::from);
    let num = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("number"));
    let (batch, threads, n_gen) = (num(1, 32), num(2, 2), num(3, 32));
    let m = Model::load(&model).expect("model");
    let vocab = m.config().vocab_size as usize;
    // Logits spread like a language model's: a few hundred distinct values, ties included.
    let logits: Vec<f32> = (0..vocab as u32)
        .map(|i| ((i.wrapping_mul(2_654_435_761) >> 20) % 4096) as f32 / 256.0 - 12.0)
        .collect();

    let reps = 200;
    let mut sink = 0u64;
    let old = per_call(reps, |_| sink += u64::from(full_sort(&logits, 0.7)[0].0));
    let new = per_call(reps, |i| {
        sink += u64::from(sample(&logits, 700, i as f64 / reps as f64).unwrap());
    });
    println!(
        "vocabulary {vocab}: temperature sampling {:.0} us a token (top-40 by selection), \
         the full sort alone {:.0} us: {:.1}x",
        new * 1e6,
        old * 1e6,
        old / new
    );

    let chunked = |logits: &[f32]| -> [u8; 32] {
        let mut h = Sha256::new();
        hash_logits(&mut h, logits);
        h.finalize().into()
    };
    assert_eq!(chunked(&logits), hash_per_value(&logits), "the same hash");
    let reps = 500;
    let old = per_call(reps, |_| sink += u64::from(hash_per_value(&logits)[0]));
    let new = per_call(reps, |_| sink += u64::from(chunked(&logits)[0]));
    println!(
        "hashing a row of {vocab} logits: {:.0} us (1024 values an update), one update per \
         value {:.0} us: {:.2}x",
        new * 1e6,
        old * 1e6,
        old / new
    );

    for temperature_milli in [0, 700] {
        let mut rates = Vec::new();
        for th in [1, threads] {
            let requests: Vec<(Vec<u32>, GenerateOptions)> = (0..batch)
                .map(|i| {
                    let opts = GenerateOptions {
                        max_tokens: n_gen as u32,
                        temperature_milli,
                        seed: i as u64,
                        prompt_id: [i as u8; 32],
                        threads: th,
                        // Sampling never stops early: every sequence takes n_gen tokens.
                        stop_tokens: Vec::new(),
                        ..GenerateOptions::default()
                    };
                    (vec![1, 2, 3], opts)
                })
                .collect();
            let mut slots = Canned {
                lens: vec![0; batch],
                logits: logits.clone(),
            };
            let t = Instant::now();
            let gens = generate_batch_on(&m, &mut slots, &requests).expect("generation");
            let secs = t.elapsed().as_secs_f64();
            let tokens: usize = gens.iter().map(|g| g.tokens.len()).sum();
            sink += gens[0].logits_sha256[0] as u64;
            rates.push((th, tokens as f64 / secs));
        }
        let line: Vec<String> = rates
            .iter()
            .map(|(th, r)| format!("{th} thread(s) {r:.0} tokens/s"))
            .collect();
        println!(
            "batch {batch}, temperature {:.1}: {} ({:.1}x)",
            f64::from(temperature_milli) / 1000.0,
            line.join(", "),
            rates[1].1 / rates[0].1
        );
    }
    std::hint::black_box(sink);
}
