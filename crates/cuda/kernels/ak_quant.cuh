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
AK_FN void ak_quantize_block(const float* x, int8_t* q, float* d, int32_t* s) {
    float amax = 0.0f;
    for (int i = 0; i < AK_QK; i++) {
        float a = ak_fabs(x[i]);
        if (a > amax) amax = a;
    }
    float db = ak_div(amax, 127.0f);
    *d = db;
    int32_t sum = 0;
    for (int i = 0; i < AK_QK; i++) {
        int r = 0;
        if (db != 0.0f) {
            float y = ak_round_even(ak_div(x[i], db));
            if (y != y) {
                r = 0;
            } else if (y < -127.0f) {
                r = -127;
            } else if (y > 127.0f) {
                r = 127;
            } else {
                r = (int)y;
            }
        }
        q[i] = (int8_t)r;
        sum += r;
    }
    *s = sum;
}

// Integer dot product of 16 bytes of nibbles with 32 activations (scalar.rs nib_dot).
AK_FN int32_t ak_nib_dot(const uint8_t* qs, const int8_t* a) {
    int32_t s = 0;
    for (int i = 0; i < 16; i++) {
        s += (int32_t)(qs[i] & 0x0F) * (int32_t)a[i];
        s += (int32_t)(qs[i] >> 4) * (int32_t)a[i + 16];
    }
    return s;
}

// Q5_0/Q5_1 block: sum of q*a over the 5-bit values (kquant.rs q5_values + udot).
AK_FN int32_t ak_q5_dot(const uint8_t* qh, const uint8_t* qs, const int8_t* a) {
    uint32_t h = ak_u32(qh);
    int32_t s = 0;
    for (int i = 0; i < AK_QK; i++) {
        uint32_t nib = i < 16 ? (qs[i] & 0x0Fu) : (uint32_t)(qs[i - 16] >> 4);
        uint32_t v = nib | (((h >> i) & 1u) << 4);
        s += (int32_t)v * (int32_t)a[i];
    }
    return s;
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

// Sum of q*a over sub-block j of a Q4_K/Q5_K block (kquant.rs k_values + udot).
AK_FN int32_t ak_k_dot(const uint8_t* qs, const uint8_t* qh, int j, const int8_t* a) {
    const uint8_t* bytes = qs + 32 * (j / 2);
    int32_t s = 0;
    for (int l = 0; l < AK_QK; l++) {
        uint32_t nib = (j % 2 == 0) ? (bytes[l] & 0x0Fu) : (uint32_t)(bytes[l] >> 4);
        uint32_t hi = qh ? (((uint32_t)(qh[l] >> j) & 1u) << 4) : 0u;
        s += (int32_t)(nib | hi) * (int32_t)a[l];
    }
    return s;
}

// s0 * sum(q*a) over the first 16 values + s1 * sum over the last 16, sub-block j of a
// Q6_K block (kquant.rs q6k_values + sdot).
AK_FN int32_t ak_q6k_dot(const uint8_t* ql, const uint8_t* qh, int j, int32_t s0, int32_t s1,
                         const int8_t* a) {
    int n = j / 4, g = j % 4;
    int32_t lo = 0, hi_sum = 0;
    for (int l = 0; l < AK_QK; l++) {
        uint8_t b = ql[64 * n + 32 * (g % 2) + l];
        uint32_t nib = g < 2 ? (b & 0x0Fu) : (uint32_t)(b >> 4);
        uint32_t hi = (uint32_t)(qh[32 * n + l] >> (2 * g)) & 3u;
        int32_t v = (int32_t)(nib | (hi << 4)) - 32;
        if (l < 16) {
            lo += v * (int32_t)a[l];
        } else {
            hi_sum += v * (int32_t)a[l];
        }
    }
    return s0 * lo + s1 * hi_sum;
}

// Dot product of one weight row (`cols` values of ggml type `dtype`, raw bytes) with one
// token: `x` its f32 values (F32/F16 weights), `q`, `d`, `s` its quantized blocks, scales and
// block sums. The blocks are accumulated in ascending order, each f32 operation on its own
// (scalar.rs dot_row, kquant.rs dot_row). Unknown types give 0 (as the engine).
AK_FN float ak_dot_row(int dtype, const uint8_t* row, int cols, const float* x, const int8_t* q,
                       const float* d, const int32_t* s) {
    int nb = cols / AK_QK;
    float acc = 0.0f;
    switch (dtype) {
    case AK_F32:
        for (int i = 0; i < cols; i++) acc += ak_f32(ak_u32(row + 4 * i)) * x[i];
        break;
    case AK_F16:
        for (int i = 0; i < cols; i++) acc += ak_f16_at(row + 2 * i) * x[i];
        break;
    case AK_Q8_0:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 34 * b;
            const int8_t* qa = q + AK_QK * b;
            int32_t sum = 0;
            for (int i = 0; i < AK_QK; i++) sum += (int32_t)(int8_t)blk[2 + i] * (int32_t)qa[i];
            acc += (ak_f16_at(blk) * d[b]) * (float)sum;
        }
        break;
    case AK_Q4_0:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 18 * b;
            int32_t sum = ak_nib_dot(blk + 2, q + AK_QK * b) - 8 * s[b];
            acc += (ak_f16_at(blk) * d[b]) * (float)sum;
        }
        break;
    case AK_Q4_1:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 20 * b;
            int32_t sum = ak_nib_dot(blk + 4, q + AK_QK * b);
            acc += (ak_f16_at(blk) * d[b]) * (float)sum;
            acc += (ak_f16_at(blk + 2) * d[b]) * (float)s[b];
        }
        break;
    case AK_Q5_0:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 22 * b;
            int32_t sum = ak_q5_dot(blk + 2, blk + 6, q + AK_QK * b) - 16 * s[b];
            acc += (ak_f16_at(blk) * d[b]) * (float)sum;
        }
        break;
    case AK_Q5_1:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 24 * b;
            int32_t sum = ak_q5_dot(blk + 4, blk + 8, q + AK_QK * b);
            acc += (ak_f16_at(blk) * d[b]) * (float)sum;
            acc += (ak_f16_at(blk + 2) * d[b]) * (float)s[b];
        }
        break;
    case AK_Q4_K:
    case AK_Q5_K: {
        int bs = dtype == AK_Q5_K ? 176 : 144;
        for (int sb = 0; sb < cols / AK_QK_K; sb++) {
            const uint8_t* blk = row + bs * sb;
            float dd = ak_f16_at(blk);
            float dmin = ak_f16_at(blk + 2);
            const uint8_t* qh = dtype == AK_Q5_K ? blk + 16 : (const uint8_t*)0;
            const uint8_t* qs = dtype == AK_Q5_K ? blk + 48 : blk + 16;
            for (int j = 0; j < 8; j++) {
                int32_t sc, m;
                ak_k4_scale_min(blk + 4, j, &sc, &m);
                int k = 8 * sb + j;
                int32_t isum = ak_k_dot(qs, qh, j, q + AK_QK * k);
                acc += (dd * d[k]) * (float)(sc * isum);
                acc -= (dmin * d[k]) * (float)(m * s[k]);
            }
        }
        break;
    }
    case AK_Q6_K:
        for (int sb = 0; sb < cols / AK_QK_K; sb++) {
            const uint8_t* blk = row + 210 * sb;
            float dd = ak_f16_at(blk + 208);
            for (int j = 0; j < 8; j++) {
                int32_t s0 = (int8_t)blk[192 + 2 * j];
                int32_t s1 = (int8_t)blk[193 + 2 * j];
                int k = 8 * sb + j;
                int32_t isum = ak_q6k_dot(blk, blk + 128, j, s0, s1, q + AK_QK * k);
                acc += (dd * d[k]) * (float)isum;
            }
        }
        break;
    default:
        return 0.0f;
    }
    return acc;
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
