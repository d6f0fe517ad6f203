//! The sampling loop over any [`Slots`]: prefill, then hash, mask, sample and stop each
//! step's logits, feeding the token back. The CPU entry points (`generate`, `generate_batch`,
//! `generate_with_cache`) and other backends ([`generate_on`], [`generate_batch_on`]) share it,
//! so equal logits give equal [`Generation`]s.

use sha2::{Digest, Sha256};

use crate::generate::{GenerateOptions, Generation, StopReason, TokenConstraint, check_prompt};
use crate::model::{EngineError, Model};
use crate::sample::{sample, uniform};
use crate::slots::Slots;

/// One sequence's decoding state.
pub(crate) struct Seq {
    hasher: Sha256,
    pub(crate) tokens: Vec<u32>,
    stop: Option<StopReason>,
}

impl Seq {
    pub(crate) fn new() -> Seq {
        Seq {
            hasher: Sha256::new(),
            tokens: Vec::new(),
            stop: None,
        }
    }

    /// A sequence asked for no tokens: nothing hashed, stopped by length.
    pub(crate) fn stopped() -> Seq {
        let mut seq = Seq::new();
        seq.stop = Some(StopReason::Length);
        seq
    }

    /// Hashes `logits`, masks, samples and records the token; sets `stop` when done.
    /// `positions` is what the sequence's cache holds (the sampling RNG's position).
    pub(crate) fn step(
        &mut self,
        model: &Model,
        opts: &GenerateOptions,
        logits: &mut [f32],
        positions: usize,
        constraint: &mut Option<&mut dyn TokenConstraint>,
    ) {
        hash_logits(&mut self.hasher, logits);
        if let Some(c) = constraint.as_deref_mut() {
            c.mask(logits);
        }
        let u = uniform(opts.seed, &opts.prompt_id, positions as u64);
        let Some(tok) = sample(logits, opts.temperature_milli, u) else {
            self.stop = Some(StopReason::NoCandidate);
            return;
        };
        if let Some(c) = constraint.as_deref_mut() {
            c.accept(tok);
        }
        self.tokens.push(tok);
        if Some(tok) == model.tokenizer().eos_token_id() || opts.stop_tokens.contains(&tok) {
            self.stop = Some(StopReason::Stop);
        } else if constraint
            .as_deref()
            .is_some_and(TokenConstraint::is_finished)
        {
            self.stop = Some(StopReason::Constraint);
        } else if self.tokens.len() >= opts.max_tokens as usize {
            self.stop = Some(StopReason::Length);
        } else if positions >= model.config().context_length {
            self.stop = Some(StopReason::ContextFull);
        }
    }

    /// The last sampled token, to feed back (a live sequence has one).
    fn last(&self) -> [u32; 1] {
        [self.tokens.last().copied().unwrap_or_default()]
    }

    pub(crate) fn finish(self) -> Generation {
        Generation {
            tokens: self.tokens,
            logits_sha256: self.hasher.finalize().into(),
            stop_reason: self.stop.unwrap_or(StopReason::Length),
        }
    }
}

/// Feeds the little-endian bytes of `logits` to `hasher`: how every step's logits enter a
/// [`Generation`]'s `logits_sha256` (and scoring's). 1024 values go to an `update`: the same
/// bytes, so the same hash, as one `update` per value, which takes about 1.3x longer
/// (`examples/sampling.rs`).
pub fn hash_logits(hasher: &mut Sha256, logits: &[f32]) {
    const VALUES: usize = 1024;
    let mut bytes = [0u8; 4 * VALUES];
    for chunk in logits.chunks(VALUES) {
        for (b, v) in bytes.chunks_exact_mut(4).zip(chunk) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        hasher.update(&bytes[..4 * chunk.len()]);
    }
}

/// Runs `tokens` into `slot` in steps of `chunk` (all at once by default); the last logits.
fn prefill_slot<S: Slots>(
    slots: &mut S,
    slot: usize,
    tokens: &[u32],
    chunk: Option<usize>,
) -> Result<Vec<f32>, S::Error> {
    let step = chunk.unwrap_or(tokens.len()).max(1);
    let mut logits = Vec::new();
    for c in tokens.chunks(step) {
        let last = slots.step(&[(slot, c)])?.pop().unwrap_or_default();
        slots.recycle(vec![std::mem::replace(&mut logits, last)]);
    }
    Ok(logits)
}

/// Prefills `fresh` after what `slot` holds, then samples and feeds back tokens until a stop.
pub(crate) fn decode_slot<S: Slots>(
    model: &Model,
    slots: &mut S,
    slot: usize,
    fresh: &[u32],
    opts: &GenerateOptions,
    mut constraint: Option<&mut dyn TokenConstraint>,
) -> Result<Seq, S::Error> {
    let mut seq = Seq::new();
    let mut logits = prefill_slot(slots, slot, fresh, opts.prefill_chunk)?;
    loop {
        seq.step(model, opts, &mut logits, slots.len(slot), &mut constraint);
        slots.recycle(vec![logits]);
        if seq.stop.is_some() {
            return Ok(seq);
        }
        logits = slots
            .step(&[(slot, &seq.last())])?
            .pop()
            .unwrap_or_default();
    }
}

/// [`generate`] on other slots (slot 0, emptied first): the same sampling, stops and logits
/// hash, so slots whose logits equal the engine's give the same [`Generation`]. `opts.threads`
/// and `opts.kernel` are the slots' business; memory is not checked here.
pub fn generate_on<S: Slots>(
    model: &Model,
    slots: &mut S,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn TokenConstraint>,
) -> Result<Generation, S::Error> {
    check_prompt(model, prompt, opts)?;
    if slots.slots() == 0 {
        return Err(EngineError::BadInput("no sequence slots".into()).into());
    }
    if opts.max_tokens == 0 {
        return Ok(Seq::stopped().finish());
    }
    slots.reset(0);
    Ok(decode_slot(model, slots, 0, prompt, opts, constraint)?.finish())
}

/// [`generate_batch`] on other slots (request `i` in slot `i`, emptied first): each result
/// the same [`Generation`] as the engine's where the slots' logits equal the engine's.
pub fn generate_batch_on<S: Slots>(
    model: &Model,
    slots: &mut S,
    requests: &[(Vec<u32>, GenerateOptions)],
) -> Result<Vec<Generation>, S::Error> {
    let mut none: Vec<Option<&mut dyn TokenConstraint>> = requests.iter().map(|_| None).collect();
    crate::batch::generate_batch_constrained_on(model, slots, requests, &mut none)
}

/// One live sequence's share of a batch step: its logits to hash, mask and sample.
struct SeqStep<'a, 'c> {
    seq: &'a mut Seq,
    logits: Vec<f32>,
    opts: &'a GenerateOptions,
    positions: usize,
    constraint: &'a mut Option<&'c mut dyn TokenConstraint>,
}

/// Sequences a thread takes at least: below that, a thread's start costs more than the
/// hashing and sampling it would take over (about 0.1 to 0.3 ms a sequence at a 49152-token
/// vocabulary, against tens of microseconds to start a thread).
const SEQS_PER_THREAD: usize = 2;

/// Runs each sequence's [`Seq::step`], spread over up to `threads` threads. Each step touches
/// only its own sequence, logits and constraint, so the results do not depend on the spread;
/// a GPU's batch step leaves the host this work for every sequence (SHA-256 of the logits,
/// masking, sampling), which one thread would take longer to do than the GPU's step.
fn step_all(model: &Model, work: &mut [SeqStep<'_, '_>], threads: usize) {
    let per = work.len().div_ceil(threads.max(1)).max(SEQS_PER_THREAD);
    let run = |chunk: &mut [SeqStep<'_, '_>]| {
        for w in chunk {
            w.seq
                .step(model, w.opts, &mut w.logits, w.positions, w.constraint);
        }
    };
    if work.len() <= per {
        run(work);
        return;
    }
    std::thread::scope(|scope| {
        let mut chunks = work.chunks_mut(per);
        let first = chunks.next();
        for chunk in chunks {
            scope.spawn(|| run(chunk));
        }
        if let Some(chunk) = first {
            run(chunk);
        }
    });
}

/// Prefills each `fresh[i]` after what slot `i` holds, then decodes every live sequence in
/// one step until all stop; request `i` samples with `opts[i]` under `constraints[i]`.
/// Slots past the requests are left alone. The caller checked the lengths agree.
pub(crate) fn decode_batch<S: Slots>(
    model: &Model,
    slots: &mut S,
    fresh: &[&[u32]],
    opts: &[&GenerateOptions],
    constraints: &mut [Option<&mut dyn TokenConstraint>],
) -> Result<Vec<Seq>, S::Error> {
    let mut seqs = Vec::with_capacity(fresh.len());
    let mut pending = Vec::with_capacity(fresh.len());
    for (i, (tokens, o)) in fresh.iter().zip(opts).enumerate() {
        if o.max_tokens == 0 {
            seqs.push(Seq::stopped());
            pending.push(Vec::new());
        } else {
            seqs.push(Seq::new());
            pending.push(prefill_slot(slots, i, tokens, o.prefill_chunk)?);
        }
    }
    let threads = opts.iter().map(|o| o.threads).max().unwrap_or(1);
    loop {
        let positions: Vec<usize> = (0..seqs.len()).map(|i| slots.len(i)).collect();
        let mut work: Vec<SeqStep<'_, '_>> = seqs
            .iter_mut()
            .zip(std::mem::take(&mut pending))
            .zip(constraints.iter_mut())
            .enumerate()
            .filter(|(_, ((s, _), _))| s.stop.is_none())
            .map(|(i, ((seq, logits), constraint))| SeqStep {
                seq,
                logits,
                opts: opts[i],
                positions: positions[i],
                constraint,
            })
            .collect();
        step_all(model, &mut work, threads);
        // The live sequences' rows, all read: handed back for the slots to refill.
        let spent: Vec<Vec<f32>> = work.into_iter().map(|w| w.logits).collect();
        slots.recycle(spent);
        let live: Vec<usize> = (0..seqs.len())
            .filter(|&i| seqs[i].stop.is_none())
            .collect();
        if live.is_empty() {
            return Ok(seqs);
        }
        let lasts: Vec<[u32; 1]> = live.iter().map(|&i| seqs[i].last()).collect();
        let inputs: Vec<(usize, &[u32])> = live
            .iter()
            .zip(&lasts)
            .map(|(&i, last)| (i, last.as_slice()))
            .collect();
        let mut out = slots.step(&inputs)?.into_iter();
        pending = (0..seqs.len())
            .map(|i| {
                if live.contains(&i) {
                    out.next().unwrap_or_default()
                } else {
                    Vec::new()
                }
            })
            .collect();
    }
}
