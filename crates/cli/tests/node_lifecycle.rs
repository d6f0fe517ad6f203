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
