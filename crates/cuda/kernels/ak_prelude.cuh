// aikernel CUDA kernels: the macro layer that lets one source compile as CUDA (nvcc/NVRTC)
// and as plain host C++ (g++/clang++), plus bit casts and the exact binary16 decode.
//
// Arithmetic rules (both targets): every f32 operation rounded on its own (no contraction:
// nvcc -fmad=false, g++ -ffp-contract=off), IEEE division and square root (__fdiv_rn,
// __fsqrt_rn on the device), subnormals kept (nvcc -ftz=false; SSE2 on the host with no
// DAZ/FTZ), every reduction one sequential loop in one thread (no split sums, no atomics).
#pragma once

#ifdef __CUDACC__
#define AK_FN __device__ __forceinline__
// Also callable from host code (launch sizes that gpu_check.cu computes too).
#define AK_HD_FN __host__ __device__ __forceinline__
#define AK_GLOBAL extern "C" __global__
// Loops over a fixed count whose array elements must stay in registers.
#define AK_UNROLL _Pragma("unroll")
#else
#define AK_UNROLL
#define AK_HD_FN static inline
#include <cmath>
#include <cstdint>
#include <cstring>
#define AK_FN static inline
#define __device__
#define __global__
#define __forceinline__ inline
#endif

// The first statement of every forward kernel. Graphs launch the forward kernels as
// programmatic dependent launches on compute capability 9.0 and later (src/gpu/graph.rs): a
// kernel's blocks may start while the kernel before it is still running. Each block first
// lets the next kernel start its own blocks (launch_dependents), then waits until the kernel
// before it has finished and its writes are visible (wait), and only then touches memory: every
// read and write is ordered after the previous kernel's as with plain launches, so the
// results are the same bits; what overlaps is the launch's latency. Launched without the
// attribute (graphs off, older GPUs), both instructions do nothing; on the host it is empty.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define AK_GRID_WAIT() \
    asm volatile("griddepcontrol.launch_dependents;\n\tgriddepcontrol.wait;" ::: "memory")
#else
#define AK_GRID_WAIT() ((void)0)
#endif

#ifdef __CUDACC_RTC__
typedef unsigned char uint8_t;
typedef signed char int8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef int int32_t;
#elif defined(__CUDACC__)
#include <cstdint>
#endif

// Raw f32 <-> u32 bits.
AK_FN float ak_f32(uint32_t u) {
#ifdef __CUDACC__
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}

AK_FN uint32_t ak_bits(float f) {
#ifdef __CUDACC__
    return __float_as_uint(f);
#else
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
#endif
}

// IEEE division and square root, round to nearest even, whatever the compiler flags.
AK_FN float ak_div(float a, float b) {
#ifdef __CUDACC__
    return __fdiv_rn(a, b);
#else
    return a / b;
#endif
}

AK_FN float ak_sqrt(float a) {
#ifdef __CUDACC__
    return __fsqrt_rn(a);
#else
    return std::sqrt(a);
#endif
}

AK_FN float ak_fabs(float a) { return ak_f32(ak_bits(a) & 0x7fffffffu); }

// A little-endian 2-byte value at an address that is a multiple of 2 (the device reads it
// whole): every binary16 of the weight formats (block scales at even offsets of even-sized
// blocks, F16 rows); device buffers start 256-aligned.
AK_FN uint16_t ak_u16(const uint8_t* p) {
#ifdef __CUDACC__
    return *(const uint16_t*)p;
#else
    return (uint16_t)(p[0] | (p[1] << 8));
#endif
}

// A little-endian 4-byte value from a byte array (no alignment assumed).
AK_FN uint32_t ak_u32(const uint8_t* p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

// Four signed bytes of a times four of b, plus c: exact in i32 for the kernels' values (the
// device's dp4a; the host sums the same products).
AK_FN int32_t ak_dp4a(uint32_t a, uint32_t b, int32_t c) {
#ifdef __CUDACC__
    return __dp4a((int)a, (int)b, c);
#else
    for (int i = 0; i < 4; i++) c += (int32_t)(int8_t)(a >> (8 * i)) * (int32_t)(int8_t)(b >> (8 * i));
    return c;
#endif
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define AK_HAS_MMA 1
// c += A·B for one warp's 16x8 tile of products over 32 signed bytes: the tensor cores'
// mma.m16n8k32 .s8, exact in int32 (every product and sum of the kernels' values fits), so
// its order of additions cannot change a bit. Lane l, with g = l / 4 and t = l % 4, holds
// (PTX ISA, "Matrix Fragments for mma.m16n8k32"): a0 = A[g][4t .. 4t+3],
// a1 = A[g+8][4t .. 4t+3], a2 = A[g][16+4t .. 16+4t+3], a3 = A[g+8][16+4t .. 16+4t+3] (byte b
// of a word is the b-th value); b0 = B[4t .. 4t+3][g], b1 = B[16+4t .. 16+4t+3][g];
// c[0], c[1] = C[g][2t], C[g][2t+1]; c[2], c[3] = C[g+8][2t], C[g+8][2t+1]. Every lane of the
// warp must execute it together. Compute capability 8.0 and later.
AK_FN void ak_mma_s8(uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                     uint32_t b1, int32_t* c) {
    asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
#endif

// A 4-byte word of an array whose address is a multiple of 4 (the device reads it whole).
AK_FN uint32_t ak_u32_aligned(const void* p) {
#ifdef __CUDACC__
    return *(const uint32_t*)p;
#else
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
#endif
}

// A 4-byte word at an address that is a multiple of 2: two 16-bit reads on the device (the
// words of Q8_0, Q4_0, Q5_0 and Q6_K blocks, whose sizes are even but not multiples of 4).
AK_FN uint32_t ak_u32_even(const uint8_t* p) {
#ifdef __CUDACC__
    const uint16_t* h = (const uint16_t*)p;
    return (uint32_t)h[0] | ((uint32_t)h[1] << 16);
#else
    return ak_u32(p);
#endif
}

// binary16 -> f32, exact (the engine's f16_to_f32).
AK_FN float ak_f16(uint16_t h) {
#ifdef __CUDA_ARCH__
    // The hardware conversion: binary16 to f32 is exact, so it gives these bits (a NaN's
    // payload aside, and a NaN stays a NaN through every later operation).
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (e == 0 && mant == 0) {
        bits = sign;
    } else if (e == 0) {
        // mant * 2^-24, exact in f32.
        bits = sign | ak_bits((float)mant * ak_f32(0x33800000u));
    } else if (e == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((e + 112u) << 23) | (mant << 13);
    }
    return ak_f32(bits);
#endif
}

AK_FN float ak_f16_at(const uint8_t* p) { return ak_f16(ak_u16(p)); }

// Elements per activation block, values per K-quant super-block.
#define AK_QK 32
#define AK_QK_K 256

// ggml type ids the dot products take.
#define AK_F32 0
#define AK_F16 1
#define AK_Q4_0 2
#define AK_Q4_1 3
#define AK_Q5_0 6
#define AK_Q5_1 7
#define AK_Q8_0 8
#define AK_Q4_K 12
#define AK_Q5_K 13
#define AK_Q6_K 14

// `m >> shift` rounded to nearest, ties to even (f16.rs round_shift).
AK_FN uint32_t ak_round_shift(uint32_t m, uint32_t shift) {
    uint32_t h = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u) == 1u)) return h + 1u;
    return h;
}

// f32 -> binary16 bits, round to nearest even, overflow to infinity, NaN quiet (the engine's
// f32_to_f16, which writes the KV cache).
AK_FN uint16_t ak_f32_to_f16(float x) {
    uint32_t bits = ak_bits(x);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    int e8 = (int)((bits >> 23) & 0xffu);
    uint32_t mant = bits & 0x7fffffu;
    if (e8 == 0xff) {
        return mant == 0 ? (uint16_t)(sign | 0x7c00u) : (uint16_t)(sign | 0x7e00u | (mant >> 13));
    }
    int e = e8 - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return sign;
        uint32_t m = mant | 0x800000u;
        return (uint16_t)(sign | ak_round_shift(m, (uint32_t)(14 - e)));
    }
    return (uint16_t)(sign | ak_round_shift(((uint32_t)e << 23) | mant, 13));
}
