//! Matrix times activations: rows cut into chunks the team shares, each chunk computed in
//! place by the widest kernel that has code for the weight type, then row by row by the
//! scalar reference (same bits either way).

use std::sync::{Mutex, PoisonError};

#[cfg(target_arch = "aarch64")]
use super::neon;
use super::{Acts, Ctx, Kernel, WeightView, scalar};
#[cfg(target_arch = "x86_64")]
use super::{avx2, avx512, runs_quantized};

/// Computes rows `r0..r0 + outs[t].len()` for every token `t` into `outs[t]`: groups of 16
/// rows (AVX-512), then of 8 (AVX2 or NEON), then single rows (scalar), all with the same
/// per-row arithmetic. (A SIMD kernel is only chosen where [`Kernel::resolve`] found it, so
/// each kernel's dispatch exists only on its own architecture.)
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_mut, unused_variables)
)]
fn rows_into(kernel: Kernel, w: &WeightView<'_>, a: &Acts<'_>, r0: usize, outs: &mut [&mut [f32]]) {
    let nrows = outs.first().map_or(0, |o| o.len());
    let mut r = 0;
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx512
        && runs_quantized(w.dtype, w.cols)
        && !(a.n() == 1 && avx512::narrow_decode())
    {
        let mut scratch = avx512::Scratch::new(w, a);
        while r + 16 <= nrows {
            avx512::rows16(w, a, r0 + r, outs, r, &mut scratch);
            r += 16;
        }
    }
    // The rows left after the groups of 16 take AVX2's groups of 8, and so do single tokens
    // where those are faster ([`avx512::narrow_decode`]).
    #[cfg(target_arch = "x86_64")]
    if runs_quantized(w.dtype, w.cols) && matches!(kernel, Kernel::Avx2 | Kernel::Avx512) {
        let mut scratch = avx2::Scratch::default();
        while r + 8 <= nrows {
            avx2::rows8(w, a, r0 + r, outs, r, &mut scratch);
            r += 8;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if kernel == Kernel::Neon && kernel.native(w.dtype) && super::runs_quantized(w.dtype, w.cols) {
        let mut scratch = neon::Scratch::default();
        while r + 8 <= nrows {
            neon::rows8(w, a, r0 + r, outs, r, &mut scratch);
            r += 8;
        }
    }
    for (t, out) in outs.iter_mut().enumerate() {
        for (rr, o) in out.iter_mut().enumerate().skip(r) {
            *o = scalar::dot_row(w, a, r0 + rr, t);
        }
    }
}

/// One matrix-times-activations product of a fused step (see [`matmul_many`]).
#[derive(Debug)]
pub struct MatJob<'a, 'b> {
    /// The weights.
    pub w: WeightView<'a>,
    /// The activations.
    pub a: &'b Acts<'b>,
    /// `out[t * w.rows + r]`.
    pub out: &'b mut [f32],
}

/// `out[t * rows + r] = dot(w[r], x[t])` for every token `t` and row `r`.
pub fn matmul(ctx: &Ctx, w: &WeightView<'_>, a: &Acts<'_>, out: &mut [f32]) {
    matmul_many(ctx, &mut [MatJob { w: *w, a, out }]);
}

/// A chunk of one product's rows, owning its slice of every token's output row
/// (`out[t * w.rows + r0..][..rows]`): the kernels write results in place, and nothing is
/// left for the caller to copy.
struct RowChunk<'o> {
    job: usize,
    r0: usize,
    outs: Mutex<Outs<'o>>,
}

/// A chunk's output slices: one token's, or one per token.
enum Outs<'o> {
    One(&'o mut [f32]),
    Tokens(Vec<&'o mut [f32]>),
}

/// Several independent products in one parallel step: their rows are cut into chunks (a
/// multiple of the kernel's row group; any split gives the same bits) that the team shares.
pub fn matmul_many(ctx: &Ctx, jobs: &mut [MatJob<'_, '_>]) {
    let jobs: Vec<TokenJob<'_, '_>> = jobs
        .iter_mut()
        .map(|job| {
            let rows = job.w.rows;
            TokenJob {
                w: job.w,
                a: job.a,
                outs: job.out.chunks_mut(rows.max(1)).take(job.a.n()).collect(),
            }
        })
        .collect();
    run_jobs(ctx, jobs);
}

/// `outs[t][r] = dot(w[r], x[t])`: [`matmul`] with each token's output row a slice of its
/// own (`w.rows` values; a step's logits written straight into each sequence's row).
pub fn matmul_rows(ctx: &Ctx, w: &WeightView<'_>, a: &Acts<'_>, outs: Vec<&mut [f32]>) {
    run_jobs(ctx, vec![TokenJob { w: *w, a, outs }]);
}

/// One product with each token's output row (`w.rows` values) a slice of its own.
struct TokenJob<'a, 'b> {
    w: WeightView<'a>,
    a: &'b Acts<'b>,
    outs: Vec<&'b mut [f32]>,
}

/// The products of `jobs` in one parallel step (see [`matmul_many`]).
fn run_jobs(ctx: &Ctx, jobs: Vec<TokenJob<'_, '_>>) {
    let threads = ctx.threads();
    let kernel = ctx.kernel();
    let group = ctx.row_group();
    let total: usize = jobs.iter().map(|j| j.w.rows).sum();
    let per = total.div_ceil(threads * 4).div_ceil(group).max(1) * group;
    let mut chunks: Vec<RowChunk<'_>> = Vec::new();
    let mut views = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.into_iter().enumerate() {
        let TokenJob { w, a, mut outs } = job;
        let rows = w.rows;
        views.push((w, a));
        if outs.len() == 1 {
            // One token (decode): each chunk's output is one slice, no list to allocate.
            if let Some(out) = outs.pop() {
                for (c, out) in out[..rows].chunks_mut(per).enumerate() {
                    chunks.push(RowChunk {
                        job: j,
                        r0: c * per,
                        outs: Mutex::new(Outs::One(out)),
                    });
                }
            }
            continue;
        }
        let first = chunks.len();
        for r0 in (0..rows).step_by(per) {
            chunks.push(RowChunk {
                job: j,
                r0,
                outs: Mutex::new(Outs::Tokens(Vec::with_capacity(outs.len()))),
            });
        }
        for token_out in outs {
            for (c, slice) in token_out[..rows].chunks_mut(per).enumerate() {
                if let Outs::Tokens(v) = chunks[first + c]
                    .outs
                    .get_mut()
                    .unwrap_or_else(PoisonError::into_inner)
                {
                    v.push(slice);
                }
            }
        }
    }
    ctx.parallel(chunks.len(), |i| {
        let chunk = &chunks[i];
        let (w, a) = views[chunk.job];
        let mut outs = chunk.outs.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *outs {
            Outs::One(out) => rows_into(kernel, &w, a, chunk.r0, std::slice::from_mut(out)),
            Outs::Tokens(outs) => rows_into(kernel, &w, a, chunk.r0, outs),
        }
    });
}
