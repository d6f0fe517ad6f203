//! The explorer's index of prompts: every `PromptSubmitted`, `PromptSettled` and
//! `PromptRefunded` of the kernel, read once and then only from the last block read onwards,
//! with the timestamps of the blocks the network figures need (kept for good).

use std::collections::{BTreeMap, HashMap};

use alloy::{
    primitives::{Address, U256},
    rpc::types::Filter,
    sol_types::SolEvent,
};

use aikernel_chain::bindings::DecentralizedInference::{
    PromptRefunded, PromptSettled, PromptSubmitted,
};

use crate::rpc::Kernel;

/// Blocks per `eth_getLogs` request (as in `rpc::scan`).
const LOG_CHUNK: u64 = 10_000;

/// How one prompt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// `PromptSettled` in this block.
    Settled(u64),
    /// `PromptRefunded` in this block.
    Refunded(u64),
}

/// One prompt as the index knows it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Who paid for it.
    pub(super) requester: Address,
    /// Block of its submission.
    pub(super) block: u64,
    /// Its end, once it ended.
    pub(super) end: Option<End>,
}

/// Every prompt of the kernel up to `scanned`.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// The last block read (none before the first read).
    scanned: Option<u64>,
    /// Prompts by id.
    pub(super) prompts: BTreeMap<U256, Entry>,
    /// Timestamps of blocks read so far.
    times: HashMap<u64, u64>,
}

impl Index {
    /// Reads the kernel's prompt events from the block after the last one read up to `head`.
    pub(super) async fn update(&mut self, kernel: &Kernel, head: u64) -> anyhow::Result<()> {
        // A chain behind what was read is another chain (a restarted devnet): start over.
        if self.scanned.is_some_and(|s| head < s) {
            *self = Index::default();
        }
        let from = self
            .scanned
            .map_or(kernel.deployment.start_block, |b| b + 1);
        if from > head {
            return Ok(());
        }
        let filter = Filter::new()
            .address(kernel.deployment.kernel)
            .event_signature(vec![
                PromptSubmitted::SIGNATURE_HASH,
                PromptSettled::SIGNATURE_HASH,
                PromptRefunded::SIGNATURE_HASH,
            ]);
        let logs = aikernel_chain::logs::get_logs_chunked(
            &kernel.provider,
            &filter,
            from,
            head,
            LOG_CHUNK,
        )
        .await?;
        for log in &logs {
            let block = log.block_number.unwrap_or_default();
            if let Ok(e) = log.log_decode::<PromptSubmitted>() {
                let e = e.inner.data;
                self.prompts.insert(
                    e.promptId,
                    Entry {
                        requester: e.requester,
                        block,
                        end: None,
                    },
                );
            } else if let Ok(e) = log.log_decode::<PromptSettled>() {
                self.end(e.inner.data.promptId, End::Settled(block));
            } else if let Ok(e) = log.log_decode::<PromptRefunded>() {
                self.end(e.inner.data.promptId, End::Refunded(block));
            }
        }
        self.scanned = Some(head);
        Ok(())
    }

    fn end(&mut self, id: U256, end: End) {
        if let Some(entry) = self.prompts.get_mut(&id) {
            entry.end = Some(end);
        }
    }

    /// The number of prompts submitted.
    pub(super) fn total(&self) -> usize {
        self.prompts.len()
    }

    /// Prompt ids newest first, `limit` of them after skipping `offset`.
    pub(super) fn page(&self, offset: usize, limit: usize) -> Vec<U256> {
        self.prompts
            .keys()
            .rev()
            .skip(offset)
            .take(limit)
            .copied()
            .collect()
    }

    /// The timestamp of block `n`, read once.
    pub(super) async fn time(&mut self, kernel: &Kernel, n: u64) -> anyhow::Result<u64> {
        if let Some(t) = self.times.get(&n) {
            return Ok(*t);
        }
        let t = crate::rpc::block_time(&kernel.provider, n).await?;
        self.times.insert(n, t);
        Ok(t)
    }
}
