//! One job's next step, decided from the chain's state (never from memory alone, so a
//! restarted node or a rescanned block does the right thing): compute, commit, reveal,
//! settle when due, and check the settled output against this node's.

use std::sync::atomic::Ordering;

use alloy::primitives::{U256, keccak256};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

use aikernel_chain::bindings::DecentralizedInference::Committed;

use crate::NodeError;
use crate::config::Byzantine;
use crate::context;
use crate::daemon::{Ctx, Step};
use crate::jobs::Job;
use crate::metrics::Metrics;
use crate::protocol;
use crate::tx::revert_name;

/// Prompt status codes of `IAIKernel.Status`.
const COMMITTING: u8 = 1;
const REVEALING: u8 = 2;
const SETTLED: u8 = 3;
const REFUNDED: u8 = 4;

/// Gas of a reveal that settles a 15-node committee, without the callback (measured
/// settlement of 3 nodes is about 130,000; slashing and context append add more).
const SETTLEMENT_GAS: u64 = 600_000;

/// Decides and performs the job's next step; `now` is the latest block's timestamp.
pub async fn advance(ctx: &Ctx, job: &Job, now: u64) -> Result<Step, NodeError> {
    let k = &ctx.contracts.kernel;
    let info = k
        .promptInfo(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("promptInfo", &e))?;
    let status = info.status;
    if status == SETTLED || status == REFUNDED {
        finish(ctx, job, status).await?;
        return Ok(Step::Done);
    }
    if status == 0 {
        tracing::warn!(prompt = %job.id, "prompt unknown on chain (reorged away?): dropping");
        return Ok(Step::Done);
    }
    let committee = k
        .committeeOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("committeeOf", &e))?;
    let commit_deadline = u64::from(info.commitDeadline);
    let reveal_deadline = u64::from(info.revealDeadline);
    let majority = committee.len() / 2 + 1;
    let too_few =
        status == COMMITTING && now > commit_deadline && usize::from(info.commits) < majority;
    if now > reveal_deadline || too_few {
        settle(ctx, job.id).await;
        return Ok(Step::Wait);
    }
    if !committee.contains(&ctx.me) {
        return Ok(Step::Wait);
    }
    let member = k
        .memberState(job.id, ctx.me)
        .call()
        .await
        .map_err(|e| NodeError::call("memberState", &e))?;
    match member.state {
        0 if status == COMMITTING && now < commit_deadline => commit(ctx, job).await,
        1 if (status == REVEALING || now > commit_deadline) && now < reveal_deadline => {
            reveal(ctx, job).await
        }
        _ => Ok(Step::Wait),
    }
}

/// Computes the job's output from chain data and keeps it on disk.
pub async fn compute(ctx: &Ctx, job: &Job) -> Result<(), NodeError> {
    if ctx.store.output(job.id)?.is_some() {
        return Ok(());
    }
    let record = context::load_record(&ctx.contracts, job.id).await?;
    let request = context::build_request(
        &ctx.contracts,
        &record,
        ctx.resolver.as_ref(),
        ctx.config.log_range,
        Some(&ctx.context_logs),
    )
    .await?;
    let context_entries = request.context.len();
    let (out, took) = ctx.worker.compute(job.model_id, request).await?;
    let mut output = out.output;
    if ctx.config.byzantine == Some(Byzantine::Lie) {
        // A plausible lie: for a choice between two options this flips the answer.
        match output.last_mut() {
            Some(last) => *last ^= 1,
            None => output.push(1),
        }
    }
    ctx.store.save_output(job.id, &output)?;
    Metrics::inc(&ctx.metrics.prompts_computed);
    ctx.metrics
        .tokens_generated
        .fetch_add(out.tokens.len() as u64, Ordering::Relaxed);
    ctx.metrics
        .compute_ms
        .fetch_add(took.as_millis() as u64, Ordering::Relaxed);
    tracing::info!(
        prompt = %job.id,
        tokens = out.tokens.len(),
        context_entries,
        ms = took.as_millis() as u64,
        success = out.success,
        output_hash = %keccak256(&output),
        "computed"
    );
    Ok(())
}

async fn commit(ctx: &Ctx, job: &Job) -> Result<Step, NodeError> {
    let commitment = match ctx.config.byzantine {
        Some(Byzantine::Silent) => return Ok(Step::Wait),
        Some(Byzantine::Copy) => match copied_commitment(ctx, job).await? {
            Some(c) => c,
            None => return Ok(Step::Wait),
        },
        _ => {
            let Some(output) = ctx.store.output(job.id)? else {
                return Ok(Step::NeedCompute);
            };
            let salt = protocol::salt(ctx.secret, job.id);
            protocol::commitment(job.id, &output, salt, ctx.me)
        }
    };
    let c = &ctx.contracts;
    let input = c.kernel.commit(job.id, commitment).calldata().clone();
    match ctx.send("commit", c.deployment.kernel, input).await {
        Ok(receipt) => {
            Metrics::inc(&ctx.metrics.prompts_committed);
            tracing::info!(prompt = %job.id, tx = %receipt.transaction_hash, gas = receipt.gas_used, "committed");
            if ctx.config.pause_after_commit_s > 0 {
                tracing::warn!(
                    seconds = ctx.config.pause_after_commit_s,
                    "test hook: pausing after the commit"
                );
                tokio::time::sleep(std::time::Duration::from_secs(
                    ctx.config.pause_after_commit_s,
                ))
                .await;
            }
            Ok(Step::Wait)
        }
        Err(e) => benign(
            job,
            e,
            &["CommitClosed", "AlreadyCommitted", "NotInCommittee"],
        ),
    }
}

async fn reveal(ctx: &Ctx, job: &Job) -> Result<Step, NodeError> {
    if ctx.config.byzantine == Some(Byzantine::Silent) {
        return Ok(Step::Wait);
    }
    let Some(output) = ctx.store.output(job.id)? else {
        // Committed, then lost the data folder: the output is deterministic, recompute it.
        tracing::warn!(prompt = %job.id, "committed output missing on disk: recomputing it");
        return Ok(Step::NeedCompute);
    };
    let salt = protocol::salt(ctx.secret, job.id);
    let c = &ctx.contracts;
    // Reveals race within a block: the estimate may not include the settlement and the
    // callback this reveal ends up paying for, so the limit never goes below their cost.
    let callback_gas = c
        .kernel
        .requestOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("requestOf", &e))?
        .callbackGasLimit;
    let floor = SETTLEMENT_GAS + u64::from(callback_gas) * 64 / 63;
    let input = c
        .kernel
        .reveal(job.id, salt, output.into())
        .calldata()
        .clone();
    match ctx
        .send_with_floor("reveal", c.deployment.kernel, input, floor)
        .await
    {
        Ok(receipt) => {
            Metrics::inc(&ctx.metrics.prompts_revealed);
            tracing::info!(prompt = %job.id, tx = %receipt.transaction_hash, gas = receipt.gas_used, "revealed");
            Ok(Step::Wait)
        }
        Err(e) => benign(
            job,
            e,
            &["RevealClosed", "AlreadyRevealed", "InvalidReveal"],
        ),
    }
}

/// Anyone may end a round that can make no more progress; a lost race is fine.
async fn settle(ctx: &Ctx, id: U256) {
    let c = &ctx.contracts;
    let input = c.kernel.settle(id).calldata().clone();
    match ctx.send("settle", c.deployment.kernel, input).await {
        Ok(receipt) => {
            tracing::info!(prompt = %id, tx = %receipt.transaction_hash, "round ended by this node");
        }
        Err(e) => tracing::debug!(prompt = %id, error = %e, "settle not needed"),
    }
}

/// Expected rejections (a deadline passed, another transaction got there first) are not
/// failures of the node.
fn benign(job: &Job, e: NodeError, expected: &[&str]) -> Result<Step, NodeError> {
    if let NodeError::Tx(tx) = &e
        && let Some(reason) = tx.revert_reason()
        && expected.contains(&revert_name(reason))
    {
        tracing::warn!(prompt = %job.id, reason, "rejected by the kernel");
        return Ok(Step::Wait);
    }
    Err(e)
}

/// The verification duty: compare the settled output with this node's.
async fn finish(ctx: &Ctx, job: &Job, status: u8) -> Result<(), NodeError> {
    if status == REFUNDED {
        tracing::info!(prompt = %job.id, "refunded: no majority in any round");
        return Ok(());
    }
    let settled = ctx
        .contracts
        .kernel
        .resultOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("resultOf", &e))?;
    let settled_hash = keccak256(&settled);
    match ctx.store.output(job.id)? {
        Some(ours) if keccak256(&ours) != settled_hash => {
            Metrics::inc(&ctx.metrics.disagreements);
            tracing::error!(
                prompt = %job.id,
                ours = %keccak256(&ours),
                settled = %settled_hash,
                "SETTLED OUTPUT DIFFERS FROM THIS NODE'S: check the model file and engine version"
            );
        }
        Some(_) => {
            tracing::info!(prompt = %job.id, output_hash = %settled_hash, "settled; agrees with this node");
        }
        None => tracing::info!(prompt = %job.id, output_hash = %settled_hash, "settled"),
    }
    Ok(())
}

/// Byzantine `copy` mode: another member's commitment for the current round.
async fn copied_commitment(
    ctx: &Ctx,
    job: &Job,
) -> Result<Option<alloy::primitives::B256>, NodeError> {
    let filter = Filter::new()
        .address(ctx.contracts.deployment.kernel)
        .event_signature(Committed::SIGNATURE_HASH)
        .topic1(job.id);
    let head = ctx.contracts.head().await?;
    let logs = ctx
        .contracts
        .logs(&filter, job.assigned_block, head, ctx.config.log_range)
        .await?;
    Ok(logs.iter().find_map(|log| {
        let e = log.log_decode::<Committed>().ok()?.inner.data;
        (e.node != ctx.me && e.round == job.round).then_some(e.commitment)
    }))
}
