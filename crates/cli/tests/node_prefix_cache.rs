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

use common::{Net, http_get, metric, text_request};

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

/// `(ms, prompt tokens reused)` of each `computed` line in node `i`'s log, in order.
fn computed_lines(net: &Net, i: usize) -> Vec<(u64, u64)> {
    let log = std::fs::read_to_string(net.log(i)).unwrap();
    let field = |line: &str, key: &str| -> Option<u64> {
        line.split(&format!(" {key}="))
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    log.lines()
        .filter(|l| l.contains("computed"))
        .filter_map(|l| Some((field(l, "ms")?, field(l, "prompt_tokens_reused")?)))
        .collect()
}

/// A chat agent's 16-turn conversation (free text, up to 48 tokens an answer) on a node with
/// the prefix cache, then on the same node restarted without it (another topic, the same
/// inputs): node compute time per turn.
/// `cargo test --release -p aikernel --features aikernel/test-hooks --test node_prefix_cache
/// -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: several minutes"]
async fn bench_sixteen_turn_conversation_on_a_node() {
    let _serial = common::serial().await;
    let net = Net::start(1, 30, None);
    let topics = [
        "the planets",
        "their moons",
        "the sun",
        "comets",
        "asteroids",
        "the Kuiper belt",
        "dwarf planets",
        "the Oort cloud",
        "eclipses",
        "tides",
        "seasons",
        "meteor showers",
        "space probes",
        "telescopes",
        "exoplanets",
        "black holes",
    ];
    for (run, mib) in ["256", "0"].into_iter().enumerate() {
        let mut node = net.node(1, None, &["--threads", "2", "--prefix-cache-mib", mib]);
        net.wait_eligible(&[1], Duration::from_mins(5)).await;
        let topic = B256::repeat_byte(0x40 + run as u8);
        for t in topics {
            let input = format!("Tell me one surprising fact about {t}, in two sentences.");
            let id = net
                .submit_request(text_request(topic, &input, Vec::new(), 48, 1))
                .await;
            assert_eq!(
                net.wait_final(id, Duration::from_mins(5)).await,
                PromptStatus::Settled,
                "{}",
                net.logs()
            );
        }
        node.signal("INT");
        node.wait_exit(Duration::from_secs(30));
    }
    let lines = computed_lines(&net, 1);
    assert_eq!(lines.len(), 32, "{}", net.logs());
    let (warm, cold) = lines.split_at(16);
    println!("turn  node_ms_without_cache  node_ms_with_cache  reused_with_cache");
    for turn in [1, 4, 8, 16] {
        let (w, c) = (warm[turn - 1], cold[turn - 1]);
        println!("{turn:>4}  {:>21}  {:>18}  {:>17}", c.0, w.0, w.1);
        assert_eq!(c.1, 0);
    }
}
