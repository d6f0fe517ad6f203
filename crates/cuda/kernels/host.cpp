// The host build of the kernels: the same per-output functions as the GPU kernels, called in
// a loop over the outputs, behind extern "C" entry points for Rust (src/host.rs) and for the
// GPU check driver (gpu_check.cu). Compiled with -ffp-contract=off -fno-fast-math and SSE2
// math (build.rs).
#include "ak_forward.cuh"
#include "ak_kernels.cuh"

extern "C" {

void ak_host_quantize(const float* x, int n_blocks, int8_t* q, float* d, int32_t* s) {
    for (int b = 0; b < n_blocks; b++) ak_quantize_block(x + AK_QK * b, q + AK_QK * b, d + b, s + b);
}

void ak_host_matmul(int dtype, const uint8_t* w, int rows, int cols, int ntok, int tile,
                    const float* x, const int8_t* q, const float* d, const int32_t* s, float* out) {
    long long n = ak_matmul_threads(rows, ntok, tile);
    for (long long i = 0; i < n; i++) ak_fwd_matmul_one_at(i, dtype, w, rows, cols, ntok, tile, x, q, d, s, 0, 0, out);
}

void ak_host_rmsnorm(const float* x, const float* w, float eps, int n, int nrows, float* out) {
    for (int r = 0; r < nrows; r++) ak_rmsnorm_row(x + (long long)r * n, w, eps, n, out + (long long)r * n);
}

void ak_host_unary(int op, const float* a, const float* b, float c, int n, float* out) {
    for (int i = 0; i < n; i++) {
        switch (op) {
        case 0: out[i] = ak_expf(a[i]); break;
        case 1: out[i] = ak_tanhf(a[i]); break;
        case 2: out[i] = ak_silu_mul(a[i], b[i]); break;
        case 3: out[i] = ak_gelu_mul(a[i], b[i]); break;
        default: out[i] = ak_softcap(a[i], c); break;
        }
    }
}

void ak_host_rope(float* x, int hd, int nheads, const float* cs, int neox) {
    for (int h = 0; h < nheads; h++) {
        for (int i = 0; i < hd / 2; i++) ak_rope_head_pair(x + (long long)h * hd, hd, cs, neox, i);
    }
}

void ak_host_f32_to_f16(const float* x, int n, uint16_t* out) {
    for (int i = 0; i < n; i++) out[i] = ak_f32_to_f16(x[i]);
}

void ak_host_attention(const float* q, const uint16_t* k, const uint16_t* v, int n, int hd,
                       float* scores, float* out) {
    for (int j = 0; j < n; j++) scores[j] = ak_attn_score(q, k + (long long)j * hd, hd);
    float sum = ak_attn_softmax(scores, n);
    for (int i = 0; i < hd; i++) out[i] = ak_attn_value(scores, sum, v, n, hd, i);
}

}  // extern "C"

extern "C" int ak_host_row_bytes(int dtype, int cols) { return ak_row_bytes(dtype, cols); }
extern "C" int ak_host_embed_chunks(int dtype, int cols) { return ak_embed_chunks(dtype, cols); }

// Runs forward kernel `kernel` (AK_K_*) on the host: ak_fwd_<name>_at for every i < n, with
// the arguments a GPU launch of ak_fwd_<name> takes (after n), each args[k] pointing at the
// k-th argument's value, as cuLaunchKernel's kernelParams. Returns 0, or -1 for an unknown id.
#define AK_ARG(T, k) (*(T*)args[k])
extern "C" int ak_host_launch(int kernel, long long n, void** args) {
    typedef const float* cf;
    typedef const int32_t* ci;
    typedef const uint16_t* ch;
    for (long long i = 0; i < n; i++) {
        switch (kernel) {
        case AK_K_EMBED:
            ak_fwd_embed_at(i, AK_ARG(int, 0), AK_ARG(const uint8_t*, 1), AK_ARG(int, 2),
                            AK_ARG(ci, 3), AK_ARG(float*, 4));
            break;
        case AK_K_SCALE: ak_fwd_scale_at(i, AK_ARG(float*, 0), AK_ARG(float, 1)); break;
        case AK_K_RMSNORM:
            ak_fwd_rmsnorm_at(i, AK_ARG(cf, 0), AK_ARG(cf, 1), AK_ARG(float, 2), AK_ARG(int, 3),
                              AK_ARG(float*, 4));
            break;
        case AK_K_RMSNORM_ADD:
            ak_fwd_rmsnorm_add_at(i, AK_ARG(cf, 0), AK_ARG(cf, 1), AK_ARG(float, 2),
                                  AK_ARG(int, 3), AK_ARG(float*, 4));
            break;
        case AK_K_ADD_NORM_QUANT:
            ak_fwd_add_norm_quant_at(i, AK_ARG(cf, 0), AK_ARG(cf, 1), AK_ARG(cf, 2),
                                     AK_ARG(float, 3), AK_ARG(int, 4), AK_ARG(float*, 5),
                                     AK_ARG(float*, 6), AK_ARG(int8_t*, 7), AK_ARG(float*, 8),
                                     AK_ARG(int32_t*, 9));
            break;
        case AK_K_NORM_ROPE_KV:
            ak_fwd_norm_rope_kv_at(i, AK_ARG(cf, 0), AK_ARG(int, 1), AK_ARG(cf, 2), AK_ARG(int, 3),
                                   AK_ARG(int, 4), AK_ARG(cf, 5), AK_ARG(int, 6), AK_ARG(int, 7),
                                   AK_ARG(cf, 8), AK_ARG(ci, 9), AK_ARG(uint16_t*, 10),
                                   AK_ARG(uint16_t*, 11), AK_ARG(cf, 12), AK_ARG(cf, 13),
                                   AK_ARG(float, 14), AK_ARG(float*, 15), AK_ARG(float*, 16));
            break;
        case AK_K_QUANTIZE:
            ak_fwd_quantize_at(i, AK_ARG(cf, 0), AK_ARG(int8_t*, 1), AK_ARG(float*, 2),
                               AK_ARG(int32_t*, 3));
            break;
        case AK_K_NORM_QUANT:
            ak_fwd_norm_quant_at(i, AK_ARG(cf, 0), AK_ARG(cf, 1), AK_ARG(float, 2), AK_ARG(int, 3),
                                 AK_ARG(float*, 4), AK_ARG(int8_t*, 5), AK_ARG(float*, 6),
                                 AK_ARG(int32_t*, 7));
            break;
        case AK_K_MATMUL:
        case AK_K_MATMUL_MMA:
        case AK_K_MATMUL_MMA_WARP:
            ak_fwd_matmul_at(i, AK_ARG(int, 0), AK_ARG(int, 1), AK_ARG(int, 2), AK_ARG(cf, 3),
                             AK_ARG(const int8_t*, 4), AK_ARG(cf, 5), AK_ARG(ci, 6), AK_ARG(int, 7),
                             AK_ARG(int, 8), AK_ARG(const uint8_t*, 9), AK_ARG(int, 10),
                             AK_ARG(cf, 11), AK_ARG(float*, 12), AK_ARG(int, 13),
                             AK_ARG(const uint8_t*, 14), AK_ARG(int, 15), AK_ARG(cf, 16),
                             AK_ARG(float*, 17), AK_ARG(int, 18), AK_ARG(const uint8_t*, 19),
                             AK_ARG(int, 20), AK_ARG(cf, 21), AK_ARG(float*, 22));
            break;
        case AK_K_ROPE_KV:
            ak_fwd_rope_kv_at(i, AK_ARG(float*, 0), AK_ARG(int, 1), AK_ARG(float*, 2),
                              AK_ARG(int, 3), AK_ARG(int, 4), AK_ARG(cf, 5), AK_ARG(int, 6),
                              AK_ARG(int, 7), AK_ARG(cf, 8), AK_ARG(ci, 9), AK_ARG(uint16_t*, 10),
                              AK_ARG(uint16_t*, 11));
            break;
        case AK_K_ATTENTION:
        case AK_K_ATTENTION_LONG:
            ak_fwd_attention_at(i, AK_ARG(cf, 0), AK_ARG(ch, 1), AK_ARG(ch, 2), AK_ARG(ci, 3),
                                AK_ARG(int, 4), AK_ARG(int, 5), AK_ARG(int, 6), AK_ARG(int, 7),
                                AK_ARG(int, 8), AK_ARG(float*, 9), AK_ARG(float*, 10),
                                AK_ARG(int8_t*, 11), AK_ARG(float*, 12), AK_ARG(int32_t*, 13));
            break;
        case AK_K_GATED:
            ak_fwd_gated_at(i, AK_ARG(int, 0), AK_ARG(cf, 1), AK_ARG(cf, 2), AK_ARG(float*, 3));
            break;
        case AK_K_GATED_QUANT:
            ak_fwd_gated_quant_at(i, AK_ARG(int, 0), AK_ARG(cf, 1), AK_ARG(cf, 2),
                                  AK_ARG(float*, 3), AK_ARG(int8_t*, 4), AK_ARG(float*, 5),
                                  AK_ARG(int32_t*, 6));
            break;
        case AK_K_SOFTCAP: ak_fwd_softcap_at(i, AK_ARG(float*, 0), AK_ARG(float, 1)); break;
        case AK_K_GATHER:
            ak_fwd_gather_at(i, AK_ARG(cf, 0), AK_ARG(ci, 1), AK_ARG(int, 2), AK_ARG(float*, 3));
            break;
        default: return -1;
        }
    }
    return 0;
}
