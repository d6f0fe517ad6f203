// expf, expm1f, tanhf and scalbnf: the libm crate's (FreeBSD/musl) algorithms, operation
// for operation, so results equal libm::expf / libm::tanhf bit for bit (the engine's
// reference). Literals are f32 throughout (no double promotion).
#pragma once
#include "ak_prelude.cuh"

// scalbnf(x, n) as libm's generic scalbn for f32: pre-scaling by 2^127 or 2^-102 when 2^n is
// out of range, then one multiplication by 2^n.
AK_FN float ak_scalbnf(float x, int n) {
    if (n > 127) {
        x = x * ak_f32(0x7f000000u);
        n -= 127;
        if (n > 127) {
            x = x * ak_f32(0x7f000000u);
            n -= 127;
            if (n > 127) n = 127;
        }
    } else if (n < -126) {
        // 2^-126 * 2^24 = 2^-102.
        x = x * ak_f32(0x0c800000u);
        n += 102;
        if (n < -126) {
            x = x * ak_f32(0x0c800000u);
            n += 102;
            if (n < -126) n = -126;
        }
    }
    return x * ak_f32((uint32_t)(n + 127) << 23);
}

AK_FN float ak_expf(float x) {
    const float LN2_HI = ak_f32(0x3f317200u);
    const float LN2_LO = ak_f32(0x35bfbe8eu);
    const float INV_LN2 = ak_f32(0x3fb8aa3bu);
    const float P1 = ak_f32(0x3e2aaa8fu);
    const float P2 = ak_f32(0xbb355215u);
    uint32_t hx = ak_bits(x);
    int sign = (int)(hx >> 31);
    hx &= 0x7fffffffu;
    if (hx >= 0x42aeac50u) {
        if (hx > 0x7f800000u) return x;  // NaN
        if (hx >= 0x42b17218u && !sign) return x * ak_f32(0x7f000000u);  // overflow
        if (sign && hx >= 0x42cff1b5u) return 0.0f;  // underflow
    }
    int k;
    float hi, lo;
    if (hx > 0x3eb17218u) {
        if (hx > 0x3f851592u) {
            k = (int)(INV_LN2 * x + (sign ? -0.5f : 0.5f));
        } else {
            k = 1 - sign - sign;
        }
        float kf = (float)k;
        hi = x - kf * LN2_HI;
        lo = kf * LN2_LO;
        x = hi - lo;
    } else if (hx > 0x39000000u) {
        k = 0;
        hi = x;
        lo = 0.0f;
    } else {
        return 1.0f + x;
    }
    float xx = x * x;
    float c = x - xx * (P1 + xx * P2);
    float y = 1.0f + (ak_div(x * c, 2.0f - c) - lo + hi);
    return k == 0 ? y : ak_scalbnf(y, k);
}

AK_FN float ak_expm1f(float x) {
    const float LN2_HI = ak_f32(0x3f317180u);
    const float LN2_LO = ak_f32(0x3717f7d1u);
    const float INV_LN2 = ak_f32(0x3fb8aa3bu);
    const float Q1 = ak_f32(0xbd088868u);
    const float Q2 = ak_f32(0x3acf3010u);
    uint32_t hx = ak_bits(x);
    bool sign = (hx >> 31) != 0;
    hx &= 0x7fffffffu;
    if (hx >= 0x4195b844u) {
        if (hx > 0x7f800000u) return x;
        if (sign) return -1.0f;
        if (hx > 0x42b17217u) return x * ak_f32(0x7f000000u);
    }
    int k;
    float hi, lo;
    float c = 0.0f;
    if (hx > 0x3eb17218u) {
        if (hx < 0x3f851592u) {
            if (!sign) {
                hi = x - LN2_HI;
                lo = LN2_LO;
                k = 1;
            } else {
                hi = x + LN2_HI;
                lo = -LN2_LO;
                k = -1;
            }
        } else {
            k = (int)(INV_LN2 * x + (sign ? -0.5f : 0.5f));
            float t = (float)k;
            hi = x - t * LN2_HI;
            lo = t * LN2_LO;
        }
        x = hi - lo;
        c = (hi - x) - lo;
    } else if (hx < 0x33000000u) {
        return x;
    } else {
        k = 0;
    }
    float hfx = 0.5f * x;
    float hxs = x * hfx;
    float r1 = 1.0f + hxs * (Q1 + hxs * Q2);
    float t = 3.0f - r1 * hfx;
    float e = hxs * ak_div(r1 - t, 6.0f - x * t);
    if (k == 0) return x - (x * e - hxs);
    e = x * (e - c) - c;
    e = e - hxs;
    if (k == -1) return 0.5f * (x - e) - 0.5f;
    if (k == 1) {
        if (x < -0.25f) return -2.0f * (e - (x + 0.5f));
        return 1.0f + 2.0f * (x - e);
    }
    float twopk = ak_f32((uint32_t)(0x7f + k) << 23);
    if (k < 0 || k > 56) {
        float y = x - e + 1.0f;
        if (k == 128) {
            y = y * 2.0f * ak_f32(0x7f000000u);
        } else {
            y = y * twopk;
        }
        return y - 1.0f;
    }
    float uf = ak_f32((uint32_t)(0x7f - k) << 23);
    if (k < 23) return (x - e + (1.0f - uf)) * twopk;
    return (x - (e + uf) + 1.0f) * twopk;
}

AK_FN float ak_tanhf(float x) {
    uint32_t ix = ak_bits(x);
    bool sign = (ix >> 31) != 0;
    ix &= 0x7fffffffu;
    x = ak_f32(ix);
    float tt;
    if (ix > 0x3f0c9f54u) {
        if (ix > 0x41200000u) {
            tt = 1.0f + ak_div(0.0f, x);
        } else {
            float t = ak_expm1f(2.0f * x);
            tt = 1.0f - ak_div(2.0f, t + 2.0f);
        }
    } else if (ix > 0x3e82c578u) {
        float t = ak_expm1f(2.0f * x);
        tt = ak_div(t, t + 2.0f);
    } else if (ix >= 0x00800000u) {
        float t = ak_expm1f(-2.0f * x);
        tt = ak_div(-t, t + 2.0f);
    } else {
        tt = x;
    }
    return sign ? -tt : tt;
}
