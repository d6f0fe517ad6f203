//! Bit-for-bit comparison of the NEON kernels (both integer paths) with the scalar
//! reference, and of `fcvtl` with the f16 table. Runs on aarch64 (or under qemu-aarch64).

use std::arch::aarch64::{vcvt_f32_f16, vdup_n_u16, vgetq_lane_f32, vreinterpret_f16_u16};

use super::super::testdata::{ALL_TYPES, block_values, bytes, weights};
use super::super::{
    Acts, Ctx, Kernel, WeightView, f16_lut, matmul, testdata::assert_group_matches_scalar,
};

#[test]
fn eight_rows_match_the_scalar_reference_on_every_integer_path() {
    assert!(super::available(), "NEON is part of every aarch64 CPU");
    let mut dot_ran = false;
    let mut scratch = super::Scratch::default();
    for dot in [false, true] {
        let label = if dot {
            "neon (sdot if present)"
        } else {
            "neon"
        };
        assert_group_matches_scalar(8, label, ALL_TYPES, |w, a, r0, outs| {
            dot_ran |= super::rows8_with(dot, w, a, r0, outs, 0, &mut scratch);
        });
    }
    assert_eq!(
        dot_ran,
        std::arch::is_aarch64_feature_detected!("dotprod"),
        "the sdot path runs exactly when the CPU has it"
    );
    eprintln!("sdot path tested: {dot_ran}");
}

/// Through `matmul` (groups of eight, then the scalar tail): every quantized type, row
/// counts that are and are not multiples of eight, one to five tokens, one and three
/// threads, random and largest-magnitude data, bit for bit against the scalar kernel.
#[test]
fn matmul_matches_the_scalar_reference_for_every_type_and_row_count() {
    let scalar = Ctx::new(1, Kernel::Scalar).unwrap();
    let neon = [
        Ctx::new(1, Kernel::Neon).unwrap(),
        Ctx::new(3, Kernel::Neon).unwrap(),
    ];
    for &dtype in ALL_TYPES {
        assert!(Kernel::Neon.native(dtype), "{dtype:?} has NEON code");
        for (rows, blocks, extreme) in [
            (8, 2, false),
            (13, 1, false),
            (21, 3, false),
            (5, 1, true),
            (19, 2, true),
        ] {
            let cols = blocks * block_values(dtype);
            let seed = (rows * 131 + blocks) as u64;
            let data = weights(dtype, rows, cols, seed, extreme);
            let w = WeightView {
                dtype,
                rows,
                cols,
                data: &data,
            };
            for n in 1..=5 {
                let x: Vec<f32> = bytes(seed ^ n as u64, n * cols)
                    .iter()
                    .map(|&b| {
                        if extreme {
                            3.0
                        } else {
                            (f32::from(b) - 128.0) / 11.0
                        }
                    })
                    .collect();
                let a = Acts::new(&x, cols);
                let mut want = vec![0f32; n * rows];
                matmul(&scalar, &w, &a, &mut want);
                for ctx in &neon {
                    let mut got = vec![0f32; n * rows];
                    matmul(ctx, &w, &a, &mut got);
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            e.to_bits(),
                            "{dtype:?} rows {rows} cols {cols} n {n} threads {} token {} row {}{}",
                            ctx.threads(),
                            i / rows,
                            i % rows,
                            if extreme { " (extreme)" } else { "" }
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn fcvtl_equals_the_f16_table_after_one_multiplication() {
    let lut = f16_lut();
    for h in 0..=u16::MAX {
        // SAFETY: register-only NEON (part of every aarch64 CPU).
        let v = unsafe { vgetq_lane_f32::<0>(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h)))) };
        let t = lut[h as usize];
        if !t.is_nan() {
            assert_eq!(v.to_bits(), t.to_bits(), "{h:#06x}");
        }
        // The kernels only multiply the scale, which quiets a signalling NaN in both.
        let one = std::hint::black_box(1.0f32);
        assert_eq!((v * one).to_bits(), (t * one).to_bits(), "{h:#06x}");
    }
}
