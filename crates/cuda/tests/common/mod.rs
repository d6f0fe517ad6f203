//! Shared helpers for the host-kernel tests: a seeded generator and bit comparison.
#![allow(dead_code)]

pub(crate) mod engine;
pub(crate) mod golden;
pub(crate) mod toolkit;

/// xorshift64*: deterministic inputs with no dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    /// Uniform in [-1, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Up to `2^span` in magnitude around 1, both signs.
    pub(crate) fn wide(&mut self, span: i32) -> f32 {
        let e = (self.next() % (2 * span as u64 + 1)) as i32 - span;
        self.unit() * f32::from_bits(((127 + e) as u32) << 23)
    }
}

/// Same bits, or both NaN.
pub(crate) fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
