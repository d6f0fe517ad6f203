//! The LLM driver on the real model: valid typed outputs, identical bytes across runs and
//! thread counts (same node, another node).
//!
//! Needs the model: `AIKERNEL_MODEL`, else the default one in `$AIKERNEL_CACHE` (`~/.cache/aikernel`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

mod common;

use aikernel_drivers::{Driver, InferenceRequest, LlmDriver};
use aikernel_schema::{Node, Schema};

fn driver(threads: usize) -> LlmDriver {
    common::load(threads)
}

fn one_thread() -> &'static LlmDriver {
    static D: OnceLock<LlmDriver> = OnceLock::new();
    D.get_or_init(|| driver(1))
}

fn request(input: &str, schema: &Schema, id: u8) -> InferenceRequest {
    InferenceRequest {
        prompt_id: [id; 32],
        input: input.as_bytes().to_vec(),
        schema: schema.encode(),
        max_tokens: 8,
        ..InferenceRequest::default()
    }
}

fn word_u64(out: &[u8]) -> u64 {
    assert_eq!(out.len(), 32, "one ABI word: {}", hex::encode(out));
    assert!(out[..24].iter().all(|&b| b == 0));
    u64::from_be_bytes(out[24..].try_into().unwrap())
}

#[test]
fn choice_matchups_are_valid_and_reproducible() {
    let d = one_thread();
    let other_node = driver(2);
    let schema = Schema::new(Node::choice(["Team A", "Team B"])).unwrap();
    let matchups = [
        "Team A: 30 goals scored, 5 conceded, 9 wins in 10 games. Team B: 8 goals scored, 25 conceded, 1 win in 10 games. Which team wins?",
        "Team A: 2 wins, star striker injured. Team B: 10 wins in a row, full squad. Which team wins?",
        "Fantasy football week 3. Team A projects 98.5 points, Team B projects 141.2 points. Which team wins?",
    ];
    for (i, m) in matchups.iter().enumerate() {
        let req = request(m, &schema, i as u8 + 1);
        let a = d.run(&req).unwrap();
        assert!(
            a.success,
            "matchup {i}: error output {}",
            hex::encode(&a.output)
        );
        assert!(word_u64(&a.output) < 2);
        let again = d.run(&req).unwrap();
        assert_eq!(again, a, "same node, same request");
        let other = other_node.run(&req).unwrap();
        assert_eq!(other, a, "another node with 2 threads");
    }
}

#[test]
fn credit_score_in_range() {
    let schema = Schema::new(Node::int(300, 850)).unwrap();
    let req = request(
        "Applicant: 12 years of on-time payments, 8% credit utilization, no defaults. Estimate the credit score.",
        &schema,
        9,
    );
    let out = one_thread().run(&req).unwrap();
    assert!(out.success, "error output {}", hex::encode(&out.output));
    let v = word_u64(&out.output);
    assert!((300..=850).contains(&v), "{v}");
}

#[test]
fn bool_answer() {
    let schema = Schema::new(Node::Bool).unwrap();
    let req = request("Is Paris the capital of France?", &schema, 10);
    let out = one_thread().run(&req).unwrap();
    assert!(out.success, "error output {}", hex::encode(&out.output));
    assert!(word_u64(&out.output) <= 1);
}

#[test]
fn request_problems_are_error_outputs() {
    let d = one_thread();
    let ok = Schema::new(Node::Bool).unwrap();
    let mut bad_schema = request("hi", &ok, 11);
    bad_schema.schema = vec![0xee];
    let mut bad_input = request("hi", &ok, 12);
    bad_input.input = vec![0xff, 0xfe];
    let mut too_long = request("hi", &ok, 13);
    too_long.max_tokens = d.identity().context_length;
    for (req, code) in [(bad_schema, 1u8), (bad_input, 4), (too_long, 2)] {
        let out = d.run(&req).unwrap();
        assert!(!out.success);
        assert_eq!(out.output, aikernel_schema::error_output(code));
        assert!(out.tokens.is_empty());
    }
}

#[test]
fn context_chain_changes_the_prompt_deterministically() {
    use aikernel_drivers::{ContextEntry, ContextKind};
    let d = one_thread();
    let schema = Schema::new(Node::choice(["Team A", "Team B"])).unwrap();
    let mut req = request("Which team wins the rematch?", &schema, 14);
    req.context = vec![
        ContextEntry {
            kind: ContextKind::Feed,
            prompt_id: [0; 32],
            data: b"Team B won the last five matches.".to_vec(),
            schema: Vec::new(),
        },
        ContextEntry {
            kind: ContextKind::Prompt,
            prompt_id: [7; 32],
            data: b"Who won last week?".to_vec(),
            schema: Vec::new(),
        },
        ContextEntry {
            kind: ContextKind::Result,
            prompt_id: [7; 32],
            data: aikernel_schema::Value::Choice(1).abi_encode(),
            schema: schema.encode(),
        },
    ];
    let a = d.run(&req).unwrap();
    assert!(a.success);
    assert!(word_u64(&a.output) < 2);
    assert_eq!(d.run(&req).unwrap(), a);
    let id = d.identity();
    assert_eq!(id.driver, "llm-llama");
    assert!(id.context_length >= 2048);
    let hw = d.hardware();
    assert!(hw.min_memory_mib * (1 << 20) >= hw.file_bytes + hw.kv_cache_bytes);
}
