//! Test data shared by the SIMD kernels' unit tests: pseudo-random quantized blocks.

use super::{Acts, QK, WeightView, scalar};
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

/// Checks a kernel's group of `group` rows against `scalar::dot_row`, bit for bit: every
/// quantized type; widths from one block to 48; one to five tokens; random data, and every
/// quant and activation at its largest magnitude; the groups at rows 0 and `group`.
/// `rows(w, a, r0, outs)` computes rows `r0..r0 + group` of token `t` into `outs[t]`;
/// `label` names the kernel variant in a failure.
pub(super) fn assert_group_matches_scalar(
    group: usize,
    label: &str,
    mut rows: impl FnMut(&WeightView<'_>, &Acts<'_>, usize, &mut [&mut [f32]]),
) {
    let cases = [
        (32, 1, false),
        (64, 3, false),
        (576, 1, false),
        (576, 5, false),
        (1536, 2, false),
        (64, 1, true),
        (96, 2, true),
    ];
    for dtype in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
        for (cols, n, extreme) in cases {
            let nrows = 2 * group;
            let data = weights(dtype, nrows, cols, cols as u64 * 31 + n as u64, extreme);
            let w = WeightView {
                dtype,
                rows: nrows,
                cols,
                data: &data,
            };
            // Extreme: every activation quantizes to -127.
            let x: Vec<f32> = bytes(n as u64 + 7, n * cols)
                .iter()
                .map(|&b| {
                    if extreme {
                        -2.5
                    } else {
                        (f32::from(b) - 128.0) / 17.0
                    }
                })
                .collect();
            let a = Acts::new(&x, cols);
            for r0 in [0, group] {
                let mut bufs = vec![vec![0f32; group]; n];
                let mut outs: Vec<&mut [f32]> = bufs.iter_mut().map(Vec::as_mut_slice).collect();
                rows(&w, &a, r0, &mut outs);
                for (t, buf) in bufs.iter().enumerate() {
                    for (rr, got) in buf.iter().enumerate() {
                        let want = scalar::dot_row(&w, &a, r0 + rr, t);
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{label}: {dtype:?} cols {cols} row {} token {t}{}",
                            r0 + rr,
                            if extreme { " (extreme)" } else { "" }
                        );
                    }
                }
            }
        }
    }
}
