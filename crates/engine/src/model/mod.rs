//! A model (Llama, Qwen 2, Qwen 3 or Gemma 3, see [`Arch`]) over a memory-mapped GGUF file (weights are
//! views, not copies).

mod arch;
mod attend;
mod config;
mod error;
pub(crate) mod forward;
mod memory;
pub(crate) mod ops;
mod tensors;

use std::path::Path;

pub use arch::{Arch, SUPPORTED_ARCHS};
pub use config::ModelConfig;
pub use error::EngineError;
pub use forward::KvCache;
pub use memory::available_bytes;
pub use tensors::{LayerTensors, ModelTensors, forward_logits};

use crate::gguf::{GgmlType, GgufFile};
use crate::kernels::WeightView;
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// Index of a tensor in the file plus its matrix shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Weight {
    idx: usize,
    dtype: GgmlType,
    rows: usize,
    cols: usize,
}

/// One transformer block's weights.
#[derive(Debug)]
pub(crate) struct Layer {
    pub(crate) attn_norm: Weight,
    pub(crate) wq: Weight,
    pub(crate) wk: Weight,
    pub(crate) wv: Weight,
    pub(crate) wo: Weight,
    pub(crate) ffn_norm: Weight,
    pub(crate) gate: Weight,
    pub(crate) up: Weight,
    pub(crate) down: Weight,
    /// Q, K and V projection biases (F32), each when the file has it (Qwen 2).
    pub(crate) bias: [Option<Weight>; 3],
    /// Per-head Q and K RMSNorm weights, `head_dim` long (Qwen 3, Gemma 3).
    pub(crate) qk_norm: Option<(Weight, Weight)>,
    /// Gemma 3's post-norms (`None` for the others).
    pub(crate) gemma: Option<GemmaNorms>,
}

/// Gemma 3's norms applied to the attention and FFN outputs before their residual add.
#[derive(Debug)]
pub(crate) struct GemmaNorms {
    pub(crate) attn_post: Weight,
    pub(crate) ffn_post: Weight,
}

/// A loaded model: the mapped file, its tokenizer and weight descriptors.
#[derive(Debug)]
pub struct Model {
    gguf: GgufFile,
    tokenizer: Tokenizer,
    /// The BOS and EOS token texts the chat template may print.
    special_texts: (String, String),
    config: ModelConfig,
    pub(crate) embd: Weight,
    pub(crate) output_norm: Weight,
    pub(crate) output: Weight,
    pub(crate) layers: Vec<Layer>,
    /// `(powf(rope_base, -2i/head_dim) / factor_i) · rope_freq_scale` for each rotated pair
    /// (`factor_i` from Llama 3's `rope_freqs.weight`, else 1).
    pub(crate) rope_freqs: Vec<f32>,
    /// The same for sliding-window layers (`rope_base_swa`); empty when no layer slides.
    pub(crate) rope_freqs_swa: Vec<f32>,
}

impl Model {
    /// Maps and validates a GGUF model of a supported architecture.
    pub fn load(path: &Path) -> Result<Model, EngineError> {
        Model::from_gguf(GgufFile::open(path)?)
    }

    /// Builds a model over an already parsed GGUF file.
    pub fn from_gguf(gguf: GgufFile) -> Result<Model, EngineError> {
        let arch = Arch::from_name(gguf.meta_str("general.architecture")?)?;
        // Every size the header claims is checked before anything is sized by it.
        let mut config = ModelConfig::from_gguf(&gguf, arch)?;
        let (n_embd, head_dim) = (config.n_embd, config.head_dim);
        // The vocabulary arrays are read in place from the file (no metadata copy of them).
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let special_texts = crate::template::special_token_texts(&gguf)?;
        let (qd, kv) = (config.q_dim(), config.kv_dim());
        let embd = weight(&gguf, "token_embd.weight", None, n_embd)?;
        if embd.rows != tokenizer.vocab_size() {
            return Err(EngineError::BadTensor {
                tensor: "token_embd.weight".into(),
                reason: format!(
                    "{} rows, the tokenizer has {} tokens",
                    embd.rows,
                    tokenizer.vocab_size()
                ),
            });
        }
        config.vocab_size = embd.rows;
        let output = match weight(&gguf, "output.weight", Some(embd.rows), n_embd) {
            Ok(w) => w,
            Err(EngineError::Gguf(crate::gguf::GgufError::MissingTensor { .. })) => embd,
            Err(e) => return Err(e),
        };
        let output_norm = weight(&gguf, "output_norm.weight", Some(1), n_embd)?;
        let mut layers = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let w = |name: &str, rows: usize, cols: usize| {
                weight(&gguf, &format!("blk.{i}.{name}.weight"), Some(rows), cols)
            };
            let bias = |name: &str, len: usize| {
                optional(weight(&gguf, &format!("blk.{i}.{name}.bias"), Some(1), len))
            };
            layers.push(Layer {
                attn_norm: w("attn_norm", 1, n_embd)?,
                wq: w("attn_q", qd, n_embd)?,
                wk: w("attn_k", kv, n_embd)?,
                wv: w("attn_v", kv, n_embd)?,
                wo: w("attn_output", n_embd, qd)?,
                ffn_norm: w("ffn_norm", 1, n_embd)?,
                gate: w("ffn_gate", config.n_ff, n_embd)?,
                up: w("ffn_up", config.n_ff, n_embd)?,
                down: w("ffn_down", n_embd, config.n_ff)?,
                bias: [
                    bias("attn_q", qd)?,
                    bias("attn_k", kv)?,
                    bias("attn_v", kv)?,
                ],
                qk_norm: if arch.has_qk_norm() {
                    Some((
                        w("attn_q_norm", 1, head_dim)?,
                        w("attn_k_norm", 1, head_dim)?,
                    ))
                } else {
                    None
                },
                gemma: match arch {
                    Arch::Gemma3 => Some(GemmaNorms {
                        attn_post: w("post_attention_norm", 1, n_embd)?,
                        ffn_post: w("post_ffw_norm", 1, n_embd)?,
                    }),
                    _ => None,
                },
            });
        }
        let rope_factors = match arch {
            Arch::Llama => optional(weight(&gguf, "rope_freqs.weight", Some(1), head_dim / 2))?,
            _ => None,
        };
        let mut vectors = vec![output_norm];
        vectors.extend(rope_factors);
        for l in &layers {
            vectors.extend([l.attn_norm, l.ffn_norm]);
            vectors.extend(l.bias.iter().flatten());
            vectors.extend(l.qk_norm.iter().flat_map(|&(q, k)| [q, k]));
            vectors.extend(l.gemma.iter().flat_map(|g| [g.attn_post, g.ffn_post]));
        }
        if let Some(v) = vectors.iter().find(|v| v.dtype != GgmlType::F32) {
            return Err(EngineError::BadTensor {
                tensor: gguf.tensors()[v.idx].name.clone(),
                reason: format!(
                    "norms, biases and RoPE factors must be F32, not {}",
                    v.dtype
                ),
            });
        }
        check_all_used(
            &gguf,
            arch,
            &layers,
            &[embd, output, output_norm],
            rope_factors,
        )?;
        let factors = rope_factors.map(|w| vector_of(&gguf, w));
        let freqs = |base: f32, factors: Option<&[f32]>| -> Vec<f32> {
            (0..head_dim / 2)
                .map(|i| {
                    let f = libm::powf(base, -((2 * i) as f32) / head_dim as f32);
                    (f / factors.map_or(1.0, |ff| ff[i])) * config.rope_freq_scale
                })
                .collect()
        };
        let rope_freqs = freqs(config.rope_base, factors.as_deref());
        let rope_freqs_swa = if config.swa_layers.contains(&true) {
            freqs(config.rope_base_swa, None)
        } else {
            Vec::new()
        };
        memory::release_freed_heap();
        Ok(Model {
            gguf,
            tokenizer,
            special_texts,
            config,
            embd,
            output_norm,
            output,
            layers,
            rope_freqs,
            rope_freqs_swa,
        })
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template stored in the file.
    pub fn chat_template(&self) -> Result<ChatTemplate, EngineError> {
        let source = self.gguf.meta_str(crate::template::CHAT_TEMPLATE_KEY)?;
        let (bos, eos) = &self.special_texts;
        Ok(ChatTemplate::new(source, bos.as_str(), eos.as_str())?)
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The underlying GGUF file, less the vocabulary arrays the tokenizer took over
    /// (`tokenizer.ggml.tokens`, `scores`, `token_type`, `merges`).
    pub fn gguf(&self) -> &GgufFile {
        &self.gguf
    }

    /// Borrows a weight's bytes from the mapping.
    pub(crate) fn view(&self, w: Weight) -> WeightView<'_> {
        WeightView {
            dtype: w.dtype,
            rows: w.rows,
            cols: w.cols,
            data: self.gguf.view(&self.gguf.tensors()[w.idx]).data,
        }
    }

    /// An F32 vector weight (norms, biases).
    pub(crate) fn vector(&self, w: Weight) -> Vec<f32> {
        vector_of(&self.gguf, w)
    }
}

/// The values of an F32 vector weight.
fn vector_of(g: &GgufFile, w: Weight) -> Vec<f32> {
    g.view(&g.tensors()[w.idx])
        .data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// `None` for a tensor the file lacks; other errors (a present tensor of the wrong shape or
/// type) stay errors.
fn optional(r: Result<Weight, EngineError>) -> Result<Option<Weight>, EngineError> {
    match r {
        Ok(w) => Ok(Some(w)),
        Err(EngineError::Gguf(crate::gguf::GgufError::MissingTensor { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses a file with a tensor the forward pass would not read (a bias or norm this
/// architecture does not have, say), as llama.cpp does: running without it would compute
/// another model.
fn check_all_used(
    g: &GgufFile,
    arch: Arch,
    layers: &[Layer],
    outside: &[Weight],
    rope_factors: Option<Weight>,
) -> Result<(), EngineError> {
    let mut used = vec![false; g.tensors().len()];
    let mut mark = |w: Weight| used[w.idx] = true;
    outside
        .iter()
        .copied()
        .chain(rope_factors)
        .for_each(&mut mark);
    for l in layers {
        [
            l.attn_norm,
            l.wq,
            l.wk,
            l.wv,
            l.wo,
            l.ffn_norm,
            l.gate,
            l.up,
            l.down,
        ]
        .into_iter()
        .chain(l.bias.iter().flatten().copied())
        .chain(l.qk_norm.iter().flat_map(|&(q, k)| [q, k]))
        .chain(l.gemma.iter().flat_map(|g| [g.attn_post, g.ffn_post]))
        .for_each(&mut mark);
    }
    match used.iter().position(|&u| !u) {
        None => Ok(()),
        Some(i) => Err(EngineError::Unsupported(format!(
            "tensor {:?}, which the {} architecture does not use",
            g.tensors()[i].name,
            arch.name()
        ))),
    }
}

/// Finds a 2-D (or 1-D when `rows == Some(1)`) tensor and checks its shape and type.
fn weight(
    g: &GgufFile,
    name: &str,
    rows: Option<usize>,
    cols: usize,
) -> Result<Weight, EngineError> {
    let idx = g
        .tensors()
        .iter()
        .position(|t| t.name == name)
        .ok_or_else(|| crate::gguf::GgufError::MissingTensor {
            name: name.to_owned(),
        })?;
    let info = &g.tensors()[idx];
    let bad = |reason: String| EngineError::BadTensor {
        tensor: name.to_owned(),
        reason,
    };
    let ne0 = info.dims.first().copied().unwrap_or(1) as usize;
    let ne1 = info.dims.get(1).copied().unwrap_or(1) as usize;
    if info.dims.iter().skip(2).any(|&d| d != 1) || ne0 != cols || rows.is_some_and(|r| r != ne1) {
        return Err(bad(format!(
            "dims {:?}, expected [{cols}, {rows:?}]",
            info.dims
        )));
    }
    match info.dtype {
        GgmlType::F32 | GgmlType::F16 => {}
        t if crate::kernels::runs_quantized(t, cols) => {}
        t => {
            let names: Vec<String> = crate::kernels::WEIGHT_TYPES
                .iter()
                .map(ToString::to_string)
                .collect();
            return Err(bad(format!(
                "unsupported type {t} (supported: {}; quantized rows must hold whole blocks)",
                names.join(", ")
            )));
        }
    }
    Ok(Weight {
        idx,
        dtype: info.dtype,
        rows: ne1,
        cols,
    })
}
