//! The driver error type: node-local failures only.

use aikernel_engine::EngineError;

/// A node-local failure: the node cannot answer, and must not commit anything.
/// Deterministic request problems are not errors (see [`crate::Driver::run`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Reading the model file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The engine failed (model load, generation).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The model's tokenizer could not be turned into a decoding vocabulary.
    #[error("vocabulary: {0}")]
    Vocab(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
}
