//! The texts of a tokenizer's symbols (vocabulary tokens, then merge results that are not
//! tokens) in one contiguous buffer, found by text through an open-addressing table of
//! ids. A 262,144-token vocabulary takes a few MB this way instead of tens of MB as one
//! heap string per token plus a second owned copy of each as a hash-map key.

use super::bpe::Sym;

/// A slot of the lookup table: a symbol id and the high half of its text's hash, which
/// rules out most other texts without reading them.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u32,
    tag: u32,
}

/// An empty slot.
const EMPTY: Slot = Slot {
    id: u32::MAX,
    tag: 0,
};

/// Symbol texts by id, and ids by text.
#[derive(Debug, Default)]
pub(crate) struct Symbols {
    /// Every symbol's bytes, back to back.
    bytes: Vec<u8>,
    /// Symbol `i` is `bytes[ends[i]..ends[i + 1]]`.
    ends: Vec<u32>,
    /// Open-addressing table (linear probing) of ids, at most half full; its length is a
    /// power of two.
    table: Vec<Slot>,
}

impl Symbols {
    /// An empty set sized for about `n` symbols of `bytes` bytes in all.
    pub(crate) fn with_capacity(n: usize, bytes: usize) -> Symbols {
        let mut ends = Vec::with_capacity(n + 1);
        ends.push(0);
        Symbols {
            bytes: Vec::with_capacity(bytes),
            ends,
            table: vec![EMPTY; (2 * n).next_power_of_two().max(16)],
        }
    }

    /// Number of symbols.
    pub(crate) fn len(&self) -> usize {
        self.ends.len() - 1
    }

    /// The text of symbol `id` (empty outside the set).
    pub(crate) fn bytes(&self, id: Sym) -> &[u8] {
        let i = id as usize;
        match (self.ends.get(i), self.ends.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.bytes[a as usize..b as usize],
            _ => &[],
        }
    }

    /// The text of symbol `id` as a string (symbols are whole UTF-8 strings, so this is
    /// empty only for ids outside the set).
    pub(crate) fn text(&self, id: Sym) -> &str {
        std::str::from_utf8(self.bytes(id)).unwrap_or_default()
    }

    /// The id of `text`; when several symbols share a text, the last one added.
    pub(crate) fn get(&self, text: &[u8]) -> Option<Sym> {
        let mask = self.table.len() - 1;
        let h = hash(text);
        let tag = (h >> 32) as u32;
        let mut slot = h as usize & mask;
        loop {
            let Slot { id, tag: t } = self.table[slot];
            if id == EMPTY.id {
                return None;
            }
            if t == tag && self.bytes(id) == text {
                return Some(id);
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Appends `text` as a new symbol, which from now on is what [`Symbols::get`] finds for
    /// that text.
    pub(crate) fn push(&mut self, text: &[u8]) -> Sym {
        let id = self.len() as Sym;
        self.bytes.extend_from_slice(text);
        self.ends.push(self.bytes.len() as u32);
        if 2 * self.len() > self.table.len() {
            self.grow();
        } else {
            self.place(id);
        }
        id
    }

    /// The id of `text`, added as a new symbol if absent.
    pub(crate) fn intern(&mut self, text: &[u8]) -> Sym {
        match self.get(text) {
            Some(id) => id,
            None => self.push(text),
        }
    }

    /// Puts `id` in the slot of its text, replacing an earlier symbol of the same text.
    fn place(&mut self, id: Sym) {
        let mask = self.table.len() - 1;
        let text = self.bytes(id);
        let h = hash(text);
        let tag = (h >> 32) as u32;
        let mut slot = h as usize & mask;
        loop {
            let cur = self.table[slot];
            if cur.id == EMPTY.id || (cur.tag == tag && self.bytes(cur.id) == text) {
                break;
            }
            slot = (slot + 1) & mask;
        }
        self.table[slot] = Slot { id, tag };
    }

    /// Doubles the table and re-adds every symbol in id order (so later ids still win).
    fn grow(&mut self) {
        self.table = vec![EMPTY; 2 * self.table.len()];
        for id in 0..self.len() as Sym {
            self.place(id);
        }
    }
}

/// FNV-1a over 64 bits, finished with a multiply-xorshift so the low bits (the slot) mix.
fn hash(text: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in text {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_texts_and_later_duplicates_win() {
        let mut s = Symbols::with_capacity(2, 4);
        for t in ["a", "bc", "", "a"] {
            s.push(t.as_bytes());
        }
        assert_eq!(s.get(b"a"), Some(3));
        assert_eq!(s.get(b"bc"), Some(1));
        assert_eq!(s.get(b""), Some(2));
        assert_eq!(s.get(b"b"), None);
        assert_eq!(s.text(1), "bc");
        assert_eq!(s.bytes(9), b"");
        // Growing keeps every text findable.
        for i in 0..100 {
            s.intern(format!("x{i}").as_bytes());
        }
        assert_eq!(s.get(b"a"), Some(3));
        assert_eq!(s.get(b"x42"), Some(46));
        assert_eq!(s.intern(b"x42"), 46);
    }
}
