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
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the caller passes `simd` only when AVX2 was detected at run time.
        unsafe { x86::expf_slice(x) };
        return;
    }
    let _ = simd;
    for v in x {
        *v = libm::expf(*v);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m256i, _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256, _mm256_blendv_ps,
        _mm256_castps_si256, _mm256_castsi256_ps, _mm256_cmpgt_epi32, _mm256_cvtepi32_ps,
        _mm256_cvttps_epi32, _mm256_div_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_mul_ps,
        _mm256_or_si256, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setzero_ps, _mm256_slli_epi32,
        _mm256_srai_epi32, _mm256_storeu_ps, _mm256_sub_ps, _mm256_xor_si256,
    };

    const LN2_HI: f32 = 6.931_457_5e-1;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const INV_LN2: f32 = 1.442_695_1;
    const P1: f32 = 1.666_662_5e-1;
    const P2: f32 = -2.766_733_3e-3;

    /// Eight lanes of libm's `expf`, or `None` when a lane is outside the vector domain.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn exp8(x: __m256) -> Option<__m256> {
        let bits = _mm256_castps_si256(x);
        let hx = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fff_ffff));
        let gt = |v: i32| _mm256_cmpgt_epi32(hx, _mm256_set1_epi32(v));
        // sign: all ones for negative lanes.
        let neg = _mm256_srai_epi32::<31>(bits);
        // x >= 87.34 or NaN: libm's special cases this path does not take.
        let special = gt(0x42ae_ac4f);
        let nan = gt(0x7f80_0000);
        let bail = _mm256_and_si256(
            special,
            _mm256_or_si256(_mm256_xor_si256(neg, _mm256_set1_epi32(-1)), nan),
        );
        if _mm256_movemask_ps(_mm256_castsi256_ps(bail)) != 0 {
            return None;
        }
        // x <= -103.97 (and -inf): libm returns 0.
        let zero = _mm256_castsi256_ps(_mm256_and_si256(neg, gt(0x42cf_f1b4)));
        let big = gt(0x3f85_1592); // |x| > 1.5 ln2
        let mid = gt(0x3eb1_7218); // |x| > 0.5 ln2
        let tiny = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(0x3900_0001), hx)); // |x| <= 2^-14
        // k = (INV_LN2 * x + ±0.5) truncated, for big lanes.
        let half = _mm256_castsi256_ps(_mm256_or_si256(
            _mm256_castps_si256(_mm256_set1_ps(0.5)),
            _mm256_and_si256(bits, _mm256_set1_epi32(i32::MIN)),
        ));
        let k_big = _mm256_cvttps_epi32(_mm256_add_ps(
            _mm256_mul_ps(_mm256_set1_ps(INV_LN2), x),
            half,
        ));
        // k = 1 - 2 * sign for mid lanes (1 or -1).
        let k_mid = _mm256_or_si256(neg, _mm256_set1_epi32(1));
        let k = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(_mm256_and_si256(mid, k_mid)),
            _mm256_castsi256_ps(k_big),
            _mm256_castsi256_ps(big),
        ));
        let kf = _mm256_cvtepi32_ps(k);
        // k = 0 gives hi = x - 0 = x, lo = 0, r = x: libm's small branch exactly.
        let hi = _mm256_sub_ps(x, _mm256_mul_ps(kf, _mm256_set1_ps(LN2_HI)));
        let lo = _mm256_mul_ps(kf, _mm256_set1_ps(LN2_LO));
        let r = _mm256_sub_ps(hi, lo);
        let rr = _mm256_mul_ps(r, r);
        let c = _mm256_sub_ps(
            r,
            _mm256_mul_ps(
                rr,
                _mm256_add_ps(_mm256_set1_ps(P1), _mm256_mul_ps(rr, _mm256_set1_ps(P2))),
            ),
        );
        let q = _mm256_div_ps(_mm256_mul_ps(r, c), _mm256_sub_ps(_mm256_set1_ps(2.0), c));
        let y = _mm256_add_ps(_mm256_set1_ps(1.0), _mm256_add_ps(_mm256_sub_ps(q, lo), hi));
        // scalbnf(y, k): for k < -126 first y * 2^-102 and k + 102 (the other lanes multiply
        // by one, which changes nothing), then y * 2^k (k = 0 multiplies by one).
        let sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(-126), k);
        let pre = _mm256_blendv_ps(
            _mm256_set1_ps(1.0),
            _mm256_set1_ps(f32::from_bits(0x0c80_0000)), // 2^-102
            _mm256_castsi256_ps(sub),
        );
        let k = _mm256_add_epi32(k, _mm256_and_si256(sub, _mm256_set1_epi32(102)));
        let pow: __m256i = _mm256_slli_epi32::<23>(_mm256_add_epi32(k, _mm256_set1_epi32(127)));
        let scaled = _mm256_mul_ps(_mm256_mul_ps(y, pre), _mm256_castsi256_ps(pow));
        let small = _mm256_add_ps(_mm256_set1_ps(1.0), x);
        let e = _mm256_blendv_ps(scaled, small, tiny);
        Some(_mm256_blendv_ps(e, _mm256_setzero_ps(), zero))
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn expf_slice(x: &mut [f32]) {
        let mut chunks = x.chunks_exact_mut(8);
        for c in &mut chunks {
            // SAFETY: `c` holds exactly 8 f32; unaligned load and store.
            unsafe {
                let v = _mm256_loadu_ps(c.as_ptr());
                match exp8(v) {
                    Some(e) => _mm256_storeu_ps(c.as_mut_ptr(), e),
                    None => c.iter_mut().for_each(|v| *v = libm::expf(*v)),
                }
            }
        }
        for v in chunks.into_remainder() {
            *v = libm::expf(*v);
        }
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
}
