//! Typed output schemas: the compact encoding shared with Solidity (`contracts/src/lib/Schema.sol`),
//! constrained decoding over a tokenizer vocabulary, and ABI encoding of the decoded value.
//!
//! The byte-level rules are in `docs/schema.md`; the error output in `docs/protocol.md`.
#![forbid(unsafe_code)]

mod abi;
pub mod decoder;
mod display;
mod error_code;
mod schema;
mod spec;
mod text;
mod value;

pub use decoder::{ConstrainedDecoder, DecodeError, TokenSet, Vocab, VocabError};
pub use display::{Output, OutputError, decode_output, format_value, quote};
pub use error_code::{ERROR_SELECTOR, ErrorCode, error_output};
pub use schema::{
    MAX_CHOICE_LEN, MAX_DEPTH, MAX_SCHEMA_BYTES, MAX_TEXT_BYTES, Node, Schema, SchemaError,
};
pub use spec::{SpecError, parse_spec, to_spec};
pub use text::{TextError, parse_text};
pub use value::Value;
