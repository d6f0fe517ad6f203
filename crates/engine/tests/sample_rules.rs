//! Sampling rules: greedy ties, top-k/top-p cut, RNG keying and range, masked logits, and
//! a token constraint driving generation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use aikernel_engine::sample::{TOP_K, argmax, sample, uniform};
use aikernel_engine::{GenerateOptions, Model, StopReason, TokenConstraint, generate};

#[test]
fn greedy_lowest_id_on_ties_and_skips_masked() {
    assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), Some(1));
    assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NAN, -5.0]), Some(2));
    assert_eq!(argmax(&[f32::NEG_INFINITY; 4]), None);
    assert_eq!(sample(&[0.0, 9.0, 9.0], 0, 0.99), Some(1));
}

#[test]
fn temperature_sampling_stays_in_top_k_and_top_p() {
    // 100 logits, the first 10 dominant: top-p keeps only a prefix of them.
    let logits: Vec<f32> = (0..100)
        .map(|i| {
            if i < 10 {
                20.0 - i as f32 * 0.1
            } else {
                -(i as f32)
            }
        })
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for pos in 0..400 {
        let u = uniform(7, &[3; 32], pos);
        assert!((0.0..1.0).contains(&u));
        let t = sample(&logits, 1000, u).unwrap();
        assert!(t < 10, "token {t} is outside the nucleus");
        seen.insert(t);
    }
    assert!(
        seen.len() > 3,
        "sampling should spread over the nucleus: {seen:?}"
    );
    // u = 0 picks the best candidate; u just below 1 the last one kept.
    assert_eq!(sample(&logits, 1000, 0.0), Some(0));
    let flat = vec![0.0f32; 1000];
    let last = sample(&flat, 1000, 0.999_999).unwrap();
    assert!(
        (last as usize) < TOP_K,
        "flat logits: only the {TOP_K} lowest ids are candidates"
    );
}

#[test]
fn rng_is_keyed_by_seed_prompt_and_position() {
    let a = uniform(1, &[0; 32], 5);
    assert_eq!(a, uniform(1, &[0; 32], 5));
    assert_ne!(a, uniform(2, &[0; 32], 5));
    assert_ne!(a, uniform(1, &[1; 32], 5));
    assert_ne!(a, uniform(1, &[0; 32], 6));
}

/// Allows only tokens of a fixed list, finishing after `n` tokens.
struct OnlyThese {
    allowed: Vec<u32>,
    taken: Vec<u32>,
    n: usize,
}

impl TokenConstraint for OnlyThese {
    fn mask(&mut self, logits: &mut [f32]) {
        for (i, l) in logits.iter_mut().enumerate() {
            if !self.allowed.contains(&(i as u32)) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
    fn accept(&mut self, token: u32) {
        self.taken.push(token);
    }
    fn is_finished(&self) -> bool {
        self.taken.len() >= self.n
    }
}

#[test]
fn constraint_masks_and_finishes() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m.tokenizer().encode("My favourite number is", true);
    let allowed: Vec<u32> = ["1", "2", "3"]
        .iter()
        .map(|t| m.tokenizer().token_id(t).unwrap())
        .collect();
    let mut c = OnlyThese {
        allowed: allowed.clone(),
        taken: Vec::new(),
        n: 3,
    };
    let opts = GenerateOptions {
        max_tokens: 10,
        temperature_milli: 900,
        seed: 5,
        ..GenerateOptions::default()
    };
    let g = generate(&m, &prompt, &opts, Some(&mut c)).unwrap();
    assert_eq!(g.stop_reason, StopReason::Constraint);
    assert_eq!(g.tokens, c.taken);
    assert_eq!(g.tokens.len(), 3);
    assert!(
        g.tokens.iter().all(|t| allowed.contains(t)),
        "{:?}",
        g.tokens
    );
    // Masking everything ends generation without a token.
    let mut none = OnlyThese {
        allowed: Vec::new(),
        taken: Vec::new(),
        n: 3,
    };
    let g = generate(&m, &prompt, &opts, Some(&mut none)).unwrap();
    assert_eq!(g.stop_reason, StopReason::NoCandidate);
    assert!(g.tokens.is_empty());
}
