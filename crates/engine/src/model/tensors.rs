//! Read access to a loaded model's tensors and the engine's own forward pass, for another
//! implementation of the same arithmetic (the CUDA backend, `aikernel-cuda`) to run the model
//! and compare its logits with the engine's bit for bit. Nothing here changes behaviour.

use super::forward::{SeqInput, forward};
use super::{Arch, EngineError, KvCache, Model, Weight};
use crate::kernels::{Ctx, Kernel, WeightView};

/// One transformer block's tensors: matrices as views of the mapping, norms and biases as
/// F32 values.
#[derive(Debug)]
pub struct LayerTensors<'a> {
    /// Attention input norm.
    pub attn_norm: Vec<f32>,
    /// Query, key, value and output projections.
    pub wq: WeightView<'a>,
    /// Key projection.
    pub wk: WeightView<'a>,
    /// Value projection.
    pub wv: WeightView<'a>,
    /// Attention output projection.
    pub wo: WeightView<'a>,
    /// FFN input norm.
    pub ffn_norm: Vec<f32>,
    /// FFN gate projection.
    pub gate: WeightView<'a>,
    /// FFN up projection.
    pub up: WeightView<'a>,
    /// FFN down projection.
    pub down: WeightView<'a>,
    /// Q, K and V biases, where the file has them (Qwen 2).
    pub bias: [Option<Vec<f32>>; 3],
    /// Per-head Q and K norms (Qwen 3, Gemma 3).
    pub qk_norm: Option<(Vec<f32>, Vec<f32>)>,
    /// Post-attention and post-FFN norms (Gemma 3).
    pub post_norms: Option<(Vec<f32>, Vec<f32>)>,
}

/// Every tensor the forward pass reads, and the RoPE frequencies it derives at load.
#[derive(Debug)]
pub struct ModelTensors<'a> {
    /// Token embeddings (one row per token).
    pub embd: WeightView<'a>,
    /// Final norm.
    pub output_norm: Vec<f32>,
    /// Output head (the embeddings when tied).
    pub output: WeightView<'a>,
    /// The blocks.
    pub layers: Vec<LayerTensors<'a>>,
    /// RoPE frequency of each rotated pair on global layers.
    pub rope_freqs: &'a [f32],
    /// The same on sliding-window layers (empty when none slides).
    pub rope_freqs_swa: &'a [f32],
    /// Whether RoPE rotates the halves `(i, i + head_dim/2)` rather than adjacent pairs.
    pub rope_neox: bool,
    /// Whether the FFN gates with GELU-tanh (Gemma 3) rather than SiLU.
    pub gelu: bool,
    /// The factor every embedding element is multiplied by (Gemma 3: `sqrtf(n_embd)`).
    pub embd_scale: Option<f32>,
}

impl Model {
    /// The tensors and RoPE frequencies the forward pass reads.
    pub fn tensors(&self) -> ModelTensors<'_> {
        let v = |w: Weight| self.vector(w);
        let layers = self
            .layers
            .iter()
            .map(|l| LayerTensors {
                attn_norm: v(l.attn_norm),
                wq: self.view(l.wq),
                wk: self.view(l.wk),
                wv: self.view(l.wv),
                wo: self.view(l.wo),
                ffn_norm: v(l.ffn_norm),
                gate: self.view(l.gate),
                up: self.view(l.up),
                down: self.view(l.down),
                bias: l.bias.map(|b| b.map(v)),
                qk_norm: l.qk_norm.map(|(q, k)| (v(q), v(k))),
                post_norms: l.gemma.as_ref().map(|g| (v(g.attn_post), v(g.ffn_post))),
            })
            .collect();
        ModelTensors {
            embd: self.view(self.embd),
            output_norm: v(self.output_norm),
            output: self.view(self.output),
            layers,
            rope_freqs: &self.rope_freqs,
            rope_freqs_swa: &self.rope_freqs_swa,
            rope_neox: self.config.arch.rope_neox(),
            gelu: self.config.arch == Arch::Gemma3,
            embd_scale: (self.config.arch == Arch::Gemma3)
                .then(|| libm::sqrtf(self.config.n_embd as f32)),
        }
    }
}

/// The engine's forward pass over a batch: each `(cache, tokens)` appends its tokens to its
/// cache; returns the logits of each sequence's last token (the path `generate` runs).
pub fn forward_logits(
    model: &Model,
    kernel: Kernel,
    threads: usize,
    seqs: &mut [(&mut KvCache, &[u32])],
) -> Result<Vec<Vec<f32>>, EngineError> {
    let ctx = Ctx::new(threads, kernel).map_err(EngineError::from)?;
    let mut inputs: Vec<SeqInput<'_>> = seqs
        .iter_mut()
        .map(|(cache, tokens)| SeqInput { cache, tokens })
        .collect();
    forward(model, &ctx, &mut inputs)
}
