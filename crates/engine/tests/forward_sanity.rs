//! The forward pass on the default model: greedy chat output matches llama.cpp's first
//! tokens (recorded with `llama-completion --temp 0 -n 16 -no-cnv`), and the model rejects
//! bad requests with errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::template::ChatMessage;
use aikernel_engine::{EngineError, GenerateOptions, Model, StopReason, generate};

fn chat_prompt(m: &Model, q: &str) -> Vec<u32> {
    let text = m
        .chat_template()
        .unwrap()
        .render(&[ChatMessage::new("user", q)], true)
        .unwrap();
    m.tokenizer().encode(&text, true)
}

#[test]
fn capital_of_france_greedy() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = chat_prompt(&m, "What is the capital of France?");
    let opts = GenerateOptions {
        max_tokens: 16,
        threads: 2,
        ..GenerateOptions::default()
    };
    let g = generate(&m, &prompt, &opts, None).unwrap();
    let text = String::from_utf8_lossy(&m.tokenizer().decode(&g.tokens)).into_owned();
    eprintln!("prompt {prompt:?}\ntokens {:?}\ntext {text:?}", g.tokens);
    // llama-completion (greedy, same rendered prompt incl. the default system message)
    // prints "L'\u{c9}toile, la Marseillaise, la femme au" for the Q4_1 file. With the binary16
    // KV cache (docs/engine.md) ours agrees up to "la " and then takes the runner-up of a
    // near tie; our continuation is pinned whole, llama.cpp's up to there.
    assert!(text.starts_with("L'\u{c9}toile, la "), "{text}");
    assert_eq!(text, "L'\u{c9}toile, la Cit\u{e9}, la Nation, la G\u{e9}");
}

#[test]
fn plain_completion_matches_llama_cpp() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m.tokenizer().encode("The capital of France is", true);
    let opts = GenerateOptions {
        max_tokens: 8,
        ..GenerateOptions::default()
    };
    let g = generate(&m, &prompt, &opts, None).unwrap();
    let text = String::from_utf8_lossy(&m.tokenizer().decode(&g.tokens)).into_owned();
    // llama-completion -p "The capital of France is" --temp 0 -n 8 -no-cnv
    assert_eq!(text, " Paris.\n\nThe United States has");
}

#[test]
fn bad_requests_are_errors() {
    let m = Model::load(&common::model_path()).unwrap();
    let opts = GenerateOptions {
        max_tokens: 2,
        ..GenerateOptions::default()
    };
    assert!(matches!(
        generate(&m, &[], &opts, None),
        Err(EngineError::BadInput(_))
    ));
    assert!(matches!(
        generate(&m, &[u32::MAX], &opts, None),
        Err(EngineError::BadInput(_))
    ));
    let zero = GenerateOptions {
        max_tokens: 0,
        ..GenerateOptions::default()
    };
    let g = generate(&m, &[1, 2, 3], &zero, None).unwrap();
    assert!(g.tokens.is_empty());
    assert_eq!(g.stop_reason, StopReason::Length);
}
