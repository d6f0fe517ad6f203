// The element-wise and per-row operations of the forward pass (crates/engine/src/model/ops.rs),
// each with the engine's operation order.
#pragma once
#include "ak_math.cuh"

// Sequential RMSNorm of one row of n: scale = 1 / sqrtf(sum(x*x) / n + eps),
// out = (x * scale) * w. One thread per row: the sum of squares is one sequential loop.
// The scale from the sum of squares ss of a row of n.
AK_FN float ak_rms_scale_of(float ss, int n, float eps) {
    return ak_div(1.0f, ak_sqrt(ak_div(ss, (float)n) + eps));
}

AK_FN float ak_rms_scale(const float* x, int n, float eps) {
    float ss = 0.0f;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    return ak_rms_scale_of(ss, n, eps);
}

AK_FN void ak_rmsnorm_row(const float* x, const float* w, float eps, int n, float* out) {
    float scale = ak_rms_scale(x, n, eps);
    for (int i = 0; i < n; i++) out[i] = (x[i] * scale) * w[i];
}

// u * SiLU(g), SiLU(g) = g / (1 + expf(-g)).
AK_FN float ak_silu_mul(float g, float u) {
    float e = ak_expf(-g);
    return u * ak_div(g, 1.0f + e);
}

// sqrt(2/pi) and the cubic coefficient, as ggml writes them, rounded to f32.
#define AK_SQRT_2_OVER_PI 0.7978846f
#define AK_GELU_COEF_A 0.044715f

// u * GELU(g), tanh form, left to right: 0.5*x*(1 + tanhf(sqrt(2/pi)*x*(1 + 0.044715*x*x))).
AK_FN float ak_gelu_mul(float x, float u) {
    float inner = AK_SQRT_2_OVER_PI * x * (1.0f + AK_GELU_COEF_A * x * x);
    float t = ak_tanhf(inner);
    return u * (0.5f * x * (1.0f + t));
}

// Logit soft-capping: c * tanhf(l / c).
AK_FN float ak_softcap(float l, float c) { return c * ak_tanhf(ak_div(l, c)); }

// RoPE of one pair (a, b) by (c, s): a' = a*c - b*s, b' = a*s + b*c (model/ops.rs rope; the
// pair is (2i, 2i+1) in llama.cpp's normal mode, (i, i + head_dim/2) in NeoX mode).
AK_FN void ak_rope_pair(float* a, float* b, float c, float s) {
    float x = *a, y = *b;
    *a = x * c - y * s;
    *b = x * s + y * c;
}

// RoPE of one head of `hd` values in place with the hd/2 (cos, sin) pairs `cs` (cos at 2i,
// sin at 2i+1); one thread per pair on the GPU.
AK_FN int ak_rope_first(int neox, int i) { return neox ? i : 2 * i; }
AK_FN int ak_rope_second(int hd, int neox, int i) { return neox ? i + hd / 2 : 2 * i + 1; }

AK_FN void ak_rope_head_pair(float* head, int hd, const float* cs, int neox, int i) {
    ak_rope_pair(head + ak_rope_first(neox, i), head + ak_rope_second(hd, neox, i), cs[2 * i],
                 cs[2 * i + 1]);
}
