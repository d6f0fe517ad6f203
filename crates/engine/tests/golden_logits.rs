//! Golden outputs of the default model: token ids and the logits SHA-256 of fixed requests
//! are committed in `fixtures/golden_smollm2_q4_1.json`; any numeric change fails here.
//! Regenerate deliberately with `AIKERNEL_BLESS=1 cargo test -p aikernel-engine --test golden_logits`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use aikernel_engine::template::ChatMessage;
use aikernel_engine::{GenerateOptions, Kernel, Model, generate};
use serde_json::{Value, json};

/// (text, chat template?, max tokens, temperature‰, seed).
const CASES: &[(&str, bool, u32, u32, u64)] = &[
    ("What is the capital of France?", true, 12, 0, 0),
    ("Write a haiku about the sea.", true, 12, 700, 1234),
    ("def fibonacci(n):", false, 12, 0, 0),
    ("The three primary colors are", false, 10, 1000, 99),
];

#[test]
fn golden_tokens_and_logits() {
    let m = Model::load(&common::model_path()).unwrap();
    let tmpl = m.chat_template().unwrap();
    let mut results = Vec::new();
    for &(text, chat, max_tokens, temp, seed) in CASES {
        let rendered = if chat {
            tmpl.render(&[ChatMessage::new("user", text)], true)
                .unwrap()
        } else {
            text.to_owned()
        };
        let prompt = m.tokenizer().encode(&rendered, true);
        let opts = GenerateOptions {
            max_tokens,
            temperature_milli: temp,
            seed,
            prompt_id: [0xA5; 32],
            threads: 2,
            prefill_chunk: None,
            kernel: Kernel::Auto,
            stop_tokens: Vec::new(),
        };
        let g = generate(&m, &prompt, &opts, None).unwrap();
        let hex = hex::encode(g.logits_sha256);
        results.push(json!({
            "text": text, "chat": chat, "max_tokens": max_tokens, "temperature_milli": temp,
            "seed": seed, "prompt_tokens": prompt, "tokens": g.tokens, "logits_sha256": hex,
        }));
    }
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden_smollm2_q4_1.json");
    let got = Value::Array(results);
    if std::env::var_os("AIKERNEL_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got, want, "engine output changed; see {}", path.display());
}
