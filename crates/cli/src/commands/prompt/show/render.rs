//! `prompt show` for people and as JSON.

use std::collections::BTreeSet;

use alloy::primitives::B256;
use serde_json::{Value, json};

use aikernel_schema::{Schema, to_spec};

use super::super::history::History;
use super::super::outcome;
use super::{Round, member_state_name, status_name};
use crate::output::{eth, hex0x};

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

pub(super) fn to_json(h: &History, rounds: &[Round], schema: Option<&Schema>) -> Value {
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
                "drawn": e.committees.iter().find(|c| c.event.round == round.index)
                    .map(|c| tx_json(h, c.tx, c.block)),
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

pub(super) fn to_text(h: &History, rounds: &[Round], schema: Option<&Schema>) -> String {
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
}
