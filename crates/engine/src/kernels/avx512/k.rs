//! AVX-512 VNNI kernels for the K-quants (Q4_K, Q5_K, Q6_K): sixteen output rows per step,
//! one f32 lane per row, the scalar sequence of `kernels::kquant` per lane.
//!
//! Per super-block the sixteen rows' f16 factors are gathered and converted (exact), their
//! 6-bit or i8 sub-block scales unpacked to i32 lanes; per 32-value sub-block the rows'
//! values are transposed once (lane `r` of register `k` = values `4k..4k+4` of row `r`, as in
//! the Q4 kernel) and every token takes the exact integer sums with `vpdpbusd`, the integer
//! scale products (`vpmulld`, exact: every product is below 2^24) and the f32 update of the
//! scalar code. Q6_K's values (−32..31) go in unsigned as `q + 32`; `32 · Σa` of each
//! 16-value half is subtracted again, exactly.

use std::arch::x86_64::{
    __m512i, _MM_HINT_T0, _mm_prefetch, _mm512_add_epi32, _mm512_add_ps, _mm512_and_si512,
    _mm512_cvtepi32_ps, _mm512_i32gather_epi32, _mm512_loadu_ps, _mm512_mul_ps, _mm512_mullo_epi32,
    _mm512_or_si512, _mm512_set1_epi8, _mm512_set1_epi32, _mm512_set1_ps, _mm512_sllv_epi32,
    _mm512_srai_epi32, _mm512_srlv_epi32, _mm512_storeu_ps, _mm512_sub_epi32, _mm512_sub_ps,
};

use super::super::kquant::QK_K;
use super::super::{Acts, QK};
use super::Scratch;
use super::x86::{isum, isum_halves, row_offsets, scales, transpose16};

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

/// `v` shifted right (`by > 0`) or left (`by < 0`) per 32-bit lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn shift(v: __m512i, by: i32) -> __m512i {
    if by >= 0 {
        _mm512_srlv_epi32(v, _mm512_set1_epi32(by))
    } else {
        _mm512_sllv_epi32(v, _mm512_set1_epi32(-by))
    }
}

/// `(v >> by) & mask` per 32-bit lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn field(v: __m512i, by: i32, mask: i32) -> __m512i {
    _mm512_and_si512(shift(v, by), _mm512_set1_epi32(mask))
}

/// 32 bytes at `p + off` of each of the sixteen rows, transposed: register `k` holds bytes
/// `4k..4k+4` (registers 0..4 from the first 16 bytes, 4..8 from the second).
///
/// # Safety
/// `p + 15 * rb + off + 32` bytes must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn run32(p: *const u8, rb: usize, off: usize) -> [__m512i; 8] {
    // SAFETY: both 16-byte halves of every row's run are readable (caller).
    let (lo, hi) = unsafe {
        (
            transpose16(p.add(off), rb),
            transpose16(p.add(off + 16), rb),
        )
    };
    std::array::from_fn(|k| if k < 4 { lo[k] } else { hi[k - 4] })
}

/// Per-row sub-block scales of one super-block as i32 lanes: `(sc[j], m[j])` for Q4_K/Q5_K
/// (ggml's `get_scale_min_k4`), `(s[2j], s[2j + 1])` sign-extended for Q6_K.
///
/// # Safety
/// `blk + offsets[i]` plus `block_bytes(T)` bytes must be readable for every lane.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn sub_scales<const T: u8>(blk: *const u8, offsets: __m512i) -> [(__m512i, __m512i); 8] {
    // SAFETY: the scale bytes lie inside each row's super-block (caller); byte-scaled gathers.
    let dword = |at: usize| unsafe { _mm512_i32gather_epi32::<1>(offsets, blk.add(at).cast()) };
    if T == Q6_K {
        let s: [__m512i; 4] = std::array::from_fn(|c| dword(192 + 4 * c));
        // Byte `b` of a dword, sign-extended: to the top, then an arithmetic shift back.
        let byte = |v: __m512i, b: i32| _mm512_srai_epi32::<24>(shift(v, -(24 - 8 * b)));
        return std::array::from_fn(|j| {
            let (v, b) = (s[j / 2], 2 * (j as i32 % 2));
            (byte(v, b), byte(v, b + 1))
        });
    }
    let (s0, s1, s2) = (dword(4), dword(8), dword(12));
    std::array::from_fn(|j| {
        let i = 8 * (j as i32 % 4);
        if j < 4 {
            (field(s0, i, 63), field(s1, i, 63))
        } else {
            let top = |v: __m512i| shift(field(v, i + 6, 3), -4);
            (
                _mm512_or_si512(field(s2, i, 0x0F), top(s0)),
                _mm512_or_si512(field(s2, i + 4, 0x0F), top(s1)),
            )
        }
    })
}

/// The unsigned values of sub-blocks `2p` and `2p + 1` of a Q4_K/Q5_K super-block for the
/// sixteen rows: the low and high nibbles of `qs[32p..32p + 32]`, plus for Q5_K bit `j` of
/// `qh[l]` (`qh` transposed like the values) times 16.
///
/// # Safety
/// `blk + 15 * rb + block_bytes(T)` bytes must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn k4_pair<const T: u8>(
    blk: *const u8,
    rb: usize,
    p: usize,
    qh: &[__m512i; 8],
) -> [[__m512i; 8]; 2] {
    let qs = if T == Q5_K { 48 } else { 16 };
    // SAFETY: the run lies inside each row's super-block (caller).
    let t = unsafe { run32(blk, rb, qs + 32 * p) };
    let low4 = _mm512_set1_epi8(0x0F);
    std::array::from_fn(|half| {
        let j = (2 * p + half) as i32;
        std::array::from_fn(|k| {
            let nib = _mm512_and_si512(shift(t[k], 4 * half as i32), low4);
            if T == Q5_K {
                // Bit `j` of each byte to bit 4.
                let hb = _mm512_and_si512(shift(qh[k], j - 4), _mm512_set1_epi8(0x10));
                _mm512_or_si512(nib, hb)
            } else {
                nib
            }
        })
    })
}

/// The values plus 32 (0..63) of sub-blocks `4n..4n + 4` of a Q6_K super-block for the
/// sixteen rows: quarter `g` takes nibbles of `ql[64n + 32(g mod 2)..][..32]` (low for
/// `g < 2`) and bits `2g, 2g + 1` of `qh[32n..][..32]` as its top two bits.
///
/// # Safety
/// `blk + 15 * rb + 210` bytes must be readable.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn q6_half(blk: *const u8, rb: usize, n: usize) -> [[__m512i; 8]; 4] {
    // SAFETY: the runs lie inside each row's super-block (caller).
    let (l0, l1, h) = unsafe {
        (
            run32(blk, rb, 64 * n),
            run32(blk, rb, 64 * n + 32),
            run32(blk, rb, 128 + 32 * n),
        )
    };
    let (low4, two) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
    std::array::from_fn(|g| {
        let l = if g % 2 == 0 { &l0 } else { &l1 };
        std::array::from_fn(|k| {
            let nib = _mm512_and_si512(shift(l[k], 4 * (g as i32 / 2)), low4);
            let hi = _mm512_and_si512(shift(h[k], 2 * g as i32 - 4), two);
            _mm512_or_si512(nib, hi)
        })
    })
}

/// Sixteen rows (`grp`) of type `T` for every token of `a` into `outs[t][col..col + 16]`.
///
/// # Safety
/// AVX-512 F/BW/VNNI and AVX2 + F16C must be available; `grp` holds sixteen rows of
/// `cols / 256` super-blocks of type `T`; `a` has `cols`-wide rows; `outs` has one slice per
/// token, each `col + 16` long; `15 * rb` fits an i32.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn rows16<const T: u8>(
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
    let offsets = row_offsets(rb);
    let halves = &scratch.halves;
    scratch.acc.clear();
    scratch.acc.resize(n * 16, 0.0);
    let accp = scratch.acc.as_mut_ptr();
    let k32 = _mm512_set1_epi32(32);
    for s in 0..cols / QK_K {
        if n == 1 {
            // Decode streams sixteen rows block by block: fetch the next group's bytes ahead.
            let pf = base.wrapping_add(16 * rb + s * 16 * bs);
            for off in (0..16 * bs + 64).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>(pf.wrapping_add(off).cast::<i8>());
            }
        }
        // SAFETY: super-block `s` of the sixteen rows lies inside `grp`, every token's
        // activation blocks inside `a` (caller), `halves` has one sum per activation block,
        // and `scratch.acc` holds `16 * n` f32.
        unsafe {
            let blk = base.add(s * bs);
            // Q6_K's f16 `d` is the last two bytes: the dword ending there (high half).
            let (d, dmin) = if T == Q6_K {
                let (_, d) = scales(blk.add(206), offsets);
                (d, d)
            } else {
                scales(blk, offsets)
            };
            let sub = sub_scales::<T>(blk, offsets);
            let qh = if T == Q5_K {
                run32(blk, rb, 16)
            } else {
                [k32; 8]
            };
            // Q4_K/Q5_K: sub-blocks `2p`, `2p + 1` from one run of nibbles; Q6_K: a half's
            // four sub-blocks from one run of `ql` and `qh`.
            let per = if T == Q6_K { 4 } else { 2 };
            for p in 0..8 / per {
                let mut vals = [[k32; 8]; 4];
                if T == Q6_K {
                    vals = q6_half(blk, rb, p);
                } else {
                    let [v0, v1] = k4_pair::<T>(blk, rb, p, &qh);
                    (vals[0], vals[1]) = (v0, v1);
                }
                for (i, w) in vals[..per].iter().enumerate() {
                    let j = per * p + i;
                    let (s0, s1) = sub[j];
                    for t in 0..n {
                        let ab = t * nb + 8 * s + j;
                        let da = _mm512_set1_ps(a.d[ab]);
                        let acc = accp.add(t * 16);
                        let mut v = _mm512_loadu_ps(acc);
                        if T == Q6_K {
                            let (lo, hi) = isum_halves(w, qa.add(ab * QK));
                            let (sl, sh) = (halves[ab], a.s[ab] - halves[ab]);
                            let lo = _mm512_sub_epi32(lo, _mm512_set1_epi32(32 * sl));
                            let hi = _mm512_sub_epi32(hi, _mm512_set1_epi32(32 * sh));
                            let isum = _mm512_add_epi32(
                                _mm512_mullo_epi32(s0, lo),
                                _mm512_mullo_epi32(s1, hi),
                            );
                            v = _mm512_add_ps(
                                v,
                                _mm512_mul_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(isum)),
                            );
                        } else {
                            let isum = _mm512_mullo_epi32(s0, isum(w, qa.add(ab * QK)));
                            let msum = _mm512_mullo_epi32(s1, _mm512_set1_epi32(a.s[ab]));
                            v = _mm512_add_ps(
                                v,
                                _mm512_mul_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(isum)),
                            );
                            v = _mm512_sub_ps(
                                v,
                                _mm512_mul_ps(_mm512_mul_ps(dmin, da), _mm512_cvtepi32_ps(msum)),
                            );
                        }
                        _mm512_storeu_ps(acc, v);
                    }
                }
            }
        }
    }
    for (o, acc) in outs.iter_mut().zip(scratch.acc.chunks_exact(16)) {
        o[col..col + 16].copy_from_slice(acc);
    }
}
