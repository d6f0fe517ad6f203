//! A restarted devnet under a node's old data folder: the new chain has the same chain id and
//! (same deployer) the same contract addresses, but starts from block 0, far behind the
//! node's checkpoint. The node notices (genesis hash, head behind the checkpoint), says so,
//! rescans the new chain from its deployment block and settles prompts there, also when the
//! chain restarts under a running node. A chain without the kernel is refused with a clear
//! message.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::time::Duration;

use alloy::node_bindings::Anvil;
use alloy::providers::Provider;

use aikernel_chain::tools::foundry_bin;
use aikernel_protocol::PromptStatus;

use common::{Net, choice_yes_no};

fn checkpoint_next_block(net: &Net) -> u64 {
    let text = std::fs::read_to_string(net.dir.path().join("node-1/checkpoint.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["next_block"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_follows_a_restarted_chain_from_its_deployment_block() {
    let _serial = common::serial().await;
    let mut net = Net::start(1, 30, None);
    let mut node = net.node(1, None, &[]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    let a = net
        .submit("Is water wet? Answer yes or no.", choice_yes_no(), 1)
        .await;
    assert_eq!(
        net.wait_final(a, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "{}",
        net.logs()
    );
    // Move the old chain well ahead of where the new one will be when the node comes back.
    let provider = net.provider();
    let _: serde_json::Value = provider
        .raw_request("anvil_mine".into(), (300u64,))
        .await
        .unwrap();
    let old_head = provider.get_block_number().await.unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoint_next_block(&net) <= old_head {
        assert!(
            std::time::Instant::now() < end,
            "node caught up:{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    node.signal("TERM");
    node.wait_exit(Duration::from_secs(20)).expect("node stops");

    // A bare chain on the same port, without the kernel: refused, clearly.
    net.stop_chain();
    let bare = Anvil::new()
        .path(
            foundry_bin("anvil")
                .expect("anvil: set AIKERNEL_FOUNDRY_BIN or run ./scripts/setup.sh"),
        )
        .port(net.port)
        .try_spawn()
        .unwrap();
    let mut refused = net.node(1, None, &[]);
    let status = refused
        .wait_exit(Duration::from_mins(1))
        .expect("the node refuses a chain without the kernel");
    assert!(!status.success());
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(
        log.contains("no DecentralizedInference contract at"),
        "a clear refusal:{log}"
    );
    drop(bare);

    // The devnet again: a new chain, far behind the node's checkpoint.
    net.start_chain();
    let new_head = net.provider().get_block_number().await.unwrap();
    let checkpoint = checkpoint_next_block(&net);
    assert!(
        new_head + 100 < checkpoint,
        "new head {new_head}, checkpoint {checkpoint}"
    );
    let _node = net.node(1, None, &[]);
    net.wait_eligible(&[1], Duration::from_mins(5)).await;
    let b = net
        .submit("Is fire cold? Answer yes or no.", choice_yes_no(), 1)
        .await;
    assert_eq!(
        net.wait_final(b, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "the prompt on the new chain settles:{}",
        net.logs()
    );
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert!(
        log.contains("the chain was restarted") && log.contains("rescanning from block"),
        "the node said why it rescans:{log}"
    );
    assert!(
        checkpoint_next_block(&net) <= net.provider().get_block_number().await.unwrap() + 1,
        "the checkpoint follows the new chain"
    );

    // Restarted again under the running node: it notices, registers there and keeps working.
    net.stop_chain();
    net.start_chain();
    net.wait_eligible(&[1], Duration::from_mins(2)).await;
    let c = net
        .submit("Is ice cold? Answer yes or no.", choice_yes_no(), 1)
        .await;
    assert_eq!(
        net.wait_final(c, Duration::from_mins(3)).await,
        PromptStatus::Settled,
        "the prompt on the third chain settles:{}",
        net.logs()
    );
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    assert_eq!(
        log.matches("rescanning from block").count(),
        2,
        "both restarts noticed:{log}"
    );
}
