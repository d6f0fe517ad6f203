//! The scalar reference kernels: they define the exact arithmetic.

use super::{Acts, QK, WeightView, f16_at, f16_lut};
use crate::gguf::GgmlType;

/// Integer dot product of one Q4_1/Q4_0 nibble block with 32 i8 activations (no offset).
#[inline]
fn nib_dot(qs: &[u8], a: &[i8]) -> i32 {
    let mut s = 0i32;
    for i in 0..16 {
        s += i32::from(qs[i] & 0x0F) * i32::from(a[i]);
        s += i32::from(qs[i] >> 4) * i32::from(a[i + 16]);
    }
    s
}

/// Dot product of weight row `r` with token `t`'s activations.
pub(super) fn dot_row(w: &WeightView<'_>, a: &Acts<'_>, r: usize, t: usize) -> f32 {
    let lut = f16_lut();
    let rb = w.row_bytes();
    let row = &w.data[r * rb..(r + 1) * rb];
    let nb = w.cols / QK;
    let b0 = t * nb;
    let mut acc = 0f32;
    match w.dtype {
        GgmlType::Q8_0 => {
            for b in 0..nb {
                let blk = &row[b * 34..(b + 1) * 34];
                let dw = f16_at(lut, blk);
                let qa = &a.q[(b0 + b) * QK..(b0 + b + 1) * QK];
                let mut s = 0i32;
                for i in 0..QK {
                    s += i32::from(blk[2 + i] as i8) * i32::from(qa[i]);
                }
                acc += (dw * a.d[b0 + b]) * s as f32;
            }
        }
        GgmlType::Q4_0 => {
            for b in 0..nb {
                let blk = &row[b * 18..(b + 1) * 18];
                let dw = f16_at(lut, blk);
                let qa = &a.q[(b0 + b) * QK..(b0 + b + 1) * QK];
                let s = nib_dot(&blk[2..18], qa) - 8 * a.s[b0 + b];
                acc += (dw * a.d[b0 + b]) * s as f32;
            }
        }
        GgmlType::Q4_1 => {
            for b in 0..nb {
                let blk = &row[b * 20..(b + 1) * 20];
                let dw = f16_at(lut, blk);
                let mw = f16_at(lut, &blk[2..]);
                let qa = &a.q[(b0 + b) * QK..(b0 + b + 1) * QK];
                let s = nib_dot(&blk[4..20], qa);
                let da = a.d[b0 + b];
                acc += (dw * da) * s as f32;
                acc += (mw * da) * a.s[b0 + b] as f32;
            }
        }
        GgmlType::F32 => {
            let x = &a.x[t * w.cols..(t + 1) * w.cols];
            for (i, &xi) in x.iter().enumerate() {
                let v = f32::from_le_bytes([
                    row[4 * i],
                    row[4 * i + 1],
                    row[4 * i + 2],
                    row[4 * i + 3],
                ]);
                acc += v * xi;
            }
        }
        GgmlType::F16 => {
            let x = &a.x[t * w.cols..(t + 1) * w.cols];
            for (i, &xi) in x.iter().enumerate() {
                acc += f16_at(lut, &row[2 * i..]) * xi;
            }
        }
        _ => return super::kquant::dot_row(w, a, r, t).unwrap_or(0.0),
    }
    acc
}

/// Dequantizes row `r` (`d * q`, Q4_1 `d * q + m`; the Q5 and K types in `kquant`).
pub(super) fn dequant_row(w: &WeightView<'_>, r: usize, out: &mut [f32]) {
    let lut = f16_lut();
    let rb = w.row_bytes();
    let row = &w.data[r * rb..(r + 1) * rb];
    let nb = w.cols / QK;
    match w.dtype {
        GgmlType::Q8_0 => {
            for b in 0..nb {
                let blk = &row[b * 34..];
                let d = f16_at(lut, blk);
                for i in 0..QK {
                    out[b * QK + i] = d * f32::from(blk[2 + i] as i8);
                }
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let (bs, off) = if w.dtype == GgmlType::Q4_0 {
                (18, 2)
            } else {
                (20, 4)
            };
            for b in 0..nb {
                let blk = &row[b * bs..(b + 1) * bs];
                let d = f16_at(lut, blk);
                let (m, bias) = if w.dtype == GgmlType::Q4_1 {
                    (f16_at(lut, &blk[2..]), 0)
                } else {
                    (0.0, 8)
                };
                for i in 0..16 {
                    let lo = i32::from(blk[off + i] & 0x0F) - bias;
                    let hi = i32::from(blk[off + i] >> 4) - bias;
                    out[b * QK + i] = d * lo as f32 + m;
                    out[b * QK + i + 16] = d * hi as f32 + m;
                }
            }
        }
        GgmlType::F32 => {
            for (i, o) in out.iter_mut().enumerate().take(w.cols) {
                *o = f32::from_le_bytes([
                    row[4 * i],
                    row[4 * i + 1],
                    row[4 * i + 2],
                    row[4 * i + 3],
                ]);
            }
        }
        GgmlType::F16 => {
            for (i, o) in out.iter_mut().enumerate().take(w.cols) {
                *o = f16_at(lut, &row[2 * i..]);
            }
        }
        _ => {
            super::kquant::dequant_row(w, r, out);
        }
    }
}
