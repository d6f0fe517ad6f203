//! Bit-for-bit comparison of the NEON kernels (both integer paths) with the scalar
//! reference, and of `fcvtl` with the f16 table. Runs on aarch64 (or under qemu-aarch64).

use std::arch::aarch64::{vcvt_f32_f16, vdup_n_u16, vgetq_lane_f32, vreinterpret_f16_u16};

use super::super::f16_lut;
use super::super::testdata::{BASE_TYPES, assert_group_matches_scalar};

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
        assert_group_matches_scalar(8, label, BASE_TYPES, |w, a, r0, outs| {
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
