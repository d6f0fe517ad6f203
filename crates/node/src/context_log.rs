//! The `ContextAppended` entries a node has already read, per context chain
//! `(requester, topic)`, so rebuilding a prompt's context scans only the blocks it has not
//! read yet instead of every block since the kernel's deployment.
//!
//! The cache is only a shortcut: the entries it gives are checked against the root the
//! kernel recorded, exactly like a full scan's. Recent blocks are re-read on every rebuild
//! (a reorg replacing an entry there is picked up), and when the cached entries do not give
//! the recorded root (a deeper reorg, a missed log), the chain is scanned again from the
//! deployment block.
//!
//! It also keeps the schema of each prompt whose result is a context entry (a `requestOf`
//! call per entry otherwise, on every rebuild). A settled prompt's request cannot change
//! short of a reorg deeper than the prompt's whole lifecycle (seed block, commit and reveal
//! windows, settlement), the same assumption a dapp makes when it reads a result.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use alloy::primitives::{Address, B256, U256};

use crate::NodeError;
use crate::context::{RawEntry, chain_root};

/// Blocks before the last one read that every rebuild reads again.
const REORG_MARGIN: u64 = 64;

/// Context chains kept; the least recently used one goes first.
const MAX_CHAINS: usize = 4096;

/// Result schemas kept; past it the map starts over (a schema is one RPC call away).
const MAX_SCHEMAS: usize = 65_536;

/// One chain's entries by index, and the first block not read yet.
#[derive(Debug, Clone)]
struct ChainLog {
    next_block: u64,
    entries: BTreeMap<u64, RawEntry>,
    last_used: u64,
}

/// Entries read so far, per `(requester, topic)`.
#[derive(Debug, Default)]
pub struct ContextLogs {
    chains: Mutex<HashMap<(Address, B256), ChainLog>>,
    uses: AtomicU64,
    full_scans: AtomicU64,
    schemas: Mutex<HashMap<U256, Vec<u8>>>,
    schema_reads: AtomicU64,
}

impl ContextLogs {
    /// An empty cache.
    pub fn new() -> ContextLogs {
        ContextLogs::default()
    }

    /// Forgets every entry (they were read from a chain the node no longer follows).
    pub fn clear(&self) {
        self.lock().clear();
        self.schemas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// How many result schemas were read from the chain (not found here).
    pub fn schema_reads(&self) -> u64 {
        self.schema_reads.load(Ordering::Relaxed)
    }

    /// The schema of settled prompt `prompt_id`: kept from an earlier rebuild, else
    /// `read()` (the kernel's `requestOf`) and kept.
    pub(crate) async fn schema_of<F, Fut>(
        &self,
        prompt_id: U256,
        read: F,
    ) -> Result<Vec<u8>, NodeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, NodeError>>,
    {
        let lock = || self.schemas.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(schema) = lock().get(&prompt_id) {
            return Ok(schema.clone());
        }
        self.schema_reads.fetch_add(1, Ordering::Relaxed);
        let schema = read().await?;
        let mut schemas = lock();
        if schemas.len() >= MAX_SCHEMAS {
            schemas.clear();
        }
        schemas.insert(prompt_id, schema.clone());
        Ok(schema)
    }

    /// How many rebuilds had to scan from the deployment block (first sight of a chain, or
    /// cached entries that no longer gave the recorded root).
    pub fn full_scans(&self) -> u64 {
        self.full_scans.load(Ordering::Relaxed)
    }

    /// Entries `0..len` of chain `key`, checked against `root`. `scan(from, to)` reads the
    /// chain's logs in blocks `from..=to`; `start` is the deployment block and `head` the
    /// newest block to read.
    pub(crate) async fn entries<F, Fut>(
        &self,
        key: (Address, B256),
        len: u64,
        root: B256,
        (start, head): (u64, u64),
        scan: F,
    ) -> Result<Vec<RawEntry>, NodeError>
    where
        F: Fn(u64, u64) -> Fut,
        Fut: Future<Output = Result<Vec<RawEntry>, NodeError>>,
    {
        let cached = self
            .lock()
            .get(&key)
            .map(|c| (c.next_block, c.entries.clone()));
        let had_cache = cached.is_some();
        let (from, mut entries) = if let Some((next, entries)) = cached {
            (next.saturating_sub(REORG_MARGIN).max(start), entries)
        } else {
            self.full_scans.fetch_add(1, Ordering::Relaxed);
            (start, BTreeMap::new())
        };
        if from <= head {
            for e in scan(from, head).await? {
                entries.insert(e.index, e);
            }
        }
        let result = match assemble(&entries, key, len, root) {
            Err(_) if had_cache => {
                self.full_scans.fetch_add(1, Ordering::Relaxed);
                entries = BTreeMap::new();
                for e in scan(start, head).await? {
                    entries.insert(e.index, e);
                }
                assemble(&entries, key, len, root)
            }
            other => other,
        };
        if result.is_ok() {
            self.store(key, head.saturating_add(1), entries);
        }
        result
    }

    fn store(&self, key: (Address, B256), next_block: u64, entries: BTreeMap<u64, RawEntry>) {
        let last_used = self.uses.fetch_add(1, Ordering::Relaxed);
        let mut chains = self.lock();
        chains.insert(
            key,
            ChainLog {
                next_block,
                entries,
                last_used,
            },
        );
        if chains.len() > MAX_CHAINS
            && let Some(oldest) = chains
                .iter()
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| *k)
        {
            chains.remove(&oldest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Address, B256), ChainLog>> {
        self.chains.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Entries `0..len` in order, if all are present and give `root`.
fn assemble(
    entries: &BTreeMap<u64, RawEntry>,
    (requester, topic): (Address, B256),
    len: u64,
    root: B256,
) -> Result<Vec<RawEntry>, NodeError> {
    let mut out = Vec::new();
    let mut acc = B256::ZERO;
    for i in 0..len {
        let e = entries.get(&i).ok_or_else(|| {
            NodeError::Context(format!(
                "context entry {i} of ({requester}, {topic}) not found in the logs"
            ))
        })?;
        acc = chain_root(acc, e);
        out.push(e.clone());
    }
    if acc != root {
        return Err(NodeError::Context(format!(
            "rebuilt context root {acc} of ({requester}, {topic}) differs from the recorded {root}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use alloy::primitives::U256;

    use super::*;

    fn entry(index: u64, text: &str) -> RawEntry {
        RawEntry {
            index,
            kind: 1,
            prompt_id: U256::from(index + 1),
            data: text.as_bytes().to_vec(),
            data_hash: B256::ZERO,
        }
    }

    fn root_of(entries: &[RawEntry]) -> B256 {
        entries.iter().fold(B256::ZERO, chain_root)
    }

    /// A fake chain: `(block, entry)` logs; records every scanned range.
    struct Chain {
        logs: Mutex<Vec<(u64, RawEntry)>>,
        scans: Mutex<Vec<(u64, u64)>>,
    }

    impl Chain {
        fn new(logs: Vec<(u64, RawEntry)>) -> Chain {
            Chain {
                logs: Mutex::new(logs),
                scans: Mutex::new(Vec::new()),
            }
        }

        fn scan(
            &self,
            from: u64,
            to: u64,
        ) -> impl Future<Output = Result<Vec<RawEntry>, NodeError>> + use<'_> {
            self.scans.lock().unwrap().push((from, to));
            std::future::ready(Ok(self
                .logs
                .lock()
                .unwrap()
                .iter()
                .filter(|(b, _)| (from..=to).contains(b))
                .map(|(_, e)| e.clone())
                .collect()))
        }

        fn take_scans(&self) -> Vec<(u64, u64)> {
            std::mem::take(&mut *self.scans.lock().unwrap())
        }
    }

    const KEY: (Address, B256) = (Address::ZERO, B256::ZERO);

    #[tokio::test]
    async fn a_result_schema_is_read_once_per_prompt() {
        let logs = ContextLogs::new();
        let reads = AtomicU64::new(0);
        let read = |schema: &'static [u8]| {
            reads.fetch_add(1, Ordering::Relaxed);
            async move { Ok::<_, NodeError>(schema.to_vec()) }
        };
        let (a, b) = (U256::from(7), U256::from(8));
        assert_eq!(logs.schema_of(a, || read(b"bool")).await.unwrap(), b"bool");
        assert_eq!(logs.schema_of(a, || read(b"other")).await.unwrap(), b"bool");
        assert_eq!(logs.schema_of(b, || read(b"int")).await.unwrap(), b"int");
        assert_eq!((reads.load(Ordering::Relaxed), logs.schema_reads()), (2, 2));
        // A failed read is not kept.
        let failed = logs
            .schema_of(U256::from(9), || async {
                Err::<Vec<u8>, _>(NodeError::Context("rpc down".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(
            logs.schema_of(U256::from(9), || read(b"s")).await.unwrap(),
            b"s"
        );
        // A chain the node no longer follows takes its schemas with it.
        logs.clear();
        assert_eq!(logs.schema_of(a, || read(b"new")).await.unwrap(), b"new");
    }

    #[tokio::test]
    async fn later_rebuilds_read_only_new_blocks() {
        let (a, b, c) = (entry(0, "a"), entry(1, "b"), entry(2, "c"));
        let chain = Chain::new(vec![(10, a.clone()), (500, b.clone())]);
        let cache = ContextLogs::new();
        let scan = |f, t| chain.scan(f, t);
        let got = cache
            .entries(KEY, 2, root_of(&[a.clone(), b.clone()]), (5, 1000), scan)
            .await
            .unwrap();
        assert_eq!(got, vec![a.clone(), b.clone()]);
        assert_eq!(chain.take_scans(), vec![(5, 1000)]);
        // A third entry arrives at block 1500: only blocks after 1000 (minus the margin).
        chain.logs.lock().unwrap().push((1500, c.clone()));
        let root3 = root_of(&[a.clone(), b.clone(), c.clone()]);
        let got = cache
            .entries(KEY, 3, root3, (5, 2000), |f, t| chain.scan(f, t))
            .await
            .unwrap();
        assert_eq!(got, vec![a.clone(), b, c]);
        assert_eq!(chain.take_scans(), vec![(1001 - REORG_MARGIN, 2000)]);
        assert_eq!(cache.full_scans(), 1);
        // A prompt of an earlier length is served from the cache as well.
        let got = cache
            .entries(
                KEY,
                1,
                root_of(std::slice::from_ref(&a)),
                (5, 2000),
                |f, t| chain.scan(f, t),
            )
            .await
            .unwrap();
        assert_eq!(got, vec![a]);
        assert_eq!(chain.take_scans(), vec![(2001 - REORG_MARGIN, 2000)]);
        assert_eq!(cache.full_scans(), 1);
    }

    #[tokio::test]
    async fn a_recent_reorg_is_read_again_and_a_deep_one_rescans() {
        let (a, b) = (entry(0, "a"), entry(1, "b"));
        let chain = Chain::new(vec![(10, a.clone()), (990, b.clone())]);
        let cache = ContextLogs::new();
        cache
            .entries(KEY, 2, root_of(&[a.clone(), b]), (0, 1000), |f, t| {
                chain.scan(f, t)
            })
            .await
            .unwrap();
        // Entry 1 is replaced inside the margin: the incremental read sees it.
        let b2 = entry(1, "b2");
        *chain.logs.lock().unwrap() = vec![(10, a.clone()), (995, b2.clone())];
        let got = cache
            .entries(
                KEY,
                2,
                root_of(&[a.clone(), b2.clone()]),
                (0, 1010),
                |f, t| chain.scan(f, t),
            )
            .await
            .unwrap();
        assert_eq!(got[1], b2);
        assert_eq!(cache.full_scans(), 1);
        // Entry 0 is replaced far back (a deep reorg): the cached one gives the wrong root,
        // so the chain is read again from the start.
        let a2 = entry(0, "a2");
        *chain.logs.lock().unwrap() = vec![(12, a2.clone()), (995, b2.clone())];
        chain.take_scans();
        let got = cache
            .entries(
                KEY,
                2,
                root_of(&[a2.clone(), b2.clone()]),
                (0, 1020),
                |f, t| chain.scan(f, t),
            )
            .await
            .unwrap();
        assert_eq!(got, vec![a2, b2]);
        assert_eq!(
            chain.take_scans(),
            vec![(1011 - REORG_MARGIN, 1020), (0, 1020)]
        );
        assert_eq!(cache.full_scans(), 2);
    }

    #[tokio::test]
    async fn missing_or_wrong_entries_are_errors_and_not_cached() {
        let a = entry(0, "a");
        let chain = Chain::new(vec![(10, a.clone())]);
        let cache = ContextLogs::new();
        let e = cache
            .entries(KEY, 2, B256::ZERO, (0, 100), |f, t| chain.scan(f, t))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("context entry 1"), "{e}");
        let e = cache
            .entries(KEY, 1, B256::repeat_byte(7), (0, 100), |f, t| {
                chain.scan(f, t)
            })
            .await
            .unwrap_err();
        assert!(e.to_string().contains("differs from the recorded"), "{e}");
        assert!(cache.lock().is_empty());
        assert_eq!(cache.full_scans(), 2);
    }
}
