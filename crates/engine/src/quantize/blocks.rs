//! Reference block quantizers, bit-for-bit the formulas of ggml's `quantize_row_*_ref`
//! (what `llama-quantize` uses without an importance matrix): all arithmetic in f32, scales
//! stored as f16 rounded to nearest-even, `1/d` taken from the unrounded f32 scale.

use crate::f16::{f16_to_f32, f32_to_f16};

/// Elements per block of every type here.
pub const BLOCK: usize = 32;

/// Q8_0: `d = max|x| / 127`, `q = round_half_away(x / d)`; 34 bytes per block
/// (f16 d, 32 × i8).
pub fn quantize_q8_0(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(BLOCK) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        // `as i8` saturates; |x * id| <= 127 up to rounding anyway.
        out.extend(block.iter().map(|&v| (v * id).round() as i8 as u8));
    }
}

/// Q4_0: `d = m / -8` where `m` is the value of largest magnitude (first one on ties),
/// `q = min(15, trunc(x / d + 8.5))`; 18 bytes per block (f16 d, 16 bytes of nibbles:
/// element j in the low nibble of byte j, element j + 16 in its high nibble).
pub fn quantize_q4_0(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(BLOCK) {
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in block {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        push_nibbles(block, out, |v| ((v * id + 8.5) as i8).min(15) as u8);
    }
}

/// Q4_1: `d = (max - min) / 15`, `q = min(15, trunc((x - min) / d + 0.5))`; 20 bytes per
/// block (f16 d, f16 min, 16 bytes of nibbles as in Q4_0).
pub fn quantize_q4_1(x: &[f32], out: &mut Vec<u8>) {
    for block in x.chunks_exact(BLOCK) {
        let (mut min, mut max) = (f32::MAX, -f32::MAX);
        for &v in block {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
        out.extend_from_slice(&f32_to_f16(min).to_le_bytes());
        push_nibbles(block, out, |v| (((v - min) * id + 0.5) as i8).min(15) as u8);
    }
}

fn push_nibbles(block: &[f32], out: &mut Vec<u8>, q: impl Fn(f32) -> u8) {
    let (lo, hi) = block.split_at(BLOCK / 2);
    out.extend(lo.iter().zip(hi).map(|(&a, &b)| q(a) | (q(b) << 4)));
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// Dequantizes Q8_0 blocks: `x = d * q`.
pub fn dequantize_q8_0(data: &[u8], out: &mut Vec<f32>) {
    for b in data.chunks_exact(34) {
        let d = half(b, 0);
        out.extend(b[2..].iter().map(|&q| d * f32::from(q as i8)));
    }
}

/// Dequantizes Q4_0 blocks: `x = d * (q - 8)`.
pub fn dequantize_q4_0(data: &[u8], out: &mut Vec<f32>) {
    for b in data.chunks_exact(18) {
        let d = half(b, 0);
        let qs = &b[2..];
        out.extend(qs.iter().map(|&q| d * (f32::from(q & 15) - 8.0)));
        out.extend(qs.iter().map(|&q| d * (f32::from(q >> 4) - 8.0)));
    }
}

/// Dequantizes Q4_1 blocks: `x = d * q + m`.
pub fn dequantize_q4_1(data: &[u8], out: &mut Vec<f32>) {
    for b in data.chunks_exact(20) {
        let (d, m) = (half(b, 0), half(b, 2));
        let qs = &b[4..];
        out.extend(qs.iter().map(|&q| d * f32::from(q & 15) + m));
        out.extend(qs.iter().map(|&q| d * f32::from(q >> 4) + m));
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_rounds_half_away_from_zero() {
        // amax 127 gives d = 1 exactly; 2.5 -> 3 and -2.5 -> -3.
        let mut x = vec![0.0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 0.49;
        let mut out = Vec::new();
        quantize_q8_0(&x, &mut out);
        assert_eq!(out.len(), 34);
        assert_eq!(u16::from_le_bytes([out[0], out[1]]), 0x3c00);
        assert_eq!(&out[2..6], &[127, 3, (-3i8) as u8, 0]);
    }

    #[test]
    fn q4_0_uses_signed_max() {
        let mut x = vec![0.0f32; 32];
        x[0] = -16.0; // d = 2
        x[16] = 15.0; // 15/2 + 8.5 = 16 -> clamped to 15
        x[1] = 1.0; // 0.5 + 8.5 = 9
        let mut out = Vec::new();
        quantize_q4_0(&x, &mut out);
        assert_eq!(u16::from_le_bytes([out[0], out[1]]), 0x4000);
        assert_eq!(out[2], 15 << 4);
        assert_eq!(out[3], 9 | (8 << 4));
        let mut back = Vec::new();
        dequantize_q4_0(&out, &mut back);
        assert_eq!((back[0], back[1], back[16]), (-16.0, 2.0, 14.0));
    }

    #[test]
    fn constant_blocks_are_exact() {
        let x = vec![0.75f32; 32];
        for (q, dq) in [
            (
                quantize_q4_1 as fn(&[f32], &mut Vec<u8>),
                dequantize_q4_1 as fn(&[u8], &mut Vec<f32>),
            ),
            (quantize_q4_0, dequantize_q4_0), // d = -3/32 is exact in f16
        ] {
            let mut out = Vec::new();
            q(&x, &mut out);
            let mut back = Vec::new();
            dq(&out, &mut back);
            assert_eq!(back, x);
        }
        // Q8_0's d = 0.75/127 is rounded to f16, so the round trip is close, not exact.
        let mut out = Vec::new();
        quantize_q8_0(&x, &mut out);
        let mut back = Vec::new();
        dequantize_q8_0(&out, &mut back);
        assert!(back.iter().all(|&v| (v - 0.75).abs() < 1e-4 && v != 0.75));
        let zeros = vec![0.0f32; 32];
        let mut out = Vec::new();
        quantize_q8_0(&zeros, &mut out);
        assert!(out.iter().all(|&b| b == 0));
    }
}
