//! Deterministic inference engine: GGUF reader, tokenizer, chat templates, Llama forward
//! pass and sampling, bit-identical across threads, batch sizes, SIMD paths and machines.
#![deny(unsafe_code)]
