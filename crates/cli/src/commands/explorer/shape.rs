//! The JSON the page reads, shaped from `prompt show --json`'s history (no chain access here):
//! each member's agreement with its round's majority, a prompt's timeline in chain order, a
//! row of the prompts table, and the network figures (prompts per hour, median latency).

use serde_json::{Value, json};

/// Marks every member of every round with its `agreement`: `"agreed"` when it revealed the
/// round hash a strict majority of the committee revealed, `"disagreed"` when it revealed
/// another, `"no majority"` when no hash had one, `null` when it revealed nothing.
pub(super) fn annotate_agreement(history: &mut Value) {
    let Some(rounds) = history["rounds"].as_array_mut() else {
        return;
    };
    for round in rounds {
        let Some(members) = round["committee"].as_array_mut() else {
            continue;
        };
        let hashes: Vec<Option<String>> = members
            .iter()
            .map(|m| m["reveal"]["roundHash"].as_str().map(str::to_owned))
            .collect();
        let size = members.len();
        let majority = hashes
            .iter()
            .flatten()
            .find(|h| 2 * hashes.iter().flatten().filter(|x| x == h).count() > size);
        let majority = majority.cloned();
        for (member, hash) in members.iter_mut().zip(&hashes) {
            let agreement = match (hash, &majority) {
                (None, _) => Value::Null,
                (Some(_), None) => json!("no majority"),
                (Some(h), Some(m)) if h == m => json!("agreed"),
                (Some(_), Some(_)) => json!("disagreed"),
            };
            member["agreement"] = agreement;
        }
    }
}

/// One timeline entry: what happened, to whom, in which round, and its transaction fields.
fn entry(kind: &str, round: Option<&Value>, node: Option<&Value>, tx: &Value) -> Value {
    let mut v = tx.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("event".into(), json!(kind));
        o.insert("round".into(), round.cloned().unwrap_or(Value::Null));
        o.insert("node".into(), node.cloned().unwrap_or(Value::Null));
    }
    v
}

/// Everything that happened to a prompt, in chain order: submitted, each round's draw,
/// commits, declines and reveals, the rounds that escalated, the settlement or refund.
pub(super) fn timeline(history: &Value) -> Vec<Value> {
    let mut out = vec![entry("submitted", None, None, &history["submitted"])];
    for round in history["rounds"].as_array().into_iter().flatten() {
        let r = Some(&round["round"]);
        if round["drawn"].is_object() {
            out.push(entry("drawn", r, None, &round["drawn"]));
        }
        for m in round["committee"].as_array().into_iter().flatten() {
            for kind in ["commit", "decline", "reveal"] {
                if m[kind].is_object() {
                    out.push(entry(kind, r, Some(&m["node"]), &m[kind]));
                }
            }
        }
        if round["failed"].is_object() {
            out.push(entry("escalated", r, None, &round["failed"]));
        }
    }
    for kind in ["settled", "refunded"] {
        if history[kind].is_object() {
            out.push(entry(kind, None, None, &history[kind]));
        }
    }
    // Chain order: by block, then the order above (stable) within a block.
    out.sort_by_key(|e| e["block"].as_u64().unwrap_or(u64::MAX));
    out
}

/// Seconds from submission to the callback (the settling transaction) or the refund.
pub(super) fn latency(history: &Value) -> Option<u64> {
    history["settled"]["secondsAfterSubmission"]
        .as_u64()
        .or_else(|| history["refunded"]["secondsAfterSubmission"].as_u64())
}

/// A row of the prompts table: who asked what, its status, the last round's committee with each
/// member's commit, reveal and agreement, the escalations, the answer, the gas and the latency.
pub(super) fn prompt_row(history: &Value) -> Value {
    let last = history["rounds"]
        .as_array()
        .and_then(|r| r.last())
        .cloned()
        .unwrap_or(Value::Null);
    let committee: Vec<Value> = last["committee"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            json!({
                "node": m["node"],
                "state": m["stateName"],
                "committed": m["commit"].is_object(),
                "revealed": m["reveal"].is_object(),
                "declined": m["decline"].is_object(),
                "agreement": m["agreement"],
            })
        })
        .collect();
    json!({
        "promptId": history["promptId"],
        "status": history["status"],
        "round": history["round"],
        "requester": history["requester"],
        "modelId": history["modelId"],
        "schema": history["request"]["schema"],
        "input": history["request"]["input"],
        "committee": committee,
        "escalations": history["escalations"].as_array().map_or(0, Vec::len),
        "result": history["settled"]["result"],
        "refunded": history["refunded"].is_object(),
        "fee": history["fee"],
        "totalGas": history["totalGas"],
        "submittedAt": history["submitted"]["timestamp"],
        "latencySeconds": latency(history),
    })
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub(super) fn median(values: &mut [u64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    })
}

/// Submissions per hour in the `hours` hours up to `now`, oldest first: `{hourStart, count}`.
pub(super) fn per_hour(submitted_at: &[u64], now: u64, hours: u64) -> Vec<Value> {
    let end = now - now % 3600 + 3600;
    let start = end.saturating_sub(hours * 3600);
    (0..hours)
        .map(|i| {
            let from = start + i * 3600;
            let count = submitted_at
                .iter()
                .filter(|&&t| t >= from && t < from + 3600)
                .count();
            json!({ "hourStart": from, "count": count })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(block: u64, t: u64) -> Value {
        json!({ "tx": format!("0x{block:02x}"), "block": block, "timestamp": t,
                "secondsAfterSubmission": t - 100, "gasUsed": 1000, "from": "0xabc" })
    }

    fn member(node: &str, hash: Option<&str>, block: u64) -> Value {
        let reveal = hash.map(|h| {
            let mut r = tx(block + 1, 100 + block + 1);
            r["roundHash"] = json!(h);
            r
        });
        json!({ "node": node, "state": 2, "stateName": if hash.is_some() { "revealed" } else { "silent" },
                "commit": if hash.is_some() { tx(block, 100 + block) } else { Value::Null },
                "reveal": reveal, "decline": null })
    }

    /// A prompt that escalated once (a liar in round 0) and settled in round 1.
    fn escalated() -> Value {
        json!({
            "promptId": "7", "status": "settled", "round": 1, "requester": "0xreq", "modelId": "1",
            "fee": "1000", "totalGas": 900_000,
            "request": { "schema": "choice(yes,no)", "input": "Is water wet?" },
            "submitted": tx(1, 100),
            "rounds": [
                { "round": 0, "drawn": tx(2, 102), "committee": [
                    member("0xa", Some("0x11"), 3), member("0xb", Some("0x11"), 3),
                    member("0xc", Some("0x22"), 3)],
                  "failed": { "tx": "0x09", "block": 9, "timestamp": 109, "commits": 3, "reveals": 3 } },
                { "round": 1, "drawn": tx(10, 110), "committee": [
                    member("0xa", Some("0x33"), 11), member("0xb", Some("0x33"), 11),
                    member("0xc", None, 11)], "failed": null },
            ],
            "escalations": [{ "round": 0 }],
            "settled": { "tx": "0x0d", "block": 13, "timestamp": 113, "secondsAfterSubmission": 13,
                         "result": { "success": true, "display": "yes" } },
            "refunded": null,
        })
    }

    #[test]
    fn agreement_follows_the_strict_majority_of_each_round() {
        let mut h = escalated();
        annotate_agreement(&mut h);
        let round = |r: usize| -> Vec<Value> {
            h["rounds"][r]["committee"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["agreement"].clone())
                .collect()
        };
        assert_eq!(
            round(0),
            [json!("agreed"), json!("agreed"), json!("disagreed")]
        );
        assert_eq!(round(1), [json!("agreed"), json!("agreed"), Value::Null]);
        let mut split = json!({ "rounds": [{ "committee": [
            member("0xa", Some("0x1"), 1), member("0xb", Some("0x2"), 1), member("0xc", None, 1)] }] });
        annotate_agreement(&mut split);
        assert_eq!(
            split["rounds"][0]["committee"][0]["agreement"],
            "no majority"
        );
    }

    #[test]
    fn the_timeline_lists_every_step_in_chain_order() {
        let t = timeline(&escalated());
        let kinds: Vec<&str> = t.iter().map(|e| e["event"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "submitted",
                "drawn",
                "commit",
                "commit",
                "commit",
                "reveal",
                "reveal",
                "reveal",
                "escalated",
                "drawn",
                "commit",
                "commit",
                "reveal",
                "reveal",
                "settled"
            ]
        );
        let blocks: Vec<u64> = t.iter().map(|e| e["block"].as_u64().unwrap()).collect();
        assert!(blocks.windows(2).all(|w| w[0] <= w[1]), "{blocks:?}");
        assert_eq!(t[2]["node"], "0xa");
        assert_eq!(t[2]["round"], 0);
        assert_eq!(t[8]["commits"], 3);
    }

    #[test]
    fn a_row_summarises_the_last_round() {
        let mut h = escalated();
        annotate_agreement(&mut h);
        let row = prompt_row(&h);
        assert_eq!(row["promptId"], "7");
        assert_eq!(row["escalations"], 1);
        assert_eq!(row["latencySeconds"], 13);
        assert_eq!(row["result"]["display"], "yes");
        assert_eq!(row["committee"].as_array().unwrap().len(), 3);
        assert_eq!(row["committee"][0]["agreement"], "agreed");
        assert_eq!(row["committee"][2]["committed"], false);
        assert_eq!(row["schema"], "choice(yes,no)");
        for key in [
            "requester",
            "modelId",
            "status",
            "totalGas",
            "submittedAt",
            "refunded",
        ] {
            assert!(!row[key].is_null(), "{key} missing: {row}");
        }
    }

    #[test]
    fn medians_and_hourly_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5, 1, 3]), Some(3.0));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2.5));
        let hours = per_hour(&[3600, 3601, 7300, 100], 7300, 3);
        let counts: Vec<u64> = hours.iter().map(|h| h["count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [1, 2, 1]);
        assert_eq!(hours[2]["hourStart"], 7200);
    }
}
