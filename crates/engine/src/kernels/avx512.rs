//! AVX-512 kernels with VNNI: sixteen output rows per step, one f32 lane per row, the same
//! f32 operation sequence as the scalar code (separate multiply and add, never fused), for
//! every quantized type (the K-quants in `k`).
//!
//! The integer block sums use `vpdpbusd` (unsigned byte × signed byte, four products added
//! into each i32 lane, exact: no saturation). Per block, the sixteen rows' quants are
//! transposed once so that lane `i` of a register holds four consecutive quant bytes of row
//! `i`; every token then needs only one `vpdpbusd` per four elements, with the activation
//! dword broadcast, and no horizontal sums. Q4 nibbles and Q5 values (the nibble plus bit `i`
//! of the block's high-bit word times 16) are already unsigned; Q8_0 quants are made unsigned
//! by adding 128 (`q ^ 0x80`), and `128 · Σa` (the block's exact activation sum) is
//! subtracted again (Q4_0 `8 · Σa`, Q5_0 `16 · Σa` for their offsets), so every block sum is
//! the same integer as the scalar one.
//!
//! Weights are read where they lie (the memory-mapped blocks). One token (decode) keeps its
//! accumulator in a register and prefetches ahead; several tokens (prefill) reuse each
//! block's transposed quants for every token.
#![allow(unsafe_code)]
// Every load is unaligned (`loadu`, gathers with byte scale), so pointer casts need no alignment.
#![allow(clippy::cast_ptr_alignment)]

#[cfg(target_arch = "x86_64")]
mod k;

use super::{Acts, WeightView};
use crate::gguf::GgmlType;

/// What the row groups of one product (weights `w`, activations `a`) reuse: accumulators
/// (sixteen f32 lanes per token), and for Q6_K the activation blocks' first-half sums.
#[derive(Debug)]
pub(super) struct Scratch {
    acc: Vec<f32>,
    /// `Σ a[0..16]` of every activation block (Q6_K only; empty otherwise).
    halves: Vec<i32>,
}

impl Scratch {
    /// The scratch for the row groups of `w` times `a`.
    pub(super) fn new(w: &WeightView<'_>, a: &Acts<'_>) -> Scratch {
        let halves = if w.dtype == GgmlType::Q6_K {
            a.q.chunks_exact(super::QK)
                .map(|b| b[..16].iter().map(|&x| i32::from(x)).sum::<i32>())
                .collect()
        } else {
            Vec::new()
        };
        Scratch {
            acc: Vec::new(),
            halves,
        }
    }
}

/// Whether this CPU has AVX-512 F and BW, AVX-512 VNNI, and AVX2 + F16C (which the
/// remaining eight-row groups, attention and `expf` use).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::avx2::available()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether single-token steps (decode) run faster on the eight-row AVX2 kernels than on the
/// sixteen-row ones here: on AMD family 19h (Zen 3 and Zen 4) a 512-bit operation runs as two
/// 256-bit halves, so the per-block transposes that a single token cannot amortise cost
/// twice what the AVX2 kernel's unpacking does (measured on Zen 4: decode 15-25% faster on
/// the AVX2 code; on an Intel Xeon the sixteen-row code was 11% faster). Same bits either
/// way; only the speed depends on it.
pub(super) fn narrow_decode() -> bool {
    static NARROW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NARROW.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::__cpuid;
            let v = __cpuid(0);
            let amd = [v.ebx, v.edx, v.ecx]
                .iter()
                .flat_map(|r| r.to_le_bytes())
                .eq(*b"AuthenticAMD");
            let f = __cpuid(1).eax;
            // Family: the base field, plus the extended field when the base is 0xF.
            let family = ((f >> 8) & 0xF)
                + if (f >> 8) & 0xF == 0xF {
                    (f >> 20) & 0xFF
                } else {
                    0
                };
            amd && family == 0x19
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Rows `r0..r0+16` for every token `t` into `outs[t][col..col + 16]`. Caller checked
/// `available()` and that the type is a quantized one whose blocks fit `w.cols`
/// ([`super::runs_quantized`]).
#[cfg(target_arch = "x86_64")]
pub(super) fn rows16(
    w: &WeightView<'_>,
    a: &Acts<'_>,
    r0: usize,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    let rb = w.row_bytes();
    let grp = &w.data[r0 * rb..(r0 + 16) * rb];
    let n = a.n();
    assert!(outs.len() == n && outs.iter().all(|o| o.len() >= col + 16));
    assert!(a.q.len() >= n * (w.cols / super::QK) * super::QK);
    assert!(
        i32::try_from(15 * rb).is_ok(),
        "row too long for a gather offset"
    );
    // SAFETY: `rows16` is only called when `available()` reported AVX-512 F/BW/VNNI, AVX2
    // and F16C; `grp` holds the sixteen rows and the asserts above bound every activation
    // and output access the kernels make.
    unsafe {
        match w.dtype {
            GgmlType::Q8_0 => {
                x86::rows16::<{ x86::Q8_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_0 => {
                x86::rows16::<{ x86::Q4_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_1 => {
                x86::rows16::<{ x86::Q4_1 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q5_0 => {
                x86::rows16::<{ x86::Q5_0 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q5_1 => {
                x86::rows16::<{ x86::Q5_1 }>(grp, w.cols, a, outs, col, scratch);
            }
            GgmlType::Q4_K => k::rows16::<{ k::Q4_K }>(grp, w.cols, a, outs, col, scratch),
            GgmlType::Q5_K => k::rows16::<{ k::Q5_K }>(grp, w.cols, a, outs, col, scratch),
            GgmlType::Q6_K => k::rows16::<{ k::Q6_K }>(grp, w.cols, a, outs, col, scratch),
            other => unreachable!("no AVX-512 kernel for {other}: the caller checks the type"),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, __m512, __m512i, _MM_HINT_T0, _mm_loadu_si128, _mm_prefetch, _mm512_add_epi32,
        _mm512_add_ps, _mm512_and_si512, _mm512_castsi128_si512, _mm512_cvtepi32_epi16,
        _mm512_cvtepi32_ps, _mm512_cvtph_ps, _mm512_dpbusd_epi32, _mm512_i32gather_epi32,
        _mm512_inserti32x4, _mm512_loadu_ps, _mm512_mul_ps, _mm512_mullo_epi32, _mm512_or_si512,
        _mm512_set1_epi8, _mm512_set1_epi32, _mm512_set1_ps, _mm512_setr_epi32, _mm512_setzero_ps,
        _mm512_setzero_si512, _mm512_srli_epi32, _mm512_srlv_epi32, _mm512_storeu_ps,
        _mm512_sub_epi32, _mm512_unpackhi_epi32, _mm512_unpackhi_epi64, _mm512_unpacklo_epi32,
        _mm512_unpacklo_epi64, _mm512_xor_si512,
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

    /// How many sixteen-row groups ahead decode prefetches.
    const PREFETCH_GROUPS: usize = 1;

    /// Block size in bytes and offset of the quants (the nibbles; Q5's high-bit word lies
    /// just before them).
    const fn layout(t: u8) -> (usize, usize) {
        match t {
            Q8_0 => (34, 2),
            Q4_0 => (18, 2),
            Q4_1 => (20, 4),
            Q5_0 => (22, 6),
            _ => (24, 8),
        }
    }

    /// Sixteen bytes of each of the sixteen rows (`q + i * rb`), transposed: lane `r` of
    /// register `k` holds bytes `4k..4k+4` of row `r`.
    ///
    /// # Safety
    /// `q` plus `15 * rb + 16` bytes must be readable.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn transpose16(q: *const u8, rb: usize) -> [__m512i; 4] {
        // Register `i` holds rows `i, i + 4, i + 8, i + 12` in its four 128-bit lanes, so the
        // 4×4 dword transpose inside each 128-bit lane puts row `4j + i` at lane `4j + i`.
        // SAFETY: the sixteen 16-byte rows are readable (caller); unaligned loads.
        let row = |r: usize| unsafe { _mm_loadu_si128(q.add(r * rb).cast::<__m128i>()) };
        let r: [__m512i; 4] = std::array::from_fn(|i| {
            let v = _mm512_castsi128_si512(row(i));
            let v = _mm512_inserti32x4::<1>(v, row(i + 4));
            let v = _mm512_inserti32x4::<2>(v, row(i + 8));
            _mm512_inserti32x4::<3>(v, row(i + 12))
        });
        let t0 = _mm512_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm512_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm512_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm512_unpackhi_epi32(r[2], r[3]);
        [
            _mm512_unpacklo_epi64(t0, t2),
            _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3),
            _mm512_unpackhi_epi64(t1, t3),
        ]
    }

    /// One block's quants of sixteen rows as eight unsigned registers: register `k` holds
    /// (lane `r` = row `r`) the weights of elements `4k..4k+4`.
    ///
    /// Q4: registers 0..4 are the low nibbles (elements 0..16), 4..8 the high nibbles
    /// (elements 16..32); Q5 adds bit `i` of the row's high-bit word (the dword before `q`)
    /// times 16 to element `i`. Q8_0: the quants plus 128.
    ///
    /// # Safety
    /// `q` plus `15 * rb + 16` (Q4) or `15 * rb + 32` (Q8_0) bytes must be readable, Q5's
    /// four bytes before `q + i * rb` too; `offsets` lane `i` is `i * rb`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn weights<const T: u8>(q: *const u8, rb: usize, offsets: __m512i) -> [__m512i; 8] {
        if T == Q8_0 {
            let bias = _mm512_set1_epi8(-128);
            // SAFETY: both 16-byte halves of the 32 quants are readable (caller).
            let (lo, hi) = unsafe { (transpose16(q, rb), transpose16(q.add(16), rb)) };
            std::array::from_fn(|k| {
                let v = if k < 4 { lo[k] } else { hi[k - 4] };
                _mm512_xor_si512(v, bias)
            })
        } else {
            let mask = _mm512_set1_epi8(0x0F);
            // SAFETY: the 16 nibble bytes are readable (caller).
            let t = unsafe { transpose16(q, rb) };
            let nibbles: [__m512i; 8] = std::array::from_fn(|k| {
                if k < 4 {
                    _mm512_and_si512(t[k], mask)
                } else {
                    _mm512_and_si512(_mm512_srli_epi32::<4>(t[k - 4]), mask)
                }
            });
            if T != Q5_0 && T != Q5_1 {
                return nibbles;
            }
            // SAFETY: each row's high-bit word lies in the four bytes before its nibbles
            // (caller); byte-scaled gather.
            let h = unsafe { _mm512_i32gather_epi32::<1>(offsets, q.sub(4).cast::<i32>()) };
            // Register `k` holds elements `4k..4k+4` of both halves' order (0..16, then
            // 16..32), whose high bits are bits `4k..4k+4` of the word: spread those four
            // bits to bit 4 of bytes 0..4 (`x · 0x02040810` places bit `i` at `8i + 4`, with
            // no carries for `x < 16`).
            let spread = _mm512_set1_epi32(0x0204_0810);
            let (low4, at4) = (_mm512_set1_epi32(0xF), _mm512_set1_epi32(0x1010_1010));
            std::array::from_fn(|k| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let x =
                    _mm512_and_si512(_mm512_srlv_epi32(h, _mm512_set1_epi32(4 * k as i32)), low4);
                _mm512_or_si512(
                    nibbles[k],
                    _mm512_and_si512(_mm512_mullo_epi32(x, spread), at4),
                )
            })
        }
    }

    /// Exact integer dot products of one block of sixteen rows (see `weights`) with the 32 i8
    /// activations at `qa`, before any offset correction: lane `r` is row `r`'s
    /// `Σ w_u8 · a`. Two independent chains of four `vpdpbusd`.
    ///
    /// # Safety
    /// `qa` must point at 32 readable bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn isum(w: &[__m512i; 8], qa: *const i8) -> __m512i {
        // SAFETY: 32 readable bytes at `qa` (caller).
        let (lo, hi) = unsafe { isum_halves(w, qa) };
        _mm512_add_epi32(lo, hi)
    }

    /// [`isum`]'s two halves: elements 0..16 (registers 0..4) and 16..32 (4..8).
    ///
    /// # Safety
    /// `qa` must point at 32 readable bytes.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn isum_halves(w: &[__m512i; 8], qa: *const i8) -> (__m512i, __m512i) {
        // SAFETY: eight dwords at `qa` (caller); unaligned reads.
        let a: [i32; 8] =
            std::array::from_fn(|k| unsafe { qa.add(4 * k).cast::<i32>().read_unaligned() });
        let mut lo = _mm512_setzero_si512();
        let mut hi = _mm512_setzero_si512();
        for k in 0..4 {
            lo = _mm512_dpbusd_epi32(lo, w[k], _mm512_set1_epi32(a[k]));
            hi = _mm512_dpbusd_epi32(hi, w[k + 4], _mm512_set1_epi32(a[k + 4]));
        }
        (lo, hi)
    }

    /// The sixteen rows' f16 scales of one block as f32 (`d`, and `m` for Q4_1: the dword at
    /// the block start holds `d` in its low half and, for Q4_1, `m` in its high half).
    ///
    /// # Safety
    /// `blk + offsets[i]` plus 4 bytes must be readable for each of the sixteen offsets.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn scales(blk: *const u8, offsets: __m512i) -> (__m512, __m512) {
        // SAFETY: the sixteen dwords are readable (caller); byte-scaled gather.
        let v = unsafe { _mm512_i32gather_epi32::<1>(offsets, blk.cast::<i32>()) };
        let d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
        let m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(v)));
        (d, m)
    }

    /// One block's terms added to a token's accumulator, in the scalar code's order:
    /// `acc + (dw * da) * isum`, then for Q4_1 and Q5_1 `acc + (mw * da) * sa`. `raw` is the
    /// unsigned dot product from `isum`; the offsets (Q4_0: 8 per weight, Q5_0: 16, Q8_0: the
    /// +128 bias) are removed exactly in integers first.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn update<const T: u8>(
        acc: __m512,
        dw: __m512,
        mw: __m512,
        raw: __m512i,
        da: f32,
        sa: i32,
    ) -> __m512 {
        let isum = match T {
            Q4_0 => _mm512_sub_epi32(raw, _mm512_set1_epi32(8 * sa)),
            Q5_0 => _mm512_sub_epi32(raw, _mm512_set1_epi32(16 * sa)),
            Q8_0 => _mm512_sub_epi32(raw, _mm512_set1_epi32(128 * sa)),
            _ => raw,
        };
        let da = _mm512_set1_ps(da);
        let acc = _mm512_add_ps(
            acc,
            _mm512_mul_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum)),
        );
        if T == Q4_1 || T == Q5_1 {
            _mm512_add_ps(
                acc,
                _mm512_mul_ps(_mm512_mul_ps(mw, da), _mm512_set1_ps(sa as f32)),
            )
        } else {
            acc
        }
    }

    /// Lane `i` = `i * rb`: the byte offsets of sixteen rows of `rb` bytes, for gathers
    /// (the caller checked that `15 * rb` fits an i32).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn row_offsets(rb: usize) -> __m512i {
        #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
        _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(rb as i32),
        )
    }

    /// Sixteen rows (`grp`, row-major blocks) for every token `t` of `a` into
    /// `outs[t][col..col + 16]`.
    ///
    /// # Safety
    /// AVX-512 F/BW/VNNI must be available; `grp` holds sixteen rows of `cols / 32` blocks of
    /// type `T`; `a` has `cols`-wide rows; `outs` has one slice per token, each `col + 16`
    /// long; `15 * rb` fits an i32.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn rows16<const T: u8>(
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
        let offsets = row_offsets(rb);
        if n == 1 {
            let mut acc = _mm512_setzero_ps();
            // Sixteen rows read block by block are sixteen interleaved streams; fetch the
            // next group's bytes ahead, spread over the blocks, as one sequential stream.
            let ahead = base.wrapping_add(PREFETCH_GROUPS * 16 * rb);
            let per_block = 16 * bs;
            for b in 0..nb {
                let pf = ahead.wrapping_add(b * per_block);
                let mut off = 0;
                while off < per_block + 64 {
                    _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(off).cast::<i8>());
                    off += 64;
                }
                // SAFETY: block `b` of the sixteen rows lies inside `grp` (caller), and block
                // `b` of the single token's activations inside `a.q`.
                unsafe {
                    let blk = base.add(b * bs);
                    let (dw, mw) = scales(blk, offsets);
                    let wq = weights::<T>(blk.add(qoff), rb, offsets);
                    let raw = isum(&wq, qa.add(b * QK));
                    acc = update::<T>(acc, dw, mw, raw, a.d[b], a.s[b]);
                }
            }
            let mut lanes = [0f32; 16];
            // SAFETY: `lanes` holds 16 f32; unaligned store.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), acc) };
            outs[0][col..col + 16].copy_from_slice(&lanes);
            return;
        }
        scratch.acc.clear();
        scratch.acc.resize(n * 16, 0.0);
        let accp = scratch.acc.as_mut_ptr();
        for b in 0..nb {
            // SAFETY: block `b` of the sixteen rows lies inside `grp`, token `t`'s block `b`
            // inside `a.q` (caller), and `scratch.acc` holds `16 * n` f32.
            unsafe {
                let blk = base.add(b * bs);
                let (dw, mw) = scales(blk, offsets);
                let wq = weights::<T>(blk.add(qoff), rb, offsets);
                for t in 0..n {
                    let ab = t * nb + b;
                    let raw = isum(&wq, qa.add(ab * QK));
                    let p = accp.add(t * 16);
                    let acc = update::<T>(_mm512_loadu_ps(p), dw, mw, raw, a.d[ab], a.s[ab]);
                    _mm512_storeu_ps(p, acc);
                }
            }
        }
        for (o, acc) in outs.iter_mut().zip(scratch.acc.chunks_exact(16)) {
            o[col..col + 16].copy_from_slice(acc);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::testdata::{ALL_TYPES, assert_group_matches_scalar};

    #[test]
    fn sixteen_rows_match_the_scalar_reference() {
        if !super::available() {
            // A documented skip (docs/testing.md): recorded, or a failure where not allowed.
            aikernel_testkit::skip_or_fail("cpu-feature", "this CPU has no AVX-512 VNNI");
            return;
        }
        assert_group_matches_scalar(16, "avx512", ALL_TYPES, |w, a, r0, outs| {
            super::rows16(w, a, r0, outs, 0, &mut super::Scratch::new(w, a));
        });
    }
}
