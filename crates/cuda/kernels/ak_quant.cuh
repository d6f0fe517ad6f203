// Activation quantization and the per-row dot products of every weight type the engine
// runs, in the scalar reference's order (crates/engine/src/kernels/{acts,scalar,kquant}.rs).
// One call computes one output: one activation block, or one (row, token) dot product.
#pragma once
#include "ak_prelude.cuh"

// Round to nearest, ties to even, for |y| < 2^22 by adding and subtracting 1.5 * 2^23
// (acts.rs round_even); larger values and NaN pass through.
AK_FN float ak_round_even(float y) {
    const float M = 12582912.0f;
    if (ak_fabs(y) < 4194304.0f) return (y + M) - M;
    return y;
}

// Quantizes one block of 32 activations: q = round_even(x / d) clamped to +-127 (NaN -> 0,
// as Rust's `as i8`), d = amax / 127 (NaN values never raise amax), s = sum of q.
// d == 0 gives zeros.
// The block's scale: amax / 127, amax from 0 in value order (a NaN never raises it).
AK_FN float ak_quant_scale(const float* x) {
    float amax = 0.0f;
    for (int i = 0; i < AK_QK; i++) {
        float a = ak_fabs(x[i]);
        if (a > amax) amax = a;
    }
    return ak_div(amax, 127.0f);
}

// One value at scale db.
AK_FN int ak_quant_value(float x, float db) {
    if (db == 0.0f) return 0;
    float y = ak_round_even(ak_div(x, db));
    if (y != y) return 0;
    if (y < -127.0f) return -127;
    if (y > 127.0f) return 127;
    return (int)y;
}

AK_FN void ak_quantize_block(const float* x, int8_t* q, float* d, int32_t* s) {
    float db = ak_quant_scale(x);
    *d = db;
    int32_t sum = 0;
    for (int i = 0; i < AK_QK; i++) {
        int r = ak_quant_value(x[i], db);
        q[i] = (int8_t)r;
        sum += r;
    }
    *s = sum;
}

// 6-bit scale and minimum of sub-block j of a Q4_K/Q5_K block (get_scale_min_k4).
AK_FN void ak_k4_scale_min(const uint8_t* sc, int j, int32_t* scale, int32_t* min) {
    if (j < 4) {
        *scale = sc[j] & 63;
        *min = sc[j + 4] & 63;
    } else {
        *scale = (sc[j + 4] & 0x0F) | ((sc[j - 4] >> 6) << 4);
        *min = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
}

// Most tokens one thread of the matmul takes (a launch's tile is 1 to AK_TILE_MAX).
#define AK_TILE_MAX 8

// One block of 32 weights of a quantized row, unpacked once for every token it meets: its
// integer values as 8 words of 4 signed bytes (value 4w + b in byte b of word w), the f32
// scale (and minimum) of the block, and what the dot product does with them (the engine's
// per-type code, crates/engine/src/kernels/{scalar,kquant}.rs):
//   AK_B_OFF  (Q8_0, Q4_0, Q5_0): sum = v·a - off·s;          acc += (fa·d)·sum
//   AK_B_MIN  (Q4_1, Q5_1):       sum = v·a;                  acc += (fa·d)·sum; acc += (fb·d)·s
//   AK_B_K    (Q4_K, Q5_K):       isum = v·a;                 acc += (fa·d)·(sc·isum);
//                                                              acc -= (fb·d)·(m·s)
//   AK_B_Q6K  (Q6_K):             isum = s0·(v·a)[0,16) + s1·(v·a)[16,32); acc += (fa·d)·isum
//                                 (Q6_K's values are stored as v + 32, 0 to 63, and the 32 is
//                                 taken off as 32·(sum of a) per half)
// Every integer term is exact in i32 (dp4a included), so only the f32 operations' order
// matters, and that is the engine's.
#define AK_B_OFF 0
#define AK_B_MIN 1
#define AK_B_K 2
#define AK_B_Q6K 3

struct ak_wblock {
    uint32_t v[8];
    float fa, fb;
    int32_t kind, i0, i1;
};

// A word of a block's bytes: read whole where the block's size (and so every block's address
// in a row) is a multiple of 4 (Q4_1, Q5_1, Q4_K, Q5_K), as two halves where it is only even.
template <bool ALIGNED>
AK_FN uint32_t ak_block_word(const uint8_t* p) {
    return ALIGNED ? ak_u32_aligned(p) : ak_u32_even(p);
}

// Word w of a block's nibbles (values 4w .. 4w+3): the low nibbles of the 16 bytes qs are
// values 0..15, the high ones 16..31 (scalar.rs nib_dot's order).
template <bool ALIGNED>
AK_FN uint32_t ak_nibble_word(const uint8_t* qs, int w) {
    return (ak_block_word<ALIGNED>(qs + 4 * (w & 3)) >> (4 * (w >> 2))) & 0x0F0F0F0Fu;
}

// The 5th bits of word w's values from bits 4w .. 4w+3 of the mask h (Q5_0/Q5_1, kquant.rs
// q5_values), at bit 4 of each byte.
AK_FN uint32_t ak_high_bits(uint32_t h, int w) {
    uint32_t m = (h >> (4 * w)) & 0xFu;
    return ((m & 1u) << 4) | ((m & 2u) << 11) | ((m & 4u) << 18) | ((m & 8u) << 25);
}

// Unpacks COUNT words of block k (values 32k .. 32k+31) of a quantized row: word
// first + STEP·i into b->v[i], with the block's scales and kind; false for F32/F16 and
// unknown types. All eight words (ak_unpack_block) for the dp4a products; words t and t + 4
// for a lane's share of a tensor-core product (ak_mma_block).
template <int COUNT, int STEP>
AK_FN bool ak_unpack_words(int dtype, const uint8_t* row, int k, int first, ak_wblock* b) {
    b->fb = 0.0f;
    b->i0 = 0;
    b->i1 = 0;
    switch (dtype) {
    case AK_Q8_0: {
        const uint8_t* blk = row + 34 * k;
        b->kind = AK_B_OFF;
        b->fa = ak_f16_at(blk);
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) b->v[i] = ak_u32_even(blk + 2 + 4 * (first + STEP * i));
        return true;
    }
    case AK_Q4_0: {
        const uint8_t* blk = row + 18 * k;
        b->kind = AK_B_OFF;
        b->fa = ak_f16_at(blk);
        b->i0 = 8;
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) b->v[i] = ak_nibble_word<false>(blk + 2, first + STEP * i);
        return true;
    }
    case AK_Q4_1: {
        const uint8_t* blk = row + 20 * k;
        b->kind = AK_B_MIN;
        b->fa = ak_f16_at(blk);
        b->fb = ak_f16_at(blk + 2);
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) b->v[i] = ak_nibble_word<true>(blk + 4, first + STEP * i);
        return true;
    }
    case AK_Q5_0: {
        const uint8_t* blk = row + 22 * k;
        b->kind = AK_B_OFF;
        b->fa = ak_f16_at(blk);
        b->i0 = 16;
        uint32_t h = ak_u32_even(blk + 2);
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) {
            int w = first + STEP * i;
            b->v[i] = ak_nibble_word<false>(blk + 6, w) | ak_high_bits(h, w);
        }
        return true;
    }
    case AK_Q5_1: {
        const uint8_t* blk = row + 24 * k;
        b->kind = AK_B_MIN;
        b->fa = ak_f16_at(blk);
        b->fb = ak_f16_at(blk + 2);
        uint32_t h = ak_block_word<true>(blk + 4);
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) {
            int w = first + STEP * i;
            b->v[i] = ak_nibble_word<true>(blk + 8, w) | ak_high_bits(h, w);
        }
        return true;
    }
    case AK_Q4_K:
    case AK_Q5_K: {
        int five = dtype == AK_Q5_K, j = k % 8;
        const uint8_t* blk = row + (five ? 176 : 144) * (k / 8);
        const uint8_t* bytes = blk + (five ? 48 : 16) + 32 * (j / 2);
        b->kind = AK_B_K;
        b->fa = ak_f16_at(blk);
        b->fb = ak_f16_at(blk + 2);
        ak_k4_scale_min(blk + 4, j, &b->i0, &b->i1);
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) {
            int w = first + STEP * i;
            uint32_t nib = (ak_block_word<true>(bytes + 4 * w) >> (4 * (j % 2))) & 0x0F0F0F0Fu;
            uint32_t hi =
                five ? ((ak_block_word<true>(blk + 16 + 4 * w) >> j) & 0x01010101u) << 4 : 0u;
            b->v[i] = nib | hi;
        }
        return true;
    }
    case AK_Q6_K: {
        int j = k % 8, n = j / 4, g = j % 4;
        const uint8_t* blk = row + 210 * (k / 8);
        b->kind = AK_B_Q6K;
        b->fa = ak_f16_at(blk + 208);
        b->i0 = (int8_t)blk[192 + 2 * j];
        b->i1 = (int8_t)blk[193 + 2 * j];
        AK_UNROLL
        for (int i = 0; i < COUNT; i++) {
            int w = first + STEP * i;
            uint32_t lo = ak_u32_even(blk + 64 * n + 32 * (g % 2) + 4 * w);
            uint32_t nib = (lo >> (g < 2 ? 0 : 4)) & 0x0F0F0F0Fu;
            uint32_t hi = (ak_u32_even(blk + 128 + 32 * n + 4 * w) >> (2 * g)) & 0x03030303u;
            b->v[i] = nib | (hi << 4);
        }
        return true;
    }
    default:
        return false;
    }
}

// Unpacks block k (values 32k .. 32k+31) of a quantized row; false for F32/F16 and unknown
// types.
AK_FN bool ak_unpack_block(int dtype, const uint8_t* row, int k, ak_wblock* b) {
    return ak_unpack_words<8, 1>(dtype, row, k, 0, b);
}

// Sum of v·a over words [from, to) of a block (a: 32 quantized activations, 4-aligned).
AK_FN int32_t ak_idot(const uint32_t* v, const int8_t* a, int from, int to) {
    int32_t s = 0;
    AK_UNROLL
    for (int w = from; w < to; w++) s = ak_dp4a(v[w], ak_u32_aligned(a + 4 * w), s);
    return s;
}

// Sum of a over words [from, to).
AK_FN int32_t ak_isum(const int8_t* a, int from, int to) {
    int32_t s = 0;
    AK_UNROLL
    for (int w = from; w < to; w++) s = ak_dp4a(0x01010101u, ak_u32_aligned(a + 4 * w), s);
    return s;
}

// acc after block b (unpacked) meets one token's quantized block: values a, scale d, sum s.
AK_FN float ak_apply_block(const ak_wblock* b, float acc, const int8_t* a, float d, int32_t s) {
    switch (b->kind) {
    case AK_B_OFF:
        return acc + (b->fa * d) * (float)(ak_idot(b->v, a, 0, 8) - b->i0 * s);
    case AK_B_MIN:
        acc += (b->fa * d) * (float)ak_idot(b->v, a, 0, 8);
        return acc + (b->fb * d) * (float)s;
    case AK_B_K:
        acc += (b->fa * d) * (float)(b->i0 * ak_idot(b->v, a, 0, 8));
        return acc - (b->fb * d) * (float)(b->i1 * s);
    default: {
        int32_t lo = ak_idot(b->v, a, 0, 4) - 32 * ak_isum(a, 0, 4);
        int32_t hi = ak_idot(b->v, a, 4, 8) - 32 * ak_isum(a, 4, 8);
        return acc + (b->fa * d) * (float)(b->i0 * lo + b->i1 * hi);
    }
    }
}

// The f32 terms that block b, of kind KIND, adds to one token's accumulator, in order, into t
// (ak_apply_block is acc + t[0], then + t[1] where there are two), from the block's integer
// products with the token's values: x = v·a (Q6_K: the first half's, less 32 times the sum of
// its a), y = the second half's likewise (Q6_K only), with the token's scale d and block sum
// s. Each term is computed exactly as there; the K types' subtraction is the addition of the
// negated term (a - b is a + (-b) in IEEE arithmetic).
template <int KIND>
AK_FN void ak_int_terms(const ak_wblock* b, int32_t x, int32_t y, float d, int32_t s, float* t) {
    if (KIND == AK_B_OFF) {
        t[0] = (b->fa * d) * (float)(x - b->i0 * s);
    } else if (KIND == AK_B_MIN) {
        t[0] = (b->fa * d) * (float)x;
        t[1] = (b->fb * d) * (float)s;
    } else if (KIND == AK_B_K) {
        t[0] = (b->fa * d) * (float)(b->i0 * x);
        t[1] = -((b->fb * d) * (float)(b->i1 * s));
    } else {
        t[0] = (b->fa * d) * (float)(b->i0 * x + b->i1 * y);
    }
}

// ak_int_terms of block b (all eight words unpacked) with one token's quantized block a.
template <int KIND>
AK_FN void ak_kind_terms(const ak_wblock* b, const int8_t* a, float d, int32_t s, float* t) {
    if (KIND == AK_B_Q6K) {
        int32_t lo = ak_idot(b->v, a, 0, 4) - 32 * ak_isum(a, 0, 4);
        int32_t hi = ak_idot(b->v, a, 4, 8) - 32 * ak_isum(a, 4, 8);
        ak_int_terms<KIND>(b, lo, hi, d, s, t);
    } else {
        ak_int_terms<KIND>(b, ak_idot(b->v, a, 0, 8), 0, d, s, t);
    }
}

// ak_kind_terms of block b for `cnt` tokens (1 to AK_TILE_MAX), token j's quantized block at
// a + AK_QK * j * stride with its scale and sum at d[j * stride] and s[j * stride], into t[j].
template <int KIND>
AK_FN void ak_tile_kind_terms(const ak_wblock* b, const int8_t* a, const float* d,
                              const int32_t* s, long long stride, int cnt, float (*t)[2]) {
    AK_UNROLL
    for (int j = 0; j < AK_TILE_MAX; j++) {
        if (j < cnt) ak_kind_terms<KIND>(b, a + AK_QK * stride * j, d[stride * j], s[stride * j], t[j]);
    }
}

// ak_tile_kind_terms for b's kind, decided once for the tile's tokens.
AK_FN void ak_tile_terms(const ak_wblock* b, const int8_t* a, const float* d, const int32_t* s,
                         long long stride, int cnt, float (*t)[2]) {
    switch (b->kind) {
    case AK_B_OFF:
        ak_tile_kind_terms<AK_B_OFF>(b, a, d, s, stride, cnt, t);
        break;
    case AK_B_MIN:
        ak_tile_kind_terms<AK_B_MIN>(b, a, d, s, stride, cnt, t);
        break;
    case AK_B_K:
        ak_tile_kind_terms<AK_B_K>(b, a, d, s, stride, cnt, t);
        break;
    default:
        ak_tile_kind_terms<AK_B_Q6K>(b, a, d, s, stride, cnt, t);
        break;
    }
}

// Weight i of an F32/F16 row.
AK_FN float ak_float_weight(int dtype, const uint8_t* row, int i) {
    return dtype == AK_F32 ? ak_f32(ak_u32(row + 4 * i)) : ak_f16_at(row + 2 * i);
}

// A row's units for the cooperative matmul: its blocks of 32 (quantized types) or its pairs
// of weights (F32/F16, the last one alone when `cols` is odd).
AK_HD_FN int ak_row_units(int dtype, int cols) {
    return dtype == AK_F32 || dtype == AK_F16 ? (cols + 1) / 2 : cols / AK_QK;
}

// Terms each unit adds to an accumulator: two for F32/F16 pairs (an odd row's last unit adds
// -0.0f, which leaves every value as it is), Q4_1, Q5_1, Q4_K and Q5_K; one for the others.
AK_FN int ak_unit_terms(int dtype) {
    switch (dtype) {
    case AK_F32:
    case AK_F16:
    case AK_Q4_1:
    case AK_Q5_1:
    case AK_Q4_K:
    case AK_Q5_K:
        return 2;
    default:
        return 1;
    }
}

// The products of F32/F16 unit u (weights 2u and 2u + 1) with one token's values x.
AK_FN void ak_float_terms(int dtype, const uint8_t* row, int cols, const float* x, int u,
                          float* t) {
    int c = 2 * u;
    t[0] = ak_float_weight(dtype, row, c) * x[c];
    t[1] = c + 1 < cols ? ak_float_weight(dtype, row, c + 1) * x[c + 1] : -0.0f;
}

// Dot products of one weight row (`cols` values of ggml type `dtype`, raw bytes) with `cnt`
// consecutive tokens (1 to AK_TILE_MAX): token j's f32 values at x + j·cols (F32/F16
// weights), its quantized blocks, scales and block sums at q + j·cols, d + j·nb, s + j·nb; its
// result into out[j·ostride]. Each block of the row is read and unpacked once and then
// applied to every token, so a tile of tokens reads the row once; each token's accumulator
// still takes the blocks in ascending order, each f32 operation on its own (scalar.rs dot_row,
// kquant.rs dot_row), so the result does not depend on the tile. Unknown types give 0 (as
// the engine). The result y is then, as the engine's separate passes compute it: y + *bias
// where bias is not null (a projection's bias add), and out + y with `accumulate` (the
// residual add x + y into the stream out).
AK_FN void ak_dot_tile(int dtype, const uint8_t* row, int cols, int cnt, const float* x,
                       const int8_t* q, const float* d, const int32_t* s, float* out,
                       long long ostride, const float* bias, int accumulate) {
    int nb = cols / AK_QK;
    float acc[AK_TILE_MAX];
    AK_UNROLL
    for (int j = 0; j < AK_TILE_MAX; j++) acc[j] = 0.0f;
    if (dtype == AK_F32 || dtype == AK_F16) {
        // Chunks of 8 weights, each read once for the tile.
        for (int c0 = 0; c0 < cols; c0 += 8) {
            float w[8];
            int len = cols - c0 < 8 ? cols - c0 : 8;
            AK_UNROLL
            for (int i = 0; i < 8; i++) w[i] = i < len ? ak_float_weight(dtype, row, c0 + i) : 0.0f;
            AK_UNROLL
            for (int j = 0; j < AK_TILE_MAX; j++) {
                if (j < cnt) {
                    const float* xt = x + (long long)j * cols + c0;
                    AK_UNROLL
                    for (int i = 0; i < 8; i++) {
                        if (i < len) acc[j] += w[i] * xt[i];
                    }
                }
            }
        }
    } else {
        ak_wblock b;
        for (int k = 0; k < nb; k++) {
            if (!ak_unpack_block(dtype, row, k, &b)) break;
            AK_UNROLL
            for (int j = 0; j < AK_TILE_MAX; j++) {
                if (j < cnt) {
                    long long tb = (long long)j * nb + k;
                    acc[j] = ak_apply_block(&b, acc[j], q + AK_QK * tb, d[tb], s[tb]);
                }
            }
        }
    }
    AK_UNROLL
    for (int j = 0; j < AK_TILE_MAX; j++) {
        if (j < cnt) {
            float y = acc[j];
            if (bias) y = y + *bias;
            float* o = out + (long long)j * ostride;
            *o = accumulate ? *o + y : y;
        }
    }
}

// Dot product of one weight row with one token (ak_dot_tile with a tile of one).
AK_FN float ak_dot_row(int dtype, const uint8_t* row, int cols, const float* x, const int8_t* q,
                       const float* d, const int32_t* s) {
    float out = 0.0f;
    ak_dot_tile(dtype, row, cols, 1, x, q, d, s, &out, 1, 0, 0);
    return out;
}

// Bytes per row of `cols` values of `dtype` (0 for types the dot products do not take).
AK_FN int ak_row_bytes(int dtype, int cols) {
    switch (dtype) {
    case AK_F32: return 4 * cols;
    case AK_F16: return 2 * cols;
    case AK_Q4_0: return cols / AK_QK * 18;
    case AK_Q4_1: return cols / AK_QK * 20;
    case AK_Q5_0: return cols / AK_QK * 22;
    case AK_Q5_1: return cols / AK_QK * 24;
    case AK_Q8_0: return cols / AK_QK * 34;
    case AK_Q4_K: return cols / AK_QK_K * 144;
    case AK_Q5_K: return cols / AK_QK_K * 176;
    case AK_Q6_K: return cols / AK_QK_K * 210;
    default: return 0;
    }
}
