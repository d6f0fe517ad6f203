//! Real node processes against a spawned anvil with the deployed kernel and the real
//! default model: three honest nodes settle prompts; a node SIGKILLed between its commit
//! and its reveal and then restarted still reveals and is not slashed; an RPC that drops
//! every connection for a while delays the nodes but loses no prompt.

mod common;

use std::time::Duration;

use aikernel_chain::bindings::{DecentralizedInference::RewardPaid, GPUManagement::NodeSlashed};
use aikernel_protocol::{MemberState, PromptStatus};

use common::{Net, choice_yes_no, proxy::Proxy};

/// The node flags these tests use exist only in builds with the `test-hooks` feature.
fn require_test_hooks() {
    #[cfg(not(feature = "test-hooks"))]
    panic!(
        "this test runs `node run --pause-after-commit`: run it with --features test-hooks \
         (scripts/test.sh does)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_settle_survive_sigkill_between_commit_and_reveal_and_an_rpc_outage() {
    require_test_hooks();
    let _serial = common::serial().await;
    let net = Net::start(3, 30, None);
    let proxy = Proxy::start(net.port);
    let via_proxy = proxy.url();
    // Node 1 sleeps after each commit, so the test can SIGKILL it exactly there.
    let mut node1 = net.node(1, Some(&via_proxy), &["--pause-after-commit", "60"]);
    let mut node2 = net.node(2, Some(&via_proxy), &[]);
    let mut node3 = net.node(3, Some(&via_proxy), &[]);
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let kernel = net.kernel();
    let n1 = net.node_address(1);

    // 1. Kill node 1 right after its commit is mined, restart it: it reveals what it
    //    committed (salt from the key, output from its data folder).
    let a = net
        .submit("Is water wet? Answer yes or no.", choice_yes_no(), 3)
        .await;
    let end = std::time::Instant::now() + Duration::from_mins(2);
    loop {
        let m = kernel.memberState(a, 0, n1).call().await.unwrap();
        if m.state == MemberState::Committed.as_u8() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "node 1 never committed:{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node1.signal("KILL");
    node1
        .wait_exit(Duration::from_secs(10))
        .expect("node 1 killed");
    assert_eq!(
        kernel.memberState(a, 0, n1).call().await.unwrap().state,
        MemberState::Committed.as_u8(),
        "killed before revealing"
    );
    let mut node1 = net.node(1, Some(&via_proxy), &[]);
    assert_eq!(
        net.wait_final(a, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let rewards = net.logs_of::<RewardPaid>(net.deployment.kernel).await;
    assert!(
        rewards.iter().any(|r| r.promptId == a && r.node == n1),
        "the restarted node was paid for prompt {a}:{}",
        net.logs()
    );
    assert!(
        net.logs_of::<NodeSlashed>(net.deployment.gpu)
            .await
            .is_empty(),
        "nobody slashed"
    );
    let log1 = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(log1.contains("resuming open assignments"), "{log1}");

    // 2. The RPC drops every connection for 8 s while a prompt arrives: it still settles
    //    with all three nodes revealing.
    proxy.set_down(true);
    let b = net
        .submit("Is fire cold? Answer yes or no.", choice_yes_no(), 3)
        .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        node1.running() && node2.running() && node3.running(),
        "nodes survive the outage"
    );
    proxy.set_down(false);
    assert_eq!(
        net.wait_final(b, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let paid_b = net
        .logs_of::<RewardPaid>(net.deployment.kernel)
        .await
        .into_iter()
        .filter(|r| r.promptId == b)
        .count();
    assert_eq!(
        paid_b,
        3,
        "all three nodes revealed after the outage:{}",
        net.logs()
    );
    assert!(
        net.logs_of::<NodeSlashed>(net.deployment.gpu)
            .await
            .is_empty()
    );
    let logs = net.logs();
    assert!(
        logs.contains("RPC") || logs.contains("poll failed"),
        "the outage was noticed:{logs}"
    );

    // Every node settled the same bytes: the engine is deterministic across processes.
    let result = kernel.resultOf(b).call().await.unwrap();
    let identity = net.identity(b).await;
    for i in 1..=3 {
        let ours = net
            .output_of(i, b, identity)
            .expect("output kept by identity");
        assert_eq!(ours, result.to_vec(), "node {i}");
    }
}

/// A reorganisation of recent blocks is noticed (the follower rewinds to the last block that
/// is still canonical) and the nodes keep settling prompts afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_rewind_on_a_reorg_and_keep_working() {
    use alloy::providers::Provider;

    let _serial = common::serial().await;
    let net = Net::start(3, 30, None);
    let _nodes: Vec<_> = (1..=3).map(|i| net.node(i, None, &[])).collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let a = net
        .submit("Is ice cold? Answer yes or no.", choice_yes_no(), 3)
        .await;
    assert_eq!(
        net.wait_final(a, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Replace the last 3 blocks with 3 new empty ones.
    let provider = net.provider();
    let before = provider.get_block_number().await.unwrap();
    let _: serde_json::Value = provider
        .raw_request(
            "anvil_reorg".into(),
            (3u64, Vec::<serde_json::Value>::new()),
        )
        .await
        .unwrap();
    assert!(provider.get_block_number().await.unwrap() >= before);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let b = net
        .submit("Is the sun hot? Answer yes or no.", choice_yes_no(), 3)
        .await;
    assert_eq!(
        net.wait_final(b, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let logs = net.logs();
    assert!(
        logs.contains("chain reorganisation: rescanning"),
        "the reorg was noticed:{logs}"
    );
}

/// A transaction that sits unmined is replaced with higher fees and the same nonce (here:
/// block production stops for 8 s once a prompt's committee is known), and the prompt still
/// settles once blocks resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmined_transactions_are_replaced_with_higher_fees() {
    use alloy::providers::Provider;

    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let config = net.dir.path().join("node.toml");
    std::fs::write(&config, "tx_replace_after_s = 2\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let _nodes: Vec<_> = (1..=3)
        .map(|i| net.node(i, None, &["--config", &config]))
        .collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    let provider = net.provider();
    let a = net
        .submit("Is snow white? Answer yes or no.", choice_yes_no(), 3)
        .await;
    // Stop the blocks once the committee can be known (after the seed block), so the
    // members' commits are sent and sit unmined.
    let kernel = net.kernel();
    while kernel.committeeOf(a).call().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _: serde_json::Value = provider
        .raw_request("evm_setIntervalMining".into(), (0u64,))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let _: serde_json::Value = provider
        .raw_request("evm_setIntervalMining".into(), (1u64,))
        .await
        .unwrap();
    assert_eq!(
        net.wait_final(a, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let all: String = (1..=3)
        .map(|i| std::fs::read_to_string(net.log(i)).unwrap())
        .collect();
    assert!(
        all.contains("replacing it with higher fees"),
        "a stuck transaction was replaced:{}",
        net.logs()
    );
}

/// Issue #17: a settled prompt is reorged away (evm_snapshot / evm_revert) and another
/// request takes its id. The nodes notice the request changed, drop the output they kept for
/// the old one, compute the new one and settle it: the settled bytes are the new request's,
/// every node kept them under the new request's identity, and nobody is slashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_id_reorged_to_another_request_is_recomputed() {
    use alloy::primitives::{B256, U256};
    use alloy::providers::Provider;

    let _serial = common::serial().await;
    let net = Net::start(3, 30, None);
    // The reorg replaces more blocks than the default 12 the nodes re-check.
    let config = net.dir.path().join("node.toml");
    std::fs::write(&config, "reorg_depth = 400\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let _nodes: Vec<_> = (1..=3)
        .map(|i| net.node(i, None, &["--config", &config]))
        .collect();
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let provider = net.provider();
    let kernel = net.kernel();
    let snapshot: U256 = provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap();

    let topic = B256::repeat_byte(0x17);
    let a = net
        .submit_on(topic, "Is water wet? Answer yes or no.", choice_yes_no(), 3)
        .await;
    assert_eq!(
        net.wait_final(a, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let old = net.identity(a).await;
    for i in 1..=3 {
        assert!(
            net.output_of(i, a, old).is_some(),
            "node {i} kept A's output"
        );
    }
    // The signed commit transactions for A: a reorg sends them back to the mempool.
    let orphaned = orphaned_commits(&net, a).await;
    assert_eq!(orphaned.len(), 3, "three commits for A");

    // The chain goes back to before A; B is submitted and gets A's id.
    let reverted: bool = provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .unwrap();
    assert!(reverted);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = net
        .submit_on(topic, "Is fire cold? Answer yes or no.", choice_yes_no(), 3)
        .await;
    assert_eq!(b, a, "B took A's prompt id");
    let new = net.identity(b).await;
    assert_ne!(new, old);
    replay_before_the_nodes_commit(&net, b, &orphaned).await;
    assert_eq!(
        net.wait_final(b, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    let request = kernel.requestOf(b).call().await.unwrap();
    assert_eq!(request.input.as_ref(), b"Is fire cold? Answer yes or no.");
    let result = kernel.resultOf(b).call().await.unwrap();
    for i in 1..=3 {
        let ours = net
            .output_of(i, b, new)
            .unwrap_or_else(|| panic!("node {i} computed B:{}", net.logs()));
        assert_eq!(ours, result.to_vec(), "node {i}");
        assert!(
            net.output_of(i, a, old).is_none(),
            "node {i} dropped A's stale output"
        );
    }
    assert!(
        net.logs_of::<NodeSlashed>(net.deployment.gpu)
            .await
            .is_empty(),
        "nobody slashed:{}",
        net.logs()
    );
    let all: String = (1..=3)
        .map(|i| std::fs::read_to_string(net.log(i)).unwrap())
        .collect();
    assert!(
        all.contains(&format!("request for prompt {a} changed (reorg)")),
        "the change was noticed:{}",
        net.logs()
    );
}

/// The harness itself: a node process that exits (here it refuses an unknown flag) fails
/// `wait_eligible` at once, naming the node, instead of after its five-minute timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_exits_fails_the_wait_at_once() {
    let _serial = common::serial().await;
    let net = std::sync::Arc::new(Net::start(2, 30, None));
    let _bad = net.node(1, None, &["--no-such-flag"]);
    let waiting = {
        let net = net.clone();
        tokio::spawn(async move { net.wait_eligible(&[1], Duration::from_mins(5)).await })
    };
    let err = tokio::time::timeout(Duration::from_mins(2), waiting)
        .await
        .expect("wait_eligible still waiting two minutes after node 1 exited")
        .expect_err("node 1 cannot become eligible");
    let msg = err.into_panic();
    let msg = msg
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or_default();
    assert!(
        msg.contains("node 1 exited before it became eligible"),
        "{msg}"
    );
    assert!(
        msg.contains("--no-such-flag"),
        "the log tail names the cause: {msg}"
    );
}

/// The raw signed transactions of every commit to prompt `id` so far.
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed RPC is a failed test
async fn orphaned_commits(net: &Net, id: alloy::primitives::U256) -> Vec<alloy::primitives::Bytes> {
    use aikernel_chain::bindings::DecentralizedInference::Committed;
    use alloy::providers::Provider;
    use alloy::sol_types::SolEvent;

    let provider = net.provider();
    let filter = alloy::rpc::types::Filter::new()
        .address(net.deployment.kernel)
        .event_signature(Committed::SIGNATURE_HASH)
        .topic1(id)
        .from_block(0);
    let mut raw = Vec::new();
    for log in provider.get_logs(&filter).await.unwrap() {
        let hash = log.transaction_hash.unwrap();
        let tx: Option<alloy::primitives::Bytes> = provider
            .raw_request("eth_getRawTransactionByHash".into(), (hash,))
            .await
            .unwrap();
        raw.push(tx.expect("the commit transaction"));
    }
    raw
}

/// Mines `orphaned` (A's commits, signed before the reorg) right after B's seed block, before
/// the nodes can commit for B: with mining paused, the seed block is mined and the old
/// transactions go into the very next block. Each must fail with `RequestReplaced`, the
/// kernel's request tag check, instead of binding its node to A's answer (which it could
/// never open for B, so it would be slashed). Interval mining resumes afterwards.
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed RPC is a failed test
async fn replay_before_the_nodes_commit(
    net: &Net,
    id: alloy::primitives::U256,
    orphaned: &[alloy::primitives::Bytes],
) {
    use alloy::providers::Provider;

    let provider = net.provider();
    let pause = |seconds: u64| {
        let provider = provider.clone();
        async move {
            let _: serde_json::Value = provider
                .raw_request("evm_setIntervalMining".into(), (seconds,))
                .await
                .unwrap();
        }
    };
    pause(0).await;
    let seed = net.kernel().seedBlockOf(id).call().await.unwrap().seedBlock;
    let head = provider.get_block_number().await.unwrap();
    let _: serde_json::Value = provider
        .raw_request("anvil_mine".into(), (seed.saturating_sub(head) + 1,))
        .await
        .unwrap();
    let mut sent = Vec::new();
    for raw in orphaned {
        let pending = provider.send_raw_transaction(raw).await;
        let pending =
            pending.unwrap_or_else(|e| panic!("the pool refused an orphaned commit: {e}"));
        sent.push(*pending.tx_hash());
    }
    let _: serde_json::Value = provider
        .raw_request("anvil_mine".into(), (1u64,))
        .await
        .unwrap();
    pause(1).await;
    for hash in sent {
        let receipt = provider
            .get_transaction_receipt(hash)
            .await
            .unwrap()
            .expect("mined");
        assert!(
            !receipt.status(),
            "an orphaned commit for A must not count for B"
        );
        let tx = provider
            .get_transaction_by_hash(hash)
            .await
            .unwrap()
            .expect("tx");
        let call = alloy::rpc::types::TransactionRequest::default()
            .from(tx.inner.signer())
            .to(net.deployment.kernel)
            .input(alloy::consensus::Transaction::input(&tx).clone().into());
        let reason = provider
            .call(call)
            .block((receipt.block_number.unwrap() - 1).into())
            .await
            .expect_err("the replay reverts");
        let payload = reason
            .as_error_resp()
            .unwrap_or_else(|| panic!("an error response: {reason}"));
        let data = payload
            .as_revert_data()
            .unwrap_or_else(|| panic!("a revert with data: {reason}"));
        assert_eq!(
            aikernel_chain::errors::decode_revert(&data).as_deref(),
            Some(format!("RequestReplaced({id})").as_str()),
            "reverted for the request tag, not for another reason"
        );
    }
}
