//! Prompt rule 2 (`llm-llama@2`) on the real model: a choice's answer does not depend on
//! the order of its options, outputs and traces are the same bits on another thread count
//! and when the content-free scores come from the cache, and golden outputs pin the rule.
//!
//! Needs the model: `AIKERNEL_MODEL`, else the default one in `$AIKERNEL_CACHE` (`~/.cache/aikernel`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_drivers::{
    DRIVER_NAME_V2, DRIVER_NAME_V2_CALIBRATED, Decoding, Driver, InferenceOutput, InferenceRequest,
    LlmDriver, decoding_for_driver,
};
use aikernel_schema::{Node, Schema};

fn driver(threads: usize) -> LlmDriver {
    common::load(threads).with_decoding(decoding_for_driver(DRIVER_NAME_V2).unwrap())
}

fn calibrated(threads: usize) -> LlmDriver {
    common::load(threads).with_decoding(decoding_for_driver(DRIVER_NAME_V2_CALIBRATED).unwrap())
}

fn request(input: &str, schema: &Schema, max_tokens: u32) -> InferenceRequest {
    InferenceRequest {
        prompt_id: [7; 32],
        input: input.as_bytes().to_vec(),
        schema: schema.encode(),
        max_tokens,
        ..InferenceRequest::default()
    }
}

fn word(out: &InferenceOutput) -> u64 {
    assert!(out.success, "error output {}", hex::encode(&out.output));
    assert_eq!(out.output.len(), 32);
    u64::from_be_bytes(out.output[24..].try_into().unwrap())
}

#[test]
fn the_driver_names_its_rule() {
    let d = driver(1);
    assert_eq!(d.decoding(), Decoding::Ordered);
    assert_eq!(d.identity().driver, "llm-llama@2");
    let c = calibrated(1).with_decoding(Decoding::Calibrated);
    assert_eq!(c.identity().driver, "llm-llama@2-calibrated");
}

#[test]
fn a_choice_does_not_depend_on_the_order_of_its_options() {
    for d in [driver(1), calibrated(1)] {
        choices_ignore_order(&d);
    }
}

fn choices_ignore_order(d: &LlmDriver) {
    let matchups = [
        ("Real Madrid", "Tiny Village FC"),
        ("Boston Celtics", "a high-school junior varsity team"),
        ("Serena Williams", "a ten-year-old beginner"),
    ];
    for (a, b) in matchups {
        let input = format!("Who wins the match: {a} or {b}?");
        let ab = d
            .run(&request(
                &input,
                &Schema::new(Node::choice([a, b])).unwrap(),
                32,
            ))
            .unwrap();
        let ba = d
            .run(&request(
                &input,
                &Schema::new(Node::choice([b, a])).unwrap(),
                32,
            ))
            .unwrap();
        let (i, j) = (word(&ab), word(&ba));
        let winner_ab = [a, b][i as usize];
        let winner_ba = [b, a][j as usize];
        assert_eq!(winner_ab, winner_ba, "{a} vs {b}");
        // Same prompts, same scores: the trace is the same too.
        assert_eq!(ab.logits_sha256, ba.logits_sha256, "{a} vs {b}");
    }
}

#[test]
fn outputs_and_traces_are_the_same_on_two_threads_and_from_the_cache() {
    let (one, two) = (calibrated(1), calibrated(2));
    let cases = [
        ("Is 2 + 2 equal to 4?", Schema::new(Node::Bool).unwrap(), 8),
        (
            "Account history: 12 years, never a late payment, low debt.",
            Schema::new(Node::int(300, 850)).unwrap(),
            8,
        ),
        (
            "Rate this review from 1 to 5: 'Absolutely wonderful, best purchase ever.'",
            Schema::new(Node::int(1, 5)).unwrap(),
            8,
        ),
        (
            "Proposal: pay the audited invoice for the security fix.",
            Schema::new(Node::choice(["approve", "reject"])).unwrap(),
            8,
        ),
    ];
    for (input, schema, max_tokens) in &cases {
        let r = request(input, schema, *max_tokens);
        let first = one.run(&r).unwrap();
        assert!(first.success, "{input}");
        assert!(!first.tokens.is_empty());
        let cached = one.run(&r).unwrap();
        let other = two.run(&r).unwrap();
        assert_eq!(first, cached, "{input}: cache");
        assert_eq!(first, other, "{input}: threads");
    }
}

#[test]
fn golden_outputs() {
    // Pins rule 2's arithmetic on the default model; a change here is a protocol change
    // (docs/drivers.md) and must come with a new rule version.
    let (d, c) = (driver(2), calibrated(2));
    let golden = [
        ("Is 2 + 2 equal to 4?", Schema::new(Node::Bool).unwrap()),
        ("Is fire cold?", Schema::new(Node::Bool).unwrap()),
        (
            "Account history: 12 years, never a late payment, low debt.",
            Schema::new(Node::int(300, 850)).unwrap(),
        ),
        (
            "Account history: three defaults, two bankruptcies, debts in collection.",
            Schema::new(Node::int(300, 850)).unwrap(),
        ),
        (
            "Who wins the match: Real Madrid or Tiny Village FC?",
            Schema::new(Node::choice(["Tiny Village FC", "Real Madrid"])).unwrap(),
        ),
    ];
    let got: Vec<String> = golden
        .iter()
        .flat_map(|(input, schema)| [(&d, input, schema), (&c, input, schema)])
        .map(|(d, input, schema)| {
            let out = d.run(&request(input, schema, 8)).unwrap();
            format!("{} {}", word(&out), &hex::encode(out.logits_sha256)[..16])
        })
        .collect();
    let want: Vec<&str> = GOLDEN.to_vec();
    assert_eq!(got, want);
}

/// `value trace-prefix` of each golden request, rule 2 then rule 2 calibrated (moved once
/// with the engine's binary16 KV cache, docs/engine.md).
const GOLDEN: [&str; 10] = [
    "0 1632734feda2a061",
    "1 ace67568bbca4d09",
    "1 48f7006648bb3f58",
    "1 92186ea1205b93d6",
    "445 c15fe5d99e2bccd6",
    "510 dc2df72937f7bffe",
    "485 fbde54055b81d971",
    "522 694818bccabf417f",
    "0 35695b720dfd9679",
    "1 0b59bb41615cd058",
];

/// Rule 3 (`llm-llama@3`): an extra context with no example lines gives rule 2's bits; with
/// example pairs they become chat turns, and the answer keeps every guarantee of rule 2
/// (option order, threads).
#[test]
fn rule_3_is_rule_2_with_examples_as_turns() {
    use aikernel_drivers::{DRIVER_NAME_V3, rule_for_driver};
    let v3 = |threads| common::load(threads).with_rule(rule_for_driver(DRIVER_NAME_V3).unwrap());
    let d3 = v3(1);
    assert_eq!(d3.identity().driver, DRIVER_NAME_V3);
    let d2 = driver(1);
    let schema = Schema::new(Node::choice(["Lions", "Mice"])).unwrap();
    let mut plain = request("Who wins: Lions or Mice?", &schema, 16);
    plain.extra_context = b"A friendly match.".to_vec();
    assert_eq!(d3.run(&plain).unwrap(), d2.run(&plain).unwrap());

    let examples = b"A friendly match.\nExample input: Who wins: Elephants or Ants?\nExample answer: Elephants\nExample input: Who wins: Ants or Elephants?\nExample answer: Elephants".to_vec();
    let mut taught = plain.clone();
    taught.extra_context = examples.clone();
    let with_turns = d3.run(&taught).unwrap();
    let in_system = d2.run(&taught).unwrap();
    word(&with_turns);
    assert_ne!(
        with_turns.logits_sha256, in_system.logits_sha256,
        "the examples moved out of the system message"
    );
    assert_eq!(with_turns, v3(2).run(&taught).unwrap(), "threads");
    let mut swapped = request(
        "Who wins: Lions or Mice?",
        &Schema::new(Node::choice(["Mice", "Lions"])).unwrap(),
        16,
    );
    swapped.extra_context = examples;
    let other = d3.run(&swapped).unwrap();
    assert_eq!(
        ["Lions", "Mice"][word(&with_turns) as usize],
        ["Mice", "Lions"][word(&other) as usize],
        "option order"
    );
    assert_eq!(with_turns.logits_sha256, other.logits_sha256);
}
