// Dequantization of one weight row (the token embedding lookup), in the engine's order
// (crates/engine/src/kernels/scalar.rs and kquant.rs dequant_row): Q8_0 d*q, Q4_0 d*(q-8)+0,
// Q4_1 d*q+m, Q5_0 (q-16)*d, Q5_1 q*d+m, Q4_K/Q5_K (d*sc)*q - dmin*m, Q6_K (d*sc)*q; each
// operation rounded on its own.
#pragma once
#include "ak_quant.cuh"

// The 6-bit value l of sub-block j of a Q6_K block, minus 32 (kquant.rs q6k_values).
AK_FN int32_t ak_q6k_value(const uint8_t* ql, const uint8_t* qh, int j, int l) {
    int n = j / 4, g = j % 4;
    uint8_t b = ql[64 * n + 32 * (g % 2) + l];
    uint32_t nib = g < 2 ? (b & 0x0Fu) : (uint32_t)(b >> 4);
    uint32_t hi = (uint32_t)(qh[32 * n + l] >> (2 * g)) & 3u;
    return (int32_t)(nib | (hi << 4)) - 32;
}

// Writes the `cols` values of one row of `dtype` into out.
AK_FN void ak_dequant_row(int dtype, const uint8_t* row, int cols, float* out) {
    int nb = cols / AK_QK;
    switch (dtype) {
    case AK_F32:
        for (int i = 0; i < cols; i++) out[i] = ak_f32(ak_u32(row + 4 * i));
        break;
    case AK_F16:
        for (int i = 0; i < cols; i++) out[i] = ak_f16_at(row + 2 * i);
        break;
    case AK_Q8_0:
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + 34 * b;
            float d = ak_f16_at(blk);
            for (int i = 0; i < AK_QK; i++) out[b * AK_QK + i] = d * (float)(int8_t)blk[2 + i];
        }
        break;
    case AK_Q4_0:
    case AK_Q4_1: {
        int q41 = dtype == AK_Q4_1;
        int bs = q41 ? 20 : 18, off = q41 ? 4 : 2, bias = q41 ? 0 : 8;
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + bs * b;
            float d = ak_f16_at(blk);
            float m = q41 ? ak_f16_at(blk + 2) : 0.0f;
            for (int i = 0; i < 16; i++) {
                int32_t lo = (int32_t)(blk[off + i] & 0x0F) - bias;
                int32_t hi = (int32_t)(blk[off + i] >> 4) - bias;
                out[b * AK_QK + i] = d * (float)lo + m;
                out[b * AK_QK + i + 16] = d * (float)hi + m;
            }
        }
        break;
    }
    case AK_Q5_0:
    case AK_Q5_1: {
        int q51 = dtype == AK_Q5_1;
        int bs = q51 ? 24 : 22, moff = q51 ? 2 : 0;
        for (int b = 0; b < nb; b++) {
            const uint8_t* blk = row + bs * b;
            float d = ak_f16_at(blk);
            uint32_t h = ak_u32(blk + 2 + moff);
            const uint8_t* qs = blk + 6 + moff;
            for (int i = 0; i < AK_QK; i++) {
                uint32_t nib = i < 16 ? (qs[i] & 0x0Fu) : (uint32_t)(qs[i - 16] >> 4);
                uint32_t q = nib | (((h >> i) & 1u) << 4);
                out[b * AK_QK + i] =
                    q51 ? (float)q * d + ak_f16_at(blk + 2) : (float)((int32_t)q - 16) * d;
            }
        }
        break;
    }
    case AK_Q4_K:
    case AK_Q5_K: {
        int q5 = dtype == AK_Q5_K;
        int bs = q5 ? 176 : 144;
        for (int sb = 0; sb < cols / AK_QK_K; sb++) {
            const uint8_t* blk = row + bs * sb;
            float d = ak_f16_at(blk);
            float dmin = ak_f16_at(blk + 2);
            const uint8_t* qh = q5 ? blk + 16 : (const uint8_t*)0;
            const uint8_t* qs = q5 ? blk + 48 : blk + 16;
            for (int j = 0; j < 8; j++) {
                int32_t sc, m;
                ak_k4_scale_min(blk + 4, j, &sc, &m);
                float d1 = d * (float)sc, m1 = dmin * (float)m;
                const uint8_t* bytes = qs + 32 * (j / 2);
                for (int l = 0; l < AK_QK; l++) {
                    uint32_t nib = (j % 2 == 0) ? (bytes[l] & 0x0Fu) : (uint32_t)(bytes[l] >> 4);
                    uint32_t hi = qh ? (((uint32_t)(qh[l] >> j) & 1u) << 4) : 0u;
                    out[sb * AK_QK_K + j * AK_QK + l] = d1 * (float)(nib | hi) - m1;
                }
            }
        }
        break;
    }
    case AK_Q6_K:
        for (int sb = 0; sb < cols / AK_QK_K; sb++) {
            const uint8_t* blk = row + 210 * sb;
            float d = ak_f16_at(blk + 208);
            for (int j = 0; j < 8; j++) {
                for (int l = 0; l < AK_QK; l++) {
                    float sc = (float)(int8_t)blk[192 + 2 * j + l / 16];
                    out[sb * AK_QK_K + j * AK_QK + l] =
                        (d * sc) * (float)ak_q6k_value(blk, blk + 128, j, l);
                }
            }
        }
        break;
    default:
        for (int i = 0; i < cols; i++) out[i] = 0.0f;
        break;
    }
}
