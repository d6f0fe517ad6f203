//! The textual form a model generates (`docs/schema.md`) and its non-incremental parser.

use crate::schema::{Node, Schema};
use crate::value::Value;
use thiserror::Error;

/// Why a text is not a value of the schema; `offset` is the byte where parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    /// The text ends before the value is complete.
    #[error("text ends inside a value at byte {offset}")]
    Incomplete {
        /// Length of the text.
        offset: usize,
    },
    /// A byte that the textual form does not allow here.
    #[error("unexpected byte 0x{byte:02x} at byte {offset}: expected {expected}")]
    Unexpected {
        /// Where.
        offset: usize,
        /// The byte.
        byte: u8,
        /// What the grammar wanted.
        expected: &'static str,
    },
    /// Text after the value.
    #[error("{count} bytes after the value at byte {offset}")]
    Trailing {
        /// Where the value ended.
        offset: usize,
        /// How many bytes follow.
        count: usize,
    },
    /// A value outside the schema's bounds (length, range, option set, UTF-8).
    #[error("value at byte {offset} is out of bounds: {what}")]
    OutOfBounds {
        /// Where the value starts.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// The textual forms of choice options with their indexes: raw at the top level, else a
/// JSON string (`"` and `\` escaped, `\n` `\r` `\t`, other controls `\u00XX`).
pub(crate) fn choice_forms(options: &[String], raw: bool) -> Vec<(Vec<u8>, u8)> {
    options
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let form = if raw {
                o.as_bytes().to_vec()
            } else {
                json_quote(o)
            };
            (form, i as u8)
        })
        .collect()
}

fn json_quote(s: &str) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
    out
}

/// Parses a model's text as a value of `schema` (the same language the constrained decoder
/// allows, except that EIP-55 mixed-case addresses are not checked and rejected).
pub fn parse_text(schema: &Schema, text: &[u8]) -> Result<Value, TextError> {
    let Some(root) = schema.root() else {
        return std::str::from_utf8(text)
            .map(|s| Value::Text(s.to_owned()))
            .map_err(|_| TextError::OutOfBounds {
                offset: 0,
                what: "text is not UTF-8",
            });
    };
    let mut p = Parser { text, pos: 0 };
    let v = match root {
        Node::Text { max_bytes } => {
            let s = std::str::from_utf8(text).map_err(|_| TextError::OutOfBounds {
                offset: 0,
                what: "text is not UTF-8",
            })?;
            if s.len() > *max_bytes as usize {
                return Err(TextError::OutOfBounds {
                    offset: 0,
                    what: "text longer than maxBytes",
                });
            }
            p.pos = text.len();
            Value::Text(s.to_owned())
        }
        Node::Choice(options) => {
            let forms = choice_forms(options, true);
            let i = forms
                .iter()
                .find(|(f, _)| f == text)
                .map(|(_, i)| *i)
                .ok_or(TextError::OutOfBounds {
                    offset: 0,
                    what: "not one of the options",
                })?;
            p.pos = text.len();
            Value::Choice(i)
        }
        node => p.value(node)?,
    };
    if p.pos != text.len() {
        return Err(TextError::Trailing {
            offset: p.pos,
            count: text.len() - p.pos,
        });
    }
    Ok(v)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Result<u8, TextError> {
        self.text
            .get(self.pos)
            .copied()
            .ok_or(TextError::Incomplete {
                offset: self.text.len(),
            })
    }

    fn expect(&mut self, want: &'static [u8], expected: &'static str) -> Result<(), TextError> {
        for &w in want {
            let b = self.peek()?;
            if b != w {
                return Err(TextError::Unexpected {
                    offset: self.pos,
                    byte: b,
                    expected,
                });
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn value(&mut self, node: &Node) -> Result<Value, TextError> {
        let start = self.pos;
        match node {
            Node::Text { max_bytes } => {
                let s = self.string()?;
                if s.len() > *max_bytes as usize {
                    return Err(TextError::OutOfBounds {
                        offset: start,
                        what: "text longer than maxBytes",
                    });
                }
                Ok(Value::Text(s))
            }
            Node::Choice(options) => {
                self.expect(b"\"", "a quoted option")?;
                loop {
                    match self.peek()? {
                        b'"' => break,
                        b'\\' => self.pos += 2,
                        _ => self.pos += 1,
                    }
                }
                self.pos += 1;
                let raw = &self.text[start..self.pos.min(self.text.len())];
                choice_forms(options, false)
                    .into_iter()
                    .find(|(f, _)| f == raw)
                    .map(|(_, i)| Value::Choice(i))
                    .ok_or(TextError::OutOfBounds {
                        offset: start,
                        what: "not one of the options",
                    })
            }
            Node::Int { min, max } => {
                if self.peek()? == b'-' {
                    self.pos += 1;
                }
                let digits_at = self.pos;
                while self.text.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    self.pos += 1;
                }
                let digits = &self.text[digits_at..self.pos];
                if digits.is_empty() {
                    let byte = self.peek()?;
                    return Err(TextError::Unexpected {
                        offset: self.pos,
                        byte,
                        expected: "a digit",
                    });
                }
                if digits.len() > 1 && digits[0] == b'0' || digits == b"0" && digits_at > start {
                    return Err(TextError::OutOfBounds {
                        offset: start,
                        what: "leading zero or -0",
                    });
                }
                let s = std::str::from_utf8(&self.text[start..self.pos]).unwrap_or_default();
                match s.parse::<i64>() {
                    Ok(v) if *min <= v && v <= *max => Ok(Value::Int(v)),
                    _ => Err(TextError::OutOfBounds {
                        offset: start,
                        what: "integer out of range",
                    }),
                }
            }
            Node::Bool => {
                if self.peek()? == b't' {
                    self.expect(b"true", "true")?;
                    Ok(Value::Bool(true))
                } else {
                    self.expect(b"false", "true or false")?;
                    Ok(Value::Bool(false))
                }
            }
            Node::Address => {
                self.expect(b"0x", "0x")?;
                let mut a = [0u8; 20];
                for byte in &mut a {
                    *byte = (self.hex()? << 4) | self.hex()?;
                }
                Ok(Value::Address(a))
            }
            Node::Tuple(items) => {
                self.expect(b"[", "[")?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.expect(b", ", ", ")?;
                    }
                    out.push(self.value(item)?);
                }
                self.expect(b"]", "]")?;
                Ok(Value::Tuple(out))
            }
            Node::Array { max_len, element } => {
                self.expect(b"[", "[")?;
                let mut out = Vec::new();
                if self.peek()? != b']' {
                    loop {
                        out.push(self.value(element)?);
                        if self.peek()? != b',' {
                            break;
                        }
                        self.expect(b", ", ", ")?;
                    }
                }
                self.expect(b"]", "]")?;
                if out.len() > *max_len as usize {
                    return Err(TextError::OutOfBounds {
                        offset: start,
                        what: "array longer than maxLen",
                    });
                }
                Ok(Value::Array(out))
            }
        }
    }

    fn hex(&mut self) -> Result<u8, TextError> {
        let b = self.peek()?;
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => {
                return Err(TextError::Unexpected {
                    offset: self.pos,
                    byte: b,
                    expected: "lowercase hex",
                });
            }
        };
        self.pos += 1;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, TextError> {
        let start = self.pos;
        self.expect(b"\"", "a quoted string")?;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let e = self.peek()?;
                    out.push(match e {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        _ => {
                            return Err(TextError::Unexpected {
                                offset: self.pos,
                                byte: e,
                                expected: "one of \" \\ n r t",
                            });
                        }
                    });
                    self.pos += 1;
                }
                0..=0x1f => {
                    return Err(TextError::Unexpected {
                        offset: self.pos - 1,
                        byte: b,
                        expected: "no control byte",
                    });
                }
                _ => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| TextError::OutOfBounds {
            offset: start,
            what: "text is not UTF-8",
        })
    }
}
