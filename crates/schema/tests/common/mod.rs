//! Test helpers: a synthetic vocabulary, a greedy driver and an ABI decoder.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::sync::Arc;

use aikernel_schema::{ConstrainedDecoder, Node, Schema, Value, Vocab};

/// 256 single bytes, then `extra` multi-byte tokens, then a special token, then EOS.
pub fn synthetic_vocab(extra: &[Vec<u8>]) -> Arc<Vocab> {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    tokens.extend(extra.iter().cloned());
    tokens.push(b"<|special|>".to_vec());
    tokens.push(b"</s>".to_vec());
    let n = tokens.len();
    let mut special = vec![false; n];
    special[n - 2] = true;
    special[n - 1] = true;
    Arc::new(Vocab::new(tokens, (n - 1) as u32, special).unwrap())
}

/// Feeds `text` byte by byte (ids 0..=255 of a synthetic vocabulary), then EOS.
pub fn drive_text(schema: &Schema, vocab: &Arc<Vocab>, text: &[u8]) -> Value {
    let mut d = ConstrainedDecoder::new(schema, vocab.clone());
    for &b in text {
        d.accept(u32::from(b)).unwrap_or_else(|e| {
            panic!(
                "byte {:?} of {:?}: {e}",
                b as char,
                String::from_utf8_lossy(text)
            )
        });
    }
    if !d.is_finished() {
        d.accept(vocab.eos()).unwrap();
    }
    d.finish().unwrap()
}

/// xorshift64*: deterministic pseudo-random logits.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn word(b: &[u8], at: usize) -> &[u8] {
    &b[at..at + 32]
}

fn uword(b: &[u8], at: usize) -> usize {
    let w = word(b, at);
    assert!(
        w[..24].iter().all(|&x| x == 0),
        "offset/length word too large"
    );
    u64::from_be_bytes(w[24..].try_into().unwrap()) as usize
}

fn is_dynamic(n: &Node) -> bool {
    match n {
        Node::Text { .. } | Node::Array { .. } => true,
        Node::Tuple(items) => items.iter().any(is_dynamic),
        _ => false,
    }
}

fn head_size(n: &Node) -> usize {
    match n {
        Node::Tuple(items) if !is_dynamic(n) => items.iter().map(head_size).sum(),
        _ => 32,
    }
}

fn decode_tuple(items: &[&Node], b: &[u8], base: usize) -> Vec<Value> {
    let mut at = base;
    let mut out = Vec::new();
    for n in items {
        if is_dynamic(n) {
            out.push(decode_at(n, b, base + uword(b, at)));
        } else {
            out.push(decode_at(n, b, at));
        }
        at += head_size(n);
    }
    out
}

fn decode_at(n: &Node, b: &[u8], at: usize) -> Value {
    match n {
        Node::Text { .. } => {
            let len = uword(b, at);
            Value::Text(String::from_utf8(b[at + 32..at + 32 + len].to_vec()).unwrap())
        }
        Node::Choice(_) => Value::Choice(u8::try_from(uword(b, at)).unwrap()),
        Node::Int { min, .. } => {
            let w = word(b, at);
            let fill = if *min < 0 && w[0] == 0xff { 0xff } else { 0 };
            assert!(
                w[..24].iter().all(|&x| x == fill),
                "integer does not fit i64"
            );
            Value::Int(i64::from_be_bytes(w[24..].try_into().unwrap()))
        }
        Node::Bool => match uword(b, at) {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            v => panic!("bool word {v}"),
        },
        Node::Address => {
            let w = word(b, at);
            assert!(w[..12].iter().all(|&x| x == 0));
            Value::Address(w[12..].try_into().unwrap())
        }
        Node::Tuple(items) => Value::Tuple(decode_tuple(&items.iter().collect::<Vec<_>>(), b, at)),
        Node::Array { element, .. } => {
            let len = uword(b, at);
            let items: Vec<&Node> = (0..len).map(|_| element.as_ref()).collect();
            Value::Array(decode_tuple(&items, b, at + 32))
        }
    }
}

/// Decodes an output per the schema (what Solidity's `abi.decode` does).
pub fn abi_decode(schema: &Schema, b: &[u8]) -> Value {
    assert_eq!(b.len() % 32, 0);
    match schema.root() {
        None => decode_tuple(
            &[&Node::Text {
                max_bytes: u16::MAX,
            }],
            b,
            0,
        )
        .remove(0),
        Some(Node::Tuple(items)) => {
            Value::Tuple(decode_tuple(&items.iter().collect::<Vec<_>>(), b, 0))
        }
        Some(n) => decode_tuple(&[n], b, 0).remove(0),
    }
}
