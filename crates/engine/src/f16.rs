//! IEEE binary16 conversions by bit manipulation, identical on every machine.
//!
//! `f32_to_f16` rounds to nearest, ties to even (as IEEE and ggml's reference converter do);
//! overflow gives infinity, NaN stays NaN (quiet). `f16_to_f32` is exact.

/// Converts binary16 bits to an `f32` (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if mant == 0 => sign,
        // Subnormal: mant * 2^-24, exact in f32.
        0 => sign | (mant as f32 * (1.0 / 16_777_216.0)).to_bits(),
        0x1f => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// Converts an `f32` to binary16 bits, rounding to nearest with ties to even.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return if mant == 0 {
            sign | 0x7c00
        } else {
            sign | 0x7e00 | (mant >> 13) as u16
        };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Result is subnormal or zero. f32 subnormals (exp == 0) are far below half the
        // smallest f16 subnormal and round to zero here too.
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        return sign | round_shift(m, shift) as u16;
    }
    // Rounding may carry into the exponent, which is right (up to infinity).
    sign | round_shift(((e as u32) << 23) | mant, 13) as u16
}

/// `m >> shift` rounded to nearest, ties to even.
fn round_shift(m: u32, shift: u32) -> u32 {
    let h = m >> shift;
    let rem = m & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && h & 1 == 1) {
        h + 1
    } else {
        h
    }
}

/// Decodes little-endian binary16 values.
pub fn f16_bytes_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
        .collect()
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn every_f16_round_trips() {
        for h in 0..=u16::MAX {
            let x = f16_to_f32(h);
            if x.is_nan() {
                assert!(f16_to_f32(f32_to_f16(x)).is_nan());
            } else {
                assert_eq!(f32_to_f16(x), h, "h={h:#06x} x={x}");
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(65504.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00); // ties to even rounds up to infinity
        assert_eq!(f32_to_f16(65519.99), 0x7bff);
        assert_eq!(f32_to_f16(1e-8), 0); // below half the smallest subnormal
        assert_eq!(f32_to_f16(5.960_464_5e-8), 1); // smallest subnormal
        assert_eq!(f32_to_f16(2.980_232_2e-8), 0); // exactly half: ties to even (0)
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00); // tie, even stays
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02); // tie, odd rounds up
    }

    #[test]
    fn rounds_to_nearest_on_a_sweep() {
        // Walk f32 bit patterns across the f16 range with an odd stride.
        let mut bits: u32 = 0x3300_0000;
        while bits < 0x477f_e000 {
            let x = f32::from_bits(bits);
            let h = f32_to_f16(x);
            let err = (f64::from(f16_to_f32(h)) - f64::from(x)).abs();
            for n in [h.wrapping_sub(1), h + 1] {
                if f16_to_f32(n).is_nan() {
                    continue;
                }
                let other = (f64::from(f16_to_f32(n)) - f64::from(x)).abs();
                assert!(
                    err < other || (err == other && h & 1 == 0),
                    "x={x} h={h:#x}"
                );
            }
            bits += 4099;
        }
    }
}
