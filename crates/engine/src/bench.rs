//! Throughput measurement: prompt processing (one batch of `n_prompt` tokens) and decoding
//! (`n_gen` single-token steps), llama-bench's pp/tg figures.

use std::time::Instant;

use crate::kernels::{Ctx, Kernel};
use crate::model::forward::{SeqInput, forward};
use crate::model::{EngineError, KvCache, Model};
use crate::sample::argmax;

/// Tokens per second for one configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// Threads used.
    pub threads: usize,
    /// Prompt tokens processed.
    pub n_prompt: usize,
    /// Tokens decoded.
    pub n_gen: usize,
    /// Prompt processing tokens/s.
    pub pp_tokens_per_s: f64,
    /// Decode tokens/s.
    pub tg_tokens_per_s: f64,
}

/// Runs prefill of `n_prompt` fixed tokens then `n_gen` greedy decode steps.
pub fn bench(
    model: &Model,
    n_prompt: usize,
    n_gen: usize,
    threads: usize,
    kernel: Kernel,
) -> Result<BenchResult, EngineError> {
    if n_prompt == 0 || n_prompt.saturating_add(n_gen) > model.config().context_length {
        return Err(EngineError::BadInput(
            "bench sizes must fit the context and be non-zero".into(),
        ));
    }
    model.check_memory(1, n_prompt + n_gen, n_prompt, threads)?;
    let ctx = Ctx::new(threads, kernel).map_err(EngineError::from)?;
    let vocab = model.config().vocab_size as u64;
    let prompt: Vec<u32> = (0..n_prompt as u64)
        .map(|i| ((i * 7919 + 17) % vocab) as u32)
        .collect();
    let mut cache = KvCache::new(model);
    let t0 = Instant::now();
    let mut logits = forward(
        model,
        &ctx,
        &mut [SeqInput {
            cache: &mut cache,
            tokens: &prompt,
        }],
    )?
    .pop()
    .unwrap_or_default();
    let pp = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for _ in 0..n_gen {
        let tok = [argmax(&logits).unwrap_or(0)];
        logits = forward(
            model,
            &ctx,
            &mut [SeqInput {
                cache: &mut cache,
                tokens: &tok,
            }],
        )?
        .pop()
        .unwrap_or_default();
    }
    let tg = t1.elapsed().as_secs_f64();
    Ok(BenchResult {
        threads: ctx.threads(),
        n_prompt,
        n_gen,
        pp_tokens_per_s: n_prompt as f64 / pp,
        tg_tokens_per_s: if n_gen == 0 { 0.0 } else { n_gen as f64 / tg },
    })
}
