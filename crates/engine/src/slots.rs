//! Sequence slots: where the sampling loop's forward steps run. [`Slots`] is a batch of
//! sequences, each with its own key/value cache; one step appends new tokens to some of them
//! and returns each one's last logits. [`CpuSlots`] runs the engine's forward pass; the CUDA
//! forward pass implements the same trait (crate `aikernel-accel`), so one sampling loop
//! (`generate::generate_on`) drives both and decides tokens, stops and hashes the same way.

use crate::kernels::Ctx;
use crate::model::forward::{SeqInput, forward_into};
use crate::model::{EngineError, KvCache, Model};

/// A batch of sequence slots that compute forward steps.
pub trait Slots {
    /// What a step can fail with (engine errors such as a bad prompt included).
    type Error: From<EngineError>;

    /// How many slots there are (sequences that can decode together).
    fn slots(&self) -> usize;

    /// Positions stored in `slot`'s cache (0 for a slot that does not exist).
    fn len(&self, slot: usize) -> usize;

    /// Empties `slot`'s cache.
    fn reset(&mut self, slot: usize);

    /// Runs every token of every `(slot, tokens)` through the model, appending to the slots'
    /// caches, and returns the logits of each sequence's last token, in the order given. A
    /// sequence's logits must not depend on the others in the step, nor on how its tokens
    /// were split into steps.
    fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, Self::Error>;

    /// Takes back logits rows a step returned, once read, so that a later step can refill
    /// them rather than allocate (slots that copy each step's logits from a device: fresh
    /// memory costs more to map than to fill). The default drops them.
    fn recycle(&mut self, rows: Vec<Vec<f32>>) {
        drop(rows);
    }
}

/// The engine's own forward pass on the CPU kernels of `ctx`, one [`KvCache`] per slot.
#[derive(Debug)]
pub struct CpuSlots<'m> {
    model: &'m Model,
    ctx: Ctx,
    caches: Vec<KvCache>,
    /// Logits rows handed back ([`Slots::recycle`]), at most one a slot: the next step
    /// writes its logits into them.
    spare: Vec<Vec<f32>>,
}

impl<'m> CpuSlots<'m> {
    /// `slots` empty caches for `model`, computed with `ctx`.
    pub fn new(model: &'m Model, ctx: Ctx, slots: usize) -> CpuSlots<'m> {
        CpuSlots::with_caches(
            model,
            ctx,
            (0..slots).map(|_| KvCache::new(model)).collect(),
        )
    }

    /// One slot per cache, each continuing from what its cache holds (a reused prefix).
    pub fn with_caches(model: &'m Model, ctx: Ctx, caches: Vec<KvCache>) -> CpuSlots<'m> {
        CpuSlots {
            model,
            ctx,
            caches,
            spare: Vec::new(),
        }
    }

    /// Takes `slot`'s cache out, leaving an empty one (none for a slot that does not exist).
    pub fn take(&mut self, slot: usize) -> Option<KvCache> {
        let model = self.model;
        self.caches
            .get_mut(slot)
            .map(|c| std::mem::replace(c, KvCache::new(model)))
    }
}

impl Slots for CpuSlots<'_> {
    type Error = EngineError;

    fn slots(&self) -> usize {
        self.caches.len()
    }

    fn len(&self, slot: usize) -> usize {
        self.caches.get(slot).map_or(0, KvCache::len)
    }

    fn reset(&mut self, slot: usize) {
        if let Some(c) = self.caches.get_mut(slot) {
            c.truncate(0);
        }
    }

    fn step(&mut self, seqs: &[(usize, &[u32])]) -> Result<Vec<Vec<f32>>, EngineError> {
        for (i, &(slot, _)) in seqs.iter().enumerate() {
            if slot >= self.caches.len() || seqs[..i].iter().any(|&(s, _)| s == slot) {
                return Err(EngineError::BadInput(format!(
                    "slot {slot} is out of range ({} slots) or twice in one step",
                    self.caches.len()
                )));
            }
        }
        // The caches move out for the step (no copy) and back whatever it returns.
        let mut taken: Vec<KvCache> = seqs
            .iter()
            .map(|&(s, _)| std::mem::take(&mut self.caches[s]))
            .collect();
        let mut inputs: Vec<SeqInput<'_>> = taken
            .iter_mut()
            .zip(seqs)
            .map(|(cache, &(_, tokens))| SeqInput { cache, tokens })
            .collect();
        let out = forward_into(self.model, &self.ctx, &mut inputs, &mut self.spare);
        drop(inputs);
        for (&(s, _), cache) in seqs.iter().zip(taken) {
            self.caches[s] = cache;
        }
        out
    }

    /// Keeps up to one row a slot for the next step to write its logits into (a fresh row of
    /// Gemma 3's logits is a megabyte of memory mapped page by page on first write: at batch
    /// 32, 33.5 MB a step).
    fn recycle(&mut self, rows: Vec<Vec<f32>>) {
        let room = self.caches.len().saturating_sub(self.spare.len());
        self.spare
            .extend(rows.into_iter().filter(|r| r.capacity() > 0).take(room));
    }
}
