//! Throughput of the CUDA forward pass, measured as the engine's `bench_at` measures the CPU
//! (the same fixed tokens, greedy decode): prompt processing of `n_prompt` tokens, one
//! stream's decode, and the aggregate decode of `batch` streams stepping together.

use std::time::Instant;

use aikernel_cuda::forward::Device;
use aikernel_engine::sample::argmax;
use aikernel_engine::{EngineError, Model, Slots};

use crate::error::AccelError;
use crate::slots::DeviceSlots;

/// Positions per untimed prefill step when filling a context to a depth (as the engine's).
const DEPTH_CHUNK: usize = 512;

/// What one configuration measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceBench {
    /// Positions already in each context before each measurement.
    pub depth: usize,
    /// Prompt tokens processed (one stream).
    pub n_prompt: usize,
    /// Tokens decoded per stream.
    pub n_gen: usize,
    /// Streams decoding together in the aggregate measurement.
    pub batch: usize,
    /// Prompt processing tokens/s (one stream).
    pub pp_tokens_per_s: f64,
    /// Decode tokens/s of one stream alone.
    pub tg_tokens_per_s: f64,
    /// Decode tokens/s of all `batch` streams together.
    pub aggregate_tokens_per_s: f64,
}

/// Slots and positions per slot [`bench_device`] needs.
pub fn bench_shape(depth: usize, n_prompt: usize, n_gen: usize, batch: usize) -> (usize, usize) {
    (
        batch.max(1),
        depth.saturating_add(n_prompt.max(n_gen)).saturating_add(1),
    )
}

/// Measures `slots` (at least [`bench_shape`]'s) on `model`.
pub fn bench_device<D: Device>(
    model: &Model,
    slots: &mut DeviceSlots<D>,
    depth: usize,
    n_prompt: usize,
    n_gen: usize,
    batch: usize,
) -> Result<DeviceBench, AccelError> {
    let (need_slots, positions) = bench_shape(depth, n_prompt, n_gen, batch);
    if n_prompt == 0
        || n_gen == 0
        || positions > model.config().context_length
        || positions > slots.capacity()
        || need_slots > slots.slots()
    {
        return Err(EngineError::BadInput(format!(
            "bench sizes must be non-zero and fit the context and the session ({need_slots} \
             slots of {positions} positions)"
        ))
        .into());
    }
    let vocab = model.config().vocab_size as u64;
    let tokens = |from: usize, n: usize| -> Vec<u32> {
        (from as u64..(from + n) as u64)
            .map(|i| ((i * 7919 + 17) % vocab) as u32)
            .collect()
    };
    let fill = |slots: &mut DeviceSlots<D>, slot: usize| -> Result<(), AccelError> {
        slots.reset(slot);
        for from in (0..depth).step_by(DEPTH_CHUNK) {
            slots.step(&[(slot, &tokens(from, DEPTH_CHUNK.min(depth - from)))])?;
        }
        Ok(())
    };
    fill(slots, 0)?;
    let t0 = Instant::now();
    slots.step(&[(0, &tokens(depth, n_prompt))])?;
    let pp = t0.elapsed().as_secs_f64();
    let tg = decode(slots, 1, n_gen, &fill, &tokens(depth, 1))?;
    let agg = if batch > 1 {
        decode(slots, batch, n_gen, &fill, &tokens(depth, 1))?
    } else {
        tg
    };
    Ok(DeviceBench {
        depth,
        n_prompt,
        n_gen,
        batch: batch.max(1),
        pp_tokens_per_s: n_prompt as f64 / pp,
        tg_tokens_per_s: n_gen as f64 / tg,
        aggregate_tokens_per_s: (batch.max(1) * n_gen) as f64 / agg,
    })
}

/// Empties a slot and fills it to the bench's depth.
type Fill<'a, D> = &'a dyn Fn(&mut DeviceSlots<D>, usize) -> Result<(), AccelError>;

/// Seconds for `n_gen` greedy decode steps of `batch` streams together, each filled to the
/// depth and fed `first` (untimed) before.
fn decode<D: Device>(
    slots: &mut DeviceSlots<D>,
    batch: usize,
    n_gen: usize,
    fill: Fill<'_, D>,
    first: &[u32],
) -> Result<f64, AccelError> {
    let mut logits = Vec::with_capacity(batch);
    for s in 0..batch {
        fill(slots, s)?;
        logits.extend(slots.step(&[(s, first)])?);
    }
    let t = Instant::now();
    for _ in 0..n_gen {
        let next: Vec<[u32; 1]> = logits.iter().map(|l| [argmax(l).unwrap_or(0)]).collect();
        let step: Vec<(usize, &[u32])> = next
            .iter()
            .enumerate()
            .map(|(s, t)| (s, t.as_slice()))
            .collect();
        logits = slots.step(&step)?;
    }
    Ok(t.elapsed().as_secs_f64())
}
