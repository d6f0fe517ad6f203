//! `aikernel prompt --wait` and `aikernel prompt wait ID`: follow a prompt through its rounds
//! with a spinner (committee drawn, commits, reveals, escalations), nudge an overdue round with
//! `settle` (anyone may), and print the decoded, typed result. A refund or an error result
//! exits non-zero.

use std::time::{Duration, Instant};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, U256, keccak256},
    providers::Provider,
};
use anyhow::{Context as _, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use aikernel_chain::bindings::DecentralizedInference::{
    self, CallbackDelivered, PromptRefunded, PromptSettled, RewardPaid,
};
use aikernel_protocol::PromptStatus;

use super::{Submitted, history, outcome, submitted_json};
use crate::{
    global::GlobalArgs,
    keys::KeyArgs,
    output::{eth, hex0x, outln, print_json},
    rpc::{self, Kernel, decode_revert},
};

/// Arguments of `aikernel prompt wait`.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// The prompt id.
    id: U256,

    /// Give up after this many seconds (the prompt goes on; wait again to resume).
    #[arg(long, default_value_t = 600)]
    timeout: u64,

    /// With a key, an overdue round is ended with `settle` (anyone may send it) so the wait
    /// always ends; without one, the wait relies on the nodes or the requester to do it.
    #[command(flatten)]
    key: KeyArgs,
}

/// Runs `aikernel prompt wait`.
pub(crate) fn run(args: &WaitArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let signer = args.key.signer()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let kernel = rpc::connect(global, signer).await?;
        let submitted = history::submitted(&kernel, args.id).await?;
        follow(&kernel, submitted, args.timeout, global).await
    })
}

/// How often the prompt's state is read.
const POLL: Duration = Duration::from_millis(250);

/// What the spinner last showed, to print each stage change once.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    round: u8,
    status: PromptStatus,
    commits: u8,
    reveals: u8,
}

/// Follows `s` until it is final or `timeout` seconds pass, then prints the outcome.
pub(super) async fn follow(
    kernel: &Kernel,
    s: Submitted,
    timeout: u64,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let human = !global.json && !global.quiet;
    let bar = spinner(human);
    let say = |line: String| {
        if human {
            bar.suspend(|| eprintln!("{line}"));
        }
    };
    say(format!(
        "prompt {} submitted in tx {} (gas {}, fee {}), topic {}",
        s.id,
        s.tx,
        s.gas_used,
        eth(s.fee),
        s.topic
    ));
    let inference = DecentralizedInference::new(kernel.deployment.kernel, kernel.provider.clone());
    if let Some(d) = &s.draw {
        say(format!(
            "round 0 committee is drawn with the hash of block {}",
            d.seedBlock
        ));
    }
    // The committee is drawn after submission: empty until the seed block's hash exists.
    let mut committee: Vec<Address> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut seen = Seen {
        round: 0,
        status: PromptStatus::Committing,
        commits: 0,
        reveals: 0,
    };
    let status = loop {
        let p = inference
            .promptInfo(s.id)
            .call()
            .await
            .map_err(|e| rpc::explain("reading the prompt", &e))?;
        let now = Seen {
            round: p.round,
            status: PromptStatus::try_from(p.status)?,
            commits: p.commits,
            reveals: p.reveals,
        };
        if now.round != seen.round {
            committee.clear();
            say(format!(
                "no decision in round {}; round {} draws a larger committee",
                seen.round, now.round
            ));
        }
        if committee.is_empty() {
            committee = inference
                .committeeOf(s.id)
                .call()
                .await
                .map_err(|e| rpc::explain("reading the committee", &e))?;
            if !committee.is_empty() {
                say(format!(
                    "assigned  round {}: {}",
                    now.round,
                    join(&committee)
                ));
            }
        }
        if now.round == seen.round {
            if now.commits != seen.commits {
                say(format!("committed {}/{}", now.commits, committee.len()));
            }
            if now.status == PromptStatus::Revealing && seen.status != PromptStatus::Revealing {
                say("reveal phase open".into());
            }
            if now.reveals != seen.reveals {
                say(format!("revealed  {}/{}", now.reveals, now.commits));
            }
        }
        if now.status == PromptStatus::Publishing && seen.status != PromptStatus::Publishing {
            say(format!(
                "round {} decided; waiting for the output bytes",
                now.round
            ));
        }
        seen = now.clone();
        if now.status.is_final() {
            break now.status;
        }
        let phase = match now.status {
            PromptStatus::Revealing => "revealing",
            PromptStatus::Publishing => "publishing",
            _ if committee.is_empty() => "drawing the committee",
            _ => "committing",
        };
        let now_t = chain_time(kernel).await?;
        let (done, of, due) = if now.status == PromptStatus::Committing {
            (p.commits, committee.len() as u8, p.commitDeadline)
        } else {
            (p.reveals, p.commits, p.revealDeadline)
        };
        let left = i64::from(due) - now_t as i64;
        bar.set_message(format!(
            "prompt {} round {}: {phase} {done}/{of}, {}",
            s.id,
            p.round,
            if left >= 0 {
                format!("deadline in {left} s")
            } else {
                format!("deadline passed {} s ago", -left)
            }
        ));
        if Instant::now() > deadline {
            bar.finish_and_clear();
            bail!(
                "timed out after {timeout} s waiting for prompt {} (round {}, {phase}, {}/{} committed, {} revealed); \
                 it may still settle: resume with `aikernel prompt wait {}`",
                s.id,
                p.round,
                p.commits,
                committee.len(),
                p.reveals,
                s.id
            );
        }
        // Anyone may end an overdue round; the requester does, so --wait always ends.
        if overdue(now_t, &p, committee.len())
            && let Some(tx) = nudge(&inference, s.id).await
        {
            say(format!("round {} overdue: settled it in tx {tx}", p.round));
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish_and_clear();
    let elapsed = s.started.elapsed();
    if status == PromptStatus::Refunded {
        return refunded(kernel, &s, elapsed, global).await;
    }
    settled(kernel, &s, &committee, elapsed, global).await
}

fn spinner(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

fn join(nodes: &[Address]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The latest block's timestamp (deadlines are block timestamps).
async fn chain_time(kernel: &Kernel) -> anyhow::Result<u64> {
    let block = kernel
        .provider
        .get_block_by_number(BlockNumberOrTag::Latest)
        .await
        .context("reading the latest block")?
        .context("the node has no latest block")?;
    Ok(block.header.timestamp)
}

/// True once `settle` can end the round at chain time `t`: after the reveal (or publication)
/// deadline, or after the commit deadline with too few commits for a majority of `k` (0 while
/// the committee is not drawn). The kernel has the last word: `nudge` simulates first.
fn overdue(t: u64, p: &aikernel_chain::bindings::KernelCore::Prompt, k: usize) -> bool {
    let too_few = p.status == PromptStatus::Committing.as_u8()
        && t > u64::from(p.commitDeadline)
        && usize::from(p.commits) < k / 2 + 1;
    too_few || t > u64::from(p.revealDeadline)
}

/// Sends `settle` for an overdue round; `None` when it is not due after all or fails.
async fn nudge(
    inference: &DecentralizedInference::DecentralizedInferenceInstance<
        alloy::providers::DynProvider,
    >,
    id: alloy::primitives::U256,
) -> Option<B256> {
    let call = inference.settle(id);
    if let Err(e) = call.call().await {
        tracing::debug!(reason = ?e.as_revert_data().as_ref().and_then(decode_revert), "settle not due");
        return None;
    }
    let receipt = call.send().await.ok()?.get_receipt().await.ok()?;
    receipt.status().then_some(receipt.transaction_hash)
}

async fn settled(
    kernel: &Kernel,
    s: &Submitted,
    committee: &[Address],
    elapsed: Duration,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let d = &kernel.deployment;
    let topic = Some(B256::from(s.id));
    let (event, log) = rpc::scan::<PromptSettled>(&kernel.provider, d.kernel, topic, s.block)
        .await?
        .into_iter()
        .next()
        .context("the prompt is settled but its PromptSettled event was not found")?;
    let rewards = rpc::scan::<RewardPaid>(&kernel.provider, d.kernel, topic, s.block).await?;
    let callbacks =
        rpc::scan::<CallbackDelivered>(&kernel.provider, d.kernel, topic, s.block).await?;
    let settle_tx = log.transaction_hash.unwrap_or_default();
    let settle_block = log.block_number.unwrap_or_default();
    let chain_seconds = chain_seconds(kernel, s.block, settle_block).await;
    let output = event.output.to_vec();
    let output_hash = keccak256(&output);
    let error = outcome::error_code(&s.schema, &output);

    if global.json {
        let mut out = submitted_json(s);
        let extra = json!({
            "status": PromptStatus::Settled.name(),
            "settleTx": settle_tx.to_string(),
            "settleBlock": settle_block,
            "outputHash": output_hash.to_string(),
            "output": hex0x(&output),
            "result": outcome::result_json(&s.schema, &output),
            "finalCommittee": committee.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "rewards": rewards.iter().map(|(r, _)| json!({
                "node": r.node.to_string(), "eth": r.eth.to_string(),
            })).collect::<Vec<_>>(),
            "callbackOk": callbacks.first().map(|(c, _)| c.ok),
            "seconds": elapsed.as_secs_f64(),
            "chainSeconds": chain_seconds,
        });
        if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        print_json(&out)?;
    } else {
        outln!(
            "prompt {} settled in tx {settle_tx} (block {settle_block})",
            s.id
        );
        outln!("  result      {}", outcome::result_text(&s.schema, &output));
        outln!("  output hash {output_hash}");
        outln!("  infer gas   {} (tx {})", s.gas_used, s.tx);
        for (r, _) in &rewards {
            outln!("  reward      {} {}", r.node, eth(r.eth));
        }
        match chain_seconds {
            Some(c) => outln!(
                "  time        {:.1} s from submission to settlement ({c} s of block time)",
                elapsed.as_secs_f64()
            ),
            None => outln!(
                "  time        {:.1} s from submission to settlement",
                elapsed.as_secs_f64()
            ),
        }
        outln!("  details     aikernel prompt show {}", s.id);
    }
    // The committee agreed the request cannot be served: the fee is spent, the caller must know.
    match error {
        Some(code) => Err(outcome::error_exit(s.id, code)),
        None => Ok(()),
    }
}

async fn refunded(
    kernel: &Kernel,
    s: &Submitted,
    elapsed: Duration,
    global: &GlobalArgs,
) -> anyhow::Result<()> {
    let topic = Some(B256::from(s.id));
    let refund =
        rpc::scan::<PromptRefunded>(&kernel.provider, kernel.deployment.kernel, topic, s.block)
            .await?
            .into_iter()
            .next();
    let (amount, tx) = refund.map_or((None, None), |(e, l)| (Some(e.amount), l.transaction_hash));
    if global.json {
        let mut out = submitted_json(s);
        if let Some(o) = out.as_object_mut() {
            o.insert("status".into(), json!(PromptStatus::Refunded.name()));
            o.insert("refund".into(), json!(amount.map(|a| a.to_string())));
            o.insert("refundTx".into(), json!(tx.map(|t| t.to_string())));
            o.insert("seconds".into(), json!(elapsed.as_secs_f64()));
        }
        print_json(&out)?;
    }
    bail!(
        "prompt {} was refunded ({}) after {:.1} s: no committee reached a majority",
        s.id,
        amount.map_or_else(|| "amount unknown".into(), eth),
        elapsed.as_secs_f64()
    )
}

/// Seconds of block time between two blocks, when both can be read.
async fn chain_seconds(kernel: &Kernel, from: u64, to: u64) -> Option<u64> {
    let time = |n: u64| async move {
        kernel
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(n))
            .await
            .ok()
            .flatten()
            .map(|b| b.header.timestamp)
    };
    Some(time(to).await?.saturating_sub(time(from).await?))
}
