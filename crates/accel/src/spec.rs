//! The engine's [`Model`] as the CUDA forward pass's [`ModelSpec`]: the same tensors (by
//! reference, no copy), widths and per-architecture switches, from `Model::tensors()`.

use aikernel_cuda::forward::{LayerSpec, ModelSpec, Tensor};
use aikernel_engine::Model;
use aikernel_engine::kernels::WeightView;

fn tensor<'a>(w: &WeightView<'a>) -> Tensor<'a> {
    Tensor {
        dtype: w.dtype.id(),
        rows: w.rows,
        cols: w.cols,
        data: w.data,
    }
}

/// `m` as the CUDA forward pass sees it.
pub fn model_spec(m: &Model) -> ModelSpec<'_> {
    let c = m.config();
    let t = m.tensors();
    let layers = t
        .layers
        .into_iter()
        .enumerate()
        .map(|(li, l)| {
            let swa = c.swa_layers.get(li).copied().unwrap_or(false);
            LayerSpec {
                attn_norm: l.attn_norm,
                wq: tensor(&l.wq),
                wk: tensor(&l.wk),
                wv: tensor(&l.wv),
                wo: tensor(&l.wo),
                ffn_norm: l.ffn_norm,
                gate: tensor(&l.gate),
                up: tensor(&l.up),
                down: tensor(&l.down),
                bias: l.bias,
                qk_norm: l.qk_norm,
                post_norms: l.post_norms,
                window: c.sliding_window.filter(|_| swa),
                rope_swa: swa,
            }
        })
        .collect();
    ModelSpec {
        n_embd: c.n_embd,
        n_ff: c.n_ff,
        n_head: c.n_head,
        n_head_kv: c.n_head_kv,
        head_dim: c.head_dim,
        vocab: c.vocab_size,
        rms_eps: c.rms_eps,
        rope_neox: t.rope_neox,
        gelu: t.gelu,
        embd_scale: t.embd_scale,
        softcap: c.final_logit_softcap,
        embd: tensor(&t.embd),
        output_norm: t.output_norm,
        output: tensor(&t.output),
        layers,
        rope_freqs: t.rope_freqs.to_vec(),
        rope_freqs_swa: t.rope_freqs_swa.to_vec(),
    }
}
