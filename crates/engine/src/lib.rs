//! Deterministic inference engine: GGUF reader, tokenizer, chat templates, Llama forward
//! pass and sampling, bit-identical across threads, batch sizes, SIMD paths and machines.
#![deny(unsafe_code)]

pub mod f16;
pub mod gguf;
pub mod quantize;
pub mod template;
pub mod tokenizer;
