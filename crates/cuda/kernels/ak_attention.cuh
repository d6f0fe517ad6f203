// Attention of one query head over one sequence's cache (crates/engine/src/kernels/attention.rs,
// scalar path): keys and values are IEEE binary16, read back exactly. In three steps that
// share only their outputs, so the GPU runs each with one thread per output:
// - score j: (sum_d q[d] * k_j[d]) * (1 / sqrtf(hd)), the sum sequential in d from 0;
// - softmax: m = max_j s_j in position order (from -inf), e_j = expf(s_j - m) (independent
//   per j), sum = sum_j e_j sequential in j from 0;
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

// The softmax's max: from -inf in position order, a NaN never taking its place.
AK_FN float ak_attn_max(const float* s, int n) {
    float m = -ak_f32(0x7f800000u);
    for (int j = 0; j < n; j++) {
        if (s[j] > m) m = s[j];
    }
    return m;
}

// The sum of the softmax numerators, sequential in position order.
AK_FN float ak_attn_sum(const float* e, int n) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) sum += e[j];
    return sum;
}

// Scores -> softmax numerators in place; returns their sum. The forward pass runs the same
// three steps as separate launches (max per head, one exponential per score, the sum in each
// value thread).
AK_FN float ak_attn_softmax(float* s, int n) {
    float m = ak_attn_max(s, n);
    for (int j = 0; j < n; j++) s[j] = ak_expf(s[j] - m);
    return ak_attn_sum(s, n);
}

// Value rows are `stride` apart (hd for one head alone, the cache's row width in a forward).
AK_FN float ak_attn_value(const float* e, float sum, const uint16_t* v, int n, int stride,
                          int i) {
    float acc = 0.0f;
    for (int j = 0; j < n; j++) acc += e[j] * ak_f16(v[(long long)j * stride + i]);
    return ak_div(acc, sum);
}
