//! Matrix-vector kernels with one fixed reduction order per output element.
//!
//! Activations are quantized per block of 32 to i8 (`d = amax / 127`, `q = round_ties_even(x / d)`
//! clamped to ±127, `d = 0` gives zeros). For a quantized weight row the integer dot product of
//! each block is exact; blocks are then accumulated in ascending order in f32 as
//! `acc = acc + (d_w * d_a) * isum` (Q4_1 also `acc = acc + (m_w * d_a) * sum(q_a)`), each
//! operation rounded on its own (never fused). The SIMD kernels vectorise across output rows
//! (AVX2 and NEON: eight, AVX-512: sixteen) and run exactly that sequence per lane, so they
//! are bit-identical to the scalar code.
//! Q5_0, Q5_1 and the K-quants (Q4_K, Q5_K, Q6_K) meet the same per-32 activation blocks; their
//! exact integer sums and f32 update sequences are defined in `kquant` (scalar) and run per
//! lane by every SIMD kernel (`avx2`, `avx2/k.rs`, `avx512`, `avx512/k.rs`, `neon`).
//! F32/F16 weights use the f32 activations with a sequential f32 dot product (scalar only).

mod acts;
pub(crate) mod attention;
// The x86 kernels compile to a scalar stand-in elsewhere, which leaves parts unused there.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]
mod avx2;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]
mod avx512;
mod choice;
mod ctx;
pub(crate) mod exp;
mod kquant;
#[cfg(test)]
mod kquant_tests;
mod matmul;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]
mod neon;
pub mod reference;
mod scalar;
pub(crate) mod tanh;
mod team;
#[cfg(test)]
mod testdata;
mod weights;

pub use acts::{Acts, QK};
pub use choice::Kernel;
pub use ctx::{Ctx, CtxError, MAX_THREADS, thread_limit};
pub use matmul::{MatJob, matmul, matmul_many, matmul_rows};
pub use weights::{WEIGHT_TYPES, WeightView, dequant_row, runs_quantized};
pub(crate) use weights::{f16_at, f16_lut};

/// Whether the AVX2 kernels can run on this CPU.
#[cfg(test)]
pub(crate) fn avx2_available() -> bool {
    avx2::available()
}
