//! `tanhf`, bit-identical to `libm::tanhf` (musl's algorithm: `expm1f`-based for
//! |x| > 2^-126, `1 - 2/(e+2)` above log(3)/2, ±1 above 10, `x` for subnormals).
//!
//! Used by Gemma 3's GELU and by final-logit soft-capping. Only the scalar reference exists
//! so far (libm itself); a vector port must reproduce libm's operation sequence exactly and
//! be tested against it over a sweep of f32 bit patterns, as `exp` is.

/// `tanhf(x)`, libm's result.
pub(crate) fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}

#[cfg(test)]
#[allow(clippy::float_cmp)]
mod tests {
    use super::tanhf;

    #[test]
    fn matches_libm_on_branch_edges() {
        // The thresholds of musl's branches (bit patterns) and their neighbours.
        for bits in [0x0080_0000u32, 0x3e82_c578, 0x3f0c_9f54, 0x4120_0000] {
            for b in [bits - 1, bits, bits + 1] {
                for x in [f32::from_bits(b), -f32::from_bits(b)] {
                    assert_eq!(tanhf(x).to_bits(), libm::tanhf(x).to_bits());
                }
            }
        }
        assert_eq!(tanhf(0.5), libm::tanhf(0.5));
        assert_eq!(tanhf(20.0), 1.0);
        assert_eq!(tanhf(-20.0), -1.0);
    }
}
