// The forward pass's kernels (crates/cuda/src/forward builds the launch sequence, in the
// engine's op order: crates/engine/src/model/forward.rs). Each kernel is one per-output
// function `ak_fwd_<name>_at(i, ...)` for outputs i < n; on the GPU a __global__ kernel runs it
// with one thread per output, on the host `ak_host_launch` (host.cpp) loops over i. Both
// take the same argument list, so the Rust side passes one argument array to either.
// No output reads another output of the same launch; every reduction is sequential.
#pragma once
#include "ak_attention.cuh"
#include "ak_dequant.cuh"
#include "ak_ops.cuh"

// Kernel ids of `ak_host_launch` (the same order as src/forward/kernel.rs).
#define AK_K_EMBED 0
#define AK_K_SCALE 1
#define AK_K_RMSNORM 2
#define AK_K_QUANTIZE 3
#define AK_K_MATMUL 4
#define AK_K_ADD_BIAS 5
#define AK_K_ADD 6
#define AK_K_ROPE 7
#define AK_K_KV_WRITE 8
#define AK_K_ATTN_SCORES 9
#define AK_K_ATTN_SOFTMAX 10
#define AK_K_ATTN_VALUES 11
#define AK_K_GATED 12
#define AK_K_SOFTCAP 13
#define AK_K_GATHER 14
#define AK_K_COUNT 15

// Row i of x: token tokens[i]'s embedding (one thread per token).
AK_FN void ak_fwd_embed_at(long long i, int dtype, const uint8_t* table, int cols,
                           const int32_t* tokens, float* out) {
    long long rb = ak_row_bytes(dtype, cols);
    ak_dequant_row(dtype, table + (long long)tokens[i] * rb, cols, out + i * cols);
}

// x[i] = x[i] * c (Gemma 3's embedding scale).
AK_FN void ak_fwd_scale_at(long long i, float* x, float c) { x[i] = x[i] * c; }

// RMSNorm of row i (width values) with weights w.
AK_FN void ak_fwd_rmsnorm_at(long long i, const float* x, const float* w, float eps, int width,
                             float* out) {
    ak_rmsnorm_row(x + i * width, w, eps, width, out + i * width);
}

// Activation block i.
AK_FN void ak_fwd_quantize_at(long long i, const float* x, int8_t* q, float* d, int32_t* s) {
    ak_quantize_block(x + AK_QK * i, q + AK_QK * i, d + i, s + i);
}

// Threads of a matmul over `rows` weight rows and `ntok` tokens in tiles of `tile`.
AK_HD_FN long long ak_matmul_threads(int rows, int ntok, int tile) {
    return (long long)rows * ((ntok + tile - 1) / tile);
}

// Weight row r with tokens t0 .. t0 + tile - 1 (fewer in the last tile), i = g * rows + r,
// t0 = g * tile: out[t * rows + r] for each. Threads next to each other take rows next to each
// other and the same tokens; a tile of several tokens reads the row once for all of them.
AK_FN void ak_fwd_matmul_at(long long i, int dtype, const uint8_t* w, int rows, int cols, int ntok,
                            int tile, const float* x, const int8_t* q, const float* d,
                            const int32_t* s, float* out) {
    long long r = i % rows, t0 = i / rows * tile;
    long long left = ntok - t0;
    int cnt = left < tile ? (int)left : tile;
    int nb = cols / AK_QK;
    ak_dot_tile(dtype, w + r * ak_row_bytes(dtype, cols), cols, cnt, x + t0 * cols, q + t0 * cols,
                d + t0 * nb, s + t0 * nb, out + t0 * rows + r, rows);
}

// x[i] = x[i] + b[i % width] (a projection's bias).
AK_FN void ak_fwd_add_bias_at(long long i, float* x, const float* b, int width) {
    x[i] = x[i] + b[i % width];
}

// x[i] = x[i] + y[i] (residual).
AK_FN void ak_fwd_add_at(long long i, float* x, const float* y) { x[i] = x[i] + y[i]; }

// RoPE of the queries q (nh heads of hd per token) and the keys k (nkv heads) in one launch:
// pair i runs through each token's query heads, then its key heads; cs holds hd values (cos,
// sin pairs) per token.
AK_FN void ak_fwd_rope_at(long long i, float* q, int nh, float* k, int nkv, int hd,
                          const float* cs, int neox) {
    int half = hd / 2;
    long long per_tok = (long long)(nh + nkv) * half;
    long long t = i / per_tok;
    int head = (int)(i % per_tok / half), pair = (int)(i % half);
    float* x = head < nh ? q + (t * nh + head) * hd : k + (t * nkv + head - nh) * hd;
    ak_rope_head_pair(x, hd, cs + t * hd, neox, pair);
}

// The KV cache write of one step: element i runs through each token's key row, then its value
// row (kv wide), each as binary16 into row rows[t] of its cache.
AK_FN void ak_fwd_kv_write_at(long long i, const float* k, const float* v, int kv,
                              const int32_t* rows, uint16_t* kc, uint16_t* vc) {
    long long t = i / (2LL * kv);
    int e = (int)(i % (2LL * kv));
    if (e < kv) {
        kc[(long long)rows[t] * kv + e] = ak_f32_to_f16(k[t * kv + e]);
    } else {
        vc[(long long)rows[t] * kv + e - kv] = ak_f32_to_f16(v[t * kv + e - kv]);
    }
}

// meta[3t .. 3t+3] of query token t: its sequence's first cache row, the first position it
// sees (a sliding window's start) and its own position. It sees pos - start + 1 positions.
AK_FN int ak_fwd_span(const int32_t* meta, long long t) { return meta[3 * t + 2] - meta[3 * t + 1] + 1; }

// Score j of query head h of token t, i = (t * nh + h) * maxn + j. Query rows nh*hd wide,
// cache rows kv wide; query head h reads key/value head h / group.
AK_FN void ak_fwd_attn_scores_at(long long i, const float* q, const uint16_t* k,
                                 const int32_t* meta, int nh, int group, int hd, int kv,
                                 int maxn, float* s) {
    long long th = i / maxn, t = th / nh;
    int j = (int)(i % maxn), h = (int)(th % nh);
    if (j >= ak_fwd_span(meta, t)) return;
    long long row = (long long)meta[3 * t] + meta[3 * t + 1] + j;
    s[i] = ak_attn_score(q + th * hd, k + row * kv + (long long)(h / group) * hd, hd);
}

// Softmax of the scores of (token, head) i in place; sums[i] their sum.
AK_FN void ak_fwd_attn_softmax_at(long long i, float* s, const int32_t* meta, int nh, int maxn,
                                  float* sums) {
    sums[i] = ak_attn_softmax(s + i * maxn, ak_fwd_span(meta, i / nh));
}

// Output element e of query head h of token t, i = (t * nh + h) * hd + e.
AK_FN void ak_fwd_attn_values_at(long long i, const float* s, const float* sums,
                                 const uint16_t* v, const int32_t* meta, int nh, int group,
                                 int hd, int kv, int maxn, float* out) {
    long long th = i / hd, t = th / nh;
    int e = (int)(i % hd), h = (int)(th % nh);
    long long row = (long long)meta[3 * t] + meta[3 * t + 1];
    out[i] = ak_attn_value(s + th * maxn, sums[th], v + row * kv + (long long)(h / group) * hd,
                           ak_fwd_span(meta, t), kv, e);
}

// out[i] = u[i] * SiLU(g[i]), or with gelu, u[i] * GELU(g[i]).
AK_FN void ak_fwd_gated_at(long long i, int gelu, const float* g, const float* u, float* out) {
    out[i] = gelu ? ak_gelu_mul(g[i], u[i]) : ak_silu_mul(g[i], u[i]);
}

// x[i] = c * tanhf(x[i] / c).
AK_FN void ak_fwd_softcap_at(long long i, float* x, float c) { x[i] = ak_softcap(x[i], c); }

// out[i] = element i % width of row idx[i / width] of x.
AK_FN void ak_fwd_gather_at(long long i, const float* x, const int32_t* idx, int width,
                            float* out) {
    out[i] = x[(long long)idx[i / width] * width + i % width];
}

#ifdef __CUDACC__
#define AK_FWD_INDEX                                                   \
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;    \
    if (i >= n) return;

AK_GLOBAL void ak_fwd_embed(long long n, int dtype, const uint8_t* table, int cols,
                            const int32_t* tokens, float* out) {
    AK_FWD_INDEX ak_fwd_embed_at(i, dtype, table, cols, tokens, out);
}
AK_GLOBAL void ak_fwd_scale(long long n, float* x, float c) {
    AK_FWD_INDEX ak_fwd_scale_at(i, x, c);
}
AK_GLOBAL void ak_fwd_rmsnorm(long long n, const float* x, const float* w, float eps, int width,
                              float* out) {
    AK_FWD_INDEX ak_fwd_rmsnorm_at(i, x, w, eps, width, out);
}
AK_GLOBAL void ak_fwd_quantize(long long n, const float* x, int8_t* q, float* d, int32_t* s) {
    AK_FWD_INDEX ak_fwd_quantize_at(i, x, q, d, s);
}
AK_GLOBAL void ak_fwd_matmul(long long n, int dtype, const uint8_t* w, int rows, int cols,
                             int ntok, int tile, const float* x, const int8_t* q, const float* d,
                             const int32_t* s, float* out) {
    AK_FWD_INDEX ak_fwd_matmul_at(i, dtype, w, rows, cols, ntok, tile, x, q, d, s, out);
}
AK_GLOBAL void ak_fwd_add_bias(long long n, float* x, const float* b, int width) {
    AK_FWD_INDEX ak_fwd_add_bias_at(i, x, b, width);
}
AK_GLOBAL void ak_fwd_add(long long n, float* x, const float* y) {
    AK_FWD_INDEX ak_fwd_add_at(i, x, y);
}
AK_GLOBAL void ak_fwd_rope(long long n, float* q, int nh, float* k, int nkv, int hd,
                            const float* cs, int neox) {
    AK_FWD_INDEX ak_fwd_rope_at(i, q, nh, k, nkv, hd, cs, neox);
}
AK_GLOBAL void ak_fwd_kv_write(long long n, const float* k, const float* v, int kv,
                               const int32_t* rows, uint16_t* kc, uint16_t* vc) {
    AK_FWD_INDEX ak_fwd_kv_write_at(i, k, v, kv, rows, kc, vc);
}
AK_GLOBAL void ak_fwd_attn_scores(long long n, const float* q, const uint16_t* k,
                                  const int32_t* meta, int nh, int group, int hd, int kv,
                                  int maxn, float* s) {
    AK_FWD_INDEX ak_fwd_attn_scores_at(i, q, k, meta, nh, group, hd, kv, maxn, s);
}
AK_GLOBAL void ak_fwd_attn_softmax(long long n, float* s, const int32_t* meta, int nh, int maxn,
                                   float* sums) {
    AK_FWD_INDEX ak_fwd_attn_softmax_at(i, s, meta, nh, maxn, sums);
}
AK_GLOBAL void ak_fwd_attn_values(long long n, const float* s, const float* sums,
                                  const uint16_t* v, const int32_t* meta, int nh, int group,
                                  int hd, int kv, int maxn, float* out) {
    AK_FWD_INDEX ak_fwd_attn_values_at(i, s, sums, v, meta, nh, group, hd, kv, maxn, out);
}
AK_GLOBAL void ak_fwd_gated(long long n, int gelu, const float* g, const float* u, float* out) {
    AK_FWD_INDEX ak_fwd_gated_at(i, gelu, g, u, out);
}
AK_GLOBAL void ak_fwd_softcap(long long n, float* x, float c) {
    AK_FWD_INDEX ak_fwd_softcap_at(i, x, c);
}
AK_GLOBAL void ak_fwd_gather(long long n, const float* x, const int32_t* idx, int width,
                             float* out) {
    AK_FWD_INDEX ak_fwd_gather_at(i, x, idx, width, out);
}
#endif
