//! What the forward pass needs to know about a model: its widths, the per-architecture
//! switches and every tensor's bytes. Plain data, so this crate does not depend on the
//! engine (which will one day depend on it); the engine's `Model::tensors()` fills it.

/// A weight matrix: ggml type id, shape and raw row-major bytes.
#[derive(Debug, Clone, Copy)]
pub struct Tensor<'a> {
    /// ggml type id (0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 8 Q8_0, 12..14 K-quants).
    pub dtype: u32,
    /// Rows (outputs).
    pub rows: usize,
    /// Values per row.
    pub cols: usize,
    /// The bytes.
    pub data: &'a [u8],
}

/// One block's tensors and switches.
#[derive(Debug, Clone)]
pub struct LayerSpec<'a> {
    /// Attention input norm.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub wq: Tensor<'a>,
    /// Key projection.
    pub wk: Tensor<'a>,
    /// Value projection.
    pub wv: Tensor<'a>,
    /// Attention output projection.
    pub wo: Tensor<'a>,
    /// FFN input norm.
    pub ffn_norm: Vec<f32>,
    /// FFN gate projection.
    pub gate: Tensor<'a>,
    /// FFN up projection.
    pub up: Tensor<'a>,
    /// FFN down projection.
    pub down: Tensor<'a>,
    /// Q, K, V biases (Qwen 2).
    pub bias: [Option<Vec<f32>>; 3],
    /// Per-head Q and K norms (Qwen 3, Gemma 3).
    pub qk_norm: Option<(Vec<f32>, Vec<f32>)>,
    /// Post-attention and post-FFN norms (Gemma 3).
    pub post_norms: Option<(Vec<f32>, Vec<f32>)>,
    /// Sliding window of this layer: a query at `p` sees `p - w < j <= p`.
    pub window: Option<usize>,
    /// Whether this layer uses the sliding-window RoPE frequencies.
    pub rope_swa: bool,
}

/// A whole model.
#[derive(Debug, Clone)]
pub struct ModelSpec<'a> {
    /// Hidden width.
    pub n_embd: usize,
    /// FFN width.
    pub n_ff: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Head width.
    pub head_dim: usize,
    /// Vocabulary (output rows).
    pub vocab: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE on the halves (NeoX) rather than adjacent pairs.
    pub rope_neox: bool,
    /// GELU-tanh gating (Gemma 3) rather than SiLU.
    pub gelu: bool,
    /// Embedding scale (Gemma 3).
    pub embd_scale: Option<f32>,
    /// Final logit soft-capping.
    pub softcap: Option<f32>,
    /// Token embeddings.
    pub embd: Tensor<'a>,
    /// Final norm.
    pub output_norm: Vec<f32>,
    /// Output head.
    pub output: Tensor<'a>,
    /// The blocks.
    pub layers: Vec<LayerSpec<'a>>,
    /// RoPE frequency per pair (global layers).
    pub rope_freqs: Vec<f32>,
    /// RoPE frequency per pair (sliding-window layers).
    pub rope_freqs_swa: Vec<f32>,
}

impl ModelSpec<'_> {
    /// Query width.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Key/value width.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The spec with every tensor's bytes dropped (shapes, switches and vectors kept).
    pub fn shapes_only(self) -> ModelSpec<'static> {
        let t = |t: Tensor<'_>| Tensor {
            dtype: t.dtype,
            rows: t.rows,
            cols: t.cols,
            data: &[],
        };
        ModelSpec {
            n_embd: self.n_embd,
            n_ff: self.n_ff,
            n_head: self.n_head,
            n_head_kv: self.n_head_kv,
            head_dim: self.head_dim,
            vocab: self.vocab,
            rms_eps: self.rms_eps,
            rope_neox: self.rope_neox,
            gelu: self.gelu,
            embd_scale: self.embd_scale,
            softcap: self.softcap,
            embd: t(self.embd),
            output_norm: self.output_norm,
            output: t(self.output),
            layers: self
                .layers
                .into_iter()
                .map(|l| LayerSpec {
                    attn_norm: l.attn_norm,
                    wq: t(l.wq),
                    wk: t(l.wk),
                    wv: t(l.wv),
                    wo: t(l.wo),
                    ffn_norm: l.ffn_norm,
                    gate: t(l.gate),
                    up: t(l.up),
                    down: t(l.down),
                    bias: l.bias,
                    qk_norm: l.qk_norm,
                    post_norms: l.post_norms,
                    window: l.window,
                    rope_swa: l.rope_swa,
                })
                .collect(),
            rope_freqs: self.rope_freqs,
            rope_freqs_swa: self.rope_freqs_swa,
        }
    }
}
