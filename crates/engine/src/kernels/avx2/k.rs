//! AVX2 kernels for the K-quants (Q4_K, Q5_K, Q6_K): eight output rows per step, one f32
//! lane per row, the scalar sequence of `kernels::kquant` per lane.
//!
//! Per super-block the eight rows' f16 factors are converted (F16C, exact) and their 6-bit or
//! i8 sub-block scales unpacked to i32 lanes; per 32-value sub-block the rows' values are
//! unpacked once (rows `p` and `p + 4` share a register, as in the Q4 kernel) and every token
//! takes the exact integer sums (`maddubs`, `madd`, `hadd`), the integer scale products
//! (`mullo`, exact: every product is below 2^24) and the f32 update of the scalar code.
#![allow(clippy::cast_ptr_alignment)]

use std::arch::x86_64::{
    __m128i, __m256, __m256i, _MM_HINT_T0, _mm_cvtsi32_si128, _mm_prefetch, _mm256_abs_epi8,
    _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256, _mm256_broadcastsi128_si256,
    _mm256_cvtepi32_ps, _mm256_hadd_epi32, _mm256_loadu_ps, _mm256_loadu_si256,
    _mm256_loadu2_m128i, _mm256_madd_epi16, _mm256_maddubs_epi16, _mm256_mul_ps,
    _mm256_mullo_epi32, _mm256_or_si256, _mm256_set1_epi8, _mm256_set1_epi16, _mm256_set1_epi32,
    _mm256_set1_ps, _mm256_sign_epi8, _mm256_sll_epi16, _mm256_srl_epi16, _mm256_storeu_ps,
    _mm256_sub_epi8, _mm256_sub_ps,
};

use super::super::kquant::{QK_K, k4_scale_min};
use super::super::{Acts, QK};
use super::x86::{q4_isum, scales};

/// Q4_K tag.
pub(super) const Q4_K: u8 = 0;
/// Q5_K tag.
pub(super) const Q5_K: u8 = 1;
/// Q6_K tag.
pub(super) const Q6_K: u8 = 2;

/// Bytes per super-block.
const fn block_bytes(t: u8) -> usize {
    match t {
        Q4_K => 144,
        Q5_K => 176,
        _ => 210,
    }
}

/// Two 16-byte loads at `p + off` (low lane: row `i`, high lane: row `i + 4`) for `i = 0..4`,
/// at offsets `off` and `off + 16`: values 0..16 and 16..32 of a 32-byte run.
///
/// # Safety
/// `p + 7 * rb + off + 32` bytes must be readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn pairs(p: *const u8, rb: usize, off: usize) -> [(__m256i, __m256i); 4] {
    std::array::from_fn(|i| {
        // SAFETY: rows `i` and `i + 4` hold 32 readable bytes at `off` (caller).
        unsafe {
            let lo = p.add(i * rb + off);
            let hi = p.add((i + 4) * rb + off);
            (
                _mm256_loadu2_m128i(hi.cast::<__m128i>(), lo.cast::<__m128i>()),
                _mm256_loadu2_m128i(hi.add(16).cast::<__m128i>(), lo.add(16).cast::<__m128i>()),
            )
        }
    })
}

/// `(v >> shift) & mask` on every byte (16-bit shifts, then the mask drops what crossed).
#[inline]
#[target_feature(enable = "avx2")]
fn bits(v: __m256i, shift: i32, mask: i8) -> __m256i {
    _mm256_and_si256(
        _mm256_srl_epi16(v, _mm_cvtsi32_si128(shift)),
        _mm256_set1_epi8(mask),
    )
}

/// The unsigned values (0..15 or 0..31) of sub-block `j` of a Q4_K/Q5_K super-block for
/// the eight rows (`blk` the first row's super-block), in `nibbles` order.
///
/// # Safety
/// `blk + 7 * rb + block_bytes(T)` bytes must be readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn k4_values<const T: u8>(blk: *const u8, rb: usize, j: usize) -> [(__m256i, __m256i); 4] {
    let qs = if T == Q5_K { 48 } else { 16 };
    // SAFETY: the bytes lie inside each row's super-block (caller).
    let q = unsafe { pairs(blk, rb, qs + 32 * (j / 2)) };
    let shift = 4 * (j as i32 % 2);
    let h = (T == Q5_K).then(|| {
        // SAFETY: as above (`qh` at 16..48).
        unsafe { pairs(blk, rb, 16) }
    });
    std::array::from_fn(|p| {
        let (lo, hi) = (bits(q[p].0, shift, 0x0F), bits(q[p].1, shift, 0x0F));
        match &h {
            None => (lo, hi),
            Some(h) => {
                let up = _mm_cvtsi32_si128(4);
                let five = |v: __m256i| _mm256_sll_epi16(bits(v, j as i32, 1), up);
                (
                    _mm256_or_si256(lo, five(h[p].0)),
                    _mm256_or_si256(hi, five(h[p].1)),
                )
            }
        }
    })
}

/// The signed values (−32..31) of sub-block `j` of a Q6_K super-block for the eight rows.
///
/// # Safety
/// `blk + 7 * rb + 210` bytes must be readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q6_values(blk: *const u8, rb: usize, j: usize) -> [(__m256i, __m256i); 4] {
    let (n, g) = (j / 4, j % 4);
    // SAFETY: `ql` and `qh` runs lie inside each row's super-block (caller).
    let (ql, qh) = unsafe {
        (
            pairs(blk, rb, 64 * n + 32 * (g % 2)),
            pairs(blk, rb, 128 + 32 * n),
        )
    };
    let (lshift, hshift) = (4 * (g as i32 / 2), 2 * g as i32);
    let up = _mm_cvtsi32_si128(4);
    let k32 = _mm256_set1_epi8(32);
    let val = |l: __m256i, h: __m256i| {
        let v = _mm256_or_si256(
            bits(l, lshift, 0x0F),
            _mm256_sll_epi16(bits(h, hshift, 3), up),
        );
        _mm256_sub_epi8(v, k32)
    };
    std::array::from_fn(|p| (val(ql[p].0, qh[p].0), val(ql[p].1, qh[p].1)))
}

/// Row sums (lane `i` = row `i`) of `s[p]` = [row p: 4 partials | row p+4: 4 partials].
#[inline]
#[target_feature(enable = "avx2")]
fn rows_of(s: [__m256i; 4]) -> __m256i {
    _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]))
}

/// Q6_K: `s0 · Σ_{i<16} q·a + s1 · Σ_{i≥16} q·a` per row, exact (signed values by the
/// `abs`/`sign` trick: each 16-bit partial at most 2 · 32 · 127).
///
/// # Safety
/// `qa` must point at 32 readable bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn q6_isum(w: &[(__m256i, __m256i); 4], qa: *const i8, s0: __m256i, s1: __m256i) -> __m256i {
    // SAFETY: 32 readable bytes at `qa` (caller).
    let (alo, ahi) = unsafe {
        (
            _mm256_broadcastsi128_si256(qa.cast::<__m128i>().read_unaligned()),
            _mm256_broadcastsi128_si256(qa.add(16).cast::<__m128i>().read_unaligned()),
        )
    };
    let ones = _mm256_set1_epi16(1);
    let dot = |wv: __m256i, av: __m256i| {
        _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv)),
            ones,
        )
    };
    let lo = rows_of(std::array::from_fn(|p| dot(w[p].0, alo)));
    let hi = rows_of(std::array::from_fn(|p| dot(w[p].1, ahi)));
    _mm256_add_epi32(_mm256_mullo_epi32(s0, lo), _mm256_mullo_epi32(s1, hi))
}

/// Per-row sub-block scales of one super-block as i32 lanes: `(sc[j], m[j])` for Q4_K/Q5_K,
/// `(s[2j], s[2j + 1])` for Q6_K.
///
/// # Safety
/// `blk + 7 * rb + block_bytes(T)` bytes must be readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn sub_scales<const T: u8>(blk: *const u8, rb: usize) -> [(__m256i, __m256i); 8] {
    let mut a = [[0i32; 8]; 8];
    let mut b = [[0i32; 8]; 8];
    for r in 0..8 {
        // SAFETY: the 12 (Q4_K/Q5_K) or 16 (Q6_K) scale bytes lie inside row `r`'s
        // super-block (caller).
        unsafe {
            if T == Q6_K {
                let s = std::slice::from_raw_parts(blk.add(r * rb + 192), 16);
                for j in 0..8 {
                    a[j][r] = i32::from(s[2 * j] as i8);
                    b[j][r] = i32::from(s[2 * j + 1] as i8);
                }
            } else {
                let s = std::slice::from_raw_parts(blk.add(r * rb + 4), 12);
                for j in 0..8 {
                    let (sc, m) = k4_scale_min(s, j);
                    a[j][r] = i32::from(sc);
                    b[j][r] = i32::from(m);
                }
            }
        }
    }
    // SAFETY: each array holds eight i32; unaligned loads.
    std::array::from_fn(|j| unsafe {
        (
            _mm256_loadu_si256(a[j].as_ptr().cast::<__m256i>()),
            _mm256_loadu_si256(b[j].as_ptr().cast::<__m256i>()),
        )
    })
}

/// Eight rows (`grp`) of type `T` for every token of `a` into `outs[t][col..col + 8]`.
///
/// # Safety
/// AVX2 and F16C must be available; `grp` holds eight rows of `cols / 256` super-blocks of
/// type `T`; `a` has `cols`-wide rows; `outs` has one slice per token, each `col + 8` long.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn rows8<const T: u8>(
    grp: &[u8],
    cols: usize,
    a: &Acts<'_>,
    outs: &mut [&mut [f32]],
    col: usize,
    acc: &mut Vec<f32>,
) {
    let n = a.n();
    let nb = cols / QK;
    let bs = block_bytes(T);
    let rb = cols / QK_K * bs;
    let base = grp.as_ptr();
    let qa = a.q.as_ptr();
    acc.clear();
    acc.resize(n * 8, 0.0);
    let accp = acc.as_mut_ptr();
    for s in 0..cols / QK_K {
        if n == 1 {
            // Decode streams eight rows block by block: fetch the next group's bytes ahead.
            let pf = base.wrapping_add(8 * rb + s * 8 * bs);
            for off in (0..8 * bs + 64).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(off).cast::<i8>());
            }
        }
        // SAFETY: super-block `s` of the eight rows lies inside `grp`, every token's
        // activation blocks inside `a` (caller), and `acc` holds `8 * n` f32.
        unsafe {
            let blk = base.add(s * bs);
            // Q6_K's f16 `d` is the last two bytes: read the dword ending there (high half).
            let (d, dmin) = if T == Q6_K {
                let (_, d) = scales(blk.add(206), rb);
                (d, d)
            } else {
                scales(blk, rb)
            };
            let sub = sub_scales::<T>(blk, rb);
            for (j, &(s0, s1)) in sub.iter().enumerate() {
                let w = if T == Q6_K {
                    q6_values(blk, rb, j)
                } else {
                    k4_values::<T>(blk, rb, j)
                };
                for t in 0..n {
                    let ab = t * nb + 8 * s + j;
                    let da = _mm256_set1_ps(a.d[ab]);
                    let p = accp.add(t * 8);
                    let mut v: __m256 = _mm256_loadu_ps(p);
                    if T == Q6_K {
                        let isum = q6_isum(&w, qa.add(ab * QK), s0, s1);
                        v = _mm256_add_ps(
                            v,
                            _mm256_mul_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(isum)),
                        );
                    } else {
                        let isum = _mm256_mullo_epi32(s0, q4_isum(&w, qa.add(ab * QK)));
                        let msum = _mm256_mullo_epi32(s1, _mm256_set1_epi32(a.s[ab]));
                        v = _mm256_add_ps(
                            v,
                            _mm256_mul_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(isum)),
                        );
                        v = _mm256_sub_ps(
                            v,
                            _mm256_mul_ps(_mm256_mul_ps(dmin, da), _mm256_cvtepi32_ps(msum)),
                        );
                    }
                    _mm256_storeu_ps(p, v);
                }
            }
        }
    }
    for (o, acc) in outs.iter_mut().zip(acc.chunks_exact(8)) {
        o[col..col + 8].copy_from_slice(acc);
    }
}
