//! Attention of a batch's query rows over their sequences' caches, spread over the team.
//!
//! With enough (token, key/value head) pairs to go round, each pair is one item running
//! every step of [`attention::attend`]. A step with fewer (decode: one token, a handful of
//! key/value heads) runs the steps one after another, each spread over the team: scores by
//! (key/value head, chunk of positions), the softmax by query head, the value sums by
//! (key/value head, range of output elements). No reduction is split, so both ways give
//! the same bits.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::Model;
use crate::kernels::Ctx;
use crate::kernels::attention::{self, CH, Span, VE};

/// One query head's score rows (chunk by chunk) and, once its softmax ran, their sum.
type HeadRows<'a> = (Vec<&'a mut [f32]>, f32);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Attention of every query row (`rows[t]` = (sequence, position)) over its sequence's
/// cache (`caches[sequence]` = keys, values). With a `window`, a query at position `p` sees
/// only positions `p - window < j <= p`.
pub(super) fn attend_all(
    model: &Model,
    ctx: &Ctx,
    rows: &[(usize, usize)],
    q: &[f32],
    caches: &[(&[u16], &[u16])],
    window: Option<usize>,
) -> Vec<f32> {
    let cfg = model.config();
    let (d, hd, nkv) = (cfg.q_dim(), cfg.head_dim, cfg.n_head_kv);
    let group = cfg.n_head / nkv;
    let span = |t: usize, g: usize| {
        let (si, pos) = rows[t];
        let (k, v) = caches[si];
        Span {
            k,
            v,
            kv_dim: nkv * hd,
            off: g * hd,
            hd,
            heads: group,
            start: window.map_or(0, |w| (pos + 1).saturating_sub(w)),
            pos,
        }
    };
    let n = rows.len();
    let mut att = vec![0f32; n * d];
    if ctx.threads() > 1 && n * nkv < 2 * ctx.threads() {
        for (t, out) in att.chunks_exact_mut(d).enumerate() {
            let spans: Vec<Span<'_>> = (0..nkv).map(|g| span(t, g)).collect();
            attend_split(ctx, &spans, &q[t * d..(t + 1) * d], out);
        }
        return att;
    }
    // Tiles of up to `TQ` consecutive rows of one sequence (prefill), each read of the cache
    // shared by the tile's tokens, while that still gives every thread two items.
    let mut tiles: Vec<(usize, usize)> = Vec::new();
    for t in 0..n {
        match tiles.last_mut() {
            Some((t0, len)) if *len < TQ && rows[*t0].0 == rows[t].0 => *len += 1,
            _ => tiles.push((t, 1)),
        }
    }
    if tiles.len() * nkv < 2 * ctx.threads() {
        tiles = (0..n).map(|t| (t, 1)).collect();
    }
    let nt = tiles.len();
    let outs: Vec<Mutex<&mut [f32]>> = att.chunks_mut(group * hd).map(Mutex::new).collect();
    let qs = |t: usize, g: usize| &q[t * d + g * group * hd..t * d + (g + 1) * group * hd];
    // Key/value head by key/value head, so consecutive items read the same part of a cache.
    ctx.parallel(nkv * nt, |i| {
        let (g, (t0, len)) = (i / nt, tiles[i % nt]);
        if len == 1 {
            attention::attend(ctx, &span(t0, g), qs(t0, g), &mut lock(&outs[t0 * nkv + g]));
            return;
        }
        let spans: Vec<Span<'_>> = (t0..t0 + len).map(|t| span(t, g)).collect();
        let q: Vec<&[f32]> = (t0..t0 + len).map(|t| qs(t, g)).collect();
        let mut guards: Vec<MutexGuard<'_, &mut [f32]>> =
            (t0..t0 + len).map(|t| lock(&outs[t * nkv + g])).collect();
        let mut o: Vec<&mut [f32]> = guards.iter_mut().map(|m| &mut ***m).collect();
        attention::attend_tile(ctx, &spans, &q, &mut o);
    });
    drop(outs);
    att
}

/// Query tokens per tile in a prefill step's attention.
const TQ: usize = 4;

/// One query row's attention (`spans`: one per key/value head, `q` and `out`: all query
/// heads), each step spread over the team.
fn attend_split(ctx: &Ctx, spans: &[Span<'_>], q: &[f32], out: &mut [f32]) {
    let (heads, hd) = (spans[0].heads, spans[0].hd);
    let chunks = spans[0].chunks();
    let nch = chunks.len();
    let per = spans[0].scores_len();
    let mut s = vec![0f32; spans.len() * per];
    {
        let parts: Vec<Mutex<&mut [f32]>> = s.chunks_mut(heads * CH).map(Mutex::new).collect();
        ctx.parallel(parts.len(), |i| {
            let (g, ci) = (i / nch, i % nch);
            let qs = &q[g * heads * hd..(g + 1) * heads * hd];
            attention::scores(ctx, &spans[g], qs, chunks.start + ci, &mut lock(&parts[i]));
        });
    }
    // Each query head's rows, chunk by chunk (item `g * heads + h`), and its sum.
    let mut rows: Vec<HeadRows<'_>> = (0..spans.len() * heads)
        .map(|_| (Vec::with_capacity(nch), 0.0))
        .collect();
    for (i, row) in s.chunks_mut(CH).enumerate() {
        let (g, h) = (i / (nch * heads), i % heads);
        rows[g * heads + h].0.push(row);
    }
    let rows: Vec<Mutex<HeadRows<'_>>> = rows.into_iter().map(Mutex::new).collect();
    ctx.parallel(rows.len(), |i| {
        let mut r = lock(&rows[i]);
        let r = &mut *r;
        let sums = attention::softmax(ctx, &spans[i / heads], std::slice::from_mut(&mut r.0));
        r.1 = sums[0];
    });
    let sums: Vec<f32> = rows
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner).1)
        .collect();
    let ranges = hd.div_ceil(VE);
    let mut vals = vec![0f32; spans.len() * ranges * heads * VE];
    {
        let parts: Vec<Mutex<&mut [f32]>> = vals.chunks_mut(heads * VE).map(Mutex::new).collect();
        ctx.parallel(parts.len(), |i| {
            let (g, r) = (i / ranges, i % ranges);
            let w = VE.min(hd - r * VE);
            let sums = &sums[g * heads..(g + 1) * heads];
            let sg = &s[g * per..(g + 1) * per];
            attention::values(
                ctx,
                &spans[g],
                sg,
                sums,
                r * VE,
                &mut lock(&parts[i])[..heads * w],
            );
        });
    }
    for (i, part) in vals.chunks_exact(heads * VE).enumerate() {
        let (g, r) = (i / ranges, i % ranges);
        let w = VE.min(hd - r * VE);
        for h in 0..heads {
            let o = (g * heads + h) * hd + r * VE;
            out[o..o + w].copy_from_slice(&part[h * w..(h + 1) * w]);
        }
    }
}
