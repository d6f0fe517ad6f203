//! NEON kernels (aarch64): eight output rows per step, one f32 lane per row in two
//! `float32x4_t` registers (rows 0..4 and 4..8), the same f32 operation sequence as the
//! scalar code: `vmulq_f32` and `vaddq_f32` separately, never `vfmaq_f32`/`vmlaq_f32` (which
//! may be fused on aarch64).
//!
//! Per block, each row's 32 weights are two `int8x16_t` (Q8_0: the quants; Q4: the low and
//! high nibbles, 0..15; Q5: the nibbles with the fifth bits OR-ed in, 0..31) and the activation block is two `int8x16_t` (elements 0..16 and
//! 16..32), so each row's exact integer sum is two 16-byte dot products: `sdot` when the CPU
//! has the dot-product extension (detected at run time), otherwise widening multiplies
//! (`smull`/`smlal2`, then `sadalp` into i32). Two pairwise adds (`addp`) turn the per-row
//! partial vectors into four row sums in lane order. f16 scales are converted with `fcvtl`
//! (exact; it equals the crate's table for every non-NaN input).
//!
//! Weights are read where they lie (the memory-mapped blocks). One token (decode) keeps its
//! accumulators in registers; several tokens (prefill) unpack each block's weights once and
//! reuse them for every token. The K-quants (`neon/k.rs`) use the same integer sums per
//! 32-value sub-block.
#![allow(unsafe_code)]

use super::{Acts, WeightView};
use crate::gguf::GgmlType;

/// Accumulators reused across row groups (eight f32 lanes per token).
#[derive(Debug, Default)]
pub(super) struct Scratch {
    acc: Vec<f32>,
}

/// Whether this CPU runs the NEON kernels (every aarch64 CPU: NEON is part of the base
/// architecture; the dot-product extension is optional and detected separately).
pub(super) fn available() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("neon")
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        false
    }
}

/// Rows `r0..r0+8` for every token `t` into `outs[t][col..col + 8]`, with `sdot` when the CPU has
/// it. Caller checked `available()` and that the type is one `kernels::runs_quantized`
/// accepts (with its row length).
#[cfg(target_arch = "aarch64")]
pub(super) fn rows8(
    w: &WeightView<'_>,
    a: &Acts<'_>,
    r0: usize,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) {
    rows8_with(true, w, a, r0, outs, col, scratch);
}

/// `rows8` with the integer path chosen: `sdot` when `dot` is set and the CPU has the
/// dot-product extension, the widening multiplies otherwise. Returns whether `sdot` ran.
#[cfg(target_arch = "aarch64")]
fn rows8_with(
    dot: bool,
    w: &WeightView<'_>,
    a: &Acts<'_>,
    r0: usize,
    outs: &mut [&mut [f32]],
    col: usize,
    scratch: &mut Scratch,
) -> bool {
    let rb = w.row_bytes();
    let grp = &w.data[r0 * rb..(r0 + 8) * rb];
    let n = a.n();
    assert!(outs.len() == n && outs.iter().all(|o| o.len() >= col + 8));
    assert!(
        a.q.len() >= n * (w.cols / super::QK) * super::QK && a.d.len() >= n * (w.cols / super::QK)
    );
    let dot = dot && std::arch::is_aarch64_feature_detected!("dotprod");
    // SAFETY: `sdot` is only used when the CPU reported the dot-product extension (just
    // above); `grp` holds the eight rows and the assert above bounds every activation and
    // output access the kernels make.
    unsafe {
        match w.dtype {
            GgmlType::Q8_0 => arm::rows8::<{ arm::Q8_0 }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q4_0 => arm::rows8::<{ arm::Q4_0 }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q4_1 => arm::rows8::<{ arm::Q4_1 }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q5_0 => arm::rows8::<{ arm::Q5_0 }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q5_1 => arm::rows8::<{ arm::Q5_1 }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q4_K => k::rows8::<{ k::Q4_K }>(dot, grp, w.cols, a, outs, col, scratch),
            GgmlType::Q5_K => k::rows8::<{ k::Q5_K }>(dot, grp, w.cols, a, outs, col, scratch),
            _ => k::rows8::<{ k::Q6_K }>(dot, grp, w.cols, a, outs, col, scratch),
        }
    }
    dot
}

#[cfg(target_arch = "aarch64")]
// The kernel body and its helpers must be inlined into the `dotprod` entry point: `sdot` is
// inline assembly that only assembles inside a function with that feature.
#[allow(clippy::inline_always)]
mod arm {
    use std::arch::aarch64::{
        float32x4_t, int8x16_t, int32x4_t, vaddq_f32, vandq_u8, vcombine_u8, vcvt_f32_f16,
        vcvtq_f32_s32, vdup_n_u8, vdupq_n_f32, vdupq_n_s32, vdupq_n_u8, vdupq_n_u64, vget_low_s8,
        vld1q_f32, vld1q_s8, vld1q_u8, vld1q_u32, vmlal_high_s8, vmlal_s8, vmovn_u32, vmull_s8,
        vmulq_f32, vorrq_u8, vpadalq_s16, vpaddlq_s16, vpaddq_s32, vreinterpret_f16_u16,
        vreinterpretq_s8_u8, vreinterpretq_u8_u64, vshrn_n_u32, vshrq_n_u8, vst1q_f32, vsubq_s32,
        vtstq_u8,
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

    /// Block size in bytes and offset of the quants.
    const fn layout(t: u8) -> (usize, usize) {
        match t {
            Q8_0 => (34, 2),
            Q4_0 => (18, 2),
            Q4_1 => (20, 4),
            // The quants follow the 4 bytes of high bits.
            Q5_0 => (22, 6),
            _ => (24, 8),
        }
    }

    /// One block of eight rows: for row `i`, the signed weights of elements 0..16 and 16..32
    /// (Q4: the low and the high nibbles, 0..15, without Q4_0's offset of 8; Q5: with the
    /// fifth bits, 0..31, without Q5_0's offset of 16).
    pub(super) type Block = [(int8x16_t, int8x16_t); 8];

    /// `acc + Σ` of the products of the four bytes of each 32-bit lane (`sdot`, exact).
    ///
    /// # Safety
    /// The CPU must have the dot-product extension, and this must be inlined into a
    /// function compiled with `target_feature(enable = "dotprod")`.
    #[inline(always)]
    pub(super) unsafe fn sdot(acc: int32x4_t, w: int8x16_t, a: int8x16_t) -> int32x4_t {
        let mut r = acc;
        // SAFETY: a register-only instruction (no memory, stack or flags); the CPU has it
        // (caller).
        unsafe {
            std::arch::asm!(
                "sdot {r:v}.4s, {w:v}.16b, {a:v}.16b",
                r = inout(vreg) r,
                w = in(vreg) w,
                a = in(vreg) a,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        r
    }

    /// The eight rows' f16 scales of one block as f32, `(d, m)` for rows 0..4 and for rows
    /// 4..8 (the little-endian dword at the block start holds `d` in its low half and, for
    /// Q4_1, `m` in its high half; `m` is unused otherwise).
    ///
    /// # Safety
    /// `blk` plus `7 * rb + 4` bytes must be readable.
    #[inline(always)]
    unsafe fn scales<const T: u8>(blk: *const u8, rb: usize) -> [(float32x4_t, float32x4_t); 2] {
        // SAFETY: the dword at `blk + i * rb` is readable for each row `i` (caller);
        // unaligned reads. The rest is NEON arithmetic on registers (NEON is part of every
        // aarch64 CPU) and a load of four u32 from `v[4 * h..]`.
        unsafe {
            let mut v = [0u32; 8];
            for (i, x) in v.iter_mut().enumerate() {
                *x = u32::from_le(blk.add(i * rb).cast::<u32>().read_unaligned());
            }
            let mut r = [(vdupq_n_f32(0.0), vdupq_n_f32(0.0)); 2];
            for (h, out) in r.iter_mut().enumerate() {
                let x = vld1q_u32(v.as_ptr().add(4 * h));
                // `fcvtl` is exact for every f16 (a signalling NaN comes out quiet, as the
                // first multiplication makes the table's value too).
                out.0 = vcvt_f32_f16(vreinterpret_f16_u16(vmovn_u32(x)));
                if T == Q4_1 || T == Q5_1 {
                    out.1 = vcvt_f32_f16(vreinterpret_f16_u16(vshrn_n_u32::<16>(x)));
                }
            }
            r
        }
    }

    /// One block's weights of the eight rows at `q + i * rb` (see [`Block`]); Q5's 32-bit
    /// high-bit word lies just before `q`: bit `i` of its (little-endian) byte `k` is the
    /// fifth bit of value `8k + i`, so each half-register takes two of its bytes, each
    /// repeated eight times, and `cmtst` against the bits `1, 2, …, 128` picks them out.
    ///
    /// # Safety
    /// `q - 4 (Q5)` to `q + 7 * rb + 16` (Q4, Q5) or `+ 32` (Q8_0) must be readable.
    #[inline(always)]
    unsafe fn weights<const T: u8>(q: *const u8, rb: usize) -> Block {
        // SAFETY: row `i`'s quants are readable at `q + i * rb` (caller); unaligned loads,
        // and NEON register arithmetic (part of every aarch64 CPU).
        unsafe {
            let zero = vreinterpretq_s8_u8(vdupq_n_u8(0));
            let mask = vdupq_n_u8(0x0F);
            let bit = vreinterpretq_u8_u64(vdupq_n_u64(0x8040_2010_0804_0201));
            let mut w = [(zero, zero); 8];
            for (i, wi) in w.iter_mut().enumerate() {
                let p = q.add(i * rb);
                *wi = if T == Q8_0 {
                    (vld1q_s8(p.cast::<i8>()), vld1q_s8(p.add(16).cast::<i8>()))
                } else {
                    let v = vld1q_u8(p);
                    let (mut lo, mut hi) = (vandq_u8(v, mask), vshrq_n_u8::<4>(v));
                    if T == Q5_0 || T == Q5_1 {
                        let h = p.sub(4);
                        let five = |b0: u8, b1: u8| {
                            let v = vcombine_u8(vdup_n_u8(b0), vdup_n_u8(b1));
                            vandq_u8(vtstq_u8(v, bit), vdupq_n_u8(0x10))
                        };
                        lo = vorrq_u8(lo, five(h.read(), h.add(1).read()));
                        hi = vorrq_u8(hi, five(h.add(2).read(), h.add(3).read()));
                    }
                    (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
                };
            }
            w
        }
    }

    /// Exact integer dot products of one block of eight rows with 32 activations (`alo`:
    /// elements 0..16, `ahi`: 16..32), before any offset correction: lane `j` of the first
    /// result is row `j`'s sum, of the second row `4 + j`'s.
    ///
    /// Without `sdot`, 16-bit lanes hold sums of products: Q4 and Q5 four (|q · a| ≤ 31 ·
    /// 127, so ≤ 15748), Q8_0 two (|q · a| ≤ 128 · 127, so ≤ 32512); nothing wraps. Any tag
    /// but `Q8_0` takes weights 0..31.
    ///
    /// # Safety
    /// With `DOT`, as [`sdot`].
    #[inline(always)]
    pub(super) unsafe fn isum<const T: u8, const DOT: bool>(
        w: &Block,
        alo: int8x16_t,
        ahi: int8x16_t,
    ) -> (int32x4_t, int32x4_t) {
        // SAFETY: NEON register arithmetic (part of every aarch64 CPU); `sdot` only with
        // `DOT`, when the caller guarantees the dot-product extension.
        unsafe {
            let mut s = [vdupq_n_s32(0); 8];
            for (si, &(lo, hi)) in s.iter_mut().zip(w) {
                *si = if DOT {
                    sdot(sdot(vdupq_n_s32(0), lo, alo), hi, ahi)
                } else if T == Q8_0 {
                    let p0 = vmlal_high_s8(vmull_s8(vget_low_s8(lo), vget_low_s8(alo)), lo, alo);
                    let p1 = vmlal_high_s8(vmull_s8(vget_low_s8(hi), vget_low_s8(ahi)), hi, ahi);
                    vpadalq_s16(vpaddlq_s16(p0), p1)
                } else {
                    let p = vmull_s8(vget_low_s8(lo), vget_low_s8(alo));
                    let p = vmlal_high_s8(p, lo, alo);
                    let p = vmlal_s8(p, vget_low_s8(hi), vget_low_s8(ahi));
                    vpaddlq_s16(vmlal_high_s8(p, hi, ahi))
                };
            }
            (
                vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3])),
                vpaddq_s32(vpaddq_s32(s[4], s[5]), vpaddq_s32(s[6], s[7])),
            )
        }
    }

    /// One block's terms added to a token's accumulator (four rows), in the scalar code's
    /// order: `acc + (dw * da) * isum`, then for Q4_1/Q5_1 `acc + (mw * da) * sa`; Q4_0's
    /// and Q5_0's offsets (`8 · Σa`, `16 · Σa`) are removed exactly in integers first.
    #[inline(always)]
    fn update<const T: u8>(
        acc: float32x4_t,
        (dw, mw): (float32x4_t, float32x4_t),
        isum: int32x4_t,
        da: f32,
        sa: i32,
    ) -> float32x4_t {
        // SAFETY: NEON register arithmetic (part of every aarch64 CPU).
        unsafe {
            let isum = match T {
                Q4_0 => vsubq_s32(isum, vdupq_n_s32(8 * sa)),
                Q5_0 => vsubq_s32(isum, vdupq_n_s32(16 * sa)),
                _ => isum,
            };
            let da = vdupq_n_f32(da);
            let acc = vaddq_f32(acc, vmulq_f32(vmulq_f32(dw, da), vcvtq_f32_s32(isum)));
            if T == Q4_1 || T == Q5_1 {
                vaddq_f32(acc, vmulq_f32(vmulq_f32(mw, da), vdupq_n_f32(sa as f32)))
            } else {
                acc
            }
        }
    }

    /// Eight rows (`grp`, row-major blocks) for every token `t` of `a` into
    /// `outs[t][col..col + 8]`.
    ///
    /// # Safety
    /// `grp` holds eight rows of `cols / 32` blocks of type `T`; `a` has `cols`-wide rows;
    /// `outs` has one slice per token, each `col + 8` long; with `DOT`, as [`sdot`].
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
        let (bs, qoff) = layout(T);
        let rb = nb * bs;
        let base = grp.as_ptr();
        let qa = a.q.as_ptr();
        if n == 1 {
            // SAFETY: register-only NEON (part of every aarch64 CPU).
            let mut acc = unsafe { [vdupq_n_f32(0.0); 2] };
            for b in 0..nb {
                // SAFETY: block `b` of the eight rows lies inside `grp` (caller), and block
                // `b` of the single token's activations inside `a.q`.
                unsafe {
                    let blk = base.add(b * bs);
                    let sc = scales::<T>(blk, rb);
                    let w = weights::<T>(blk.add(qoff), rb);
                    let ap = qa.add(b * QK);
                    let s = isum::<T, DOT>(&w, vld1q_s8(ap), vld1q_s8(ap.add(16)));
                    acc[0] = update::<T>(acc[0], sc[0], s.0, a.d[b], a.s[b]);
                    acc[1] = update::<T>(acc[1], sc[1], s.1, a.d[b], a.s[b]);
                }
            }
            let out = &mut outs[0][col..col + 8];
            // SAFETY: `out` holds eight f32; unaligned stores.
            unsafe {
                vst1q_f32(out.as_mut_ptr(), acc[0]);
                vst1q_f32(out.as_mut_ptr().add(4), acc[1]);
            }
            return;
        }
        scratch.acc.clear();
        scratch.acc.resize(n * 8, 0.0);
        let accp = scratch.acc.as_mut_ptr();
        for b in 0..nb {
            // SAFETY: block `b` of the eight rows lies inside `grp`, token `t`'s block `b`
            // inside `a.q` (caller), and `scratch.acc` holds `8 * n` f32.
            unsafe {
                let blk = base.add(b * bs);
                let sc = scales::<T>(blk, rb);
                let w = weights::<T>(blk.add(qoff), rb);
                for t in 0..n {
                    let ab = t * nb + b;
                    let ap = qa.add(ab * QK);
                    let s = isum::<T, DOT>(&w, vld1q_s8(ap), vld1q_s8(ap.add(16)));
                    let p = accp.add(t * 8);
                    let (da, sa) = (a.d[ab], a.s[ab]);
                    vst1q_f32(p, update::<T>(vld1q_f32(p), sc[0], s.0, da, sa));
                    vst1q_f32(
                        p.add(4),
                        update::<T>(vld1q_f32(p.add(4)), sc[1], s.1, da, sa),
                    );
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
        // SAFETY: forwarded from the caller, who checked the extension; `body` and its
        // helpers are inlined here, inside the `dotprod` function.
        unsafe { body::<T, true>(grp, cols, a, outs, col, scratch) }
    }

    /// Eight rows of type `T`, with `sdot` when `dot` is set.
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
}

#[cfg(target_arch = "aarch64")]
mod k;
#[cfg(all(test, target_arch = "aarch64"))]
mod tests;
