//! Attention over one sequence's cache: scores, softmax and the weighted value sum, each
//! element its own sequential reduction in ascending position order.
#![allow(unsafe_code)]

use super::Ctx;

/// Positions per block of the key cache.
pub(crate) const KB: usize = 8;

/// Key blocks scored per pass (independent accumulator chains).
const G: usize = 4;

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

/// Attention of one query head over positions `0..=pos` of one layer's cache (`k` in
/// blocks, see [`push_key`]; `v` position-major), the head's slice at `off` of `kv_dim`.
#[allow(clippy::too_many_arguments)] // one head's slices and geometry
pub(crate) fn attend(
    ctx: &Ctx,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos: usize,
    kv_dim: usize,
    off: usize,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if ctx.simd() {
        // SAFETY: `ctx.simd()` is true only when AVX2 was detected at run time.
        unsafe { attend_avx2(q, k, v, pos, kv_dim, off, out) };
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ctx;
    attend_body(false, q, k, v, pos, kv_dim, off, out);
}

/// The same code compiled with AVX2 enabled (the compiler vectorises the position lanes and
/// the value accumulation; it never fuses a multiply and an add).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn attend_avx2(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos: usize,
    kv_dim: usize,
    off: usize,
    out: &mut [f32],
) {
    attend_body(true, q, k, v, pos, kv_dim, off, out);
}

// Always inlined so the AVX2 wrapper compiles the body with its target features.
#[allow(clippy::inline_always)]
#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
#[inline(always)]
fn attend_body(
    simd: bool,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    pos: usize,
    kv_dim: usize,
    off: usize,
    out: &mut [f32],
) {
    let hd = q.len();
    let scale = 1.0 / libm::sqrtf(hd as f32);
    let mut scores = Vec::with_capacity(pos + 1);
    let mut max = f32::NEG_INFINITY;
    // Lanes are positions: each score is still its own sequential sum over `d`, so
    // vectorising changes no operation order.
    let nblk = pos / KB + 1;
    let mut b0 = 0;
    while b0 < nblk {
        let g = (nblk - b0).min(G);
        let mut acc = [[0f32; KB]; G];
        let kbs: [&[f32]; G] = std::array::from_fn(|i| {
            let b = b0 + i.min(g - 1);
            &k[b * KB * kv_dim + off * KB..b * KB * kv_dim + (off + hd) * KB]
        });
        for (d, &qd) in q.iter().enumerate() {
            for (acc, kb) in acc.iter_mut().zip(&kbs) {
                let kd = &kb[d * KB..(d + 1) * KB];
                for l in 0..KB {
                    acc[l] += qd * kd[l];
                }
            }
        }
        for (i, acc) in acc.iter().enumerate().take(g) {
            let m = (pos + 1 - (b0 + i) * KB).min(KB);
            for &a in &acc[..m] {
                let s = a * scale;
                if s > max {
                    max = s;
                }
                scores.push(s);
            }
        }
        b0 += g;
    }
    for s in &mut scores {
        *s -= max;
    }
    super::exp::expf_slice(simd, &mut scores);
    let mut sum = 0f32;
    for &e in &scores {
        sum += e;
    }
    out.fill(0.0);
    for (j, &e) in scores.iter().enumerate() {
        let p = e / sum;
        let vj = &v[j * kv_dim + off..j * kv_dim + off + hd];
        for (o, &x) in out.iter_mut().zip(vj) {
            *o += p * x;
        }
    }
}
