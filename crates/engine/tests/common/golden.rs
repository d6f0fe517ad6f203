//! Golden outputs: fixed requests whose token ids and logits SHA-256 are committed as JSON
//! fixtures, shared by `golden_logits` (the default model), `kquant_model` (its K-quant
//! requantization) and `gemma3_model` (Gemma 3 270M).

use std::path::PathBuf;

use aikernel_engine::template::ChatMessage;
use aikernel_engine::{GenerateOptions, Kernel, Model, generate};
use serde_json::{Value, json};

/// (text, chat template?, max tokens, temperature‰, seed).
pub(crate) type Case = (&'static str, bool, u32, u32, u64);

/// The golden requests.
pub(crate) const CASES: &[Case] = &[
    ("What is the capital of France?", true, 12, 0, 0),
    ("Write a haiku about the sea.", true, 12, 700, 1234),
    ("def fibonacci(n):", false, 12, 0, 0),
    ("The three primary colors are", false, 10, 1000, 99),
];

/// Every case on `m` with `threads` and `kernel`: its request, token ids and logits digest.
/// Raw prompts start with BOS where the vocabulary asks for it (Gemma 3; not SmolLM2).
pub(crate) fn run_cases(m: &Model, cases: &[Case], threads: usize, kernel: Kernel) -> Value {
    let tok = m.tokenizer();
    let bos = tok.bos_token_id().filter(|_| tok.add_bos());
    let mut out = Vec::new();
    for &(text, chat, max_tokens, temp, seed) in cases {
        let rendered = if chat {
            m.chat_template()
                .unwrap()
                .render(&[ChatMessage::new("user", text)], true)
                .unwrap()
        } else {
            text.to_owned()
        };
        let prompt: Vec<u32> = bos.into_iter().chain(tok.encode(&rendered, true)).collect();
        let opts = GenerateOptions {
            max_tokens,
            temperature_milli: temp,
            seed,
            prompt_id: [0xA5; 32],
            threads,
            prefill_chunk: None,
            kernel,
            stop_tokens: Vec::new(),
        };
        let g = generate(m, &prompt, &opts, None).unwrap();
        out.push(json!({
            "text": text, "chat": chat, "max_tokens": max_tokens, "temperature_milli": temp,
            "seed": seed, "prompt_tokens": prompt, "tokens": g.tokens,
            "logits_sha256": hex::encode(g.logits_sha256),
        }));
    }
    Value::Array(out)
}

/// Compares `got` with `tests/fixtures/<file>`, or writes it there when `AIKERNEL_BLESS` is
/// set (a deliberate regeneration).
pub(crate) fn check_fixture(got: &Value, file: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    if std::env::var_os("AIKERNEL_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(got).unwrap() + "\n").unwrap();
        return;
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(got, &want, "engine output changed; see {}", path.display());
}
