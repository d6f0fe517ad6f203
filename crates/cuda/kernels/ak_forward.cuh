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
#define AK_K_NORM_QUANT 4
#define AK_K_MATMUL 5
#define AK_K_ADD 6
#define AK_K_ROPE_KV 7
#define AK_K_ATTENTION 8
#define AK_K_GATED 9
#define AK_K_GATED_QUANT 10
#define AK_K_SOFTCAP 11
#define AK_K_GATHER 12
#define AK_K_COUNT 13

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

// RMSNorm and quantization in one launch, for rows `width` wide (a multiple of 32): block i
// of out (the row's values c0 .. c0 + 31) and its quantized block. Every block of a row sums
// the row's squares itself, in the same sequential order, so each takes the scale
// ak_fwd_rmsnorm's one thread per row computes; then its 32 values as ak_rmsnorm_row, then
// ak_quantize_block of them.
AK_FN void ak_fwd_norm_quant_at(long long i, const float* x, const float* w, float eps, int width,
                                float* out, int8_t* q, float* d, int32_t* s) {
    int per_row = width / AK_QK;
    long long row = i / per_row;
    int c0 = (int)(i % per_row) * AK_QK;
    const float* xr = x + row * width;
    float scale = ak_rms_scale(xr, width, eps);
    float* o = out + AK_QK * i;
    for (int e = 0; e < AK_QK; e++) o[e] = (xr[c0 + e] * scale) * w[c0 + e];
    ak_quantize_block(o, q + AK_QK * i, d + i, s + i);
}

// Threads of a matmul over `rows` weight rows and `ntok` tokens in tiles of `tile`.
AK_HD_FN long long ak_matmul_threads(int rows, int ntok, int tile) {
    return (long long)rows * ((ntok + tile - 1) / tile);
}

// One weight matrix: weight row r with tokens t0 .. t0 + tile - 1 (fewer in the last tile),
// i = g * rows + r, t0 = g * tile: out[t * rows + r] for each, plus bias[r] where bias is not
// null, added to what out holds with `accumulate` (ak_dot_tile). Threads next to each other
// take rows next to each other and the same tokens; a tile of several tokens reads the row
// once for all of them.
AK_FN void ak_fwd_matmul_one_at(long long i, int dtype, const uint8_t* w, int rows, int cols,
                                int ntok, int tile, const float* x, const int8_t* q,
                                const float* d, const int32_t* s, const float* bias,
                                int accumulate, float* out) {
    long long r = i % rows, t0 = i / rows * tile;
    long long left = ntok - t0;
    int cnt = left < tile ? (int)left : tile;
    int nb = cols / AK_QK;
    ak_dot_tile(dtype, w + r * ak_row_bytes(dtype, cols), cols, cnt, x + t0 * cols, q + t0 * cols,
                d + t0 * nb, s + t0 * nb, out + t0 * rows + r, rows, bias ? bias + r : 0,
                accumulate);
}

// Declares the matrix of a matmul launch's output group i (dt, w, rows, b, o; matrix p's
// groups follow matrix p - 1's) and makes i relative to it, from the launch's parameters
// dt0..o2, ntok and tile. A macro rather than a function returning a struct: NVRTC then keeps
// the weights' loads global (ld.global) instead of generic.
#define AK_MM_PICK(i)                                                       \
    int dt = dt0, rows = rows0;                                             \
    const uint8_t* w = w0;                                                  \
    const float* b = b0;                                                    \
    float* o = o0;                                                          \
    {                                                                       \
        long long n0_ = ak_matmul_threads(rows0, ntok, tile);               \
        long long n1_ = ak_matmul_threads(rows1, ntok, tile);               \
        if (i >= n0_ + n1_) {                                               \
            i -= n0_ + n1_;                                                 \
            dt = dt2, w = w2, rows = rows2, b = b2, o = o2;                 \
        } else if (i >= n0_) {                                              \
            i -= n0_;                                                       \
            dt = dt1, w = w1, rows = rows1, b = b1, o = o1;                 \
        }                                                                   \
    }

// Up to three weight matrices over the same tokens in one launch (queries, keys and values;
// gate and up): matrix p (type dt_p, bytes w_p, rows_p rows, bias b_p or null, output o_p)
// takes the ak_matmul_threads(rows_p, ntok, tile) threads after matrix p - 1's. A matrix of 0
// rows has none (its pointers may be null). Each output is computed as by a launch of its
// matrix alone.
AK_FN void ak_fwd_matmul_at(long long i, int cols, int ntok, int tile, const float* x,
                            const int8_t* q, const float* d, const int32_t* s, int accumulate,
                            int dt0, const uint8_t* w0, int rows0, const float* b0, float* o0,
                            int dt1, const uint8_t* w1, int rows1, const float* b1, float* o1,
                            int dt2, const uint8_t* w2, int rows2, const float* b2, float* o2) {
    AK_MM_PICK(i)
    ak_fwd_matmul_one_at(i, dt, w, rows, cols, ntok, tile, x, q, d, s, b, accumulate, o);
}

// GPU threads per matmul output group: a warp computes one (weight row, tile of tokens)
// together (ak_matmul_group). One where threads cannot meet at a barrier (the host build and
// the CPU stand-in of the CUDA runtime run them one after another).
#if defined(__CUDACC__) && !defined(AK_NO_BARRIERS)
#define AK_MM_LANES 32
#else
#define AK_MM_LANES 1
#endif

// Threads per (token, head) of the attention: a whole block.
#if AK_MM_LANES > 1
#define AK_ATTN_THREADS 256
#else
#define AK_ATTN_THREADS 1
#endif

#if AK_MM_LANES > 1
// Groups per 256-thread block.
#define AK_MM_GROUPS (256 / AK_MM_LANES)

// Output group g of a matmul (ak_fwd_matmul_one_at's i) computed by the AK_MM_LANES threads of
// one warp, each with `lane`, sharing `terms` (one row per lane): in rounds of AK_MM_LANES
// units (blocks of 32, or pairs of F32/F16 weights), lane u computes unit u + round's terms
// for every token of the tile (the f32 values the engine adds, each computed as there:
// ak_tile_terms, ak_float_terms), then lane j adds token j's terms to its accumulator in
// unit order: the engine's sequential sum, by one thread. Every thread of the block runs
// `rounds` rounds and meets both barriers of each, `active` or not (threads past the launch's
// groups).
AK_FN void ak_matmul_group(bool active, int lane, float (*terms)[AK_TILE_MAX][2], int rounds,
                           long long g, int dtype, const uint8_t* w, int rows, int cols,
                           int ntok, int tile, const float* x, const int8_t* q, const float* d,
                           const int32_t* s, const float* bias, int accumulate, float* out) {
    long long r = 0, t0 = 0;
    int cnt = 0, units = 0;
    if (active) {
        r = g % rows;
        t0 = g / rows * tile;
        long long left = ntok - t0;
        cnt = left < tile ? (int)left : tile;
        units = ak_row_units(dtype, cols);
    }
    const uint8_t* row = w + r * ak_row_bytes(dtype, cols);
    int nb = cols / AK_QK, two = ak_unit_terms(dtype) > 1;
    bool floats = dtype == AK_F32 || dtype == AK_F16;
    // What the end adds to lane j's sum (the bias, the value it accumulates onto), loaded
    // while the sum is computed.
    bool writes = active && lane < cnt;
    float* o = out + (t0 + lane) * rows + r;
    float before = writes && accumulate ? *o : 0.0f, add = writes && bias ? bias[r] : 0.0f;
    float acc = 0.0f;
    for (int rd = 0; rd < rounds; rd++) {
        int u = rd * AK_MM_LANES + lane;
        if (u < units && floats) {
            for (int j = 0; j < cnt; j++) {
                ak_float_terms(dtype, row, cols, x + (t0 + j) * cols, u, terms[lane][j]);
            }
        } else if (u < units) {
            ak_wblock b;
            ak_unpack_block(dtype, row, u, &b);
            long long tb = t0 * nb + u;
            ak_tile_terms(&b, q + AK_QK * tb, d + tb, s + tb, nb, cnt, terms[lane]);
        }
        __syncthreads();
        if (lane < cnt) {
            int m = units - rd * AK_MM_LANES;
            if (m > AK_MM_LANES) m = AK_MM_LANES;
            if (two) {
                for (int k = 0; k < m; k++) {
                    acc = acc + terms[k][lane][0];
                    acc = acc + terms[k][lane][1];
                }
            } else {
                // The round's terms loaded first (past the m units, unit m - 1's again,
                // unused), then added in unit order.
                float t[AK_MM_LANES];
                AK_UNROLL
                for (int k = 0; k < AK_MM_LANES; k++) t[k] = terms[k < m ? k : m - 1][lane][0];
                AK_UNROLL
                for (int k = 0; k < AK_MM_LANES; k++) {
                    if (k < m) acc = acc + t[k];
                }
            }
        }
        __syncthreads();
    }
    if (writes) {
        float y = acc;
        if (bias) y = y + add;
        *o = accumulate ? before + y : y;
    }
}

// Rounds of ak_matmul_group for the launch's widest row in units (every thread of the launch
// must run the same number).
AK_FN int ak_matmul_rounds(int cols, int dt0, int rows0, int dt1, int rows1, int dt2, int rows2) {
    int units = 0, u;
    if (rows0 > 0 && (u = ak_row_units(dt0, cols)) > units) units = u;
    if (rows1 > 0 && (u = ak_row_units(dt1, cols)) > units) units = u;
    if (rows2 > 0 && (u = ak_row_units(dt2, cols)) > units) units = u;
    return (units + AK_MM_LANES - 1) / AK_MM_LANES;
}

// A warp's shared values for quantizing one block of 32 together.
struct ak_quant_warp {
    float v[AK_QK];
    int32_t r[AK_QK];
    float d;
};

// ak_quantize_block of one block by a warp, lane l holding value x (the block's value l): lane
// 0 takes the scale over the 32 values in order, each lane rounds its own value, lane 0 sums
// the 32 integers in order. Every thread of the block calls it (and meets its barriers),
// `active` or not.
AK_FN void ak_quantize_block_warp(bool active, int lane, float x, ak_quant_warp* w, int8_t* q,
                                  float* d, int32_t* s) {
    if (active) w->v[lane] = x;
    __syncthreads();
    if (active && lane == 0) {
        w->d = ak_quant_scale(w->v);
        *d = w->d;
    }
    __syncthreads();
    if (active) {
        int r = ak_quant_value(x, w->d);
        q[lane] = (int8_t)r;
        w->r[lane] = r;
    }
    __syncthreads();
    if (active && lane == 0) {
        int32_t sum = 0;
        for (int i = 0; i < AK_QK; i++) sum += w->r[i];
        *s = sum;
    }
}
#endif

// x[i] = x[i] + y[i] (residual).
AK_FN void ak_fwd_add_at(long long i, float* x, const float* y) { x[i] = x[i] + y[i]; }

// RoPE of the queries q (nh heads of hd per token) and the keys k (nkv heads) in place, and
// the step's keys and values into the caches as binary16, in one launch: thread i runs
// through each token's query pairs, then its key pairs (a key pair also writes its two cache
// entries, after turning them), then the ntok·kv value elements. cs holds hd values (cos, sin
// pairs) per token; token t's key and value rows (kv = nkv·hd wide) go to row rows[t] of kc
// and vc.
AK_FN void ak_fwd_rope_kv_at(long long i, float* q, int nh, float* k, int nkv, int hd,
                             const float* cs, int neox, int ntok, const float* v,
                             const int32_t* rows, uint16_t* kc, uint16_t* vc) {
    int half = hd / 2, kv = nkv * hd;
    long long per_tok = (long long)(nh + nkv) * half;
    long long pairs = ntok * per_tok;
    if (i >= pairs) {
        long long e = i - pairs, t = e / kv;
        vc[(long long)rows[t] * kv + e % kv] = ak_f32_to_f16(v[e]);
        return;
    }
    long long t = i / per_tok;
    int head = (int)(i % per_tok / half), pair = (int)(i % half);
    if (head < nh) {
        ak_rope_head_pair(q + (t * nh + head) * hd, hd, cs + t * hd, neox, pair);
        return;
    }
    long long off = (t * nkv + head - nh) * hd;
    ak_rope_head_pair(k + off, hd, cs + t * hd, neox, pair);
    int a = ak_rope_first(neox, pair), b = ak_rope_second(hd, neox, pair);
    uint16_t* row = kc + (long long)rows[t] * kv + (head - nh) * hd;
    row[a] = ak_f32_to_f16(k[off + a]);
    row[b] = ak_f32_to_f16(k[off + b]);
}

// meta[3t .. 3t+3] of query token t: its sequence's first cache row, the first position it
// sees (a sliding window's start) and its own position. It sees pos - start + 1 positions.
AK_FN int ak_fwd_span(const int32_t* meta, long long t) { return meta[3 * t + 2] - meta[3 * t + 1] + 1; }

// One (token, head) of a step's attention: query head h of token t, i = t * nh + h, over the
// span of the cache it sees (cache rows kv wide; query head h reads key/value head h / group),
// its scores' row of s (maxn apart) and its output row (hd wide).
struct ak_attn_head {
    const float* q;
    const uint16_t* k;
    const uint16_t* v;
    float* s;
    float* out;
    int n, hd, kv;
};

AK_FN ak_attn_head ak_fwd_attn_head(long long i, const float* q, const uint16_t* k,
                                    const uint16_t* v, const int32_t* meta, int nh, int group,
                                    int hd, int kv, int maxn, float* s, float* out) {
    long long t = i / nh;
    long long row = (long long)meta[3 * t] + meta[3 * t + 1];
    long long head = row * kv + (long long)((int)(i % nh) / group) * hd;
    ak_attn_head a = {q + i * hd, k + head, v + head, s + i * maxn, out + i * hd,
                      ak_fwd_span(meta, t), hd, kv};
    return a;
}

// The steps of ak_attn_softmax and ak_attn_value for one head, each over the positions (or
// output elements) from, from + step, ...: one thread takes them all on the host, a block's
// threads share them on the GPU. Each value is computed as the engine computes it; the max
// and the sum stay one thread's sequential loops.
AK_FN void ak_attn_scores_part(const ak_attn_head* a, int from, int step) {
    for (int j = from; j < a->n; j += step)
        a->s[j] = ak_attn_score(a->q, a->k + (long long)j * a->kv, a->hd);
}
AK_FN void ak_attn_exps_part(const ak_attn_head* a, float m, int from, int step) {
    for (int j = from; j < a->n; j += step) a->s[j] = ak_expf(a->s[j] - m);
}
AK_FN void ak_attn_values_part(const ak_attn_head* a, float sum, int from, int step) {
    for (int e = from; e < a->hd; e += step)
        a->out[e] = ak_attn_value(a->s, sum, a->v, a->n, a->kv, e);
}
// The head's output blocks quantized (hd a multiple of 32) by one thread: head i's are blocks
// i·hd/32 on (the GPU's warps: ak_quantize_block_warp).
AK_FN void ak_attn_quant(const ak_attn_head* a, long long i, int8_t* q, float* d, int32_t* s) {
    int per = a->hd / AK_QK;
    for (int b = 0; b < per; b++) {
        long long blk = i * per + b;
        ak_quantize_block(a->out + AK_QK * b, q + AK_QK * blk, d + blk, s + blk);
    }
}

// The attention of (token, head) i by one thread: scores, max, numerators, sum, value sums,
// and with q not null their quantization.
AK_FN void ak_fwd_attention_at(long long i, const float* q, const uint16_t* k, const uint16_t* v,
                               const int32_t* meta, int nh, int group, int hd, int kv, int maxn,
                               float* s, float* out, int8_t* qq, float* qd, int32_t* qs) {
    ak_attn_head a = ak_fwd_attn_head(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out);
    ak_attn_scores_part(&a, 0, 1);
    ak_attn_exps_part(&a, ak_attn_max(a.s, a.n), 0, 1);
    ak_attn_values_part(&a, ak_attn_sum(a.s, a.n), 0, 1);
    if (qq) ak_attn_quant(&a, i, qq, qd, qs);
}

// out[i] = u[i] * SiLU(g[i]), or with gelu, u[i] * GELU(g[i]).
AK_FN void ak_fwd_gated_at(long long i, int gelu, const float* g, const float* u, float* out) {
    out[i] = gelu ? ak_gelu_mul(g[i], u[i]) : ak_silu_mul(g[i], u[i]);
}

// The gating of block i (32 elements, ak_fwd_gated_at each) and the quantization of the
// result, in one launch (rows a multiple of 32 wide).
AK_FN void ak_fwd_gated_quant_at(long long i, int gelu, const float* g, const float* u,
                                 float* out, int8_t* q, float* d, int32_t* s) {
    for (int e = 0; e < AK_QK; e++) ak_fwd_gated_at(AK_QK * i + e, gelu, g, u, out);
    ak_quantize_block(out + AK_QK * i, q + AK_QK * i, d + i, s + i);
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
// n activation blocks, a warp each: the row's squares summed by lane 0 in order, in rounds of
// up to AK_NORM_ROUND values (each lane loading and squaring AK_NORM_ROUND / 32 of them, all
// its loads issued before their first use), lane l's value normalized, then the block
// quantized by the warp (ak_quantize_block_warp).
#define AK_NORM_ROUND 256
AK_GLOBAL void ak_fwd_norm_quant(long long n, const float* x, const float* w, float eps,
                                 int width, float* out, int8_t* q, float* d, int32_t* s) {
#if AK_MM_LANES > 1
    __shared__ ak_quant_warp qw[AK_MM_GROUPS];
    __shared__ float sq[AK_MM_GROUPS][AK_NORM_ROUND];
    __shared__ float scale[AK_MM_GROUPS];
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int lane = threadIdx.x % AK_MM_LANES, slot = threadIdx.x / AK_MM_LANES;
    bool active = i < n;
    int per_row = width / AK_QK;
    long long row = active ? i / per_row : 0;
    int c0 = active ? (int)(i % per_row) * AK_QK : 0;
    const float* xr = x + row * width;
    // Lane l's own value and weight, loaded while the squares are summed.
    float xl = active ? xr[c0 + lane] : 0.0f, wl = active ? w[c0 + lane] : 0.0f;
    float ss = 0.0f;
    for (int k = 0; k < width; k += AK_NORM_ROUND) {
        int cnt = width - k < AK_NORM_ROUND ? width - k : AK_NORM_ROUND;
        if (active) {
            // Past the row's end (a last, shorter round) a lane reloads the row's last value:
            // its square is stored but never added.
            float v[AK_NORM_ROUND / AK_QK];
            AK_UNROLL
            for (int r = 0; r < AK_NORM_ROUND / AK_QK; r++) {
                int c = k + r * AK_QK + lane;
                v[r] = xr[c < width ? c : width - 1];
            }
            AK_UNROLL
            for (int r = 0; r < AK_NORM_ROUND / AK_QK; r++) sq[slot][r * AK_QK + lane] = v[r] * v[r];
        }
        __syncthreads();
        if (active && lane == 0) {
            for (int b = 0; b < cnt; b += AK_QK) {
                AK_UNROLL
                for (int j = 0; j < AK_QK; j++) ss += sq[slot][b + j];
            }
        }
        __syncthreads();
    }
    if (active && lane == 0) scale[slot] = ak_div(1.0f, ak_sqrt(ak_div(ss, (float)width) + eps));
    __syncthreads();
    float o = 0.0f;
    if (active) {
        o = (xl * scale[slot]) * wl;
        out[AK_QK * i + lane] = o;
    }
    ak_quantize_block_warp(active, lane, o, &qw[slot], q + AK_QK * i, d + i, s + i);
#else
    AK_FWD_INDEX ak_fwd_norm_quant_at(i, x, w, eps, width, out, q, d, s);
#endif
}
// n output groups (ak_fwd_matmul_at's), AK_MM_LANES threads each.
AK_GLOBAL void ak_fwd_matmul(long long n, int cols, int ntok, int tile, const float* x,
                             const int8_t* q, const float* d, const int32_t* s, int accumulate,
                             int dt0, const uint8_t* w0, int rows0, const float* b0, float* o0,
                             int dt1, const uint8_t* w1, int rows1, const float* b1, float* o1,
                             int dt2, const uint8_t* w2, int rows2, const float* b2, float* o2) {
#if AK_MM_LANES > 1
    __shared__ float terms[AK_MM_GROUPS][AK_MM_LANES][AK_TILE_MAX][2];
    long long g = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int lane = threadIdx.x % AK_MM_LANES;
    int rounds = ak_matmul_rounds(cols, dt0, rows0, dt1, rows1, dt2, rows2);
    long long i = g;
    AK_MM_PICK(i)
    ak_matmul_group(g < n, lane, terms[threadIdx.x / AK_MM_LANES], rounds, i, dt, w, rows, cols,
                    ntok, tile, x, q, d, s, b, accumulate, o);
#else
    AK_FWD_INDEX ak_fwd_matmul_at(i, cols, ntok, tile, x, q, d, s, accumulate, dt0, w0, rows0, b0,
                                  o0, dt1, w1, rows1, b1, o1, dt2, w2, rows2, b2, o2);
#endif
}
AK_GLOBAL void ak_fwd_add(long long n, float* x, const float* y) {
    AK_FWD_INDEX ak_fwd_add_at(i, x, y);
}
AK_GLOBAL void ak_fwd_rope_kv(long long n, float* q, int nh, float* k, int nkv, int hd,
                              const float* cs, int neox, int ntok, const float* v,
                              const int32_t* rows, uint16_t* kc, uint16_t* vc) {
    AK_FWD_INDEX ak_fwd_rope_kv_at(i, q, nh, k, nkv, hd, cs, neox, ntok, v, rows, kc, vc);
}
// One block of AK_ATTN_THREADS threads per (token, head) n: each step shared by the block's
// threads, thread 0 taking the max and the sum, the block meeting at a barrier between steps.
AK_GLOBAL void ak_fwd_attention(long long n, const float* q, const uint16_t* k, const uint16_t* v,
                                const int32_t* meta, int nh, int group, int hd, int kv, int maxn,
                                float* s, float* out, int8_t* qq, float* qd, int32_t* qs) {
    long long i = blockIdx.x;
    if (i >= n) return;
#if AK_ATTN_THREADS > 1
    __shared__ float stat[2];
    int tid = threadIdx.x;
    ak_attn_head a = ak_fwd_attn_head(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out);
    ak_attn_scores_part(&a, tid, AK_ATTN_THREADS);
    __syncthreads();
    if (tid == 0) stat[0] = ak_attn_max(a.s, a.n);
    __syncthreads();
    ak_attn_exps_part(&a, stat[0], tid, AK_ATTN_THREADS);
    __syncthreads();
    if (tid == 0) stat[1] = ak_attn_sum(a.s, a.n);
    __syncthreads();
    ak_attn_values_part(&a, stat[1], tid, AK_ATTN_THREADS);
    if (qq) {
        // The head's output blocks, a warp each (the block's 8 warps in rounds).
        __shared__ ak_quant_warp qw[AK_MM_GROUPS];
        __syncthreads();
        int lane = tid % AK_MM_LANES, per = hd / AK_QK;
        for (int b0 = 0; b0 < per; b0 += AK_MM_GROUPS) {
            int b = b0 + tid / AK_MM_LANES;
            bool act = b < per;
            long long blk = i * per + b;
            float x = act ? a.out[AK_QK * b + lane] : 0.0f;
            ak_quantize_block_warp(act, lane, x, &qw[tid / AK_MM_LANES], qq + AK_QK * blk,
                                   qd + blk, qs + blk);
            __syncthreads();
        }
    }
#else
    if (threadIdx.x == 0) ak_fwd_attention_at(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out, qq, qd, qs);
#endif
}
AK_GLOBAL void ak_fwd_gated(long long n, int gelu, const float* g, const float* u, float* out) {
    AK_FWD_INDEX ak_fwd_gated_at(i, gelu, g, u, out);
}
// n activation blocks, a warp each: lane l gates value l, then the warp quantizes the block.
AK_GLOBAL void ak_fwd_gated_quant(long long n, int gelu, const float* g, const float* u,
                                  float* out, int8_t* q, float* d, int32_t* s) {
#if AK_MM_LANES > 1
    __shared__ ak_quant_warp qw[AK_MM_GROUPS];
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int lane = threadIdx.x % AK_MM_LANES;
    bool active = i < n;
    float o = 0.0f;
    if (active) {
        ak_fwd_gated_at(AK_QK * i + lane, gelu, g, u, out);
        o = out[AK_QK * i + lane];
    }
    ak_quantize_block_warp(active, lane, o, &qw[threadIdx.x / AK_MM_LANES], q + AK_QK * i,
                           d + i, s + i);
#else
    AK_FWD_INDEX ak_fwd_gated_quant_at(i, gelu, g, u, out, q, d, s);
#endif
}
AK_GLOBAL void ak_fwd_softcap(long long n, float* x, float c) {
    AK_FWD_INDEX ak_fwd_softcap_at(i, x, c);
}
AK_GLOBAL void ak_fwd_gather(long long n, const float* x, const int32_t* idx, int width,
                             float* out) {
    AK_FWD_INDEX ak_fwd_gather_at(i, x, idx, width, out);
}
#endif
