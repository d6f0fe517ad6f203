//! Weight matrices as the kernels read them: views into the memory map, the f16 table,
//! which types the matmul kernels run, and dequantization of one row.

use std::sync::OnceLock;

use super::{QK, kquant, scalar};
use crate::gguf::GgmlType;

/// The f16 → f32 table (64K entries), built once.
pub(crate) fn f16_lut() -> &'static [f32] {
    static LUT: OnceLock<Vec<f32>> = OnceLock::new();
    LUT.get_or_init(|| (0..=u16::MAX).map(crate::f16::f16_to_f32).collect())
}

/// Reads a little-endian f16 at `b[0..2]` as f32.
#[inline]
pub(crate) fn f16_at(lut: &[f32], b: &[u8]) -> f32 {
    lut[u16::from_le_bytes([b[0], b[1]]) as usize]
}

/// A weight matrix view: `rows` rows of `cols` elements in `dtype`.
#[derive(Debug, Clone, Copy)]
pub struct WeightView<'a> {
    /// Element type.
    pub dtype: GgmlType,
    /// Output rows.
    pub rows: usize,
    /// Row length.
    pub cols: usize,
    /// Raw row-major data.
    pub data: &'a [u8],
}

impl WeightView<'_> {
    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        match self.dtype {
            GgmlType::F32 => self.cols * 4,
            GgmlType::F16 => self.cols * 2,
            GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => {
                self.cols / kquant::QK_K * kquant::block_bytes(self.dtype)
            }
            t => self.cols / QK * kquant::block_bytes(t),
        }
    }
}

/// Every weight type the engine runs (F32 and F16 only as dense rows; the quantized ones
/// when a row holds whole blocks), for error messages and `aikernel model info`.
pub const WEIGHT_TYPES: &[GgmlType] = &[
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Whether the matmul kernels run quantized weights of `dtype` with rows of `cols` values:
/// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (rows a multiple of 32) and Q4_K, Q5_K, Q6_K (of 256).
pub fn runs_quantized(dtype: GgmlType, cols: usize) -> bool {
    match dtype {
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0 => {
            cols.is_multiple_of(QK)
        }
        GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => cols.is_multiple_of(kquant::QK_K),
        _ => false,
    }
}

/// Dequantizes row `r` of `w` into `out` (`cols` values).
pub fn dequant_row(w: &WeightView<'_>, r: usize, out: &mut [f32]) {
    scalar::dequant_row(w, r, out);
}
