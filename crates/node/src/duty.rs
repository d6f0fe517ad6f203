//! One job's next step, decided from the chain's state (never from memory alone, so a
//! restarted node or a rescanned block does the right thing): learn whether this node is in
//! the round's committee, compute, commit, reveal, publish a decided output, settle when due,
//! and check the settled output against this node's.
//!
//! Everything stored or derived for a prompt is bound to the request's identity
//! (docs/protocol.md): before committing and before revealing the identity is read again,
//! and an output computed for a request that a reorg replaced is dropped and recomputed.

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256, keccak256};

use aikernel_chain::bindings::DecentralizedInference::Committed;
use aikernel_protocol::{MemberState, PromptStatus};

use crate::NodeError;
use crate::context;
use crate::daemon::{Ctx, Step};
use crate::follow::Head;
use crate::jobs::Job;
use crate::metrics::Metrics;
use crate::protocol;
use crate::tx::revert_name;

/// Gas of a reveal that settles a 15-node committee, without the callback (measured
/// settlement of 3 nodes is about 130,000; slashing and context append add more).
const SETTLEMENT_GAS: u64 = 600_000;

/// One committee member's state in a round.
#[derive(Debug, Clone, Copy)]
struct Member {
    node: Address,
    state: MemberState,
    /// 1-based commit order (0 before committing).
    order: u8,
    prefix: FixedBytes<28>,
}

/// The reveal window of a round, in block timestamps.
#[derive(Debug, Clone, Copy)]
struct RevealWindow {
    now: u64,
    commit_deadline: u64,
    reveal_deadline: u64,
}

/// A state value the kernel returned that the protocol does not define (a kernel of another
/// version than this node's).
fn unknown_value(call: &str, e: &aikernel_protocol::UnknownValue) -> NodeError {
    NodeError::Misconfigured(format!(
        "{call} returned {e}: is the deployment's kernel of this node's version?"
    ))
}

/// Decides and performs the job's next step at the latest block `head`.
pub async fn advance(ctx: &Ctx, job: &Job, head: Head) -> Result<Step, NodeError> {
    let k = &ctx.contracts.kernel;
    let info = k
        .promptInfo(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("promptInfo", &e))?;
    let status =
        PromptStatus::try_from(info.status).map_err(|e| unknown_value("promptInfo", &e))?;
    if status.is_final() {
        finish(ctx, job, status).await?;
        return Ok(Step::Done);
    }
    if status == PromptStatus::None {
        tracing::warn!(prompt = %job.id, "prompt unknown on chain (reorged away?): dropping");
        return Ok(Step::Done);
    }
    let now = head.timestamp;
    let round = info.round;
    let commit_deadline = u64::from(info.commitDeadline);
    let reveal_deadline = u64::from(info.revealDeadline);
    let seed = k
        .seedBlockOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("seedBlockOf", &e))?;
    if !seed.drawn && head.number <= seed.seedBlock {
        // Nobody can know the committee before the seed block's hash exists.
        return Ok(Step::Wait);
    }
    let committee = k
        .committeeOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("committeeOf", &e))?;
    if committee.is_empty() {
        // Not drawn and the seed block's hash is gone (older than 256 blocks): `draw`
        // schedules a fresh seed, `settle` ends the round once the commit deadline passed.
        if status == PromptStatus::Committing && !seed.drawn {
            if now > commit_deadline {
                settle(ctx, job.id).await;
            } else {
                reseed(ctx, job.id).await;
            }
        }
        return Ok(Step::Wait);
    }
    if !committee.contains(&ctx.me) {
        // Not this node's prompt (a later round's draw brings it back).
        tracing::debug!(prompt = %job.id, round, "not in the committee");
        return Ok(Step::Done);
    }
    announce(ctx, job, round, &committee, commit_deadline);
    let majority = committee.len() / 2 + 1;
    let too_few = status == PromptStatus::Committing
        && now > commit_deadline
        && (!seed.drawn || usize::from(info.commits) < majority);
    if now > reveal_deadline || too_few {
        settle(ctx, job.id).await;
        return Ok(Step::Wait);
    }
    let me = member_state(ctx, job.id, round, ctx.me).await?;
    let reveal_open = (status == PromptStatus::Revealing
        || (status == PromptStatus::Committing && now > commit_deadline))
        && now < reveal_deadline;
    match me.state {
        MemberState::None if status == PromptStatus::Committing && now < commit_deadline => {
            commit(ctx, job, round, commit_deadline - now, info.blob).await
        }
        // Declined: this round is not this node's any more (later committees exclude it).
        MemberState::Declined => Ok(Step::Done),
        MemberState::Committed if reveal_open => {
            let window = RevealWindow {
                now,
                commit_deadline,
                reveal_deadline,
            };
            reveal(ctx, job, round, &committee, window).await
        }
        MemberState::Revealed if status == PromptStatus::Publishing && now < reveal_deadline => {
            publish(ctx, job, round, &committee, me).await
        }
        _ => Ok(Step::Wait),
    }
}

/// Logs (once per round) that this node is in a prompt's committee.
fn announce(ctx: &Ctx, job: &Job, round: u8, committee: &[Address], commit_deadline: u64) {
    let Ok(mut seen) = ctx.announced.lock() else {
        return;
    };
    if seen.insert((job.id, round)) {
        Metrics::inc(&ctx.metrics.prompts_seen);
        tracing::info!(prompt = %job.id, round, committee = committee.len(), commit_deadline, "assigned");
    }
}

/// Forgets the announcements of a finished prompt.
fn forget(ctx: &Ctx, id: U256) {
    if let Ok(mut seen) = ctx.announced.lock() {
        seen.retain(|(p, _)| *p != id);
    }
    ctx.rejections.forget(id);
}

async fn member_state(ctx: &Ctx, id: U256, round: u8, node: Address) -> Result<Member, NodeError> {
    let m = ctx
        .contracts
        .kernel
        .memberState(id, round, node)
        .call()
        .await
        .map_err(|e| NodeError::call("memberState", &e))?;
    Ok(Member {
        node,
        state: MemberState::try_from(m.state).map_err(|e| unknown_value("memberState", &e))?,
        order: m.order,
        prefix: m.hashPrefix,
    })
}

/// The request's identity as the chain has it now; when it differs from the one the job was
/// created for, or outputs of another request with this id are kept, a reorg replaced the
/// request: those outputs are dropped so the new request is computed afresh.
async fn current_identity(ctx: &Ctx, job: &Job) -> Result<B256, NodeError> {
    let identity = context::load_record(&ctx.contracts, job.id)
        .await?
        .identity();
    let dropped = ctx.store.drop_stale_outputs(job.id, identity)?;
    if dropped > 0 || (job.identity != B256::ZERO && job.identity != identity) {
        tracing::warn!(prompt = %job.id, %identity, dropped, "request for prompt {} changed (reorg): recomputing", job.id);
    }
    Ok(identity)
}

/// Commits this node's output; `left` is the time to the commit deadline, in block time.
/// `blob` is the request blob `promptInfo` named, read before the request's identity: a reorg
/// between the two reads leaves a stale tag, and the kernel refuses the commit
/// (`RequestReplaced`) rather than take it for the new request.
async fn commit(
    ctx: &Ctx,
    job: &Job,
    round: u8,
    left: u64,
    blob: Address,
) -> Result<Step, NodeError> {
    if rejected_before(ctx, job, round, "commit") || rejected_before(ctx, job, round, "decline") {
        return Ok(Step::Wait);
    }
    #[cfg(feature = "test-hooks")]
    if let Some(step) = crate::byzantine::commit(ctx, job, round).await? {
        return Ok(step);
    }
    let identity = current_identity(ctx, job).await?;
    let Some(computed) = ctx.store.output(job.id, identity)? else {
        if left <= ctx.config.decline_before_deadline_s {
            return decline(ctx, job, round, left).await;
        }
        return Ok(Step::NeedCompute);
    };
    let salt = protocol::salt(ctx.secret, job.id, identity, round);
    let round_hash = protocol::round_hash(job.id, round, &computed.output, computed.trace);
    let commitment = protocol::commitment(job.id, round, round_hash, salt, ctx.me, blob);
    send_commit(ctx, job, round, commitment).await
}

/// Sends `commitment` for the job's `round`.
pub(crate) async fn send_commit(
    ctx: &Ctx,
    job: &Job,
    round: u8,
    commitment: B256,
) -> Result<Step, NodeError> {
    let c = &ctx.contracts;
    let input = c.kernel.commit(job.id, commitment).calldata().clone();
    match ctx.send("commit", c.deployment.kernel, input).await {
        Ok(receipt) => {
            let committed = receipt.inner.logs().iter().any(|log| {
                log.log_decode::<Committed>()
                    .is_ok_and(|e| e.inner.data.node == ctx.me)
            });
            if !committed {
                // The seed block was too old: the commit scheduled a fresh draw instead.
                tracing::warn!(prompt = %job.id, round, "the draw was re-seeded; committing after the new seed block");
                return Ok(Step::Wait);
            }
            ctx.metrics.committed(job.id);
            tracing::info!(prompt = %job.id, round, tx = %receipt.transaction_hash, gas = receipt.gas_used, "committed");
            #[cfg(feature = "test-hooks")]
            crate::byzantine::pause_after_commit(ctx).await;
            Ok(Step::Wait)
        }
        Err(e) => rejected(
            ctx,
            job,
            round,
            "commit",
            e,
            &[
                "CommitClosed",
                "AlreadyCommitted",
                "NotInCommittee",
                "RequestReplaced",
            ],
        ),
    }
}

/// Declines the round: the output will not be ready before the commit deadline (a long
/// request, a busy machine, a chain whose clock runs ahead). Declining costs no stake, unlike
/// silence; the node earns nothing from the prompt and sits out of the pools until it unjails
/// (at its next housekeeping).
async fn decline(ctx: &Ctx, job: &Job, round: u8, left: u64) -> Result<Step, NodeError> {
    let c = &ctx.contracts;
    let input = c.kernel.decline(job.id).calldata().clone();
    match ctx.send("decline", c.deployment.kernel, input).await {
        Ok(receipt) => {
            Metrics::inc(&ctx.metrics.prompts_declined);
            tracing::warn!(
                prompt = %job.id,
                round,
                seconds_left = left,
                tx = %receipt.transaction_hash,
                "output not ready before the commit deadline: declined the round (no stake lost; out of the pools until it unjails)"
            );
            Ok(Step::Done)
        }
        Err(e) => rejected(
            ctx,
            job,
            round,
            "decline",
            e,
            &[
                "CommitClosed",
                "AlreadyCommitted",
                "NotInCommittee",
                "RequestReplaced",
            ],
        ),
    }
}

/// The states of every member of the round's committee.
async fn members(
    ctx: &Ctx,
    id: U256,
    round: u8,
    committee: &[Address],
) -> Result<Vec<Member>, NodeError> {
    let mut out = Vec::with_capacity(committee.len());
    for &node in committee {
        out.push(member_state(ctx, id, round, node).await?);
    }
    Ok(out)
}

/// Whether this node's reveal should carry the output bytes: only when it is the last reveal
/// the round expects (every other member that committed has revealed), every revealed hash
/// equals this node's, and with it a strict majority of the committee has revealed, so the
/// round decides on this output and the reveal settles the prompt. Otherwise the output stays
/// private (and is published only if the round decides on it).
fn carries_output(members: &[Member], me: Address, mine: FixedBytes<28>) -> bool {
    let others_pending = members
        .iter()
        .any(|m| m.node != me && m.state == MemberState::Committed);
    let revealed: Vec<&Member> = members
        .iter()
        .filter(|m| m.state == MemberState::Revealed)
        .collect();
    !others_pending
        && revealed.iter().all(|m| m.prefix == mine)
        && revealed.len() + 1 > members.len() / 2
}

/// Whether this node should hold its reveal back: it committed last, another committed member
/// has not revealed yet, and the first half of the reveal window (from the commit deadline) has
/// not passed. Members react to the
/// same block, so without this nobody's reveal sees itself as the last one and every prompt
/// needs a `publish`; after half the window it reveals anyway (a slow peer costs a `publish`,
/// never a slash).
fn reveals_last(members: &[Member], me: Address, w: RevealWindow) -> bool {
    let Some(mine) = members.iter().find(|m| m.node == me) else {
        return false;
    };
    let last = members.iter().map(|m| m.order).max().unwrap_or(0);
    let others_pending = members
        .iter()
        .any(|m| m.node != me && m.state == MemberState::Committed);
    let limit = w.commit_deadline + w.reveal_deadline.saturating_sub(w.commit_deadline) / 2;
    mine.order == last && others_pending && w.now < limit
}

/// The round hash prefix the round decides on, once decided: round 0 needs every revealed
/// hash equal and a strict majority revealed; later rounds a strict majority on one hash.
fn decided(members: &[Member], round: u8) -> Option<FixedBytes<28>> {
    let revealed: Vec<FixedBytes<28>> = members
        .iter()
        .filter(|m| m.state == MemberState::Revealed)
        .map(|m| m.prefix)
        .collect();
    let k = members.len();
    if revealed.len() <= k / 2 {
        return None;
    }
    if round == 0 {
        return revealed
            .iter()
            .all(|p| *p == revealed[0])
            .then_some(revealed[0]);
    }
    revealed
        .iter()
        .find(|p| revealed.iter().filter(|q| q == p).count() > k / 2)
        .copied()
}

async fn reveal(
    ctx: &Ctx,
    job: &Job,
    round: u8,
    committee: &[Address],
    window: RevealWindow,
) -> Result<Step, NodeError> {
    if rejected_before(ctx, job, round, "reveal") {
        return Ok(Step::Wait);
    }
    #[cfg(feature = "test-hooks")]
    if crate::byzantine::silent(ctx) {
        return Ok(Step::Wait);
    }
    let states = members(ctx, job.id, round, committee).await?;
    if reveals_last(&states, ctx.me, window) {
        // The last committer lets the others reveal first, so its own reveal can carry the
        // output and settle the prompt in one transaction (no separate `publish`).
        return Ok(Step::Wait);
    }
    let identity = current_identity(ctx, job).await?;
    let Some(computed) = ctx.store.output(job.id, identity)? else {
        // Committed, then lost the data folder: the output is deterministic, recompute it.
        tracing::warn!(prompt = %job.id, "committed output missing on disk: recomputing it");
        return Ok(Step::NeedCompute);
    };
    let salt = protocol::salt(ctx.secret, job.id, identity, round);
    let round_hash = protocol::round_hash(job.id, round, &computed.output, computed.trace);
    let (output, trace) = if carries_output(&states, ctx.me, protocol::prefix(round_hash)) {
        (Bytes::from(computed.output), computed.trace)
    } else {
        (Bytes::new(), B256::ZERO)
    };
    let carried = !output.is_empty();
    let c = &ctx.contracts;
    let floor = settlement_floor(ctx, job).await?;
    let input = c
        .kernel
        .reveal(job.id, salt, round_hash, output, trace)
        .calldata()
        .clone();
    match ctx
        .send_with_floor("reveal", c.deployment.kernel, input, floor)
        .await
    {
        Ok(receipt) => {
            Metrics::inc(&ctx.metrics.prompts_revealed);
            tracing::info!(prompt = %job.id, round, with_output = carried, tx = %receipt.transaction_hash, gas = receipt.gas_used, "revealed");
            Ok(Step::Wait)
        }
        Err(e) => rejected(
            ctx,
            job,
            round,
            "reveal",
            e,
            &[
                "RevealClosed",
                "AlreadyRevealed",
                "InvalidReveal",
                "NotCommitted",
            ],
        ),
    }
}

/// The lowest gas limit of a transaction that may settle the prompt. Reveals race within a
/// block: the estimate may not include the settlement (or the escalation) and the callback this
/// transaction ends up paying for, so the limit never goes below their cost.
async fn settlement_floor(ctx: &Ctx, job: &Job) -> Result<u64, NodeError> {
    let callback_gas = ctx
        .contracts
        .kernel
        .requestOf(job.id)
        .call()
        .await
        .map_err(|e| NodeError::call("requestOf", &e))?
        .callbackGasLimit;
    Ok(SETTLEMENT_GAS + u64::from(callback_gas) * 64 / 63)
}

/// The round decided on a hash and awaits its output bytes: this node publishes them when
/// the decided hash is the one it revealed (a lost race reverts `NotAwaited`: fine).
async fn publish(
    ctx: &Ctx,
    job: &Job,
    round: u8,
    committee: &[Address],
    me: Member,
) -> Result<Step, NodeError> {
    if rejected_before(ctx, job, round, "publish") {
        return Ok(Step::Wait);
    }
    let states = members(ctx, job.id, round, committee).await?;
    if decided(&states, round) != Some(me.prefix) {
        return Ok(Step::Wait);
    }
    let identity = current_identity(ctx, job).await?;
    let Some(computed) = ctx.store.output(job.id, identity)? else {
        tracing::warn!(prompt = %job.id, "revealed output missing on disk: recomputing it");
        return Ok(Step::NeedCompute);
    };
    let round_hash = protocol::round_hash(job.id, round, &computed.output, computed.trace);
    if protocol::prefix(round_hash) != me.prefix {
        tracing::warn!(prompt = %job.id, round, "the decided hash is not this node's stored output's");
        return Ok(Step::Wait);
    }
    let c = &ctx.contracts;
    let floor = settlement_floor(ctx, job).await?;
    let input = c
        .kernel
        .publish(job.id, computed.output.into(), computed.trace)
        .calldata()
        .clone();
    match ctx
        .send_with_floor("publish", c.deployment.kernel, input, floor)
        .await
    {
        Ok(receipt) => {
            tracing::info!(prompt = %job.id, round, tx = %receipt.transaction_hash, gas = receipt.gas_used, "published the decided output");
            Ok(Step::Wait)
        }
        Err(e) => rejected(ctx, job, round, "publish", e, &["NotAwaited"]),
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

/// Schedules a fresh seed for a draw whose seed block's hash is gone; a lost race is fine.
async fn reseed(ctx: &Ctx, id: U256) {
    let c = &ctx.contracts;
    let input = c.kernel.draw(id).calldata().clone();
    match ctx.send("draw", c.deployment.kernel, input).await {
        Ok(receipt) => {
            tracing::info!(prompt = %id, tx = %receipt.transaction_hash, "the seed block was too old: a fresh draw is scheduled");
        }
        Err(e) => tracing::debug!(prompt = %id, error = %e, "draw not needed"),
    }
}

/// The key under which a rejection of `what` in `round` is remembered.
fn call_key(job: &Job, round: u8, what: &'static str) -> crate::rejections::Key {
    (job.id, job.identity, round, what)
}

/// Whether `what` in `round` was already rejected for good: then it is not tried again.
fn rejected_before(ctx: &Ctx, job: &Job, round: u8, what: &'static str) -> bool {
    ctx.rejections.is_final(&call_key(job, round, what))
}

/// A revert of `what` in `round` is final for that request and round (unless a later block can
/// change it): it is logged and counted once and never sent again. Expected ones (a deadline
/// passed, another transaction got there first) are warnings; others are errors. Anything
/// other than a revert is returned to be retried.
fn rejected(
    ctx: &Ctx,
    job: &Job,
    round: u8,
    what: &'static str,
    e: NodeError,
    expected: &[&str],
) -> Result<Step, NodeError> {
    let NodeError::Tx(tx) = &e else {
        return Err(e);
    };
    let Some(reason) = tx.revert_reason() else {
        return Err(e);
    };
    let name = revert_name(reason);
    if ctx.rejections.record(call_key(job, round, what), name) {
        Metrics::inc(&ctx.metrics.tx_rejected);
        if expected.contains(&name) {
            tracing::warn!(prompt = %job.id, round, what, reason, "rejected by the kernel: final for this round, not retried");
        } else {
            tracing::error!(prompt = %job.id, round, what, reason, "unexpected rejection by the kernel: final for this round, not retried");
        }
    } else {
        tracing::debug!(prompt = %job.id, round, what, reason, "rejected by the kernel");
    }
    Ok(Step::Wait)
}

/// The verification duty: compare the settled output with the one this node computed for
/// the same request.
async fn finish(ctx: &Ctx, job: &Job, status: PromptStatus) -> Result<(), NodeError> {
    forget(ctx, job.id);
    ctx.metrics.ended(job.id, status == PromptStatus::Settled);
    if status == PromptStatus::Refunded {
        tracing::info!(prompt = %job.id, "refunded: no round reached a decision");
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
    let identity = context::load_record(&ctx.contracts, job.id)
        .await?
        .identity();
    match ctx.store.output(job.id, identity)? {
        Some(ours) if keccak256(&ours.output) != settled_hash => {
            Metrics::inc(&ctx.metrics.disagreements);
            tracing::error!(
                prompt = %job.id,
                ours = %keccak256(&ours.output),
                settled = %settled_hash,
                "SETTLED OUTPUT DIFFERS FROM THIS NODE'S: check the model file and engine version"
            );
        }
        Some(_) => {
            tracing::info!(prompt = %job.id, output_hash = %settled_hash, "settled; agrees with this node");
        }
        None => tracing::debug!(prompt = %job.id, output_hash = %settled_hash, "settled"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(n: u8, state: u8, prefix: u8) -> Member {
        Member {
            node: Address::repeat_byte(n),
            state: MemberState::try_from(state).unwrap(),
            order: n,
            prefix: FixedBytes::repeat_byte(prefix),
        }
    }

    #[test]
    fn the_last_committer_reveals_last_for_half_the_window() {
        let me = Address::repeat_byte(3); // committed third (order 3)
        let w = |now| RevealWindow {
            now,
            commit_deadline: 100,
            reveal_deadline: 160,
        };
        let pending = [member(1, 1, 0), member(2, 2, 0xaa), member(3, 1, 0)];
        assert!(
            reveals_last(&pending, me, w(50)),
            "all committed early: let the others go first"
        );
        assert!(reveals_last(&pending, me, w(129)));
        assert!(
            !reveals_last(&pending, me, w(130)),
            "half the window gone: reveal anyway"
        );
        let done = [member(1, 2, 0xaa), member(2, 2, 0xaa), member(3, 1, 0)];
        assert!(
            !reveals_last(&done, me, w(50)),
            "the others revealed: go (with the output)"
        );
        let not_last = Address::repeat_byte(1);
        assert!(
            !reveals_last(&pending, not_last, w(50)),
            "earlier committers never wait"
        );
    }

    #[test]
    fn the_output_rides_only_on_the_reveal_that_decides_on_it() {
        let me = Address::repeat_byte(1);
        let mine = FixedBytes::repeat_byte(0xaa);
        // Others still to reveal: keep the output private.
        let m = [member(1, 1, 0), member(2, 2, 0xaa), member(3, 1, 0)];
        assert!(!carries_output(&m, me, mine));
        // Last reveal, everyone agrees: carry it (this reveal settles).
        let m = [member(1, 1, 0), member(2, 2, 0xaa), member(3, 2, 0xaa)];
        assert!(carries_output(&m, me, mine));
        // Last reveal but someone revealed another hash: the round will not settle on it now.
        let m = [member(1, 1, 0), member(2, 2, 0xaa), member(3, 2, 0xbb)];
        assert!(!carries_output(&m, me, mine));
        // A silent member does not block; but 1 of 3 is no majority.
        let m = [member(1, 1, 0), member(2, 0, 0), member(3, 0, 0)];
        assert!(!carries_output(&m, me, mine));
        let m = [member(1, 1, 0), member(2, 2, 0xaa), member(3, 0, 0)];
        assert!(carries_output(&m, me, mine));
    }

    #[test]
    fn decisions_follow_the_kernel_rules() {
        let a = FixedBytes::repeat_byte(0xaa);
        let agree = [member(1, 2, 0xaa), member(2, 2, 0xaa), member(3, 0, 0)];
        assert_eq!(decided(&agree, 0), Some(a));
        let split = [member(1, 2, 0xaa), member(2, 2, 0xaa), member(3, 2, 0xbb)];
        assert_eq!(decided(&split, 0), None, "round 0 needs unanimity");
        assert_eq!(decided(&split, 1), Some(a), "escalations need a majority");
        let few = [member(1, 2, 0xaa), member(2, 1, 0), member(3, 0, 0)];
        assert_eq!(decided(&few, 1), None);
    }
}
