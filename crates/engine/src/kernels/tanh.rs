//! `tanhf` over a slice, bit-identical to `libm::tanhf` (musl's algorithm, FreeBSD's
//! `expm1f` inside).
//!
//! libm: for |x| > 10 the result is ±1; for log(3)/2 < |x| <= 10, `1 - 2/(t + 2)` with
//! `t = expm1f(2|x|)`; for log(5/3)/2 < |x| <= log(3)/2, `t/(t + 2)` with the same `t`; for
//! 2^-126 <= |x| <= log(5/3)/2, `-t/(t + 2)` with `t = expm1f(-2|x|)`; below, `|x|` itself;
//! the sign of `x` put back. The AVX2 path runs exactly that on eight lanes: `expm1f`'s
//! argument reduction `hi = y - k·ln2_hi`, `lo = k·ln2_lo` (with `k = 0` and `k = ±1` this
//! is libm's no-reduction and one-ln2 branches bit for bit), its rational approximation and
//! each of its result branches for the `k` a lane has (`0`, `-1`, `1`, `2..=22`, `23..=29`;
//! 2|x| <= 20 keeps `k` at most 29), chosen per lane. A group of eight holding a NaN is
//! computed by `libm::tanhf` itself. Used by Gemma 3's GELU and by logit soft-capping.
#![allow(unsafe_code)]

/// `tanhf(x)`, libm's result.
pub(crate) fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}

/// `x[i] = tanhf(x[i])` for every element; `simd` selects the AVX2 path (the caller checked
/// that the CPU has AVX2). Same bits either way.
pub(crate) fn tanhf_slice(simd: bool, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the caller passes `simd` only when AVX2 was detected at run time.
        unsafe { x86::tanhf_slice(x) };
        return;
    }
    let _ = simd;
    for v in x {
        *v = libm::tanhf(*v);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, _CMP_LT_OQ, _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256,
        _mm256_blendv_ps, _mm256_castps_si256, _mm256_castsi256_ps, _mm256_cmp_ps,
        _mm256_cmpeq_epi32, _mm256_cmpgt_epi32, _mm256_cvtepi32_ps, _mm256_cvttps_epi32,
        _mm256_div_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_mul_ps, _mm256_or_si256,
        _mm256_set1_epi32, _mm256_set1_ps, _mm256_slli_epi32, _mm256_srai_epi32, _mm256_storeu_ps,
        _mm256_sub_epi32, _mm256_sub_ps, _mm256_xor_si256,
    };

    // libm's expm1f constants, by bit pattern.
    const LN2_HI: f32 = f32::from_bits(0x3f31_7180);
    const LN2_LO: f32 = f32::from_bits(0x3717_f7d1);
    const INV_LN2: f32 = f32::from_bits(0x3fb8_aa3b);
    const Q1: f32 = f32::from_bits(0xbd08_8868);
    const Q2: f32 = f32::from_bits(0x3acf_3010);

    /// `b` where `mask` is all ones, else `a`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sel(mask: __m256i, a: __m256, b: __m256) -> __m256 {
        _mm256_blendv_ps(a, b, _mm256_castsi256_ps(mask))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }

    /// Lanes whose integer `a` is greater than `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn gt(a: __m256i, v: i32) -> __m256i {
        _mm256_cmpgt_epi32(a, _mm256_set1_epi32(v))
    }

    /// libm's `expm1f` on eight lanes for arguments in [-0.51, 20] (finite: no overflow
    /// branch is needed there).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn expm1_8(y: __m256) -> __m256 {
        let bits = _mm256_castps_si256(y);
        let hy = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fff_ffff));
        let red = gt(hy, 0x3eb1_7218); // |y| > 0.5 ln2: reduce
        let big = gt(hy, 0x3f85_1591); // |y| >= 1.5 ln2: k from the formula
        let tiny = _mm256_cmpgt_epi32(_mm256_set1_epi32(0x3300_0000), hy); // |y| < 2^-25: y itself
        let neg = _mm256_srai_epi32::<31>(bits);
        let half = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_castps_si256(splat(0.5)),
            _mm256_and_si256(bits, _mm256_set1_epi32(i32::MIN)),
        ));
        let k_big = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(splat(INV_LN2), y), half));
        let k_mid = _mm256_or_si256(neg, _mm256_set1_epi32(1));
        let k = _mm256_castps_si256(sel(
            big,
            _mm256_castsi256_ps(_mm256_and_si256(red, k_mid)),
            _mm256_castsi256_ps(k_big),
        ));
        let kf = _mm256_cvtepi32_ps(k);
        let hi = _mm256_sub_ps(y, _mm256_mul_ps(kf, splat(LN2_HI)));
        let lo = _mm256_mul_ps(kf, splat(LN2_LO));
        let x = _mm256_sub_ps(hi, lo);
        let c = _mm256_sub_ps(_mm256_sub_ps(hi, x), lo);
        let hfx = _mm256_mul_ps(splat(0.5), x);
        let hxs = _mm256_mul_ps(x, hfx);
        let r1 = _mm256_add_ps(
            splat(1.0),
            _mm256_mul_ps(hxs, _mm256_add_ps(splat(Q1), _mm256_mul_ps(hxs, splat(Q2)))),
        );
        let t = _mm256_sub_ps(splat(3.0), _mm256_mul_ps(r1, hfx));
        let e = _mm256_mul_ps(
            hxs,
            _mm256_div_ps(
                _mm256_sub_ps(r1, t),
                _mm256_sub_ps(splat(6.0), _mm256_mul_ps(x, t)),
            ),
        );
        let r_k0 = _mm256_sub_ps(x, _mm256_sub_ps(_mm256_mul_ps(x, e), hxs));
        let e = _mm256_sub_ps(_mm256_mul_ps(x, _mm256_sub_ps(e, c)), c);
        let e = _mm256_sub_ps(e, hxs);
        let r_km1 = _mm256_sub_ps(_mm256_mul_ps(splat(0.5), _mm256_sub_ps(x, e)), splat(0.5));
        let r_k1_low = _mm256_mul_ps(splat(-2.0), _mm256_sub_ps(e, _mm256_add_ps(x, splat(0.5))));
        let r_k1_high = _mm256_add_ps(splat(1.0), _mm256_mul_ps(splat(2.0), _mm256_sub_ps(x, e)));
        let x_low = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(x, splat(-0.25)));
        let r_k1 = sel(x_low, r_k1_high, r_k1_low);
        let twopk = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            k,
            _mm256_set1_epi32(0x7f),
        )));
        let uf = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_sub_epi32(
            _mm256_set1_epi32(0x7f),
            k,
        )));
        let r_lt23 = _mm256_mul_ps(
            _mm256_add_ps(_mm256_sub_ps(x, e), _mm256_sub_ps(splat(1.0), uf)),
            twopk,
        );
        let r_ge23 = _mm256_mul_ps(
            _mm256_add_ps(_mm256_sub_ps(x, _mm256_add_ps(e, uf)), splat(1.0)),
            twopk,
        );
        let is = |v: i32| _mm256_cmpeq_epi32(k, _mm256_set1_epi32(v));
        let mut r = sel(_mm256_cmpgt_epi32(_mm256_set1_epi32(23), k), r_ge23, r_lt23);
        r = sel(is(1), r, r_k1);
        r = sel(is(-1), r, r_km1);
        r = sel(is(0), r, r_k0);
        sel(tiny, r, y)
    }

    /// Eight lanes of libm's `tanhf`, or `None` when a lane is NaN.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tanh8(v: __m256) -> Option<__m256> {
        let bits = _mm256_castps_si256(v);
        let w = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fff_ffff));
        if _mm256_movemask_ps(_mm256_castsi256_ps(gt(w, 0x7f80_0000))) != 0 {
            return None;
        }
        let ax = _mm256_castsi256_ps(w);
        let above10 = gt(w, 0x4120_0000);
        let upper = gt(w, 0x3f0c_9f54); // |x| > log(3)/2
        let middle = gt(w, 0x3e82_c578); // |x| > log(5/3)/2
        let normal = gt(w, 0x007f_ffff); // |x| >= 2^-126
        let y = sel(
            middle,
            _mm256_mul_ps(splat(-2.0), ax),
            _mm256_mul_ps(splat(2.0), ax),
        );
        let t = expm1_8(y);
        let tp2 = _mm256_add_ps(t, splat(2.0));
        let r_upper = _mm256_sub_ps(splat(1.0), _mm256_div_ps(splat(2.0), tp2));
        let r_middle = _mm256_div_ps(t, tp2);
        let minus_t = _mm256_castsi256_ps(_mm256_xor_si256(
            _mm256_castps_si256(t),
            _mm256_set1_epi32(i32::MIN),
        ));
        let r_low = _mm256_div_ps(minus_t, tp2);
        let mut r = sel(middle, r_low, r_middle);
        r = sel(upper, r, r_upper);
        r = sel(above10, r, splat(1.0));
        r = sel(normal, ax, r);
        // Every branch gives tanh(|x|) >= 0; x's sign bit makes it -tanh(|x|).
        let sign = _mm256_and_si256(bits, _mm256_set1_epi32(i32::MIN));
        Some(_mm256_castsi256_ps(_mm256_or_si256(
            _mm256_castps_si256(r),
            sign,
        )))
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tanhf_slice(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 8 f32; unaligned load and store.
            unsafe {
                let v = _mm256_loadu_ps(c.as_ptr());
                match tanh8(v) {
                    Some(t) => _mm256_storeu_ps(c.as_mut_ptr(), t),
                    None => c.iter_mut().for_each(|v| *v = libm::tanhf(*v)),
                }
            }
        }
        for v in chunks.into_remainder() {
            *v = libm::tanhf(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tanhf_slice;

    /// Same bits as `libm::tanhf` over a sweep of every 1021st f32 bit pattern of both signs
    /// up to infinity, the thresholds of libm's branches (tanhf's and expm1f's, in tanh's
    /// argument) and their neighbours, the specials and a dense sweep of GELU's range.
    #[test]
    fn matches_libm_bit_for_bit() {
        let simd = super::super::avx2_available();
        let mut xs: Vec<f32> = Vec::new();
        let mut b = 0u32;
        while b < 0x7f80_0000 {
            xs.push(f32::from_bits(b));
            xs.push(-f32::from_bits(b));
            b += 1021;
        }
        for t in [
            0x0080_0000u32,
            0x3e82_c578,
            0x3f0c_9f54,
            0x4120_0000,
            0x3eb1_7218 - (1 << 23), // expm1f's 0.5 ln2 at 2|x|
            0x3f85_1592 - (1 << 23), // 1.5 ln2
            0x3300_0000 - (1 << 23), // 2^-25
            0x4195_b844 - (1 << 23), // 27 ln2
        ] {
            for d in 0..4 {
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
        ]);
        let mut v = -12.0f32;
        while v < 12.0 {
            xs.push(v);
            v += 0.000_41;
        }
        let mut got = xs.clone();
        tanhf_slice(simd, &mut got);
        for (x, g) in xs.iter().zip(&got) {
            let want = libm::tanhf(*x);
            assert!(
                want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                "tanhf({x:e}) = {g:e}, libm {want:e}"
            );
        }
    }
}
