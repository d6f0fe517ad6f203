//! Activations: f32 rows and their per-32 block quantization to i8, the one rule every
//! quantized weight type meets.

use std::sync::{Mutex, PoisonError};

use super::Ctx;

/// Elements per quantization block.
pub const QK: usize = 32;

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
