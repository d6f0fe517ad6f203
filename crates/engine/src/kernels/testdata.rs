//! Test data shared by the SIMD kernels' unit tests: pseudo-random quantized blocks.

use super::{Acts, QK, WeightView, kquant, scalar};
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

/// Every quantized type the kernels run.
pub(super) const ALL_TYPES: &[GgmlType] = &[
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Values per block of a quantized type (32, or 256 for the K-quants).
pub(super) fn block_values(dtype: GgmlType) -> usize {
    match dtype {
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => 256,
        _ => QK,
    }
}

/// `rows` rows of `cols / block_values` blocks of `dtype` with finite f16 scales (exponent
/// bits kept below the maximum): random quants, or with `extreme` every quant and sub-block
/// scale at its largest magnitude (Q8_0 −128, 4- and 5-bit values 15 and 31, 6-bit scales 63,
/// Q6_K values −32 with scales −128).
pub(super) fn weights(
    dtype: GgmlType,
    rows: usize,
    cols: usize,
    seed: u64,
    extreme: bool,
) -> Vec<u8> {
    let bs = kquant::block_bytes(dtype);
    // Offsets of the block's f16 factors.
    let halves: &[usize] = match dtype {
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
        GgmlType::Q6_K => &[208],
        _ => &[0, 2],
    };
    let mut data = bytes(seed, rows * cols / block_values(dtype) * bs);
    for blk in data.chunks_mut(bs) {
        if extreme {
            let fill = match dtype {
                GgmlType::Q8_0 => 0x80,
                GgmlType::Q6_K => 0x00,
                _ => 0xFF,
            };
            blk.fill(fill);
            if dtype == GgmlType::Q6_K {
                blk[192..208].fill(0x80);
            }
        }
        for &h in halves {
            // f16 with exponent 8..23: magnitudes about 2^-7..2^8, either sign.
            blk[h + 1] = (blk[h + 1] & 0x83) | 0x20;
        }
    }
    data
}

/// Checks a kernel's group of `group` rows against `scalar::dot_row`, bit for bit: every
/// type in `types`; widths from one block to 48 (K-quants: one to six super-blocks); one to
/// five tokens; random data, and every
/// quant and activation at its largest magnitude; the groups at rows 0 and `group`.
/// `rows(w, a, r0, outs)` computes rows `r0..r0 + group` of token `t` into `outs[t]`;
/// `label` names the kernel variant in a failure.
pub(super) fn assert_group_matches_scalar(
    group: usize,
    label: &str,
    types: &[GgmlType],
    mut rows: impl FnMut(&WeightView<'_>, &Acts<'_>, usize, &mut [&mut [f32]]),
) {
    let cases = [
        (32_usize, 1_usize, false),
        (64, 3, false),
        (576, 1, false),
        (576, 5, false),
        (1536, 2, false),
        (64, 1, true),
        (96, 2, true),
    ];
    for &dtype in types {
        for (cols, n, extreme) in cases {
            let cols = cols.next_multiple_of(block_values(dtype));
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
