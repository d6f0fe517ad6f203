//! A model (Llama or Gemma 3, see [`Arch`]) over a memory-mapped GGUF file (weights are
//! views, not copies).

mod arch;
mod config;
mod error;
pub(crate) mod forward;
mod memory;
mod ops;

use std::path::Path;

pub use arch::{Arch, SUPPORTED_ARCHS};
pub use config::ModelConfig;
pub use error::EngineError;
pub use forward::KvCache;
pub use memory::available_bytes;

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
    /// Gemma 3's extra norms (`None` for Llama).
    pub(crate) gemma: Option<GemmaNorms>,
}

/// Gemma 3's per-block norms beyond Llama's: per-head Q and K RMSNorm weights (`head_dim`
/// long) and the norms applied to the attention and FFN outputs before their residual add.
#[derive(Debug)]
pub(crate) struct GemmaNorms {
    pub(crate) q: Weight,
    pub(crate) k: Weight,
    pub(crate) attn_post: Weight,
    pub(crate) ffn_post: Weight,
}

/// A loaded model: the mapped file, its tokenizer and weight descriptors.
#[derive(Debug)]
pub struct Model {
    gguf: GgufFile,
    tokenizer: Tokenizer,
    config: ModelConfig,
    pub(crate) embd: Weight,
    pub(crate) output_norm: Weight,
    pub(crate) output: Weight,
    pub(crate) layers: Vec<Layer>,
    /// `rope_base^(-2i/head_dim)` for each rotated pair.
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
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
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
                gemma: match arch {
                    Arch::Gemma3 => Some(GemmaNorms {
                        q: w("attn_q_norm", 1, head_dim)?,
                        k: w("attn_k_norm", 1, head_dim)?,
                        attn_post: w("post_attention_norm", 1, n_embd)?,
                        ffn_post: w("post_ffw_norm", 1, n_embd)?,
                    }),
                    _ => None,
                },
            });
        }
        for l in &layers {
            let extra = l
                .gemma
                .as_ref()
                .map_or(Vec::new(), |g| vec![g.q, g.k, g.attn_post, g.ffn_post]);
            for nw in [l.attn_norm, l.ffn_norm].into_iter().chain(extra) {
                if nw.dtype != GgmlType::F32 {
                    return Err(EngineError::Unsupported("norm weights must be F32".into()));
                }
            }
        }
        if output_norm.dtype != GgmlType::F32 {
            return Err(EngineError::Unsupported("norm weights must be F32".into()));
        }
        let freqs = |base: f32| -> Vec<f32> {
            (0..head_dim / 2)
                .map(|i| libm::powf(base, -((2 * i) as f32) / head_dim as f32))
                .collect()
        };
        let rope_freqs = freqs(config.rope_base);
        let rope_freqs_swa = if config.swa_layers.contains(&true) {
            freqs(config.rope_base_swa)
        } else {
            Vec::new()
        };
        Ok(Model {
            gguf,
            tokenizer,
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
        Ok(ChatTemplate::from_gguf(&self.gguf)?)
    }

    /// Hyper-parameters.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The underlying GGUF file.
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

    /// An F32 vector weight (norms).
    pub(crate) fn vector(&self, w: Weight) -> Vec<f32> {
        self.view(w)
            .data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
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
