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

    /// The least bytes of device memory one decode step reads, each sequence appending one
    /// token: every weight matrix and vector once (a head tied to the embedding counted once,
    /// as the head: it reads every row), one embedding row per sequence, and each sequence's
    /// cached keys and values (binary16) over the positions each layer attends (`lens`: each
    /// sequence's length after the step; a sliding-window layer at most its window). Weights
    /// read again by further tiles of a wide batch, and activations, come on top: this is the
    /// useful traffic, what a bandwidth figure is measured against. From shapes, so a
    /// [`ModelSpec::shapes_only`] spec gives the same.
    pub fn decode_step_bytes(&self, lens: &[usize]) -> u64 {
        let mat = |t: &Tensor<'_>| (crate::host::row_bytes(t.dtype, t.cols) * t.rows) as u64;
        let vec = |v: &[f32]| (v.len() * 4) as u64;
        let pair =
            |p: &Option<(Vec<f32>, Vec<f32>)>| p.as_ref().map_or(0, |(a, b)| vec(a) + vec(b));
        let kv_row = (2 * self.kv_dim() * 2) as u64;
        let mut bytes = mat(&self.output) + vec(&self.output_norm);
        bytes += lens.len() as u64 * crate::host::row_bytes(self.embd.dtype, self.embd.cols) as u64;
        for l in &self.layers {
            bytes += [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down]
                .into_iter()
                .map(mat)
                .sum::<u64>();
            bytes += vec(&l.attn_norm) + vec(&l.ffn_norm) + pair(&l.qk_norm) + pair(&l.post_norms);
            bytes += l.bias.iter().flatten().map(|b| vec(b)).sum::<u64>();
            bytes += lens
                .iter()
                .map(|&n| kv_row * l.window.map_or(n, |w| n.min(w)) as u64)
                .sum::<u64>();
        }
        bytes
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

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_mat(rows: usize, cols: usize) -> Tensor<'static> {
        Tensor {
            dtype: 0,
            rows,
            cols,
            data: &[],
        }
    }

    /// 64 wide, 4 query heads and 2 key/value heads of 16, FFN 128, vocabulary 100, F32
    /// weights; the second layer has a window of 4.
    fn tiny() -> ModelSpec<'static> {
        let layer = |window| LayerSpec {
            attn_norm: vec![1.0; 64],
            wq: f32_mat(64, 64),
            wk: f32_mat(32, 64),
            wv: f32_mat(32, 64),
            wo: f32_mat(64, 64),
            ffn_norm: vec![1.0; 64],
            gate: f32_mat(128, 64),
            up: f32_mat(128, 64),
            down: f32_mat(64, 128),
            bias: [None, None, None],
            qk_norm: None,
            post_norms: None,
            window,
            rope_swa: false,
        };
        ModelSpec {
            n_embd: 64,
            n_ff: 128,
            n_head: 4,
            n_head_kv: 2,
            head_dim: 16,
            vocab: 100,
            rms_eps: 1e-5,
            rope_neox: false,
            gelu: false,
            embd_scale: None,
            softcap: None,
            embd: f32_mat(100, 64),
            output_norm: vec![1.0; 64],
            output: f32_mat(100, 64),
            layers: vec![layer(None), layer(Some(4))],
            rope_freqs: vec![1.0; 8],
            rope_freqs_swa: vec![1.0; 8],
        }
    }

    #[test]
    fn a_decode_step_reads_the_weights_once_and_each_sequences_attended_cache() {
        let s = tiny();
        // Head 100 x 64 x 4 and its norm; per layer the seven matrices (147,456 bytes) and
        // two norms (512); an embedding row (256) per sequence; keys and values of 32
        // binary16 values (128 bytes) a position: 3 + 10 positions on the first layer, 3 + 4
        // (the window) on the second.
        let weights = 25_600 + 256 + 2 * (147_456 + 512);
        assert_eq!(
            s.decode_step_bytes(&[3, 10]),
            weights + 2 * 256 + 128 * (13 + 7)
        );
        assert_eq!(s.decode_step_bytes(&[]), weights);
        // Per-head norms and biases are read too.
        let mut g = tiny();
        g.layers[0].qk_norm = Some((vec![1.0; 16], vec![1.0; 16]));
        g.layers[1].bias = [Some(vec![0.0; 64]), None, None];
        assert_eq!(g.decode_step_bytes(&[]), weights + 128 + 256);
        // Quantized weights count their blocks: Q8_0, 34 bytes per 32 values.
        let mut q = tiny();
        q.output.dtype = 8;
        assert_eq!(q.decode_step_bytes(&[]), weights - 25_600 + 100 * 2 * 34);
    }
}
