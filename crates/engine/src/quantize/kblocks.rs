//! Block quantizers for Q5_0, Q5_1 and the K-quants (Q4_K, Q5_K, Q6_K).
//!
//! Q5_0 and Q5_1 are bit-for-bit ggml's `quantize_row_q5_*_ref` (the formulas of Q4_0/Q4_1
//! with 5-bit values). The K-quants use a simple deterministic rule of our own, not ggml's
//! iterative scale search (which `llama-quantize` runs, and whose sums a C compiler may fuse
//! into FMAs, so its bytes are not reproducible from a specification): per sub-block the
//! range sets the scale, the super-block factors are the largest sub-block scale and minimum
//! over 63 (Q6_K: the largest |scale| over 127), sub-block scales round to nearest, and each
//! value rounds to the nearest level of its stored (f16-rounded) scale. All arithmetic in f32,
//! no fused operations, `f32::round` (half away from zero) for every rounding.

use crate::f16::{f16_to_f32, f32_to_f16};

use super::blocks::BLOCK;

/// Values per K-quant super-block.
pub const SUPER_BLOCK: usize = 256;

/// `(amax value with its sign, first on ties)`, as ggml's Q4_0/Q5_0.
fn signed_max(block: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in block {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

fn min_max(block: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in block {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// Packs 32 five-bit values: nibbles as in Q4_0, then the little-endian word of fifth bits
/// (bit `j` for value `j`), returned as `(qh, qs)`.
fn pack5(q: &[u8; BLOCK]) -> ([u8; 4], [u8; 16]) {
    let mut h = 0u32;
    for (j, &v) in q.iter().enumerate() {
        h |= u32::from(v >> 4 & 1) << j;
    }
    (
        h.to_le_bytes(),
        std::array::from_fn(|j| (q[j] & 15) | ((q[j + 16] & 15) << 4)),
    )
}

/// Q5_0: `d = m / -16`, `m` the first value of largest magnitude, `q = min(31, trunc(x / d +
/// 16.5))`; 22 bytes per block (f16 d, 4 bytes of fifth bits, 16 bytes of nibbles).
pub fn quantize_q5_0(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(BLOCK) {
        let d = signed_max(block) / -16.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        let q: [u8; BLOCK] = std::array::from_fn(|j| ((block[j] * id + 16.5) as i8).min(31) as u8);
        let (qh, qs) = pack5(&q);
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend_from_slice(&qh);
        out.extend_from_slice(&qs);
    }
}

/// Q5_1: `d = (max − min) / 31`, `q = trunc((x − min) / d + 0.5)`; 24 bytes per block (f16 d,
/// f16 min, fifth bits, nibbles).
pub fn quantize_q5_1(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(BLOCK) {
        let (min, max) = min_max(block);
        let d = (max - min) / 31.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        let q: [u8; BLOCK] = std::array::from_fn(|j| ((block[j] - min) * id + 0.5) as u8);
        let (qh, qs) = pack5(&q);
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend_from_slice(&f32_to_f16(min).to_le_bytes());
        out.extend_from_slice(&qh);
        out.extend_from_slice(&qs);
    }
}

/// Stores `v` as f16 and returns the stored value.
fn f16_stored(v: f32, out: &mut Vec<u8>) -> f32 {
    let h = f32_to_f16(v);
    out.extend_from_slice(&h.to_le_bytes());
    f16_to_f32(h)
}

/// `round(v / s)` clamped to `0..=max` (0 when `s` is 0).
fn level(v: f32, s: f32, max: u8) -> u8 {
    if s == 0.0 {
        0
    } else {
        (v / s).round().clamp(0.0, f32::from(max)) as u8
    }
}

/// Q4_K (`bits` 4) or Q5_K (`bits` 5): per sub-block of 32, `min_j = min(0, min x)`,
/// `scale_j = (max x − min_j) / (2^bits − 1)`; `d = max scale_j / 63`, `dmin = max(−min_j) /
/// 63` (f16); `sc_j = round(scale_j / d)`, `m_j = round(−min_j / dmin)` (0..63);
/// `q = round((x + dmin·m_j) / (d·sc_j))` clamped to the level range.
fn quantize_k(x: &[f32], bits: u32, out: &mut Vec<u8>) {
    let qmax = (1u8 << bits) - 1;
    for sb in x.chunks_exact(SUPER_BLOCK) {
        let mut scale = [0f32; 8];
        let mut neg_min = [0f32; 8];
        for (j, sub) in sb.chunks_exact(BLOCK).enumerate() {
            let (min, max) = min_max(sub);
            let min = min.min(0.0);
            scale[j] = (max - min) / f32::from(qmax);
            neg_min[j] = -min;
        }
        let d = scale.iter().fold(0f32, |a, &v| a.max(v)) / 63.0;
        let dmin = neg_min.iter().fold(0f32, |a, &v| a.max(v)) / 63.0;
        let d = f16_stored(d, out);
        let dmin = f16_stored(dmin, out);
        let sc: [u8; 8] = std::array::from_fn(|j| level(scale[j], d, 63));
        let m: [u8; 8] = std::array::from_fn(|j| level(neg_min[j], dmin, 63));
        // The inverse of `get_scale_min_k4`: sub-blocks 0..4 in the low six bits of bytes j
        // and j + 4; 4..8 in the nibbles of byte j + 4 and the top bits of bytes j − 4 and j.
        let mut packed = [0u8; 12];
        for j in 0..4 {
            packed[j] = sc[j] | (sc[j + 4] >> 4) << 6;
            packed[j + 4] = m[j] | (m[j + 4] >> 4) << 6;
            packed[j + 8] = (sc[j + 4] & 15) | (m[j + 4] & 15) << 4;
        }
        out.extend_from_slice(&packed);
        let q: Vec<u8> = sb
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let j = i / BLOCK;
                let (s, mn) = (d * f32::from(sc[j]), dmin * f32::from(m[j]));
                level(v + mn, s, qmax)
            })
            .collect();
        if bits == 5 {
            // qh[l]: bit j is the fifth bit of value l of sub-block j.
            let qh: [u8; 32] = std::array::from_fn(|l| {
                (0..8).fold(0u8, |h, j| h | ((q[BLOCK * j + l] >> 4) & 1) << j)
            });
            out.extend_from_slice(&qh);
        }
        // qs[32k + l]: low nibble value l of sub-block 2k, high nibble of sub-block 2k + 1.
        for k in 0..4 {
            for l in 0..BLOCK {
                out.push((q[64 * k + l] & 15) | (q[64 * k + 32 + l] & 15) << 4);
            }
        }
    }
}

/// Q4_K: see `quantize_k`; 144 bytes per 256 values.
pub fn quantize_q4_k(x: &[f32], out: &mut Vec<u8>) {
    quantize_k(x, 4, out);
}

/// Q5_K: see `quantize_k`; 176 bytes per 256 values.
pub fn quantize_q5_k(x: &[f32], out: &mut Vec<u8>) {
    quantize_k(x, 5, out);
}

/// Q6_K: per sub-block of 16, `scale_k = m_k / −32` with `m_k` the first value of largest
/// magnitude; `d = max|scale_k| / 127` (f16), `sc_k = round(scale_k / d)` (i8);
/// `q = round(x / (d·sc_k))` clamped to −32..31, stored plus 32; 210 bytes per 256 values.
pub fn quantize_q6_k(x: &[f32], out: &mut Vec<u8>) {
    for sb in x.chunks_exact(SUPER_BLOCK) {
        let scale: [f32; 16] =
            std::array::from_fn(|k| signed_max(&sb[16 * k..16 * k + 16]) / -32.0);
        let d = scale.iter().fold(0f32, |a, &v| a.max(v.abs())) / 127.0;
        let dh = f32_to_f16(d);
        let d = f16_to_f32(dh);
        let sc: [i8; 16] = std::array::from_fn(|k| {
            if d == 0.0 {
                0
            } else {
                (scale[k] / d).round().clamp(-128.0, 127.0) as i8
            }
        });
        let q: Vec<u8> = sb
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = d * f32::from(sc[i / 16]);
                let l = if s == 0.0 {
                    0.0
                } else {
                    (v / s).round().clamp(-32.0, 31.0)
                };
                (l as i8 + 32) as u8
            })
            .collect();
        // Per half n of 128 values: ql[64n + l] holds values l (low) and 64 + l (high),
        // ql[64n + 32 + l] values 32 + l and 96 + l; qh[32n + l] the top two bits of values l,
        // 32 + l, 64 + l, 96 + l in bit pairs 0, 2, 4, 6.
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for n in 0..2 {
            let h = &q[128 * n..128 * n + 128];
            for l in 0..32 {
                ql[64 * n + l] = (h[l] & 15) | (h[64 + l] & 15) << 4;
                ql[64 * n + 32 + l] = (h[32 + l] & 15) | (h[96 + l] & 15) << 4;
                qh[32 * n + l] = h[l] >> 4
                    | (h[32 + l] >> 4) << 2
                    | (h[64 + l] >> 4) << 4
                    | (h[96 + l] >> 4) << 6;
            }
        }
        out.extend_from_slice(&ql);
        out.extend_from_slice(&qh);
        out.extend(sc.iter().map(|&s| s as u8));
        out.extend_from_slice(&dh.to_le_bytes());
    }
}
