//! Errors raised while reading or writing GGUF files.

use std::path::PathBuf;

/// Everything that can be wrong with a GGUF file, naming what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("cannot read GGUF file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Writing a GGUF stream failed.
    #[error("cannot write GGUF: {0}")]
    Write(#[source] std::io::Error),
    /// The file ended before a complete item could be read.
    #[error("truncated GGUF: need {needed} bytes for {what} at offset {offset}, file has {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// How many bytes it needs.
        needed: u64,
        /// Total file length.
        len: u64,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// Only versions 2 and 3 are read.
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    /// A count in the header cannot possibly fit in the rest of the file.
    #[error("{what} count {count} at offset {offset} cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        /// What is being counted.
        what: &'static str,
        /// The claimed count.
        count: u64,
        /// Where the count was read.
        offset: u64,
        /// Bytes left in the file after the count.
        remaining: u64,
    },
    /// A string is not valid UTF-8.
    #[error("string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string bytes start.
        offset: u64,
    },
    /// A metadata value has a type id GGUF does not define.
    #[error("unknown metadata value type {type_id} at offset {offset}")]
    UnknownValueType {
        /// The type id read.
        type_id: u32,
        /// Where it was read.
        offset: u64,
    },
    /// Arrays nested deeper than the reader allows.
    #[error("metadata arrays nested too deeply at offset {offset}")]
    NestingTooDeep {
        /// Where the innermost array starts.
        offset: u64,
    },
    /// A metadata key appears twice.
    #[error("duplicate metadata key {key:?}")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A tensor name appears twice.
    #[error("duplicate tensor name {name:?}")]
    DuplicateTensor {
        /// The name.
        name: String,
    },
    /// `general.alignment` is not a non-zero power of two.
    #[error("general.alignment {0} is not a non-zero power of two")]
    BadAlignment(u64),
    /// A tensor is malformed: bad dims, unknown type, misplaced data.
    #[error("tensor {tensor:?}: {reason}")]
    BadTensor {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// Two tensors' data ranges overlap.
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    OverlappingTensors {
        /// The tensor with the lower offset.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// A required metadata key is absent.
    #[error("missing metadata key {key:?}")]
    MissingKey {
        /// The key.
        key: String,
    },
    /// A metadata key holds a value of another type.
    #[error("metadata key {key:?} holds {found}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// The type asked for.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A metadata value does not fit the type asked for.
    #[error("metadata key {key:?}: value {value} does not fit in {expected}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The value, printed.
        value: String,
        /// The type asked for.
        expected: &'static str,
    },
    /// A tensor the caller asked for is not in the file.
    #[error("missing tensor {name:?}")]
    MissingTensor {
        /// The name.
        name: String,
    },
    /// A type whose block layout this crate does not know.
    #[error("ggml type {0} has no known block layout")]
    UnknownType(u32),
    /// A row length that is not a whole number of blocks.
    #[error("row of {n} elements is not a multiple of the {dtype} block size {block}")]
    PartialBlock {
        /// Row length.
        n: u64,
        /// Type name.
        dtype: String,
        /// Block size.
        block: u64,
    },
    /// A size computation overflowed.
    #[error("size overflow computing {0}")]
    Overflow(&'static str),
    /// Writer misuse: a value the writer cannot encode.
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// Why not.
        reason: String,
    },
}
