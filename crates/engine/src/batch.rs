//! Batched generation under one optional [`TokenConstraint`] per request: the live
//! sequences decode together, one forward step for all, and each request's [`Generation`] is
//! the one it gets alone ([`crate::generate`], [`crate::generate_on`]) with the same
//! constraint. Sampling, masking and stopping are per sequence; the forward pass is batch
//! invariant (`docs/engine.md`, "Batching").

use crate::decode::{Seq, decode_batch};
use crate::generate::{
    GenerateOptions, Generation, TokenConstraint, check_memory, check_prompt, lookup, make_ctx,
};
use crate::model::{EngineError, KvCache, Model};
use crate::prefix_cache::{PrefixCache, Reuse};
use crate::slots::{CpuSlots, Slots};

/// Refuses a batch whose constraints do not pair up with its requests, or with a bad prompt.
fn check_batch(
    model: &Model,
    requests: &[(Vec<u32>, GenerateOptions)],
    constraints: usize,
) -> Result<(), EngineError> {
    if constraints != requests.len() {
        return Err(EngineError::BadInput(format!(
            "{constraints} constraints for {} requests (one each, `None` for none)",
            requests.len()
        )));
    }
    requests
        .iter()
        .try_for_each(|(prompt, opts)| check_prompt(model, prompt, opts))
}

/// [`crate::generate_batch_on`] with request `i` under `constraints[i]` (one per request,
/// `None` for none): request `i` decodes in slot `i`, emptied first, and its result is
/// [`crate::generate_on`]'s for that request and constraint alone.
pub fn generate_batch_constrained_on<S: Slots>(
    model: &Model,
    slots: &mut S,
    requests: &[(Vec<u32>, GenerateOptions)],
    constraints: &mut [Option<&mut dyn TokenConstraint>],
) -> Result<Vec<Generation>, S::Error> {
    if requests.len() > slots.slots() {
        return Err(EngineError::BadInput(format!(
            "{} requests for {} sequence slots",
            requests.len(),
            slots.slots()
        ))
        .into());
    }
    check_batch(model, requests, constraints.len())?;
    let fresh: Vec<&[u32]> = requests.iter().map(|(p, _)| p.as_slice()).collect();
    let opts: Vec<&GenerateOptions> = requests.iter().map(|(_, o)| o).collect();
    for i in 0..requests.len() {
        slots.reset(i);
    }
    let seqs = decode_batch(model, slots, &fresh, &opts, constraints)?;
    Ok(seqs.into_iter().map(Seq::finish).collect())
}

/// [`crate::generate_with_cache`] for several requests at once on the CPU: each slot starts
/// from the longest prefix of its prompt that `prefix` holds, the live sequences decode
/// together, and each prompt with its generated tokens is stored back. Every lookup happens
/// before any store, so requests of one batch do not reuse each other. Each result is
/// [`crate::generate`]'s for that request and `constraints[i]` alone; the [`Reuse`] says
/// how many of its prompt positions were not computed. Threads and kernel come from the
/// first request's options.
pub fn generate_batch_with_cache(
    model: &Model,
    requests: &[(Vec<u32>, GenerateOptions)],
    constraints: &mut [Option<&mut dyn TokenConstraint>],
    prefix: &PrefixCache,
) -> Result<Vec<(Generation, Reuse)>, EngineError> {
    check_batch(model, requests, constraints.len())?;
    let Some(first) = requests.first() else {
        return Ok(Vec::new());
    };
    check_memory(model, requests.iter().map(|(p, o)| (p.as_slice(), o)))?;
    let ctx = make_ctx(&first.1)?;
    let (caches, reuses): (Vec<KvCache>, Vec<Reuse>) = requests
        .iter()
        .map(|(prompt, opts)| {
            if opts.max_tokens == 0 {
                (KvCache::new(model), Reuse::default())
            } else {
                lookup(model, prompt, Some(prefix))
            }
        })
        .unzip();
    let fresh: Vec<&[u32]> = requests
        .iter()
        .zip(&reuses)
        .map(|((p, _), r)| &p[r.reused..])
        .collect();
    let opts: Vec<&GenerateOptions> = requests.iter().map(|(_, o)| o).collect();
    let mut slots = CpuSlots::with_caches(model, ctx, caches);
    let seqs = decode_batch(model, &mut slots, &fresh, &opts, constraints)?;
    for (i, ((prompt, opts), seq)) in requests.iter().zip(&seqs).enumerate() {
        if opts.max_tokens == 0 {
            continue;
        }
        if let Some(cache) = slots.take(i) {
            // The cache holds the prompt and every generated token but the last.
            let fed = cache.len().saturating_sub(prompt.len());
            let mut tokens = prompt.clone();
            tokens.extend(seq.tokens.iter().take(fed));
            prefix.store(tokens, cache);
        }
    }
    Ok(seqs.into_iter().map(Seq::finish).zip(reuses).collect())
}
