//! A prompt's history as the chain has it: every event the kernel emitted for it, the
//! receipts of their transactions and the times of their blocks. `prompt show` prints it;
//! `prompt wait` starts from it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{B256, U256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use anyhow::Context as _;

use aikernel_chain::bindings::DecentralizedInference::{
    CallbackDelivered, Committed, CommitteeAssigned, Declined, DrawScheduled, OutputAwaited,
    PromptRefunded, PromptSettled, PromptSubmitted, Revealed, RewardPaid, RoundFailed,
};
use aikernel_chain::bindings::{DecentralizedInference, IAIKernel};
use aikernel_schema::Schema;

use super::Submitted;
use crate::rpc::{self, Kernel, explain};

/// Blocks per `eth_getLogs` request (as in `rpc::scan`).
const LOG_CHUNK: u64 = 10_000;

/// One event and where it was emitted.
#[derive(Clone)]
pub(super) struct At<E> {
    pub(super) event: E,
    pub(super) tx: B256,
    pub(super) block: u64,
}

/// Every event of one prompt, in chain order per kind.
#[derive(Default)]
pub(super) struct Events {
    pub(super) draws: Vec<At<DrawScheduled>>,
    pub(super) committees: Vec<At<CommitteeAssigned>>,
    pub(super) commits: Vec<At<Committed>>,
    pub(super) declines: Vec<At<Declined>>,
    pub(super) reveals: Vec<At<Revealed>>,
    pub(super) awaited: Vec<At<OutputAwaited>>,
    pub(super) failures: Vec<At<RoundFailed>>,
    pub(super) rewards: Vec<At<RewardPaid>>,
    pub(super) settled: Option<At<PromptSettled>>,
    pub(super) refunded: Option<At<PromptRefunded>>,
    pub(super) callback: Option<At<CallbackDelivered>>,
}

/// A prompt's submission, request, events, and the gas and time of each transaction.
pub(super) struct History {
    pub(super) id: U256,
    pub(super) submitted: At<PromptSubmitted>,
    pub(super) request: IAIKernel::Request,
    pub(super) info: aikernel_chain::bindings::KernelCore::Prompt,
    pub(super) events: Events,
    /// Gas used and sender of each transaction that emitted one of the events.
    pub(super) receipts: BTreeMap<B256, (u64, alloy::primitives::Address)>,
    /// Timestamp of each block holding one of the events.
    pub(super) times: BTreeMap<u64, u64>,
}

impl History {
    /// Gas used by `tx` (0 when its receipt could not be read).
    pub(super) fn gas(&self, tx: B256) -> u64 {
        self.receipts.get(&tx).map_or(0, |r| r.0)
    }

    /// Timestamp of `block` (0 when unknown).
    pub(super) fn time(&self, block: u64) -> u64 {
        self.times.get(&block).copied().unwrap_or_default()
    }

    /// Seconds from the submission to `block`.
    pub(super) fn since(&self, block: u64) -> u64 {
        self.time(block)
            .saturating_sub(self.time(self.submitted.block))
    }
}

/// Finds prompt `id`'s submission: its event, transaction and block.
pub(super) async fn find_submission(
    kernel: &Kernel,
    id: U256,
) -> anyhow::Result<At<PromptSubmitted>> {
    let d = &kernel.deployment;
    let (event, log) = rpc::scan::<PromptSubmitted>(
        &kernel.provider,
        d.kernel,
        Some(B256::from(id)),
        d.start_block,
    )
    .await?
    .into_iter()
    .next()
    .with_context(|| {
        format!("there is no prompt {id} on this kernel (`aikernel status` shows the last id)")
    })?;
    Ok(at(event, &log))
}

fn at<E>(event: E, log: &Log) -> At<E> {
    At {
        event,
        tx: log.transaction_hash.unwrap_or_default(),
        block: log.block_number.unwrap_or_default(),
    }
}

/// The `Submitted` of an existing prompt, so `prompt wait` follows it as `--wait` does.
pub(super) async fn submitted(kernel: &Kernel, id: U256) -> anyhow::Result<Submitted> {
    let sub = find_submission(kernel, id).await?;
    let inference = DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
    let request = inference
        .requestOf(id)
        .call()
        .await
        .map_err(|e| explain(&format!("reading the request of prompt {id}"), &e))?;
    let schema = Schema::parse(&request.schema)
        .map_err(|e| anyhow::anyhow!("prompt {id} has a schema this CLI cannot read: {e}"))?;
    let gas_used = kernel
        .provider
        .get_transaction_receipt(sub.tx)
        .await
        .context("reading the infer receipt")?
        .map_or(0, |r| r.gas_used);
    let filter = Filter::new()
        .address(kernel.deployment.kernel)
        .event_signature(DrawScheduled::SIGNATURE_HASH)
        .topic1(B256::from(id));
    let draw = aikernel_chain::logs::get_events_chunked::<DrawScheduled, _>(
        &kernel.provider,
        &filter,
        sub.block,
        sub.block,
        1,
    )
    .await?
    .into_iter()
    .map(|(e, _)| e)
    .find(|e| e.round == 0);
    // Time already spent since the submission, in chain time.
    let submitted_at = block_time(kernel, sub.block).await?;
    let now = block_time_latest(kernel).await?;
    let spent = Duration::from_secs(now.saturating_sub(submitted_at));
    Ok(Submitted {
        id,
        tx: sub.tx,
        block: sub.block,
        gas_used,
        fee: sub.event.fee,
        draw,
        schema,
        input_hash: request.inputHash,
        topic: request.topic,
        started: Instant::now()
            .checked_sub(spent)
            .unwrap_or_else(Instant::now),
    })
}

/// Reads prompt `id`'s whole history.
pub(super) async fn read(kernel: &Kernel, id: U256) -> anyhow::Result<History> {
    let submitted = find_submission(kernel, id).await?;
    let inference = DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
    let request = inference
        .requestOf(id)
        .call()
        .await
        .map_err(|e| explain(&format!("reading the request of prompt {id}"), &e))?;
    let info = inference
        .promptInfo(id)
        .call()
        .await
        .map_err(|e| explain(&format!("reading prompt {id}"), &e))?;
    let latest = kernel
        .provider
        .get_block_number()
        .await
        .context("reading the block number")?;
    let filter = Filter::new()
        .address(kernel.deployment.kernel)
        .topic1(B256::from(id));
    let logs = aikernel_chain::logs::get_logs_chunked(
        &kernel.provider,
        &filter,
        submitted.block,
        latest,
        LOG_CHUNK,
    )
    .await?;
    let mut events = Events::default();
    for log in &logs {
        sort(&mut events, log);
    }
    let mut receipts = BTreeMap::new();
    let mut times = BTreeMap::new();
    for log in &logs {
        let (Some(tx), Some(block)) = (log.transaction_hash, log.block_number) else {
            continue;
        };
        if !receipts.contains_key(&tx)
            && let Some(r) = kernel
                .provider
                .get_transaction_receipt(tx)
                .await
                .context("reading a receipt")?
        {
            receipts.insert(tx, (r.gas_used, r.from));
        }
        if let std::collections::btree_map::Entry::Vacant(e) = times.entry(block) {
            e.insert(block_time(kernel, block).await?);
        }
    }
    Ok(History {
        id,
        submitted,
        request,
        info,
        events,
        receipts,
        times,
    })
}

/// Files `log` under its event kind (logs of other kinds are left out).
fn sort(e: &mut Events, log: &Log) {
    fn decode<E: SolEvent>(log: &Log) -> Option<At<E>> {
        log.log_decode::<E>().ok().map(|l| at(l.inner.data, log))
    }
    let Some(topic0) = log.topic0().copied() else {
        return;
    };
    match topic0 {
        t if t == DrawScheduled::SIGNATURE_HASH => e.draws.extend(decode(log)),
        t if t == CommitteeAssigned::SIGNATURE_HASH => e.committees.extend(decode(log)),
        t if t == Committed::SIGNATURE_HASH => e.commits.extend(decode(log)),
        t if t == Declined::SIGNATURE_HASH => e.declines.extend(decode(log)),
        t if t == Revealed::SIGNATURE_HASH => e.reveals.extend(decode(log)),
        t if t == OutputAwaited::SIGNATURE_HASH => e.awaited.extend(decode(log)),
        t if t == RoundFailed::SIGNATURE_HASH => e.failures.extend(decode(log)),
        t if t == RewardPaid::SIGNATURE_HASH => e.rewards.extend(decode(log)),
        t if t == PromptSettled::SIGNATURE_HASH => e.settled = decode(log),
        t if t == PromptRefunded::SIGNATURE_HASH => e.refunded = decode(log),
        t if t == CallbackDelivered::SIGNATURE_HASH => e.callback = decode(log),
        _ => {}
    }
}

/// The timestamp of block `n`.
pub(super) async fn block_time(kernel: &Kernel, n: u64) -> anyhow::Result<u64> {
    rpc::block_time(&kernel.provider, n).await
}

async fn block_time_latest(kernel: &Kernel) -> anyhow::Result<u64> {
    Ok(kernel
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .context("reading the latest block")?
        .context("the node has no latest block")?
        .header
        .timestamp)
}
