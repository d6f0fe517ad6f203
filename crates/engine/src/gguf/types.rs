//! GGUF value, tensor and element types.

use std::fmt;

use super::GgufError;

/// A ggml tensor element type. The quantized types store blocks of `block_size()` elements
/// in `type_size()` bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// IEEE binary32.
    F32,
    /// IEEE binary16.
    F16,
    /// 32 4-bit values with one f16 scale (18 bytes).
    Q4_0,
    /// 32 4-bit values with an f16 scale and an f16 minimum (20 bytes).
    Q4_1,
    /// 32 8-bit values with one f16 scale (34 bytes).
    Q8_0,
    /// 32 5-bit values: f16 scale, 4 bytes of high bits, 16 bytes of nibbles (22 bytes).
    Q5_0,
    /// 32 5-bit values: f16 scale, f16 minimum, high bits, nibbles (24 bytes).
    Q5_1,
    /// 256 4-bit values in eight sub-blocks of 32 with 6-bit scales and minimums under two
    /// f16 super-block factors (144 bytes).
    Q4_K,
    /// [`GgmlType::Q4_K`] plus one high bit per value (176 bytes).
    Q5_K,
    /// 256 6-bit values in sixteen sub-blocks of 16 with i8 scales under one f16 factor
    /// (210 bytes).
    Q6_K,
    /// Any other ggml type id; the parser only accepts ids whose layout is known.
    Other(u32),
}

/// (id, name, block size, bytes per block) for every ggml type id with a known layout.
const LAYOUTS: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 36),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
];

impl GgmlType {
    /// The type for a ggml type id; ids without a known layout give `None`.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        LAYOUTS.iter().find(|l| l.0 == id)?;
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            12 => GgmlType::Q4_K,
            13 => GgmlType::Q5_K,
            14 => GgmlType::Q6_K,
            other => GgmlType::Other(other),
        })
    }

    /// The ggml type id written in GGUF files.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q8_0 => 8,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::Other(id) => id,
        }
    }

    fn layout(self) -> Option<(&'static str, u64, u64)> {
        let id = self.id();
        LAYOUTS.iter().find(|l| l.0 == id).map(|l| (l.1, l.2, l.3))
    }

    /// The ggml name (`"Q4_1"`), or `None` for an unknown id.
    pub fn name(self) -> Option<&'static str> {
        self.layout().map(|l| l.0)
    }

    /// Elements per block (1 for plain types). 0 for an id without a known layout, which
    /// the parser never produces.
    pub fn block_size(self) -> usize {
        self.layout().map_or(0, |l| l.1 as usize)
    }

    /// Bytes per block. 0 for an id without a known layout, which the parser never produces.
    pub fn type_size(self) -> usize {
        self.layout().map_or(0, |l| l.2 as usize)
    }

    /// Bytes taken by a row of `n` elements; `n` must be a whole number of blocks.
    pub fn row_bytes(self, n: u64) -> Result<u64, GgufError> {
        let (name, block, size) = self.layout().ok_or(GgufError::UnknownType(self.id()))?;
        if !n.is_multiple_of(block) {
            return Err(GgufError::PartialBlock {
                n,
                dtype: name.to_owned(),
                block,
            });
        }
        (n / block)
            .checked_mul(size)
            .ok_or(GgufError::Overflow("row size"))
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "type#{}", self.id()),
        }
    }
}

/// A metadata value as stored in GGUF.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Type 0.
    U8(u8),
    /// Type 1.
    I8(i8),
    /// Type 2.
    U16(u16),
    /// Type 3.
    I16(i16),
    /// Type 4.
    U32(u32),
    /// Type 5.
    I32(i32),
    /// Type 10.
    U64(u64),
    /// Type 11.
    I64(i64),
    /// Type 6.
    F32(f32),
    /// Type 12.
    F64(f64),
    /// Type 7.
    Bool(bool),
    /// Type 8, UTF-8.
    Str(String),
    /// Type 9: elements all of one type.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The GGUF value type id.
    pub fn type_id(&self) -> u32 {
        match self {
            MetaValue::U8(_) => 0,
            MetaValue::I8(_) => 1,
            MetaValue::U16(_) => 2,
            MetaValue::I16(_) => 3,
            MetaValue::U32(_) => 4,
            MetaValue::I32(_) => 5,
            MetaValue::F32(_) => 6,
            MetaValue::Bool(_) => 7,
            MetaValue::Str(_) => 8,
            MetaValue::Array(_) => 9,
            MetaValue::U64(_) => 10,
            MetaValue::I64(_) => 11,
            MetaValue::F64(_) => 12,
        }
    }

    /// A short type name for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetaValue::U8(_) => "u8",
            MetaValue::I8(_) => "i8",
            MetaValue::U16(_) => "u16",
            MetaValue::I16(_) => "i16",
            MetaValue::U32(_) => "u32",
            MetaValue::I32(_) => "i32",
            MetaValue::F32(_) => "f32",
            MetaValue::Bool(_) => "bool",
            MetaValue::Str(_) => "string",
            MetaValue::Array(_) => "array",
            MetaValue::U64(_) => "u64",
            MetaValue::I64(_) => "i64",
            MetaValue::F64(_) => "f64",
        }
    }

    /// The value as an `i128` when it is any integer type.
    pub fn as_int(&self) -> Option<i128> {
        Some(match *self {
            MetaValue::U8(v) => v.into(),
            MetaValue::I8(v) => v.into(),
            MetaValue::U16(v) => v.into(),
            MetaValue::I16(v) => v.into(),
            MetaValue::U32(v) => v.into(),
            MetaValue::I32(v) => v.into(),
            MetaValue::U64(v) => v.into(),
            MetaValue::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Where a tensor lives and what it holds, as declared in the GGUF header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, `ne[0]` (the row length, innermost) first, as in GGUF.
    pub dims: Vec<u64>,
    /// Element type.
    pub dtype: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Number of elements (the product of the dims).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of data: rows of `dims[0]` elements times the other dims. Checked.
    pub fn data_bytes(&self) -> Result<u64, GgufError> {
        let row = self.dims.first().copied().unwrap_or(1);
        let mut total = self.dtype.row_bytes(row)?;
        for &d in self.dims.iter().skip(1) {
            total = total
                .checked_mul(d)
                .ok_or(GgufError::Overflow("tensor size"))?;
        }
        Ok(total)
    }
}

/// A borrowed view of one tensor's data inside the file.
#[derive(Debug, Clone, Copy)]
pub struct Tensor<'a> {
    /// Tensor name.
    pub name: &'a str,
    /// Dimensions, `ne[0]` first.
    pub dims: &'a [u64],
    /// Element type.
    pub dtype: GgmlType,
    /// The raw bytes, exactly `data_bytes()` long.
    pub data: &'a [u8],
}
