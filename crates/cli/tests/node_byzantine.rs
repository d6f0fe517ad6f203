//! Adversarial nodes on a real network: a liar, a silent node and a copier sit in a
//! committee of seven with four honest nodes. Round 0 disagrees (the liar), so the prompt
//! escalates: the silent node and the copier (whose stolen commitment cannot be opened) are
//! slashed as silent and jailed, and the escalation committee (the five nodes left in the
//! pool) decides by majority. The honest nodes are paid, the dapp receives the honest answer,
//! and the liar, in the minority of both rounds, is slashed as wrong.

mod common;

use std::time::Duration;

use alloy::primitives::U256;

use aikernel_chain::bindings::{
    DecentralizedInference::{RewardPaid, RoundFailed},
    GPUManagement::NodeSlashed,
};
use aikernel_protocol::PromptStatus;

use common::Net;

/// The FantasySports example dapp (its bindings live with the demo, outside the chain crate).
mod fantasy_sports {
    #![allow(clippy::pedantic, dead_code)]
    alloy::sol!(
        #[sol(rpc)]
        FantasySports,
        "../../contracts/out/FantasySports.sol/FantasySports.json"
    );
}
use fantasy_sports::FantasySports;

/// The node flags these tests use exist only in builds with the `test-hooks` feature.
fn require_test_hooks() {
    #[cfg(not(feature = "test-hooks"))]
    panic!(
        "this test runs `node run --byzantine`: run it with --features test-hooks \
         (scripts/test.sh does)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liars_copiers_and_silent_nodes_are_slashed_and_the_dapp_gets_the_honest_answer() {
    require_test_hooks();
    let _serial = common::serial().await;
    let net = Net::start(7, 15, None);
    let _honest: Vec<_> = [1, 2, 3, 4]
        .iter()
        .map(|&i| net.node(i, None, &[]))
        .collect();
    let _liar = net.node(5, None, &["--byzantine", "lie"]);
    let _silent = net.node(6, None, &["--byzantine", "silent"]);
    let _copier = net.node(7, None, &["--byzantine", "copy"]);
    net.wait_eligible(&[1, 2, 3, 4, 5, 6, 7], Duration::from_mins(5))
        .await;

    let provider = net.provider();
    let app = FantasySports::deploy(
        provider.clone(),
        net.deployment.kernel,
        U256::from(1u8),
        7u16,
    )
    .await
    .unwrap();
    let create = app.createMatchup(
        "Lions".into(),
        "Tigers".into(),
        "30 goals scored, 5 conceded, 9 wins in 10 games".into(),
        "8 goals scored, 25 conceded, 1 win in 10 games".into(),
    );
    let matchup = create.call().await.unwrap();
    create.send().await.unwrap().get_receipt().await.unwrap();
    // The fee includes the callback's gas at a price that follows the base fee: a margin,
    // returned by the dapp.
    let fee = app.requestFee().call().await.unwrap();
    let ask = app
        .requestWinner(matchup)
        .value(fee + fee / U256::from(10u8));
    let prompt = ask.call().await.unwrap();
    let gas = ask.estimate_gas().await.unwrap();
    assert!(
        ask.gas(gas * 2)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap()
            .status()
    );

    assert_eq!(
        net.wait_final(prompt, Duration::from_mins(5)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let kernel = net.kernel();
    let settled = kernel.resultOf(prompt).call().await.unwrap();
    let identity = net.identity(prompt).await;
    let honest = net.output_of(1, prompt, identity).unwrap();
    let lie = net.output_of(5, prompt, identity).unwrap();
    assert_eq!(settled.to_vec(), honest, "the honest output settled");
    assert_ne!(lie, honest, "the liar revealed something else");

    let winner = app.winnerOf(matchup).call().await.unwrap();
    assert!(winner.decided, "the callback delivered the result");
    assert_eq!(
        U256::from(winner.index),
        U256::from_be_slice(&honest),
        "the dapp holds the honest answer"
    );

    let slashed = net.logs_of::<NodeSlashed>(net.deployment.gpu).await;
    let reason = |i: usize| {
        slashed
            .iter()
            .find(|s| s.node == net.node_address(i))
            .map(|s| s.reason)
    };
    assert_eq!(reason(5), Some(1), "liar slashed as wrong:{}", net.logs());
    assert_eq!(reason(6), Some(2), "silent node slashed");
    assert_eq!(
        reason(7),
        Some(2),
        "copier slashed as silent (its stolen commitment cannot be opened)"
    );
    for i in 1..=4 {
        assert_eq!(reason(i), None, "honest node {i} not slashed");
    }
    // Round 0 disagreed: the prompt escalated to a second round.
    let failed = net.logs_of::<RoundFailed>(net.deployment.kernel).await;
    assert!(
        failed.iter().any(|f| f.promptId == prompt && f.round == 0),
        "round 0 failed:{}",
        net.logs()
    );
    assert_eq!(kernel.promptInfo(prompt).call().await.unwrap().round, 1);
    // Every honest revealer of every round is paid (once per round it answered in).
    let mut got: Vec<_> = net
        .logs_of::<RewardPaid>(net.deployment.kernel)
        .await
        .into_iter()
        .filter(|r| r.promptId == prompt)
        .map(|r| r.node)
        .collect();
    got.sort();
    got.dedup();
    let mut expected: Vec<_> = (1..=4).map(|i| net.node_address(i)).collect();
    expected.sort();
    assert_eq!(got, expected, "exactly the honest nodes are paid");
    let copier_log = std::fs::read_to_string(net.log(7)).unwrap();
    assert!(copier_log.contains("BYZANTINE TEST MODE"), "{copier_log}");
    // Its reveal cannot open the stolen commitment: the kernel's InvalidReveal is final for
    // the round, so it is logged (and counted) once and never re-estimated or resent.
    assert_eq!(
        copier_log
            .lines()
            .filter(|l| l.contains("InvalidReveal"))
            .count(),
        1,
        "one InvalidReveal rejection, not a retry every poll:\n{copier_log}"
    );
    assert!(copier_log.contains("final for this round, not retried"));
}

/// With only three nodes, a liar in a committee of three makes round 0 disagree; the
/// escalation committee is capped at the pool, so it is the same three nodes, and its
/// majority decides: the honest answer settles and the liar, in the final minority, is
/// slashed as wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_liar_escalates_and_loses_to_the_majority_of_the_same_three_nodes() {
    require_test_hooks();
    let _serial = common::serial().await;
    let net = Net::start(3, 15, None);
    let _honest: Vec<_> = [1, 2].iter().map(|&i| net.node(i, None, &[])).collect();
    let _liar = net.node(3, None, &["--byzantine", "lie"]);
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let prompt = net
        .submit(
            "Is water wet? Answer yes or no.",
            common::choice_yes_no(),
            3,
        )
        .await;
    assert_eq!(
        net.wait_final(prompt, Duration::from_mins(5)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let kernel = net.kernel();
    let info = kernel.promptInfo(prompt).call().await.unwrap();
    assert_eq!(info.round, 1, "round 0 disagreed and escalated");
    let mut committee = kernel.committeeOf(prompt).call().await.unwrap();
    committee.sort();
    let mut all: Vec<_> = (1..=3).map(|i| net.node_address(i)).collect();
    all.sort();
    assert_eq!(committee, all, "the escalation committee is the whole pool");
    let identity = net.identity(prompt).await;
    let settled = kernel.resultOf(prompt).call().await.unwrap();
    assert_eq!(
        settled.to_vec(),
        net.output_of(1, prompt, identity).unwrap(),
        "the honest output settled"
    );
    let slashed = net.logs_of::<NodeSlashed>(net.deployment.gpu).await;
    assert!(
        slashed
            .iter()
            .any(|s| s.node == net.node_address(3) && s.reason == 1),
        "the liar is slashed as wrong:{}",
        net.logs()
    );
    assert!(
        slashed.iter().all(|s| s.node == net.node_address(3)),
        "only the liar is slashed"
    );
    let mut paid: Vec<_> = net
        .logs_of::<RewardPaid>(net.deployment.kernel)
        .await
        .into_iter()
        .filter(|r| r.promptId == prompt)
        .map(|r| r.node)
        .collect();
    paid.sort();
    paid.dedup();
    let mut honest = vec![net.node_address(1), net.node_address(2)];
    honest.sort();
    assert_eq!(paid, honest, "the honest nodes are paid");
}
