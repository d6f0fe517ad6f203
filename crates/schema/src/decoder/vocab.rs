//! The tokenizer vocabulary as a byte trie, built once and shared by every decoder.

use thiserror::Error;

/// Why a vocabulary was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VocabError {
    /// The EOS id is not a token of the vocabulary.
    #[error("eos id {eos} is outside the vocabulary of {size} tokens")]
    EosOutOfRange {
        /// The EOS id.
        eos: u32,
        /// Vocabulary size.
        size: usize,
    },
    /// `special` does not have one flag per token.
    #[error("{flags} special flags for {size} tokens")]
    SpecialMismatch {
        /// Number of flags.
        flags: usize,
        /// Vocabulary size.
        size: usize,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TrieNode {
    /// (byte, child index), sorted by byte.
    pub(crate) children: Vec<(u8, u32)>,
    /// Tokens whose bytes end exactly here.
    pub(crate) tokens: Vec<u32>,
}

/// Per-token byte strings, the EOS id and the special flags, with a trie of the token bytes.
#[derive(Debug, Clone)]
pub struct Vocab {
    tokens: Vec<Vec<u8>>,
    special: Vec<bool>,
    eos: u32,
    max_len: usize,
    pub(crate) trie: Vec<TrieNode>,
}

impl Vocab {
    /// Builds the vocabulary. Special tokens (and empty ones) are never allowed; EOS is
    /// allowed only when the value is complete.
    pub fn new(tokens: Vec<Vec<u8>>, eos: u32, special: Vec<bool>) -> Result<Vocab, VocabError> {
        let size = tokens.len();
        if eos as usize >= size {
            return Err(VocabError::EosOutOfRange { eos, size });
        }
        if special.len() != size {
            return Err(VocabError::SpecialMismatch {
                flags: special.len(),
                size,
            });
        }
        let mut trie = vec![TrieNode::default()];
        for (id, bytes) in tokens.iter().enumerate() {
            if special[id] || id == eos as usize || bytes.is_empty() {
                continue;
            }
            let mut at = 0usize;
            for &b in bytes {
                at = match trie[at].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => trie[at].children[i].1 as usize,
                    Err(i) => {
                        let next = trie.len();
                        trie.push(TrieNode::default());
                        trie[at].children.insert(i, (b, next as u32));
                        next
                    }
                };
            }
            trie[at].tokens.push(id as u32);
        }
        let max_len = tokens.iter().map(Vec::len).max().unwrap_or(0);
        Ok(Vocab {
            tokens,
            special,
            eos,
            max_len,
            trie,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True for an empty vocabulary (never, since EOS must exist).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The bytes of a token (empty for an unknown id).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.tokens.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// True for special tokens.
    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    /// Length of the longest token, in bytes.
    pub fn max_token_len(&self) -> usize {
        self.max_len
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> u32 {
        self.eos
    }
}

/// A set of token ids (a bitset over the vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    words: Vec<u64>,
    size: usize,
}

impl TokenSet {
    /// An empty set over `size` token ids.
    pub fn new(size: usize) -> TokenSet {
        TokenSet {
            words: vec![0; size.div_ceil(64)],
            size,
        }
    }

    /// Removes every id.
    pub fn clear(&mut self) {
        self.words.fill(0);
    }

    /// Adds `id` (ignored when outside the vocabulary).
    pub fn insert(&mut self, id: u32) {
        if (id as usize) < self.size {
            self.words[id as usize / 64] |= 1 << (id % 64);
        }
    }

    /// True when `id` is in the set.
    pub fn contains(&self, id: u32) -> bool {
        (id as usize) < self.size && self.words[id as usize / 64] & (1 << (id % 64)) != 0
    }

    /// Number of ids in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The ids in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.size as u32).filter(|&i| self.contains(i))
    }
}
