//! Deterministic inference engine: GGUF reader, tokenizer, chat templates, Llama forward
//! pass and sampling, bit-identical across threads, batch sizes, SIMD paths and machines.
#![deny(unsafe_code)]

mod batch;
pub mod bench;
mod decode;
pub mod f16;
pub mod generate;
pub mod gguf;
pub mod kernels;
pub mod model;
pub mod paths;
pub mod prefix_cache;
pub mod quantize;
pub mod sample;
pub mod score;
pub mod slots;
pub mod template;
pub mod tokenizer;

pub use batch::{generate_batch_constrained_on, generate_batch_with_cache};
pub use decode::hash_logits;
pub use generate::{
    GenerateOptions, Generation, StopReason, TokenConstraint, generate, generate_batch,
    generate_batch_on, generate_on, generate_with_cache,
};
pub use kernels::Kernel;
pub use model::{Arch, EngineError, Model, ModelConfig};
pub use prefix_cache::{PrefixCache, PrefixStats, Reuse};
pub use score::{ScoreOptions, Scores, score_continuations, score_continuations_with_cache};
pub use slots::{CpuSlots, Slots};
