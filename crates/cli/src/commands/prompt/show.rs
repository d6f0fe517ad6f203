//! `aikernel prompt show ID`: a prompt's whole history from the chain, for people and as
//! JSON: the request, each round's committee with every member's state (`memberState`), its
//! commits, reveals and declines, the rounds that failed and escalated (`RoundFailed`), the
//! result decoded with the request's schema, and the gas and time of every transaction.

use std::collections::BTreeSet;

use aikernel_chain::bindings::DecentralizedInference;
use aikernel_protocol::{MemberState, PromptStatus};
use aikernel_schema::Schema;
use alloy::primitives::{Address, B256, U256};
use anyhow::Context as _;
use clap::Args;

use super::history::{self, History};

mod render;

use self::render::{to_json, to_text};
use crate::{
    global::GlobalArgs,
    output::{out, print_json},
    rpc::{self, explain},
};

/// Arguments of `aikernel prompt show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The prompt id.
    id: U256,
}

/// The name of an `IAIKernel.Status` value ("unknown" for a prompt the chain does not know).
fn status_name(status: u8) -> &'static str {
    match PromptStatus::try_from(status) {
        Ok(PromptStatus::None) => "unknown",
        Ok(s) => s.name(),
        Err(_) => "?",
    }
}

/// The name of a `memberState` value ("silent" for a member that neither committed nor
/// declined).
fn member_state_name(state: u8) -> &'static str {
    match MemberState::try_from(state) {
        Ok(MemberState::None) => "silent",
        Ok(s) => s.name(),
        Err(_) => "?",
    }
}

/// True while a prompt's current round runs (its committee is `committeeOf`).
fn in_progress(status: u8) -> bool {
    matches!(
        PromptStatus::try_from(status),
        Ok(PromptStatus::Committing | PromptStatus::Revealing | PromptStatus::Publishing)
    )
}

/// One committee member in one round.
struct Member {
    node: Address,
    state: u8,
    commit: Option<(B256, u64)>,
    reveal: Option<(B256, u64, B256)>,
    decline: Option<(B256, u64)>,
}

/// One round.
struct Round {
    index: u8,
    seed_block: Option<u64>,
    commit_deadline: u32,
    reveal_deadline: u32,
    /// Whether the committee is the one drawn on chain (else the view's preview).
    drawn: bool,
    members: Vec<Member>,
    failed: Option<(u8, u8, B256, u64)>,
}

/// Runs `aikernel prompt show`.
pub(crate) fn run(args: &ShowArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let kernel = rpc::connect(global, None).await?;
        let h = history::read(&kernel, args.id).await?;
        let rounds = rounds(&kernel, &h).await?;
        let schema = Schema::parse(&h.request.schema).ok();
        if global.json {
            return print_json(&to_json(&h, &rounds, schema.as_ref()));
        }
        out!("{}", to_text(&h, &rounds, schema.as_ref()));
        Ok(())
    })
}

/// Prompt `id`'s whole history as `prompt show --json` prints it (the explorer serves it).
pub(crate) async fn read_json(kernel: &rpc::Kernel, id: U256) -> anyhow::Result<serde_json::Value> {
    let h = history::read(kernel, id).await?;
    let rounds = rounds(kernel, &h).await?;
    let schema = Schema::parse(&h.request.schema).ok();
    Ok(to_json(&h, &rounds, schema.as_ref()))
}

/// Every round up to the current one, with its committee and each member's state.
async fn rounds(kernel: &rpc::Kernel, h: &History) -> anyhow::Result<Vec<Round>> {
    let inference = DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
    let e = &h.events;
    let last = [h.info.round]
        .into_iter()
        .chain(e.draws.iter().map(|d| d.event.round))
        .chain(e.failures.iter().map(|f| f.event.round))
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for r in 0..=last {
        let draw = e.draws.iter().rev().find(|d| d.event.round == r);
        let assigned = e.committees.iter().find(|c| c.event.round == r);
        let (nodes, drawn) = match assigned {
            Some(c) => (c.event.nodes.clone(), true),
            None if r == h.info.round && in_progress(h.info.status) => (
                inference
                    .committeeOf(h.id)
                    .call()
                    .await
                    .map_err(|e| explain("reading the committee", &e))?,
                false,
            ),
            None => {
                // Never drawn by a transaction: the members seen acting in the round.
                let seen: BTreeSet<Address> = e
                    .commits
                    .iter()
                    .filter(|c| c.event.round == r)
                    .map(|c| c.event.node)
                    .chain(
                        e.declines
                            .iter()
                            .filter(|d| d.event.round == r)
                            .map(|d| d.event.node),
                    )
                    .collect();
                (seen.into_iter().collect(), false)
            }
        };
        let mut members = Vec::new();
        for node in nodes {
            let state = inference
                .memberState(h.id, r, node)
                .call()
                .await
                .map_err(|e| explain("reading a member's state", &e))?
                .state;
            let commit = e
                .commits
                .iter()
                .find(|c| c.event.round == r && c.event.node == node)
                .map(|c| (c.tx, c.block));
            let reveal = e
                .reveals
                .iter()
                .find(|v| v.event.round == r && v.event.node == node)
                .map(|v| (v.tx, v.block, v.event.roundHash));
            let decline = e
                .declines
                .iter()
                .find(|d| d.event.round == r && d.event.node == node)
                .map(|d| (d.tx, d.block));
            members.push(Member {
                node,
                state,
                commit,
                reveal,
                decline,
            });
        }
        let failed = e
            .failures
            .iter()
            .find(|f| f.event.round == r)
            .map(|f| (f.event.commits, f.event.reveals, f.tx, f.block));
        out.push(Round {
            index: r,
            seed_block: draw.map(|d| d.event.seedBlock),
            commit_deadline: draw.map_or(0, |d| d.event.commitDeadline),
            reveal_deadline: draw.map_or(0, |d| d.event.revealDeadline),
            drawn,
            members,
            failed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_states_have_names() {
        let names: Vec<_> = (0..=5).map(member_state_name).collect();
        assert_eq!(
            names,
            [
                "silent",
                "committed",
                "revealed",
                "withheld",
                "declined",
                "?"
            ]
        );
        let names: Vec<_> = (0..=6).map(status_name).collect();
        assert_eq!(
            names,
            [
                "unknown",
                "committing",
                "revealing",
                "settled",
                "refunded",
                "publishing",
                "?"
            ]
        );
    }
}
