//! The element-wise and per-row operations of the forward pass, each with one fixed
//! operation order: RMSNorm, the two RoPE layouts, the gated activations (SiLU, GELU-tanh)
//! and logit soft-capping.

use crate::kernels::exp::expf_slice;
use crate::kernels::tanh::{tanhf, tanhf_slice};

/// Sequential RMSNorm of one row: `scale = 1 / sqrtf(Σx² / n + eps)`, `out = (x·scale)·w`.
pub(crate) fn rmsnorm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let mut ss = 0f32;
    for &v in x {
        ss += v * v;
    }
    let scale = 1.0 / libm::sqrtf(ss / x.len() as f32 + eps);
    for i in 0..x.len() {
        out[i] = (x[i] * scale) * w[i];
    }
}

/// RMSNorm of every `w.len()`-wide head of `x`, in place (Gemma 3's Q/K norms).
pub(crate) fn rmsnorm_heads(x: &mut [f32], w: &[f32], eps: f32) {
    let mut tmp = vec![0f32; w.len()];
    for head in x.chunks_exact_mut(w.len()) {
        rmsnorm(head, w, eps, &mut tmp);
        head.copy_from_slice(&tmp);
    }
}

/// Rotates each `head_dim` slice of `x` by the `(cos, sin)` pairs `cs`: adjacent pairs
/// `(2i, 2i+1)` (llama.cpp's normal mode) or, with `neox`, the halves `(i, i + head_dim/2)`.
pub(crate) fn rope(x: &mut [f32], head_dim: usize, cs: &[(f32, f32)], neox: bool) {
    let half = head_dim / 2;
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(c, s)) in cs.iter().enumerate() {
            let (ia, ib) = if neox {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let a = head[ia];
            let b = head[ib];
            head[ia] = a * c - b * s;
            head[ib] = a * s + b * c;
        }
    }
}

/// √(2/π) as ggml writes it (`SQRT_2_OVER_PI`), rounded to f32.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// The cubic coefficient of the tanh approximation (`GELU_COEF_A`).
const GELU_COEF_A: f32 = 0.044_715;

/// The argument of GELU's tanh: `√(2/π)·x·(1 + 0.044715·x·x)`, left to right.
fn gelu_inner(x: f32) -> f32 {
    SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)
}

/// GELU, tanh form, evaluated as written (each operation rounded to f32 in this order):
/// `0.5·x·(1 + tanhf(√(2/π)·x·(1 + 0.044715·x·x)))`.
#[cfg(test)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + tanhf(gelu_inner(x)))
}

/// `u[i] = u[i] · gelu(g[i])` for one row, the tanh of the whole row at once (`simd`: the
/// AVX2 `tanhf`, same bits).
pub(crate) fn gelu_mul(simd: bool, g: &[f32], u: &mut [f32]) {
    let mut t: Vec<f32> = g.iter().map(|&x| gelu_inner(x)).collect();
    tanhf_slice(simd, &mut t);
    for ((ui, &x), &ti) in u.iter_mut().zip(g).zip(&t) {
        *ui *= 0.5 * x * (1.0 + ti);
    }
}

/// `u[i] = u[i] · SiLU(g[i])` for one row, SiLU(g) = `g / (1 + expf(-g))` (`simd`: the AVX2
/// `expf`, same bits).
pub(crate) fn silu_mul(simd: bool, g: &[f32], u: &mut [f32]) {
    let mut e: Vec<f32> = g.iter().map(|&gi| -gi).collect();
    expf_slice(simd, &mut e);
    for ((ui, &gi), &ei) in u.iter_mut().zip(g).zip(&e) {
        let silu = gi / (1.0 + ei);
        *ui *= silu;
    }
}

/// Final logit soft-capping: `c · tanhf(l / c)` for every logit.
pub(crate) fn softcap(logits: &mut [f32], c: f32) {
    for l in logits {
        *l = c * tanhf(*l / c);
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn gelu_constants_are_ggmls() {
        assert_eq!(SQRT_2_OVER_PI, 0.797_884_560_802_865_4_f64 as f32);
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu(-3.0) + 0.003_637).abs() < 1e-5);
    }

    #[test]
    fn gelu_mul_is_gelu_times_up_on_both_paths() {
        let g: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.37).collect();
        for simd in [false, crate::kernels::avx2_available()] {
            let mut u = vec![1.5f32; g.len()];
            gelu_mul(simd, &g, &mut u);
            for (ui, &x) in u.iter().zip(&g) {
                assert_eq!(ui.to_bits(), (1.5 * gelu(x)).to_bits());
            }
        }
    }

    #[test]
    fn neox_rope_rotates_halves() {
        let mut x = [1.0, 2.0, 3.0, 4.0];
        rope(&mut x, 4, &[(0.0, 1.0), (1.0, 0.0)], true);
        // pair (0, 2) rotated by 90 degrees, pair (1, 3) unchanged.
        assert_eq!(x, [-3.0, 2.0, 1.0, 4.0]);
    }
}
