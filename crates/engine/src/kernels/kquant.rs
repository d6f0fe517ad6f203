//! Q5_0, Q5_1 and the K-quants (Q4_K, Q5_K, Q6_K): block layouts as ggml defines them, and
//! the scalar reference dot products and dequantization that define their arithmetic.
//!
//! Activations are the same per-32 i8 blocks as for every other type (see the module docs of
//! `kernels`), so a K-quant super-block of 256 values meets eight activation blocks, each with
//! its own scale. Per activation block `b` (ascending) the integer part is exact:
//! - Q5_0: `isum = Σ q·a − 16·Σa` (`q` 0..31); `acc = acc + (d·d_a)·isum`.
//! - Q5_1: `isum = Σ q·a`; `acc = acc + (d·d_a)·isum`, then `acc = acc + (m·d_a)·Σa`.
//! - Q4_K, Q5_K (sub-block `j = b mod 8` with 6-bit scale `sc` and minimum `m`):
//!   `isum = Σ q·a`; `acc = acc + (d·d_a)·(sc·isum)`, then `acc = acc − (dmin·d_a)·(m·Σa)`.
//! - Q6_K (sub-blocks `2j`, `2j + 1` of 16 values, i8 scales `s0`, `s1`, `q` −32..31):
//!   `isum = s0·Σ_{i<16} q·a + s1·Σ_{i≥16} q·a`; `acc = acc + (d·d_a)·isum`.
//!
//! Every integer term is below 2^24 in magnitude (largest: Q6_K, 2·128·16·32·127 =
//! 16,646,144), so it converts to f32 exactly; each f32 operation is rounded on its own.

use super::{Acts, QK, WeightView, f16_at, f16_lut};
use crate::gguf::GgmlType;

/// Values per K-quant super-block.
pub(crate) const QK_K: usize = 256;

/// Bytes per block of a type the kernels run (0 for others).
pub(crate) fn block_bytes(t: GgmlType) -> usize {
    match t {
        GgmlType::Q4_0 => 18,
        GgmlType::Q4_1 => 20,
        GgmlType::Q5_0 => 22,
        GgmlType::Q5_1 => 24,
        GgmlType::Q8_0 => 34,
        GgmlType::Q4_K => 144,
        GgmlType::Q5_K => 176,
        GgmlType::Q6_K => 210,
        _ => 0,
    }
}

/// The 32 unsigned 5-bit values of a Q5_0/Q5_1 block from its 4 bytes of high bits and
/// 16 bytes of nibbles: value `j` is the low nibble of byte `j` plus bit `j` of the
/// (little-endian) high-bit word times 16, value `j + 16` the high nibble plus bit `j + 16`.
pub(crate) fn q5_values(qh: &[u8], qs: &[u8]) -> [u8; QK] {
    let h = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    std::array::from_fn(|i| {
        let nib = if i < 16 {
            qs[i] & 0x0F
        } else {
            qs[i - 16] >> 4
        };
        nib | ((((h >> i) & 1) as u8) << 4)
    })
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) from a Q4_K/Q5_K block's 12 packed
/// bytes (ggml's `get_scale_min_k4`): sub-blocks 0..4 in the low six bits of bytes `j` and
/// `j + 4`; 4..8 in a nibble of byte `j + 4` plus the top two bits of bytes `j − 4` and `j`.
pub(crate) fn k4_scale_min(scales: &[u8], j: usize) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        (
            (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4),
            (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4),
        )
    }
}

/// The 32 unsigned values (0..15, or 0..31 with `qh`) of sub-block `j` of a Q4_K/Q5_K block:
/// sub-blocks `2k` and `2k + 1` are the low and high nibbles of `qs[32k..32k + 32]`; the
/// high bit of value `l` is bit `j` of `qh[l]`.
pub(crate) fn k_values(qs: &[u8], qh: Option<&[u8]>, j: usize) -> [u8; QK] {
    let bytes = &qs[32 * (j / 2)..32 * (j / 2) + 32];
    std::array::from_fn(|l| {
        let nib = if j.is_multiple_of(2) {
            bytes[l] & 0x0F
        } else {
            bytes[l] >> 4
        };
        nib | qh.map_or(0, |h| ((h[l] >> j) & 1) << 4)
    })
}

/// The 32 signed values (−32..31) of activation-sized sub-block `j` (0..8) of a Q6_K block
/// (`ql` 128 bytes, `qh` 64 bytes): value `l` of quarter `g = j mod 4` of half `n = j / 4`
/// takes a nibble of `ql[64n + 32(g mod 2) + l]` (low for `g < 2`) and bits `2g, 2g + 1` of
/// `qh[32n + l]` as its top two bits, minus 32.
pub(crate) fn q6k_values(ql: &[u8], qh: &[u8], j: usize) -> [i8; QK] {
    let (n, g) = (j / 4, j % 4);
    std::array::from_fn(|l| {
        let b = ql[64 * n + 32 * (g % 2) + l];
        let nib = if g < 2 { b & 0x0F } else { b >> 4 };
        let hi = (qh[32 * n + l] >> (2 * g)) & 3;
        ((nib | (hi << 4)) as i8) - 32
    })
}

/// Exact integer dot product of 32 unsigned weights with 32 i8 activations.
#[inline]
fn udot(q: &[u8; QK], a: &[i8]) -> i32 {
    q.iter()
        .zip(a)
        .map(|(&q, &a)| i32::from(q) * i32::from(a))
        .sum()
}

/// Exact integer dot product of `n` signed weights with `n` i8 activations.
#[inline]
fn sdot(q: &[i8], a: &[i8]) -> i32 {
    q.iter()
        .zip(a)
        .map(|(&q, &a)| i32::from(q) * i32::from(a))
        .sum()
}

/// Dot product of row `r` of a Q5_0/Q5_1/Q4_K/Q5_K/Q6_K matrix with token `t` (the rules in
/// the module docs). `None` for other types.
pub(super) fn dot_row(w: &WeightView<'_>, a: &Acts<'_>, r: usize, t: usize) -> Option<f32> {
    let lut = f16_lut();
    let rb = w.row_bytes();
    let row = &w.data[r * rb..(r + 1) * rb];
    let nb = w.cols / QK;
    let b0 = t * nb;
    let act = |b: usize| {
        let k = b0 + b;
        (&a.q[k * QK..(k + 1) * QK], a.d[k], a.s[k])
    };
    let mut acc = 0f32;
    match w.dtype {
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let bs = block_bytes(w.dtype);
            let m_off = usize::from(w.dtype == GgmlType::Q5_1) * 2;
            for b in 0..nb {
                let blk = &row[b * bs..(b + 1) * bs];
                let dw = f16_at(lut, blk);
                let q = q5_values(&blk[2 + m_off..], &blk[6 + m_off..]);
                let (qa, da, sa) = act(b);
                if w.dtype == GgmlType::Q5_0 {
                    acc += (dw * da) * (udot(&q, qa) - 16 * sa) as f32;
                } else {
                    acc += (dw * da) * udot(&q, qa) as f32;
                    acc += (f16_at(lut, &blk[2..]) * da) * sa as f32;
                }
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let bs = block_bytes(w.dtype);
            for s in 0..w.cols / QK_K {
                let blk = &row[s * bs..(s + 1) * bs];
                let d = f16_at(lut, blk);
                let dmin = f16_at(lut, &blk[2..]);
                let (qh, qs) = if w.dtype == GgmlType::Q5_K {
                    (Some(&blk[16..48]), &blk[48..176])
                } else {
                    (None, &blk[16..144])
                };
                for j in 0..8 {
                    let (sc, m) = k4_scale_min(&blk[4..16], j);
                    let (qa, da, sa) = act(8 * s + j);
                    let isum = udot(&k_values(qs, qh, j), qa);
                    acc += (d * da) * (i32::from(sc) * isum) as f32;
                    acc -= (dmin * da) * (i32::from(m) * sa) as f32;
                }
            }
        }
        GgmlType::Q6_K => {
            for s in 0..w.cols / QK_K {
                let blk = &row[s * 210..(s + 1) * 210];
                let d = f16_at(lut, &blk[208..]);
                for j in 0..8 {
                    let q = q6k_values(&blk[..128], &blk[128..192], j);
                    let (s0, s1) = (blk[192 + 2 * j] as i8, blk[193 + 2 * j] as i8);
                    let (qa, da, _) = act(8 * s + j);
                    let isum = i32::from(s0) * sdot(&q[..16], &qa[..16])
                        + i32::from(s1) * sdot(&q[16..], &qa[16..]);
                    acc += (d * da) * isum as f32;
                }
            }
        }
        _ => return None,
    }
    Some(acc)
}

/// Dequantizes row `r` exactly as ggml's `dequantize_row_*` (f32, no fused operations):
/// Q5_0 `(q − 16)·d`, Q5_1 `q·d + m`, Q4_K/Q5_K `(d·sc)·q − dmin·m`, Q6_K `(d·sc)·q`.
/// Returns false for other types.
pub(super) fn dequant_row(w: &WeightView<'_>, r: usize, out: &mut [f32]) -> bool {
    let lut = f16_lut();
    let rb = w.row_bytes();
    let row = &w.data[r * rb..(r + 1) * rb];
    let bs = block_bytes(w.dtype);
    match w.dtype {
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let m_off = usize::from(w.dtype == GgmlType::Q5_1) * 2;
            for (blk, o) in row.chunks_exact(bs).zip(out.chunks_exact_mut(QK)) {
                let d = f16_at(lut, blk);
                let q = q5_values(&blk[2 + m_off..], &blk[6 + m_off..]);
                for (o, &q) in o.iter_mut().zip(&q) {
                    *o = if m_off == 0 {
                        (i32::from(q) - 16) as f32 * d
                    } else {
                        f32::from(q) * d + f16_at(lut, &blk[2..])
                    };
                }
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            for (blk, o) in row.chunks_exact(bs).zip(out.chunks_exact_mut(QK_K)) {
                let d = f16_at(lut, blk);
                let dmin = f16_at(lut, &blk[2..]);
                let (qh, qs) = if w.dtype == GgmlType::Q5_K {
                    (Some(&blk[16..48]), &blk[48..176])
                } else {
                    (None, &blk[16..144])
                };
                for (j, o) in o.chunks_exact_mut(QK).enumerate() {
                    let (sc, m) = k4_scale_min(&blk[4..16], j);
                    let (d1, m1) = (d * f32::from(sc), dmin * f32::from(m));
                    for (o, &q) in o.iter_mut().zip(&k_values(qs, qh, j)) {
                        *o = d1 * f32::from(q) - m1;
                    }
                }
            }
        }
        GgmlType::Q6_K => {
            for (blk, o) in row.chunks_exact(bs).zip(out.chunks_exact_mut(QK_K)) {
                let d = f16_at(lut, &blk[208..]);
                for (j, o) in o.chunks_exact_mut(QK).enumerate() {
                    let q = q6k_values(&blk[..128], &blk[128..192], j);
                    for (l, (o, &q)) in o.iter_mut().zip(&q).enumerate() {
                        let sc = blk[192 + 2 * j + l / 16] as i8;
                        *o = (d * f32::from(sc)) * f32::from(q);
                    }
                }
            }
        }
        _ => return false,
    }
    true
}
