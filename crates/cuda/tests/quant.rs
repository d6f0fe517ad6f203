//! The host build of the CUDA kernels' activation quantization and per-row dot products (every
//! weight type the engine runs) against the engine's scalar reference, bit for bit.
#![allow(clippy::unwrap_used)]

mod common;

use aikernel_cuda::host::{QuantBlocks, matmul, quantize, row_bytes};
use aikernel_engine::gguf::GgmlType;
use aikernel_engine::kernels::{Acts, WEIGHT_TYPES, WeightView, reference};
use common::{Rng, same};

/// Activation rows with the cases quantization must agree on: ordinary values, wide
/// magnitudes, all-zero blocks, subnormal blocks, exact ties after division, infinities,
/// NaN, the largest finite values.
fn activations(rng: &mut Rng, ntok: usize, cols: usize) -> Vec<f32> {
    let mut x: Vec<f32> = (0..ntok * cols).map(|_| rng.unit() * 3.0).collect();
    for (b, blk) in x.chunks_exact_mut(32).enumerate() {
        match b % 11 {
            1 => blk.iter_mut().for_each(|v| *v = rng.wide(30)),
            2 => blk.fill(0.0),
            3 => blk
                .iter_mut()
                .for_each(|v| *v = f32::from_bits(rng.next() as u32 & 0x807f_ffff)),
            4 => {
                // amax 127 makes d = 1: k + 0.5 are exact ties.
                for (i, v) in blk.iter_mut().enumerate() {
                    *v = (i as f32 - 16.0) * 4.0 + 0.5;
                }
                blk[0] = 127.0;
            }
            5 => blk[7] = f32::INFINITY,
            6 => blk[3] = f32::NAN,
            7 => blk.iter_mut().for_each(|v| *v = f32::MAX * rng.unit()),
            8 => blk.iter_mut().for_each(|v| *v = rng.unit() * 1e-30),
            _ => {}
        }
    }
    x
}

#[test]
fn quantize_matches_engine() {
    let mut rng = Rng::new(11);
    for cols in [32usize, 64 * 32, 11 * 32] {
        let x = activations(&mut rng, 3, cols);
        let a = Acts::new(&x, cols);
        let got = quantize(&x).unwrap();
        assert_eq!(got.q, a.q, "cols {cols}");
        assert_eq!(got.s, a.s, "cols {cols}");
        for (b, (g, w)) in got.d.iter().zip(&a.d).enumerate() {
            assert!(same(*g, *w), "cols {cols} block {b}: d {g:e} vs {w:e}");
        }
    }
}

/// Random weight rows of `dtype`: random bytes, with the f16 factors set to finite values of
/// varied magnitude (and some zero) unless `raw`, where every byte is random (f16 NaN and
/// infinity included).
fn weights(rng: &mut Rng, dtype: GgmlType, rows: usize, cols: usize, raw: bool) -> Vec<u8> {
    let rb = row_bytes(dtype.id(), cols);
    let mut w: Vec<u8> = (0..rows * rb).map(|_| rng.byte()).collect();
    if raw {
        return w;
    }
    let (bs, offs): (usize, &[usize]) = match dtype {
        GgmlType::F32 | GgmlType::F16 => (0, &[]),
        GgmlType::Q4_0 => (18, &[0]),
        GgmlType::Q4_1 => (20, &[0, 2]),
        GgmlType::Q5_0 => (22, &[0]),
        GgmlType::Q5_1 => (24, &[0, 2]),
        GgmlType::Q8_0 => (34, &[0]),
        GgmlType::Q4_K => (144, &[0, 2]),
        GgmlType::Q5_K => (176, &[0, 2]),
        GgmlType::Q6_K => (210, &[208]),
        _ => unreachable!(),
    };
    let f16 = |rng: &mut Rng| -> [u8; 2] {
        let v = if rng.next().is_multiple_of(13) {
            0.0
        } else {
            rng.wide(10) * 0.05
        };
        aikernel_engine::f16::f32_to_f16(v).to_le_bytes()
    };
    match dtype {
        GgmlType::F32 => {
            for c in w.chunks_exact_mut(4) {
                c.copy_from_slice(&rng.wide(12).to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for c in w.chunks_exact_mut(2) {
                c.copy_from_slice(&f16(rng));
            }
        }
        _ => {
            for blk in w.chunks_exact_mut(bs) {
                for &o in offs {
                    blk[o..o + 2].copy_from_slice(&f16(rng));
                }
            }
        }
    }
    w
}

#[test]
fn dot_products_match_engine_for_every_weight_type() {
    let mut rng = Rng::new(12);
    for &dtype in WEIGHT_TYPES {
        let k = matches!(dtype, GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K);
        let float = matches!(dtype, GgmlType::F32 | GgmlType::F16);
        let mut shapes = vec![
            (if k { 256 } else { 32 }, false),
            (if k { 768 } else { 576 }, false),
            (512, true),
        ];
        if float {
            // Rows that end in part of a block.
            shapes.push((40, true));
        }
        for (cols, raw) in shapes {
            // 11 tokens: tiles of 3 and 8 end in a part tile.
            let (rows, ntok) = (9, 11);
            let w = weights(&mut rng, dtype, rows, cols, raw);
            let x = if raw {
                (0..ntok * cols).map(|_| rng.unit()).collect()
            } else {
                activations(&mut rng, ntok, cols)
            };
            let a = Acts::new(&x, cols);
            let view = WeightView {
                dtype,
                rows,
                cols,
                data: &w,
            };
            let blocks = QuantBlocks {
                q: a.q.clone(),
                d: a.d.clone(),
                s: a.s.clone(),
            };
            if cols.is_multiple_of(32) {
                // The kernels' own quantization gives the same blocks, hence the same products.
                assert_eq!(quantize(&x).unwrap().q, a.q);
            }
            // One thread per row and 1, 3 or 8 tokens: the same bits each time.
            for tile in [1, 3, 8] {
                let got = matmul(dtype.id(), &w, rows, cols, tile, &x, &blocks).unwrap();
                for t in 0..ntok {
                    for r in 0..rows {
                        let want = reference::dot_row(&view, &a, r, t);
                        let g = got[t * rows + r];
                        assert!(
                            same(g, want),
                            "{dtype:?} cols {cols} raw {raw} tile {tile} row {r} token {t}: \
                             {g:e} vs {want:e}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn shapes_are_checked() {
    let x = vec![0f32; 64];
    let a = quantize(&x).unwrap();
    assert!(quantize(&x[..33]).is_err());
    assert!(matmul(GgmlType::Q8_0.id(), &[0u8; 33], 1, 32, 1, &x, &a).is_err());
    assert!(matmul(99, &[], 1, 32, 1, &x, &a).is_err());
    assert!(matmul(GgmlType::Q4_K.id(), &[0u8; 144], 1, 256, 1, &x, &a).is_err());
    for tile in [0, 9] {
        let err = matmul(GgmlType::Q8_0.id(), &[0u8; 34], 1, 32, tile, &x, &a).unwrap_err();
        assert!(err.to_string().contains("tile"), "{err}");
    }
}
