//! The compact schema encoding (v1): parsing, validation, encoding and builders.

mod error;

pub use error::SchemaError;

/// Largest encoded schema, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 1024;
/// Deepest nesting: a leaf at the top is depth 1, each tuple or array adds one.
pub const MAX_DEPTH: usize = 4;
/// Largest `maxBytes` of a TEXT node.
pub const MAX_TEXT_BYTES: u16 = 4096;
/// Longest CHOICE option, in bytes.
pub const MAX_CHOICE_LEN: usize = 64;

const KIND_TEXT: u8 = 0x01;
const KIND_CHOICE: u8 = 0x02;
const KIND_INT: u8 = 0x03;
const KIND_BOOL: u8 = 0x04;
const KIND_ADDRESS: u8 = 0x05;
const KIND_TUPLE: u8 = 0x06;
const KIND_ARRAY: u8 = 0x07;

/// One node of a schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// UTF-8 text of at most `max_bytes` bytes; ABI `string`.
    Text {
        /// Byte limit, 1..=4096.
        max_bytes: u16,
    },
    /// One of the options; ABI `uint8` (the index).
    Choice(Vec<String>),
    /// An integer in `min..=max`; ABI `int256` when `min < 0`, else `uint256`.
    Int {
        /// Lower bound (inclusive).
        min: i64,
        /// Upper bound (inclusive).
        max: i64,
    },
    /// `true` or `false`; ABI `bool`.
    Bool,
    /// A 20-byte address; ABI `address`.
    Address,
    /// A fixed sequence of values; an ABI tuple.
    Tuple(Vec<Node>),
    /// Up to `max_len` values of one type; ABI `T[]`.
    Array {
        /// Most elements, 1..=64.
        max_len: u8,
        /// The element type.
        element: Box<Node>,
    },
}

/// A parsed output schema. `root == None` is free text (the empty encoding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Schema {
    root: Option<Node>,
}

impl Schema {
    /// Free text, bounded only by the request's `maxTokens` (the empty encoding).
    pub fn free_text() -> Schema {
        Schema { root: None }
    }

    /// A schema whose value is `node`; checks every rule [`Schema::parse`] checks.
    pub fn new(node: Node) -> Result<Schema, SchemaError> {
        let schema = Schema { root: Some(node) };
        let parsed = Schema::parse(&schema.encode())?;
        if parsed != schema {
            // A count or length above 255 does not fit its u8 field.
            return Err(SchemaError::NotEncodable);
        }
        Ok(schema)
    }

    /// The root node; `None` for free text.
    pub fn root(&self) -> Option<&Node> {
        self.root.as_ref()
    }

    /// Parses and fully validates the compact encoding (`docs/schema.md`).
    pub fn parse(bytes: &[u8]) -> Result<Schema, SchemaError> {
        if bytes.is_empty() {
            return Ok(Schema::free_text());
        }
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(SchemaError::TooLong { len: bytes.len() });
        }
        let mut r = Reader { bytes, pos: 0 };
        let node = r.node(1)?;
        if r.pos != bytes.len() {
            return Err(SchemaError::TrailingBytes {
                offset: r.pos,
                count: bytes.len() - r.pos,
            });
        }
        Ok(Schema { root: Some(node) })
    }

    /// The compact encoding; `Schema::parse(&s.encode()) == Ok(s)` for every valid schema.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(node) = &self.root {
            node.encode_into(&mut out);
        }
        out
    }

    /// The ABI type of the output, e.g. `uint8`, `string`, `(uint256,string)`, `bool[]`.
    /// A top-level tuple `(T1,..,Tn)` is encoded as `abi.encode(v1, .., vn)`.
    pub fn abi_type(&self) -> String {
        self.root
            .as_ref()
            .map_or_else(|| "string".to_owned(), Node::abi_type)
    }
}

impl Node {
    /// TEXT of at most `max_bytes` bytes.
    pub fn text(max_bytes: u16) -> Node {
        Node::Text { max_bytes }
    }

    /// CHOICE among `options`.
    pub fn choice<S: Into<String>>(options: impl IntoIterator<Item = S>) -> Node {
        Node::Choice(options.into_iter().map(Into::into).collect())
    }

    /// INT in `min..=max`.
    pub fn int(min: i64, max: i64) -> Node {
        Node::Int { min, max }
    }

    /// TUPLE of `items`.
    pub fn tuple(items: impl IntoIterator<Item = Node>) -> Node {
        Node::Tuple(items.into_iter().collect())
    }

    /// ARRAY of up to `max_len` `element`s.
    pub fn array(element: Node, max_len: u8) -> Node {
        Node::Array {
            max_len,
            element: Box::new(element),
        }
    }

    /// The ABI type of this node's value.
    pub fn abi_type(&self) -> String {
        match self {
            Node::Text { .. } => "string".to_owned(),
            Node::Choice(_) => "uint8".to_owned(),
            Node::Int { min, .. } => if *min < 0 { "int256" } else { "uint256" }.to_owned(),
            Node::Bool => "bool".to_owned(),
            Node::Address => "address".to_owned(),
            Node::Tuple(items) => {
                let inner: Vec<String> = items.iter().map(Node::abi_type).collect();
                format!("({})", inner.join(","))
            }
            Node::Array { element, .. } => format!("{}[]", element.abi_type()),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Node::Text { max_bytes } => {
                out.push(KIND_TEXT);
                out.extend_from_slice(&max_bytes.to_be_bytes());
            }
            Node::Choice(options) => {
                out.push(KIND_CHOICE);
                out.push(options.len() as u8);
                for o in options {
                    out.push(o.len() as u8);
                    out.extend_from_slice(o.as_bytes());
                }
            }
            Node::Int { min, max } => {
                out.push(KIND_INT);
                out.extend_from_slice(&min.to_be_bytes());
                out.extend_from_slice(&max.to_be_bytes());
            }
            Node::Bool => out.push(KIND_BOOL),
            Node::Address => out.push(KIND_ADDRESS),
            Node::Tuple(items) => {
                out.push(KIND_TUPLE);
                out.push(items.len() as u8);
                for item in items {
                    item.encode_into(out);
                }
            }
            Node::Array { max_len, element } => {
                out.push(KIND_ARRAY);
                out.push(*max_len);
                element.encode_into(out);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], SchemaError> {
        let end = self.pos + n;
        let Some(s) = self.bytes.get(self.pos..end) else {
            return Err(SchemaError::Truncated {
                offset: self.bytes.len(),
            });
        };
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, SchemaError> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, SchemaError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(b))
    }

    fn node(&mut self, depth: usize) -> Result<Node, SchemaError> {
        let start = self.pos;
        if depth > MAX_DEPTH {
            return Err(SchemaError::TooDeep { offset: start });
        }
        let kind = self.u8()?;
        match kind {
            KIND_TEXT => {
                let offset = self.pos;
                let b = self.take(2)?;
                let max_bytes = u16::from_be_bytes([b[0], b[1]]);
                if max_bytes == 0 || max_bytes > MAX_TEXT_BYTES {
                    return Err(SchemaError::TextMaxBytes { offset, max_bytes });
                }
                Ok(Node::Text { max_bytes })
            }
            KIND_CHOICE => self.choice(),
            KIND_INT => {
                let offset = self.pos;
                let min = self.i64()?;
                let max = self.i64()?;
                if min > max {
                    return Err(SchemaError::IntRange { offset, min, max });
                }
                Ok(Node::Int { min, max })
            }
            KIND_BOOL => Ok(Node::Bool),
            KIND_ADDRESS => Ok(Node::Address),
            KIND_TUPLE => {
                let offset = self.pos;
                let count = self.u8()?;
                if !(1..=16).contains(&count) {
                    return Err(SchemaError::TupleArity { offset, count });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.node(depth + 1)?);
                }
                Ok(Node::Tuple(items))
            }
            KIND_ARRAY => {
                let offset = self.pos;
                let max_len = self.u8()?;
                if !(1..=64).contains(&max_len) {
                    return Err(SchemaError::ArrayMaxLen { offset, max_len });
                }
                let element = self.node(depth + 1)?;
                Ok(Node::Array {
                    max_len,
                    element: Box::new(element),
                })
            }
            _ => Err(SchemaError::UnknownKind {
                offset: start,
                kind,
            }),
        }
    }

    fn choice(&mut self) -> Result<Node, SchemaError> {
        let offset = self.pos;
        let count = self.u8()?;
        if count < 2 {
            return Err(SchemaError::ChoiceCount { offset, count });
        }
        let mut options: Vec<String> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let len_at = self.pos;
            let len = self.u8()?;
            if len == 0 || len as usize > MAX_CHOICE_LEN {
                return Err(SchemaError::ChoiceOptionLength {
                    offset: len_at,
                    len,
                });
            }
            let at = self.pos;
            let raw = self.take(len as usize)?;
            let s =
                std::str::from_utf8(raw).map_err(|_| SchemaError::ChoiceNotUtf8 { offset: at })?;
            if options.iter().any(|o| o == s) {
                return Err(SchemaError::ChoiceDuplicate { offset: at });
            }
            options.push(s.to_owned());
        }
        Ok(Node::Choice(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_bytes() {
        let s = Schema::new(Node::tuple([
            Node::choice(["yes", "no"]),
            Node::int(-1, 300),
        ]))
        .unwrap();
        let mut want = vec![0x06, 2, 0x02, 2, 3, b'y', b'e', b's', 2, b'n', b'o', 0x03];
        want.extend_from_slice(&(-1i64).to_be_bytes());
        want.extend_from_slice(&300i64.to_be_bytes());
        assert_eq!(s.encode(), want);
        assert_eq!(Schema::parse(&want).unwrap(), s);
        assert_eq!(s.abi_type(), "(uint8,int256)");
    }

    #[test]
    fn rejects_with_the_right_error() {
        assert_eq!(
            Schema::parse(&[0x09]),
            Err(SchemaError::UnknownKind { offset: 0, kind: 9 })
        );
        assert_eq!(
            Schema::parse(&[0x01, 0]),
            Err(SchemaError::Truncated { offset: 2 })
        );
        assert_eq!(
            Schema::parse(&[0x01, 0, 0]),
            Err(SchemaError::TextMaxBytes {
                offset: 1,
                max_bytes: 0
            })
        );
        assert_eq!(
            Schema::parse(&[0x01, 0x10, 0x01]),
            Err(SchemaError::TextMaxBytes {
                offset: 1,
                max_bytes: 4097
            })
        );
        assert_eq!(
            Schema::parse(&[0x04, 0x04]),
            Err(SchemaError::TrailingBytes {
                offset: 1,
                count: 1
            })
        );
        assert_eq!(
            Schema::parse(&[0x02, 2, 1, b'a', 1, b'a']),
            Err(SchemaError::ChoiceDuplicate { offset: 5 })
        );
        assert_eq!(
            Schema::parse(&[0x02, 1, 1, b'a']),
            Err(SchemaError::ChoiceCount {
                offset: 1,
                count: 1
            })
        );
        assert_eq!(
            Schema::parse(&[0x02, 2, 1, 0xff, 1, b'a']),
            Err(SchemaError::ChoiceNotUtf8 { offset: 3 })
        );
        assert_eq!(
            Schema::parse(&[0x06, 0]),
            Err(SchemaError::TupleArity {
                offset: 1,
                count: 0
            })
        );
        assert_eq!(
            Schema::parse(&[0x07, 65, 0x04]),
            Err(SchemaError::ArrayMaxLen {
                offset: 1,
                max_len: 65
            })
        );
        assert_eq!(
            Schema::parse(&[0x07, 1, 0x07, 1, 0x07, 1, 0x07, 1, 0x04]),
            Err(SchemaError::TooDeep { offset: 8 })
        );
        assert!(Schema::parse(&[0x07, 1, 0x07, 1, 0x07, 1, 0x04]).is_ok());
        assert_eq!(
            Schema::parse(&[0u8; 1025]),
            Err(SchemaError::TooLong { len: 1025 })
        );
    }
}
