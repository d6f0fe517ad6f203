//! A cache of the key/value caches of recently computed token sequences, so a prompt that
//! starts with one (the next turn of a conversation starts with the previous turn's prompt
//! and answer) prefills only the tokens after the shared prefix.
//!
//! Reuse never changes a bit: the forward pass computes every position's keys, values and
//! logits with the same arithmetic however the sequence is split into prefill steps, and a
//! cache truncated to `n` positions holds exactly what a cache fed those `n` positions holds
//! ([`KvCache::truncate`]). A prompt continued from a cached prefix therefore gives the
//! logits, tokens and scores a cold computation gives (`docs/engine.md`, "Prefix cache").
//!
//! One cache serves one model: entries are keyed by exact token sequences only. Memory is
//! bounded by a byte budget with least-recently-used eviction; a budget of 0 disables it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::model::{KvCache, Model};

/// Counters of a [`PrefixCache`] since it was made (each prefill that consults it is one
/// lookup), and what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixStats {
    /// Prompts looked up.
    pub lookups: u64,
    /// Lookups that reused at least one position.
    pub hits: u64,
    /// Prompt positions taken from the cache instead of computed.
    pub tokens_reused: u64,
    /// Prompt positions computed (prefilled) by the prompts looked up.
    pub tokens_computed: u64,
    /// Entries evicted to stay within the budget.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now (the entries' [`KvCache::bytes`]).
    pub bytes: u64,
}

impl PrefixStats {
    /// What happened between `earlier` and `self` (counters subtracted; the entries and
    /// bytes held are `self`'s).
    #[must_use]
    pub fn since(&self, earlier: &PrefixStats) -> PrefixStats {
        PrefixStats {
            lookups: self.lookups.saturating_sub(earlier.lookups),
            hits: self.hits.saturating_sub(earlier.hits),
            tokens_reused: self.tokens_reused.saturating_sub(earlier.tokens_reused),
            tokens_computed: self.tokens_computed.saturating_sub(earlier.tokens_computed),
            evictions: self.evictions.saturating_sub(earlier.evictions),
            entries: self.entries,
            bytes: self.bytes,
        }
    }

    /// Adds `other`'s counters and holdings (several models' caches as one).
    pub fn add(&mut self, other: &PrefixStats) {
        self.lookups += other.lookups;
        self.hits += other.hits;
        self.tokens_reused += other.tokens_reused;
        self.tokens_computed += other.tokens_computed;
        self.evictions += other.evictions;
        self.entries += other.entries;
        self.bytes += other.bytes;
    }
}

/// How one prompt's prefill used the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reuse {
    /// Prompt positions taken from the cache.
    pub reused: usize,
    /// Prompt positions computed.
    pub computed: usize,
}

/// One stored sequence.
#[derive(Debug)]
struct Entry {
    tokens: Vec<u32>,
    cache: Arc<KvCache>,
    bytes: usize,
    /// The clock value of the last lookup or store that touched it.
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Entry>,
    bytes: usize,
    clock: u64,
    stats: PrefixStats,
}

impl Inner {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// The key/value caches of recently computed token sequences of one model, shared by the
/// threads that run it; at most `budget` bytes, least recently used evicted first.
pub struct PrefixCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl PrefixCache {
    /// An empty cache holding at most `budget_bytes` of key/value data (0: never stores).
    pub fn new(budget_bytes: usize) -> PrefixCache {
        PrefixCache {
            budget: budget_bytes,
            inner: Mutex::default(),
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Counters and holdings now.
    pub fn stats(&self) -> PrefixStats {
        let inner = self.lock();
        PrefixStats {
            entries: inner.entries.len() as u64,
            bytes: inner.bytes as u64,
            ..inner.stats
        }
    }

    /// Drops every entry (counters stay).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.bytes = 0;
    }

    /// The token sequences held, most recently used first (tests and diagnostics).
    pub fn sequences(&self) -> Vec<Vec<u32>> {
        let inner = self.lock();
        let mut entries: Vec<&Entry> = inner.entries.iter().collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.used));
        entries.iter().map(|e| e.tokens.clone()).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cache of `model` holding the longest stored prefix of `prompt`, leaving at least
    /// its last token to compute (its logits are needed), and how much that reuses. The
    /// entry may be longer than the shared part: its copy is truncated to it.
    pub fn lookup(&self, model: &Model, prompt: &[u32]) -> (KvCache, Reuse) {
        let limit = prompt.len().saturating_sub(1);
        let best = {
            let mut inner = self.lock();
            let best = inner
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (i, common_prefix(&e.tokens, prompt).min(limit)))
                .filter(|&(_, n)| n > 0)
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)));
            let found = best.map(|(i, n)| {
                let used = inner.tick();
                let e = &mut inner.entries[i];
                e.used = used;
                (Arc::clone(&e.cache), n)
            });
            let reused = found.as_ref().map_or(0, |f| f.1);
            let s = &mut inner.stats;
            s.lookups += 1;
            s.hits += u64::from(reused > 0);
            s.tokens_reused += reused as u64;
            s.tokens_computed += (prompt.len() - reused) as u64;
            found
        };
        match best {
            Some((cache, n)) => {
                let mut cache = KvCache::clone(&cache);
                cache.truncate(n);
                let reuse = Reuse {
                    reused: n,
                    computed: prompt.len() - n,
                };
                (cache, reuse)
            }
            None => (
                KvCache::new(model),
                Reuse {
                    reused: 0,
                    computed: prompt.len(),
                },
            ),
        }
    }

    /// Stores `cache`, which holds the positions of `tokens` (a longer cache is truncated to
    /// them). A sequence that an entry already starts with is not stored again (the entry
    /// is touched instead); entries that are prefixes of `tokens` are replaced by it. Then
    /// the least recently used entries are evicted until the budget holds; a sequence
    /// larger than the whole budget is not stored.
    pub fn store(&self, tokens: Vec<u32>, mut cache: KvCache) {
        if self.budget == 0 || tokens.is_empty() || cache.len() < tokens.len() {
            return;
        }
        cache.truncate(tokens.len());
        let bytes = cache.bytes();
        if bytes > self.budget {
            return;
        }
        {
            let mut inner = self.lock();
            let used = inner.tick();
            if let Some(e) = inner
                .entries
                .iter_mut()
                .find(|e| e.tokens.starts_with(&tokens))
            {
                e.used = used;
                return;
            }
        }
        // A copy allocates only what is stored: a cache that grew while decoding (or was
        // truncated) may hold more capacity than `bytes`, which the budget counts.
        let cache = cache.clone();
        let mut inner = self.lock();
        let used = inner.tick();
        let mut freed = 0;
        inner.entries.retain(|e| {
            let keep = !tokens.starts_with(&e.tokens);
            if !keep {
                freed += e.bytes;
            }
            keep
        });
        inner.bytes -= freed;
        while inner.bytes + bytes > self.budget {
            let Some(oldest) = (0..inner.entries.len()).min_by_key(|&i| inner.entries[i].used)
            else {
                break;
            };
            let e = inner.entries.swap_remove(oldest);
            inner.bytes -= e.bytes;
            inner.stats.evictions += 1;
        }
        inner.bytes += bytes;
        inner.entries.push(Entry {
            tokens,
            cache: Arc::new(cache),
            bytes,
            used,
        });
    }
}

/// How many leading tokens `a` and `b` share.
fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_counts_leading_equal_tokens() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[5], &[1]), 0);
    }

    #[test]
    fn stats_subtract_and_add() {
        let a = PrefixStats {
            lookups: 3,
            hits: 2,
            tokens_reused: 10,
            tokens_computed: 5,
            evictions: 1,
            entries: 2,
            bytes: 100,
        };
        let mut b = a;
        b.lookups += 1;
        b.tokens_reused += 7;
        let d = b.since(&a);
        assert_eq!(
            (d.lookups, d.tokens_reused, d.hits, d.entries),
            (1, 7, 0, 2)
        );
        let mut s = PrefixStats::default();
        s.add(&a);
        s.add(&a);
        assert_eq!((s.lookups, s.bytes), (6, 200));
    }
}
