//! The engine's error type.

use crate::gguf::GgufError;
use crate::template::TemplateError;
use crate::tokenizer::TokenizerError;

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
    /// The request is invalid (empty prompt, token id out of range, ...).
    #[error("invalid request: {0}")]
    BadInput(String),
    /// The execution context (kernel, worker threads) could not be made.
    #[error(transparent)]
    Ctx(#[from] crate::kernels::CtxError),
}
