//! Matrix-vector kernels with one fixed reduction order per output element.
//!
//! Activations are quantized per block of 32 to i8 (`d = amax / 127`, `q = round_ties_even(x / d)`
//! clamped to ±127, `d = 0` gives zeros). For a quantized weight row the integer dot product of
//! each block is exact; blocks are then accumulated in ascending order in f32 as
//! `acc = acc + (d_w * d_a) * isum` (Q4_1 also `acc = acc + (m_w * d_a) * sum(q_a)`), each
//! operation rounded on its own (never fused). The SIMD kernels vectorise across output rows
//! (AVX2 and NEON: eight, AVX-512: sixteen) and run exactly that sequence per lane, so they
//! are bit-identical to the scalar code.
//! Q5_0, Q5_1 and the K-quants (Q4_K, Q5_K, Q6_K) meet the same per-32 activation blocks; their
//! exact integer sums and f32 update sequences are defined in `kquant` (scalar) and run per
//! lane by the AVX2 kernels (`avx2`, `avx2/k.rs`); see [`Kernel::native`] for the others.
//! F32/F16 weights use the f32 activations with a sequential f32 dot product (scalar only).

pub(crate) mod attention;
// The x86 kernels compile to a scalar stand-in elsewhere, which leaves parts unused there.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]
mod avx2;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_imports))]
mod avx512;
pub(crate) mod exp;
mod kquant;
#[cfg(test)]
mod kquant_tests;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code, unused_imports))]
mod neon;
mod scalar;
mod team;
#[cfg(test)]
mod testdata;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use team::Team;

use crate::gguf::GgmlType;

/// Which kernel implementation to run. Every one gives bit-identical results; a kernel
/// this CPU lacks is refused by [`Ctx::new`] rather than silently replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernel {
    /// Portable scalar code only: the reference.
    Scalar,
    /// AVX2 + F16C (x86-64).
    Avx2,
    /// AVX-512 (F, BW) with VNNI integer dot products, plus AVX2 + F16C (x86-64).
    Avx512,
    /// NEON (aarch64), with `sdot` integer dot products when the CPU has them.
    Neon,
    /// The fastest kernel this CPU supports.
    #[default]
    Auto,
}

impl Kernel {
    /// Every choice, for listings and tests.
    pub const ALL: [Kernel; 5] = [
        Kernel::Scalar,
        Kernel::Avx2,
        Kernel::Avx512,
        Kernel::Neon,
        Kernel::Auto,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
            Kernel::Auto => "auto",
        }
    }

    /// Whether this CPU can run the kernel (`Scalar` and `Auto` always can).
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar | Kernel::Auto => true,
            Kernel::Avx2 => avx2::available(),
            Kernel::Avx512 => avx512::available(),
            Kernel::Neon => neon::available(),
        }
    }

    /// Whether this kernel has code of its own for weights of `dtype`. Where it has not, the
    /// matmul runs a named stand-in with the same bits, never silently another kernel:
    /// `Avx512` runs Q5_0, Q5_1 and the K-quants on its AVX2 code (which every AVX-512 CPU it
    /// accepts has), `Neon` runs them on the scalar reference (not written yet). F32/F16
    /// weights are scalar under every kernel.
    pub fn native(self, dtype: GgmlType) -> bool {
        let base = matches!(dtype, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0);
        let extra = matches!(
            dtype,
            GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K
        );
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2 => base || extra,
            Kernel::Avx512 | Kernel::Neon => base,
            Kernel::Auto => self
                .resolve()
                .is_ok_and(|k| k != Kernel::Auto && k.native(dtype)),
        }
    }

    /// The concrete kernel this choice runs on this CPU (`Auto` becomes the fastest one).
    pub fn resolve(self) -> Result<Kernel, CtxError> {
        match self {
            Kernel::Auto => Ok([Kernel::Avx512, Kernel::Avx2, Kernel::Neon]
                .into_iter()
                .find(|k| k.is_supported())
                .unwrap_or(Kernel::Scalar)),
            k if k.is_supported() => Ok(k),
            k => Err(CtxError::KernelUnsupported(k.name())),
        }
    }
}

impl std::str::FromStr for Kernel {
    type Err = CtxError;

    /// Parses a kernel name (`scalar`, `avx2`, …, `auto`).
    fn from_str(s: &str) -> Result<Kernel, CtxError> {
        Kernel::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| CtxError::UnknownKernel(s.to_owned()))
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an execution context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CtxError {
    /// No kernel has this name.
    #[error("unknown kernel {0:?} (expected one of: {names})", names = Kernel::ALL.map(Kernel::name).join(", "))]
    UnknownKernel(String),
    /// The requested kernel needs instructions this CPU does not have.
    #[error("kernel {0} is not supported by this CPU (`auto` picks one that is)")]
    KernelUnsupported(&'static str),
    /// A worker thread could not be started.
    #[error("thread pool: {0}")]
    Threads(#[from] std::io::Error),
    /// More threads than [`MAX_THREADS`] were asked for.
    #[error("{requested} threads requested, at most {MAX_THREADS} are allowed")]
    TooManyThreads {
        /// The count asked for.
        requested: usize,
    },
}

/// The most threads a context runs. Past the machine's cores, threads only wait on each
/// other; far past them, starting and joining them is all a step does.
pub const MAX_THREADS: usize = 256;

/// The most threads worth asking for on this machine: four per core, at most
/// [`MAX_THREADS`]. Front ends refuse counts above it (a typo such as `--threads 1000`
/// would otherwise run for minutes).
pub fn thread_limit() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cores.saturating_mul(4).min(MAX_THREADS)
}

/// Elements per quantization block.
pub const QK: usize = 32;

/// The f16 → f32 table (64K entries), built once.
pub(crate) fn f16_lut() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=u16::MAX).map(crate::f16::f16_to_f32).collect())
}

/// Reads a little-endian f16 at `b[0..2]` as f32.
#[inline]
pub(crate) fn f16_at(lut: &[f32], b: &[u8]) -> f32 {
    lut[u16::from_le_bytes([b[0], b[1]]) as usize]
}

/// Rounds to the nearest integer, ties to even, for |y| <= 2^22 (IEEE addition of
/// 1.5 * 2^23 rounds at the units place). Larger or NaN values are clamped by the caller.
#[inline]
fn round_even(y: f32) -> f32 {
    const M: f32 = 12_582_912.0;
    if y.abs() < 4_194_304.0 {
        (y + M) - M
    } else {
        y
    }
}

/// Activations of `n` tokens, `cols` wide, in f32 and block-quantized to i8.
#[derive(Debug)]
pub struct Acts<'a> {
    /// The f32 values, token-major.
    pub x: &'a [f32],
    /// Row width.
    pub cols: usize,
    /// Quantized values, token-major.
    pub q: Vec<i8>,
    /// One scale per block.
    pub d: Vec<f32>,
    /// Sum of the quantized values of each block.
    pub s: Vec<i32>,
}

/// One token's quantized values, block scales and block sums.
type QuantRow<'a> = (&'a mut [i8], &'a mut [f32], &'a mut [i32]);

/// Quantizes one run of whole blocks: `x` into `q`, one scale in `d` and one sum in `s` per
/// block of 32.
fn quantize_blocks(x: &[f32], q: &mut [i8], d: &mut [f32], s: &mut [i32]) {
    for (b, blk) in x.chunks_exact(QK).enumerate() {
        let mut amax = 0f32;
        for &v in blk {
            let a = v.abs();
            if a > amax {
                amax = a;
            }
        }
        let db = amax / 127.0;
        d[b] = db;
        if db == 0.0 {
            continue;
        }
        let mut sum = 0i32;
        for (i, &v) in blk.iter().enumerate() {
            let r = round_even(v / db).clamp(-127.0, 127.0) as i8;
            q[b * QK + i] = r;
            sum += i32::from(r);
        }
        s[b] = sum;
    }
}

impl<'a> Acts<'a> {
    /// Quantizes `x` (`n * cols` values, `cols` a multiple of 32 for quantized weights).
    pub fn new(x: &'a [f32], cols: usize) -> Acts<'a> {
        let nb = x.len() / QK;
        let mut q = vec![0i8; nb * QK];
        let mut d = vec![0f32; nb];
        let mut s = vec![0i32; nb];
        quantize_blocks(&x[..nb * QK], &mut q, &mut d, &mut s);
        Acts { x, cols, q, d, s }
    }

    /// [`Acts::new`] with the tokens spread over `ctx`'s team (same values: every block is
    /// quantized on its own).
    pub fn new_in(ctx: &Ctx, x: &'a [f32], cols: usize) -> Acts<'a> {
        let n = x.len() / cols.max(1);
        if ctx.threads() == 1 || n < 2 || !cols.is_multiple_of(QK) || n * cols != x.len() {
            return Acts::new(x, cols);
        }
        let nb = cols / QK;
        let mut q = vec![0i8; n * cols];
        let mut d = vec![0f32; n * nb];
        let mut s = vec![0i32; n * nb];
        {
            let rows: Vec<Mutex<QuantRow<'_>>> = q
                .chunks_mut(cols)
                .zip(d.chunks_mut(nb))
                .zip(s.chunks_mut(nb))
                .map(|((q, d), s)| Mutex::new((q, d, s)))
                .collect();
            ctx.parallel(n, |t| {
                let mut row = rows[t].lock().unwrap_or_else(PoisonError::into_inner);
                let (q, d, s) = &mut *row;
                quantize_blocks(&x[t * cols..(t + 1) * cols], q, d, s);
            });
        }
        Acts { x, cols, q, d, s }
    }

    /// Number of tokens.
    pub fn n(&self) -> usize {
        self.x.len() / self.cols
    }
}

/// A weight matrix view: `rows` rows of `cols` elements in `dtype`.
#[derive(Debug, Clone, Copy)]
pub struct WeightView<'a> {
    /// Element type.
    pub dtype: GgmlType,
    /// Output rows.
    pub rows: usize,
    /// Row length.
    pub cols: usize,
    /// Raw row-major data.
    pub data: &'a [u8],
}

impl WeightView<'_> {
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        match self.dtype {
            GgmlType::F32 => self.cols * 4,
            GgmlType::F16 => self.cols * 2,
            GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => {
                self.cols / kquant::QK_K * kquant::block_bytes(self.dtype)
            }
            t => self.cols / QK * kquant::block_bytes(t),
        }
    }
}

/// Whether the matmul kernels run quantized weights of `dtype` with rows of `cols` values:
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (rows a multiple of 32) and Q4_K, Q5_K, Q6_K (of 256).
pub fn runs_quantized(dtype: GgmlType, cols: usize) -> bool {
    match dtype {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0 => {
            cols.is_multiple_of(QK)
        }
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => cols.is_multiple_of(kquant::QK_K),
        _ => false,
    }
}

/// Whether the AVX2 kernels can run on this CPU.
#[cfg(test)]
pub(crate) fn avx2_available() -> bool {
    avx2::available()
}

/// Execution context: kernel choice and a persistent thread team.
#[derive(Debug)]
pub struct Ctx {
    kernel: Kernel,
    team: Team,
}

impl Ctx {
    /// A context running `threads` threads (0 or 1: the calling thread only) with `kernel`
    /// (refused when this CPU lacks it; `Auto` picks the fastest supported one).
    /// More than [`MAX_THREADS`] threads are refused.
    pub fn new(threads: usize, kernel: Kernel) -> Result<Ctx, CtxError> {
        if threads > MAX_THREADS {
            return Err(CtxError::TooManyThreads { requested: threads });
        }
        Ok(Ctx {
            kernel: kernel.resolve()?,
            team: Team::new(threads)?,
        })
    }

    /// The concrete kernel this context runs (never `Auto`).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Whether the AVX2 paths of attention and `expf` run (same bits as the scalar ones).
    pub(crate) fn simd(&self) -> bool {
        matches!(self.kernel, Kernel::Avx2 | Kernel::Avx512)
    }

    /// Matmul rows per kernel step: chunks handed to threads are a multiple of it.
    fn row_group(&self) -> usize {
        match self.kernel {
            Kernel::Avx512 => 16,
            Kernel::Avx2 | Kernel::Neon | Kernel::Scalar | Kernel::Auto => 8,
        }
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.team.size()
    }

    /// Calls `f(i)` once for every `i` in `0..items`, spread over the team (each member
    /// claims the next unclaimed item). `f` must only write outputs owned by item `i`.
    pub(crate) fn parallel(&self, items: usize, f: impl Fn(usize) + Sync) {
        if self.team.size() == 1 || items <= 1 {
            (0..items).for_each(f);
            return;
        }
        let next = AtomicUsize::new(0);
        self.team.run(&|| {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items {
                    break;
                }
                f(i);
            }
        });
    }
}

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
    // The types every SIMD module has a kernel of its own for.
    let quantized = matches!(w.dtype, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0);
    #[cfg(target_arch = "x86_64")]
    if quantized && kernel == Kernel::Avx512 {
        let mut scratch = avx512::Scratch::default();
        while r + 16 <= nrows {
            avx512::rows16(w, a, r0 + r, outs, r, &mut scratch);
            r += 16;
        }
    }
    // Q5_0, Q5_1 and the K-quants run on the AVX2 kernel under `Avx512` too, and on the
    // scalar code under `Neon` ([`Kernel::native`]).
    #[cfg(target_arch = "x86_64")]
    if runs_quantized(w.dtype, w.cols) && matches!(kernel, Kernel::Avx2 | Kernel::Avx512) {
        let mut scratch = avx2::Scratch::default();
        while r + 8 <= nrows {
            avx2::rows8(w, a, r0 + r, outs, r, &mut scratch);
            r += 8;
        }
    }
    #[cfg(target_arch = "aarch64")]
    if quantized && kernel == Kernel::Neon {
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
    let threads = ctx.threads();
    let kernel = ctx.kernel;
    let group = ctx.row_group();
    let total: usize = jobs.iter().map(|j| j.w.rows).sum();
    let per = total.div_ceil(threads * 4).div_ceil(group).max(1) * group;
    let mut chunks: Vec<RowChunk<'_>> = Vec::new();
    let mut views = Vec::with_capacity(jobs.len());
    for (j, job) in jobs.iter_mut().enumerate() {
        let a = job.a;
        let rows = job.w.rows;
        views.push((job.w, a));
        if a.n() == 1 {
            // One token (decode): each chunk's output is one slice, no list to allocate.
            for (c, out) in job.out[..rows].chunks_mut(per).enumerate() {
                chunks.push(RowChunk {
                    job: j,
                    r0: c * per,
                    outs: Mutex::new(Outs::One(out)),
                });
            }
            continue;
        }
        let first = chunks.len();
        for r0 in (0..rows).step_by(per) {
            chunks.push(RowChunk {
                job: j,
                r0,
                outs: Mutex::new(Outs::Tokens(Vec::with_capacity(a.n()))),
            });
        }
        for token_out in job.out.chunks_mut(rows).take(a.n()) {
            for (c, slice) in token_out.chunks_mut(per).enumerate() {
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

/// Dequantizes row `r` of `w` into `out` (`cols` values).
pub fn dequant_row(w: &WeightView<'_>, r: usize, out: &mut [f32]) {
    scalar::dequant_row(w, r, out);
}
