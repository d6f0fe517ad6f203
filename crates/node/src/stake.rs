//! Keeps the node's stake at its target (`stake_eai`) and says loudly when the node is out of
//! the pools. A 2 % slash of a stake at `minStake` drops the node below the minimum, out of
//! every pool, for good: the node tops its stake up from its EAI balance (approve +
//! `addStake`) at startup, after it sees itself slashed, and at every periodic check. When it
//! cannot, or when it is not eligible for any other reason, it logs a WARN naming the reason
//! and the numbers at every check, and `/health` and the metrics say so too.

use crate::NodeError;
use crate::daemon::Ctx;
use crate::metrics::Metrics;
use crate::standing::{self, Plan, Snapshot, Standing, eai};

/// Reads the node's standing at chain time `now`, tops the stake up when it is below the
/// target and the node holds EAI, and reports the result.
pub async fn maintain(ctx: &Ctx, now: u64) -> Result<Standing, NodeError> {
    let target = ctx.config.target_stake();
    let read = || standing::read(&ctx.contracts, ctx.me, &ctx.config.models, now);
    let mut snapshot = read().await?;
    if let Plan::TopUp(amount) = standing::plan(&snapshot, target) {
        match top_up(ctx, &snapshot, amount).await {
            Ok(()) => {
                tracing::info!(
                    added = %eai(amount),
                    stake = %eai(snapshot.stake + amount),
                    target = %eai(target),
                    "stake topped up from the node's EAI balance"
                );
                snapshot = read().await?;
            }
            Err(e) => tracing::warn!(
                error = %e,
                amount = %eai(amount),
                "topping up the stake failed; trying again at the next check"
            ),
        }
    }
    let standing = Standing::assess(snapshot, target);
    report(&ctx.metrics, &standing);
    Ok(standing)
}

/// Approves (when needed) and adds `amount` to the stake.
async fn top_up(
    ctx: &Ctx,
    snapshot: &Snapshot,
    amount: alloy::primitives::U256,
) -> Result<(), NodeError> {
    let c = &ctx.contracts;
    if snapshot.allowance < amount {
        let input = c.eai.approve(c.deployment.gpu, amount).calldata().clone();
        ctx.send("approving a stake top-up", c.deployment.eai, input)
            .await?;
    }
    let input = c.gpu.addStake(amount).calldata().clone();
    ctx.send("topping up the stake", c.deployment.gpu, input)
        .await?;
    Metrics::inc(&ctx.metrics.stake_topups);
    Ok(())
}

/// Records the standing for `/health` and the metrics and logs it: a WARN at every check
/// while the node is not eligible, a WARN when a shortfall under the target appears or
/// changes, an INFO when the node is eligible again.
pub fn report(metrics: &Metrics, standing: &Standing) {
    let previous = metrics.standing();
    metrics.set_standing(standing);
    let s = &standing.snapshot;
    let shortfall = standing.shortfall();
    if !standing.eligible() {
        let hint = shortfall.map_or_else(String::new, |short| format!("; {short}"));
        tracing::warn!(
            reasons = ?standing.reasons.iter().map(standing::Reason::code).collect::<Vec<_>>(),
            stake = %eai(s.stake),
            minimum = %eai(s.min_stake),
            target = %eai(standing.target),
            balance = %eai(s.balance),
            "NOT ELIGIBLE for prompts: {}{hint}",
            standing.why_not()
        );
        return;
    }
    let was_ineligible = previous.as_ref().is_some_and(|p| !p.eligible());
    if was_ineligible {
        tracing::info!(stake = %eai(s.stake), "eligible for prompts again");
    }
    if let Some(short) = shortfall
        && (was_ineligible || previous.as_ref().and_then(Standing::shortfall) != Some(short))
    {
        tracing::warn!(
            stake = %eai(s.stake),
            target = %eai(standing.target),
            balance = %eai(s.balance),
            "{short}"
        );
    }
}
