//! SentencePiece-style vocabularies (`tokenizer.ggml.model = "llama"`: Llama 1/2, Gemma),
//! encoded as llama.cpp's `llm_tokenizer_spm` does.
//!
//! A text fragment has spaces replaced by `▁` (U+2581; with `add_space_prefix`, a space is
//! put in front first when the fragment starts the text or follows a special token), is
//! split into UTF-8 characters, and adjacent symbols are merged while any adjacent pair's
//! concatenation is a token: always the pair whose token has the highest score, the
//! leftmost among equal scores. A final symbol that is not a token becomes its bytes'
//! `<0xXX>` tokens (byte fallback).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::TokenizerError;
use super::symbols::Symbols;
use crate::gguf::{GgufFile, MetaValue};

/// GGUF token type of byte tokens (`<0x41>`).
pub(crate) const TYPE_BYTE: i32 = 6;

/// The SentencePiece side of a tokenizer: token scores and byte fallback.
#[derive(Debug)]
pub(crate) struct Spm {
    scores: Vec<f32>,
    add_space_prefix: bool,
    /// The token of each byte: `<0xXX>`, else the one-byte text, else none.
    byte_tokens: [Option<u32>; 256],
}

/// A merge candidate: symbols `left` and `right`, whose joined text (`size` bytes) is a
/// token of score `score`. Ordered so the heap pops the highest score, then the lowest
/// `left` (llama.cpp's `llm_bigram_spm::comparator`).
#[derive(Debug, PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then(o.left.cmp(&self.left))
            .then(o.right.cmp(&self.right))
            .then(o.size.cmp(&self.size))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// One symbol of the text being merged: bytes `start..start + len` (len 0: merged away).
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Spm {
    /// Scores (one per token, 0 when the file has none), whether to prefix a space, and
    /// the byte-fallback tokens looked up in `ids`.
    pub(crate) fn new(scores: Vec<f32>, add_space_prefix: bool, ids: &Symbols) -> Spm {
        let n = scores.len();
        let token = |s: &str| ids.get(s.as_bytes()).filter(|&id| (id as usize) < n);
        let byte_tokens = std::array::from_fn(|b| {
            token(&format!("<0x{b:02X}>")).or_else(|| {
                u8::try_from(b)
                    .ok()
                    .filter(u8::is_ascii)
                    .and_then(|c| token(&char::from(c).to_string()))
            })
        });
        Spm {
            scores,
            add_space_prefix,
            byte_tokens,
        }
    }

    /// Appends the ids of one text fragment; `after_special`: the fragment starts the text
    /// or follows a special token (where `add_space_prefix` puts its space). `ids` maps
    /// texts to ids (those at or above the vocabulary size are not tokens).
    pub(crate) fn encode(
        &self,
        fragment: &str,
        after_special: bool,
        ids: &Symbols,
        out: &mut Vec<u32>,
    ) {
        let mut text = String::with_capacity(fragment.len() + 3);
        if self.add_space_prefix && after_special {
            text.push(' ');
        }
        text.push_str(fragment);
        let text = text.replace(' ', "\u{2581}");
        let n_tokens = self.scores.len();
        let token = |s: &str| ids.get(s.as_bytes()).filter(|&id| (id as usize) < n_tokens);

        let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (start, c)) in text.char_indices().enumerate() {
            let len = c.len_utf8();
            syms.push(Symbol {
                start,
                len,
                prev: i.checked_sub(1),
                next: (start + len < text.len()).then_some(i + 1),
            });
        }
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Bigram>, syms: &[Symbol], l: usize, r: usize| {
            let (a, b) = (syms[l], syms[r]);
            let joined = &text[a.start..a.start + a.len + b.len];
            if let Some(id) = token(joined) {
                heap.push(Bigram {
                    score: self.scores[id as usize],
                    left: l,
                    right: r,
                    size: joined.len(),
                });
            }
        };
        for i in 1..syms.len() {
            push(&mut heap, &syms, i - 1, i);
        }
        while let Some(bg) = heap.pop() {
            let (l, r) = (syms[bg.left], syms[bg.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
                continue; // one side was merged since this pair was queued
            }
            syms[bg.left].len += r.len;
            syms[bg.right].len = 0;
            syms[bg.left].next = r.next;
            if let Some(nx) = r.next {
                syms[nx].prev = Some(bg.left);
            }
            if let Some(p) = syms[bg.left].prev {
                push(&mut heap, &syms, p, bg.left);
            }
            if let Some(nx) = syms[bg.left].next {
                push(&mut heap, &syms, bg.left, nx);
            }
        }
        let mut at = (!syms.is_empty()).then_some(0);
        while let Some(i) = at {
            let s = syms[i];
            let piece = &text[s.start..s.start + s.len];
            match token(piece) {
                Some(id) => out.push(id),
                // Every merged symbol is a token, so only single characters get here.
                None => out.extend(piece.bytes().filter_map(|b| self.byte_tokens[b as usize])),
            }
            at = s.next;
        }
    }
}

/// The SentencePiece side of a `llama` vocabulary: `tokenizer.ggml.scores` (zeros when
/// absent) and `tokenizer.ggml.add_space_prefix` (default true, as llama.cpp).
pub(crate) fn from_gguf(g: &GgufFile, n: usize, ids: &Symbols) -> Result<Spm, TokenizerError> {
    let scores = if g.has_meta("tokenizer.ggml.scores") {
        g.meta_f32_array("tokenizer.ggml.scores")?
    } else {
        vec![0.0; n]
    };
    if scores.len() != n {
        return Err(TokenizerError::LengthMismatch {
            key: "tokenizer.ggml.scores",
            found: scores.len(),
            expected: n,
        });
    }
    let add_space_prefix = match g.meta("tokenizer.ggml.add_space_prefix") {
        Some(MetaValue::Bool(b)) => *b,
        _ => true,
    };
    Ok(Spm::new(scores, add_space_prefix, ids))
}

/// Appends what a SentencePiece token decodes to: normal tokens with `▁` as a space, byte
/// tokens their byte, all others their literal text.
pub(crate) fn decode_token(text: &str, ty: i32, out: &mut Vec<u8>) {
    let byte = || {
        text.strip_prefix("<0x")
            .and_then(|h| h.strip_suffix('>'))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
    };
    match ty {
        super::TYPE_NORMAL => {
            for (i, part) in text.split('\u{2581}').enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(part.as_bytes());
            }
        }
        TYPE_BYTE if byte().is_some() => out.extend(byte()),
        _ => out.extend_from_slice(text.as_bytes()),
    }
}
