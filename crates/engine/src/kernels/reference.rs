//! The scalar reference arithmetic, reachable from other crates so that another
//! implementation (the CUDA kernels of `aikernel-cuda`, compiled for the host in its tests)
//! can be compared with it bit for bit. Each function calls the engine's own scalar code path;
//! none changes behaviour.

use super::{Acts, WeightView};

/// Dot product of weight row `r` with token `t`'s activations: the scalar kernel's exact
/// sequence (`scalar::dot_row`, `kquant::dot_row`), which every SIMD kernel reproduces.
pub fn dot_row(w: &WeightView<'_>, a: &Acts<'_>, r: usize, t: usize) -> f32 {
    super::scalar::dot_row(w, a, r, t)
}

/// `expf` as the engine computes it (libm's algorithm).
pub fn expf(x: f32) -> f32 {
    let mut v = [x];
    super::exp::expf_slice(false, &mut v);
    v[0]
}

/// `tanhf` as the engine computes it (libm's algorithm).
pub fn tanhf(x: f32) -> f32 {
    super::tanh::tanhf(x)
}

/// RMSNorm of one row (`model::ops::rmsnorm`).
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    crate::model::ops::rmsnorm(x, w, eps, out);
}

/// `u[i] = u[i] · SiLU(g[i])`, the scalar path (`model::ops::silu_mul`).
pub fn silu_mul(g: &[f32], u: &mut [f32]) {
    crate::model::ops::silu_mul(false, g, u);
}

/// `u[i] = u[i] · GELU(g[i])`, tanh form, the scalar path (`model::ops::gelu_mul`).
pub fn gelu_mul(g: &[f32], u: &mut [f32]) {
    crate::model::ops::gelu_mul(false, g, u);
}

/// Logit soft-capping `c · tanhf(l / c)` (`model::ops::softcap`).
pub fn softcap(logits: &mut [f32], c: f32) {
    crate::model::ops::softcap(logits, c);
}

/// RoPE of every `head_dim` slice of `x` by the pairs `cs`: adjacent pairs or, with `neox`,
/// the halves (`model::ops::rope`).
pub fn rope(x: &mut [f32], head_dim: usize, cs: &[(f32, f32)], neox: bool) {
    crate::model::ops::rope(x, head_dim, cs, neox);
}

/// Attention of one query head `q` (`hd` wide) over `k.len() / hd` positions of one key/value
/// head, keys and values given as position-major binary16 rows: the engine's own scalar
/// path (`attention::attend`: scores, softmax, value sums) over a cache filled with these
/// rows (each binary16 value decodes exactly and re-encodes to itself).
pub fn attention(q: &[f32], k: &[u16], v: &[u16]) -> Result<Vec<f32>, super::CtxError> {
    use super::attention::{Span, attend, push_key, push_value};
    use crate::f16::f16_to_f32;
    let hd = q.len();
    let n = k.len() / hd.max(1);
    let (mut kc, mut vc) = (Vec::new(), Vec::new());
    for j in 0..n {
        let row = |c: &[u16]| -> Vec<f32> {
            c[j * hd..(j + 1) * hd]
                .iter()
                .map(|&h| f16_to_f32(h))
                .collect()
        };
        push_key(&mut kc, j, &row(k));
        push_value(&mut vc, &row(v));
    }
    let ctx = super::Ctx::new(1, super::Kernel::Scalar)?;
    let span = Span {
        k: &kc,
        v: &vc,
        kv_dim: hd,
        off: 0,
        hd,
        heads: 1,
        start: 0,
        pos: n.saturating_sub(1),
    };
    let mut out = vec![0f32; hd];
    attend(&ctx, &span, q, &mut out);
    Ok(out)
}
