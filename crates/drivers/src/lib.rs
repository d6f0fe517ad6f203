//! Model drivers: the `Driver` trait every model family implements, the LLM driver over
//! the deterministic engine, and the prompt builder every node must agree on.
#![forbid(unsafe_code)]
