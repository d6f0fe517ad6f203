//! `Driver::run_batch`: a mixed set (answers decided by scoring, requests that build no
//! prompt, and schema-constrained generations of different lengths, budgets and temperatures)
//! gives, output for output, what `run` gives each request alone, through a cold and a warm
//! prefix cache and under the greedy rule (every typed answer generated).
//!
//! Needs the default model (`./scripts/setup.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_drivers::{
    DRIVER_NAME_V2, Driver, InferenceOutput, InferenceRequest, LlmDriver, rule_for_driver,
};
use aikernel_schema::{Node, Schema};

fn request(id: u8, input: &str, schema: Vec<u8>, max_tokens: u32, temp: u32) -> InferenceRequest {
    InferenceRequest {
        prompt_id: [id; 32],
        input: input.as_bytes().to_vec(),
        schema,
        max_tokens,
        temperature_milli: temp,
        seed: u64::from(id) * 7,
        ..InferenceRequest::default()
    }
}

fn enc(node: Node) -> Vec<u8> {
    Schema::new(node).unwrap().encode()
}

fn mixed() -> Vec<InferenceRequest> {
    vec![
        request(
            1,
            "Which team wins? Team A: 10 wins. Team B: 1 win.",
            enc(Node::choice(["Team A", "Team B"])),
            8,
            0,
        ),
        request(2, "Name a large planet.", enc(Node::text(48)), 12, 0),
        request(3, "Is water wet?", enc(Node::Bool), 8, 0),
        request(
            4,
            "Write a short greeting for a new user of the app.",
            enc(Node::text(64)),
            20,
            700,
        ),
        request(
            5,
            "Give a city and its population.",
            enc(Node::tuple([Node::text(16), Node::int(0, 100_000_000)])),
            6,
            0,
        ),
        request(6, "Say one word.", vec![0xff, 0x00, 0x13], 8, 0),
        request(7, "A colour?", enc(Node::text(6)), 30, 300),
        request(
            8,
            "Rate this product from 1 to 5: it broke on day one.",
            enc(Node::int(1, 5)),
            8,
            0,
        ),
    ]
}

/// `run` of each request on a driver of its own (no state shared with the batch's).
fn alone(driver: &LlmDriver, requests: &[InferenceRequest]) -> Vec<InferenceOutput> {
    requests.iter().map(|r| driver.run(r).unwrap()).collect()
}

fn batch(driver: &LlmDriver, requests: &[InferenceRequest]) -> Vec<InferenceOutput> {
    driver
        .run_batch(requests)
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_mixed_batch_answers_each_request_as_run_does() {
    let rule = rule_for_driver(DRIVER_NAME_V2).unwrap();
    let single = common::load(1).with_rule(rule);
    let requests = mixed();
    let want = alone(&single, &requests);
    // The set holds scored answers (no tokens generated), error outputs and generations.
    assert!(want.iter().any(|o| !o.success), "an error output");
    assert!(want.iter().filter(|o| !o.tokens.is_empty()).count() >= 3);

    let batched = common::load(2).with_rule(rule).with_prefix_cache(64 << 20);
    assert_eq!(batch(&batched, &requests), want, "cold prefix cache");
    let stats = batched.prefix_cache().stats();
    assert!(
        stats.entries >= 3,
        "the batch stored its prompts: {stats:?}"
    );
    assert_eq!(batch(&batched, &requests), want, "warm prefix cache");
    assert!(batched.prefix_cache().stats().since(&stats).tokens_reused > 0);
    assert!(batched.run_batch(&[]).is_empty());
}

#[test]
fn a_greedy_batch_generates_every_typed_answer_as_run_does() {
    let single = common::load(1);
    let requests = mixed();
    let want = alone(&single, &requests);
    let batched = common::load(1);
    assert_eq!(batch(&batched, &requests), want);
    // A batch of one is the single path.
    assert_eq!(batch(&batched, &requests[1..2]), want[1..2]);
}
