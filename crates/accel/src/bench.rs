//! Throughput of the CUDA forward pass, measured as the engine's `bench_at` measures the CPU
//! (fixed tokens): prompt processing of `n_prompt` tokens, one stream's decode, and the
//! aggregate decode of `batch` streams stepping together; and that aggregate on any
//! [`Slots`], so the CPU's is measured the same way in the same run; and both through the
//! engine's sampling loop ([`loop_decode`]), the host's hashing and sampling counted.

use std::time::Instant;

use aikernel_cuda::forward::{Device, ModelSpec};
use aikernel_engine::{
    EngineError, GenerateOptions, Model, Slots, TokenConstraint, generate_batch_constrained_on,
};

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
    let capacity = slots.capacity();
    check_sizes(model, slots, capacity, depth, n_prompt, n_gen, batch)?;
    let tokens = Tokens(model.config().vocab_size as u64);
    fill(slots, &tokens, 0, depth)?;
    let t0 = Instant::now();
    slots.step(&[(0, &tokens.at(depth, n_prompt))])?;
    let pp = t0.elapsed().as_secs_f64();
    let tg = decode(slots, &tokens, depth, 1, n_gen)?;
    let agg = if batch > 1 {
        decode(slots, &tokens, depth, batch, n_gen)?
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

/// Aggregate decode tokens/s of `batch` streams stepping together on any [`Slots`] (the
/// engine's `CpuSlots` included, so the CPU's figure at a batch size comes from the same
/// tokens and loop as the GPU's): each slot filled to `depth`, then `n_gen` steps (fixed tokens) of
/// all of them. `capacity` is the positions a slot holds.
pub fn aggregate_decode<S>(
    model: &Model,
    slots: &mut S,
    capacity: usize,
    depth: usize,
    n_gen: usize,
    batch: usize,
) -> Result<f64, S::Error>
where
    S: Slots,
{
    check_sizes(model, slots, capacity, depth, 1, n_gen, batch)?;
    let tokens = Tokens(model.config().vocab_size as u64);
    let secs = decode(slots, &tokens, depth, batch.max(1), n_gen)?;
    Ok((batch.max(1) * n_gen) as f64 / secs)
}

/// The useful bytes per second of a decode measurement that gave `tokens_per_s` (all streams
/// together) over `n_gen` steps of `batch` streams from `depth`, as [`bench_device`],
/// [`aggregate_decode`] and the engine's `bench_at` step (each stream's length after step
/// `i` is `depth + 2 + i`): [`ModelSpec::decode_step_bytes`] summed over the steps, read in
/// the measured time. The least traffic those steps need (weights once a step, the caches
/// attended), so a GPU's figure is comparable with its memory bandwidth.
///
/// [`ModelSpec::decode_step_bytes`]: aikernel_cuda::forward::ModelSpec::decode_step_bytes
pub fn decode_read_bytes_per_s(
    spec: &ModelSpec<'_>,
    (depth, n_gen, batch): (usize, usize, usize),
    tokens_per_s: f64,
) -> f64 {
    let batch = batch.max(1);
    if n_gen == 0 || tokens_per_s <= 0.0 {
        return 0.0;
    }
    let bytes: u64 = (0..n_gen)
        .map(|i| spec.decode_step_bytes(&vec![depth + 2 + i; batch]))
        .sum();
    let seconds = (batch * n_gen) as f64 / tokens_per_s;
    bytes as f64 / seconds
}

/// Prompt tokens of each request [`loop_decode`] generates from.
pub const LOOP_PROMPT: usize = 8;

/// Decode tokens/s of `batch` requests generated together through the engine's sampling loop
/// on `slots` (`generate_batch_constrained_on`): each step's logits hashed (SHA-256), masked
/// and sampled greedily on up to `threads` threads, as a node serving `batch` requests at
/// once does, so the host's share of each step counts. Each request is [`LOOP_PROMPT`] fixed
/// tokens, then `n_gen` generated ones (its end-of-sequence token masked, so that none stops
/// early): `LOOP_PROMPT + n_gen` positions in each of `batch` slots. The prefill step is
/// timed with them.
pub fn loop_decode<S>(
    model: &Model,
    slots: &mut S,
    capacity: usize,
    n_gen: usize,
    batch: usize,
    threads: usize,
) -> Result<LoopBench, S::Error>
where
    S: Slots,
{
    let positions = LOOP_PROMPT + n_gen;
    if n_gen == 0
        || positions > model.config().context_length
        || positions > capacity
        || batch.max(1) > slots.slots()
    {
        return Err(EngineError::BadInput(format!(
            "the sampling loop's bench needs {} slots of {positions} positions and n_gen > 0",
            batch.max(1)
        ))
        .into());
    }
    let tokens = Tokens(model.config().vocab_size as u64);
    let requests: Vec<(Vec<u32>, GenerateOptions)> = (0..batch.max(1))
        .map(|i| {
            let opts = GenerateOptions {
                max_tokens: n_gen as u32,
                prompt_id: [i as u8; 32],
                threads,
                ..GenerateOptions::default()
            };
            (tokens.at(i, LOOP_PROMPT), opts)
        })
        .collect();
    let end = model.tokenizer().eos_token_id();
    let mut unending: Vec<Unending> = requests.iter().map(|_| Unending(end)).collect();
    let mut constraints: Vec<Option<&mut dyn TokenConstraint>> = unending
        .iter_mut()
        .map(|c| Some(c as &mut dyn TokenConstraint))
        .collect();
    let t = Instant::now();
    let gens = generate_batch_constrained_on(model, slots, &requests, &mut constraints)?;
    let seconds = t.elapsed().as_secs_f64();
    Ok(LoopBench {
        tokens: gens.iter().map(|g| g.tokens.len()).sum(),
        seconds,
    })
}

/// What [`loop_decode`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoopBench {
    /// Tokens generated, all requests together.
    pub tokens: usize,
    /// Seconds the generation took, prefill included.
    pub seconds: f64,
}

impl LoopBench {
    /// Generated tokens per second.
    pub fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds
    }
}

/// Masks the end-of-sequence token, so a bench's generation takes all its tokens.
struct Unending(Option<u32>);

impl TokenConstraint for Unending {
    fn mask(&mut self, logits: &mut [f32]) {
        if let Some(l) = self.0.and_then(|e| logits.get_mut(e as usize)) {
            *l = f32::NEG_INFINITY;
        }
    }
    fn accept(&mut self, _token: u32) {}
    fn is_finished(&self) -> bool {
        false
    }
}

fn check_sizes<S: Slots>(
    model: &Model,
    slots: &S,
    capacity: usize,
    depth: usize,
    n_prompt: usize,
    n_gen: usize,
    batch: usize,
) -> Result<(), S::Error> {
    let (need_slots, positions) = bench_shape(depth, n_prompt, n_gen, batch);
    if n_prompt == 0
        || n_gen == 0
        || positions > model.config().context_length
        || positions > capacity
        || need_slots > slots.slots()
    {
        return Err(EngineError::BadInput(format!(
            "bench sizes must be non-zero and fit the context and the session ({need_slots} \
             slots of {positions} positions)"
        ))
        .into());
    }
    Ok(())
}

/// The bench's fixed tokens: position `i` holds `(i · 7919 + 17) mod vocab`.
struct Tokens(u64);

impl Tokens {
    fn at(&self, from: usize, n: usize) -> Vec<u32> {
        (from as u64..(from + n) as u64)
            .map(|i| ((i * 7919 + 17) % self.0) as u32)
            .collect()
    }
}

/// Empties `slot` and fills it to `depth`, untimed.
fn fill<S: Slots>(
    slots: &mut S,
    tokens: &Tokens,
    slot: usize,
    depth: usize,
) -> Result<(), S::Error> {
    slots.reset(slot);
    for from in (0..depth).step_by(DEPTH_CHUNK) {
        slots.step(&[(slot, &tokens.at(from, DEPTH_CHUNK.min(depth - from)))])?;
    }
    Ok(())
}

/// Seconds for `n_gen` decode steps of `batch` streams together, each filled to `depth` and
/// fed the token at `depth` (untimed) before. Each step feeds every stream the next fixed
/// token rather than one picked from its logits: the figure is the forward pass's (logits
/// computed and read back), with no host work between steps. Picking tokens (an argmax of the
/// whole vocabulary per stream, one thread) would cap a GPU's aggregate at a few tens of
/// thousands of tokens/s by itself; [`loop_decode`] measures the host's share.
fn decode<S: Slots>(
    slots: &mut S,
    tokens: &Tokens,
    depth: usize,
    batch: usize,
    n_gen: usize,
) -> Result<f64, S::Error> {
    let first = tokens.at(depth, 1);
    for s in 0..batch {
        fill(slots, tokens, s, depth)?;
        slots.step(&[(s, &first)])?;
    }
    let t = Instant::now();
    for i in 0..n_gen {
        let next = tokens.at(depth + 1 + i, 1);
        let step: Vec<(usize, &[u32])> = (0..batch).map(|s| (s, next.as_slice())).collect();
        let logits = std::hint::black_box(slots.step(&step)?);
        // Handed back as the sampling loop hands them back once read.
        slots.recycle(logits);
    }
    Ok(t.elapsed().as_secs_f64())
}
