// Every kernel's per-output function, and (under nvcc/NVRTC) the __global__ kernels that run
// them with one thread per output. The host build (host.cpp) calls the same functions in a
// loop over the outputs.
#pragma once
#include "ak_attention.cuh"
#include "ak_forward.cuh"
#include "ak_ops.cuh"
#include "ak_quant.cuh"

#ifdef __CUDACC__
// One thread per block of 32 activations (n_blocks in all).
AK_GLOBAL void ak_quantize_kernel(const float* x, int n_blocks, int8_t* q, float* d, int32_t* s) {
    int b = blockIdx.x * blockDim.x + threadIdx.x;
    if (b < n_blocks) ak_quantize_block(x + AK_QK * b, q + AK_QK * b, d + b, s + b);
}

// One group of AK_MM_LANES threads per (row r, tile of `tile` tokens): out[t * rows + r] (the
// engine's layout), the forward pass's matmul (ak_forward.cuh).
AK_GLOBAL void ak_matmul_kernel(int dtype, const uint8_t* w, int rows, int cols, int ntok, int tile,
                                const float* x, const int8_t* q, const float* d, const int32_t* s,
                                float* out) {
    long long groups = ak_matmul_threads(rows, ntok, tile);
#if AK_MM_LANES > 1
    // AK_MM_LANES threads per group, as ak_fwd_matmul runs.
    __shared__ float terms[AK_MM_GROUPS][AK_MM_LANES][AK_TILE_MAX][2];
    long long g = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / AK_MM_LANES;
    int rounds = ak_matmul_rounds(cols, dtype, rows, 0, 0, 0, 0);
    ak_matmul_group(g < groups, threadIdx.x % AK_MM_LANES, terms[threadIdx.x / AK_MM_LANES],
                    rounds, g, dtype, w, rows, cols, ntok, tile, x, q, d, s, 0, 0, out);
#else
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= groups) return;
    ak_fwd_matmul_one_at(i, dtype, w, rows, cols, ntok, tile, x, q, d, s, 0, 0, out);
#endif
}

// One thread per row.
AK_GLOBAL void ak_rmsnorm_kernel(const float* x, const float* w, float eps, int n, int nrows,
                                 float* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < nrows) ak_rmsnorm_row(x + (long long)r * n, w, eps, n, out + (long long)r * n);
}

// One thread per element. op: 0 expf(a), 1 tanhf(a), 2 silu_mul(a, b), 3 gelu_mul(a, b),
// 4 softcap(a, c).
AK_GLOBAL void ak_unary_kernel(int op, const float* a, const float* b, float c, int n, float* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    switch (op) {
    case 0: out[i] = ak_expf(a[i]); break;
    case 1: out[i] = ak_tanhf(a[i]); break;
    case 2: out[i] = ak_silu_mul(a[i], b[i]); break;
    case 3: out[i] = ak_gelu_mul(a[i], b[i]); break;
    default: out[i] = ak_softcap(a[i], c); break;
    }
}

// RoPE in place: one thread per (head, pair).
AK_GLOBAL void ak_rope_kernel(float* x, int hd, int nheads, const float* cs, int neox) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < nheads * (hd / 2)) ak_rope_head_pair(x + (long long)(i / (hd / 2)) * hd, hd, cs, neox, i % (hd / 2));
}

// f32 -> binary16 (the KV cache write), one thread per element.
AK_GLOBAL void ak_f32_to_f16_kernel(const float* x, int n, uint16_t* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = ak_f32_to_f16(x[i]);
}

// Attention of one query head: scores one thread per position, softmax one thread, values
// one thread per output element (three launches; `s` holds n floats, `sum` one).
AK_GLOBAL void ak_attn_scores_kernel(const float* q, const uint16_t* k, int n, int hd, float* s) {
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j < n) s[j] = ak_attn_score(q, k + (long long)j * hd, hd);
}

AK_GLOBAL void ak_attn_softmax_kernel(float* s, int n, float* sum) {
    if (blockIdx.x == 0 && threadIdx.x == 0) *sum = ak_attn_softmax(s, n);
}

AK_GLOBAL void ak_attn_values_kernel(const float* s, const float* sum, const uint16_t* v, int n,
                                     int hd, float* out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < hd) out[i] = ak_attn_value(s, *sum, v, n, hd, i);
}
#endif
