// GPU determinism check: runs every kernel of ak_kernels.cuh on the GPU and the same source's
// host build (host.cpp, compiled by g++ with the flags of build.rs and linked in) on the same
// seeded random inputs, and compares the outputs bit for bit (NaN equal to NaN). The host
// build is proven bit-identical to the engine's scalar reference by `cargo test -p
// aikernel-cuda`, so equality here carries the GPU to the engine.
//
// Usage: gpu_check OUT.json   (exit 0 when every output is equal, 1 on a mismatch, 2 on a
// CUDA error). Built and run by scripts/gpu-check.sh.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ak_kernels.cuh"

extern "C" {
void ak_host_quantize(const float* x, int n_blocks, int8_t* q, float* d, int32_t* s);
void ak_host_matmul(int dtype, const uint8_t* w, int rows, int cols, int ntok, int tile,
                    const float* x, const int8_t* q, const float* d, const int32_t* s, float* out);
void ak_host_rmsnorm(const float* x, const float* w, float eps, int n, int nrows, float* out);
void ak_host_unary(int op, const float* a, const float* b, float c, int n, float* out);
void ak_host_rope(float* x, int hd, int nheads, const float* cs, int neox);
void ak_host_f32_to_f16(const float* x, int n, uint16_t* out);
void ak_host_attention(const float* q, const uint16_t* k, const uint16_t* v, int n, int hd,
                       float* scores, float* out);
int ak_host_row_bytes(int dtype, int cols);
}

#define CK(call)                                                                        \
    do {                                                                                \
        cudaError_t err_ = (call);                                                      \
        if (err_ != cudaSuccess) {                                                      \
            std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorName(err_), \
                         __FILE__, __LINE__, cudaGetErrorString(err_));                 \
            std::exit(2);                                                               \
        }                                                                               \
    } while (0)

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull | 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    float unit() { return (float)(next() >> 40) / 16777216.0f * 2.0f - 1.0f; }
    // Up to 2^span in magnitude, both signs.
    float wide(int span) {
        int e = (int)(next() % (uint64_t)(2 * span + 1)) - span;
        uint32_t bits = (uint32_t)(127 + e) << 23;
        float p;
        std::memcpy(&p, &bits, 4);
        return unit() * p;
    }
    // A finite binary16 of moderate magnitude (exponent field 5..24), or zero one time in 13.
    uint16_t f16() {
        if (next() % 13 == 0) return 0;
        return (uint16_t)((next() & 0x83ffu) | ((5u + (uint32_t)(next() % 20)) << 10));
    }
};

static uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

struct Result {
    std::string name;
    long long n = 0;
    long long mismatches = 0;
    std::string first;
};

static std::vector<Result> results;

static void compare_f32(const std::string& name, const std::vector<float>& gpu,
                        const std::vector<float>& host, const float* input) {
    Result r;
    r.name = name;
    r.n = (long long)host.size();
    for (size_t i = 0; i < host.size(); i++) {
        uint32_t g = bits_of(gpu[i]), h = bits_of(host[i]);
        bool nan_both = gpu[i] != gpu[i] && host[i] != host[i];
        if (g != h && !nan_both) {
            if (r.mismatches == 0) {
                char buf[200];
                std::snprintf(buf, sizeof buf, "index %zu input 0x%08x gpu 0x%08x host 0x%08x", i,
                              input ? bits_of(input[i]) : 0u, g, h);
                r.first = buf;
            }
            r.mismatches++;
        }
    }
    std::printf("%-28s %12lld outputs, %lld mismatches %s\n", name.c_str(), r.n, r.mismatches,
                r.first.c_str());
    results.push_back(r);
}

template <class T>
static T* to_device(const std::vector<T>& v) {
    T* p = nullptr;
    CK(cudaMalloc(&p, v.size() * sizeof(T) + 16));
    if (!v.empty()) CK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return p;
}

template <class T>
static std::vector<T> from_device(const T* p, size_t n) {
    std::vector<T> v(n);
    CK(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
}

static unsigned grid(long long n) { return (unsigned)((n + 255) / 256); }

// Activations with the edge cases of the Rust tests: wide magnitudes, zero, subnormal,
// exact ties, infinity, NaN, the largest finite values, tiny values.
static std::vector<float> activations(Rng& rng, int ntok, int cols) {
    std::vector<float> x((size_t)ntok * cols);
    for (auto& v : x) v = rng.unit() * 3.0f;
    for (size_t b = 0; b < x.size() / 32; b++) {
        float* blk = &x[b * 32];
        switch (b % 11) {
        case 1: for (int i = 0; i < 32; i++) blk[i] = rng.wide(30); break;
        case 2: for (int i = 0; i < 32; i++) blk[i] = 0.0f; break;
        case 3: for (int i = 0; i < 32; i++) blk[i] = from_bits((uint32_t)rng.next() & 0x807fffffu); break;
        case 4:
            for (int i = 0; i < 32; i++) blk[i] = (float)(i - 16) * 4.0f + 0.5f;
            blk[0] = 127.0f;
            break;
        case 5: blk[7] = from_bits(0x7f800000u); break;
        case 6: blk[3] = from_bits(0x7fc00000u); break;
        case 7: for (int i = 0; i < 32; i++) blk[i] = 3.4028234e38f * rng.unit(); break;
        case 8: for (int i = 0; i < 32; i++) blk[i] = rng.unit() * 1e-30f; break;
        default: break;
        }
    }
    return x;
}

static void check_quantize_and_matmul() {
    Rng rng(101);
    const int ntok = 4, rows = 96;
    const int types[10] = {AK_F32, AK_F16, AK_Q4_0, AK_Q4_1, AK_Q5_0,
                           AK_Q5_1, AK_Q8_0, AK_Q4_K, AK_Q5_K, AK_Q6_K};
    const char* names[10] = {"F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"};
    const int cols = 2048;
    std::vector<float> x = activations(rng, ntok, cols);
    int nb = ntok * cols / 32;
    std::vector<int8_t> q(x.size());
    std::vector<float> d(nb);
    std::vector<int32_t> s(nb);
    ak_host_quantize(x.data(), nb, q.data(), d.data(), s.data());
    float* dx = to_device(x);
    int8_t* dq;
    float* dd;
    int32_t* ds;
    CK(cudaMalloc(&dq, x.size()));
    CK(cudaMalloc(&dd, nb * sizeof(float)));
    CK(cudaMalloc(&ds, nb * sizeof(int32_t)));
    ak_quantize_kernel<<<grid(nb), 256>>>(dx, nb, dq, dd, ds);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<int8_t> gq = from_device(dq, x.size());
    std::vector<int32_t> gs = from_device(ds, nb);
    compare_f32("quantize.d", from_device(dd, nb), d, nullptr);
    Result r;
    r.name = "quantize.q_and_s";
    r.n = (long long)(q.size() + s.size());
    for (size_t i = 0; i < q.size(); i++) r.mismatches += gq[i] != q[i];
    for (size_t i = 0; i < s.size(); i++) r.mismatches += gs[i] != s[i];
    std::printf("%-28s %12lld outputs, %lld mismatches\n", r.name.c_str(), r.n, r.mismatches);
    results.push_back(r);

    for (int ti = 0; ti < 10; ti++) {
        int t = types[ti];
        int rb = ak_host_row_bytes(t, cols);
        std::vector<uint8_t> w((size_t)rows * rb);
        for (auto& b : w) b = (uint8_t)(rng.next() >> 56);
        // Finite f16 factors where the layout has them (random bytes elsewhere).
        int bs = 0, offs[2] = {-1, -1};
        switch (t) {
        case AK_Q4_0: bs = 18; offs[0] = 0; break;
        case AK_Q4_1: bs = 20; offs[0] = 0; offs[1] = 2; break;
        case AK_Q5_0: bs = 22; offs[0] = 0; break;
        case AK_Q5_1: bs = 24; offs[0] = 0; offs[1] = 2; break;
        case AK_Q8_0: bs = 34; offs[0] = 0; break;
        case AK_Q4_K: bs = 144; offs[0] = 0; offs[1] = 2; break;
        case AK_Q5_K: bs = 176; offs[0] = 0; offs[1] = 2; break;
        case AK_Q6_K: bs = 210; offs[0] = 208; break;
        default: break;
        }
        if (t == AK_F16) {
            for (size_t i = 0; i + 1 < w.size(); i += 2) {
                uint16_t h = rng.f16();
                std::memcpy(&w[i], &h, 2);
            }
        } else if (t == AK_F32) {
            for (size_t i = 0; i + 3 < w.size(); i += 4) {
                float f = rng.wide(12);
                std::memcpy(&w[i], &f, 4);
            }
        } else {
            for (size_t b = 0; b < w.size() / bs; b++) {
                for (int o : offs) {
                    if (o < 0) continue;
                    uint16_t h = rng.f16();
                    std::memcpy(&w[b * bs + o], &h, 2);
                }
            }
        }
        // The host's one-token-per-call result against the GPU's at several tiles (one thread
        // taking 1, 3 or 8 tokens): every tile gives the same bits.
        std::vector<float> out((size_t)rows * ntok);
        ak_host_matmul(t, w.data(), rows, cols, ntok, 1, x.data(), q.data(), d.data(), s.data(), out.data());
        uint8_t* dw = to_device(w);
        float* dout;
        CK(cudaMalloc(&dout, out.size() * sizeof(float)));
        for (int tile : {1, 3, 8}) {
            CK(cudaMemset(dout, 0xff, out.size() * sizeof(float)));
            long long threads = ak_matmul_threads(rows, ntok, tile);
            // The GPU uses its own quantization (already compared above).
            ak_matmul_kernel<<<grid(threads * AK_MM_LANES), 256>>>(t, dw, rows, cols, ntok, tile, dx, dq, dd, ds, dout);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            compare_f32(std::string("matmul.") + names[ti] + ".tile" + std::to_string(tile),
                        from_device(dout, out.size()), out, nullptr);
        }
        CK(cudaFree(dw));
        CK(cudaFree(dout));
    }
    CK(cudaFree(dx));
    CK(cudaFree(dq));
    CK(cudaFree(dd));
    CK(cudaFree(ds));
}

// expf and tanhf over every `stride`-th f32 bit pattern (all signs, NaN and infinity
// included), in chunks.
static void check_transcendental(int op, const char* name, uint32_t stride) {
    Result total;
    total.name = name;
    const size_t chunk = 1u << 24;
    std::vector<float> a, host, gpu;
    float *da = nullptr, *dout = nullptr;
    CK(cudaMalloc(&da, chunk * sizeof(float)));
    CK(cudaMalloc(&dout, chunk * sizeof(float)));
    uint64_t b = 0;
    while (b <= 0xffffffffull) {
        a.clear();
        while (a.size() < chunk && b <= 0xffffffffull) {
            a.push_back(from_bits((uint32_t)b));
            b += stride;
        }
        host.assign(a.size(), 0.0f);
        ak_host_unary(op, a.data(), a.data(), 0.0f, (int)a.size(), host.data());
        CK(cudaMemcpy(da, a.data(), a.size() * sizeof(float), cudaMemcpyHostToDevice));
        ak_unary_kernel<<<grid((long long)a.size()), 256>>>(op, da, da, 0.0f, (int)a.size(), dout);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        gpu = from_device(dout, a.size());
        for (size_t i = 0; i < a.size(); i++) {
            bool nan_both = gpu[i] != gpu[i] && host[i] != host[i];
            if (bits_of(gpu[i]) != bits_of(host[i]) && !nan_both) {
                if (total.mismatches == 0) {
                    char buf[200];
                    std::snprintf(buf, sizeof buf, "input 0x%08x gpu 0x%08x host 0x%08x", bits_of(a[i]),
                                  bits_of(gpu[i]), bits_of(host[i]));
                    total.first = buf;
                }
                total.mismatches++;
            }
        }
        total.n += (long long)a.size();
    }
    CK(cudaFree(da));
    CK(cudaFree(dout));
    std::printf("%-28s %12lld outputs, %lld mismatches %s\n", name, total.n, total.mismatches,
                total.first.c_str());
    results.push_back(total);
}

static void check_ops() {
    Rng rng(202);
    const int n = 1 << 20;
    std::vector<float> g(n), u(n);
    for (int i = 0; i < n; i++) {
        g[i] = rng.wide(6) * 4.0f;
        u[i] = rng.wide(8);
    }
    float* dg = to_device(g);
    float* du = to_device(u);
    float* dout;
    CK(cudaMalloc(&dout, n * sizeof(float)));
    struct { int op; float c; const char* name; } ops[3] = {
        {2, 0.0f, "silu_mul"}, {3, 0.0f, "gelu_mul"}, {4, 30.0f, "softcap"}};
    for (auto& o : ops) {
        std::vector<float> host(n);
        ak_host_unary(o.op, g.data(), u.data(), o.c, n, host.data());
        ak_unary_kernel<<<grid(n), 256>>>(o.op, dg, du, o.c, n, dout);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        compare_f32(o.name, from_device(dout, n), host, g.data());
    }
    // RMSNorm: 64 rows of 4096.
    const int width = 4096, nrows = 64;
    std::vector<float> x((size_t)width * nrows), w(width);
    for (auto& v : x) v = rng.wide(4);
    for (auto& v : w) v = 1.0f + rng.unit();
    for (int i = 0; i < width; i++) x[width + i] = 0.0f;
    std::vector<float> host(x.size());
    ak_host_rmsnorm(x.data(), w.data(), 1e-5f, width, nrows, host.data());
    float* dx = to_device(x);
    float* dw = to_device(w);
    float* dn;
    CK(cudaMalloc(&dn, x.size() * sizeof(float)));
    ak_rmsnorm_kernel<<<grid(nrows), 256>>>(dx, dw, 1e-5f, width, nrows, dn);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    compare_f32("rmsnorm", from_device(dn, x.size()), host, nullptr);
    CK(cudaFree(dg));
    CK(cudaFree(du));
    CK(cudaFree(dout));
    CK(cudaFree(dx));
    CK(cudaFree(dw));
    CK(cudaFree(dn));
}

static void check_rope_and_f16() {
    Rng rng(404);
    const int hd = 128, nheads = 32;
    std::vector<float> cs(hd), x((size_t)hd * nheads);
    for (auto& v : cs) v = rng.unit();
    for (auto& v : x) v = rng.wide(10);
    float* dcs = to_device(cs);
    for (int neox = 0; neox < 2; neox++) {
        std::vector<float> host = x;
        ak_host_rope(host.data(), hd, nheads, cs.data(), neox);
        float* dx = to_device(x);
        ak_rope_kernel<<<grid(nheads * hd / 2), 256>>>(dx, hd, nheads, dcs, neox);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        compare_f32(neox ? "rope.neox" : "rope.normal", from_device(dx, x.size()), host, x.data());
        CK(cudaFree(dx));
    }
    CK(cudaFree(dcs));
    // Every 97th f32 bit pattern to binary16.
    std::vector<float> v;
    for (uint64_t b = 0; b <= 0xffffffffull; b += 97) v.push_back(from_bits((uint32_t)b));
    std::vector<uint16_t> host(v.size());
    ak_host_f32_to_f16(v.data(), (int)v.size(), host.data());
    float* dv = to_device(v);
    uint16_t* dh;
    CK(cudaMalloc(&dh, v.size() * sizeof(uint16_t)));
    ak_f32_to_f16_kernel<<<grid((long long)v.size()), 256>>>(dv, (int)v.size(), dh);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<uint16_t> gpu = from_device(dh, v.size());
    Result r;
    r.name = "f32_to_f16";
    r.n = (long long)v.size();
    for (size_t i = 0; i < v.size(); i++) r.mismatches += gpu[i] != host[i];
    std::printf("%-28s %12lld outputs, %lld mismatches\n", r.name.c_str(), r.n, r.mismatches);
    results.push_back(r);
    CK(cudaFree(dv));
    CK(cudaFree(dh));
}

static uint16_t f16_of_small(Rng& rng) {
    // Finite binary16, exponent field 1..20 (|v| < 64), either sign.
    return (uint16_t)((rng.next() & 0x83ffu) | ((1u + (uint32_t)(rng.next() % 20)) << 10));
}

static void check_attention() {
    Rng rng(303);
    const int sizes[3][2] = {{1, 64}, {333, 128}, {2048, 64}};
    for (auto& sz : sizes) {
        int n = sz[0], hd = sz[1];
        std::vector<float> q(hd);
        for (auto& v : q) v = rng.wide(2);
        std::vector<uint16_t> k((size_t)n * hd), v((size_t)n * hd);
        for (auto& e : k) e = f16_of_small(rng);
        for (auto& e : v) e = f16_of_small(rng);
        std::vector<float> scores(n), host(hd);
        ak_host_attention(q.data(), k.data(), v.data(), n, hd, scores.data(), host.data());
        float* dq = to_device(q);
        uint16_t* dk = to_device(k);
        uint16_t* dv = to_device(v);
        float *ds, *dsum, *dout;
        CK(cudaMalloc(&ds, n * sizeof(float)));
        CK(cudaMalloc(&dsum, sizeof(float)));
        CK(cudaMalloc(&dout, hd * sizeof(float)));
        ak_attn_scores_kernel<<<grid(n), 256>>>(dq, dk, n, hd, ds);
        ak_attn_softmax_kernel<<<1, 1>>>(ds, n, dsum);
        ak_attn_values_kernel<<<grid(hd), 256>>>(ds, dsum, dv, n, hd, dout);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        compare_f32("attention.n" + std::to_string(n) + ".hd" + std::to_string(hd),
                    from_device(dout, hd), host, nullptr);
        CK(cudaFree(dq));
        CK(cudaFree(dk));
        CK(cudaFree(dv));
        CK(cudaFree(ds));
        CK(cudaFree(dsum));
        CK(cudaFree(dout));
    }
}

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT.json\n", argv[0]);
        return 2;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    check_quantize_and_matmul();
    check_transcendental(0, "expf", 61);
    check_transcendental(1, "tanhf", 61);
    check_ops();
    check_rope_and_f16();
    check_attention();

    bool all = true;
    FILE* f = std::fopen(argv[1], "w");
    if (!f) {
        std::perror(argv[1]);
        return 2;
    }
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"compute_capability\": \"%d.%d\",\n  \"checks\": [\n",
                 prop.name, prop.major, prop.minor);
    for (size_t i = 0; i < results.size(); i++) {
        const Result& r = results[i];
        all = all && r.mismatches == 0;
        std::fprintf(f, "    {\"name\": \"%s\", \"outputs\": %lld, \"mismatches\": %lld, \"first\": \"%s\"}%s\n",
                     r.name.c_str(), r.n, r.mismatches, r.first.c_str(), i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "  ],\n  \"bit_identical\": %s\n}\n", all ? "true" : "false");
    std::fclose(f);
    std::printf("%s\n", all ? "GPU == host build: bit-identical" : "MISMATCH");
    return all ? 0 : 1;
}
