//! Gemma 3 270M (base, Q4_K_M: Q8_0 embeddings/head, Q5_0, Q4_K, Q6_K and F32 norms) under the
//! determinism contract:
//! - `gemma3_golden_same_on_every_kernel_and_thread_count`: fixed raw requests (greedy and
//!   sampled) give the committed token ids and logits SHA-256
//!   (`fixtures/golden_gemma3_270m.json`), and the same bits on the scalar reference, every
//!   kernel this CPU has, and 1 and 2 threads. Regenerate deliberately with `AIKERNEL_BLESS=1`.
//! - `sliding_window_prompt_same_in_chunks_and_threads`: a prompt past the 512-position
//!   sliding window gives the same logits whole or in prefill chunks, on 1 or 2 threads, and
//!   the committed ones (`fixtures/golden_gemma3_270m_window.json`, with the prompt's ids).
//!
//! Agreement with llama.cpp is `gemma3_llama_cpp`; tokenization is `tokenizer_llama_cpp`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::{GenerateOptions, Kernel, Model, generate};

use common::golden::{self, Case};

/// (text, chat, max tokens, temperature‰, seed): the base model has no chat template.
const CASES: &[Case] = &[
    ("The capital of France is", false, 8, 0, 0),
    ("def fibonacci(n):", false, 8, 700, 1234),
];

#[test]
fn gemma3_golden_same_on_every_kernel_and_thread_count() {
    let m = Model::load(&common::gemma_path()).unwrap();
    let want = golden::run_cases(&m, CASES, 1, Kernel::Scalar);
    for kernel in Kernel::ALL
        .into_iter()
        .filter(|&k| k.is_supported() && k != Kernel::Auto)
    {
        for threads in [1, 2] {
            if kernel == Kernel::Scalar && threads == 1 {
                continue;
            }
            let got = golden::run_cases(&m, CASES, threads, kernel);
            assert_eq!(
                got, want,
                "{kernel} on {threads} threads differs from scalar"
            );
        }
    }
    golden::check_fixture(&want, "golden_gemma3_270m.json");
}

#[test]
fn sliding_window_prompt_same_in_chunks_and_threads() {
    let m = Model::load(&common::gemma_path()).unwrap();
    let nums: Vec<String> = (1..=200).map(|i| i.to_string()).collect();
    let text = format!("Counting: {},", nums.join(", "));
    let tok = m.tokenizer();
    let prompt: Vec<u32> = tok
        .bos_token_id()
        .into_iter()
        .chain(tok.encode(&text, false))
        .collect();
    assert!(prompt.len() > 600, "prompt of {} tokens", prompt.len());
    let run = |threads, prefill_chunk| {
        let opts = GenerateOptions {
            max_tokens: 3,
            threads,
            prefill_chunk,
            ..GenerateOptions::default()
        };
        let g = generate(&m, &prompt, &opts, None).unwrap();
        (g.tokens, g.logits_sha256)
    };
    let want = run(1, None);
    assert_eq!(
        run(2, Some(200)),
        want,
        "2 threads, prefill in chunks of 200"
    );
    // The ids too, so that other paths (the CUDA forward pass's golden replay) take the
    // prompt from the fixture rather than rebuild it.
    let got = serde_json::json!({
        "prompt_tokens": prompt.len(),
        "prompt_ids": prompt,
        "tokens": want.0,
        "logits_sha256": hex::encode(want.1),
    });
    golden::check_fixture(&got, "golden_gemma3_270m_window.json");
    // The count goes on ("201, ...").
    let next = String::from_utf8(tok.decode(&want.0)).unwrap();
    assert!(
        next.trim_start().starts_with("20"),
        "continued with {next:?}"
    );
}
