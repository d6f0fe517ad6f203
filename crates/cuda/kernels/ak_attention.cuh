// Attention of one query head over one sequence's cache (crates/engine/src/kernels/attention.rs,
// scalar path): keys and values are IEEE binary16, read back exactly. In three steps that
// share only their outputs, so the GPU runs each with one thread per output:
// - score j: (sum_d q[d] * k_j[d]) * (1 / sqrtf(hd)), the sum sequential in d from 0;
// - softmax (one thread): m = max_j s_j in position order (from -inf), e_j = expf(s_j - m),
//   sum = sum_j e_j sequential in j from 0;
// - output i: (sum_j e_j * v_j[i]) / sum, sequential in ascending j.
// Here keys and values are position-major rows of `hd` (the layout is not arithmetic).
#pragma once
#include "ak_math.cuh"

AK_FN float ak_attn_score(const float* q, const uint16_t* k_row, int hd) {
    float scale = ak_div(1.0f, ak_sqrt((float)hd));
    float acc = 0.0f;
    for (int d = 0; d < hd; d++) acc += q[d] * ak_f16(k_row[d]);
    return acc * scale;
}

// Scores -> softmax numerators in place; returns their sum.
AK_FN float ak_attn_softmax(float* s, int n) {
    float m = -ak_f32(0x7f800000u);
    for (int j = 0; j < n; j++) {
        if (s[j] > m) m = s[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = ak_expf(s[j] - m);
        sum += s[j];
    }
    return sum;
}

// Value rows are `stride` apart (hd for one head alone, the cache's row width in a forward).
AK_FN float ak_attn_value(const float* e, float sum, const uint16_t* v, int n, int stride,
                          int i) {
    float acc = 0.0f;
    for (int j = 0; j < n; j++) acc += e[j] * ak_f16(v[(long long)j * stride + i]);
    return ak_div(acc, sum);
}
