//! The engine's error type.

use crate::gguf::GgufError;
use crate::template::TemplateError;
use crate::tokenizer::TokenizerError;

const GIB: f64 = (1u64 << 30) as f64;

/// Everything that can go wrong loading a model or generating.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The GGUF file is unreadable or lacks a key/tensor.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The tokenizer could not be built.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The chat template could not be built.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The model uses something the engine does not implement.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A tensor's shape or type does not fit the architecture.
    #[error("tensor {tensor}: {reason}")]
    BadTensor {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// A header number is out of range or disagrees with another or with the tensor table.
    #[error("{key} = {value}: {reason}")]
    BadConfig {
        /// The metadata key.
        key: &'static str,
        /// Its value, printed.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A run would allocate more memory than the machine has available.
    #[error(
        "{what} need {needed} bytes ({:.1} GiB), only {available} bytes ({:.1} GiB) are available",
        *needed as f64 / GIB,
        *available as f64 / GIB
    )]
    OutOfMemory {
        /// What would be allocated.
        what: String,
        /// Bytes it needs (`u64::MAX` when the size overflows).
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The request is invalid (empty prompt, token id out of range, ...).
    #[error("invalid request: {0}")]
    BadInput(String),
    /// The execution context (kernel, worker threads) could not be made.
    #[error(transparent)]
    Ctx(#[from] crate::kernels::CtxError),
}
