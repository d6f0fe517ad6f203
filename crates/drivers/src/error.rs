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
    /// The GPU backend could not start or failed (what is missing: driver, device, NVRTC).
    #[error(transparent)]
    Accel(#[from] aikernel_accel::AccelError),
    /// The model's tokenizer could not be turned into a decoding vocabulary.
    #[error("vocabulary: {0}")]
    Vocab(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// A registry driver name this build does not have (unknown family or rule suffix).
    #[error("driver {name:?} is not one this node serves (supported: {supported})")]
    UnknownDriver {
        /// The name as registered.
        name: String,
        /// Every supported name, comma-separated.
        supported: String,
    },
    /// A model file of an architecture no driver family serves.
    #[error("architecture {arch:?} has no driver (families: {supported})")]
    UnsupportedFamily {
        /// The file's `general.architecture`.
        arch: String,
        /// The supported families, comma-separated.
        supported: String,
    },
    /// The model file's architecture is not the family its registry entry's driver name
    /// declares: the node refuses to serve it rather than answer under another family's name.
    #[error(
        "model file is {file} but the registry entry's driver is {driver}{}",
        expected.as_ref().map_or_else(String::new, |e| format!(" (a {file} file is registered under {e})"))
    )]
    FamilyMismatch {
        /// The file's `general.architecture`.
        file: String,
        /// The registered driver name.
        driver: String,
        /// The name of the same rule for the file's family, when there is one.
        expected: Option<String>,
    },
}
