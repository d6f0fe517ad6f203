//! Deterministic GGUF quantization to Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K or the
//! Q4_K_M mix.
//!
//! Rule: every F32/F16 tensor with exactly two dimensions whose rows are a whole number of
//! 32-element blocks becomes the target type, except `token_embd.weight` and
//! `output.weight`, which become Q8_0 under every other target (as in the default
//! model: the embedding doubles as the output head and is the most sensitive matrix).
//! Under a K-quant target, rows that are not a whole number of 256-value super-blocks take
//! llama.cpp's fallback (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0).
//! 1-D tensors (norms, biases), other shapes and already-quantized tensors are copied
//! unchanged. The result is the same bytes on every machine: see [`blocks`] for the
//! rounding rules.

pub mod blocks;
pub mod kblocks;

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
    /// 5-bit, one f16 scale per 32 values.
    Q5_0,
    /// 5-bit, f16 scale and minimum per 32 values.
    Q5_1,
    /// 4-bit K-quant (256-value super-blocks); rows not a multiple of 256 become Q5_0.
    Q4_K,
    /// 5-bit K-quant; rows not a multiple of 256 become Q5_1.
    Q5_K,
    /// 6-bit K-quant; rows not a multiple of 256 become Q8_0.
    Q6_K,
    /// llama.cpp's Q4_K_M mix: Q4_K, with `attn_v` and `ffn_down` of the first and last eighth
    /// of the layers and of every third layer between them in Q6_K (its `use_more_bits`).
    Q4_K_M,
}

impl QuantType {
    /// The ggml tensor type.
    pub fn ggml_type(self) -> GgmlType {
        match self {
            QuantType::Q8_0 => GgmlType::Q8_0,
            QuantType::Q4_0 => GgmlType::Q4_0,
            QuantType::Q4_1 => GgmlType::Q4_1,
            QuantType::Q5_0 => GgmlType::Q5_0,
            QuantType::Q5_1 => GgmlType::Q5_1,
            QuantType::Q4_K | QuantType::Q4_K_M => GgmlType::Q4_K,
            QuantType::Q5_K => GgmlType::Q5_K,
            QuantType::Q6_K => GgmlType::Q6_K,
        }
    }

    /// llama.cpp's `general.file_type` (`LLAMA_FTYPE_MOSTLY_*`).
    pub fn file_type(self) -> u32 {
        match self {
            QuantType::Q8_0 => 7,
            QuantType::Q4_0 => 2,
            QuantType::Q4_1 => 3,
            QuantType::Q5_0 => 8,
            QuantType::Q5_1 => 9,
            QuantType::Q4_K => 14,
            QuantType::Q4_K_M => 15,
            QuantType::Q5_K => 16,
            QuantType::Q6_K => 18,
        }
    }

    /// Every target, for listings and tests.
    pub const ALL: [QuantType; 9] = [
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q4_K_M,
    ];

    /// The name (`"Q4_K_M"`).
    pub fn name(self) -> &'static str {
        match self {
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q4_0 => "Q4_0",
            QuantType::Q4_1 => "Q4_1",
            QuantType::Q5_0 => "Q5_0",
            QuantType::Q5_1 => "Q5_1",
            QuantType::Q4_K => "Q4_K",
            QuantType::Q5_K => "Q5_K",
            QuantType::Q6_K => "Q6_K",
            QuantType::Q4_K_M => "Q4_K_M",
        }
    }

    /// Values per block.
    fn block(self) -> usize {
        match self.ggml_type() {
            GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => kblocks::SUPER_BLOCK,
            _ => blocks::BLOCK,
        }
    }

    /// The type used for rows that are not a whole number of this type's blocks (llama.cpp's
    /// fallbacks), or `None` when there is none.
    fn fallback(self) -> Option<QuantType> {
        match self {
            QuantType::Q4_K | QuantType::Q4_K_M => Some(QuantType::Q5_0),
            QuantType::Q5_K => Some(QuantType::Q5_1),
            QuantType::Q6_K => Some(QuantType::Q8_0),
            _ => None,
        }
    }

    fn quantize(self, x: &[f32], out: &mut Vec<u8>) {
        match self {
            QuantType::Q8_0 => blocks::quantize_q8_0(x, out),
            QuantType::Q4_0 => blocks::quantize_q4_0(x, out),
            QuantType::Q4_1 => blocks::quantize_q4_1(x, out),
            QuantType::Q5_0 => kblocks::quantize_q5_0(x, out),
            QuantType::Q5_1 => kblocks::quantize_q5_1(x, out),
            QuantType::Q4_K | QuantType::Q4_K_M => kblocks::quantize_q4_k(x, out),
            QuantType::Q5_K => kblocks::quantize_q5_k(x, out),
            QuantType::Q6_K => kblocks::quantize_q6_k(x, out),
        }
    }
}

impl fmt::Display for QuantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for QuantType {
    type Err = QuantizeError;

    fn from_str(s: &str) -> Result<QuantType, QuantizeError> {
        let upper = s.to_ascii_uppercase();
        QuantType::ALL
            .into_iter()
            .find(|q| q.name() == upper)
            .ok_or_else(|| QuantizeError::UnknownType(s.to_owned()))
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
    #[error(
        "unknown quantization type {0:?} (expected Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K or Q4_K_M)"
    )]
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
/// `n_layers` (the model's block count) places Q4_K_M's Q6_K layers.
pub fn target_type(info: &Tensor<'_>, target: QuantType, n_layers: u32) -> Option<QuantType> {
    let float = matches!(info.dtype, GgmlType::F32 | GgmlType::F16);
    if !float || info.dims.len() != 2 || !info.dims[0].is_multiple_of(blocks::BLOCK as u64) {
        return None;
    }
    let embedding = matches!(info.name, "token_embd.weight" | "output.weight");
    let t = if embedding && target != QuantType::Q8_0 {
        QuantType::Q8_0
    } else if target == QuantType::Q4_K_M && more_bits(info.name, n_layers) {
        QuantType::Q6_K
    } else {
        target
    };
    if info.dims[0].is_multiple_of(t.block() as u64) {
        Some(t)
    } else {
        t.fallback()
    }
}

/// llama.cpp's `use_more_bits` for `attn_v` and `ffn_down` of layer `i` of `n`: the first and
/// last eighth, and every third layer between them.
fn more_bits(name: &str, n: u32) -> bool {
    let Some((layer, rest)) = name.strip_prefix("blk.").and_then(|r| r.split_once('.')) else {
        return false;
    };
    let Ok(i) = layer.parse::<u32>() else {
        return false;
    };
    matches!(rest, "attn_v.weight" | "ffn_down.weight")
        && (i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2)
}

/// Quantizes every eligible tensor of `input` and writes a GGUF v3 file to `out`:
/// metadata copied (sorted by key), `general.file_type` and
/// `general.quantization_version` (2) set, tensors in input order.
pub fn quantize_gguf(
    input: &GgufFile,
    target: QuantType,
    out: &mut impl Write,
) -> Result<QuantizeReport, QuantizeError> {
    quantize_impl(input, target, false, out)
}

/// [`quantize_gguf`] that also converts tensors already quantized (any type the kernels
/// run), dequantized first (ggml's dequantization formulas), as `llama-quantize
/// --allow-requantize` does. A tensor already in the type the rule gives it is copied.
/// Requantizing adds the rounding of both types: for tests and experiments, not for models
/// people should use.
pub fn requantize_gguf(
    input: &GgufFile,
    target: QuantType,
    out: &mut impl Write,
) -> Result<QuantizeReport, QuantizeError> {
    quantize_impl(input, target, true, out)
}

fn quantize_impl(
    input: &GgufFile,
    target: QuantType,
    requantize: bool,
    out: &mut impl Write,
) -> Result<QuantizeReport, QuantizeError> {
    let n_layers = input
        .meta_str("general.architecture")
        .and_then(|arch| input.meta_u32(&format!("{arch}.block_count")))
        .unwrap_or(0);
    let mut w = GgufWriter::new();
    for (k, v) in input.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    w.add_metadata("general.file_type", MetaValue::U32(target.file_type()));
    w.add_metadata("general.quantization_version", MetaValue::U32(2));
    let mut report = QuantizeReport::default();
    for info in input.tensors() {
        let t = input.view(info);
        let quantized = requantize
            && t.dims.len() == 2
            && crate::kernels::runs_quantized(t.dtype, t.dims[0] as usize);
        let as_float = Tensor {
            dtype: GgmlType::F32,
            ..t
        };
        let rule = target_type(if quantized { &as_float } else { &t }, target, n_layers);
        match rule.filter(|q| q.ggml_type() != t.dtype) {
            None => {
                report.copied.push(t.name.to_owned());
                w.add_tensor(t.name, t.dims, t.dtype, t.data)?;
            }
            Some(q) => {
                let x = if quantized {
                    dequantize(&t)
                } else {
                    to_f32(&t)?
                };
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

/// Dequantizes a 2-D tensor of a type the kernels run.
fn dequantize(t: &Tensor<'_>) -> Vec<f32> {
    let (cols, rows) = (t.dims[0] as usize, t.dims[1] as usize);
    let w = crate::kernels::WeightView {
        dtype: t.dtype,
        rows,
        cols,
        data: t.data,
    };
    let mut x = vec![0f32; rows * cols];
    for (r, row) in x.chunks_exact_mut(cols).enumerate() {
        crate::kernels::dequant_row(&w, r, row);
    }
    x
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
