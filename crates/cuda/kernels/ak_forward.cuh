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
#define AK_K_RMSNORM_ADD 6
#define AK_K_ROPE_KV 7
#define AK_K_ATTENTION 8
#define AK_K_GATED 9
#define AK_K_GATED_QUANT 10
#define AK_K_SOFTCAP 11
#define AK_K_GATHER 12
#define AK_K_MATMUL_MMA 13
#define AK_K_ATTENTION_LONG 14
#define AK_K_MATMUL_MMA_WARP 15
#define AK_K_ADD_NORM_QUANT 16
#define AK_K_NORM_ROPE_KV 17
#define AK_K_COUNT 18

// Row i of x: token tokens[i]'s embedding (one thread per token).
// Columns one embedding output dequantizes: a K-quant super-block, else a block of 32.
AK_HD_FN int ak_embed_chunk(int dtype) {
    return dtype == AK_Q4_K || dtype == AK_Q5_K || dtype == AK_Q6_K ? AK_QK_K : AK_QK;
}
// Embedding outputs a token: its row's chunks (the last one shorter where cols is not a
// multiple of the chunk: only F32 and F16 rows can be).
AK_HD_FN int ak_embed_chunks(int dtype, int cols) {
    int c = ak_embed_chunk(dtype);
    return (cols + c - 1) / c;
}
// Chunk i % chunks of row tokens[i / chunks] of the table, dequantized into its place in out
// (each value is its block's alone: a row a thread left each thread hundreds of dependent
// loads, 25 us a launch on an H200).
AK_FN void ak_fwd_embed_at(long long i, int dtype, const uint8_t* table, int cols,
                           const int32_t* tokens, float* out) {
    int chunk = ak_embed_chunk(dtype), chunks = ak_embed_chunks(dtype, cols);
    long long t = i / chunks;
    int c0 = (int)(i % chunks) * chunk;
    int width = cols - c0 < chunk ? cols - c0 : chunk;
    const uint8_t* row = table + (long long)tokens[t] * ak_row_bytes(dtype, cols);
    ak_dequant_row(dtype, row + ak_row_bytes(dtype, c0), width, out + t * cols + c0);
}

// x[i] = x[i] * c (Gemma 3's embedding scale).
AK_FN void ak_fwd_scale_at(long long i, float* x, float c) { x[i] = x[i] * c; }

// RMSNorm of row i (width values) with weights w.
AK_FN void ak_fwd_rmsnorm_at(long long i, const float* x, const float* w, float eps, int width,
                             float* out) {
    ak_rmsnorm_row(x + i * width, w, eps, width, out + i * width);
}

// out's row i plus the RMSNorm of row i of x (Gemma 3's post-norm and residual add: the
// engine's normalized row, then its add, value by value).
AK_FN void ak_fwd_rmsnorm_add_at(long long i, const float* x, const float* w, float eps,
                                 int width, float* out) {
    const float* xr = x + i * width;
    float scale = ak_rms_scale(xr, width, eps);
    float* o = out + i * width;
    for (int c = 0; c < width; c++) o[c] = o[c] + (xr[c] * scale) * w[c];
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

// Row i of Gemma 3's post-norm and residual add followed by the next sublayer's norm and its
// quantization (the two launches ak_fwd_rmsnorm_add and ak_fwd_norm_quant in one): x's row
// plus the RMSNorm of y's with weights wpost (ak_fwd_rmsnorm_add_at), then the RMSNorm of the
// new row with weights wpre into out and its quantized blocks (ak_fwd_norm_quant_at each).
AK_FN void ak_fwd_add_norm_quant_at(long long i, const float* y, const float* wpost,
                                    const float* wpre, float eps, int width, float* x,
                                    float* out, int8_t* q, float* d, int32_t* s) {
    ak_fwd_rmsnorm_add_at(i, y, wpost, eps, width, x);
    int per = width / AK_QK;
    for (int b = 0; b < per; b++)
        ak_fwd_norm_quant_at(i * per + b, x, wpre, eps, width, out, q, d, s);
}

// The matmul's tensor-core tiling, its `tile` argument 0 (1 to AK_TILE_MAX are tiles of
// tokens): output groups of AK_MMA_ROWS weight rows by AK_MMA_TOKENS tokens, each computed by
// one block of AK_MMA_WARPS warps (ak_matmul_mma) and counted as its warps, so that a
// launch's output groups are AK_MM_LANES threads whatever the tiling.
#define AK_TILE_MMA 0
// The same tiles, each computed by one warp alone over the whole row (ak_matmul_mma_warp),
// for matrices of many short rows (a model's output head): no barriers, no shared memory,
// and a launch's output groups are its tiles.
#define AK_TILE_MMA_WARP (AK_TILE_MAX + 1)
#define AK_MMA_ROWS 16
#define AK_MMA_TOKENS 8
#define AK_MMA_WARPS 8
// Blocks of 32 weights each warp of a tensor-core tile takes a round (ak_mma_round).
#define AK_MMA_BLOCKS 2

// The first row and token of tensor-core tile tl of a matrix over `ntok` tokens: the token tiles of one row tile next to each other, so that the blocks that read the
// same weights run together and all but the first find them in L2 (row tiles first read a
// matrix larger than L2 from memory once per token tile: Gemma 3's 178 MB head took 666 us at
// batch 32 on an H200).
AK_HD_FN void ak_mma_tile_at(long long tl, int ntok, long long* r0, long long* t0) {
    long long ttiles = (ntok + AK_MMA_TOKENS - 1) / AK_MMA_TOKENS;
    *r0 = tl / ttiles * AK_MMA_ROWS;
    *t0 = tl % ttiles * AK_MMA_TOKENS;
}

// Output groups of a matmul over `rows` weight rows and `ntok` tokens in tiles of `tile`.
AK_HD_FN long long ak_matmul_threads(int rows, int ntok, int tile) {
    if (tile == AK_TILE_MMA) {
        long long tiles = (long long)((rows + AK_MMA_ROWS - 1) / AK_MMA_ROWS) *
                          ((ntok + AK_MMA_TOKENS - 1) / AK_MMA_TOKENS);
        return tiles * AK_MMA_WARPS;
    }
    if (tile == AK_TILE_MMA_WARP) {
        return (long long)((rows + AK_MMA_ROWS - 1) / AK_MMA_ROWS) *
               ((ntok + AK_MMA_TOKENS - 1) / AK_MMA_TOKENS);
    }
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
    int nb = cols / AK_QK;
    if (tile == AK_TILE_MMA) {
        // Group i is part i % AK_MMA_WARPS of tensor-core tile i / AK_MMA_WARPS: two of its
        // rows with the tile's tokens (the same outputs, computed as every tiling does).
        long long r0, t0;
        ak_mma_tile_at(i / AK_MMA_WARPS, ntok, &r0, &t0);
        long long left = ntok - t0;
        int cnt = left < AK_MMA_TOKENS ? (int)left : AK_MMA_TOKENS;
        for (int h = 0; h < AK_MMA_ROWS / AK_MMA_WARPS; h++) {
            long long r = r0 + i % AK_MMA_WARPS * (AK_MMA_ROWS / AK_MMA_WARPS) + h;
            if (r < rows) {
                ak_dot_tile(dtype, w + r * ak_row_bytes(dtype, cols), cols, cnt, x + t0 * cols,
                            q + t0 * cols, d + t0 * nb, s + t0 * nb, out + t0 * rows + r, rows,
                            bias ? bias + r : 0, accumulate);
            }
        }
        return;
    }
    if (tile == AK_TILE_MMA_WARP) {
        // Group i is tensor-core tile i: its 16 rows with its tokens.
        long long r0, t0;
        ak_mma_tile_at(i, ntok, &r0, &t0);
        long long left = ntok - t0;
        int cnt = left < AK_MMA_TOKENS ? (int)left : AK_MMA_TOKENS;
        for (long long r = r0; r < r0 + AK_MMA_ROWS && r < rows; r++) {
            ak_dot_tile(dtype, w + r * ak_row_bytes(dtype, cols), cols, cnt, x + t0 * cols,
                        q + t0 * cols, d + t0 * nb, s + t0 * nb, out + t0 * rows + r, rows,
                        bias ? bias + r : 0, accumulate);
        }
        return;
    }
    long long r = i % rows, t0 = i / rows * tile;
    long long left = ntok - t0;
    int cnt = left < tile ? (int)left : tile;
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

// The smaller of two ints.
AK_FN int ak_min_i(int a, int b) { return a < b ? a : b; }

#ifdef AK_HAS_MMA
// The kind of a quantized type's blocks (ak_unpack_words').
AK_FN constexpr int ak_kind_of(int dtype) {
    return dtype == AK_Q4_1 || dtype == AK_Q5_1   ? AK_B_MIN
           : dtype == AK_Q4_K || dtype == AK_Q5_K ? AK_B_K
           : dtype == AK_Q6_K                     ? AK_B_Q6K
                                                  : AK_B_OFF;
}

// Four signed bytes less 32 each (Q6_K's values, 0 to 63, to -32 to 31): with bit 7 set no
// byte borrows from the next.
AK_FN uint32_t ak_less32(uint32_t v) {
    return ((v | 0x80808080u) - 0x20202020u) ^ 0x80808080u;
}


// What the lanes of a tensor-core tile read: lane l's weight rows (wa, wb), its B fragment's
// token's quantized values (qt), its outputs' tokens' scales and sums (from block 0 of the
// tokens ta and tb), all clamped to the matrix and the launch (ak_matmul_mma_dt).
struct ak_mma_lane {
    const uint8_t *wa, *wb;
    const int8_t* qt;
    const float *da, *db;
    const int32_t *sa, *sb;
};

// Block k of a tensor-core tile for one lane of its warp: the tile's 16 rows (lane l's rows
// l / 4 and l / 4 + 8 of the tile) with its 8 tokens (lane l's B fragment from token l / 4),
// what each lane reads in `l`: the 128 integer products in one mma (Q6_K: one per half, its
// values less 32, so each is scalar.rs's v·a - 32·sum of a for that half), then lane l's four
// outputs' f32 terms, computed as the engine's (ak_int_terms), into tm[c]: c = 0 and 1 row
// l / 4 with tokens 2(l % 4) and 2(l % 4) + 1 of the tile, c = 2 and 3 row l / 4 + 8 with
// them. tm[c][1] is set only for the kinds with two terms.
template <int DT>
AK_FN void ak_mma_terms(int lane, int k, const ak_mma_lane* l, float (*tm)[2]) {
    const int KIND = ak_kind_of(DT);
    int t = lane % 4;
    ak_wblock x, y;
    ak_unpack_words<2, 4>(DT, l->wa, k, t, &x);
    ak_unpack_words<2, 4>(DT, l->wb, k, t, &y);
    uint32_t b0 = ak_u32_aligned(l->qt + AK_QK * k + 4 * t);
    uint32_t b1 = ak_u32_aligned(l->qt + AK_QK * k + 16 + 4 * t);
    float da = l->da[k], db = l->db[k];
    int32_t sa = l->sa[k], sb = l->sb[k];
    int32_t lo[4] = {0, 0, 0, 0}, hi[4] = {0, 0, 0, 0};
    if (KIND == AK_B_Q6K) {
        ak_mma_s8(ak_less32(x.v[0]), ak_less32(y.v[0]), 0u, 0u, b0, b1, lo);
        ak_mma_s8(0u, 0u, ak_less32(x.v[1]), ak_less32(y.v[1]), b0, b1, hi);
    } else {
        ak_mma_s8(x.v[0], y.v[0], x.v[1], y.v[1], b0, b1, lo);
    }
    ak_int_terms<KIND>(&x, lo[0], hi[0], da, sa, tm[0]);
    ak_int_terms<KIND>(&x, lo[1], hi[1], db, sb, tm[1]);
    ak_int_terms<KIND>(&y, lo[2], hi[2], da, sa, tm[2]);
    ak_int_terms<KIND>(&y, lo[3], hi[3], db, sb, tm[3]);
}

// One warp's share of a tensor-core tile (ak_matmul_mma): block k's terms (ak_mma_terms) into
// sh[term · 128 + row · 8 + token].
template <int DT>
AK_FN void ak_mma_block(int lane, int k, const ak_mma_lane* l, float* sh) {
    const int KIND = ak_kind_of(DT);
    int at = lane / 4 * AK_MMA_TOKENS + 2 * (lane % 4);
    float tm[4][2];
    ak_mma_terms<DT>(lane, k, l, tm);
    const int two = KIND == AK_B_MIN || KIND == AK_B_K;
    const int out[4] = {at, at + 1, at + 8 * AK_MMA_TOKENS, at + 8 * AK_MMA_TOKENS + 1};
    AK_UNROLL
    for (int c = 0; c < 4; c++) {
        sh[out[c]] = tm[c][0];
        if (two) sh[AK_MMA_ROWS * AK_MMA_TOKENS + out[c]] = tm[c][1];
    }
}

// Round k0 of ak_matmul_mma_dt: warp j computes the terms of blocks k0 + AK_MMA_BLOCKS · j
// onwards (ak_mma_block) into slots of `sh` (2 x 128 floats a block), then thread tid < 128
// adds its output's terms to acc slot by slot, in block order. The last round (TAIL) may
// have fewer blocks (m) than slots: warps with none skip it, and a warp's slots past the
// row's last block hold that block's terms again, unused.
template <int DT, bool TAIL>
AK_FN void ak_mma_round(int tid, int k0, int nb, const ak_mma_lane* l, float* sh, float* acc) {
    const int KIND = ak_kind_of(DT), two = KIND == AK_B_MIN || KIND == AK_B_K;
    const int outs = AK_MMA_ROWS * AK_MMA_TOKENS, per = AK_MMA_WARPS * AK_MMA_BLOCKS;
    int warp = tid / AK_MM_LANES, lane = tid % AK_MM_LANES;
    int m = TAIL ? nb - k0 : per;
    if (!TAIL || warp * AK_MMA_BLOCKS < m) {
        AK_UNROLL
        for (int u = 0; u < AK_MMA_BLOCKS; u++) {
            int j = warp * AK_MMA_BLOCKS + u, k = k0 + j;
            if (TAIL) k = k < nb ? k : nb - 1;
            ak_mma_block<DT>(lane, k, l, sh + j * 2 * outs);
        }
    }
    __syncthreads();
    if (tid < outs) {
        // The round's terms, 8 blocks at a time, loaded first (past the m blocks, block
        // m - 1's again, unused), then added in block order.
        AK_UNROLL
        for (int j0 = 0; j0 < per; j0 += 8) {
            float tv[8][2];
            AK_UNROLL
            for (int j = 0; j < 8; j++) {
                const float* from = sh + (!TAIL || j0 + j < m ? j0 + j : m - 1) * 2 * outs + tid;
                tv[j][0] = from[0];
                tv[j][1] = two ? from[outs] : 0.0f;
            }
            AK_UNROLL
            for (int j = 0; j < 8; j++) {
                if (!TAIL || j0 + j < m) {
                    *acc = *acc + tv[j][0];
                    if (two) *acc = *acc + tv[j][1];
                }
            }
        }
    }
    __syncthreads();
}

// What lane `lane` of a tensor-core tile's warp reads (ak_mma_lane) for the tile of rows from
// r0 and tokens from t0: its fragments' rows and tokens, past the matrix's last row or the
// launch's last token the last one (no output takes those products).
template <int DT>
AK_FN ak_mma_lane ak_mma_lane_at(int lane, int r0, int t0, const uint8_t* w, int rows, int cols,
                                 int ntok, const int8_t* q, const float* d, const int32_t* s) {
    int nb = cols / AK_QK, rbytes = ak_row_bytes(DT, cols);
    int g = lane / 4, t = lane % 4;
    int ra = ak_min_i(r0 + g, rows - 1), rb = ak_min_i(r0 + g + 8, rows - 1);
    int ta = ak_min_i(t0 + 2 * t, ntok - 1), tb = ak_min_i(t0 + 2 * t + 1, ntok - 1);
    int tq = ak_min_i(t0 + g, ntok - 1);
    ak_mma_lane l = {w + (long long)ra * rbytes, w + (long long)rb * rbytes,
                     q + (long long)tq * cols,   d + (long long)ta * nb,
                     d + (long long)tb * nb,     s + (long long)ta * nb,
                     s + (long long)tb * nb};
    return l;
}

// ak_matmul_mma_warp for weights of type DT, the tile's rows from r0 and tokens from t0: the
// warp walks the whole row, block after block, and lane l adds its four outputs' terms
// (ak_mma_terms) to their sums in block order: the engine's sequential sum, each output by
// one thread, with no barrier and no shared memory. Unrolled by 4 blocks so that their loads
// are in flight together (the sums stay in order).
template <int DT>
AK_FN void ak_matmul_mma_warp_dt(int lane, int r0, int t0, const uint8_t* w, int rows,
                                 int cols, int ntok, const int8_t* q, const float* d,
                                 const int32_t* s, const float* bias, int accumulate,
                                 float* out) {
    const int KIND = ak_kind_of(DT), two = KIND == AK_B_MIN || KIND == AK_B_K;
    int nb = cols / AK_QK;
    ak_mma_lane l = ak_mma_lane_at<DT>(lane, r0, t0, w, rows, cols, ntok, q, d, s);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 4
    for (int k = 0; k < nb; k++) {
        float tm[4][2];
        ak_mma_terms<DT>(lane, k, &l, tm);
        AK_UNROLL
        for (int c = 0; c < 4; c++) {
            acc[c] = acc[c] + tm[c][0];
            if (two) acc[c] = acc[c] + tm[c][1];
        }
    }
    int g = lane / 4, t = lane % 4;
    AK_UNROLL
    for (int c = 0; c < 4; c++) {
        int row = r0 + g + 8 * (c / 2), tok = t0 + 2 * t + c % 2;
        if (row < rows && tok < ntok) {
            float* o = out + (long long)tok * rows + row;
            float y = acc[c];
            if (bias) y = y + bias[row];
            *o = accumulate ? *o + y : y;
        }
    }
}

// ak_matmul_mma for weights of type DT, the tile's rows from r0 and tokens from t0: rounds of
// AK_MMA_WARPS · AK_MMA_BLOCKS blocks of 32 weights (ak_mma_round), so that thread o < 128
// adds every term of output o (row o / 8, token o % 8 of the tile) in block order: the
// engine's sequential sum, by one thread.
template <int DT>
AK_FN void ak_matmul_mma_dt(int tid, float* sh, int r0, int t0, const uint8_t* w, int rows,
                            int cols, int ntok, const int8_t* q, const float* d,
                            const int32_t* s, const float* bias, int accumulate, float* out) {
    const int outs = AK_MMA_ROWS * AK_MMA_TOKENS, per = AK_MMA_WARPS * AK_MMA_BLOCKS;
    int nb = cols / AK_QK;
    ak_mma_lane l = ak_mma_lane_at<DT>(tid % AK_MM_LANES, r0, t0, w, rows, cols, ntok, q, d, s);
    // Output tid (threads below 128): what its end adds, loaded while the sum is computed.
    int orow = r0 + tid / AK_MMA_TOKENS, otok = t0 + tid % AK_MMA_TOKENS;
    bool writes = tid < outs && orow < rows && otok < ntok;
    float* o = out + (long long)otok * rows + orow;
    float before = writes && accumulate ? *o : 0.0f, add = writes && bias ? bias[orow] : 0.0f;
    float acc = 0.0f;
    int k0 = 0;
    for (; k0 + per <= nb; k0 += per) ak_mma_round<DT, false>(tid, k0, nb, &l, sh, &acc);
    if (k0 < nb) ak_mma_round<DT, true>(tid, k0, nb, &l, sh, &acc);
    if (writes) {
        float y = acc;
        if (bias) y = y + add;
        *o = accumulate ? before + y : y;
    }
}

// A quantized type as a compile-time value (ak_mma_types' argument).
template <int V>
struct ak_dtype_c {
    static constexpr int value = V;
};

// Calls f(ak_dtype_c<DT>()) for the types whose blocks have integer products (the
// tensor-core tiles' kernels, instantiated per type); false for any other type.
template <class F>
AK_FN bool ak_mma_types(int dtype, F f) {
    switch (dtype) {
    case AK_Q8_0: f(ak_dtype_c<AK_Q8_0>()); return true;
    case AK_Q4_0: f(ak_dtype_c<AK_Q4_0>()); return true;
    case AK_Q4_1: f(ak_dtype_c<AK_Q4_1>()); return true;
    case AK_Q5_0: f(ak_dtype_c<AK_Q5_0>()); return true;
    case AK_Q5_1: f(ak_dtype_c<AK_Q5_1>()); return true;
    case AK_Q4_K: f(ak_dtype_c<AK_Q4_K>()); return true;
    case AK_Q5_K: f(ak_dtype_c<AK_Q5_K>()); return true;
    case AK_Q6_K: f(ak_dtype_c<AK_Q6_K>()); return true;
    default: return false;
    }
}
#endif

// The fallback of both tensor-core tilings for weights without integer products (F32, F16)
// or a device without tensor cores: thread `who` below AK_MMA_ROWS takes row r0 + who of the
// tile with its tokens from t0 (ak_dot_tile).
AK_FN void ak_mma_tile_rows(int who, int dtype, int r0, int t0, const uint8_t* w, int rows,
                            int cols, int ntok, const float* x, const int8_t* q,
                            const float* d, const int32_t* s, const float* bias,
                            int accumulate, float* out) {
    int nb = cols / AK_QK;
    long long r = r0 + who;
    int cnt = ak_min_i(ntok - t0, AK_MMA_TOKENS);
    if (who < AK_MMA_ROWS && r < rows) {
        ak_dot_tile(dtype, w + r * ak_row_bytes(dtype, cols), cols, cnt, x + t0 * cols,
                    q + t0 * cols, d + t0 * nb, s + t0 * nb, out + t0 * rows + r, rows,
                    bias ? bias + r : 0, accumulate);
    }
}

// Tensor-core tile `tile` of one matrix (ak_matmul_threads' tiling AK_TILE_MMA), computed by
// the AK_MMA_WARPS warps of one block (thread `tid`; `active` or not for the whole block)
// with `sh` (AK_MMA_WARPS · AK_MMA_BLOCKS · 256 floats of shared memory): ak_matmul_mma_dt.
// Weights that have no integer products (F32, F16), or a device without tensor cores, take
// ak_dot_tile with one thread a row instead.
AK_FN void ak_matmul_mma(bool active, int tid, float* sh, long long tile, int dtype,
                         const uint8_t* w, int rows, int cols, int ntok, const float* x,
                         const int8_t* q, const float* d, const int32_t* s, const float* bias,
                         int accumulate, float* out) {
    if (!active) return;
    // A launch's tiles, and so its rows and tokens, number less than 2^31.
    long long r0l, t0l;
    ak_mma_tile_at(tile, ntok, &r0l, &t0l);
    int r0 = (int)r0l, t0 = (int)t0l;
#ifdef AK_HAS_MMA
    if (ak_mma_types(dtype, [&](auto dt) {
            ak_matmul_mma_dt<decltype(dt)::value>(tid, sh, r0, t0, w, rows, cols, ntok, q, d,
                                                  s, bias, accumulate, out);
        }))
        return;
#endif
    ak_mma_tile_rows(tid, dtype, r0, t0, w, rows, cols, ntok, x, q, d, s, bias, accumulate, out);
}

// Tensor-core tile `tile` of one matrix (ak_matmul_threads' tiling AK_TILE_MMA_WARP) computed
// by one warp alone (lane `lane`; `active` or not for the whole warp): ak_matmul_mma_warp_dt.
// Weights without integer products, or a device without tensor cores, take ak_dot_tile with
// one lane a row instead.
AK_FN void ak_matmul_mma_warp(bool active, int lane, long long tile, int dtype,
                              const uint8_t* w, int rows, int cols, int ntok, const float* x,
                              const int8_t* q, const float* d, const int32_t* s,
                              const float* bias, int accumulate, float* out) {
    if (!active) return;
    long long r0l, t0l;
    ak_mma_tile_at(tile, ntok, &r0l, &t0l);
    int r0 = (int)r0l, t0 = (int)t0l;
#ifdef AK_HAS_MMA
    if (ak_mma_types(dtype, [&](auto dt) {
            ak_matmul_mma_warp_dt<decltype(dt)::value>(lane, r0, t0, w, rows, cols, ntok, q, d,
                                                       s, bias, accumulate, out);
        }))
        return;
#endif
    ak_mma_tile_rows(lane, dtype, r0, t0, w, rows, cols, ntok, x, q, d, s, bias, accumulate,
                     out);
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

// Head i of token t's queries (nh a token) then keys (nkv), i = t * (nh + nkv) + head: its
// row of q or k, the norm weights that apply, and where the normalized row goes.
struct ak_norm_head {
    const float* x;
    const float* w;
    float* out;
    long long t;
    int key;
};

AK_FN ak_norm_head ak_norm_head_at(long long i, const float* q, int nh, const float* k, int nkv,
                                   int hd, const float* wq, const float* wk, float* qn,
                                   float* kn) {
    long long t = i / (nh + nkv);
    int head = (int)(i % (nh + nkv));
    ak_norm_head h;
    h.t = t;
    h.key = head >= nh;
    long long off = h.key ? (t * nkv + head - nh) * hd : (t * nh + head) * hd;
    h.x = (h.key ? k : q) + off;
    h.w = h.key ? wk : wq;
    h.out = (h.key ? kn : qn) + off;
    return h;
}

// RoPE of pair p of a normalized head (in place), and for a key its two values into row
// rows[t] of the key cache (kv wide) as binary16.
AK_FN void ak_norm_rope_pair(const ak_norm_head* h, int hd, const float* cs, int neox, int p,
                             const int32_t* rows, int kv, int kvhead, uint16_t* kc) {
    ak_rope_head_pair(h->out, hd, cs + h->t * hd, neox, p);
    if (h->key) {
        int a = ak_rope_first(neox, p), b = ak_rope_second(hd, neox, p);
        uint16_t* row = kc + (long long)rows[h->t] * kv + kvhead * hd;
        row[a] = ak_f32_to_f16(h->out[a]);
        row[b] = ak_f32_to_f16(h->out[b]);
    }
}

// Qwen 3's and Gemma 3's per-head query and key norms with the RoPE and the cache writes, in
// one launch (two ak_fwd_rmsnorm launches and ak_fwd_rope_kv): group i below ntok * (nh +
// nkv) is a head, normalized into qn or kn (ak_rmsnorm_row with wq or wk), then turned pair
// by pair in place, a key's pairs also written to its cache row; the rest are the step's
// values, AK_QK a group, into the value cache as binary16.
AK_FN void ak_fwd_norm_rope_kv_at(long long i, const float* q, int nh, const float* k, int nkv,
                                  int hd, const float* cs, int neox, int ntok, const float* v,
                                  const int32_t* rows, uint16_t* kc, uint16_t* vc,
                                  const float* wq, const float* wk, float eps, float* qn,
                                  float* kn) {
    int kv = nkv * hd;
    long long heads = (long long)ntok * (nh + nkv);
    if (i >= heads) {
        long long e0 = (i - heads) * AK_QK, all = (long long)ntok * kv;
        for (long long e = e0; e < e0 + AK_QK && e < all; e++)
            vc[(long long)rows[e / kv] * kv + e % kv] = ak_f32_to_f16(v[e]);
        return;
    }
    ak_norm_head h = ak_norm_head_at(i, q, nh, k, nkv, hd, wq, wk, qn, kn);
    ak_rmsnorm_row(h.x, h.w, eps, hd, h.out);
    int kvhead = (int)(i % (nh + nkv)) - nh;
    for (int p = 0; p < hd / 2; p++) ak_norm_rope_pair(&h, hd, cs, neox, p, rows, kv, kvhead, kc);
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
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_embed_at(i, dtype, table, cols, tokens, out);
}
AK_GLOBAL void ak_fwd_scale(long long n, float* x, float c) {
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_scale_at(i, x, c);
}
AK_GLOBAL void ak_fwd_quantize(long long n, const float* x, int8_t* q, float* d, int32_t* s) {
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_quantize_at(i, x, q, d, s);
}
// Values of a row whose squares a warp loads in one round before lane 0 adds them.
#define AK_NORM_ROUND 1024
// Values a lane normalizes from one round of loads (ak_rmsnorm_rows).
#define AK_NORM_CHUNK 16

#if AK_MM_LANES > 1
// ss plus v[0], v[1], ... v[n - 1], one addition at a time in that order (a row's sum of
// squares, as ak_rms_scale's loop), the values loaded AK_MM_LANES at a time ahead of their
// additions.
AK_FN float ak_add_in_order(float ss, const float* v, int n) {
    int b = 0;
    for (; b + AK_MM_LANES <= n; b += AK_MM_LANES) {
        AK_UNROLL
        for (int j = 0; j < AK_MM_LANES; j++) ss += v[b + j];
    }
    for (; b < n; b++) ss += v[b];
    return ss;
}

// The RMSNorm scale 1 / sqrtf(sum of squares / width + eps) of row xr (any width) by one warp,
// with its `sq` (AK_NORM_ROUND floats of shared memory) and `scale` (one): lane 0 sums the
// squares in order, as ak_rms_scale's loop, in rounds of up to AK_NORM_ROUND values, each lane
// loading and squaring AK_NORM_ROUND / 32 of them with all its loads issued before their first
// use (one round, one memory latency, for rows of up to 1024). Every thread of the block calls
// it and meets its barriers, `active` or not; every active lane gets the scale.
AK_FN float ak_warp_rms_scale(bool active, int lane, const float* xr, int width, float eps,
                              float* sq, float* scale) {
    float ss = 0.0f;
    for (int k = 0; k < width; k += AK_NORM_ROUND) {
        int cnt = width - k < AK_NORM_ROUND ? width - k : AK_NORM_ROUND;
        if (active) {
            // Past the row's end a lane reloads the row's last value: stored, never added.
            float v[AK_NORM_ROUND / AK_MM_LANES];
            AK_UNROLL
            for (int r = 0; r < AK_NORM_ROUND / AK_MM_LANES; r++) {
                int c = k + r * AK_MM_LANES + lane;
                v[r] = xr[c < width ? c : width - 1];
            }
            AK_UNROLL
            for (int r = 0; r < AK_NORM_ROUND / AK_MM_LANES; r++)
                sq[r * AK_MM_LANES + lane] = v[r] * v[r];
        }
        __syncthreads();
        if (active && lane == 0) ss = ak_add_in_order(ss, sq, cnt);
        __syncthreads();
    }
    if (active && lane == 0) *scale = ak_rms_scale_of(ss, width, eps);
    __syncthreads();
    return active ? *scale : 0.0f;
}

// n rows, a warp each: ak_warp_rms_scale, then lane l normalizes values l, l + 32, ... as
// ak_rmsnorm_row does, into out, or with ADD added to what out holds (ak_fwd_rmsnorm_add_at).
// One thread per row left each thread hundreds of dependent steps: 40 us a launch on an H200,
// most of Gemma's decode step.
// `sq` and `scale` are the block's shared memory: AK_MM_GROUPS rows of AK_NORM_ROUND, and
// AK_MM_GROUPS.
template <bool ADD>
AK_FN void ak_rmsnorm_rows(long long n, const float* x, const float* w, float eps, int width,
                           float* out, float (*sq)[AK_NORM_ROUND], float* scale) {
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int lane = threadIdx.x % AK_MM_LANES, slot = threadIdx.x / AK_MM_LANES;
    bool active = i < n;
    const float* xr = x + (active ? i : 0) * width;
    float sc = ak_warp_rms_scale(active, lane, xr, width, eps, sq[slot], &scale[slot]);
    // Each lane reads and writes its own values only (`out` may be `x`), in chunks of
    // AK_NORM_CHUNK values a lane: the chunk's loads, a barrier, then its stores. Without the
    // barrier ptxas moves each load of `out` (the add's stream) down to just before its
    // store, and a warp issuing in order then waits one memory latency per value: 14 us a
    // launch for Gemma's 640-wide rows with the add. Every thread of the block runs the same
    // chunks (width is the launch's) and meets every barrier, active or not.
    float* o = out + (active ? i : 0) * width;
    for (int c0 = 0; c0 < width; c0 += AK_NORM_CHUNK * AK_MM_LANES) {
        float xv[AK_NORM_CHUNK], wv[AK_NORM_CHUNK], ov[AK_NORM_CHUNK];
        AK_UNROLL
        for (int r = 0; r < AK_NORM_CHUNK; r++) {
            // Past the row's end nothing is loaded (a lane reads only values it writes).
            int c = c0 + r * AK_MM_LANES + lane;
            bool in = active && c < width;
            xv[r] = in ? xr[c] : 0.0f;
            wv[r] = in ? w[c] : 0.0f;
            ov[r] = ADD && in ? o[c] : 0.0f;
        }
        __syncthreads();
        AK_UNROLL
        for (int r = 0; r < AK_NORM_CHUNK; r++) {
            int c = c0 + r * AK_MM_LANES + lane;
            float y = (xv[r] * sc) * wv[r];
            if (active && c < width) o[c] = ADD ? ov[r] + y : y;
        }
    }
}
#endif

// n activation blocks, a warp each: the row's scale (ak_warp_rms_scale; every block of a row
// sums the row's squares itself, in the same order), lane l's value normalized, then the block
// quantized by the warp (ak_quantize_block_warp).
AK_GLOBAL void ak_fwd_norm_quant(long long n, const float* x, const float* w, float eps,
                                 int width, float* out, int8_t* q, float* d, int32_t* s) {
    AK_GRID_WAIT();
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
    float sc = ak_warp_rms_scale(active, lane, xr, width, eps, sq[slot], &scale[slot]);
    float o = 0.0f;
    if (active) {
        o = (xl * sc) * wl;
        out[AK_QK * i + lane] = o;
    }
    ak_quantize_block_warp(active, lane, o, &qw[slot], q + AK_QK * i, d + i, s + i);
#else
    AK_FWD_INDEX ak_fwd_norm_quant_at(i, x, w, eps, width, out, q, d, s);
#endif
}
#if AK_ATTN_THREADS > 1
// Widest row ak_fwd_add_norm_quant takes (its squares and its new row in shared memory, 32 KB;
// the host takes the two launches past it).
#define AK_ADD_NORM_MAX 4096
#endif

// n rows, a block each (ak_fwd_add_norm_quant_at): the block's threads square y's row into
// shared memory, thread 0 sums the squares in order, every thread adds its values' norm to the
// stream (x, in place) and squares the new values, thread 0 sums those, then warp w
// normalizes and quantizes blocks w, w + 8, ... of the row (ak_quantize_block_warp). Gemma's
// norm with the add took a warp a row and the next norm a warp a block, each summing its
// row's squares again: two launches where this is one, with one sum of each.
AK_GLOBAL void ak_fwd_add_norm_quant(long long n, const float* y, const float* wpost,
                                     const float* wpre, float eps, int width, float* x,
                                     float* out, int8_t* q, float* d, int32_t* s) {
    AK_GRID_WAIT();
    long long i = blockIdx.x;
    if (i >= n) return;
#if AK_ATTN_THREADS > 1
    __shared__ float sq[AK_ADD_NORM_MAX];
    __shared__ float xs[AK_ADD_NORM_MAX];
    __shared__ float scale[2];
    __shared__ ak_quant_warp qw[AK_MM_GROUPS];
    int tid = threadIdx.x;
    const float* yr = y + i * width;
    float* xr = x + i * width;
    for (int c = tid; c < width; c += AK_ATTN_THREADS) {
        float v = yr[c];
        sq[c] = v * v;
    }
    __syncthreads();
    if (tid == 0) scale[0] = ak_rms_scale_of(ak_add_in_order(0.0f, sq, width), width, eps);
    __syncthreads();
    float sa = scale[0];
    for (int c = tid; c < width; c += AK_ATTN_THREADS) {
        float v = xr[c] + (yr[c] * sa) * wpost[c];
        xr[c] = v;
        xs[c] = v;
        sq[c] = v * v;
    }
    __syncthreads();
    if (tid == 0) scale[1] = ak_rms_scale_of(ak_add_in_order(0.0f, sq, width), width, eps);
    __syncthreads();
    float sb = scale[1];
    int per = width / AK_QK, warp = tid / AK_MM_LANES, lane = tid % AK_MM_LANES;
    // Every thread runs the same rounds and meets every barrier, its warp's block or not.
    for (int b0 = 0; b0 < per; b0 += AK_MM_GROUPS) {
        int b = b0 + warp;
        bool act = b < per;
        int c = AK_QK * b + lane;
        float o = 0.0f;
        if (act) {
            o = (xs[c] * sb) * wpre[c];
            out[i * width + c] = o;
        }
        long long blk = i * per + b;
        ak_quantize_block_warp(act, lane, o, &qw[warp], q + AK_QK * blk, d + blk, s + blk);
    }
#else
    if (threadIdx.x == 0) ak_fwd_add_norm_quant_at(i, y, wpost, wpre, eps, width, x, out, q, d, s);
#endif
}
// n rows, a warp each (Gemma 3's per-head query and key norms, the final norm where no matmul
// follows): ak_rmsnorm_rows.
AK_GLOBAL void ak_fwd_rmsnorm(long long n, const float* x, const float* w, float eps, int width,
                              float* out) {
    AK_GRID_WAIT();
#if AK_MM_LANES > 1
    __shared__ float sq[AK_MM_GROUPS][AK_NORM_ROUND];
    __shared__ float scale[AK_MM_GROUPS];
    ak_rmsnorm_rows<false>(n, x, w, eps, width, out, sq, scale);
#else
    AK_FWD_INDEX ak_fwd_rmsnorm_at(i, x, w, eps, width, out);
#endif
}
// n rows, a warp each: out's rows plus the RMSNorm of x's (Gemma 3's norms after the attention
// and the feed-forward with the residual add, one launch instead of two).
AK_GLOBAL void ak_fwd_rmsnorm_add(long long n, const float* x, const float* w, float eps,
                                  int width, float* out) {
    AK_GRID_WAIT();
#if AK_MM_LANES > 1
    __shared__ float sq[AK_MM_GROUPS][AK_NORM_ROUND];
    __shared__ float scale[AK_MM_GROUPS];
    ak_rmsnorm_rows<true>(n, x, w, eps, width, out, sq, scale);
#else
    AK_FWD_INDEX ak_fwd_rmsnorm_add_at(i, x, w, eps, width, out);
#endif
}
// n output groups (ak_fwd_matmul_at's), AK_MM_LANES threads each, in tiles of `tile` (1 to
// AK_TILE_MAX) tokens.
AK_GLOBAL void ak_fwd_matmul(long long n, int cols, int ntok, int tile, const float* x,
                             const int8_t* q, const float* d, const int32_t* s, int accumulate,
                             int dt0, const uint8_t* w0, int rows0, const float* b0, float* o0,
                             int dt1, const uint8_t* w1, int rows1, const float* b1, float* o1,
                             int dt2, const uint8_t* w2, int rows2, const float* b2, float* o2) {
    AK_GRID_WAIT();
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
// ak_fwd_matmul in tensor-core tiles (`tile` AK_TILE_MMA): n output groups, each block of
// AK_MMA_WARPS of them one tile (ak_matmul_mma). A kernel of its own, so that its registers
// (more than the dp4a tiles need) do not lower how many blocks of those an SM holds.
AK_GLOBAL void ak_fwd_matmul_mma(long long n, int cols, int ntok, int tile, const float* x,
                                 const int8_t* q, const float* d, const int32_t* s,
                                 int accumulate, int dt0, const uint8_t* w0, int rows0,
                                 const float* b0, float* o0, int dt1, const uint8_t* w1,
                                 int rows1, const float* b1, float* o1, int dt2,
                                 const uint8_t* w2, int rows2, const float* b2, float* o2) {
    AK_GRID_WAIT();
#if AK_MM_LANES > 1
    __shared__ float sh[AK_MMA_WARPS * AK_MMA_BLOCKS * 2 * AK_MMA_ROWS * AK_MMA_TOKENS];
    long long g = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    long long i = g;
    AK_MM_PICK(i)
    ak_matmul_mma(g < n && tile == AK_TILE_MMA, threadIdx.x, sh, i / AK_MMA_WARPS, dt, w, rows,
                  cols, ntok, x, q, d, s, b, accumulate, o);
#else
    AK_FWD_INDEX ak_fwd_matmul_at(i, cols, ntok, tile, x, q, d, s, accumulate, dt0, w0, rows0, b0,
                                  o0, dt1, w1, rows1, b1, o1, dt2, w2, rows2, b2, o2);
#endif
}
// ak_fwd_matmul in tensor-core tiles computed by one warp each (`tile` AK_TILE_MMA_WARP): n
// output groups, each a tile (ak_matmul_mma_warp). A kernel of its own for its registers, as
// ak_fwd_matmul_mma.
AK_GLOBAL void ak_fwd_matmul_mma_warp(long long n, int cols, int ntok, int tile, const float* x,
                                      const int8_t* q, const float* d, const int32_t* s,
                                      int accumulate, int dt0, const uint8_t* w0, int rows0,
                                      const float* b0, float* o0, int dt1, const uint8_t* w1,
                                      int rows1, const float* b1, float* o1, int dt2,
                                      const uint8_t* w2, int rows2, const float* b2, float* o2) {
    AK_GRID_WAIT();
#if AK_MM_LANES > 1
    long long g = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    long long i = g;
    AK_MM_PICK(i)
    ak_matmul_mma_warp(g < n && tile == AK_TILE_MMA_WARP, threadIdx.x % AK_MM_LANES, i, dt, w,
                       rows, cols, ntok, x, q, d, s, b, accumulate, o);
#else
    AK_FWD_INDEX ak_fwd_matmul_at(i, cols, ntok, tile, x, q, d, s, accumulate, dt0, w0, rows0, b0,
                                  o0, dt1, w1, rows1, b1, o1, dt2, w2, rows2, b2, o2);
#endif
}
AK_GLOBAL void ak_fwd_rope_kv(long long n, float* q, int nh, float* k, int nkv, int hd,
                              const float* cs, int neox, int ntok, const float* v,
                              const int32_t* rows, uint16_t* kc, uint16_t* vc) {
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_rope_kv_at(i, q, nh, k, nkv, hd, cs, neox, ntok, v, rows, kc, vc);
}
// ak_fwd_norm_rope_kv_at with a warp per group: a head's warp takes its row's scale
// (ak_warp_rms_scale: lane 0 sums the squares in order), each lane normalizes every 32nd
// value, the block meets at a barrier (a pair's two values come from different lanes), then
// each lane turns every 32nd pair; a value group's lane l copies value l. Every thread of the
// block meets the same barriers (hd is the launch's), whatever its warp's group.
AK_GLOBAL void ak_fwd_norm_rope_kv(long long n, const float* q, int nh, const float* k, int nkv,
                                   int hd, const float* cs, int neox, int ntok, const float* v,
                                   const int32_t* rows, uint16_t* kc, uint16_t* vc,
                                   const float* wq, const float* wk, float eps, float* qn,
                                   float* kn) {
    AK_GRID_WAIT();
#if AK_MM_LANES > 1
    __shared__ float sq[AK_MM_GROUPS][AK_NORM_ROUND];
    __shared__ float scale[AK_MM_GROUPS];
    long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int lane = threadIdx.x % AK_MM_LANES, slot = threadIdx.x / AK_MM_LANES;
    int kv = nkv * hd;
    long long heads = (long long)ntok * (nh + nkv);
    bool head = i < heads;
    ak_norm_head h = ak_norm_head_at(head ? i : 0, q, nh, k, nkv, hd, wq, wk, qn, kn);
    float sc = ak_warp_rms_scale(head, lane, h.x, hd, eps, sq[slot], &scale[slot]);
    if (head) {
        for (int e = lane; e < hd; e += AK_MM_LANES) h.out[e] = (h.x[e] * sc) * h.w[e];
    }
    __syncthreads();
    if (head) {
        int kvhead = (int)(i % (nh + nkv)) - nh;
        for (int p = lane; p < hd / 2; p += AK_MM_LANES)
            ak_norm_rope_pair(&h, hd, cs, neox, p, rows, kv, kvhead, kc);
    } else if (i < n) {
        long long e = (i - heads) * AK_QK + lane;
        if (e < (long long)ntok * kv)
            vc[(long long)rows[e / kv] * kv + e % kv] = ak_f32_to_f16(v[e]);
    }
#else
    AK_FWD_INDEX ak_fwd_norm_rope_kv_at(i, q, nh, k, nkv, hd, cs, neox, ntok, v, rows, kc, vc, wq,
                                        wk, eps, qn, kn);
#endif
}
#if AK_ATTN_THREADS > 1
// Positions whose scores ak_fwd_attention keeps in shared memory (16 KB): the most a head of
// its launch may see (the host takes ak_fwd_attention_long past them).
#define AK_ATTN_SHARED 4096

// The attention of head a by the block's threads, each step shared by them, thread 0 taking
// the max and the sum, the block meeting at a barrier between steps. The scores and
// numerators live in `sh` (shared memory, a.n <= AK_ATTN_SHARED) when SHARED, else in a.s in
// global memory. With SHARED and a head at most a block wide, thread e computes output e and
// keeps it for the quantization (warp w holds block w of the head's outputs); else the
// outputs are read back. Each is its own kernel: in one, ptxas gives the pair 168 registers
// where each alone takes 64 and 56.
template <bool SHARED>
AK_FN void ak_attn_block(ak_attn_head a, float* sh, float* stat, ak_quant_warp* qw, int tid,
                         long long i, int8_t* qq, float* qd, int32_t* qs) {
    if (SHARED) a.s = sh;
    ak_attn_scores_part(&a, tid, AK_ATTN_THREADS);
    __syncthreads();
    if (tid == 0) stat[0] = ak_attn_max(a.s, a.n);
    __syncthreads();
    ak_attn_exps_part(&a, stat[0], tid, AK_ATTN_THREADS);
    __syncthreads();
    if (tid == 0) stat[1] = ak_attn_sum(a.s, a.n);
    __syncthreads();
    int lane = tid % AK_MM_LANES, per = a.hd / AK_QK;
    if (SHARED && a.hd <= AK_ATTN_THREADS) {
        float o = 0.0f;
        if (tid < a.hd) {
            o = ak_attn_value(a.s, stat[1], a.v, a.n, a.kv, tid);
            a.out[tid] = o;
        }
        if (qq) {
            int b = tid / AK_MM_LANES;
            long long blk = i * per + b;
            ak_quantize_block_warp(b < per, lane, o, &qw[b], qq + AK_QK * blk, qd + blk,
                                   qs + blk);
        }
        return;
    }
    ak_attn_values_part(&a, stat[1], tid, AK_ATTN_THREADS);
    if (qq) {
        // The head's output blocks, a warp each (the block's 8 warps in rounds), read back.
        __syncthreads();
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
}
#endif

// One block of AK_ATTN_THREADS threads per (token, head) n (ak_attn_block), every head seeing
// at most AK_ATTN_SHARED positions: its scores in shared memory.
AK_GLOBAL void ak_fwd_attention(long long n, const float* q, const uint16_t* k, const uint16_t* v,
                                const int32_t* meta, int nh, int group, int hd, int kv, int maxn,
                                float* s, float* out, int8_t* qq, float* qd, int32_t* qs) {
    AK_GRID_WAIT();
    long long i = blockIdx.x;
    if (i >= n) return;
#if AK_ATTN_THREADS > 1
    __shared__ float sh[AK_ATTN_SHARED];
    __shared__ float stat[2];
    __shared__ ak_quant_warp qw[AK_MM_GROUPS];
    ak_attn_head a = ak_fwd_attn_head(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out);
    ak_attn_block<true>(a, sh, stat, qw, threadIdx.x, i, qq, qd, qs);
#else
    if (threadIdx.x == 0) ak_fwd_attention_at(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out, qq, qd, qs);
#endif
}
// ak_fwd_attention for heads that may see more positions: their scores in their rows of s.
AK_GLOBAL void ak_fwd_attention_long(long long n, const float* q, const uint16_t* k,
                                     const uint16_t* v, const int32_t* meta, int nh, int group,
                                     int hd, int kv, int maxn, float* s, float* out, int8_t* qq,
                                     float* qd, int32_t* qs) {
    AK_GRID_WAIT();
    long long i = blockIdx.x;
    if (i >= n) return;
#if AK_ATTN_THREADS > 1
    __shared__ float stat[2];
    __shared__ ak_quant_warp qw[AK_MM_GROUPS];
    ak_attn_head a = ak_fwd_attn_head(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out);
    ak_attn_block<false>(a, 0, stat, qw, threadIdx.x, i, qq, qd, qs);
#else
    if (threadIdx.x == 0) ak_fwd_attention_at(i, q, k, v, meta, nh, group, hd, kv, maxn, s, out, qq, qd, qs);
#endif
}
AK_GLOBAL void ak_fwd_gated(long long n, int gelu, const float* g, const float* u, float* out) {
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_gated_at(i, gelu, g, u, out);
}
// n activation blocks, a warp each: lane l gates value l, then the warp quantizes the block.
AK_GLOBAL void ak_fwd_gated_quant(long long n, int gelu, const float* g, const float* u,
                                  float* out, int8_t* q, float* d, int32_t* s) {
    AK_GRID_WAIT();
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
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_softcap_at(i, x, c);
}
AK_GLOBAL void ak_fwd_gather(long long n, const float* x, const int32_t* idx, int width,
                             float* out) {
    AK_GRID_WAIT();
    AK_FWD_INDEX ak_fwd_gather_at(i, x, idx, width, out);
}
#endif
