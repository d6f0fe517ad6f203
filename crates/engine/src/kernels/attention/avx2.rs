//! AVX2 + F16C twins of the score and value steps: lanes are positions (scores) or output
//! elements (values), so each lane runs exactly the scalar reference's sequence of rounded
//! products and sums; `_mm256_cvtph_ps` widens binary16 exactly, like `f16_to_f32`.

use std::arch::x86_64::{
    __m128i, __m256, _MM_HINT_T0, _mm_loadu_si128, _mm_prefetch, _mm256_add_ps, _mm256_cvtph_ps,
    _mm256_div_ps, _mm256_loadu_ps, _mm256_max_ps, _mm256_mul_ps, _mm256_set1_ps,
    _mm256_setzero_ps, _mm256_storeu_ps,
};

use super::{CH, KB, Span, max_into_scalar, values_chunk_scalar, values_scalar};

/// [`super::max_into`] on AVX2: per lane `max_ps(x, m)`, which is `x > m ? x : m` like the
/// scalar step, then the lanes and the tail folded in by the scalar reference.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn max_into(seg: &[f32], m: f32) -> f32 {
    let mut chunks = seg.chunks_exact(16);
    if chunks.len() == 0 {
        return max_into_scalar(seg, m);
    }
    let (mut a, mut b) = (_mm256_set1_ps(m), _mm256_set1_ps(m));
    for c in &mut chunks {
        // SAFETY: `c` holds sixteen f32.
        unsafe {
            a = _mm256_max_ps(_mm256_loadu_ps(c.as_ptr()), a);
            b = _mm256_max_ps(_mm256_loadu_ps(c.as_ptr().add(8)), b);
        }
    }
    let mut lanes = [0f32; 16];
    // SAFETY: `lanes` holds sixteen f32.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), a);
        _mm256_storeu_ps(lanes.as_mut_ptr().add(8), b);
    }
    max_into_scalar(chunks.remainder(), max_into_scalar(&lanes, m))
}

/// Key block passes (of `GB` blocks each) the score kernel prefetches ahead.
const PF_PASSES: usize = 4;
/// Value rows the value kernels prefetch ahead.
const PF_ROWS: usize = 16;

/// [`super::scores`] on AVX2.
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn scores(sp: &Span<'_>, qs: &[f32], c: usize, out: &mut [f32]) {
    let mut h0 = 0;
    while h0 < sp.heads {
        let take = (sp.heads - h0).min(4);
        let q = &qs[h0 * sp.hd..(h0 + take) * sp.hd];
        let out = &mut out[h0 * CH..(h0 + take) * CH];
        // SAFETY: the caller checked the CPU features.
        unsafe {
            match take {
                1 => score_heads::<1, 4>(sp, q, c, out),
                2 => score_heads::<2, 3>(sp, q, c, out),
                3 => score_heads::<3, 2>(sp, q, c, out),
                _ => score_heads::<4, 2>(sp, q, c, out),
            }
        }
        h0 += take;
    }
}

/// Scores of `H` query heads, `GB` key blocks per pass (`H * GB` independent sums), each
/// key element widened once for all `H` heads.
#[allow(clippy::cast_ptr_alignment)] // `_mm_loadu_si128` reads unaligned
#[target_feature(enable = "avx2,f16c")]
unsafe fn score_heads<const H: usize, const GB: usize>(
    sp: &Span<'_>,
    qs: &[f32],
    c: usize,
    out: &mut [f32],
) {
    let (hd, kv_dim) = (sp.hd, sp.kv_dim);
    let scale = _mm256_set1_ps(1.0 / libm::sqrtf(hd as f32));
    let (lo, hi) = sp.scored(c);
    let (b_lo, b_hi) = (lo / KB, hi.div_ceil(KB));
    let mut b0 = b_lo;
    while b0 < b_hi {
        let g = (b_hi - b0).min(GB);
        let kbs: [&[u16]; GB] = std::array::from_fn(|i| {
            let b = b0 + i.min(g - 1);
            &sp.k[b * KB * kv_dim + sp.off * KB..b * KB * kv_dim + (sp.off + hd) * KB]
        });
        let mut acc = [[_mm256_setzero_ps(); GB]; H];
        // The same elements of the blocks `PF_PASSES` passes ahead (past the end of the
        // cache: a prefetch of an address that is never read), one per cache line (four `d`s).
        let ahead = (b0 + PF_PASSES * GB) * KB * kv_dim + sp.off * KB;
        let pf = sp.k.as_ptr().wrapping_add(ahead);
        let kp: [*const u16; GB] = std::array::from_fn(|i| kbs[i].as_ptr());
        let qp: [*const f32; H] = std::array::from_fn(|h| qs[h * hd..(h + 1) * hd].as_ptr());
        // One `d` step for every sum: element `d` of the `GB` key blocks widened once, times
        // each head's `q[d]`, added to the sums.
        let step = |acc: &mut [[__m256; GB]; H], d: usize| {
            // SAFETY: each key block holds `hd * KB` elements and each query head `hd`, and
            // `d < hd`, so every read is in bounds.
            unsafe {
                let kd: [__m256; GB] = std::array::from_fn(|i| {
                    _mm256_cvtph_ps(_mm_loadu_si128(kp[i].add(d * KB).cast::<__m128i>()))
                });
                for (acc, q) in acc.iter_mut().zip(&qp) {
                    let qd = _mm256_set1_ps(*q.add(d));
                    for (a, &k) in acc.iter_mut().zip(&kd) {
                        *a = _mm256_add_ps(*a, _mm256_mul_ps(qd, k));
                    }
                }
            }
        };
        let mut d = 0;
        while d + 4 <= hd {
            for i in 0..GB {
                let at = pf.wrapping_add(i * KB * kv_dim + d * KB);
                _mm_prefetch::<_MM_HINT_T0>(at.cast::<i8>());
            }
            for u in 0..4 {
                step(&mut acc, d + u);
            }
            d += 4;
        }
        while d < hd {
            step(&mut acc, d);
            d += 1;
        }
        for (h, acc) in acc.iter().enumerate() {
            for (i, &a) in acc.iter().enumerate().take(g) {
                let p0 = (b0 + i) * KB;
                let o = &mut out[h * CH + p0 % CH..h * CH + p0 % CH + (hi - p0).min(KB)];
                let scaled = _mm256_mul_ps(a, scale);
                if let Ok(o) = <&mut [f32; KB]>::try_from(&mut *o) {
                    // SAFETY: `o` holds eight f32.
                    unsafe { _mm256_storeu_ps(o.as_mut_ptr(), scaled) };
                } else {
                    // The query's own block, cut at its position.
                    let mut lanes = [0f32; KB];
                    // SAFETY: `lanes` holds eight f32.
                    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), scaled) };
                    o.copy_from_slice(&lanes[..o.len()]);
                }
            }
        }
        b0 += g;
    }
}

/// [`super::values`] on AVX2 (piece widths that are not 8 or 16 run the reference).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn values(sp: &Span<'_>, s: &[f32], sums: &[f32], e0: usize, out: &mut [f32]) {
    let w = out.len() / sp.heads;
    if w != 8 && w != 16 {
        values_scalar(sp, s, sums, e0, out);
        return;
    }
    let mut h0 = 0;
    while h0 < sp.heads {
        let take = (sp.heads - h0).min(4);
        let out = &mut out[h0 * w..(h0 + take) * w];
        // SAFETY: the caller checked the CPU features.
        unsafe {
            match (take, w) {
                (1, 8) => value_heads::<1, 1>(sp, s, sums, h0, e0, out),
                (2, 8) => value_heads::<2, 1>(sp, s, sums, h0, e0, out),
                (3, 8) => value_heads::<3, 1>(sp, s, sums, h0, e0, out),
                (_, 8) => value_heads::<4, 1>(sp, s, sums, h0, e0, out),
                (1, _) => value_heads::<1, 2>(sp, s, sums, h0, e0, out),
                (2, _) => value_heads::<2, 2>(sp, s, sums, h0, e0, out),
                (3, _) => value_heads::<3, 2>(sp, s, sums, h0, e0, out),
                _ => value_heads::<4, 2>(sp, s, sums, h0, e0, out),
            }
        }
        h0 += take;
    }
}

/// `8 * W` output elements of `H` query heads (from head `h0`): each value row is widened
/// once for all of them.
#[allow(clippy::cast_ptr_alignment)] // `_mm_loadu_si128` reads unaligned
#[target_feature(enable = "avx2,f16c")]
unsafe fn value_heads<const H: usize, const W: usize>(
    sp: &Span<'_>,
    s: &[f32],
    sums: &[f32],
    h0: usize,
    e0: usize,
    out: &mut [f32],
) {
    let mut acc = [[_mm256_setzero_ps(); W]; H];
    for (ci, c) in sp.chunks().enumerate() {
        let (lo, hi) = sp.seen(c);
        let base = ci * sp.heads * CH;
        let rows: [&[f32]; H] =
            std::array::from_fn(|h| &s[base + (h0 + h) * CH..base + (h0 + h + 1) * CH]);
        // SAFETY: the caller checked the CPU features.
        unsafe { value_rows(sp, &rows, lo, hi, e0, &mut acc) };
    }
    let w = 8 * W;
    for (h, acc) in acc.iter().enumerate() {
        let sum = _mm256_set1_ps(sums[h0 + h]);
        for (x, &a) in acc.iter().enumerate() {
            let o = &mut out[h * w + 8 * x..h * w + 8 * x + 8];
            // SAFETY: `o` holds eight f32.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), _mm256_div_ps(a, sum)) };
        }
    }
}

/// Adds positions `lo..hi` (inside one chunk) of value elements `e0..e0 + 8 * W` times each
/// head's softmax numerators (`rows[h][j % CH]`) to the sums in `acc`, in ascending position
/// order: each value row widened once for all `H` heads.
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[allow(clippy::cast_ptr_alignment)] // `_mm_loadu_si128` reads unaligned
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn value_rows<const H: usize, const W: usize>(
    sp: &Span<'_>,
    rows: &[&[f32]; H],
    lo: usize,
    hi: usize,
    e0: usize,
    acc: &mut [[__m256; W]; H],
) {
    if lo >= hi {
        return;
    }
    let kv_dim = sp.kv_dim;
    // Bounds checked once: each head's numerators for the positions, and the value rows
    // from `lo`'s elements to `hi - 1`'s last.
    let first = lo % CH;
    let rp: [*const f32; H] = std::array::from_fn(|h| rows[h][first..first + (hi - lo)].as_ptr());
    let at = lo * kv_dim + sp.off + e0;
    let vp = sp.v[at..(hi - 1) * kv_dim + sp.off + e0 + 8 * W].as_ptr();
    for t in 0..hi - lo {
        let pf = vp.wrapping_add((t + PF_ROWS) * kv_dim);
        _mm_prefetch::<_MM_HINT_T0>(pf.cast::<i8>());
        // SAFETY: row `lo + t` is inside the checked value range and `t < hi - lo` inside
        // each head's checked numerators.
        unsafe {
            let vv: [__m256; W] = std::array::from_fn(|x| {
                _mm256_cvtph_ps(_mm_loadu_si128(
                    vp.add(t * kv_dim + 8 * x).cast::<__m128i>(),
                ))
            });
            for (acc, r) in acc.iter_mut().zip(&rp) {
                let p = _mm256_set1_ps(*r.add(t));
                for (a, &v) in acc.iter_mut().zip(&vv) {
                    *a = _mm256_add_ps(*a, _mm256_mul_ps(p, v));
                }
            }
        }
    }
}

/// [`super::values_chunk`] on AVX2 (piece widths that are not 8 or 16 run the reference).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn values_chunk(sp: &Span<'_>, s: &[f32], c: usize, e0: usize, acc: &mut [f32]) {
    let w = acc.len() / sp.heads;
    if w != 8 && w != 16 {
        values_chunk_scalar(sp, s, c, e0, acc);
        return;
    }
    let mut h0 = 0;
    while h0 < sp.heads {
        let take = (sp.heads - h0).min(4);
        let acc = &mut acc[h0 * w..(h0 + take) * w];
        // SAFETY: the caller checked the CPU features.
        unsafe {
            match (take, w) {
                (1, 8) => value_chunk_heads::<1, 1>(sp, s, c, h0, e0, acc),
                (2, 8) => value_chunk_heads::<2, 1>(sp, s, c, h0, e0, acc),
                (3, 8) => value_chunk_heads::<3, 1>(sp, s, c, h0, e0, acc),
                (_, 8) => value_chunk_heads::<4, 1>(sp, s, c, h0, e0, acc),
                (1, _) => value_chunk_heads::<1, 2>(sp, s, c, h0, e0, acc),
                (2, _) => value_chunk_heads::<2, 2>(sp, s, c, h0, e0, acc),
                (3, _) => value_chunk_heads::<3, 2>(sp, s, c, h0, e0, acc),
                _ => value_chunk_heads::<4, 2>(sp, s, c, h0, e0, acc),
            }
        }
        h0 += take;
    }
}

/// Chunk `c`'s terms of `8 * W` output elements of `H` query heads (from head `h0`), added
/// to the running sums in `acc`.
#[allow(clippy::cast_ptr_alignment)] // `_mm_loadu_si128` reads unaligned
#[target_feature(enable = "avx2,f16c")]
unsafe fn value_chunk_heads<const H: usize, const W: usize>(
    sp: &Span<'_>,
    s: &[f32],
    c: usize,
    h0: usize,
    e0: usize,
    acc_out: &mut [f32],
) {
    let w = 8 * W;
    // SAFETY: `acc_out` holds `H` rows of `w` f32.
    let mut acc: [[__m256; W]; H] = std::array::from_fn(|h| {
        std::array::from_fn(|x| unsafe { _mm256_loadu_ps(acc_out.as_ptr().add(h * w + 8 * x)) })
    });
    let ci = c - sp.chunks().start;
    let (lo, hi) = sp.seen(c);
    let base = ci * sp.heads * CH;
    let rows: [&[f32]; H] =
        std::array::from_fn(|h| &s[base + (h0 + h) * CH..base + (h0 + h + 1) * CH]);
    // SAFETY: the caller checked the CPU features.
    unsafe { value_rows(sp, &rows, lo, hi, e0, &mut acc) };
    for (h, acc) in acc.iter().enumerate() {
        for (x, &a) in acc.iter().enumerate() {
            let o = &mut acc_out[h * w + 8 * x..h * w + 8 * x + 8];
            // SAFETY: `o` holds eight f32.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
        }
    }
}
