//! Byte-level BPE (`tokenizer.ggml.model = "gpt2"`) and SentencePiece-style
//! (`"llama"`, see `spm`) tokenizers built from GGUF metadata, producing the same ids as
//! llama.cpp.
//!
//! Encoding: special tokens are cut out first (control tokens only when `parse_special`;
//! user-defined tokens always, as llama.cpp does), longest first. Each remaining text
//! fragment is split into words by the pre-tokenizer (`tokenizer.ggml.pre`), each word's
//! bytes become GPT-2 alphabet symbols, and the symbols are merged by merge rank.

mod bpe;
mod bytes;
mod pretokenize;
mod spm;
mod symbols;

use crate::gguf::{GgufError, GgufFile, MetaValue};
use bpe::{Merges, Sym};
use pretokenize::PreTokenizer;
use spm::Spm;
use symbols::Symbols;

/// Why a tokenizer could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizerError {
    /// Required metadata is missing or malformed.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// Only byte-level BPE (`gpt2`) and SentencePiece (`llama`) vocabularies are supported.
    #[error("unsupported tokenizer model {0:?} (supported: \"gpt2\", \"llama\")")]
    UnsupportedModel(String),
    /// The pre-tokenizer named in `tokenizer.ggml.pre` is not implemented.
    #[error("unsupported pre-tokenizer {0:?}")]
    UnsupportedPreTokenizer(String),
    /// A merge rule is not `left right`.
    #[error("merge rule {index} {text:?} is not two space-separated symbols")]
    BadMerge {
        /// Position in `tokenizer.ggml.merges`.
        index: usize,
        /// The rule.
        text: String,
    },
    /// A per-token array does not have one entry per token.
    #[error("{key} has {found} entries, the vocabulary has {expected}")]
    LengthMismatch {
        /// The metadata key.
        key: &'static str,
        /// Entries found.
        found: usize,
        /// Vocabulary size.
        expected: usize,
    },
    /// The token texts and merge rules add up to more bytes than 32-bit offsets reach.
    #[error("the vocabulary's texts take {0} bytes, more than 4 GiB")]
    TooLarge(u64),
    /// A special token id is outside the vocabulary.
    #[error("{key} = {id} is outside the vocabulary of {vocab} tokens")]
    BadTokenId {
        /// The metadata key.
        key: &'static str,
        /// The id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
}

/// GGUF `token_type` values.
const TYPE_NORMAL: i32 = 1;
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_USER_DEFINED: i32 = 4;
const TYPE_UNUSED: i32 = 5;

/// A byte-level BPE or SentencePiece tokenizer.
pub struct Tokenizer {
    /// Number of tokens.
    n_tokens: usize,
    /// Text of every symbol: the tokens as stored (GPT-2 alphabet for normal tokens), then
    /// merge results that are not tokens.
    symbols: Symbols,
    /// GGUF token types.
    types: Vec<i32>,
    /// What each token decodes to: token `i` is `decoded[decoded_ends[i]..decoded_ends[i + 1]]`.
    decoded: Vec<u8>,
    decoded_ends: Vec<u32>,
    /// Symbol of each byte (byte-level BPE only; zeros for SentencePiece).
    byte_syms: [Sym; 256],
    byte_chars: [char; 256],
    merges: Merges,
    /// Special-token ids cut out before BPE, longest text first.
    specials: Vec<u32>,
    pre: PreTokenizer,
    ignore_merges: bool,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    /// Scores and byte fallback of a SentencePiece vocabulary (`None`: byte-level BPE).
    spm: Option<Spm>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab", &self.n_tokens)
            .field("merges", &self.merges.len())
            .field("pre", &self.pre)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Builds the tokenizer described by a GGUF file's `tokenizer.*` metadata.
    pub fn from_gguf(g: &GgufFile) -> Result<Tokenizer, TokenizerError> {
        let model = g.meta_str("tokenizer.ggml.model")?;
        let is_spm = match model {
            "gpt2" => false,
            "llama" => true,
            other => return Err(TokenizerError::UnsupportedModel(other.to_owned())),
        };
        let pre_name = match g.meta("tokenizer.ggml.pre") {
            None => "default",
            Some(_) => g.meta_str("tokenizer.ggml.pre")?,
        };
        // SentencePiece vocabularies have no pre-tokenizer (llama.cpp ignores the key).
        let (pre, ignore_merges) = if is_spm {
            (PreTokenizer::Gpt2, false)
        } else {
            PreTokenizer::from_name(pre_name)
                .ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(pre_name.to_owned()))?
        };
        let texts = g.meta_str_array("tokenizer.ggml.tokens")?;
        let n = texts.len();
        let types = if g.has_meta("tokenizer.ggml.token_type") {
            g.meta_i32_array("tokenizer.ggml.token_type")?
        } else {
            vec![TYPE_NORMAL; n]
        };
        if types.len() != n {
            return Err(TokenizerError::LengthMismatch {
                key: "tokenizer.ggml.token_type",
                found: types.len(),
                expected: n,
            });
        }
        let special_id = |key: &'static str| -> Result<Option<u32>, TokenizerError> {
            if g.meta(key).is_none() {
                return Ok(None);
            }
            let id = g.meta_u32(key)?;
            if id as usize >= n {
                return Err(TokenizerError::BadTokenId { key, id, vocab: n });
            }
            Ok(Some(id))
        };
        let bos = special_id("tokenizer.ggml.bos_token_id")?;
        let eos = special_id("tokenizer.ggml.eos_token_id")?;
        let add_bos = match g.meta("tokenizer.ggml.add_bos_token") {
            Some(MetaValue::Bool(b)) => *b,
            _ => is_spm || pre == PreTokenizer::Llama3,
        } && bos.is_some();

        let byte_chars = bytes::byte_chars();
        // Byte-level BPE adds the byte symbols (and merge results) after the tokens.
        let extra = if is_spm { 0 } else { 256 };
        let rules = if !is_spm && g.has_meta("tokenizer.ggml.merges") {
            g.meta_str_array("tokenizer.ggml.merges")?
        } else {
            Vec::new()
        };
        // Symbols and decoded texts are found by u32 offsets: token texts, the byte symbols
        // (at most 2 bytes each) and merge results (no longer than their rules) must fit.
        let text_bytes: usize = texts.iter().map(|t| t.len()).sum();
        let total = text_bytes as u64 + 512 + rules.iter().map(|r| r.len() as u64).sum::<u64>();
        if total > u64::from(u32::MAX) {
            return Err(TokenizerError::TooLarge(total));
        }
        let mut symbols = Symbols::with_capacity(n + extra, text_bytes);
        for t in &texts {
            symbols.push(t.as_bytes());
        }
        let byte_syms = if is_spm {
            [0; 256]
        } else {
            byte_chars.map(|c| symbols.intern(c.encode_utf8(&mut [0; 4]).as_bytes()))
        };

        let mut pairs = Vec::with_capacity(rules.len());
        let mut joined = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            let split = rule.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(at) = split else {
                return Err(TokenizerError::BadMerge {
                    index,
                    text: (*rule).to_owned(),
                });
            };
            let (l, r) = (&rule[..at], &rule[at + 1..]);
            joined.clear();
            joined.extend_from_slice(l.as_bytes());
            joined.extend_from_slice(r.as_bytes());
            let merged = symbols.intern(&joined);
            pairs.push((l, r, merged));
        }
        let mut merges = Merges::with_capacity(pairs.len());
        for (rank, (l, r, merged)) in pairs.into_iter().enumerate() {
            // A part that is neither a token, a byte nor a merge result can never occur.
            let (ls, rs) = (symbols.get(l.as_bytes()), symbols.get(r.as_bytes()));
            if let (Some(ls), Some(rs)) = (ls, rs) {
                merges.entry((ls, rs)).or_insert((rank as u32, merged));
            }
        }

        let mut decoded = Vec::with_capacity(text_bytes);
        let mut decoded_ends = Vec::with_capacity(n + 1);
        decoded_ends.push(0);
        for (t, &ty) in texts.iter().zip(&types) {
            match ty {
                _ if is_spm => spm::decode_token(t, ty, &mut decoded),
                TYPE_NORMAL => bytes::decode_text(t, &byte_chars, &mut decoded),
                _ => decoded.extend_from_slice(t.as_bytes()),
            }
            decoded_ends.push(decoded.len() as u32);
        }
        decoded.shrink_to_fit();
        drop(texts);
        let spm = if is_spm {
            Some(spm::from_gguf(g, n, &symbols)?)
        } else {
            None
        };
        let mut specials: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                matches!(
                    types[i as usize],
                    TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN
                ) && !symbols.bytes(i).is_empty()
            })
            .collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(symbols.bytes(i).len()));

        Ok(Tokenizer {
            n_tokens: n,
            symbols,
            types,
            decoded,
            decoded_ends,
            byte_syms,
            byte_chars,
            merges,
            specials,
            pre,
            ignore_merges,
            bos,
            eos,
            add_bos,
            spm,
        })
    }

    /// Token ids for `text`. With `parse_special`, control tokens written in the text
    /// (`<|im_start|>`) become their ids; otherwise they are tokenized as plain text.
    /// No BOS is added (see [`Tokenizer::add_bos`]).
    pub fn encode(&self, text: &str, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let mut after_special = true;
        for fragment in self.partition(text, parse_special) {
            match fragment {
                Fragment::Token(id) => out.push(id),
                Fragment::Text(s) => match &self.spm {
                    Some(spm) => spm.encode(s, after_special, &self.symbols, &mut out),
                    None => self.encode_text(s, &mut out),
                },
            }
            after_special = matches!(fragment, Fragment::Token(_));
        }
        out
    }

    /// Splits out special tokens, longest first, as llama.cpp does.
    fn partition<'t>(&self, text: &'t str, parse_special: bool) -> Vec<Fragment<'t>> {
        let mut frags = vec![Fragment::Text(text)];
        for &id in &self.specials {
            let ty = self.types[id as usize];
            if !parse_special && matches!(ty, TYPE_CONTROL | TYPE_UNKNOWN) {
                continue;
            }
            let pat = self.symbols.text(id);
            let mut next = Vec::with_capacity(frags.len());
            for f in frags {
                let Fragment::Text(mut s) = f else {
                    next.push(f);
                    continue;
                };
                while let Some(at) = s.find(pat) {
                    if at > 0 {
                        next.push(Fragment::Text(&s[..at]));
                    }
                    next.push(Fragment::Token(id));
                    s = &s[at + pat.len()..];
                }
                if !s.is_empty() {
                    next.push(Fragment::Text(s));
                }
            }
            frags = next;
        }
        frags
    }

    fn encode_text(&self, text: &str, out: &mut Vec<u32>) {
        let n = self.n_tokens;
        let mut syms = Vec::new();
        let mut merged = Vec::new();
        for range in self.pre.split(text) {
            let word = &text.as_bytes()[range];
            if self.ignore_merges {
                let encoded: String = word.iter().map(|&b| self.byte_chars[b as usize]).collect();
                if let Some(id) = self.symbols.get(encoded.as_bytes())
                    && (id as usize) < n
                {
                    out.push(id);
                    continue;
                }
            }
            syms.clear();
            syms.extend(word.iter().map(|&b| self.byte_syms[b as usize]));
            merged.clear();
            bpe::merge_word(&syms, &self.merges, &mut merged);
            for &s in &merged {
                if (s as usize) < n {
                    out.push(s);
                } else {
                    // Not a token: llama.cpp falls back to one-character tokens, which
                    // only exist for ASCII characters.
                    for c in self.symbols.bytes(s).iter().filter(|c| c.is_ascii()) {
                        if let Some(id) = self.symbols.get(std::slice::from_ref(c))
                            && (id as usize) < n
                        {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }

    /// The bytes the ids stand for (special tokens give their text; ids outside the
    /// vocabulary give nothing). The result may end inside a UTF-8 sequence.
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id));
        }
        out
    }

    /// The bytes of one token: its decoded text, or a special token's literal text.
    /// Empty for ids outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        match (self.decoded_ends.get(i), self.decoded_ends.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.decoded[a as usize..b as usize],
            _ => &[],
        }
    }

    /// True for tokens that do not stand for text: control, unknown and unused tokens.
    pub fn is_special(&self, id: u32) -> bool {
        self.types
            .get(id as usize)
            .is_some_and(|&t| matches!(t, TYPE_CONTROL | TYPE_UNKNOWN | TYPE_UNUSED))
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.n_tokens
    }

    /// End-of-sequence token, from `tokenizer.ggml.eos_token_id`.
    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos
    }

    /// Beginning-of-sequence token, from `tokenizer.ggml.bos_token_id`.
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos
    }

    /// Whether prompts should start with BOS (`tokenizer.ggml.add_bos_token`; Llama 3 and
    /// SentencePiece vocabularies default to yes, others to no).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The id of the token whose stored text is exactly `text` (e.g. `"<|im_end|>"`).
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.symbols
            .get(text.as_bytes())
            .filter(|&id| (id as usize) < self.n_tokens)
    }
}

/// A piece of input: text still to tokenize, or a special token found in it.
#[derive(Clone, Copy)]
enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}
