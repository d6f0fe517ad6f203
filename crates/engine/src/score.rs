//! Scoring continuations: the log-probability the model gives each of several token
//! sequences after one prompt, for decision rules that compare whole answers instead of
//! decoding one token at a time (`docs/drivers.md`, prompt rule 2).
//!
//! The prompt is prefilled once; every continuation then runs on its own copy of the
//! prompt's key/value cache, one token per step, all live continuations in one batch (the
//! forward pass is batch-invariant, so a continuation's score does not depend on which
//! others are scored with it). The score of continuation `c` is
//! `lp(c[0] | prompt) + lp(c[1] | prompt, c[0]) + ...`, added in token order in f32, where
//! `lp(t | logits) = (x[t] - m) - logf(s)`, `m` the largest logit and
//! `s = expf(x[0] - m) + expf(x[1] - m) + ...` summed in index order in f32 (libm's
//! `expf` and `logf`; each operation rounded on its own).

use sha2::{Digest, Sha256};

use crate::decode::hash_logits;
use crate::generate::prefill_from;
use crate::kernels::exp::expf_slice;
use crate::kernels::{Ctx, Kernel};
use crate::model::forward::{SeqInput, forward};
use crate::model::{EngineError, KvCache, Model};
use crate::prefix_cache::{PrefixCache, Reuse};

/// How to run a scoring (none of it changes a result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreOptions {
    /// Worker threads.
    pub threads: usize,
    /// Prompt tokens per prefill step; `None` is the whole prompt.
    pub prefill_chunk: Option<usize>,
    /// Kernel implementation.
    pub kernel: Kernel,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            threads: 1,
            prefill_chunk: None,
            kernel: Kernel::Auto,
        }
    }
}

/// The scores of a set of continuations.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// Sum of the log-probabilities of each continuation's tokens, in the order given.
    pub log_probs: Vec<f32>,
    /// SHA-256 over the little-endian f32 logits computed: the prompt's last position,
    /// then step by step (step 1, 2, ...), within a step in continuation order.
    pub logits_sha256: [u8; 32],
}

/// Scores each of `continuations` after `prompt`.
pub fn score_continuations(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    opts: &ScoreOptions,
) -> Result<Scores, EngineError> {
    score_from(model, prompt, continuations, opts, None).map(|(s, _)| s)
}

/// [`score_continuations`] continuing from the longest prefix of `prompt` that `prefix`
/// holds, which then keeps the prompt's cache. The scores and their hash are bit-identical
/// to [`score_continuations`]'s (`crate::prefix_cache`).
pub fn score_continuations_with_cache(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    opts: &ScoreOptions,
    prefix: &PrefixCache,
) -> Result<(Scores, Reuse), EngineError> {
    score_from(model, prompt, continuations, opts, Some(prefix))
}

fn score_from(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    opts: &ScoreOptions,
    prefix: Option<&PrefixCache>,
) -> Result<(Scores, Reuse), EngineError> {
    check(model, prompt, continuations, opts)?;
    let ctx = Ctx::new(opts.threads, opts.kernel).map_err(EngineError::from)?;
    let mut hasher = Sha256::new();
    let (cache, first, reuse) = prefill_from(model, &ctx, prompt, opts.prefill_chunk, prefix)?;
    hash_logits(&mut hasher, &first);
    let mut log_probs: Vec<f32> = continuations
        .iter()
        .map(|c| log_prob(&ctx, &first, c[0]))
        .collect();
    let mut caches: Vec<KvCache> = vec![cache.clone(); continuations.len()];
    if let Some(p) = prefix {
        p.store(prompt.to_vec(), cache);
    }
    let longest = continuations.iter().map(Vec::len).max().unwrap_or(0);
    for step in 1..longest {
        let live: Vec<usize> = (0..continuations.len())
            .filter(|&i| continuations[i].len() > step)
            .collect();
        let inputs: Vec<[u32; 1]> = live.iter().map(|&i| [continuations[i][step - 1]]).collect();
        let mut seqs: Vec<SeqInput<'_>> = caches
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| continuations[*i].len() > step)
            .zip(&inputs)
            .map(|((_, cache), tokens)| SeqInput { cache, tokens })
            .collect();
        let logits = forward(model, &ctx, &mut seqs)?;
        for (&i, row) in live.iter().zip(&logits) {
            hash_logits(&mut hasher, row);
            log_probs[i] += log_prob(&ctx, row, continuations[i][step]);
        }
    }
    let scores = Scores {
        log_probs,
        logits_sha256: hasher.finalize().into(),
    };
    Ok((scores, reuse))
}

/// Refuses an empty prompt or continuation, a token outside the vocabulary, and a
/// continuation that would not fit in the context after the prompt.
fn check(
    model: &Model,
    prompt: &[u32],
    continuations: &[Vec<u32>],
    opts: &ScoreOptions,
) -> Result<(), EngineError> {
    let cfg = model.config();
    if prompt.is_empty() {
        return Err(EngineError::BadInput("empty prompt".into()));
    }
    if opts.prefill_chunk == Some(0) {
        return Err(EngineError::BadInput(
            "prefill chunk must be at least 1".into(),
        ));
    }
    if continuations.is_empty() {
        return Err(EngineError::BadInput("no continuation to score".into()));
    }
    for (i, c) in continuations.iter().enumerate() {
        if c.is_empty() {
            return Err(EngineError::BadInput(format!("continuation {i} is empty")));
        }
        if let Some(t) = c.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(EngineError::BadInput(format!(
                "continuation {i}: token id {t} outside vocabulary {}",
                cfg.vocab_size
            )));
        }
        if prompt.len() + c.len() > cfg.context_length {
            return Err(EngineError::BadInput(format!(
                "prompt of {} tokens and continuation {i} of {} exceed the context of {}",
                prompt.len(),
                c.len(),
                cfg.context_length
            )));
        }
    }
    Ok(())
}

/// `lp(token | logits)` by the rule in the module documentation.
fn log_prob(ctx: &Ctx, logits: &[f32], token: u32) -> f32 {
    let m = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut e: Vec<f32> = logits.iter().map(|&x| x - m).collect();
    expf_slice(ctx.simd(), &mut e);
    let mut s = 0f32;
    for v in e {
        s += v;
    }
    (logits[token as usize] - m) - libm::logf(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_prob_is_a_normalised_log_softmax() {
        let ctx = Ctx::new(1, Kernel::Scalar).unwrap();
        let logits = [1.0f32, 2.0, 3.0, 4.0];
        let total: f32 = (0..4).map(|t| libm::expf(log_prob(&ctx, &logits, t))).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!(log_prob(&ctx, &logits, 3) > log_prob(&ctx, &logits, 0));
        // Equal logits: each token gets log(1/n) exactly as the rule computes it.
        let flat = [0.5f32; 8];
        assert_eq!(
            log_prob(&ctx, &flat, 5).to_bits(),
            (-libm::logf(8.0)).to_bits()
        );
    }

    #[test]
    fn simd_and_scalar_exp_give_the_same_log_prob() {
        let logits: Vec<f32> = (0..1000)
            .map(|i| ((i * 37) % 101) as f32 * 0.173 - 8.0)
            .collect();
        let scalar = Ctx::new(1, Kernel::Scalar).unwrap();
        let auto = Ctx::new(1, Kernel::Auto).unwrap();
        for t in [0u32, 17, 999] {
            assert_eq!(
                log_prob(&scalar, &logits, t).to_bits(),
                log_prob(&auto, &logits, t).to_bits()
            );
        }
    }
}
