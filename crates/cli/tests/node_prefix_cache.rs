//! Real node processes on a spawned devnet with the default model: a conversation of three
//! prompts on one topic, each computed by a committee of three: a node with a prefix cache,
//! a node without one and a third with the default. The first node's metrics show the
//! conversation's earlier prompts reused, its log says so per prompt, and every prompt
//! settles: all three revealed the same output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::time::Duration;

use aikernel_protocol::PromptStatus;
use alloy::primitives::B256;

use common::{Net, http_get};

/// The value of metric `name` in the Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_reuses_its_prefix_and_settles_with_a_node_without_the_cache() {
    let _serial = common::serial().await;
    let net = Net::start(3, 30, None);
    let port = common::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let _warm = net.node(1, None, &["--metrics-addr", &metrics]);
    let _cold = net.node(2, None, &["--prefix-cache-mib", "0"]);
    let _third = net.node(3, None, &[]);
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;
    let topic = B256::repeat_byte(0x19);
    for input in [
        "Name a large planet.",
        "Name a small one.",
        "Which of the two is closer to the sun?",
    ] {
        let id = net.submit_on(topic, input, Vec::new(), 3).await;
        assert_eq!(
            net.wait_final(id, Duration::from_mins(3)).await,
            PromptStatus::Settled,
            "{input}:{}",
            net.logs()
        );
    }
    let (_, text) = http_get(port, "/metrics");
    assert!(
        metric(&text, "aikernel_node_prefix_cache_lookups_total") >= 3.0,
        "{text}"
    );
    // The second and third prompts start with the first (system message and earlier turns).
    assert!(
        metric(&text, "aikernel_node_prefix_cache_hits_total") >= 2.0,
        "{text}"
    );
    assert!(
        metric(&text, "aikernel_node_prefix_cache_tokens_reused_total") > 0.0,
        "{text}"
    );
    assert!(
        metric(&text, "aikernel_node_disagreements_total") < 0.5,
        "{text}"
    );
    let log = std::fs::read_to_string(net.log(1)).unwrap();
    let reused: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("computed"))
        .filter_map(|l| l.split("prompt_tokens_reused=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(reused.len(), 3, "{log}");
    assert_eq!(reused[0], 0, "{log}");
    assert!(reused[1] > 0 && reused[2] > reused[1], "{reused:?}");
}
