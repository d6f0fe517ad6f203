//! Constrained decoding: which tokens keep the model's text a valid prefix of a value.

mod machine;
mod vocab;

use std::sync::{Arc, OnceLock};

use machine::{Machine, State};
use thiserror::Error;
pub use vocab::{TokenSet, Vocab, VocabError};

use crate::schema::Schema;
use crate::text::{TextError, parse_text};
use crate::value::Value;

/// Why the decoder refused a token or a result.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The token's bytes would leave the schema's language.
    #[error("token {id} is not allowed here")]
    TokenNotAllowed {
        /// The token.
        id: u32,
    },
    /// A special token (other than EOS) or an id outside the vocabulary.
    #[error("token {id} is special or outside the vocabulary")]
    SpecialToken {
        /// The token.
        id: u32,
    },
    /// EOS before the value is complete.
    #[error("end of sequence before the value is complete")]
    EarlyEos,
    /// A token after EOS.
    #[error("token {id} after end of sequence")]
    AfterEos {
        /// The token.
        id: u32,
    },
    /// `finish` on an incomplete value.
    #[error("the value is incomplete")]
    Incomplete,
    /// The text does not parse (a bug if it ever happens: the mask forbids it).
    #[error("generated text does not parse: {0}")]
    Text(#[from] TextError),
}

/// Masks logits so a model can only generate text of one schema's language.
#[derive(Debug, Clone)]
pub struct ConstrainedDecoder {
    schema: Schema,
    machine: Arc<Machine>,
    vocab: Arc<Vocab>,
    state: State,
    text: Vec<u8>,
    eos_seen: bool,
    /// Allowed tokens in steady top-level text (see `Machine::is_steady_text`).
    steady: OnceLock<TokenSet>,
}

impl ConstrainedDecoder {
    /// A decoder at the start of the output.
    pub fn new(schema: &Schema, vocab: Arc<Vocab>) -> ConstrainedDecoder {
        let machine = Machine::new(schema);
        let state = machine.start();
        ConstrainedDecoder {
            schema: schema.clone(),
            machine: Arc::new(machine),
            vocab,
            state,
            text: Vec::new(),
            eos_seen: false,
            steady: OnceLock::new(),
        }
    }

    /// The tokens allowed next, written into `out` (cleared first; sized to the vocabulary).
    pub fn allowed_into(&self, out: &mut TokenSet) {
        out.clear();
        if self.eos_seen {
            return;
        }
        if self
            .machine
            .is_steady_text(&self.state, self.vocab.max_token_len())
        {
            let set = self.steady.get_or_init(|| {
                let mut set = TokenSet::new(self.vocab.len());
                self.walk(self.state, &mut set);
                set
            });
            out.clone_from(set);
        } else {
            self.walk(self.state, out);
        }
        if self.machine.is_complete(&self.state) {
            out.insert(self.vocab.eos());
        }
    }

    /// Adds every token whose bytes `feed` accepts from `start`.
    fn walk(&self, start: State, out: &mut TokenSet) {
        let trie = &self.vocab.trie;
        let mut stack: Vec<(u32, State)> = vec![(0, start)];
        while let Some((node, state)) = stack.pop() {
            for &(b, child) in &trie[node as usize].children {
                let mut s = state;
                if self.machine.feed(&mut s, b) {
                    let c = &trie[child as usize];
                    for &id in &c.tokens {
                        out.insert(id);
                    }
                    if !c.children.is_empty() {
                        stack.push((child, s));
                    }
                }
            }
        }
    }

    /// The tokens allowed next.
    pub fn allowed(&self) -> TokenSet {
        let mut set = TokenSet::new(self.vocab.len());
        self.allowed_into(&mut set);
        set
    }

    /// Sets every disallowed token's logit to `f32::NEG_INFINITY`.
    pub fn mask(&self, logits: &mut [f32]) {
        let set = self.allowed();
        for (id, l) in logits.iter_mut().enumerate() {
            if !set.contains(id as u32) {
                *l = f32::NEG_INFINITY;
            }
        }
    }

    /// Consumes a generated token; the state is unchanged on error.
    pub fn accept(&mut self, id: u32) -> Result<(), DecodeError> {
        if self.eos_seen {
            return Err(DecodeError::AfterEos { id });
        }
        if id == self.vocab.eos() {
            if !self.machine.is_complete(&self.state) {
                return Err(DecodeError::EarlyEos);
            }
            self.eos_seen = true;
            return Ok(());
        }
        if self.vocab.is_special(id) || id as usize >= self.vocab.len() {
            return Err(DecodeError::SpecialToken { id });
        }
        let bytes = self.vocab.token_bytes(id);
        if bytes.is_empty() {
            return Err(DecodeError::TokenNotAllowed { id });
        }
        let mut s = self.state;
        if !bytes.iter().all(|&b| self.machine.feed(&mut s, b)) {
            return Err(DecodeError::TokenNotAllowed { id });
        }
        self.state = s;
        self.text.extend_from_slice(bytes);
        Ok(())
    }

    /// True when the text so far is a whole value (EOS is allowed).
    pub fn is_complete(&self) -> bool {
        self.machine.is_complete(&self.state)
    }

    /// True when generation must stop: EOS was accepted, or the value is complete and no
    /// byte can extend it.
    pub fn is_finished(&self) -> bool {
        self.eos_seen
            || self.machine.is_complete(&self.state) && self.machine.is_closed(&self.state)
    }

    /// The text generated so far.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The decoded value; errors unless the value is complete.
    pub fn finish(&self) -> Result<Value, DecodeError> {
        if !self.is_complete() {
            return Err(DecodeError::Incomplete);
        }
        Ok(parse_text(&self.schema, &self.text)?)
    }
}
