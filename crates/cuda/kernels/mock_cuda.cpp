// A CPU stand-in for the CUDA driver API and NVRTC entry points the launch path
// (src/gpu) calls, built by build.rs as shared libraries for the tests (libak_mock_cuda.so,
// and libak_mock_nvrtc_fail.so with AK_MOCK_NVRTC_FAIL, whose compile always fails). Device
// memory is host memory; cuLaunchKernel runs the named forward kernel through ak_host_launch
// with the same parameter array (n first). It exercises the Rust launch path's loading,
// argument packing, buffers and errors on machines without a GPU; it proves nothing about GPU
// arithmetic.
#include <cstdlib>
#include <cstring>
#include <string>

#include "host.cpp"

namespace {
const char* const kNames[AK_K_COUNT] = {
    "ak_fwd_embed",      "ak_fwd_scale",  "ak_fwd_rmsnorm",     "ak_fwd_quantize",
    "ak_fwd_norm_quant", "ak_fwd_matmul", "ak_fwd_add",         "ak_fwd_rope_kv",
    "ak_fwd_attention",  "ak_fwd_gated",  "ak_fwd_gated_quant", "ak_fwd_softcap",
    "ak_fwd_gather",
};
int g_module = 0;
int g_ids[AK_K_COUNT];
struct Prog {
    std::string log;
    bool ok = false;
};
}  // namespace

extern "C" {
int cuInit(unsigned) { return 0; }
int cuDeviceGet(int* d, int ordinal) {
    if (ordinal != 0) return 101;  // CUDA_ERROR_INVALID_DEVICE
    *d = 0;
    return 0;
}
int cuDeviceGetAttribute(int* v, int attr, int) {
    *v = attr == 75 ? 9 : 0;
    return 0;
}
int cuDevicePrimaryCtxRetain(void** ctx, int) {
    *ctx = &g_module;
    return 0;
}
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void*) { return 0; }
int cuModuleLoadData(void** m, const void* image) {
    if (std::strncmp((const char*)image, "// mock ptx", 11) != 0) return 200;  // INVALID_IMAGE
    *m = &g_module;
    return 0;
}
int cuModuleUnload(void*) { return 0; }
int cuModuleGetFunction(void** f, void*, const char* name) {
    for (int k = 0; k < AK_K_COUNT; k++) {
        if (std::strcmp(name, kNames[k]) == 0) {
            g_ids[k] = k;
            *f = &g_ids[k];
            return 0;
        }
    }
    return 500;  // CUDA_ERROR_NOT_FOUND
}
// Allocations so far by the calling thread (tests read it through ak_mock_allocations; each
// test runs on its own thread).
static thread_local long long g_allocations = 0;
long long ak_mock_allocations() { return g_allocations; }
int cuMemAlloc_v2(unsigned long long* p, size_t n) {
    g_allocations++;
    void* m = std::malloc(n);
    if (!m) return 2;  // OUT_OF_MEMORY
    *p = (unsigned long long)m;
    return 0;
}
int cuMemFree_v2(unsigned long long p) {
    std::free((void*)p);
    return 0;
}
int cuMemcpyHtoD_v2(unsigned long long d, const void* s, size_t n) {
    std::memcpy((void*)d, s, n);
    return 0;
}
int cuMemcpyDtoH_v2(void* d, unsigned long long s, size_t n) {
    std::memcpy(d, (const void*)s, n);
    return 0;
}
int cuMemcpyDtoD_v2(unsigned long long d, unsigned long long s, size_t n) {
    std::memcpy((void*)d, (const void*)s, n);
    return 0;
}
int cuMemsetD8_v2(unsigned long long d, unsigned char v, size_t n) {
    std::memset((void*)d, v, n);
    return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned, void*, void** params, void** extra) {
    long long n = *(long long*)params[0];
    if (extra || gy != 1 || gz != 1 || by != 1 || bz != 1) return 1;  // INVALID_VALUE
    if ((long long)gx * bx < n) return 1;
    return ak_host_launch(*(int*)f, n, params + 1) == 0 ? 0 : 1;
}
int cuCtxSynchronize() { return 0; }

int nvrtcCreateProgram(void** prog, const char* src, const char*, int nh, const char* const* hs,
                       const char* const* names) {
    Prog* p = new Prog();
    bool forward = false;
    for (int i = 0; i < nh; i++) forward = forward || (std::strcmp(names[i], "ak_forward.cuh") == 0 && hs[i][0]);
    p->ok = forward && std::strstr(src, "ak_forward.cuh") != nullptr;
    if (!p->ok) p->log = "mock nvrtc: ak_forward.cuh not given";
    *prog = p;
    return 0;
}
int nvrtcCompileProgram(void* prog, int n, const char* const* opts) {
    Prog* p = (Prog*)prog;
    const char* need[] = {"--fmad=false", "-prec-div=true", "-prec-sqrt=true", "-ftz=false"};
    for (const char* o : need) {
        bool found = false;
        for (int i = 0; i < n; i++) found = found || std::strcmp(opts[i], o) == 0;
        if (!found) {
            p->ok = false;
            p->log = std::string("mock nvrtc: missing option ") + o;
        }
    }
#ifdef AK_MOCK_NVRTC_FAIL
    p->ok = false;
    p->log = "ak_forward.cu(1): error: mock nvrtc refuses to compile";
#endif
    return p->ok ? 0 : 6;  // NVRTC_ERROR_COMPILATION
}
int nvrtcGetProgramLogSize(void* prog, size_t* n) {
    *n = ((Prog*)prog)->log.size() + 1;
    return 0;
}
int nvrtcGetProgramLog(void* prog, char* out) {
    std::memcpy(out, ((Prog*)prog)->log.c_str(), ((Prog*)prog)->log.size() + 1);
    return 0;
}
static const char kPtx[] = "// mock ptx\n";
int nvrtcGetPTXSize(void*, size_t* n) {
    *n = sizeof kPtx;
    return 0;
}
int nvrtcGetPTX(void*, char* out) {
    std::memcpy(out, kPtx, sizeof kPtx);
    return 0;
}
int nvrtcDestroyProgram(void** prog) {
    delete (Prog*)*prog;
    *prog = nullptr;
    return 0;
}
}  // extern "C"
