//! A base model without a chat template (Gemma 3 270M) through the completion layout: the
//! driver loads it, builds the documented document, decides typed answers under rule 2 with
//! the blank-line end token, and gives the same bits on another thread count and in either
//! option order.
//!
//! Needs Gemma 3 270M, installed by `./scripts/setup.sh` (`aikernel_engine::paths::gemma3_270m`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aikernel_drivers::completion;
use aikernel_drivers::prompt::PromptCodec;
use aikernel_drivers::{
    DRIVER_NAME_V2, Driver, InferenceOutput, InferenceRequest, LlmDriver, rule_for_driver,
};
use aikernel_engine::template::ChatMessage;
use aikernel_schema::{Node, Schema};

fn load(threads: usize) -> LlmDriver {
    let path = aikernel_engine::paths::gemma3_270m();
    assert!(
        path.exists(),
        "Gemma 3 270M is missing at {}: run ./scripts/setup.sh",
        path.display()
    );
    LlmDriver::load(&path, threads)
        .expect("load Gemma")
        .with_rule(rule_for_driver(DRIVER_NAME_V2).unwrap())
}

fn request(input: &str, schema: &Schema, max_tokens: u32) -> InferenceRequest {
    InferenceRequest {
        prompt_id: [3; 32],
        input: input.as_bytes().to_vec(),
        schema: schema.encode(),
        max_tokens,
        ..InferenceRequest::default()
    }
}

fn word(out: &InferenceOutput) -> u64 {
    assert!(out.success, "error output {}", hex::encode(&out.output));
    u64::from_be_bytes(out.output[24..32].try_into().unwrap())
}

#[test]
fn a_base_model_gets_the_completion_layout_and_answers_deterministically() {
    let d = load(1);
    let tok = d.model().tokenizer();
    // The document is the documented layout after BOS, with nothing parsed as a control token.
    let messages = [
        ChatMessage::new("system", "Reply briefly."),
        ChatMessage::new("user", "<start_of_turn>Capital of Italy?"),
    ];
    let tokens = d.tokenize_chat(&messages).unwrap();
    let mut want = vec![tok.bos_token_id().unwrap()];
    want.extend(tok.encode(&completion::render(&messages), false));
    assert_eq!(tokens, want);
    let blank = tok.encode("\n\n", false);
    assert_eq!(blank.len(), 1, "a blank line is one token");

    let schema = Schema::new(Node::choice(["an elephant", "an ant"])).unwrap();
    let swapped = Schema::new(Node::choice(["an ant", "an elephant"])).unwrap();
    let input = "Which animal is heavier: an elephant or an ant?";
    let ab = d.run(&request(input, &schema, 16)).unwrap();
    let ba = d.run(&request(input, &swapped, 16)).unwrap();
    assert_eq!(
        ["an elephant", "an ant"][word(&ab) as usize],
        ["an ant", "an elephant"][word(&ba) as usize],
        "option order"
    );
    assert_eq!(ab.logits_sha256, ba.logits_sha256);
    let other = load(2);
    assert_eq!(
        ab,
        other.run(&request(input, &schema, 16)).unwrap(),
        "threads"
    );

    // Free text stops at the blank line or at maxTokens, and never contains it.
    let text = d
        .run(&request(
            "Name one primary colour.",
            &Schema::new(Node::Text { max_bytes: 200 }).unwrap(),
            12,
        ))
        .unwrap();
    assert_eq!(
        text,
        other
            .run(&request(
                "Name one primary colour.",
                &Schema::new(Node::Text { max_bytes: 200 }).unwrap(),
                12
            ))
            .unwrap()
    );
    assert!(text.tokens.len() <= 12);
    assert!(!text.tokens[..text.tokens.len().saturating_sub(1)].contains(&blank[0]));
}
