//! AVX2 kernels: eight output rows per step, one lane per row, the same f32 operation
//! sequence as the scalar code (separate multiply and add, never fused).
//!
//! The weights are read where they lie (the memory-mapped blocks): no unpacked copy. For
//! each block the eight rows' scales are gathered, the eight exact integer block sums are
//! computed, and every token's accumulator takes the block's terms in ascending block order.
//! One token (decode) keeps its accumulator in a register; several tokens (prefill) load the
//! block's weights once and reuse them for every token.
#![allow(unsafe_code)]
// Every load is unaligned (`loadu`, gathers with byte scale), so pointer casts need no alignment.
#![allow(clippy::cast_ptr_alignment)]

use super::{Acts, WeightView};
use crate::gguf::GgmlType;

/// Accumulators reused across row groups (eight f32 lanes per token).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    pub(super) acc: Vec<f32>,
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

/// Rows `r0..r0+8` for every token `t` into `outs[t][col..col + 8]`. Caller checked
/// `available()` and that the type is one `kernels::runs_quantized` accepts.
#[cfg(target_arch = "x86_64")]
pub(super) fn rows8(
    w: &WeightView<'_>,
    a: &Acts<'_>,
    r0: usize,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    let rb = w.row_bytes();
    let grp = &w.data[r0 * rb..(r0 + 8) * rb];
    let n = a.n();
    assert!(outs.len() == n && outs.iter().all(|o| o.len() >= col + 8));
    assert!(
        a.q.len() >= n * (w.cols / super::QK) * super::QK && a.d.len() >= n * (w.cols / super::QK)
    );
    // SAFETY: `rows8` is only called when `available()` reported AVX2 and F16C support;
    // `grp` holds the eight rows and the asserts above bound every activation and output
    // access the kernels make.
    unsafe {
        match w.dtype {
            GgmlType::Q8_0 => {
                x86::rows8::<{ x86::Q8_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_0 => {
                x86::rows8::<{ x86::Q4_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_1 => {
                x86::rows8::<{ x86::Q4_1 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q5_0 => {
                x86::rows8::<{ x86::Q5_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q5_1 => {
                x86::rows8::<{ x86::Q5_1 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_K => k::rows8::<{ k::Q4_K }>(grp, w.cols, a, outs, col, &mut scratch.acc),
            GgmlType::Q5_K => k::rows8::<{ k::Q5_K }>(grp, w.cols, a, outs, col, &mut scratch.acc),
            _ => k::rows8::<{ k::Q6_K }>(grp, w.cols, a, outs, col, &mut scratch.acc),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod k;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m256, __m256i, _MM_HINT_T0, _mm_loadu_si128, _mm_packus_epi32, _mm_prefetch,
        _mm256_abs_epi8, _mm256_add_epi16, _mm256_add_epi32, _mm256_add_ps, _mm256_and_si256,
        _mm256_broadcastsi128_si256, _mm256_castsi256_si128, _mm256_cmpeq_epi8, _mm256_cvtepi32_ps,
        _mm256_cvtph_ps, _mm256_extracti128_si256, _mm256_hadd_epi32, _mm256_loadu_ps,
        _mm256_loadu_si256, _mm256_loadu2_m128i, _mm256_madd_epi16, _mm256_maddubs_epi16,
        _mm256_mul_ps, _mm256_or_si256, _mm256_permute2x128_si256, _mm256_set1_epi8,
        _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_set1_ps, _mm256_setr_epi8,
        _mm256_setr_epi32, _mm256_setzero_ps, _mm256_shuffle_epi8, _mm256_sign_epi8,
        _mm256_srli_epi16, _mm256_srli_epi32, _mm256_storeu_ps, _mm256_sub_epi32,
    };

    use super::{Acts, Scratch};
    use crate::kernels::QK;

    /// Const-generic type tags (one monomorphised kernel per weight type).
    pub(super) const Q8_0: u8 = 0;
    /// Q4_0 tag.
    pub(super) const Q4_0: u8 = 1;
    /// Q4_1 tag.
    pub(super) const Q4_1: u8 = 2;
    /// Q5_0 tag.
    pub(super) const Q5_0: u8 = 3;
    /// Q5_1 tag.
    pub(super) const Q5_1: u8 = 4;

    /// How many eight-row groups ahead decode prefetches.
    const PREFETCH_GROUPS: usize = 2;

    /// Block size in bytes and offset of the quants.
    const fn layout(t: u8) -> (usize, usize) {
        match t {
            Q8_0 => (34, 2),
            Q4_0 => (18, 2),
            Q4_1 => (20, 4),
            Q5_0 => (22, 6),
            _ => (24, 8),
        }
    }

    /// Sums the eight i32 lanes of each of `v[0..8]` into lane `i` of the result (exact).
    #[inline]
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

    /// The eight rows' f16 scales of one block as f32 (`d`, and `m` for Q4_1: the dword at
    /// the block start holds `d` in its low half and, for Q4_1, `m` in its high half).
    ///
    /// # Safety
    /// `blk` plus `7 * rb + 4` bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn scales(blk: *const u8, rb: usize) -> (__m256, __m256) {
        // SAFETY: the caller guarantees the eight dwords at `blk + i * rb` are readable;
        // unaligned reads. (Eight scalar loads: faster than a gather on current cores.)
        let d: [i32; 8] =
            std::array::from_fn(|i| unsafe { blk.add(i * rb).cast::<i32>().read_unaligned() });
        let v = _mm256_setr_epi32(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
        let lo16 = |x: __m256i| {
            let x = _mm256_and_si256(x, _mm256_set1_epi32(0xFFFF));
            _mm_packus_epi32(_mm256_castsi256_si128(x), _mm256_extracti128_si256::<1>(x))
        };
        let d = _mm256_cvtph_ps(lo16(v));
        let m = _mm256_cvtph_ps(lo16(_mm256_srli_epi32::<16>(v)));
        (d, m)
    }

    /// The nibbles of one Q4 block for rows `(p, p + 4)`, `p = 0..4`: low nibbles (elements
    /// 0..16) and high nibbles (elements 16..32), row `p` in the low 128-bit lane.
    ///
    /// # Safety
    /// `q` plus `7 * rb + 16` bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn nibbles(q: *const u8, rb: usize) -> [(__m256i, __m256i); 4] {
        let mask = _mm256_set1_epi8(0x0F);
        std::array::from_fn(|p| {
            // SAFETY: rows `p` and `p + 4` start at `q + p * rb` and `q + (p + 4) * rb`, 16
            // readable bytes each (caller); unaligned loads.
            let v = unsafe {
                _mm256_loadu2_m128i(
                    q.add((p + 4) * rb).cast::<__m128i>(),
                    q.add(p * rb).cast::<__m128i>(),
                )
            };
            (
                _mm256_and_si256(v, mask),
                _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask),
            )
        })
    }

    /// `nibbles` of a Q5 block with the fifth bits added: bit `i` of row `p`'s little-endian
    /// high-bit word (at `qh + p * rb`) is bit 4 of value `i`.
    ///
    /// # Safety
    /// `q` plus `7 * rb + 16` bytes and `qh` plus `7 * rb + 4` bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn nibbles5(q: *const u8, qh: *const u8, rb: usize) -> [(__m256i, __m256i); 4] {
        // SAFETY: as `nibbles` (caller).
        let w = unsafe { nibbles(q, rb) };
        // Byte `i` of a lane selects high-bit byte `i / 8` (values 0..16) or `2 + i / 8`
        // (values 16..32), then tests bit `i % 8` of it.
        let sel_lo = _mm256_setr_epi8(
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1,
            1, 1, 1,
        );
        let sel_hi = _mm256_setr_epi8(
            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
            3, 3, 3,
        );
        let bits = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
        let five = _mm256_set1_epi8(0x10);
        let expand = |v: __m256i, sel: __m256i| {
            let b = _mm256_and_si256(_mm256_shuffle_epi8(v, sel), bits);
            _mm256_and_si256(_mm256_cmpeq_epi8(b, bits), five)
        };
        std::array::from_fn(|p| {
            // SAFETY: rows `p` and `p + 4`'s high-bit words are readable (caller).
            let (h0, h1) = unsafe {
                (
                    qh.add(p * rb).cast::<i32>().read_unaligned(),
                    qh.add((p + 4) * rb).cast::<i32>().read_unaligned(),
                )
            };
            let v = _mm256_setr_epi32(h0, h0, h0, h0, h1, h1, h1, h1);
            let (lo, hi) = w[p];
            (
                _mm256_or_si256(lo, expand(v, sel_lo)),
                _mm256_or_si256(hi, expand(v, sel_hi)),
            )
        })
    }

    /// Exact integer dot products of one Q4 block of eight rows (see `nibbles`) with 32 i8
    /// activations at `qa`: lane `i` is row `i`'s sum of `nibble * a` (no offset).
    ///
    /// Each 16-bit partial is at most 2 * (2 * 15 * 127) = 7620 (Q5: 2 * (2 * 31 * 127) =
    /// 15748), so no step saturates.
    ///
    /// # Safety
    /// `qa` must point at 32 readable bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn q4_isum(w: &[(__m256i, __m256i); 4], qa: *const i8) -> __m256i {
        // SAFETY: 32 readable bytes at `qa` (caller); unaligned loads.
        let (alo, ahi) = unsafe {
            (
                _mm256_broadcastsi128_si256(_mm_loadu_si128(qa.cast::<__m128i>())),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(qa.add(16).cast::<__m128i>())),
            )
        };
        let ones = _mm256_set1_epi16(1);
        let s: [__m256i; 4] = std::array::from_fn(|p| {
            let (lo, hi) = w[p];
            _mm256_madd_epi16(
                _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi)),
                ones,
            )
        });
        // Lanes: s[p] = [row p: 4 partials | row p+4: 4 partials]; three hadds give rows 0..8.
        _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]))
    }

    /// Exact integer dot products of one Q8_0 block of eight rows (quants at `q + i * rb`)
    /// with 32 i8 activations at `qa`. Each 16-bit partial is at most 2 * 128 * 127.
    ///
    /// # Safety
    /// `q` plus `7 * rb + 32` bytes and `qa` plus 32 bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn q8_isum(q: *const u8, rb: usize, qa: *const i8) -> __m256i {
        // SAFETY: 32 readable bytes at `qa` (caller); unaligned load.
        let av = unsafe { _mm256_loadu_si256(qa.cast::<__m256i>()) };
        let ones = _mm256_set1_epi16(1);
        let s: [__m256i; 8] = std::array::from_fn(|i| {
            // SAFETY: row `i`'s 32 quants are readable at `q + i * rb` (caller).
            let wv = unsafe { _mm256_loadu_si256(q.add(i * rb).cast::<__m256i>()) };
            _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(av, wv)),
                ones,
            )
        });
        hsum8(&s)
    }

    /// One block's terms added to a token's accumulator, in the scalar code's order:
    /// `acc + (dw * da) * isum`, then for Q4_1 `acc + (mw * da) * sa`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn update<const T: u8>(
        acc: __m256,
        dw: __m256,
        mw: __m256,
        isum: __m256i,
        da: f32,
        sa: i32,
    ) -> __m256 {
        let isum = match T {
            Q4_0 => _mm256_sub_epi32(isum, _mm256_set1_epi32(8 * sa)),
            Q5_0 => _mm256_sub_epi32(isum, _mm256_set1_epi32(16 * sa)),
            _ => isum,
        };
        let da = _mm256_set1_ps(da);
        let acc = _mm256_add_ps(
            acc,
            _mm256_mul_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum)),
        );
        if T == Q4_1 || T == Q5_1 {
            _mm256_add_ps(
                acc,
                _mm256_mul_ps(_mm256_mul_ps(mw, da), _mm256_set1_ps(sa as f32)),
            )
        } else {
            acc
        }
    }

    /// Eight rows (`grp`, row-major blocks) for every token `t` of `a` into
    /// `outs[t][col..col + 8]`.
    ///
    /// # Safety
    /// AVX2 and F16C must be available; `grp` holds eight rows of `cols / 32` blocks of type
    /// `T`; `a` has `cols`-wide rows; `outs` has one slice per token, each `col + 8` long.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn rows8<const T: u8>(
        grp: &[u8],
        cols: usize,
        a: &Acts<'_>,
        outs: &mut [&mut [f32]],
        col: usize,
        scratch: &mut Scratch,
    ) {
        let n = a.n();
        let nb = cols / QK;
        let (bs, qoff) = layout(T);
        let rb = nb * bs;
        let base = grp.as_ptr();
        let qa = a.q.as_ptr();
        if n == 1 {
            let mut acc = _mm256_setzero_ps();
            // The eight rows are read block by block (eight interleaved streams); fetch the
            // next groups' bytes ahead, spread over the blocks, as one sequential stream.
            let ahead = base.wrapping_add(PREFETCH_GROUPS * 8 * rb);
            let per_block = 8 * bs;
            for b in 0..nb {
                let pf = ahead.wrapping_add(b * per_block);
                let mut off = 0;
                while off < per_block + 64 {
                    _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(off).cast::<i8>());
                    off += 64;
                }
                // SAFETY: block `b` of the eight rows lies inside `grp` (caller), and block
                // `b` of the single token's activations inside `a.q`.
                unsafe {
                    let blk = base.add(b * bs);
                    let (dw, mw) = scales(blk, rb);
                    let isum = match T {
                        Q8_0 => q8_isum(blk.add(qoff), rb, qa.add(b * QK)),
                        Q5_0 | Q5_1 => q4_isum(
                            &nibbles5(blk.add(qoff), blk.add(qoff - 4), rb),
                            qa.add(b * QK),
                        ),
                        _ => q4_isum(&nibbles(blk.add(qoff), rb), qa.add(b * QK)),
                    };
                    acc = update::<T>(acc, dw, mw, isum, a.d[b], a.s[b]);
                }
            }
            let mut lanes = [0f32; 8];
            // SAFETY: `lanes` holds 8 f32; unaligned store.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
            outs[0][col..col + 8].copy_from_slice(&lanes);
            return;
        }
        scratch.acc.clear();
        scratch.acc.resize(n * 8, 0.0);
        let accp = scratch.acc.as_mut_ptr();
        for b in 0..nb {
            // SAFETY: block `b` of the eight rows lies inside `grp`, token `t`'s block `b`
            // inside `a.q` (caller), and `scratch.acc` holds `8 * n` f32.
            unsafe {
                let blk = base.add(b * bs);
                let (dw, mw) = scales(blk, rb);
                let w4 = match T {
                    Q8_0 => None,
                    Q5_0 | Q5_1 => Some(nibbles5(blk.add(qoff), blk.add(qoff - 4), rb)),
                    _ => Some(nibbles(blk.add(qoff), rb)),
                };
                for t in 0..n {
                    let ab = t * nb + b;
                    let isum = match &w4 {
                        Some(w4) => q4_isum(w4, qa.add(ab * QK)),
                        None => q8_isum(blk.add(qoff), rb, qa.add(ab * QK)),
                    };
                    let p = accp.add(t * 8);
                    let acc = update::<T>(_mm256_loadu_ps(p), dw, mw, isum, a.d[ab], a.s[ab]);
                    _mm256_storeu_ps(p, acc);
                }
            }
        }
        for (o, acc) in outs.iter_mut().zip(scratch.acc.chunks_exact(8)) {
            o[col..col + 8].copy_from_slice(acc);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::testdata::{ALL_TYPES, assert_group_matches_scalar};

    #[test]
    fn eight_rows_match_the_scalar_reference() {
        if !super::available() {
            // A documented skip (docs/testing.md): recorded, or a failure where not allowed.
            aikernel_testkit::skip_or_fail("cpu-feature", "this CPU has no AVX2 + F16C");
            return;
        }
        let mut scratch = super::Scratch::default();
        assert_group_matches_scalar(8, "avx2", ALL_TYPES, |w, a, r0, outs| {
            super::rows8(w, a, r0, outs, 0, &mut scratch);
        });
    }
}
