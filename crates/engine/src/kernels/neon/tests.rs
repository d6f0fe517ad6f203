//! Bit-for-bit comparison of the NEON kernels (both integer paths) with the scalar
//! reference, and of `fcvtl` with the f16 table. Runs on aarch64 (or under qemu-aarch64).

use std::arch::aarch64::{vcvt_f32_f16, vdup_n_u16, vgetq_lane_f32, vreinterpret_f16_u16};

use super::super::testdata::{bytes, weights};
use super::super::{Acts, WeightView, f16_lut, scalar};
use crate::gguf::GgmlType;

#[test]
fn eight_rows_match_the_scalar_reference_on_every_integer_path() {
    assert!(super::available(), "NEON is part of every aarch64 CPU");
    let mut dot_ran = false;
    for dtype in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
        for (cols, n, extreme) in [
            (32, 1, false),
            (64, 3, false),
            (576, 1, false),
            (576, 5, false),
            (1536, 2, false),
            (64, 1, true),
            (96, 2, true),
        ] {
            let rows = 16;
            let seed = cols as u64 * 31 + n as u64;
            let data = weights(dtype, rows, cols, seed, extreme);
            let w = WeightView {
                dtype,
                rows,
                cols,
                data: &data,
            };
            // Extreme: every activation quantizes to -127 (products of +128 * 127).
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
            let mut scratch = super::Scratch::default();
            for dot in [false, true] {
                for r0 in [0, 8] {
                    let mut out = vec![0f32; 8 * n];
                    let ran = super::rows8_with(dot, &w, &a, r0, &mut out, &mut scratch);
                    dot_ran |= ran;
                    for rr in 0..8 {
                        for t in 0..n {
                            let want = scalar::dot_row(&w, &a, r0 + rr, t);
                            assert_eq!(
                                out[rr * n + t].to_bits(),
                                want.to_bits(),
                                "{dtype:?} cols {cols} row {} token {t} sdot {ran}",
                                r0 + rr
                            );
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        dot_ran,
        std::arch::is_aarch64_feature_detected!("dotprod"),
        "the sdot path runs exactly when the CPU has it"
    );
    eprintln!("sdot path tested: {dot_ran}");
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
