//! NEON kernels for the K-quants (Q4_K, Q5_K, Q6_K): eight output rows per step, one f32
//! lane per row in two `float32x4_t` (rows 0..4 and 4..8), the scalar sequence of
//! `kernels::kquant` per lane.
//!
//! Per super-block the eight rows' f16 factors are converted (`fcvtl`, exact) and their
//! sub-block scales unpacked to i32 lanes once; per 32-value sub-block the rows' values are
//! unpacked once into two `int8x16_t` per row (values 0..16 and 16..32, the halves of the
//! activation block) and every token takes the exact integer sums (Q4_K/Q5_K values 0..31
//! through the Q4/Q5 kernel's `isum`; Q6_K's signed −32..31 with its two 16-value halves
//! summed apart), the integer scale products (`mul`, exact: every product is below 2^24) and
//! the f32 update of the scalar code (`fmul`, then `fadd`/`fsub`, never fused).
// The kernel body and its helpers must be inlined into the `dotprod` entry point (`sdot` is
// inline assembly that only assembles there), as in `neon.rs`.
#![allow(clippy::inline_always)]

use std::arch::aarch64::{
    float32x4_t, int8x16_t, int32x4_t, uint8x16_t, vaddq_f32, vaddq_s32, vandq_u8, vcvt_f32_f16,
    vcvtq_f32_s32, vdupq_n_f32, vdupq_n_s8, vdupq_n_s32, vdupq_n_u8, vget_high_u16, vget_low_s8,
    vget_low_u16, vld1q_f32, vld1q_s8, vld1q_s32, vld1q_u8, vld1q_u16, vmlal_high_s8, vmull_s8,
    vmulq_f32, vmulq_s32, vorrq_u8, vpaddlq_s16, vpaddq_s32, vreinterpret_f16_u16,
    vreinterpretq_s8_u8, vshlq_u8, vshrq_n_u8, vst1q_f32, vsubq_f32, vsubq_s8, vtstq_u8,
};

use super::super::kquant::{QK_K, k4_scale_min};
use super::arm::{self, Block, isum, sdot};
use super::{Acts, Scratch};
use crate::kernels::QK;

/// Q4_K tag.
pub(super) const Q4_K: u8 = 0;
/// Q5_K tag.
pub(super) const Q5_K: u8 = 1;
/// Q6_K tag.
pub(super) const Q6_K: u8 = 2;

/// Bytes per super-block.
const fn block_bytes(t: u8) -> usize {
    match t {
        Q4_K => 144,
        Q5_K => 176,
        _ => 210,
    }
}

/// The eight rows' f16 at byte `off` of their super-blocks (`blk + i * rb + off`) as f32:
/// rows 0..4, then 4..8.
///
/// # Safety
/// `blk + 7 * rb + off + 2` bytes must be readable.
#[inline(always)]
unsafe fn f16x8(blk: *const u8, rb: usize, off: usize) -> [float32x4_t; 2] {
    let mut v = [0u16; 8];
    for (i, x) in v.iter_mut().enumerate() {
        // SAFETY: row `i`'s two bytes at `off` are readable (caller); unaligned read.
        *x = u16::from_le(unsafe { blk.add(i * rb + off).cast::<u16>().read_unaligned() });
    }
    // SAFETY: a load of the eight u16 of `v`, then NEON register arithmetic (part of every
    // aarch64 CPU); `fcvtl` is exact (see `arm::scales`).
    unsafe {
        let x = vld1q_u16(v.as_ptr());
        [
            vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(x))),
            vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(x))),
        ]
    }
}

/// Per-row sub-block scales of one super-block as i32 lanes (rows 0..4, 4..8): for sub-block
/// `j`, `(sc[j], m[j])` for Q4_K/Q5_K, `(s[2j], s[2j + 1])` for Q6_K.
///
/// # Safety
/// `blk + 7 * rb + block_bytes(T)` bytes must be readable.
#[inline(always)]
unsafe fn sub_scales<const T: u8>(blk: *const u8, rb: usize) -> [[[int32x4_t; 2]; 2]; 8] {
    let mut v = [[[0i32; 8]; 2]; 8];
    for r in 0..8 {
        // SAFETY: the 12 (Q4_K/Q5_K) or 16 (Q6_K) scale bytes lie inside row `r`'s
        // super-block (caller).
        let s = unsafe {
            if T == Q6_K {
                std::slice::from_raw_parts(blk.add(r * rb + 192), 16)
            } else {
                std::slice::from_raw_parts(blk.add(r * rb + 4), 12)
            }
        };
        for (j, vj) in v.iter_mut().enumerate() {
            let (x, y) = if T == Q6_K {
                (i32::from(s[2 * j] as i8), i32::from(s[2 * j + 1] as i8))
            } else {
                let (sc, m) = k4_scale_min(s, j);
                (i32::from(sc), i32::from(m))
            };
            vj[0][r] = x;
            vj[1][r] = y;
        }
    }
    // SAFETY: loads of four i32 from arrays of eight, at 0 and 4 (NEON is part of every
    // aarch64 CPU).
    unsafe {
        let mut out = [[[vdupq_n_s32(0); 2]; 2]; 8];
        for (o, vj) in out.iter_mut().zip(&v) {
            for k in 0..2 {
                o[k] = [vld1q_s32(vj[k].as_ptr()), vld1q_s32(vj[k].as_ptr().add(4))];
            }
        }
        out
    }
}

/// The unsigned values (0..15, or 0..31 for Q5_K) of sub-block `j` of the eight rows'
/// Q4_K/Q5_K super-blocks: the low (`j` even) or high nibbles of `qs[32(j / 2)..][..32]`,
/// with bit `j` of `qh[l]` as value `l`'s fifth bit (`cmtst`, then 0x10).
///
/// # Safety
/// `blk + 7 * rb + block_bytes(T)` bytes must be readable.
#[inline(always)]
unsafe fn k4_values<const T: u8>(blk: *const u8, rb: usize, j: usize) -> Block {
    let qs = if T == Q5_K { 48 } else { 16 } + 32 * (j / 2);
    // SAFETY: every load lies inside a row's super-block (caller: `qs + 32` and the 32
    // `qh` bytes at 16 are within `block_bytes(T)`); NEON arithmetic (part of every aarch64
    // CPU).
    unsafe {
        let (mask, five) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x10));
        let bit = vdupq_n_u8(1 << j);
        let nib = |v: uint8x16_t| {
            if j.is_multiple_of(2) {
                vandq_u8(v, mask)
            } else {
                vshrq_n_u8::<4>(v)
            }
        };
        let zero = vreinterpretq_s8_u8(vdupq_n_u8(0));
        let mut w = [(zero, zero); 8];
        for (i, wi) in w.iter_mut().enumerate() {
            let p = blk.add(i * rb);
            let (mut lo, mut hi) = (nib(vld1q_u8(p.add(qs))), nib(vld1q_u8(p.add(qs + 16))));
            if T == Q5_K {
                lo = vorrq_u8(lo, vandq_u8(vtstq_u8(vld1q_u8(p.add(16)), bit), five));
                hi = vorrq_u8(hi, vandq_u8(vtstq_u8(vld1q_u8(p.add(32)), bit), five));
            }
            *wi = (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi));
        }
        w
    }
}

/// The signed values (−32..31) of sub-block `j` of the eight rows' Q6_K super-blocks: with
/// `n = j / 4`, `g = j mod 4`, the low (`g < 2`) or high nibbles of `ql[64n + 32(g mod 2)..]`
/// and bits `2g, 2g + 1` of `qh[32n..]` moved to bits 4, 5 (one `ushl` by `4 − 2g`, left or
/// right), minus 32.
///
/// # Safety
/// `blk + 7 * rb + 210` bytes must be readable.
#[inline(always)]
unsafe fn q6_values(blk: *const u8, rb: usize, j: usize) -> Block {
    let (n, g) = (j / 4, j % 4);
    let (lq, hq) = (64 * n + 32 * (g % 2), 128 + 32 * n);
    // SAFETY: `ql` and `qh` runs lie inside each row's super-block (caller); NEON
    // arithmetic (part of every aarch64 CPU).
    unsafe {
        let (mask, top) = (vdupq_n_u8(0x0F), vdupq_n_u8(0x30));
        let shift = vdupq_n_s8(4 - 2 * g as i8);
        let k32 = vdupq_n_s8(32);
        let val = |l: uint8x16_t, h: uint8x16_t| {
            let nib = if g < 2 {
                vandq_u8(l, mask)
            } else {
                vshrq_n_u8::<4>(l)
            };
            let v = vorrq_u8(nib, vandq_u8(vshlq_u8(h, shift), top));
            vsubq_s8(vreinterpretq_s8_u8(v), k32)
        };
        let zero = vdupq_n_s8(0);
        let mut w = [(zero, zero); 8];
        for (i, wi) in w.iter_mut().enumerate() {
            let p = blk.add(i * rb);
            *wi = (
                val(vld1q_u8(p.add(lq)), vld1q_u8(p.add(hq))),
                val(vld1q_u8(p.add(lq + 16)), vld1q_u8(p.add(hq + 16))),
            );
        }
        w
    }
}

/// One 16-value dot product of signed weights (|q| ≤ 32) as four i32 partials: `sdot`, or
/// `smull`/`smlal2` (16-bit lanes hold two products, ≤ 2 · 32 · 127 = 8128) and `saddlp`.
///
/// # Safety
/// With `DOT`, as [`sdot`].
#[inline(always)]
unsafe fn dot16<const DOT: bool>(w: int8x16_t, a: int8x16_t) -> int32x4_t {
    // SAFETY: NEON register arithmetic; `sdot` only with `DOT` (caller).
    unsafe {
        if DOT {
            sdot(vdupq_n_s32(0), w, a)
        } else {
            vpaddlq_s16(vmlal_high_s8(
                vmull_s8(vget_low_s8(w), vget_low_s8(a)),
                w,
                a,
            ))
        }
    }
}

/// The eight rows' sums of four-lane partials in lane order (rows 0..4, then 4..8).
#[inline(always)]
fn rows_of(s: &[int32x4_t; 8]) -> [int32x4_t; 2] {
    // SAFETY: NEON register arithmetic (part of every aarch64 CPU).
    unsafe {
        [
            vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3])),
            vpaddq_s32(vpaddq_s32(s[4], s[5]), vpaddq_s32(s[6], s[7])),
        ]
    }
}

/// Q6_K's exact `s0 · Σ_{i<16} q·a + s1 · Σ_{i≥16} q·a` for the eight rows (every term
/// below 2^24, so nothing wraps).
///
/// # Safety
/// With `DOT`, as [`sdot`].
#[inline(always)]
unsafe fn q6_isum<const DOT: bool>(
    w: &Block,
    alo: int8x16_t,
    ahi: int8x16_t,
    s0: &[int32x4_t; 2],
    s1: &[int32x4_t; 2],
) -> [int32x4_t; 2] {
    // SAFETY: NEON register arithmetic; `sdot` only with `DOT` (caller).
    unsafe {
        let zero = vdupq_n_s32(0);
        let (mut lo, mut hi) = ([zero; 8], [zero; 8]);
        for (i, &(wl, wh)) in w.iter().enumerate() {
            lo[i] = dot16::<DOT>(wl, alo);
            hi[i] = dot16::<DOT>(wh, ahi);
        }
        let (lo, hi) = (rows_of(&lo), rows_of(&hi));
        [0, 1].map(|h| vaddq_s32(vmulq_s32(s0[h], lo[h]), vmulq_s32(s1[h], hi[h])))
    }
}

/// Eight rows (`grp`) of type `T` for every token of `a` into `outs[t][col..col + 8]`, per
/// activation block in ascending order: `acc + (d · d_a) · isum` (then for Q4_K/Q5_K
/// `acc − (dmin · d_a) · (m · Σa)`) per lane.
///
/// # Safety
/// `grp` holds eight rows of `cols / 256` super-blocks of type `T`; `a` has `cols`-wide
/// rows; `outs` has one slice per token, each `col + 8` long; with `DOT`, as [`sdot`].
#[inline(always)]
unsafe fn body<const T: u8, const DOT: bool>(
    grp: &[u8],
    cols: usize,
    a: &Acts<'_>,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    let n = a.n();
    let nb = cols / QK;
    let bs = block_bytes(T);
    let rb = cols / QK_K * bs;
    let base = grp.as_ptr();
    let qa = a.q.as_ptr();
    scratch.acc.clear();
    scratch.acc.resize(n * 8, 0.0);
    let accp = scratch.acc.as_mut_ptr();
    for s in 0..cols / QK_K {
        // SAFETY: super-block `s` of the eight rows lies inside `grp`, every token's
        // activation blocks inside `a` (caller), and `scratch.acc` holds `8 * n` f32.
        unsafe {
            let blk = base.add(s * bs);
            let (d, dmin) = if T == Q6_K {
                let d = f16x8(blk, rb, 208);
                (d, d)
            } else {
                (f16x8(blk, rb, 0), f16x8(blk, rb, 2))
            };
            let sub = sub_scales::<T>(blk, rb);
            for (j, [s0, s1]) in sub.iter().enumerate() {
                let w = if T == Q6_K {
                    q6_values(blk, rb, j)
                } else {
                    k4_values::<T>(blk, rb, j)
                };
                for t in 0..n {
                    let ab = t * nb + 8 * s + j;
                    let ap = qa.add(ab * QK);
                    let (alo, ahi) = (vld1q_s8(ap), vld1q_s8(ap.add(16)));
                    let da = vdupq_n_f32(a.d[ab]);
                    let p = accp.add(t * 8);
                    if T == Q6_K {
                        let isum = q6_isum::<DOT>(&w, alo, ahi, s0, s1);
                        for h in 0..2 {
                            let v = vld1q_f32(p.add(4 * h));
                            let term = vmulq_f32(vmulq_f32(d[h], da), vcvtq_f32_s32(isum[h]));
                            vst1q_f32(p.add(4 * h), vaddq_f32(v, term));
                        }
                    } else {
                        // Values 0..31, as Q5_1's.
                        let (x, y) = isum::<{ arm::Q5_1 }, DOT>(&w, alo, ahi);
                        let sa = vdupq_n_s32(a.s[ab]);
                        for (h, sums) in [x, y].into_iter().enumerate() {
                            let isum = vmulq_s32(s0[h], sums);
                            let msum = vmulq_s32(s1[h], sa);
                            let v = vld1q_f32(p.add(4 * h));
                            let v =
                                vaddq_f32(v, vmulq_f32(vmulq_f32(d[h], da), vcvtq_f32_s32(isum)));
                            let v = vsubq_f32(
                                v,
                                vmulq_f32(vmulq_f32(dmin[h], da), vcvtq_f32_s32(msum)),
                            );
                            vst1q_f32(p.add(4 * h), v);
                        }
                    }
                }
            }
        }
    }
    for (o, acc) in outs.iter_mut().zip(scratch.acc.chunks_exact(8)) {
        o[col..col + 8].copy_from_slice(acc);
    }
}

/// The kernel with widening multiplies (baseline NEON).
///
/// # Safety
/// As [`body`].
unsafe fn rows8_neon<const T: u8>(
    grp: &[u8],
    cols: usize,
    a: &Acts<'_>,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    // SAFETY: forwarded from the caller; no `sdot`.
    unsafe { body::<T, false>(grp, cols, a, outs, col, scratch) }
}

/// The kernel with `sdot`.
///
/// # Safety
/// As [`body`]; the CPU must have the dot-product extension.
#[target_feature(enable = "dotprod")]
unsafe fn rows8_dot<const T: u8>(
    grp: &[u8],
    cols: usize,
    a: &Acts<'_>,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    // SAFETY: forwarded from the caller, who checked the extension; `body` and its helpers
    // are inlined here, inside the `dotprod` function.
    unsafe { body::<T, true>(grp, cols, a, outs, col, scratch) }
}

/// Eight rows of K-quant type `T`, with `sdot` when `dot` is set.
///
/// # Safety
/// As [`body`]; with `dot`, the CPU must have the dot-product extension.
pub(super) unsafe fn rows8<const T: u8>(
    dot: bool,
    grp: &[u8],
    cols: usize,
    a: &Acts<'_>,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if dot {
            rows8_dot::<T>(grp, cols, a, outs, col, scratch);
        } else {
            rows8_neon::<T>(grp, cols, a, outs, col, scratch);
        }
    }
}
