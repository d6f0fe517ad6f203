//! Decoded values and their ABI encoding.

use crate::abi;
use crate::schema::Node;

/// A value of a schema, as decoded from the model's text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// TEXT (or free text).
    Text(String),
    /// CHOICE: the index of the chosen option.
    Choice(u8),
    /// INT.
    Int(i64),
    /// BOOL.
    Bool(bool),
    /// ADDRESS.
    Address([u8; 20]),
    /// TUPLE.
    Tuple(Vec<Value>),
    /// ARRAY.
    Array(Vec<Value>),
}

impl Value {
    /// The output bytes: `abi.encode(v)`, or `abi.encode(v1, .., vn)` for a top-level tuple.
    pub fn abi_encode(&self) -> Vec<u8> {
        match self {
            Value::Tuple(items) => abi::encode_tuple(items),
            v => abi::encode_tuple(std::slice::from_ref(v)),
        }
    }

    /// True when the value belongs to `node` (type and bounds).
    pub fn conforms_to(&self, node: &Node) -> bool {
        match (self, node) {
            (Value::Text(s), Node::Text { max_bytes }) => s.len() <= *max_bytes as usize,
            (Value::Choice(i), Node::Choice(options)) => (*i as usize) < options.len(),
            (Value::Int(v), Node::Int { min, max }) => min <= v && v <= max,
            (Value::Bool(_), Node::Bool) | (Value::Address(_), Node::Address) => true,
            (Value::Tuple(vs), Node::Tuple(ns)) => {
                vs.len() == ns.len() && vs.iter().zip(ns).all(|(v, n)| v.conforms_to(n))
            }
            (Value::Array(vs), Node::Array { max_len, element }) => {
                vs.len() <= *max_len as usize && vs.iter().all(|v| v.conforms_to(element))
            }
            _ => false,
        }
    }
}
