//! Real node processes on a spawned devnet with the default model: prompts that wait in a
//! node's queue at once are computed in one batch (free text of different lengths and
//! temperatures, and a choice answered by scoring), and each output is the one a node
//! computing one prompt at a time (`--max-batch 1`) stores: every prompt settles with all
//! three nodes' reveals, and the two nodes' stored output bytes are equal.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod common;

use std::time::Duration;

use aikernel_protocol::PromptStatus;
use alloy::primitives::B256;

use common::{Net, choice_yes_no, http_get, metric, text_request};

/// The `batch=` of each `computing a batch` line in node `i`'s log.
fn batches(net: &Net, i: usize) -> Vec<u64> {
    std::fs::read_to_string(net.log(i))
        .unwrap()
        .lines()
        .filter(|l| l.contains("computing a batch"))
        .filter_map(|l| {
            l.split(" batch=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_prompts_compute_in_one_batch_as_they_do_one_at_a_time() {
    let _serial = common::serial().await;
    let net = Net::start(3, 60, None);
    let port = common::free_port();
    let metrics = format!("127.0.0.1:{port}");
    let batched_args = ["--max-batch", "8", "--metrics-addr", &metrics];
    let mut batched = net.node(1, None, &batched_args);
    let _single = net.node(2, None, &["--max-batch", "1"]);
    let _third = net.node(3, None, &[]);
    net.wait_eligible(&[1, 2, 3], Duration::from_mins(5)).await;

    // Node 1 stops; the prompts are drawn (a committee of all three) while it is away, so
    // they all wait in its queue when it is back.
    batched.signal("INT");
    batched
        .wait_exit(Duration::from_secs(30))
        .expect("node 1 stops");
    let mut requests = Vec::new();
    for (i, (input, max_tokens, temperature)) in [
        ("Name a large planet.", 8, 0),
        ("Write a short greeting for a new user.", 16, 700),
        ("Describe the sea in a few words.", 12, 300),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = text_request(
            B256::repeat_byte(0x30 + i as u8),
            input,
            Vec::new(),
            max_tokens,
            3,
        );
        r.temperature = temperature;
        r.seed = 11 + i as u64;
        requests.push(r);
    }
    requests.push(text_request(
        B256::repeat_byte(0x3f),
        "Is the sun a star?",
        choice_yes_no(),
        8,
        3,
    ));
    let mut ids = Vec::new();
    for r in requests {
        ids.push(net.submit_request(r).await);
    }
    let _batched = net.node(1, None, &batched_args);
    for &id in &ids {
        assert_eq!(
            net.wait_final(id, Duration::from_mins(4)).await,
            PromptStatus::Settled,
            "{}",
            net.logs()
        );
    }
    for &id in &ids {
        let identity = net.identity(id).await;
        let one = net.output_of(1, id, identity).expect("node 1's output");
        let two = net.output_of(2, id, identity).expect("node 2's output");
        assert_eq!(one, two, "prompt {id}");
    }

    // Node 1 computed them together: one batch of all four, or at worst (a prompt's step
    // finishing a poll later than the others') a batch of several.
    let sizes = batches(&net, 1);
    assert!(sizes.iter().any(|&n| n >= 2), "{sizes:?}:{}", net.logs());
    assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");
    let (_, text) = http_get(port, "/metrics");
    assert!(
        metric(&text, "aikernel_node_compute_batch_size_sum") >= 4.0,
        "{text}"
    );
    assert!(
        metric(&text, "aikernel_node_compute_batch_size_count") < 4.0,
        "fewer batches than prompts: {text}"
    );
    assert!(
        metric(&text, "aikernel_node_disagreements_total") < 0.5,
        "{text}"
    );
    // Node 2 computed one prompt at a time.
    assert!(batches(&net, 2).is_empty());
}
