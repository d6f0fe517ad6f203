//! Test hooks: the misbehaviours adversarial tests use to prove the network punishes them
//! (`byzantine = "lie" | "copy" | "silent"`), and a pause after each commit so a crash test
//! can kill the node there. Compiled only with the `test-hooks` feature: the operator's build
//! carries neither the code nor the config keys.

use alloy::primitives::B256;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

use aikernel_chain::bindings::DecentralizedInference::Committed;

use crate::NodeError;
use crate::config::Byzantine;
use crate::daemon::{Ctx, Step};
use crate::jobs::{Computed, Job};

/// `lie`: a plausible wrong output (for a choice between two options this flips the answer).
pub(crate) fn lie(ctx: &Ctx, mut computed: Computed) -> Computed {
    if ctx.config.byzantine == Some(Byzantine::Lie) {
        match computed.output.last_mut() {
            Some(last) => *last ^= 1,
            None => computed.output.push(1),
        }
    }
    computed
}

/// `silent`: the node never commits or reveals.
pub(crate) fn silent(ctx: &Ctx) -> bool {
    ctx.config.byzantine == Some(Byzantine::Silent)
}

/// The commit step of a misbehaving node: `silent` waits forever, `copy` commits another
/// member's commitment once there is one; `None` for an honest node.
pub(crate) async fn commit(ctx: &Ctx, job: &Job, round: u8) -> Result<Option<Step>, NodeError> {
    match ctx.config.byzantine {
        Some(Byzantine::Silent) => Ok(Some(Step::Wait)),
        Some(Byzantine::Copy) => match copied_commitment(ctx, job, round).await? {
            Some(c) => crate::duty::send_commit(ctx, job, round, c).await.map(Some),
            None => Ok(Some(Step::Wait)),
        },
        Some(Byzantine::Lie) | None => Ok(None),
    }
}

/// Sleeps `pause_after_commit_s` seconds (when set) right after a commit is mined.
pub(crate) async fn pause_after_commit(ctx: &Ctx) {
    let seconds = ctx.config.pause_after_commit_s;
    if seconds > 0 {
        tracing::warn!(seconds, "test hook: pausing after the commit");
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    }
}

/// `copy`: another member's commitment for the current round.
async fn copied_commitment(ctx: &Ctx, job: &Job, round: u8) -> Result<Option<B256>, NodeError> {
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
        (e.node != ctx.me && e.round == round).then_some(e.commitment)
    }))
}
