//! `expf` over a slice, bit-identical to `libm::expf` (the FreeBSD algorithm).
//!
//! The AVX2 path runs libm's exact operation sequence on eight lanes for x in
//! [-inf, 87.33) (argument reduction, the rational approximation, scaling by 2^k with
//! `k` in [-150, 126], where libm's `scalbnf` is one multiplication by 2^k, or for
//! `k < -126` a multiplication by 2^-102 and then by 2^(k + 102)), for |x| <= 2^-14
//! (`1 + x`) and for x <= -103.97 (0). A group of eight holding anything else (x >= 87.34,
//! NaN) is computed by `libm::expf` itself. Softmax arguments are never positive, so their
//! groups all take the vector path, however far below the max a score is.
#![allow(unsafe_code)]

/// `x[i] = expf(x[i])` for every element; `simd` selects the AVX2 path (the caller checked
/// that the CPU has AVX2). Same bits either way.
pub(crate) fn expf_slice(simd: bool, x: &mut [f32]) {
    expf_shifted(simd, x, 0.0);
}

/// `x[i] = expf(x[i] - shift)` for every element, the difference rounded to f32 on its own
/// (`x - 0.0` is `x` for every `x`, and NaN for NaN); `simd` as in [`expf_slice`].
pub(crate) fn expf_shifted(simd: bool, x: &mut [f32], shift: f32) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the caller passes `simd` only when AVX2 was detected at run time.
        unsafe { x86::expf_slice(x, shift) };
        return;
    }
    let _ = simd;
    for v in x {
        *v = libm::expf(*v - shift);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256, _mm256_blendv_ps,
        _mm256_castps_si256, _mm256_castsi256_ps, _mm256_cmpgt_epi32, _mm256_cvtepi32_ps,
        _mm256_cvttps_epi32, _mm256_div_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_mul_ps,
        _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_setzero_si256, _mm256_slli_epi32, _mm256_srai_epi32, _mm256_storeu_ps,
        _mm256_sub_ps, _mm256_xor_si256,
    };

    const LN2_HI: f32 = 6.931_457_5e-1;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const INV_LN2: f32 = 1.442_695_1;
    const P1: f32 = 1.666_662_5e-1;
    const P2: f32 = -2.766_733_3e-3;
    /// Groups of eight lanes computed together (their steps interleaved, which is 1.5 to 2
    /// times faster than one group after the other: the steps are one long dependency chain).
    const GROUPS: usize = 4;

    /// Applies `f` lane group by lane group: `N` independent vectors written as one
    /// sequence of steps, so their dependency chains overlap in the core.
    #[inline]
    fn each<const N: usize, T: Copy, U>(a: [T; N], f: impl Fn(T) -> U) -> [U; N] {
        a.map(f)
    }

    /// [`each`] over two arrays' elements in pairs.
    #[inline]
    fn each2<const N: usize, A: Copy, B: Copy, U>(
        a: [A; N],
        b: [B; N],
        f: impl Fn(A, B) -> U,
    ) -> [U; N] {
        std::array::from_fn(|i| f(a[i], b[i]))
    }

    /// `N` groups of eight lanes of libm's `expf`, or `None` when a lane of any group is
    /// outside the vector domain.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn exp_groups<const N: usize>(x: [__m256; N]) -> Option<[__m256; N]> {
        let bits = each(x, |v| _mm256_castps_si256(v));
        let hx = each(bits, |b| {
            _mm256_and_si256(b, _mm256_set1_epi32(0x7fff_ffff))
        });
        let gt = |v: i32| each(hx, |h| _mm256_cmpgt_epi32(h, _mm256_set1_epi32(v)));
        // sign: all ones for negative lanes.
        let neg = each(bits, |b| _mm256_srai_epi32::<31>(b));
        // x >= 87.34 or NaN: libm's special cases this path does not take.
        let (special, nan) = (gt(0x42ae_ac4f), gt(0x7f80_0000));
        let mut bail = _mm256_setzero_si256();
        for i in 0..N {
            let positive = _mm256_xor_si256(neg[i], _mm256_set1_epi32(-1));
            bail = _mm256_or_si256(
                bail,
                _mm256_and_si256(special[i], _mm256_or_si256(positive, nan[i])),
            );
        }
        if _mm256_movemask_ps(_mm256_castsi256_ps(bail)) != 0 {
            return None;
        }
        // |x| > 1.5 ln2, |x| > 0.5 ln2, |x| > 103.97.
        let (big, mid, low) = (gt(0x3f85_1592), gt(0x3eb1_7218), gt(0x42cf_f1b4));
        // k = (INV_LN2 * x + ±0.5) truncated, for big lanes.
        let half = each(bits, |b| {
            _mm256_castsi256_ps(_mm256_or_si256(
                _mm256_castps_si256(_mm256_set1_ps(0.5)),
                _mm256_and_si256(b, _mm256_set1_epi32(i32::MIN)),
            ))
        });
        let t = each(x, |x| _mm256_mul_ps(_mm256_set1_ps(INV_LN2), x));
        let k_big = each2(t, half, |t, h| {
            _mm256_castsi256_ps(_mm256_cvttps_epi32(_mm256_add_ps(t, h)))
        });
        // k = 1 - 2 * sign for mid lanes (1 or -1).
        let k_mid = each2(mid, neg, |m, n| {
            _mm256_and_si256(m, _mm256_or_si256(n, _mm256_set1_epi32(1)))
        });
        let k: [__m256i; N] = std::array::from_fn(|i| {
            _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(k_mid[i]),
                k_big[i],
                _mm256_castsi256_ps(big[i]),
            ))
        });
        let kf = each(k, |k| _mm256_cvtepi32_ps(k));
        // k = 0 gives hi = x - 0 = x, lo = 0, r = x: libm's small branch exactly.
        let hi = each2(x, kf, |x, kf| {
            _mm256_sub_ps(x, _mm256_mul_ps(kf, _mm256_set1_ps(LN2_HI)))
        });
        let lo = each(kf, |kf| _mm256_mul_ps(kf, _mm256_set1_ps(LN2_LO)));
        let r = each2(hi, lo, |h, l| _mm256_sub_ps(h, l));
        let rr = each(r, |r| _mm256_mul_ps(r, r));
        let poly = each(rr, |rr| {
            _mm256_mul_ps(
                rr,
                _mm256_add_ps(_mm256_set1_ps(P1), _mm256_mul_ps(rr, _mm256_set1_ps(P2))),
            )
        });
        let c = each2(r, poly, |r, p| _mm256_sub_ps(r, p));
        let num = each2(r, c, |r, c| _mm256_mul_ps(r, c));
        let den = each(c, |c| _mm256_sub_ps(_mm256_set1_ps(2.0), c));
        let q = each2(num, den, |n, d| _mm256_div_ps(n, d));
        let ql = each2(q, lo, |q, l| _mm256_sub_ps(q, l));
        let y = each2(ql, hi, |q, h| {
            _mm256_add_ps(_mm256_set1_ps(1.0), _mm256_add_ps(q, h))
        });
        // scalbnf(y, k): for k < -126 first y * 2^-102 and k + 102 (the other lanes multiply
        // by one, which changes nothing), then y * 2^k (k = 0 multiplies by one).
        let sub = each(k, |k| _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), k));
        let pre = each(sub, |s| {
            _mm256_blendv_ps(
                _mm256_set1_ps(1.0),
                _mm256_set1_ps(f32::from_bits(0x0c80_0000)), // 2^-102
                _mm256_castsi256_ps(s),
            )
        });
        let pow = each2(k, sub, |k, s| {
            let k = _mm256_add_epi32(k, _mm256_and_si256(s, _mm256_set1_epi32(102)));
            _mm256_slli_epi32::<23>(_mm256_add_epi32(k, _mm256_set1_epi32(127)))
        });
        let ypre = each2(y, pre, |y, p| _mm256_mul_ps(y, p));
        let scaled = each2(ypre, pow, |y, p| _mm256_mul_ps(y, _mm256_castsi256_ps(p)));
        Some(std::array::from_fn(|i| {
            // |x| <= 2^-14: 1 + x.
            let tiny = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3900_0001), hx[i]);
            let small = _mm256_add_ps(_mm256_set1_ps(1.0), x[i]);
            let e = _mm256_blendv_ps(scaled[i], small, _mm256_castsi256_ps(tiny));
            // x <= -103.97 (and -inf): libm returns 0.
            let zero = _mm256_and_si256(neg[i], low[i]);
            _mm256_blendv_ps(e, _mm256_setzero_ps(), _mm256_castsi256_ps(zero))
        }))
    }

    /// `x[i] = expf(x[i] - shift)` (the difference rounded to f32 first), [`GROUPS`] groups
    /// of eight at a time, then one group at a time; groups outside the vector domain and the
    /// last `len % 8` elements by libm.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn expf_slice(x: &mut [f32], shift: f32) {
        let m = _mm256_set1_ps(shift);
        let scalar = |c: &mut [f32]| c.iter_mut().for_each(|v| *v = libm::expf(*v - shift));
        let mut quads = x.chunks_exact_mut(8 * GROUPS);
        for c in &mut quads {
            // SAFETY: `c` holds exactly `8 * GROUPS` f32; unaligned loads and stores.
            unsafe {
                let v: [__m256; GROUPS] = std::array::from_fn(|i| {
                    _mm256_sub_ps(_mm256_loadu_ps(c.as_ptr().add(8 * i)), m)
                });
                match exp_groups(v) {
                    Some(e) => {
                        for (i, e) in e.into_iter().enumerate() {
                            _mm256_storeu_ps(c.as_mut_ptr().add(8 * i), e);
                        }
                    }
                    None => {
                        for g in c.chunks_exact_mut(8) {
                            let v = _mm256_sub_ps(_mm256_loadu_ps(g.as_ptr()), m);
                            match exp_groups([v]) {
                                Some([e]) => _mm256_storeu_ps(g.as_mut_ptr(), e),
                                None => scalar(g),
                            }
                        }
                    }
                }
            }
        }
        let mut groups = quads.into_remainder().chunks_exact_mut(8);
        for g in &mut groups {
            // SAFETY: `g` holds exactly 8 f32; unaligned load and store.
            unsafe {
                let v = _mm256_sub_ps(_mm256_loadu_ps(g.as_ptr()), m);
                match exp_groups([v]) {
                    Some([e]) => _mm256_storeu_ps(g.as_mut_ptr(), e),
                    None => scalar(g),
                }
            }
        }
        scalar(groups.into_remainder());
    }
}

#[cfg(test)]
mod tests {
    use super::expf_slice;

    /// Same bits as `libm::expf` over a sweep of every 7168th f32 bit pattern of both signs
    /// up to infinity, the thresholds of libm's branches and their neighbours, and specials.
    #[test]
    fn matches_libm_bit_for_bit() {
        let simd = super::super::avx2_available();
        let mut xs: Vec<f32> = Vec::new();
        let mut b = 0u32;
        while b < 0x7f80_0000 {
            xs.push(f32::from_bits(b));
            xs.push(-f32::from_bits(b));
            b += 7 * 1024;
        }
        for t in [
            0x42ae_ac50u32,
            0x42b1_7218,
            0x42cf_f1b5,
            0x3eb1_7218,
            0x3f85_1592,
            0x3900_0000,
        ] {
            for d in 0..3 {
                for v in [t - d, t + d] {
                    xs.push(f32::from_bits(v));
                    xs.push(-f32::from_bits(v));
                }
            }
        }
        xs.extend([
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            -1.0,
            88.0,
        ]);
        // Dense sweep of the softmax range, through the subnormal results and past zero.
        let mut v = -110.0f32;
        while v < 1.0 {
            xs.push(v);
            v += 0.000_37;
        }
        let mut got = xs.clone();
        expf_slice(simd, &mut got);
        for (x, g) in xs.iter().zip(&got) {
            let want = libm::expf(*x);
            assert!(
                want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                "expf({x:e}) = {g:e}, libm {want:e}"
            );
        }
    }

    /// The shifted form rounds `x - shift` first and then matches libm, on every path: whole
    /// vector blocks, single groups, a group that falls back to libm (an overflowing
    /// argument among softmax-like ones) and the scalar tail, for shifts of both signs.
    #[test]
    fn shifted_matches_libm_of_the_difference() {
        let simd = super::super::avx2_available();
        let mut xs: Vec<f32> = (0..203).map(|i| (i as f32) * -0.731 + 3.0).collect();
        xs[77] = 200.0;
        xs[150] = f32::NAN;
        xs[151] = f32::NEG_INFINITY;
        for shift in [0.0f32, -0.0, 2.5, -90.0, 1e-3, 150.0] {
            let mut got = xs.clone();
            super::expf_shifted(simd, &mut got, shift);
            for (x, g) in xs.iter().zip(&got) {
                let want = libm::expf(*x - shift);
                assert!(
                    want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                    "expf({x:e} - {shift:e}) = {g:e}, libm {want:e}"
                );
            }
        }
    }
}
