//! Why schema bytes were rejected.

use thiserror::Error;

/// Why schema bytes were rejected; `offset` is the byte where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// More than [`MAX_SCHEMA_BYTES`].
    #[error("schema is {len} bytes, more than the limit of 1024")]
    TooLong {
        /// Length of the schema.
        len: usize,
    },
    /// The bytes end inside a node.
    #[error("schema ends inside a node at byte {offset}")]
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// Bytes left after the root node.
    #[error("{count} trailing bytes after the root node at byte {offset}")]
    TrailingBytes {
        /// First trailing byte.
        offset: usize,
        /// How many.
        count: usize,
    },
    /// A kind byte outside 0x01..=0x07.
    #[error("unknown node kind 0x{kind:02x} at byte {offset}")]
    UnknownKind {
        /// Where the kind byte is.
        offset: usize,
        /// The byte.
        kind: u8,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than 4 at byte {offset}")]
    TooDeep {
        /// Where the too-deep node starts.
        offset: usize,
    },
    /// TEXT `maxBytes` outside 1..=4096.
    #[error("text maxBytes {max_bytes} at byte {offset} is outside 1..=4096")]
    TextMaxBytes {
        /// Where the field is.
        offset: usize,
        /// The value.
        max_bytes: u16,
    },
    /// CHOICE count outside 2..=255.
    #[error("choice has {count} options at byte {offset}; 2..=255 are allowed")]
    ChoiceCount {
        /// Where the count is.
        offset: usize,
        /// The count.
        count: u8,
    },
    /// CHOICE option length outside 1..=64.
    #[error("choice option at byte {offset} is {len} bytes long; 1..=64 are allowed")]
    ChoiceOptionLength {
        /// Where the length byte is.
        offset: usize,
        /// The length.
        len: u8,
    },
    /// CHOICE option that is not valid UTF-8.
    #[error("choice option at byte {offset} is not valid UTF-8")]
    ChoiceNotUtf8 {
        /// Where the option's bytes start.
        offset: usize,
    },
    /// Two equal CHOICE options.
    #[error("choice option at byte {offset} repeats an earlier option")]
    ChoiceDuplicate {
        /// Where the repeated option's bytes start.
        offset: usize,
    },
    /// INT with `min > max`.
    #[error("integer range at byte {offset} is empty: min {min} > max {max}")]
    IntRange {
        /// Where the range starts.
        offset: usize,
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
    },
    /// TUPLE arity outside 1..=16.
    #[error("tuple at byte {offset} has {count} items; 1..=16 are allowed")]
    TupleArity {
        /// Where the count is.
        offset: usize,
        /// The count.
        count: u8,
    },
    /// ARRAY `maxLen` outside 1..=64.
    #[error("array maxLen {max_len} at byte {offset} is outside 1..=64")]
    ArrayMaxLen {
        /// Where the field is.
        offset: usize,
        /// The value.
        max_len: u8,
    },
    /// A node built in Rust with a count or length that does not fit its u8 field.
    #[error("a count or length does not fit the encoding (more than 255)")]
    NotEncodable,
}
