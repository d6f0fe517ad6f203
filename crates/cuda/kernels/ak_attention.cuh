// Attention of one query head over one sequence's cache (crates/engine/src/kernels/attention.rs,
// scalar path): keys and values are IEEE binary16, read back exactly. In three steps that
// share only their outputs, so the GPU runs each with one thread per output:
// - score j: (sum_d q[d] * k_j[d]) * (1 / sqrtf(hd)), the sum sequential in d from 0;
// - softmax: m = max_j s_j in position order (from -inf), e_j = expf(s_j - m) (independent
//   per j), sum = sum_j e_j sequential in j from 0;
// - output i: (sum_j e_j * v_j[i]) / sum, sequential in ascending j.
// Here keys and values are position-major rows of `hd` (the layout is not arithmetic).
//
// Each sequential loop runs in chunks of AK_ATTN_CHUNK: a chunk's loads first, into registers,
// then its operations in the same order. The arithmetic is the plain loop's; on a GPU the
// chunk's loads are in flight together instead of one at a time. A last, shorter chunk
// (TAIL) loads the last element again in place of those past the end and leaves them unused.
#pragma once
#include "ak_math.cuh"

#define AK_ATTN_CHUNK 32

// The index of element c of the chunk at j of n elements (the last one past the end).
template <bool TAIL>
AK_FN int ak_attn_at(int j, int c, int n) {
    return !TAIL || j + c < n ? j + c : n - 1;
}

template <bool TAIL>
AK_FN float ak_attn_score_chunk(const float* q, const uint16_t* k_row, int d, int hd, float acc) {
    float qc[AK_ATTN_CHUNK], kc[AK_ATTN_CHUNK];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        int at = ak_attn_at<TAIL>(d, c, hd);
        qc[c] = q[at];
        kc[c] = ak_f16(k_row[at]);
    }
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        if (!TAIL || d + c < hd) acc += qc[c] * kc[c];
    }
    return acc;
}

AK_FN float ak_attn_score(const float* q, const uint16_t* k_row, int hd) {
    float scale = ak_div(1.0f, ak_sqrt((float)hd));
    float acc = 0.0f;
    int d = 0;
    for (; d + AK_ATTN_CHUNK <= hd; d += AK_ATTN_CHUNK)
        acc = ak_attn_score_chunk<false>(q, k_row, d, hd, acc);
    if (d < hd) acc = ak_attn_score_chunk<true>(q, k_row, d, hd, acc);
    return acc * scale;
}

template <bool TAIL>
AK_FN float ak_attn_max_chunk(const float* s, int j, int n, float m) {
    float sc[AK_ATTN_CHUNK];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) sc[c] = s[ak_attn_at<TAIL>(j, c, n)];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        if ((!TAIL || j + c < n) && sc[c] > m) m = sc[c];
    }
    return m;
}

// The softmax's max: from -inf in position order, a NaN never taking its place.
AK_FN float ak_attn_max(const float* s, int n) {
    float m = -ak_f32(0x7f800000u);
    int j = 0;
    for (; j + AK_ATTN_CHUNK <= n; j += AK_ATTN_CHUNK) m = ak_attn_max_chunk<false>(s, j, n, m);
    if (j < n) m = ak_attn_max_chunk<true>(s, j, n, m);
    return m;
}

template <bool TAIL>
AK_FN float ak_attn_sum_chunk(const float* e, int j, int n, float sum) {
    float ec[AK_ATTN_CHUNK];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) ec[c] = e[ak_attn_at<TAIL>(j, c, n)];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        if (!TAIL || j + c < n) sum += ec[c];
    }
    return sum;
}

// The sum of the softmax numerators, sequential in position order.
AK_FN float ak_attn_sum(const float* e, int n) {
    float sum = 0.0f;
    int j = 0;
    for (; j + AK_ATTN_CHUNK <= n; j += AK_ATTN_CHUNK) sum = ak_attn_sum_chunk<false>(e, j, n, sum);
    if (j < n) sum = ak_attn_sum_chunk<true>(e, j, n, sum);
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
template <bool TAIL>
AK_FN float ak_attn_value_chunk(const float* e, const uint16_t* v, int j, int n, int stride,
                                int i, float acc) {
    float ec[AK_ATTN_CHUNK], vc[AK_ATTN_CHUNK];
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        int at = ak_attn_at<TAIL>(j, c, n);
        ec[c] = e[at];
        vc[c] = ak_f16(v[(long long)at * stride + i]);
    }
    AK_UNROLL
    for (int c = 0; c < AK_ATTN_CHUNK; c++) {
        if (!TAIL || j + c < n) acc += ec[c] * vc[c];
    }
    return acc;
}

AK_FN float ak_attn_value(const float* e, float sum, const uint16_t* v, int n, int stride,
                          int i) {
    float acc = 0.0f;
    int j = 0;
    for (; j + AK_ATTN_CHUNK <= n; j += AK_ATTN_CHUNK)
        acc = ak_attn_value_chunk<false>(e, v, j, n, stride, i, acc);
    if (j < n) acc = ak_attn_value_chunk<true>(e, v, j, n, stride, i, acc);
    return ak_div(acc, sum);
}
