//! Tests of the Q5 and K-quant layouts and rules: dequantization of hand-made blocks against
//! values computed by hand from ggml's `dequantize_row_*`, the dot-product rule against the
//! dequantized values, and every kernel against the scalar reference (property test).
// The expected values are exact: a dequantized value is one or two rounded products of small
// integers and powers of two.
#![allow(clippy::float_cmp)]

use proptest::prelude::*;

use super::testdata::{ALL_TYPES, block_values, bytes, weights};
use super::{Acts, Ctx, Kernel, WeightView, dequant_row, kquant, matmul, scalar};
use crate::gguf::GgmlType;

const ONE: [u8; 2] = [0x00, 0x3C];
const HALF: [u8; 2] = [0x00, 0x38];

fn dequant(dtype: GgmlType, blk: &[u8]) -> Vec<f32> {
    let cols = block_values(dtype);
    let w = WeightView {
        dtype,
        rows: 1,
        cols,
        data: blk,
    };
    let mut out = vec![f32::NAN; cols];
    dequant_row(&w, 0, &mut out);
    out
}

#[test]
fn q5_blocks_dequantize_as_ggml() {
    // d = 0.5; high bits: value 0 (bit 0) and value 17 (bit 17).
    let mut b = vec![0u8; 22];
    b[..2].copy_from_slice(&HALF);
    b[2..6].copy_from_slice(&(1u32 | 1 << 17).to_le_bytes());
    b[6] = 0x21; // value 0: nibble 1, value 16: nibble 2
    b[7] = 0x3F; // value 1: 15, value 17: 3
    let y = dequant(GgmlType::Q5_0, &b);
    // ((q | hbit) − 16) · d
    assert_eq!(
        (y[0], y[16], y[1], y[17], y[2]),
        (0.5, -7.0, -0.5, 1.5, -8.0)
    );
    // Q5_1: d = 0.5, m = 1, same bits: q · d + m.
    let mut b1 = vec![0u8; 24];
    b1[..2].copy_from_slice(&HALF);
    b1[2..4].copy_from_slice(&ONE);
    b1[4..].copy_from_slice(&b[2..]);
    let y = dequant(GgmlType::Q5_1, &b1);
    assert_eq!((y[0], y[16], y[1], y[17], y[2]), (9.5, 2.0, 8.5, 10.5, 1.0));
}

#[test]
fn k4_blocks_dequantize_as_ggml() {
    // d = 1, dmin = 0.5. Sub-block 0: sc 1, m 2; sub-block 1: sc 7, m 9 (top bits of bytes 1
    // and 5 feed sub-block 5); sub-block 5: sc 35 = 3 | 2 << 4, m 49 = 1 | 3 << 4.
    let mut b = vec![0u8; 176];
    b[..2].copy_from_slice(&ONE);
    b[2..4].copy_from_slice(&HALF);
    let sc = &mut b[4..16];
    sc[0] = 1;
    sc[4] = 2;
    sc[1] = 2 << 6 | 7;
    sc[5] = 3 << 6 | 9;
    sc[9] = 1 << 4 | 3;
    assert_eq!(kquant::k4_scale_min(sc, 1), (7, 9));
    assert_eq!(kquant::k4_scale_min(sc, 5), (35, 49));
    let mut q4 = b[..144].to_vec();
    q4[16] = 0xA3; // sub-block 0 value 0: 3; sub-block 1 value 0: 10
    q4[16 + 64 + 2] = 0x40; // sub-block 5 value 2: 4
    let y = dequant(GgmlType::Q4_K, &q4);
    // (d · sc) · q − dmin · m
    assert_eq!((y[0], y[32], y[160 + 2], y[1]), (2.0, 65.5, 115.5, -1.0));
    // Sub-block 4: scale and minimum 0 (byte 8 and the top bits of bytes 0 and 4 are 0).
    assert_eq!(kquant::k4_scale_min(&q4[4..16], 4), (0, 0));
    assert_eq!(y[128], 0.0);
    // Q5_K: the same plus high bits: value 0 of sub-block 1 (bit 1 of qh[0]).
    let mut q5 = b.clone();
    q5[48] = 0xA3;
    q5[48 + 64 + 2] = 0x40;
    q5[16] = 0b10;
    q5[16 + 2] = 1 << 5; // sub-block 5 value 2
    let y = dequant(GgmlType::Q5_K, &q5);
    assert_eq!((y[0], y[32], y[160 + 2], y[1]), (2.0, 177.5, 675.5, -1.0));
}

#[test]
fn q6k_block_dequantizes_as_ggml() {
    let mut b = vec![0u8; 210];
    b[208..].copy_from_slice(&HALF);
    b[0] = 0x75; // value 0: nibble 5; value 64: nibble 7
    b[128] = 0b0010_0001; // value 0: top bits 1; value 64: top bits 2
    b[128 + 16] = 0b11; // value 16: top bits 3
    b[97] = 0x0C; // value 161 (half 1, quarter 1, l 1): nibble 12
    b[128 + 33] = 0b0100; // its top bits: 1
    let sc = [(0, 2i8), (1, -3), (4, 5), (10, -1), (2, 1)];
    for (i, s) in sc {
        b[192 + i] = s as u8;
    }
    let y = dequant(GgmlType::Q6_K, &b);
    // (d · sc) · (q − 32)
    assert_eq!(y[0], 1.0 * -11.0);
    assert_eq!(y[16], -1.5 * 16.0);
    assert_eq!(y[64], 2.5 * 7.0);
    assert_eq!(y[161], -0.5 * -4.0);
    assert_eq!(y[32], 0.5 * -32.0);
}

/// The scalar dot product is the dequantized weights times the dequantized activations,
/// up to f32 rounding.
#[test]
fn dot_matches_dequantized_product() {
    for &dtype in ALL_TYPES {
        let cols = 512;
        let data = weights(dtype, 3, cols, 11, false);
        let w = WeightView {
            dtype,
            rows: 3,
            cols,
            data: &data,
        };
        let x: Vec<f32> = bytes(5, cols)
            .iter()
            .map(|&b| (f32::from(b) - 128.0) / 9.0)
            .collect();
        let a = Acts::new(&x, cols);
        for r in 0..3 {
            let mut wr = vec![0f32; cols];
            dequant_row(&w, r, &mut wr);
            let (mut want, mut mag) = (0f64, 0f64);
            for (i, &wi) in wr.iter().enumerate() {
                let ai = f64::from(a.q[i]) * f64::from(a.d[i / 32]);
                want += f64::from(wi) * ai;
                mag += (f64::from(wi) * ai).abs();
            }
            let got = f64::from(scalar::dot_row(&w, &a, r, 0));
            assert!(
                (got - want).abs() <= 1e-5 * mag,
                "{dtype:?} row {r}: {got} vs {want}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Every kernel this CPU runs gives the scalar reference's bits for every quantized type,
    /// any row count (SIMD groups and scalar tails), token count and thread count.
    #[test]
    fn kernels_match_scalar(
        t in 0..ALL_TYPES.len(),
        seed in any::<u64>(),
        rows in 1usize..41,
        blocks in 1usize..4,
        n in 1usize..4,
        threads in 1usize..4,
        extreme in any::<bool>(),
    ) {
        let dtype = ALL_TYPES[t];
        let cols = blocks * block_values(dtype);
        let data = weights(dtype, rows, cols, seed, extreme);
        let w = WeightView { dtype, rows, cols, data: &data };
        let x: Vec<f32> = bytes(seed ^ 0x5555, n * cols)
            .iter()
            .map(|&b| if extreme { -3.0 } else { (f32::from(b) - 128.0) / 13.0 })
            .collect();
        let a = Acts::new(&x, cols);
        let mut want = vec![0f32; n * rows];
        matmul(&Ctx::new(1, Kernel::Scalar).unwrap(), &w, &a, &mut want);
        for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
            let mut got = vec![0f32; n * rows];
            matmul(&Ctx::new(threads, kernel).unwrap(), &w, &a, &mut got);
            let (gb, wb): (Vec<u32>, Vec<u32>) =
                (got.iter().map(|v| v.to_bits()).collect(), want.iter().map(|v| v.to_bits()).collect());
            prop_assert_eq!(gb, wb, "{} {:?} rows {} cols {} n {}", kernel, dtype, rows, cols, n);
        }
    }
}
