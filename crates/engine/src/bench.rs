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
    /// Positions already in the context before each measurement.
    pub depth: usize,
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
    bench_at(model, 0, n_prompt, n_gen, threads, kernel)
}

/// Positions per untimed prefill step when filling the context to a depth.
const DEPTH_CHUNK: usize = 512;

/// Like [`bench`], from a context already `depth` positions deep (filled untimed, as
/// llama-bench's `-d`): prefill of `n_prompt` tokens after them, and, separately, `n_gen`
/// decode steps after them.
pub fn bench_at(
    model: &Model,
    depth: usize,
    n_prompt: usize,
    n_gen: usize,
    threads: usize,
    kernel: Kernel,
) -> Result<BenchResult, EngineError> {
    let total = depth.saturating_add(n_prompt.max(n_gen)).saturating_add(1);
    if n_prompt == 0 || total > model.config().context_length {
        return Err(EngineError::BadInput(
            "bench sizes must fit the context and be non-zero".into(),
        ));
    }
    let step = n_prompt.max(DEPTH_CHUNK.min(depth));
    model.check_memory(1, total, step, threads)?;
    let ctx = Ctx::new(threads, kernel).map_err(EngineError::from)?;
    let vocab = model.config().vocab_size as u64;
    let tokens = |from: usize, n: usize| -> Vec<u32> {
        (from as u64..(from + n) as u64)
            .map(|i| ((i * 7919 + 17) % vocab) as u32)
            .collect()
    };
    let run = |cache: &mut KvCache, toks: &[u32]| -> Result<Vec<f32>, EngineError> {
        Ok(forward(
            model,
            &ctx,
            &mut [SeqInput {
                cache,
                tokens: toks,
            }],
        )?
        .pop()
        .unwrap_or_default())
    };
    let mut deep = KvCache::new(model);
    for from in (0..depth).step_by(DEPTH_CHUNK) {
        run(&mut deep, &tokens(from, DEPTH_CHUNK.min(depth - from)))?;
    }
    let mut cache = deep.clone();
    let prompt = tokens(depth, n_prompt);
    let t0 = Instant::now();
    run(&mut cache, &prompt)?;
    let pp = t0.elapsed().as_secs_f64();
    let mut cache = deep;
    let mut logits = run(&mut cache, &tokens(depth, 1))?;
    let t1 = Instant::now();
    for _ in 0..n_gen {
        let tok = [argmax(&logits).unwrap_or(0)];
        logits = run(&mut cache, &tok)?;
    }
    let tg = t1.elapsed().as_secs_f64();
    Ok(BenchResult {
        threads: ctx.threads(),
        depth,
        n_prompt,
        n_gen,
        pp_tokens_per_s: n_prompt as f64 / pp,
        tg_tokens_per_s: if n_gen == 0 { 0.0 } else { n_gen as f64 / tg },
    })
}
