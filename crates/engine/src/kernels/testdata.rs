//! Test data shared by the SIMD kernels' unit tests: pseudo-random quantized blocks.

use super::QK;
use crate::gguf::GgmlType;

/// A deterministic pseudo-random byte stream (xorshift).
pub(super) fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// `rows` rows of `cols / 32` blocks of `dtype` with finite f16 scales (exponent bits kept
/// below the maximum): random quants, or with `extreme` every quant at its largest
/// magnitude (Q8_0 −128, Q4 nibbles 15).
pub(super) fn weights(
    dtype: GgmlType,
    rows: usize,
    cols: usize,
    seed: u64,
    extreme: bool,
) -> Vec<u8> {
    let (bs, nscales) = match dtype {
        GgmlType::Q8_0 => (34, 1),
        GgmlType::Q4_0 => (18, 1),
        _ => (20, 2),
    };
    let mut data = bytes(seed, rows * cols / QK * bs);
    for blk in data.chunks_mut(bs) {
        for s in 0..nscales {
            // f16 with exponent 8..23: magnitudes about 2^-7..2^8, either sign.
            blk[2 * s + 1] = (blk[2 * s + 1] & 0x83) | 0x20;
        }
        if extreme {
            let q = if dtype == GgmlType::Q8_0 { 0x80 } else { 0xFF };
            blk[2 * nscales..].fill(q);
        }
    }
    data
}
