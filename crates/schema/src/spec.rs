//! A short textual notation for schemas, for people typing them on a command line
//! (`aikernel prompt --schema 'choice:Team A|Team B'`). It is not part of the protocol:
//! it only builds a [`Schema`], whose compact bytes are what goes on chain.
//!
//! Grammar (whitespace is allowed between tokens; keywords are lowercase):
//!
//! ```text
//! spec    = "" | "free" | node              empty or "free": free text (empty encoding)
//! node    = "text" [":" UINT]               TEXT of at most UINT bytes (default 4096)
//!         | "choice" ":" option { sep option }   CHOICE, 2..=255 options
//!         | "int" ":" INT ".." INT          INT in min..=max (i64, min may be negative)
//!         | "bool"                          BOOL
//!         | "address"                       ADDRESS
//!         | "tuple(" node { "," node } ")"  TUPLE of 1..=16 items
//!         | "array(" node "," UINT ")"      ARRAY of at most UINT (1..=64) items
//! option  = QUOTED | BARE
//! sep     = "|" | "," (a comma only when the next option is QUOTED)
//! QUOTED  = '"' { char | '\"' | '\\' | '\n' | '\r' | '\t' } '"'
//! BARE    = chars other than | , ( ) " ; surrounding whitespace is trimmed
//! ```
//!
//! Examples: `text:200`, `choice:"Team A","Team B"`, `choice:yes|no`, `int:300..850`,
//! `int:-5..5`, `bool`, `address`, `tuple(bool, int:0..9)`, `array(int:0..9, 3)`,
//! `tuple(choice:yes|no, text:64)`.
//!
//! [`to_spec`] writes the canonical notation of a schema; `parse_spec(&to_spec(s)) == s`.

use std::fmt::Write as _;

use thiserror::Error;

use crate::schema::{Node, Schema, SchemaError};

/// Why a schema spec was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// The text does not follow the grammar; `column` counts characters from 1.
    #[error("schema spec, column {column}: {message}")]
    Syntax {
        /// Where the problem was found (1-based, in characters).
        column: usize,
        /// What was expected or what is wrong.
        message: String,
    },
    /// The spec is well-formed but the schema breaks a rule of `docs/schema.md`.
    #[error("schema spec describes an invalid schema: {0}")]
    Invalid(#[from] SchemaError),
}

/// Parses a schema spec (grammar in the module docs) into a validated [`Schema`].
pub fn parse_spec(spec: &str) -> Result<Schema, SpecError> {
    let mut p = Parser { src: spec, pos: 0 };
    p.skip_ws();
    if p.at_end() {
        return Ok(Schema::free_text());
    }
    if p.src[p.pos..].trim_end() == "free" {
        return Ok(Schema::free_text());
    }
    let node = p.node()?;
    p.skip_ws();
    if !p.at_end() {
        let hint = if p.peek() == Some(',') {
            " (bare choice options are separated by |, or quote each option)"
        } else {
            ""
        };
        return Err(p.error(format!("unexpected text after the schema{hint}")));
    }
    Ok(Schema::new(node)?)
}

/// The canonical spec of `schema` (`free` for free text).
pub fn to_spec(schema: &Schema) -> String {
    let mut out = String::new();
    match schema.root() {
        None => out.push_str("free"),
        Some(node) => write_node(node, &mut out),
    }
    out
}

fn write_node(node: &Node, out: &mut String) {
    match node {
        Node::Text { max_bytes } => {
            let _ = write!(out, "text:{max_bytes}");
        }
        Node::Choice(options) => {
            out.push_str("choice:");
            for (i, o) in options.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_quoted(o, out);
            }
        }
        Node::Int { min, max } => {
            let _ = write!(out, "int:{min}..{max}");
        }
        Node::Bool => out.push_str("bool"),
        Node::Address => out.push_str("address"),
        Node::Tuple(items) => {
            out.push_str("tuple(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_node(item, out);
            }
            out.push(')');
        }
        Node::Array { max_len, element } => {
            out.push_str("array(");
            write_node(element, out);
            let _ = write!(out, ", {max_len})");
        }
    }
}

/// Writes `s` as a QUOTED option: `"` and `\` escaped, newline, CR and tab as `\n` `\r` `\t`.
fn write_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> SpecError {
        SpecError::Syntax {
            column: self.src[..self.pos].chars().count() + 1,
            message: message.into(),
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    /// Consumes `c` (after whitespace) or fails saying it was expected.
    fn expect(&mut self, c: char, what: &str) -> Result<(), SpecError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.error(format!("expected {what}")))
        }
    }

    fn word(&mut self) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
            self.pos += c.len_utf8();
        }
        &self.src[start..self.pos]
    }

    fn node(&mut self) -> Result<Node, SpecError> {
        self.skip_ws();
        let start = self.pos;
        let word = self.word().to_owned();
        match word.as_str() {
            "text" => {
                self.skip_ws();
                if self.peek() == Some(':') {
                    self.pos += 1;
                    let n = self.unsigned("the text's byte limit")?;
                    let max_bytes = u16::try_from(n)
                        .map_err(|_| self.error(format!("text limit {n} is above 4096")))?;
                    Ok(Node::text(max_bytes))
                } else {
                    Ok(Node::text(crate::schema::MAX_TEXT_BYTES))
                }
            }
            "choice" => {
                self.expect(':', "':' and the options after choice")?;
                self.choice()
            }
            "int" => {
                self.expect(':', "':' and a range MIN..MAX after int")?;
                let min = self.signed("the range's minimum")?;
                self.skip_ws();
                if !self.src[self.pos..].starts_with("..") {
                    return Err(self.error("expected '..' between the range's bounds"));
                }
                self.pos += 2;
                let max = self.signed("the range's maximum")?;
                Ok(Node::int(min, max))
            }
            "bool" => Ok(Node::Bool),
            "address" => Ok(Node::Address),
            "tuple" => {
                self.expect('(', "'(' after tuple")?;
                let mut items = vec![self.node()?];
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => {
                            self.pos += 1;
                            items.push(self.node()?);
                        }
                        Some(')') => {
                            self.pos += 1;
                            return Ok(Node::Tuple(items));
                        }
                        _ => return Err(self.error("expected ',' or ')' in the tuple")),
                    }
                }
            }
            "array" => {
                self.expect('(', "'(' after array")?;
                let element = self.node()?;
                self.expect(',', "',' and the maximum length after the array's element")?;
                let n = self.unsigned("the array's maximum length")?;
                let max_len = u8::try_from(n)
                    .map_err(|_| self.error(format!("array length {n} is above 64")))?;
                self.expect(')', "')' closing the array")?;
                Ok(Node::array(element, max_len))
            }
            "" => Err(self.error(
                "expected a schema: text, choice, int, bool, address, tuple(...) or array(...)",
            )),
            other => {
                self.pos = start;
                Err(self.error(format!(
                    "unknown schema kind '{other}' (text, choice, int, bool, address, tuple, array)"
                )))
            }
        }
    }

    fn choice(&mut self) -> Result<Node, SpecError> {
        let mut options = vec![self.option()?];
        loop {
            let save = self.pos;
            self.skip_ws();
            match self.peek() {
                Some('|') => {
                    self.pos += 1;
                    options.push(self.option()?);
                }
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some('"') {
                        options.push(self.option()?);
                    } else {
                        // The comma belongs to an enclosing tuple (or is an error there).
                        self.pos = save;
                        break;
                    }
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
        }
        if options.len() < 2 {
            self.skip_ws();
            let hint = if self.peek() == Some(',') {
                " (bare options are separated by |, or quote each option)"
            } else {
                ""
            };
            return Err(self.error(format!("a choice needs at least two options{hint}")));
        }
        Ok(Node::Choice(options))
    }

    fn option(&mut self) -> Result<String, SpecError> {
        self.skip_ws();
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let start = self.pos;
        while let Some(c) = self
            .peek()
            .filter(|c| !matches!(c, '|' | ',' | '(' | ')' | '"'))
        {
            self.pos += c.len_utf8();
        }
        let bare = self.src[start..self.pos].trim();
        if bare.is_empty() {
            return Err(self.error("expected a choice option (bare text or \"quoted\")"));
        }
        Ok(bare.to_owned())
    }

    fn quoted(&mut self) -> Result<String, SpecError> {
        self.pos += 1; // the opening quote
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated quoted option"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let escaped = match self.peek() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        _ => {
                            return Err(self.error(
                                "unknown escape in a quoted option (use \\\" \\\\ \\n \\r \\t)",
                            ));
                        }
                    };
                    self.pos += 1;
                    out.push(escaped);
                }
                c => out.push(c),
            }
        }
    }

    fn digits(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn unsigned(&mut self, what: &str) -> Result<u64, SpecError> {
        self.skip_ws();
        let digits = self.digits().to_owned();
        if digits.is_empty() {
            return Err(self.error(format!("expected a number: {what}")));
        }
        digits
            .parse()
            .map_err(|_| self.error(format!("{what} {digits} is too large")))
    }

    fn signed(&mut self, what: &str) -> Result<i64, SpecError> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        if self.digits().is_empty() {
            return Err(self.error(format!("expected an integer: {what}")));
        }
        let text = &self.src[start..self.pos];
        text.parse().map_err(|_| {
            self.error(format!(
                "{what} {text} does not fit a 64-bit signed integer"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
