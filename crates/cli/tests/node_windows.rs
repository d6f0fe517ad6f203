//! Commit windows that follow the work, on a real devnet with real node processes: a long
//! free-text answer (600 tokens) gets a window sized for it and settles with every honest node
//! paid and none slashed, and a node that cannot finish in time declines instead of staying
//! silent: it keeps its stake, the others settle the prompt.

// Test helpers outside #[test] fns: a failed RPC is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use alloy::primitives::{B256, U256};

use aikernel_chain::bindings::{
    DecentralizedInference::{Declined, DrawScheduled, RewardPaid},
    GPUManagement::{self, NodeJailed, NodeSlashed},
};
use aikernel_protocol::PromptStatus;

use common::Net;

/// The devnet registers the default model at 10 tokens per second (`--tokens-per-second`).
const DEVNET_TOKENS_PER_SECOND: u64 = 10;
const BASE_COMMIT_WINDOW: u64 = 60;

async fn submit_text(net: &Net, input: &str, max_tokens: u32) -> U256 {
    let topic = B256::repeat_byte(0x42);
    net.submit_request(common::text_request(
        topic,
        input,
        Vec::new(),
        max_tokens,
        3,
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_answer_gets_a_window_for_its_work_and_settles_without_slashes() {
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let _nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let input = "Write a long story about a lighthouse keeper and the sea.";
    let max_tokens = 600;
    let id = submit_text(&net, input, max_tokens).await;
    let kernel = net.kernel();
    let block = alloy::providers::Provider::get_block_by_number(
        &net.provider(),
        alloy::eips::BlockNumberOrTag::Latest,
    )
    .await
    .unwrap()
    .unwrap();
    let info = kernel.promptInfo(id).call().await.unwrap();
    let prefill = (input.len() as u64).div_ceil(32);
    let work = (u64::from(max_tokens) + prefill) / DEVNET_TOKENS_PER_SECOND;
    let window = u64::from(info.commitDeadline) - block.header.timestamp;
    assert!(
        window >= BASE_COMMIT_WINDOW + work - 2,
        "commit window {window} s does not cover {work} s of work"
    );

    assert_eq!(
        net.wait_final(id, Duration::from_mins(8)).await,
        PromptStatus::Settled,
        "settled"
    );
    let paid: Vec<RewardPaid> = net.logs_of(net.deployment.kernel).await;
    assert_eq!(
        paid.iter().filter(|p| p.promptId == id).count(),
        3,
        "all three honest nodes paid"
    );
    let slashed: Vec<NodeSlashed> = net.logs_of(net.deployment.gpu).await;
    let who: Vec<_> = slashed.iter().map(|s| (s.node, s.reason)).collect();
    assert!(slashed.is_empty(), "honest nodes slashed: {who:?}");
    let output = kernel.resultOf(id).call().await.unwrap();
    assert!(output.len() > 100, "a long answer ({} bytes)", output.len());
    let scheduled: Vec<DrawScheduled> = net.logs_of(net.deployment.kernel).await;
    assert!(scheduled.iter().all(|d| d.round == 0), "no escalation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_finish_in_time_declines_and_keeps_its_stake() {
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    // Node 3 declines whenever its output is not ready (a machine far too slow for the
    // window); nodes 1 and 2 are ordinary.
    let config = net.dir.path().join("slow.toml");
    std::fs::write(&config, "decline_before_deadline_s = 1000000\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let _fast: Vec<_> = (1..=2).map(|i| net.node(i, None, &[])).collect();
    let _slow = net.node(3, None, &["--config", &config]);
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let gpu = GPUManagement::new(net.deployment.gpu, net.provider());
    let slow = net.node_address(3);
    let stake_before = gpu.nodeInfo(slow).call().await.unwrap().stake;

    let id = net
        .submit(
            "Is water wet? Answer yes or no.",
            common::choice_yes_no(),
            3,
        )
        .await;
    assert_eq!(
        net.wait_final(id, Duration::from_mins(4)).await,
        PromptStatus::Settled,
        "settled"
    );

    let declined: Vec<Declined> = net.logs_of(net.deployment.kernel).await;
    assert!(
        declined.iter().any(|d| d.promptId == id && d.node == slow),
        "node 3 declined ({} declines)\n{}",
        declined.len(),
        net.logs()
    );
    let slashed: Vec<NodeSlashed> = net.logs_of(net.deployment.gpu).await;
    let who: Vec<_> = slashed.iter().map(|s| (s.node, s.reason)).collect();
    assert!(slashed.is_empty(), "nobody slashed: {who:?}");
    let info = gpu.nodeInfo(slow).call().await.unwrap();
    assert_eq!(info.stake, stake_before, "declining costs no stake");
    // It sat out of the pools (jailed with no jail time) until its queue drained; by now it
    // may have rejoined, so the jail is read from the events.
    let jailed: Vec<NodeJailed> = net.logs_of(net.deployment.gpu).await;
    assert!(
        jailed.iter().any(|j| j.node == slow),
        "a declining node sits out of the pools"
    );
    let paid: Vec<RewardPaid> = net.logs_of(net.deployment.kernel).await;
    let winners: Vec<_> = paid.iter().filter(|p| p.promptId == id).collect();
    assert_eq!(winners.len(), 2, "the two nodes that answered are paid");
    assert!(winners.iter().all(|p| p.node != slow));
    let log = std::fs::read_to_string(net.log(3)).unwrap();
    assert!(
        log.contains("declined the round"),
        "node 3 says why:\n{log}"
    );
}

/// The chain's clock jumps 50 s ahead of the wall clock while three prompts are in flight
/// (deadlines are block timestamps, so their commit windows lose 50 s at once): no honest node
/// is slashed (each commits in what is left, or declines), and the nodes report the skew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_clock_running_ahead_slashes_no_honest_node() {
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let _nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let mut ids = Vec::new();
    for input in [
        "Describe the sea.",
        "Describe a forest.",
        "Describe a city.",
    ] {
        ids.push(submit_text(&net, input, 150).await);
    }
    let provider = net.provider();
    let _: serde_json::Value =
        alloy::providers::Provider::raw_request(&provider, "evm_increaseTime".into(), (50u64,))
            .await
            .unwrap();
    let _: serde_json::Value =
        alloy::providers::Provider::raw_request(&provider, "evm_mine".into(), ())
            .await
            .unwrap();

    for &id in &ids {
        let status = net.wait_final(id, Duration::from_mins(6)).await;
        assert!(status.is_final(), "prompt {id} final");
    }
    let slashed: Vec<NodeSlashed> = net.logs_of(net.deployment.gpu).await;
    let who: Vec<_> = slashed.iter().map(|s| (s.node, s.reason)).collect();
    assert!(
        slashed.is_empty(),
        "honest nodes slashed: {who:?}\n{}",
        net.logs()
    );
    let settled = ids.len()
        - net
            .logs_of::<aikernel_chain::bindings::DecentralizedInference::PromptRefunded>(
                net.deployment.kernel,
            )
            .await
            .len();
    assert!(
        settled >= 1,
        "the network still settles prompts:\n{}",
        net.logs()
    );
    for i in 1..=3 {
        let log = std::fs::read_to_string(net.log(i)).unwrap();
        assert!(
            log.contains("ahead of this machine"),
            "node {i} reports the skew:\n{log}"
        );
    }
}
