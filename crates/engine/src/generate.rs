//! Token generation: chunked prefill, decoding, sampling, stopping, and a logits hash.

use crate::decode::{Seq, decode_slot};
pub use crate::decode::{generate_batch_on, generate_on};
use crate::kernels::{Ctx, Kernel};
use crate::model::forward::{SeqInput, forward};
use crate::model::{EngineError, KvCache, Model};
use crate::prefix_cache::{PrefixCache, Reuse};
use crate::slots::CpuSlots;

/// How to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Temperature in thousandths; 0 is greedy.
    pub temperature_milli: u32,
    /// Sampling seed.
    pub seed: u64,
    /// Request identifier mixed into the sampling RNG.
    pub prompt_id: [u8; 32],
    /// Worker threads (results do not depend on it).
    pub threads: usize,
    /// Prompt tokens per prefill step; `None` is the whole prompt (results do not depend on it).
    pub prefill_chunk: Option<usize>,
    /// Kernel implementation (results do not depend on it).
    pub kernel: Kernel,
    /// Extra tokens that end generation (EOS always does).
    pub stop_tokens: Vec<u32>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 64,
            temperature_milli: 0,
            seed: 0,
            prompt_id: [0; 32],
            threads: 1,
            prefill_chunk: None,
            kernel: Kernel::Auto,
            stop_tokens: Vec::new(),
        }
    }
}

/// Restricts which tokens may come next (grammars, JSON schemas...). `Send`, because the
/// sequences of a batch are masked and sampled on several threads.
pub trait TokenConstraint: Send {
    /// Sets disallowed logits to `f32::NEG_INFINITY`.
    fn mask(&mut self, logits: &mut [f32]);
    /// Records the chosen token.
    fn accept(&mut self, token: u32);
    /// Whether the constrained output is complete.
    fn is_finished(&self) -> bool;
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// EOS or a stop token was generated (it is the last of `tokens`).
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The constraint reported completion.
    Constraint,
    /// The context window is full.
    ContextFull,
    /// Every token was masked out.
    NoCandidate,
}

/// The result of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Generated token ids.
    pub tokens: Vec<u32>,
    /// SHA-256 over the little-endian f32 logits (before any constraint mask) of the last
    /// prompt position and of every decode step, in order.
    pub logits_sha256: [u8; 32],
    /// Why it ended.
    pub stop_reason: StopReason,
}

pub(crate) fn check_prompt(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
) -> Result<(), EngineError> {
    if prompt.is_empty() {
        return Err(EngineError::BadInput("empty prompt".into()));
    }
    if opts.prefill_chunk == Some(0) {
        return Err(EngineError::BadInput(
            "prefill chunk must be at least 1".into(),
        ));
    }
    if prompt.len() > model.config().context_length {
        return Err(EngineError::BadInput(format!(
            "prompt of {} tokens exceeds the context of {}",
            prompt.len(),
            model.config().context_length
        )));
    }
    Ok(())
}

/// Positions a request may fill, and tokens per prefill step.
fn extent(model: &Model, prompt: &[u32], opts: &GenerateOptions) -> (usize, usize) {
    let positions = prompt
        .len()
        .saturating_add(opts.max_tokens as usize)
        .min(model.config().context_length);
    let step = opts.prefill_chunk.unwrap_or(prompt.len()).min(prompt.len());
    (positions, step)
}

/// Refuses requests whose KV caches and scratch would not fit in memory (checked prompts).
pub(crate) fn check_memory<'a>(
    model: &Model,
    requests: impl ExactSizeIterator<Item = (&'a [u32], &'a GenerateOptions)>,
) -> Result<(), EngineError> {
    let sequences = requests.len();
    let (mut positions, mut step, mut threads) = (0, sequences, 1);
    for (prompt, opts) in requests {
        threads = threads.max(opts.threads);
        let (p, s) = extent(model, prompt, opts);
        positions = positions.max(p);
        step = step.max(s);
    }
    model.check_memory(sequences, positions, step, threads)
}

pub(crate) fn prefill(
    model: &Model,
    ctx: &Ctx,
    cache: &mut KvCache,
    prompt: &[u32],
    chunk: Option<usize>,
) -> Result<Vec<f32>, EngineError> {
    let step = chunk.unwrap_or(prompt.len()).max(1);
    let mut logits = Vec::new();
    for c in prompt.chunks(step) {
        logits = forward(model, ctx, &mut [SeqInput { cache, tokens: c }])?
            .pop()
            .unwrap_or_default();
    }
    Ok(logits)
}

pub(crate) fn make_ctx(opts: &GenerateOptions) -> Result<Ctx, EngineError> {
    Ctx::new(opts.threads, opts.kernel).map_err(EngineError::from)
}

/// Generates up to `opts.max_tokens` tokens after `prompt`.
pub fn generate(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn TokenConstraint>,
) -> Result<Generation, EngineError> {
    generate_from(model, prompt, opts, constraint, None).map(|(g, _)| g)
}

/// [`generate`] continuing from the longest prefix of `prompt` that `prefix` holds, which
/// then keeps the prompt and the generated tokens' cache for the next request. The
/// generation is bit-identical to [`generate`]'s (`crate::prefix_cache`); the [`Reuse`]
/// says how many prompt positions were not computed.
pub fn generate_with_cache(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn TokenConstraint>,
    prefix: &PrefixCache,
) -> Result<(Generation, Reuse), EngineError> {
    generate_from(model, prompt, opts, constraint, Some(prefix))
}

/// The prompt's cache after prefill, and its last position's logits: the longest prefix
/// `prefix` holds is reused, the rest computed.
pub(crate) fn prefill_from(
    model: &Model,
    ctx: &Ctx,
    prompt: &[u32],
    chunk: Option<usize>,
    prefix: Option<&PrefixCache>,
) -> Result<(KvCache, Vec<f32>, Reuse), EngineError> {
    let (mut cache, reuse) = lookup(model, prompt, prefix);
    let logits = prefill(model, ctx, &mut cache, &prompt[reuse.reused..], chunk)?;
    Ok((cache, logits, reuse))
}

/// The longest prefix of `prompt` that `prefix` holds, or an empty cache.
pub(crate) fn lookup(
    model: &Model,
    prompt: &[u32],
    prefix: Option<&PrefixCache>,
) -> (KvCache, Reuse) {
    match prefix {
        Some(p) => p.lookup(model, prompt),
        None => (
            KvCache::new(model),
            Reuse {
                reused: 0,
                computed: prompt.len(),
            },
        ),
    }
}

fn generate_from(
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn TokenConstraint>,
    prefix: Option<&PrefixCache>,
) -> Result<(Generation, Reuse), EngineError> {
    check_prompt(model, prompt, opts)?;
    check_memory(model, std::iter::once((prompt, opts)))?;
    let ctx = make_ctx(opts)?;
    if opts.max_tokens == 0 {
        return Ok((Seq::stopped().finish(), Reuse::default()));
    }
    let (cache, reuse) = lookup(model, prompt, prefix);
    let mut slots = CpuSlots::with_caches(model, ctx, vec![cache]);
    let seq = decode_slot(
        model,
        &mut slots,
        0,
        &prompt[reuse.reused..],
        opts,
        constraint,
    )?;
    if let (Some(p), Some(cache)) = (prefix, slots.take(0)) {
        // The cache holds the prompt and every generated token but the last.
        let fed = cache.len().saturating_sub(prompt.len());
        let mut tokens = prompt.to_vec();
        tokens.extend(seq.tokens.iter().take(fed));
        p.store(tokens, cache);
    }
    Ok((seq.finish(), reuse))
}

/// Generates for several prompts at once, decoding all live sequences in one batch per
/// step. Each result is bit-identical to `generate` of that prompt alone (no constraint).
/// Threads and kernel come from the first request's options.
pub fn generate_batch(
    model: &Model,
    requests: &[(Vec<u32>, GenerateOptions)],
) -> Result<Vec<Generation>, EngineError> {
    let Some(first) = requests.first() else {
        return Ok(Vec::new());
    };
    for (prompt, opts) in requests {
        check_prompt(model, prompt, opts)?;
    }
    check_memory(model, requests.iter().map(|(p, o)| (p.as_slice(), o)))?;
    let ctx = make_ctx(&first.1)?;
    let mut slots = CpuSlots::new(model, ctx, requests.len());
    generate_batch_on(model, &mut slots, requests)
}
