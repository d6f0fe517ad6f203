//! Attention over one sequence's cache: scores, softmax and the weighted value sum, each
//! element its own sequential reduction in ascending position order.
#![allow(unsafe_code)]

use super::Ctx;

/// Positions per block of the key cache.
pub(crate) const KB: usize = 8;

/// Appends position `pos`'s key row to a layer's key cache. Keys are stored in blocks of
/// `KB` positions, element-major inside a block (`[block][element][position % KB]`), so
/// attention scores `KB` positions with one vector operation per element.
pub(crate) fn push_key(cache: &mut Vec<f32>, pos: usize, row: &[f32]) {
    let kv_dim = row.len();
    if pos.is_multiple_of(KB) {
        cache.resize((pos / KB + 1) * KB * kv_dim, 0.0);
    }
    let blk = &mut cache[(pos / KB) * KB * kv_dim..(pos / KB + 1) * KB * kv_dim];
    for (e, &v) in row.iter().enumerate() {
        blk[e * KB + pos % KB] = v;
    }
}

/// Attention of the query heads in `qs` (each `hd` long, all sharing the key/value head at
/// `off` of `kv_dim`) over positions `start..=pos` of one layer's cache (`start > 0` on a
/// sliding-window layer: earlier positions are masked out exactly, as if absent) (`k` in blocks, see
/// [`push_key`]; `v` position-major), into `outs` (the heads' outputs, in the same order).
///
/// Heads that share a key/value head are computed together so each key and value row is
/// read once for all of them; every score, softmax and output element is still its own
/// sequential sum, exactly as for one head alone.
#[allow(clippy::too_many_arguments)] // the heads' slices and geometry
pub(crate) fn attend(
    ctx: &Ctx,
    qs: &[f32],
    k: &[f32],
    v: &[f32],
    (start, pos): (usize, usize),
    kv_dim: usize,
    off: usize,
    hd: usize,
    outs: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 was detected at run time.
        unsafe { attend_avx2(qs, k, v, (start, pos), kv_dim, off, hd, outs) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ctx;
    attend_body(false, qs, k, v, (start, pos), kv_dim, off, hd, outs);
}

/// The same code compiled with AVX2 enabled (the compiler vectorises the position lanes and
/// the value accumulation; it never fuses a multiply and an add).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_avx2(
    qs: &[f32],
    k: &[f32],
    v: &[f32],
    span: (usize, usize),
    kv_dim: usize,
    off: usize,
    hd: usize,
    outs: &mut [f32],
) {
    attend_body(true, qs, k, v, span, kv_dim, off, hd, outs);
}

// Always inlined so the AVX2 wrapper compiles the body with its target features.
#[allow(clippy::inline_always)]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
#[inline(always)]
fn attend_body(
    simd: bool,
    qs: &[f32],
    k: &[f32],
    v: &[f32],
    (start, pos): (usize, usize),
    kv_dim: usize,
    off: usize,
    hd: usize,
    outs: &mut [f32],
) {
    let heads = qs.len() / hd;
    let len = pos + 1;
    // Scores, head-major: `scores[h * len + j]`.
    let mut scores = vec![0f32; heads * len];
    let mut h0 = 0;
    while h0 < heads {
        let take = (heads - h0).min(4);
        let (q, s) = (
            &qs[h0 * hd..(h0 + take) * hd],
            &mut scores[h0 * len..(h0 + take) * len],
        );
        match take {
            1 => score_heads::<1, 4>(q, k, (start, pos), kv_dim, off, hd, s),
            2 => score_heads::<2, 2>(q, k, (start, pos), kv_dim, off, hd, s),
            3 => score_heads::<3, 2>(q, k, (start, pos), kv_dim, off, hd, s),
            _ => score_heads::<4, 2>(q, k, (start, pos), kv_dim, off, hd, s),
        }
        h0 += take;
    }
    // Softmax per head over `start..=pos`: the max in position order, `expf(s - max)`, a
    // sequential sum. (Scores before `start` are never read; those in `start`'s key block
    // were computed with it.)
    let mut sums = vec![0f32; heads];
    for (row, sum) in scores.chunks_exact_mut(len).zip(&mut sums) {
        let row = &mut row[start..];
        let mut max = f32::NEG_INFINITY;
        for &s in row.iter() {
            if s > max {
                max = s;
            }
        }
        for s in row.iter_mut() {
            *s -= max;
        }
        super::exp::expf_slice(simd, row);
        for &e in row.iter() {
            *sum += e;
        }
    }
    // Values: each output element sums `(e_j / sum) · v_j` in ascending `j`; each value row
    // is read once for all the heads.
    outs.fill(0.0);
    for j in start..len {
        let vj = &v[j * kv_dim + off..j * kv_dim + off + hd];
        for (h, out) in outs.chunks_exact_mut(hd).enumerate() {
            let p = scores[h * len + j] / sums[h];
            for (o, &x) in out.iter_mut().zip(vj) {
                *o += p * x;
            }
        }
    }
}

/// Scaled scores of `H` query heads (`qs`, `H * hd`) against positions `0..=pos` (from the
/// key block holding `start` on), into `scores` (`H` rows of `pos + 1`). Lanes are positions: each score is its own sequential
/// sum over `d`, so vectorising changes no operation order; `GB` key blocks per pass keep
/// `H * GB` independent chains, and each key element is loaded once for all `H` heads.
#[allow(clippy::inline_always)]
#[inline(always)]
fn score_heads<const H: usize, const GB: usize>(
    qs: &[f32],
    k: &[f32],
    (start, pos): (usize, usize),
    kv_dim: usize,
    off: usize,
    hd: usize,
    scores: &mut [f32],
) {
    let scale = 1.0 / libm::sqrtf(hd as f32);
    let len = pos + 1;
    let nblk = pos / KB + 1;
    // Key blocks wholly before a sliding window's start are skipped (their scores are never
    // read); each computed score is the same sequential sum either way.
    let mut b0 = start / KB;
    while b0 < nblk {
        let g = (nblk - b0).min(GB);
        let mut acc = [[[0f32; KB]; GB]; H];
        let kbs: [&[f32]; GB] = std::array::from_fn(|i| {
            let b = b0 + i.min(g - 1);
            &k[b * KB * kv_dim + off * KB..b * KB * kv_dim + (off + hd) * KB]
        });
        for d in 0..hd {
            for (i, kb) in kbs.iter().enumerate() {
                let kd = &kb[d * KB..(d + 1) * KB];
                for (h, acc) in acc.iter_mut().enumerate() {
                    let qd = qs[h * hd + d];
                    for l in 0..KB {
                        acc[i][l] += qd * kd[l];
                    }
                }
            }
        }
        for (h, acc) in acc.iter().enumerate() {
            for (i, acc) in acc.iter().enumerate().take(g) {
                let p0 = (b0 + i) * KB;
                let m = (len - p0).min(KB);
                for (l, &a) in acc[..m].iter().enumerate() {
                    scores[h * len + p0 + l] = a * scale;
                }
            }
        }
        b0 += g;
    }
}
