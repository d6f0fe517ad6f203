//! The LLM driver on the real model: valid typed outputs, identical bytes across runs and
//! thread counts (same node, another node).
//!
//! Needs `~/.cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf` or `AIKERNEL_MODEL`.

use std::path::PathBuf;
use std::sync::OnceLock;

use aikernel_drivers::{Driver, InferenceRequest, LlmDriver, keccak256};
use aikernel_schema::{Node, Schema};

fn model_path() -> PathBuf {
    if let Ok(p) = std::env::var("AIKERNEL_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn driver(threads: usize) -> LlmDriver {
    let path = model_path();
    assert!(
        path.exists(),
        "model file {} is missing: run ./scripts/setup.sh or set AIKERNEL_MODEL",
        path.display()
    );
    LlmDriver::load(&path, threads).expect("load model")
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
        assert!(a.success, "matchup {i}: error output {}", hex::encode(&a.output));
        assert!(word_u64(&a.output) < 2);
        assert_eq!(a.output_hash, keccak256(&a.output));
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
