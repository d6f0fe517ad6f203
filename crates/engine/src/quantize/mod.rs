//! Deterministic GGUF quantization to Q8_0, Q4_0 or Q4_1.
//!
//! Rule: every F32/F16 tensor with exactly two dimensions whose rows are a whole number of
//! 32-element blocks becomes the target type, except `token_embd.weight` and
//! `output.weight`, which become Q8_0 when the target is a 4-bit type (as in the default
//! model: the embedding doubles as the output head and is the most sensitive matrix).
//! 1-D tensors (norms, biases), other shapes and already-quantized tensors are copied
//! unchanged. The result is the same bytes on every machine: see [`blocks`] for the
//! rounding rules.

pub mod blocks;

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use crate::f16::f16_to_f32;
use crate::gguf::{GgmlType, GgufError, GgufFile, GgufWriter, MetaValue, Tensor};

/// Quantization targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum QuantType {
    /// 8-bit, one f16 scale per 32 values.
    Q8_0,
    /// 4-bit, one f16 scale per 32 values.
    Q4_0,
    /// 4-bit, f16 scale and minimum per 32 values.
    Q4_1,
}

impl QuantType {
    /// The ggml tensor type.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            QuantType::Q8_0 => GgmlType::Q8_0,
            QuantType::Q4_0 => GgmlType::Q4_0,
            QuantType::Q4_1 => GgmlType::Q4_1,
        }
    }

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`).
    pub fn file_type(self) -> u32 {
        match self {
            QuantType::Q8_0 => 7,
            QuantType::Q4_0 => 2,
            QuantType::Q4_1 => 3,
        }
    }

    fn quantize(self, x: &[f32], out: &mut Vec<u8>) {
        match self {
            QuantType::Q8_0 => blocks::quantize_q8_0(x, out),
            QuantType::Q4_0 => blocks::quantize_q4_0(x, out),
            QuantType::Q4_1 => blocks::quantize_q4_1(x, out),
        }
    }
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q4_0 => "Q4_0",
            QuantType::Q4_1 => "Q4_1",
        })
    }
}

impl FromStr for QuantType {
    type Err = QuantizeError;

    fn from_str(s: &str) -> Result<QuantType, QuantizeError> {
        match s.to_ascii_uppercase().as_str() {
            "Q8_0" => Ok(QuantType::Q8_0),
            "Q4_0" => Ok(QuantType::Q4_0),
            "Q4_1" => Ok(QuantType::Q4_1),
            _ => Err(QuantizeError::UnknownType(s.to_owned())),
        }
    }
}

/// Why quantization failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuantizeError {
    /// Reading the input or writing the output failed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A weight is NaN or infinite: there is no meaningful scale for its block.
    #[error("tensor {tensor:?} holds a non-finite value at element {index}")]
    NonFinite {
        /// The tensor.
        tensor: String,
        /// Element index.
        index: usize,
    },
    /// Not a quantization target name.
    #[error("unknown quantization type {0:?} (expected Q8_0, Q4_0 or Q4_1)")]
    UnknownType(String),
}

/// What [`quantize_gguf`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QuantizeReport {
    /// Tensors converted, with their new type.
    pub quantized: Vec<(String, GgmlType)>,
    /// Tensors copied unchanged.
    pub copied: Vec<String>,
    /// Bytes written.
    pub bytes_written: u64,
}

/// The type a tensor gets under the rule in the module docs, or `None` to copy it.
pub fn target_type(info: &Tensor<'_>, target: QuantType) -> Option<QuantType> {
    let float = matches!(info.dtype, GgmlType::F32 | GgmlType::F16);
    if !float || info.dims.len() != 2 || !info.dims[0].is_multiple_of(blocks::BLOCK as u64) {
        return None;
    }
    let embedding = matches!(info.name, "token_embd.weight" | "output.weight");
    Some(if embedding && target != QuantType::Q8_0 {
        QuantType::Q8_0
    } else {
        target
    })
}

/// Quantizes every eligible tensor of `input` and writes a GGUF v3 file to `out`:
/// metadata copied (sorted by key), `general.file_type` and
/// `general.quantization_version` (2) set, tensors in input order.
pub fn quantize_gguf(
    input: &GgufFile,
    target: QuantType,
    out: &mut impl Write,
) -> Result<QuantizeReport, QuantizeError> {
    let mut w = GgufWriter::new();
    for (k, v) in input.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    w.add_metadata("general.file_type", MetaValue::U32(target.file_type()));
    w.add_metadata("general.quantization_version", MetaValue::U32(2));
    let mut report = QuantizeReport::default();
    for info in input.tensors() {
        let t = input.view(info);
        match target_type(&t, target) {
            None => {
                report.copied.push(t.name.to_owned());
                w.add_tensor(t.name, t.dims, t.dtype, t.data)?;
            }
            Some(q) => {
                let x = to_f32(&t)?;
                let blocks = x.len() / blocks::BLOCK;
                let mut bytes = Vec::with_capacity(blocks * q.ggml_type().type_size());
                q.quantize(&x, &mut bytes);
                report.quantized.push((t.name.to_owned(), q.ggml_type()));
                w.add_tensor(t.name, t.dims, q.ggml_type(), bytes)?;
            }
        }
    }
    report.bytes_written = w.write(out)?;
    Ok(report)
}

/// Reads an F32 or F16 tensor as f32 values, rejecting NaN and infinities.
fn to_f32(t: &Tensor<'_>) -> Result<Vec<f32>, QuantizeError> {
    let x: Vec<f32> = match t.dtype {
        GgmlType::F16 => t
            .data
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => t
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    };
    if let Some(index) = x.iter().position(|v| !v.is_finite()) {
        return Err(QuantizeError::NonFinite {
            tensor: t.name.to_owned(),
            index,
        });
    }
    Ok(x)
}
