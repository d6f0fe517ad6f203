// A CPU stand-in for the parts of the CUDA runtime gpu_check.cu uses, so the check driver's
// own logic (inputs, copies, launches, comparison, JSON) is exercised on machines without a
// GPU: `scripts/gpu-check.sh --mock OUT` compiles gpu_check.cu with g++ and this header, the
// launches rewritten to AK_MOCK_LAUNCH (a loop over blocks and threads). It proves nothing
// about GPU arithmetic.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#define __CUDACC__ 1
// Threads run one after another here, so they cannot meet at a barrier: the kernels take
// their one-thread-per-output forms (AK_MM_LANES 1).
#define AK_NO_BARRIERS 1
#define __host__
#define __device__
#define __global__
#define __forceinline__ inline

struct dim3 {
    unsigned x = 0, y = 0, z = 0;
};
static dim3 blockIdx, blockDim, threadIdx;

inline float __uint_as_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t __float_as_uint(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float __fdiv_rn(float a, float b) { return a / b; }
// Four signed byte products plus c, as the device's dp4a.
inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; i++) c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
    return c;
}
inline float __fsqrt_rn(float a) { return std::sqrt(a); }

typedef int cudaError_t;
enum { cudaSuccess = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2 };
struct cudaDeviceProp {
    char name[256];
    int major, minor;
};
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t n) {
    *p = (T*)std::malloc(n);
    return *p ? cudaSuccess : 2;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, int) {
    std::memcpy(d, s, n);
    return cudaSuccess;
}
inline cudaError_t cudaMemset(void* d, int v, size_t n) {
    std::memset(d, v, n);
    return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) {
    std::free(p);
    return cudaSuccess;
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "mock"; }
inline const char* cudaGetErrorString(cudaError_t) { return "mock"; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    std::strcpy(p->name, "host mock (no GPU)");
    p->major = 0;
    p->minor = 0;
    return cudaSuccess;
}

#define AK_MOCK_LAUNCH(g, b, call)                                        \
    do {                                                                  \
        unsigned g_ = (g), b_ = (b);                                      \
        blockDim.x = b_;                                                  \
        for (blockIdx.x = 0; blockIdx.x < g_; blockIdx.x++)               \
            for (threadIdx.x = 0; threadIdx.x < b_; threadIdx.x++) call;  \
    } while (0)
