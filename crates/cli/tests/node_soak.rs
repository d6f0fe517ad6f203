//! Soak benchmark (ignored by default; minutes of CPU):
//!
//! ```sh
//! cargo test --release -p aikernel --test node_soak -- --ignored --nocapture
//! ```
//!
//! Three real node processes on a spawned devnet serve `AIKERNEL_SOAK_PROMPTS` (default 200)
//! mixed prompts from four requesters submitting concurrently (each keeps up to
//! `AIKERNEL_SOAK_INFLIGHT`, default 2, prompts open): every schema kind, short typed answers,
//! long free text (200 and 600 tokens), conversations that carry context. It fails unless every
//! prompt settles, nobody is slashed and nothing is refunded, and prints throughput, latency
//! percentiles, declines and escalations.

// A benchmark: a failed RPC or a malformed env value means it cannot run.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use alloy::primitives::{B256, U256};
use alloy::providers::{DynProvider, Provider as _, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use aikernel_chain::bindings::{
    DecentralizedInference::{self, Declined, PromptRefunded, PromptSubmitted, RoundFailed},
    GPUManagement::NodeSlashed,
};
use aikernel_protocol::PromptStatus;
use aikernel_schema::parse_spec;

use common::Net;

/// anvil's well-known dev keys 5..=8 (0 deploys, 1..=3 are the nodes).
const REQUESTERS: [&str; 4] = [
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
];

/// One kind of prompt of the mix: schema spec (empty: free text), max tokens, input.
struct Kind {
    spec: &'static str,
    max_tokens: u32,
    input: &'static str,
}

const MIX: [Kind; 10] = [
    Kind {
        spec: "bool",
        max_tokens: 8,
        input: "Is the sun a star?",
    },
    Kind {
        spec: "int:0..100",
        max_tokens: 8,
        input: "How many legs do three spiders have in total?",
    },
    Kind {
        spec: "choice:yes|no",
        max_tokens: 8,
        input: "Is Paris the capital of France?",
    },
    Kind {
        spec: "address",
        max_tokens: 48,
        input: "Repeat this address: 0x00000000000000000000000000000000000000aa",
    },
    Kind {
        spec: "text:64",
        max_tokens: 24,
        input: "Name a colour.",
    },
    Kind {
        spec: "tuple(bool, int:0..9)",
        max_tokens: 16,
        input: "Is 7 odd, and what is 3 + 4?",
    },
    Kind {
        spec: "",
        max_tokens: 200,
        input: "Describe a harbour at dawn.",
    },
    Kind {
        spec: "choice:\"Team A\",\"Team B\"",
        max_tokens: 8,
        input: "Team A won 9 of 10 games, Team B won 1 of 10. Who wins?",
    },
    Kind {
        spec: "int:300..850",
        max_tokens: 8,
        input: "A spotless ten-year credit history. Credit score?",
    },
    Kind {
        spec: "",
        max_tokens: 600,
        input: "Write a long story about a lighthouse keeper.",
    },
];

/// Submissions refused with NotEnoughNodes (retried).
static REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.parse().unwrap())
}

fn requester(net: &Net, key: &str) -> DynProvider {
    let signer: PrivateKeySigner = key.parse().unwrap();
    ProviderBuilder::new()
        .wallet(signer)
        .connect_http(net.rpc.parse().unwrap())
        .erased()
}

async fn submit(
    kernel: &DecentralizedInference::DecentralizedInferenceInstance<DynProvider>,
    topic: B256,
    kind: &Kind,
) -> U256 {
    let schema = if kind.spec.is_empty() {
        Vec::new()
    } else {
        parse_spec(kind.spec).unwrap().encode()
    };
    let request = common::text_request(topic, kind.input, schema, kind.max_tokens, 3);
    let fee = kernel
        .quote(U256::from(1u8), kind.max_tokens, 3, 0)
        .call()
        .await
        .unwrap();
    let call = kernel.infer(request).value(fee);
    // While every node sits out of the pools (after declining, until its queue drains) the
    // kernel refuses new prompts with NotEnoughNodes: a requester tries again shortly.
    let mut refused = 0;
    let gas = loop {
        match call.estimate_gas().await {
            Ok(gas) => break gas,
            Err(e) if e.to_string().contains("0xc74a92fe") && refused < 120 => {
                refused += 1;
                REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => panic!("infer: {e}"),
        }
    };
    let receipt = call
        .gas(gas * 2)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    // The id from the receipt: other requesters submit concurrently, so a simulated call's
    // id may already be taken when this transaction is mined.
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<PromptSubmitted>().ok())
        .map(|log| log.inner.data.promptId)
        .unwrap()
}

/// Submits `count` prompts of the mix (starting at `offset`), keeping at most `inflight` open;
/// returns each prompt's id, seconds from submission to its final status, and that status.
async fn run_requester(
    net: &Net,
    key: &str,
    offset: usize,
    count: usize,
    inflight: usize,
) -> Vec<(U256, f64, PromptStatus)> {
    let provider = requester(net, key);
    let kernel = DecentralizedInference::new(net.deployment.kernel, provider);
    let mut open: Vec<(U256, Instant)> = Vec::new();
    let mut done = Vec::new();
    for i in 0..count {
        let n = offset + i;
        // A conversation of five prompts per topic: later ones carry earlier context.
        let topic = B256::from(U256::from(n / 5 + 1) | (U256::from(offset + 1) << 128));
        let id = submit(&kernel, topic, &MIX[n % MIX.len()]).await;
        open.push((id, Instant::now()));
        while open.len() >= inflight {
            reap(&kernel, &mut open, &mut done).await;
        }
    }
    while !open.is_empty() {
        reap(&kernel, &mut open, &mut done).await;
    }
    done
}

/// Moves the prompts that reached a final status (3 settled, 4 refunded) from `open` to
/// `done`, then waits a moment.
async fn reap(
    kernel: &DecentralizedInference::DecentralizedInferenceInstance<DynProvider>,
    open: &mut Vec<(U256, Instant)>,
    done: &mut Vec<(U256, f64, PromptStatus)>,
) {
    let mut still = Vec::new();
    for &(id, t) in open.iter() {
        let status = PromptStatus::try_from(kernel.statusOf(id).call().await.unwrap()).unwrap();
        if status.is_final() {
            done.push((id, t.elapsed().as_secs_f64(), status));
        } else {
            still.push((id, t));
        }
    }
    *open = still;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: many minutes of CPU; run explicitly (see the file's docs)"]
async fn soak_three_nodes_mixed_prompts_nobody_slashed_nothing_refunded() {
    let total = env_usize("AIKERNEL_SOAK_PROMPTS", 200);
    let inflight = env_usize("AIKERNEL_SOAK_INFLIGHT", 2);
    let net = Net::start(3, 60, None);
    let _nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let started = Instant::now();
    let per = total.div_ceil(REQUESTERS.len());
    let count = |r: usize| per.min(total.saturating_sub(r * per));
    let (a, b, c, d) = tokio::join!(
        run_requester(&net, REQUESTERS[0], 0, count(0), inflight),
        run_requester(&net, REQUESTERS[1], per, count(1), inflight),
        run_requester(&net, REQUESTERS[2], 2 * per, count(2), inflight),
        run_requester(&net, REQUESTERS[3], 3 * per, count(3), inflight),
    );
    let results: Vec<(U256, f64, PromptStatus)> = [a, b, c, d].into_iter().flatten().collect();
    let elapsed = started.elapsed().as_secs_f64();

    let settled = results
        .iter()
        .filter(|r| r.2 == PromptStatus::Settled)
        .count();
    let slashed: Vec<NodeSlashed> = net.logs_of(net.deployment.gpu).await;
    let refunded: Vec<PromptRefunded> = net.logs_of(net.deployment.kernel).await;
    let declined: Vec<Declined> = net.logs_of(net.deployment.kernel).await;
    let failed_rounds: Vec<RoundFailed> = net.logs_of(net.deployment.kernel).await;
    let mut latency: Vec<f64> = results.iter().map(|r| r.1).collect();
    latency.sort_by(f64::total_cmp);

    println!(
        "\nsoak: {total} mixed prompts, 4 requesters x {inflight} open, committee of 3, 3 node processes"
    );
    println!(
        "  {settled}/{total} settled in {elapsed:.0} s ({:.1} prompts/min); refunds {}, slashes {}, declines {}, failed rounds {}",
        total as f64 * 60.0 / elapsed,
        refunded.len(),
        slashed.len(),
        declined.len(),
        failed_rounds.len()
    );
    println!(
        "  submissions refused for a moment (no eligible node, retried): {}",
        REFUSED.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "  latency submit -> final: p50 {:.1} s, p95 {:.1} s, max {:.1} s",
        percentile(&latency, 0.5),
        percentile(&latency, 0.95),
        percentile(&latency, 1.0)
    );
    for r in &refunded {
        let status = net.kernel().statusOf(r.promptId).call().await.unwrap();
        println!(
            "  refunded: prompt {} (status now {status}, {} wei)",
            r.promptId, r.amount
        );
    }
    for f in &failed_rounds {
        println!(
            "  failed round: prompt {} round {} ({} commits, {} reveals)",
            f.promptId, f.round, f.commits, f.reveals
        );
    }
    assert_eq!(results.len(), total);
    assert_eq!(settled, total, "every prompt settles:{}", net.logs());
    assert!(refunded.is_empty(), "nothing refunded");
    let who: Vec<_> = slashed.iter().map(|s| (s.node, s.reason)).collect();
    assert!(slashed.is_empty(), "honest nodes slashed: {who:?}");
}
