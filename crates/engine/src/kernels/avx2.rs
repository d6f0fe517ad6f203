//! AVX2 kernels: eight output rows per step, one lane per row, the same f32 operation
//! sequence as the scalar code (separate multiply and add, never fused).
#![allow(unsafe_code)]

use super::{Acts, QK, WeightView};
use crate::gguf::GgmlType;

/// Buffers reused across row groups (unpacked weights and scales).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    wq: Vec<u8>,
    dw: Vec<u16>,
    mw: Vec<u16>,
}

/// Whether this CPU has AVX2 and F16C (f16 → f32 conversion is exact, as the table's).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Rows `r0..r0+8` for every token into `out` (`[row][token]`). Caller checked `available()`
/// and that the type is Q4_0, Q4_1 or Q8_0.
pub(super) fn rows8(
    w: &WeightView<'_>,
    a: &Acts<'_>,
    r0: usize,
    out: &mut [f32],
    scratch: &mut Scratch,
) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rows8` is only called when `available()` reported AVX2 and F16C support.
        unsafe {
            match w.dtype {
                GgmlType::Q8_0 => x86::rows8::<{ x86::Q8_0 }>(w, a, r0, out, scratch),
                GgmlType::Q4_0 => x86::rows8::<{ x86::Q4_0 }>(w, a, r0, out, scratch),
                _ => x86::rows8::<{ x86::Q4_1 }>(w, a, r0, out, scratch),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = scratch;
        for rr in 0..8 {
            for t in 0..a.n() {
                out[rr * a.n() + t] = super::scalar::dot_row(w, a, r0 + rr, t);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm_and_si128, _mm_loadu_si128, _mm_set1_epi8, _mm_srli_epi16,
        _mm256_abs_epi8, _mm256_add_epi32, _mm256_add_ps, _mm256_cvtepi32_ps, _mm256_cvtph_ps,
        _mm256_hadd_epi32, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
        _mm256_mul_ps, _mm256_permute2x128_si256, _mm256_set_m128i, _mm256_set1_epi16,
        _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm256_sign_epi8, _mm256_storeu_ps,
        _mm256_storeu_si256, _mm256_sub_epi32,
    };

    use super::{Acts, QK, Scratch, WeightView};

    /// Const-generic type tags (one monomorphised kernel per weight type).
    pub(super) const Q8_0: u8 = 0;
    /// Q4_0 tag.
    pub(super) const Q4_0: u8 = 1;
    /// Q4_1 tag.
    pub(super) const Q4_1: u8 = 2;

    /// Sums the eight i32 lanes of each of `v[0..8]` into lane `i` of the result (exact).
    #[target_feature(enable = "avx2")]
    fn hsum8(v: &[__m256i; 8]) -> __m256i {
        let s01 = _mm256_hadd_epi32(v[0], v[1]);
        let s23 = _mm256_hadd_epi32(v[2], v[3]);
        let s45 = _mm256_hadd_epi32(v[4], v[5]);
        let s67 = _mm256_hadd_epi32(v[6], v[7]);
        let t0 = _mm256_hadd_epi32(s01, s23);
        let t1 = _mm256_hadd_epi32(s45, s67);
        let lo = _mm256_permute2x128_si256::<0x20>(t0, t1);
        let hi = _mm256_permute2x128_si256::<0x31>(t0, t1);
        _mm256_add_epi32(lo, hi)
    }

    // Loads are unaligned (`loadu`), so the pointer casts need no alignment.
    #[allow(clippy::cast_ptr_alignment)]
    #[target_feature(enable = "avx2,f16c")]
    pub(super) fn rows8<const T: u8>(
        w: &WeightView<'_>,
        a: &Acts<'_>,
        r0: usize,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let n = a.n();
        let rb = w.row_bytes();
        let nb = w.cols / QK;
        let ones = _mm256_set1_epi16(1);
        let mask = _mm_set1_epi8(0x0F);
        let (bs, qoff) = match T {
            Q8_0 => (34, 2),
            Q4_0 => (18, 2),
            _ => (20, 4),
        };
        // Unpack the eight rows once: 32 weight bytes per (block, row), scales per block.
        scratch.wq.resize(nb * 8 * QK, 0);
        scratch.dw.resize(nb * 8, 0);
        scratch.mw.resize(nb * 8, 0);
        let Scratch { wq, dw, mw } = scratch;
        for i in 0..8 {
            let row = &w.data[(r0 + i) * rb..(r0 + i + 1) * rb];
            for b in 0..nb {
                let blk = &row[b * bs..(b + 1) * bs];
                dw[b * 8 + i] = u16::from_le_bytes([blk[0], blk[1]]);
                let dst = &mut wq[(b * 8 + i) * QK..(b * 8 + i + 1) * QK];
                if T == Q8_0 {
                    dst.copy_from_slice(&blk[qoff..qoff + QK]);
                } else {
                    if T == Q4_1 {
                        mw[b * 8 + i] = u16::from_le_bytes([blk[2], blk[3]]);
                    }
                    let q = &blk[qoff..qoff + 16];
                    // SAFETY: `q` is exactly 16 bytes; unaligned load.
                    let v = unsafe { _mm_loadu_si128(q.as_ptr().cast::<__m128i>()) };
                    let lo = _mm_and_si128(v, mask);
                    let hi = _mm_and_si128(_mm_srli_epi16::<4>(v), mask);
                    // SAFETY: `dst` is exactly 32 bytes; unaligned store.
                    unsafe {
                        _mm256_storeu_si256(
                            dst.as_mut_ptr().cast::<__m256i>(),
                            _mm256_set_m128i(hi, lo),
                        );
                    }
                }
            }
        }
        for t in 0..n {
            let mut acc = _mm256_setzero_ps();
            for b in 0..nb {
                let ab = (t * nb + b) * QK;
                let qa = &a.q[ab..ab + QK];
                // SAFETY: `qa` is exactly 32 bytes; unaligned load.
                let av = unsafe { _mm256_loadu_si256(qa.as_ptr().cast::<__m256i>()) };
                let wb = &wq[b * 8 * QK..(b + 1) * 8 * QK];
                let sums: [__m256i; 8] = std::array::from_fn(|i| {
                    // SAFETY: each row's slot is exactly 32 bytes inside `wb`; unaligned load.
                    let wv = unsafe {
                        _mm256_loadu_si256(wb[i * QK..(i + 1) * QK].as_ptr().cast::<__m256i>())
                    };
                    let p = if T == Q8_0 {
                        _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv))
                    } else {
                        _mm256_maddubs_epi16(wv, av)
                    };
                    _mm256_madd_epi16(p, ones)
                });
                let mut isum = hsum8(&sums);
                let sa = a.s[t * nb + b];
                if T == Q4_0 {
                    isum = _mm256_sub_epi32(isum, _mm256_set1_epi32(8 * sa));
                }
                let da = _mm256_set1_ps(a.d[t * nb + b]);
                // SAFETY: `dw[b * 8..b * 8 + 8]` is 8 u16 (16 bytes); unaligned load.
                let dwv = _mm256_cvtph_ps(unsafe {
                    _mm_loadu_si128(dw[b * 8..b * 8 + 8].as_ptr().cast::<__m128i>())
                });
                acc = _mm256_add_ps(
                    acc,
                    _mm256_mul_ps(_mm256_mul_ps(dwv, da), _mm256_cvtepi32_ps(isum)),
                );
                if T == Q4_1 {
                    // SAFETY: `mw[b * 8..b * 8 + 8]` is 8 u16 (16 bytes); unaligned load.
                    let mwv = _mm256_cvtph_ps(unsafe {
                        _mm_loadu_si128(mw[b * 8..b * 8 + 8].as_ptr().cast::<__m128i>())
                    });
                    acc = _mm256_add_ps(
                        acc,
                        _mm256_mul_ps(_mm256_mul_ps(mwv, da), _mm256_set1_ps(sa as f32)),
                    );
                }
            }
            let mut lanes = [0f32; 8];
            // SAFETY: `lanes` holds 8 f32; unaligned store.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
            for (i, &v) in lanes.iter().enumerate() {
                out[i * n + t] = v;
            }
        }
    }
}
