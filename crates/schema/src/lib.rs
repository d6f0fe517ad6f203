//! Typed output schemas: the compact encoding shared with Solidity, constrained decoding
//! over a tokenizer vocabulary, and ABI encoding of the decoded value.
#![forbid(unsafe_code)]
