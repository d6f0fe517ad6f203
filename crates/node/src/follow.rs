//! Follows the kernel's events from a durable checkpoint: every committee draw scheduled for
//! a prompt of a served model becomes a job (the committee is drawn after submission, so
//! whether this node is in it is learned later, from the chain), rewards and slashes update
//! the metrics, and reorgs of recent blocks rewind the scan. Acting on a job always re-reads
//! the chain, so a rescanned block is harmless.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEventInterface;

use aikernel_chain::bindings::{
    DecentralizedInference::DecentralizedInferenceEvents, GPUManagement::GPUManagementEvents,
};

use crate::NodeError;
use crate::chain_reset::{self, Observed, ResetReason, Verdict};
use crate::context;
use crate::daemon::Ctx;
use crate::jobs::{Checkpoint, Job};
use crate::metrics::Metrics;

/// The latest block: its number and timestamp (the chain's "now").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block timestamp.
    pub timestamp: u64,
}

/// What the `PromptSubmitted` events of one scan said: model and fee per prompt.
type Submitted = HashMap<U256, (U256, U256)>;

/// The scan position and the open jobs.
#[derive(Debug)]
pub struct Follower {
    checkpoint: Checkpoint,
    jobs: BTreeMap<U256, Job>,
    finished: Vec<U256>,
    reset: bool,
}

/// A round's draw as the follower saw it: the round, the block of its event and its commit
/// deadline (block timestamp; 0 when not known).
#[derive(Debug, Clone, Copy)]
struct Draw {
    round: u8,
    block: u64,
    commit_deadline: u64,
}

impl Follower {
    /// Resumes from the data folder, or starts at the deployment block; a checkpoint of
    /// another chain (a restarted devnet) is replaced by a fresh one (see [`chain_reset`]).
    pub async fn open(ctx: &Ctx) -> Result<Follower, NodeError> {
        let seen = chain_reset::observe(&ctx.contracts, None).await?;
        let start = ctx.contracts.deployment.start_block;
        let checkpoint = ctx
            .store
            .checkpoint()?
            .unwrap_or_else(|| chain_reset::fresh(&seen, start));
        let jobs: BTreeMap<U256, Job> = ctx.store.jobs()?.into_iter().map(|j| (j.id, j)).collect();
        let mut follower = Follower {
            checkpoint,
            jobs,
            finished: Vec::new(),
            reset: false,
        };
        match chain_reset::diagnose(&follower.checkpoint, &seen, ctx.config.reorg_depth) {
            Verdict::Reset(reason) => follower.reset(ctx, &seen, &reason).await?,
            Verdict::Same | Verdict::Lagging { .. } => {
                follower.checkpoint.chain_id = seen.chain_id;
                follower.checkpoint.genesis = Some(seen.genesis);
            }
        }
        follower.reset = false;
        if !follower.jobs.is_empty() {
            tracing::info!(
                open = follower.jobs.len(),
                from_block = follower.checkpoint.next_block,
                "resuming open assignments"
            );
        }
        Ok(follower)
    }

    /// Forgets everything learned from another chain and scans this one from the deployment
    /// block; refuses a chain without the kernel.
    async fn reset(
        &mut self,
        ctx: &Ctx,
        seen: &Observed,
        reason: &ResetReason,
    ) -> Result<(), NodeError> {
        chain_reset::require_kernel(&ctx.contracts, reason).await?;
        let fresh = chain_reset::fresh(seen, ctx.contracts.deployment.start_block);
        tracing::warn!(
            old_next_block = self.checkpoint.next_block,
            head = seen.head,
            dropped_jobs = self.jobs.len(),
            "{reason}: forgetting the old chain's checkpoint and open jobs, rescanning from block {}",
            fresh.next_block
        );
        let ids: Vec<U256> = self.jobs.keys().copied().collect();
        for id in ids {
            self.remove(ctx, id)?;
        }
        ctx.context_logs.clear();
        ctx.announced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.checkpoint = fresh;
        ctx.store.save_checkpoint(&self.checkpoint)?;
        self.reset = true;
        Ok(())
    }

    /// Whether the follower switched to another chain since the last call (the node must
    /// register there again).
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset)
    }

    /// Open jobs.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.jobs.values()
    }

    /// One open job.
    pub fn job(&self, id: U256) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Forgets a finished job.
    pub fn remove(&mut self, ctx: &Ctx, id: U256) -> Result<(), NodeError> {
        if self.jobs.remove(&id).is_some() {
            self.finished.push(id);
        }
        ctx.store.remove_job(id)
    }

    /// Jobs removed since the last call.
    pub fn finished_jobs(&mut self) -> Vec<U256> {
        std::mem::take(&mut self.finished)
    }

    /// Scans new blocks; returns the latest block.
    pub async fn tick(&mut self, ctx: &Ctx) -> Result<Head, NodeError> {
        let provider = &ctx.contracts.provider;
        let head = provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| NodeError::rpc("reading the latest block", &e))?
            .ok_or_else(|| NodeError::Rpc {
                what: "reading the latest block",
                message: "no latest block".to_owned(),
            })?;
        let head_number = head.header.number;
        let now = Head {
            number: head_number,
            timestamp: head.header.timestamp,
        };
        if self.checkpoint.next_block > head_number.saturating_add(1) {
            // Behind the checkpoint: another chain, a reorg to a shorter chain or a lagging
            // RPC. Another genesis or chain id is a restart; the rest is the reorg check's.
            let seen = chain_reset::observe(&ctx.contracts, Some(head_number)).await?;
            if let Verdict::Reset(
                reason @ (ResetReason::ChainId { .. } | ResetReason::Genesis { .. }),
            ) = chain_reset::diagnose(&self.checkpoint, &seen, ctx.config.reorg_depth)
            {
                self.reset(ctx, &seen, &reason).await?;
            }
        }
        self.check_reorg(ctx).await?;
        while self.checkpoint.next_block <= head_number {
            let from = self.checkpoint.next_block;
            let to = head_number.min(from.saturating_add(ctx.config.log_range - 1));
            let filter = Filter::new()
                .address(vec![
                    ctx.contracts.deployment.kernel,
                    ctx.contracts.deployment.gpu,
                ])
                .from_block(from)
                .to_block(to);
            let logs = provider
                .get_logs(&filter)
                .await
                .map_err(|e| NodeError::rpc("reading logs", &e))?;
            let mut submitted = Submitted::new();
            for log in &logs {
                self.handle(ctx, log, &mut submitted).await?;
            }
            let hash = if to == head_number {
                head.header.hash
            } else {
                block_hash(ctx, to).await?.unwrap_or_default()
            };
            self.checkpoint.recent.insert(to, hash);
            while self.checkpoint.recent.len() as u64 > ctx.config.reorg_depth.max(1) {
                self.checkpoint.recent.pop_first();
            }
            self.checkpoint.next_block = to + 1;
            ctx.store.save_checkpoint(&self.checkpoint)?;
        }
        ctx.metrics.last_block.store(head_number, Ordering::Relaxed);
        Ok(now)
    }

    /// Rewinds the scan when a recently scanned block was replaced.
    async fn check_reorg(&mut self, ctx: &Ctx) -> Result<(), NodeError> {
        let Some((&top, &hash)) = self.checkpoint.recent.iter().next_back() else {
            return Ok(());
        };
        if block_hash(ctx, top).await? == Some(hash) {
            return Ok(());
        }
        let mut resume = None;
        let older: Vec<(u64, B256)> = self
            .checkpoint
            .recent
            .iter()
            .rev()
            .skip(1)
            .map(|(n, h)| (*n, *h))
            .collect();
        for (number, recorded) in older {
            if block_hash(ctx, number).await? == Some(recorded) {
                resume = Some(number + 1);
                break;
            }
        }
        let Some(resume) = resume else {
            let seen = chain_reset::observe(&ctx.contracts, None).await?;
            let reason = match chain_reset::diagnose(&self.checkpoint, &seen, 0) {
                Verdict::Reset(reason) => reason,
                _ => ResetReason::Replaced { block: top },
            };
            return self.reset(ctx, &seen, &reason).await;
        };
        tracing::warn!(
            replaced_block = top,
            resume,
            "chain reorganisation: rescanning"
        );
        self.checkpoint.recent.retain(|&n, _| n < resume);
        self.checkpoint.next_block = resume;
        Ok(())
    }

    async fn handle(
        &mut self,
        ctx: &Ctx,
        log: &alloy::rpc::types::Log,
        submitted: &mut Submitted,
    ) -> Result<(), NodeError> {
        let block = log.block_number.unwrap_or_default();
        if log.address() == ctx.contracts.deployment.kernel {
            let Ok(event) = DecentralizedInferenceEvents::decode_log(&log.inner) else {
                return Ok(());
            };
            match event.data {
                DecentralizedInferenceEvents::PromptSubmitted(e) => {
                    submitted.insert(e.promptId, (e.modelId, e.fee));
                }
                DecentralizedInferenceEvents::DrawScheduled(e) => {
                    let draw = Draw {
                        round: e.round,
                        block,
                        commit_deadline: u64::from(e.commitDeadline),
                    };
                    self.track(ctx, e.promptId, draw, submitted).await?;
                }
                DecentralizedInferenceEvents::CommitteeAssigned(e)
                    if e.nodes.contains(&ctx.me) && !self.jobs.contains_key(&e.promptId) =>
                {
                    // Normally known from its DrawScheduled; kept in case that was missed
                    // (the deadline is then unknown: such a job is computed last).
                    let draw = Draw {
                        round: e.round,
                        block,
                        commit_deadline: 0,
                    };
                    self.track(ctx, e.promptId, draw, submitted).await?;
                }
                DecentralizedInferenceEvents::RewardPaid(e) if e.node == ctx.me => {
                    Metrics::inc(&ctx.metrics.prompts_won);
                    tracing::info!(prompt = %e.promptId, eth = %e.eth, "fee share earned");
                }
                _ => {}
            }
        } else if let Ok(event) = GPUManagementEvents::decode_log(&log.inner) {
            if about(&event.data) == Some(ctx.me) {
                // A slash, a jail, an unbond...: check (and top up) the stake now.
                ctx.stake_check_due.store(true, Ordering::Relaxed);
            }
            match event.data {
                GPUManagementEvents::NodeSlashed(e) if e.node == ctx.me => {
                    Metrics::inc(&ctx.metrics.slashed);
                    tracing::error!(amount = %e.amount, reason = e.reason, "THIS NODE WAS SLASHED (reason 1: wrong output, 2: silent or withheld)");
                }
                GPUManagementEvents::NodeJailed(e) if e.node == ctx.me => {
                    tracing::warn!(until = e.until, "this node is jailed");
                }
                GPUManagementEvents::RewardsForfeited(e) if e.node == ctx.me => {
                    tracing::warn!(amount = %e.amount, "unclaimed block rewards forfeited by a slash");
                }
                GPUManagementEvents::RewardsClaimed(e) if e.node == ctx.me => {
                    tracing::info!(amount = %e.amount, "block rewards claimed");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A draw was scheduled for round `round` of prompt `id` in `block`: follow the prompt if
    /// its model is served here (the committee is not known yet; the job finds out).
    async fn track(
        &mut self,
        ctx: &Ctx,
        id: U256,
        draw: Draw,
        submitted: &Submitted,
    ) -> Result<(), NodeError> {
        let Draw {
            round,
            block,
            commit_deadline,
        } = draw;
        let known = submitted.get(&id).copied();
        if let Some((model, _)) = known
            && !serves(ctx, model)
        {
            return Ok(());
        }
        let record = match context::load_record(&ctx.contracts, id).await {
            Ok(record) => record,
            Err(NodeError::Call { message, .. }) if message.starts_with("UnknownPrompt") => {
                // The log's block was replaced since; the reorg check rewinds the scan.
                tracing::debug!(prompt = %id, "draw of a prompt that no longer exists: skipped");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !serves(ctx, record.request.modelId) {
            return Ok(());
        }
        let identity = record.identity();
        let previous = self.jobs.get(&id);
        if let Some(old) = previous
            && old.identity != identity
            && old.identity != B256::ZERO
        {
            tracing::warn!(prompt = %id, "request for prompt {id} changed (reorg): following the new one");
        }
        let fee = known
            .map(|(_, fee)| fee)
            .or_else(|| previous.filter(|j| j.identity == identity).map(|j| j.fee))
            .unwrap_or_default();
        let job = Job {
            id,
            model_id: record.request.modelId.saturating_to(),
            fee,
            assigned_block: block,
            round,
            identity,
            commit_deadline,
        };
        if previous != Some(&job) {
            tracing::debug!(prompt = %id, round, block, "committee draw scheduled");
            ctx.store.save_job(&job)?;
            self.jobs.insert(id, job);
        }
        Ok(())
    }
}

/// The node a GPUManagement event changes the standing of.
fn about(event: &GPUManagementEvents) -> Option<alloy::primitives::Address> {
    match event {
        GPUManagementEvents::NodeSlashed(e) => Some(e.node),
        GPUManagementEvents::NodeJailed(e) => Some(e.node),
        GPUManagementEvents::EligibilityChanged(e) => Some(e.node),
        GPUManagementEvents::Unbonding(e) => Some(e.node),
        GPUManagementEvents::NodePaused(e) => Some(e.node),
        GPUManagementEvents::NodeResumed(e) => Some(e.node),
        GPUManagementEvents::StakeWithdrawn(e) => Some(e.node),
        _ => None,
    }
}

/// Whether this node serves `model`.
fn serves(ctx: &Ctx, model: U256) -> bool {
    ctx.config.models.iter().any(|&m| U256::from(m) == model)
}

async fn block_hash(ctx: &Ctx, number: u64) -> Result<Option<B256>, NodeError> {
    Ok(ctx
        .contracts
        .provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|e| NodeError::rpc("reading a block", &e))?
        .map(|b| b.header.hash))
}
