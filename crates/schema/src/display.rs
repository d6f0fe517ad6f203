//! Reading a settled output back: ABI-decode it per the request's schema into a [`Value`]
//! (or the deterministic error of `docs/protocol.md`), and print it for people.
//!
//! Decoding is strict: the output must be exactly the canonical encoding that
//! [`Value::abi_encode`] gives for a value that conforms to the schema, so every accepted
//! output has one value and re-encodes to the same bytes.

use std::fmt::Write as _;

use thiserror::Error;

use crate::error_code::ERROR_SELECTOR;
use crate::schema::{Node, Schema};
use crate::value::Value;

/// A settled output, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A value of the schema.
    Value(Value),
    /// The committee agreed on the deterministic error with this code
    /// (1 InvalidSchema, 2 InputTooLong, 3 Unsupported, 4 InvalidInput,
    /// 5 OutputIncomplete, 6 InputUnavailable).
    Error(u8),
}

/// Why output bytes are not a value of the schema.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OutputError {
    /// An offset or length points outside the output.
    #[error("output is truncated: {what} at byte {offset} points past its {len} bytes")]
    OutOfRange {
        /// What was being read.
        what: &'static str,
        /// Where.
        offset: usize,
        /// Length of the output.
        len: usize,
    },
    /// A word that is not a valid value of its type (bad padding, bool not 0/1, ...).
    #[error("word at byte {offset} is not a valid {ty}")]
    BadWord {
        /// Where the word is.
        offset: usize,
        /// The ABI type expected.
        ty: &'static str,
    },
    /// A string that is not UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    NotUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// The decoded value breaks the schema's bounds (option index, range, lengths).
    #[error("decoded value is outside the schema's bounds")]
    OutOfBounds,
    /// The bytes decode but are not the canonical encoding of the value.
    #[error("output is not the canonical ABI encoding of its value")]
    NotCanonical,
    /// `len % 32 == 4` but not `AIKernelError(uint8)` with a code byte.
    #[error("output of {len} bytes looks like an error but is not AIKernelError(uint8)")]
    BadError {
        /// Length of the output.
        len: usize,
    },
}

/// Decodes a settled `output` per `schema` (empty schema: free text, ABI `string`).
pub fn decode_output(schema: &Schema, output: &[u8]) -> Result<Output, OutputError> {
    if output.len() % 32 == 4 {
        let well_formed = output.len() == 36
            && output[..4] == ERROR_SELECTOR
            && output[4..35].iter().all(|&b| b == 0);
        return if well_formed {
            Ok(Output::Error(output[35]))
        } else {
            Err(OutputError::BadError { len: output.len() })
        };
    }
    let free = Node::Text {
        max_bytes: u16::MAX,
    };
    let root = schema.root().unwrap_or(&free);
    let reader = Reader { data: output };
    let value = match root {
        Node::Tuple(items) => Value::Tuple(reader.tuple(items, 0)?),
        node => reader
            .tuple(std::slice::from_ref(node), 0)?
            .pop()
            .ok_or(OutputError::OutOfBounds)?,
    };
    if schema.root().is_some_and(|n| !value.conforms_to(n)) {
        return Err(OutputError::OutOfBounds);
    }
    if value.abi_encode() != output {
        return Err(OutputError::NotCanonical);
    }
    Ok(Output::Value(value))
}

/// A value for people, e.g. `choice 1 = "Team B"`, `int 712`, `text "hello"`,
/// `tuple (true, 3)`; `node` is the schema node (`None`: free text).
pub fn format_value(node: Option<&Node>, value: &Value) -> String {
    let kind = match value {
        Value::Text(_) => "text",
        Value::Choice(_) => "choice",
        Value::Int(_) => "int",
        Value::Bool(_) => "bool",
        Value::Address(_) => "address",
        Value::Tuple(_) => "tuple",
        Value::Array(_) => "array",
    };
    let mut out = format!("{kind} ");
    if let (Some(Node::Choice(_)), Value::Choice(i)) = (node, value) {
        let _ = write!(out, "{i} = ");
    }
    write_inner(node, value, &mut out);
    out
}

/// A JSON-style quoted string (`"` `\` and control characters escaped).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_inner(node: Option<&Node>, value: &Value, out: &mut String) {
    match (node, value) {
        (_, Value::Text(s)) => out.push_str(&quote(s)),
        (Some(Node::Choice(options)), Value::Choice(i)) => match options.get(*i as usize) {
            Some(o) => out.push_str(&quote(o)),
            None => {
                let _ = write!(out, "#{i}");
            }
        },
        (_, Value::Choice(i)) => {
            let _ = write!(out, "#{i}");
        }
        (_, Value::Int(v)) => {
            let _ = write!(out, "{v}");
        }
        (_, Value::Bool(b)) => {
            let _ = write!(out, "{b}");
        }
        (_, Value::Address(a)) => {
            out.push_str("0x");
            for b in a {
                let _ = write!(out, "{b:02x}");
            }
        }
        (_, Value::Tuple(items) | Value::Array(items)) => {
            let (open, close) = if matches!(value, Value::Tuple(_)) {
                ('(', ')')
            } else {
                ('[', ']')
            };
            out.push(open);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let child = match node {
                    Some(Node::Tuple(nodes)) => nodes.get(i),
                    Some(Node::Array { element, .. }) => Some(element.as_ref()),
                    _ => None,
                };
                write_inner(child, item, out);
            }
            out.push(close);
        }
    }
}

fn is_dynamic(node: &Node) -> bool {
    match node {
        Node::Text { .. } | Node::Array { .. } => true,
        Node::Tuple(items) => items.iter().any(is_dynamic),
        _ => false,
    }
}

fn static_size(node: &Node) -> usize {
    match node {
        Node::Tuple(items) => items.iter().map(static_size).sum(),
        _ => 32,
    }
}

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn word(&self, offset: usize, what: &'static str) -> Result<&[u8; 32], OutputError> {
        offset
            .checked_add(32)
            .and_then(|end| self.data.get(offset..end))
            .and_then(|w| <&[u8; 32]>::try_from(w).ok())
            .ok_or(OutputError::OutOfRange {
                what,
                offset,
                len: self.data.len(),
            })
    }

    /// A word holding a small unsigned number (an offset, a length, a u8).
    fn small(&self, offset: usize, what: &'static str) -> Result<usize, OutputError> {
        let w = self.word(offset, what)?;
        if w[..24].iter().any(|&b| b != 0) {
            return Err(OutputError::OutOfRange {
                what,
                offset,
                len: self.data.len(),
            });
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&w[24..]);
        usize::try_from(u64::from_be_bytes(b)).map_err(|_| OutputError::OutOfRange {
            what,
            offset,
            len: self.data.len(),
        })
    }

    fn tuple(&self, nodes: &[Node], base: usize) -> Result<Vec<Value>, OutputError> {
        let mut head = base;
        let mut values = Vec::with_capacity(nodes.len());
        for node in nodes {
            if is_dynamic(node) {
                let offset = self.small(head, "an offset")?;
                let at = base.checked_add(offset).ok_or(OutputError::OutOfRange {
                    what: "an offset",
                    offset: head,
                    len: self.data.len(),
                })?;
                values.push(self.value(node, at)?);
                head += 32;
            } else {
                values.push(self.value(node, head)?);
                head += static_size(node);
            }
        }
        Ok(values)
    }

    fn value(&self, node: &Node, at: usize) -> Result<Value, OutputError> {
        let bad = |ty| OutputError::BadWord { offset: at, ty };
        match node {
            Node::Text { .. } => {
                let len = self.small(at, "a string length")?;
                let start = at + 32;
                let bytes = start
                    .checked_add(len)
                    .and_then(|end| self.data.get(start..end))
                    .ok_or(OutputError::OutOfRange {
                        what: "a string",
                        offset: at,
                        len: self.data.len(),
                    })?;
                let s = std::str::from_utf8(bytes)
                    .map_err(|_| OutputError::NotUtf8 { offset: start })?;
                Ok(Value::Text(s.to_owned()))
            }
            Node::Choice(_) => {
                let w = self.word(at, "a uint8")?;
                if w[..31].iter().any(|&b| b != 0) {
                    return Err(bad("uint8"));
                }
                Ok(Value::Choice(w[31]))
            }
            Node::Int { min, .. } => {
                let w = self.word(at, "an integer")?;
                let fill = if *min < 0 && w[24] & 0x80 != 0 {
                    0xff
                } else {
                    0
                };
                if w[..24].iter().any(|&b| b != fill) || (*min >= 0 && w[24] & 0x80 != 0) {
                    return Err(bad(if *min < 0 {
                        "int256 in i64"
                    } else {
                        "uint256 in i64"
                    }));
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&w[24..]);
                Ok(Value::Int(i64::from_be_bytes(b)))
            }
            Node::Bool => {
                let w = self.word(at, "a bool")?;
                if w[..31].iter().any(|&b| b != 0) || w[31] > 1 {
                    return Err(bad("bool"));
                }
                Ok(Value::Bool(w[31] == 1))
            }
            Node::Address => {
                let w = self.word(at, "an address")?;
                if w[..12].iter().any(|&b| b != 0) {
                    return Err(bad("address"));
                }
                let mut a = [0u8; 20];
                a.copy_from_slice(&w[12..]);
                Ok(Value::Address(a))
            }
            Node::Tuple(items) => Ok(Value::Tuple(self.tuple(items, at)?)),
            Node::Array { max_len, element } => {
                let len = self.small(at, "an array length")?;
                if len > *max_len as usize {
                    return Err(OutputError::OutOfBounds);
                }
                let elements = vec![element.as_ref().clone(); len];
                Ok(Value::Array(self.tuple(&elements, at + 32)?))
            }
        }
    }
}

#[cfg(test)]
mod tests;
