//! Attention over one sequence's cache: scores, softmax and the weighted value sum, each
//! element its own sequential reduction in ascending position order.
//!
//! The cache holds keys and values as IEEE binary16, each written once as the f32 value
//! rounded to nearest, ties to even ([`crate::f16::f32_to_f16`]); reading one back is exact.
//! For query head `h` at position `pos` over positions `start..=pos` (`start > 0` on a
//! sliding-window layer):
//! - score `s_j = (Σ_d q[d]·k_j[d]) · (1 / sqrtf(hd))`, the sum sequential in `d` from 0.0;
//! - `m = max_j s_j` (a value no order changes), `e_j = expf(s_j - m)`, `sum = Σ_j e_j` sequential
//!   in ascending `j` from 0.0;
//! - output element `o[i] = (Σ_j e_j · v_j[i]) / sum`, the sum sequential in ascending `j`.
//!
//! Every product and sum is rounded on its own (never fused). The work splits into three
//! steps that share nothing but their outputs: scores by chunks of [`CH`] positions
//! ([`scores`]), the softmax by query head ([`softmax`]), the value sums by ranges of
//! output elements ([`values`]); a thread team may run the pieces of each step in any
//! order and on any thread, and every element is still computed by the same sequence.
#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
mod avx2;

use super::Ctx;
use crate::f16::{f16_to_f32, f32_to_f16};

/// Positions per block of the key cache.
pub(crate) const KB: usize = 8;
/// Positions per chunk of the scores (a multiple of [`KB`]): the unit the score step is
/// split by.
pub(crate) const CH: usize = 64;
/// Output elements per piece of the value step.
pub(crate) const VE: usize = 16;

/// Appends position `pos`'s key row to a layer's key cache as binary16. Keys are stored in
/// blocks of `KB` positions, element-major inside a block (`[block][element][position % KB]`),
/// so attention scores `KB` positions with one vector operation per element.
pub(crate) fn push_key(cache: &mut Vec<u16>, pos: usize, row: &[f32]) {
    let kv_dim = row.len();
    if pos.is_multiple_of(KB) {
        cache.resize((pos / KB + 1) * KB * kv_dim, 0);
    }
    let blk = &mut cache[(pos / KB) * KB * kv_dim..(pos / KB + 1) * KB * kv_dim];
    for (e, &v) in row.iter().enumerate() {
        blk[e * KB + pos % KB] = f32_to_f16(v);
    }
}

/// Appends a value row to a layer's (position-major) value cache as binary16.
pub(crate) fn push_value(cache: &mut Vec<u16>, row: &[f32]) {
    cache.extend(row.iter().map(|&x| f32_to_f16(x)));
}

/// One key/value head of one layer's cache as a query at `pos` sees it: the positions
/// `start..=pos`, the head's elements at `off..off + hd` of each `kv_dim`-wide row, and the
/// `heads` query heads that share it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span<'a> {
    /// Keys, in blocks (see [`push_key`]).
    pub(crate) k: &'a [u16],
    /// Values, position-major.
    pub(crate) v: &'a [u16],
    /// Elements per cache row (all key/value heads).
    pub(crate) kv_dim: usize,
    /// This head's first element in a row.
    pub(crate) off: usize,
    /// Elements per head.
    pub(crate) hd: usize,
    /// Query heads sharing this key/value head.
    pub(crate) heads: usize,
    /// First position seen.
    pub(crate) start: usize,
    /// Last position seen (the query's own).
    pub(crate) pos: usize,
}

impl Span<'_> {
    /// The score chunks the span touches.
    pub(crate) fn chunks(&self) -> std::ops::Range<usize> {
        self.start / CH..self.pos / CH + 1
    }

    /// Length of the scores buffer: per chunk, `heads` rows of `CH`
    /// (`s[(c - first chunk) * heads * CH + h * CH + j % CH]`).
    pub(crate) fn scores_len(&self) -> usize {
        self.chunks().len() * self.heads * CH
    }

    /// Positions of chunk `c` that are scored: from `start`'s key block on, up to `pos`.
    fn scored(&self, c: usize) -> (usize, usize) {
        let lo = (c * CH).max(self.start / KB * KB);
        (lo, ((c + 1) * CH).min(self.pos + 1))
    }

    /// Positions of chunk `c` inside the span.
    fn seen(&self, c: usize) -> (usize, usize) {
        ((c * CH).max(self.start), ((c + 1) * CH).min(self.pos + 1))
    }
}

/// Attention of the query heads `qs` (`heads * hd`) over the span, into `outs` (the heads'
/// outputs in order): all three steps on the calling thread.
pub(crate) fn attend(ctx: &Ctx, sp: &Span<'_>, qs: &[f32], outs: &mut [f32]) {
    let mut s = vec![0f32; sp.scores_len()];
    for (i, c) in sp.chunks().enumerate() {
        let n = sp.heads * CH;
        scores(ctx, sp, qs, c, &mut s[i * n..(i + 1) * n]);
    }
    let mut rows: Vec<Vec<&mut [f32]>> = (0..sp.heads).map(|_| Vec::new()).collect();
    for (i, row) in s.chunks_mut(CH).enumerate() {
        rows[i % sp.heads].push(row);
    }
    let sums = softmax(ctx, sp, &mut rows);
    let mut part = vec![0f32; sp.heads * VE];
    for e0 in (0..sp.hd).step_by(VE) {
        let w = VE.min(sp.hd - e0);
        values(ctx, sp, &s, &sums, e0, &mut part[..sp.heads * w]);
        for h in 0..sp.heads {
            outs[h * sp.hd + e0..h * sp.hd + e0 + w].copy_from_slice(&part[h * w..(h + 1) * w]);
        }
    }
}

/// [`attend`] for several query tokens of one sequence against the same key/value head
/// (`sps[t]`, `qs[t]`, `outs[t]`), chunk by chunk: each chunk of keys and of values is read
/// from the cache once for all the tokens and then reused from the core's cache. Each token
/// scores only its own span; every score, max, sum and output element is the same sequence
/// of operations as in [`attend`] (the value sums carried from chunk to chunk in ascending
/// order), so the bits are the same.
pub(crate) fn attend_tile(ctx: &Ctx, sps: &[Span<'_>], qs: &[&[f32]], outs: &mut [&mut [f32]]) {
    let (heads, hd) = (sps[0].heads, sps[0].hd);
    let first = sps.iter().map(|sp| sp.chunks().start).min().unwrap_or(0);
    let last = sps.iter().map(|sp| sp.chunks().end).max().unwrap_or(0);
    let n = heads * CH;
    let mut s: Vec<Vec<f32>> = sps.iter().map(|sp| vec![0f32; sp.scores_len()]).collect();
    for c in first..last {
        for ((sp, q), st) in sps.iter().zip(qs).zip(s.iter_mut()) {
            if sp.chunks().contains(&c) {
                let i = c - sp.chunks().start;
                scores(ctx, sp, q, c, &mut st[i * n..(i + 1) * n]);
            }
        }
    }
    let sums: Vec<Vec<f32>> = sps
        .iter()
        .zip(s.iter_mut())
        .map(|(sp, st)| {
            let mut rows: Vec<Vec<&mut [f32]>> = (0..heads).map(|_| Vec::new()).collect();
            for (i, row) in st.chunks_mut(CH).enumerate() {
                rows[i % heads].push(row);
            }
            softmax(ctx, sp, &mut rows)
        })
        .collect();
    // Per token, the running value sums piece by piece: piece `e0` holds `heads` rows of
    // its width at `heads * e0`.
    let mut acc = vec![0f32; sps.len() * heads * hd];
    for c in first..last {
        for ((sp, st), acc) in sps.iter().zip(&s).zip(acc.chunks_exact_mut(heads * hd)) {
            if sp.chunks().contains(&c) {
                for e0 in (0..hd).step_by(VE) {
                    let w = VE.min(hd - e0);
                    values_chunk(ctx, sp, st, c, e0, &mut acc[heads * e0..heads * (e0 + w)]);
                }
            }
        }
    }
    for ((out, acc), sums) in outs.iter_mut().zip(acc.chunks_exact(heads * hd)).zip(&sums) {
        for e0 in (0..hd).step_by(VE) {
            let w = VE.min(hd - e0);
            let part = &acc[heads * e0..heads * (e0 + w)];
            for (h, &sum) in sums.iter().enumerate() {
                for i in 0..w {
                    out[h * hd + e0 + i] = part[h * w + i] / sum;
                }
            }
        }
    }
}

/// Scaled scores of the query heads `qs` against the positions of chunk `c`, into `out`
/// (`heads` rows of `CH`, row `h` element `j % CH`; positions not scored are left alone).
pub(crate) fn scores(ctx: &Ctx, sp: &Span<'_>, qs: &[f32], c: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 and F16C were detected at run time.
        unsafe { avx2::scores(sp, qs, c, out) };
        return;
    }
    let _ = ctx;
    scores_scalar(sp, qs, c, out);
}

/// The reference for [`scores`].
pub(crate) fn scores_scalar(sp: &Span<'_>, qs: &[f32], c: usize, out: &mut [f32]) {
    let scale = 1.0 / libm::sqrtf(sp.hd as f32);
    let (lo, hi) = sp.scored(c);
    for j in lo..hi {
        let blk = &sp.k[(j / KB) * KB * sp.kv_dim..];
        for h in 0..sp.heads {
            let q = &qs[h * sp.hd..(h + 1) * sp.hd];
            let mut acc = 0f32;
            for (d, &qd) in q.iter().enumerate() {
                acc += qd * f16_to_f32(blk[(sp.off + d) * KB + j % KB]);
            }
            out[h * CH + j % CH] = acc * scale;
        }
    }
}

/// Softmax numerators of query heads over the span, in place in `rows` (per head, its row
/// of each chunk's scores, in chunk order); returns each head's sum.
///
/// The max is a value that does not depend on the order it is taken in (up to the sign of a
/// zero max, which no `s_j - m` depends on), so the SIMD path takes it eight lanes at a
/// time. Each sum is its own sequential pass in position order; up to four heads' sums run
/// interleaved, in registers.
pub(crate) fn softmax(ctx: &Ctx, sp: &Span<'_>, rows: &mut [Vec<&mut [f32]>]) -> Vec<f32> {
    let mut max = vec![f32::NEG_INFINITY; rows.len()];
    for (m, row) in max.iter_mut().zip(rows.iter()) {
        for (seg, c) in row.iter().zip(sp.chunks()) {
            let (lo, hi) = sp.seen(c);
            *m = max_into(ctx, &seg[lo % CH..lo % CH + (hi - lo)], *m);
        }
    }
    for (row, &m) in rows.iter_mut().zip(&max) {
        for (seg, c) in row.iter_mut().zip(sp.chunks()) {
            let (lo, hi) = sp.seen(c);
            super::exp::expf_shifted(ctx.simd(), &mut seg[lo % CH..lo % CH + (hi - lo)], m);
        }
    }
    head_sums(sp, rows)
}

/// The max of `m` and the elements of `seg`: `if x > m { m = x }` for each element.
fn max_into(ctx: &Ctx, seg: &[f32], m: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 and F16C were detected at run time.
        return unsafe { avx2::max_into(seg, m) };
    }
    let _ = ctx;
    max_into_scalar(seg, m)
}

/// The reference for [`max_into`].
pub(crate) fn max_into_scalar(seg: &[f32], mut m: f32) -> f32 {
    for &x in seg {
        if x > m {
            m = x;
        }
    }
    m
}

/// Each head's sequential sum of its softmax numerators (`rows`), four heads' sums
/// interleaved in registers (a group of fewer heads pads with zeros it does not keep).
fn head_sums(sp: &Span<'_>, rows: &[Vec<&mut [f32]>]) -> Vec<f32> {
    const ZEROS: [f32; CH] = [0.0; CH];
    let mut sums = Vec::with_capacity(rows.len());
    for group in rows.chunks(4) {
        let (mut a0, mut a1, mut a2, mut a3) = (0f32, 0f32, 0f32, 0f32);
        for (ci, c) in sp.chunks().enumerate() {
            let (lo, hi) = sp.seen(c);
            let r = lo % CH..lo % CH + (hi - lo);
            let seg = |h: usize| {
                group
                    .get(h)
                    .map_or(&ZEROS[r.clone()], |row| &row[ci][r.clone()])
            };
            let (s0, s1, s2, s3) = (seg(0), seg(1), seg(2), seg(3));
            for (((x0, x1), x2), x3) in s0.iter().zip(s1).zip(s2).zip(s3) {
                a0 += x0;
                a1 += x1;
                a2 += x2;
                a3 += x3;
            }
        }
        sums.extend_from_slice(&[a0, a1, a2, a3][..group.len()]);
    }
    sums
}

/// Output elements `e0..e0 + w` of every query head (`out`: `heads` rows of `w`, with
/// `w = out.len() / heads <= VE`) from the softmax numerators in `s` and their `sums`.
pub(crate) fn values(
    ctx: &Ctx,
    sp: &Span<'_>,
    s: &[f32],
    sums: &[f32],
    e0: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 and F16C were detected at run time.
        unsafe { avx2::values(sp, s, sums, e0, out) };
        return;
    }
    let _ = ctx;
    values_scalar(sp, s, sums, e0, out);
}

/// The reference for [`values`].
pub(crate) fn values_scalar(sp: &Span<'_>, s: &[f32], sums: &[f32], e0: usize, out: &mut [f32]) {
    let w = out.len() / sp.heads;
    for h in 0..sp.heads {
        for i in 0..w {
            let mut acc = 0f32;
            for (ci, c) in sp.chunks().enumerate() {
                let (lo, hi) = sp.seen(c);
                for j in lo..hi {
                    let e = s[ci * sp.heads * CH + h * CH + j % CH];
                    acc += e * f16_to_f32(sp.v[j * sp.kv_dim + sp.off + e0 + i]);
                }
            }
            out[h * w + i] = acc / sums[h];
        }
    }
}

/// Adds chunk `c`'s terms of output elements `e0..e0 + w` of every query head to the
/// running sums `acc` (`heads` rows of `w`, `w = acc.len() / heads <= VE`), in ascending
/// position order; `s` holds the span's softmax numerators.
pub(crate) fn values_chunk(
    ctx: &Ctx,
    sp: &Span<'_>,
    s: &[f32],
    c: usize,
    e0: usize,
    acc: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 and F16C were detected at run time.
        unsafe { avx2::values_chunk(sp, s, c, e0, acc) };
        return;
    }
    let _ = ctx;
    values_chunk_scalar(sp, s, c, e0, acc);
}

/// The reference for [`values_chunk`].
pub(crate) fn values_chunk_scalar(sp: &Span<'_>, s: &[f32], c: usize, e0: usize, acc: &mut [f32]) {
    let w = acc.len() / sp.heads;
    let ci = c - sp.chunks().start;
    let (lo, hi) = sp.seen(c);
    for h in 0..sp.heads {
        for i in 0..w {
            let mut a = acc[h * w + i];
            for j in lo..hi {
                let e = s[ci * sp.heads * CH + h * CH + j % CH];
                a += e * f16_to_f32(sp.v[j * sp.kv_dim + sp.off + e0 + i]);
            }
            acc[h * w + i] = a;
        }
    }
}

#[cfg(test)]
mod tests;
