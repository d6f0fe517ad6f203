//! `aikernel prompt show ID`: a prompt's whole history from the chain, for people and as
//! JSON: the request, each round's committee with every member's state (`memberState`), its
//! commits, reveals and declines, the rounds that failed and escalated (`RoundFailed`), the
//! result decoded with the request's schema, and the gas and time of every transaction.

use std::collections::BTreeSet;

use alloy::primitives::{Address, B256, U256};
use anyhow::Context as _;
use clap::Args;
use serde_json::{Value, json};

use aikernel_chain::bindings::DecentralizedInference;
use aikernel_schema::{Schema, to_spec};

use super::history::{self, History};
use super::outcome;
use crate::{
    global::GlobalArgs,
    output::{eth, hex0x, out, print_json},
    rpc::{self, explain},
};

/// Arguments of `aikernel prompt show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The prompt id.
    id: U256,
}

/// `IAIKernel.Status` names.
fn status_name(status: u8) -> &'static str {
    match status {
        0 => "unknown",
        1 => "committing",
        2 => "revealing",
        3 => "settled",
        4 => "refunded",
        5 => "publishing",
        _ => "?",
    }
}

/// `memberState` names: 0 none, 1 committed, 2 revealed, 3 withheld, 4 declined.
fn member_state_name(state: u8) -> &'static str {
    match state {
        0 => "silent",
        1 => "committed",
        2 => "revealed",
        3 => "withheld",
        4 => "declined",
        _ => "?",
    }
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
            None if r == h.info.round && matches!(h.info.status, 1 | 2 | 5) => (
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

/// A transaction as JSON: hash, block, time, gas, sender.
fn tx_json(h: &History, tx: B256, block: u64) -> Value {
    json!({
        "tx": tx.to_string(),
        "block": block,
        "timestamp": h.time(block),
        "secondsAfterSubmission": h.since(block),
        "gasUsed": h.gas(tx),
        "from": h.receipts.get(&tx).map(|r| r.1.to_string()),
    })
}

fn to_json(h: &History, rounds: &[Round], schema: Option<&Schema>) -> Value {
    let r = &h.request;
    let e = &h.events;
    let sub = &h.submitted;
    let rounds: Vec<Value> = rounds
        .iter()
        .map(|round| {
            json!({
                "round": round.index,
                "seedBlock": round.seed_block,
                "commitDeadline": round.commit_deadline,
                "revealDeadline": round.reveal_deadline,
                "committeeDrawn": round.drawn,
                "committee": round.members.iter().map(|m| json!({
                    "node": m.node.to_string(),
                    "state": m.state,
                    "stateName": member_state_name(m.state),
                    "commit": m.commit.map(|(tx, b)| tx_json(h, tx, b)),
                    "reveal": m.reveal.map(|(tx, b, hash)| {
                        let mut v = tx_json(h, tx, b);
                        if let Some(o) = v.as_object_mut() {
                            o.insert("roundHash".into(), json!(hash.to_string()));
                        }
                        v
                    }),
                    "decline": m.decline.map(|(tx, b)| tx_json(h, tx, b)),
                })).collect::<Vec<_>>(),
                "failed": round.failed.map(|(commits, reveals, tx, b)| {
                    let mut v = tx_json(h, tx, b);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("commits".into(), json!(commits));
                        o.insert("reveals".into(), json!(reveals));
                    }
                    v
                }),
            })
        })
        .collect();
    let result = e.settled.as_ref().map(|s| {
        let output = &s.event.output;
        let mut v = tx_json(h, s.tx, s.block);
        if let Some(o) = v.as_object_mut() {
            o.insert("outputHash".into(), json!(s.event.outputHash.to_string()));
            o.insert("output".into(), json!(hex0x(output)));
            o.insert(
                "result".into(),
                schema.map_or(Value::Null, |sc| outcome::result_json(sc, output)),
            );
        }
        v
    });
    let mut txs: BTreeSet<(u64, B256)> = BTreeSet::new();
    txs.insert((sub.block, sub.tx));
    for (tx, block) in e
        .commits
        .iter()
        .map(|x| (x.tx, x.block))
        .chain(e.reveals.iter().map(|x| (x.tx, x.block)))
        .chain(e.declines.iter().map(|x| (x.tx, x.block)))
        .chain(e.failures.iter().map(|x| (x.tx, x.block)))
        .chain(e.committees.iter().map(|x| (x.tx, x.block)))
        .chain(e.settled.iter().map(|x| (x.tx, x.block)))
        .chain(e.refunded.iter().map(|x| (x.tx, x.block)))
    {
        txs.insert((block, tx));
    }
    json!({
        "promptId": h.id.to_string(),
        "status": status_name(h.info.status),
        "round": h.info.round,
        "requester": sub.event.requester.to_string(),
        "modelId": r.modelId.to_string(),
        "topic": r.topic.to_string(),
        "fee": sub.event.fee.to_string(),
        "request": {
            "input": String::from_utf8_lossy(&r.input),
            "inputHash": r.inputHash.to_string(),
            "extraContext": String::from_utf8_lossy(&r.extraContext),
            "schema": schema.map(to_spec),
            "schemaBytes": hex0x(&r.schema),
            "maxTokens": r.maxTokens,
            "temperature": r.temperature,
            "seed": r.seed,
            "committeeSize": r.committeeSize,
            "callback": r.callback.to_string(),
            "callbackGasLimit": r.callbackGasLimit,
        },
        "submitted": tx_json(h, sub.tx, sub.block),
        "rounds": rounds,
        "declines": e.declines.iter().map(|d| {
            let mut v = tx_json(h, d.tx, d.block);
            if let Some(o) = v.as_object_mut() {
                o.insert("round".into(), json!(d.event.round));
                o.insert("node".into(), json!(d.event.node.to_string()));
            }
            v
        }).collect::<Vec<_>>(),
        "escalations": e.failures.iter().map(|f| json!({
            "round": f.event.round,
            "commits": f.event.commits,
            "reveals": f.event.reveals,
            "tx": f.tx.to_string(),
            "block": f.block,
            "timestamp": h.time(f.block),
        })).collect::<Vec<_>>(),
        "settled": result,
        "refunded": e.refunded.as_ref().map(|x| {
            let mut v = tx_json(h, x.tx, x.block);
            if let Some(o) = v.as_object_mut() {
                o.insert("amount".into(), json!(x.event.amount.to_string()));
            }
            v
        }),
        "rewards": e.rewards.iter().map(|x| json!({
            "node": x.event.node.to_string(), "eth": x.event.eth.to_string(),
        })).collect::<Vec<_>>(),
        "callbackOk": e.callback.as_ref().map(|c| c.event.ok),
        "transactions": txs.iter().map(|(b, tx)| tx_json(h, *tx, *b)).collect::<Vec<_>>(),
        "totalGas": txs.iter().map(|(_, tx)| h.gas(*tx)).sum::<u64>(),
    })
}

/// `+12 s (tx 0x…, gas 81234)`.
fn when(h: &History, tx: B256, block: u64) -> String {
    format!(
        "+{} s (tx {}, gas {})",
        h.since(block),
        short(tx),
        h.gas(tx)
    )
}

fn short(tx: B256) -> String {
    let s = tx.to_string();
    format!("{}…{}", &s[..10], &s[s.len() - 4..])
}

fn to_text(h: &History, rounds: &[Round], schema: Option<&Schema>) -> String {
    use std::fmt::Write as _;
    let r = &h.request;
    let e = &h.events;
    let sub = &h.submitted;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "prompt {}: {} (round {})",
        h.id,
        status_name(h.info.status),
        h.info.round
    );
    let _ = writeln!(t, "  requester   {}", sub.event.requester);
    let _ = writeln!(
        t,
        "  request     model {}, schema {}, max tokens {}, temperature {}, seed {}, committee {}",
        r.modelId,
        schema.map_or_else(|| hex0x(&r.schema), to_spec),
        r.maxTokens,
        r.temperature,
        r.seed,
        r.committeeSize
    );
    if r.inputHash.is_zero() {
        let _ = writeln!(t, "  input       {:?}", String::from_utf8_lossy(&r.input));
    } else {
        let _ = writeln!(t, "  input       off chain, sha256 {}", r.inputHash);
    }
    let _ = writeln!(t, "  topic       {}", r.topic);
    let _ = writeln!(
        t,
        "  submitted   block {} at {}, fee {}, tx {} (gas {})",
        sub.block,
        utc(h.time(sub.block)),
        eth(sub.event.fee),
        sub.tx,
        h.gas(sub.tx)
    );
    for round in rounds {
        let drawn = match (round.seed_block, round.drawn) {
            (Some(b), true) => format!("drawn with the hash of block {b}"),
            (Some(b), false) => format!("to be drawn with the hash of block {b}"),
            (None, _) => "draw not found".to_owned(),
        };
        let _ = writeln!(
            t,
            "  round {}     committee of {}, {drawn}; commit by {}, reveal by {}",
            round.index,
            round.members.len(),
            utc(u64::from(round.commit_deadline)),
            utc(u64::from(round.reveal_deadline))
        );
        for m in &round.members {
            let mut line = format!("    {}  {:<9}", m.node, member_state_name(m.state));
            if let Some((tx, b)) = m.decline {
                let _ = write!(line, "  decline {}", when(h, tx, b));
            }
            if let Some((tx, b)) = m.commit {
                let _ = write!(line, "  commit {}", when(h, tx, b));
            }
            if let Some((tx, b, _)) = m.reveal {
                let _ = write!(line, "  reveal {}", when(h, tx, b));
            }
            let _ = writeln!(t, "{line}");
        }
        if let Some((commits, reveals, tx, b)) = round.failed {
            let _ = writeln!(
                t,
                "    no decision: {commits} commits, {reveals} reveals; escalated {}",
                when(h, tx, b)
            );
        }
    }
    if let Some(s) = &e.settled {
        let text = schema.map_or_else(
            || hex0x(&s.event.output),
            |sc| outcome::result_text(sc, &s.event.output),
        );
        let _ = writeln!(t, "  result      {text}");
        let _ = writeln!(t, "  settled     {}", when(h, s.tx, s.block));
    }
    if let Some(x) = &e.refunded {
        let _ = writeln!(
            t,
            "  refunded    {} {}",
            eth(x.event.amount),
            when(h, x.tx, x.block)
        );
    }
    for x in &e.rewards {
        let _ = writeln!(t, "  reward      {} {}", x.event.node, eth(x.event.eth));
    }
    if let Some(c) = &e.callback {
        let _ = writeln!(
            t,
            "  callback    {} {}",
            c.event.callback,
            if c.event.ok { "delivered" } else { "FAILED" }
        );
    }
    let mut txs: BTreeSet<B256> = h.receipts.keys().copied().collect();
    txs.insert(sub.tx);
    let _ = writeln!(
        t,
        "  gas         {} in {} transactions",
        txs.iter().map(|tx| h.gas(*tx)).sum::<u64>(),
        txs.len()
    );
    t
}

/// A unix time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(t: u64) -> String {
    let (days, secs) = (t / 86_400, t % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_read_as_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn member_states_have_names() {
        let names: Vec<_> = (0..=4).map(member_state_name).collect();
        assert_eq!(
            names,
            ["silent", "committed", "revealed", "withheld", "declined"]
        );
    }
}
