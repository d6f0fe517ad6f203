//! Agreement with llama.cpp on the same file: 20 fixed prompts (chat and raw; code, numbers,
//! several languages), the same token ids fed to both engines. `tests/llama_ref/llama_ref.c`
//! is compiled against the static libraries that `scripts/build-llama-cpp.sh` builds and
//! prints llama.cpp's greedy continuation and its logits of the last prompt position.
//!
//! llama.cpp runs twice: with its defaults (f16 key/value cache, flash attention) and with an
//! f32 cache without flash attention. The two disagree with each other about as much as we
//! disagree with either, so the tolerance is llama.cpp's own spread (docs/engine.md):
//! - 16 greedy tokens (through EOS) agree with llama.cpp on at least `MIN_AGREE` of the 20
//!   prompts, and on at least as many as llama.cpp's two configurations agree with each other;
//! - first-step logits: max |difference| below `MAX_ABS`, KL(llama.cpp || ours) below
//!   `MAX_KL`, the argmax agrees on at least `MIN_TOP1` prompts and the top-10 sets share at
//!   least 8 tokens on every prompt.
//!
//! Two tests. The fixture test runs on every run: llama.cpp's greedy tokens and a summary of
//! its first-step logits (the `TOP_K` largest, their log-sum-exp and the mean) are committed in
//! `fixtures/llama_cpp_agreement.json` (scripts/gen-llama-cpp-fixtures.sh); there the maximum
//! difference is taken over llama.cpp's top `TOP_K` tokens and the mean, and the KL over those
//! tokens plus the rest of the vocabulary as one outcome (a lower bound of the full KL). The
//! live test compares whole vocabularies with a llama.cpp built here, and skips only as
//! docs/testing.md allows (key `llama-cpp`). The model is required by both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

mod common;

use aikernel_engine::Model;
use aikernel_engine::template::ChatMessage;
use serde_json::{Value, json};

use common::agreement::{
    Diff, N_GEN, TOP_K, build_ref, diff, diff_summary, ids, llama_cpp, ours, round4, run_ref,
    same_tokens, summary,
};
use common::llama_cpp;

/// Prompts whose 16 greedy tokens must all agree with llama.cpp (measured: 11; llama.cpp
/// with an f32 cache agrees with its default on 8).
const MIN_AGREE: usize = 10;
/// Largest absolute first-step logit difference allowed, any token (measured: 1.16; llama.cpp
/// against itself: 1.17).
const MAX_ABS: f32 = 1.5;
/// Largest KL divergence of the first-step distributions, nats (measured: 0.0096; llama.cpp
/// against itself: 0.027).
const MAX_KL: f64 = 0.02;
/// Prompts whose first greedy token must agree (measured: 17, as llama.cpp with itself).
const MIN_TOP1: usize = 16;
/// The committed reference.
const FIXTURE: &str = "llama_cpp_agreement.json";

/// (text, render with the chat template?).
const PROMPTS: &[(&str, bool)] = &[
    ("What is the capital of France?", true),
    ("Write a haiku about the sea.", true),
    ("Explain what a hash function is in one sentence.", true),
    ("List three prime numbers greater than 100.", true),
    ("Translate to French: The weather is nice today.", true),
    ("¿Cuál es el río más largo del mundo?", true),
    ("Wie viele Beine hat eine Spinne?", true),
    ("日本の首都はどこですか？", true),
    ("Give me a Python function that reverses a string.", true),
    ("What is 17 * 23?", true),
    ("def fibonacci(n):", false),
    ("fn main() {\n    let x: u64 = ", false),
    ("SELECT name, COUNT(*) FROM users", false),
    ("The three primary colors are", false),
    ("1, 2, 3, 5, 8, 13, 21,", false),
    ("In 1969, the first humans", false),
    ("Once upon a time, in a small village,", false),
    ("La capitale de l'Italie est", false),
    ("Ethereum smart contracts are written in", false),
    ("<html>\n<head>\n  <title>", false),
];

/// The prompts as token ids: chat prompts through the model's template.
fn prompts(model: &Model) -> Vec<Vec<u32>> {
    let tmpl = model.chat_template().unwrap();
    PROMPTS
        .iter()
        .map(|&(text, chat)| {
            let text = if chat {
                tmpl.render(&[ChatMessage::new("user", text)], true)
                    .unwrap()
            } else {
                text.to_owned()
            };
            model.tokenizer().encode(&text, true)
        })
        .collect()
}

#[test]
fn greedy_tokens_and_logits_match_llama_cpp_fixture() {
    let model_file = common::model_path();
    let fixture = llama_cpp::read_fixture(FIXTURE);
    llama_cpp::check_model(&fixture, &model_file);
    let model = Model::load(&model_file).unwrap();
    let prompts = prompts(&model);
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(
        cases.len(),
        prompts.len(),
        "{FIXTURE} is stale: rerun scripts/gen-llama-cpp-fixtures.sh"
    );
    let eos = model.tokenizer().eos_token_id();
    let (mut agree, mut self_agree, mut top1) = (0, 0, 0);
    let mut worst = Diff {
        top1: true,
        overlap: 10,
        ..Diff::default()
    };
    let mut worst_shift = 0f64;
    for (i, (prompt, case)) in prompts.iter().zip(cases).enumerate() {
        assert_eq!(
            case["prompt"].as_str(),
            Some(PROMPTS[i].0),
            "{FIXTURE} is stale: rerun scripts/gen-llama-cpp-fixtures.sh"
        );
        assert_eq!(
            &ids(&case["ids"]),
            prompt,
            "prompt {i}: our token ids are not those llama.cpp was given (tokenizer or template changed)"
        );
        let (tokens, logits) = ours(&model, prompt);
        let (llama, llama32) = (ids(&case["tokens"]), ids(&case["tokens_f32"]));
        let same = same_tokens(&llama, &tokens, eos);
        agree += usize::from(same);
        self_agree += usize::from(same_tokens(&llama, &llama32, eos));
        let (d, shift) = diff_summary(case, &logits);
        eprintln!(
            "prompt {i:2} tokens agree: {same} | ours vs llama.cpp top {TOP_K}: max {:.3} centred {:.3} KL {:.5} top10 {} | mean shift {shift:.3}",
            d.max, d.centred, d.kl, d.overlap
        );
        if !same {
            eprintln!("   ours      {tokens:?}\n   llama.cpp {llama:?}");
        }
        top1 += usize::from(d.top1);
        worst.max = worst.max.max(d.max);
        worst.centred = worst.centred.max(d.centred);
        worst.kl = worst.kl.max(d.kl);
        worst.top1 &= d.top1;
        worst.overlap = worst.overlap.min(d.overlap);
        worst_shift = worst_shift.max(shift.abs());
    }
    eprintln!(
        "16 greedy tokens agree on: ours~llama.cpp {agree}/20 (llama.cpp~llama.cpp(f32) {self_agree}/20); first token {top1}/20"
    );
    eprintln!(
        "worst first-step logits against the fixture: {worst:?}, mean shift {worst_shift:.3}"
    );
    assert!(
        agree >= MIN_AGREE && agree >= self_agree,
        "greedy agreement {agree} (llama.cpp with itself: {self_agree})"
    );
    assert!(worst.max < MAX_ABS, "max |logit difference| {}", worst.max);
    assert!(
        worst_shift < f64::from(MAX_ABS),
        "mean logit shift {worst_shift}"
    );
    assert!(worst.kl < MAX_KL, "KL {}", worst.kl);
    assert!(top1 >= MIN_TOP1, "first token agrees on {top1}");
    assert!(worst.overlap >= 8, "top-10 overlap {}", worst.overlap);
}

#[test]
fn greedy_tokens_and_logits_match_live_llama_cpp() {
    let model_file = common::model_path();
    let (src, build) = match llama_cpp() {
        Ok(v) => v,
        Err(why) => {
            llama_cpp::unavailable(&why);
            return;
        }
    };
    let bin = build_ref(&src, &build);
    let model = Model::load(&model_file).unwrap();
    let prompts = prompts(&model);
    let llama = run_ref(&bin, &model_file, &prompts, "default");
    let llama32 = run_ref(&bin, &model_file, &prompts, "f32");
    assert_eq!((llama.len(), llama32.len()), (prompts.len(), prompts.len()));
    let eos = model.tokenizer().eos_token_id();
    // Ours vs llama.cpp (default), ours vs llama.cpp (f32), llama.cpp vs itself.
    let mut agree = [0usize; 3];
    let (mut top1, mut self_top1) = (0, 0);
    let mut worst = [Diff {
        top1: true,
        overlap: 10,
        ..Diff::default()
    }; 2];
    for (i, prompt) in prompts.iter().enumerate() {
        let (tokens, logits) = ours(&model, prompt);
        let same = [
            same_tokens(&llama[i].0, &tokens, eos),
            same_tokens(&llama32[i].0, &tokens, eos),
            same_tokens(&llama[i].0, &llama32[i].0, eos),
        ];
        for (a, s) in agree.iter_mut().zip(same) {
            *a += usize::from(s);
        }
        let d = [diff(&llama[i].1, &logits), diff(&llama[i].1, &llama32[i].1)];
        eprintln!(
            "prompt {i:2} tokens agree: ours~llama {} ours~llama-f32 {} llama~llama-f32 {} | ours vs llama: max {:.3} centred {:.3} KL {:.5} top10 {} | llama vs llama-f32: max {:.3} centred {:.3} KL {:.5} top10 {}",
            same[0],
            same[1],
            same[2],
            d[0].max,
            d[0].centred,
            d[0].kl,
            d[0].overlap,
            d[1].max,
            d[1].centred,
            d[1].kl,
            d[1].overlap
        );
        if !same[0] {
            eprintln!("   ours      {tokens:?}\n   llama.cpp {:?}", llama[i].0);
        }
        top1 += usize::from(d[0].top1);
        self_top1 += usize::from(d[1].top1);
        for (w, d) in worst.iter_mut().zip(d) {
            w.max = w.max.max(d.max);
            w.centred = w.centred.max(d.centred);
            w.kl = w.kl.max(d.kl);
            w.top1 &= d.top1;
            w.overlap = w.overlap.min(d.overlap);
        }
    }
    eprintln!(
        "16 greedy tokens agree on: ours~llama.cpp {}/20, ours~llama.cpp(f32 cache, no flash attention) {}/20, llama.cpp~llama.cpp(f32) {}/20",
        agree[0], agree[1], agree[2]
    );
    eprintln!("worst first-step logits, ours vs llama.cpp: {:?}", worst[0]);
    eprintln!(
        "worst first-step logits, llama.cpp vs llama.cpp(f32): {:?}",
        worst[1]
    );
    eprintln!("first greedy token agrees on {top1}/20 (llama.cpp with itself: {self_top1}/20)");
    if llama_cpp::writing_fixtures() {
        let mut head = llama_cpp::head(Some(&model_file));
        head["n_gen"] = N_GEN.into();
        head["top_k"] = TOP_K.into();
        head["llama_cpp_f32_spread"] = json!({
            "greedy_agree": agree[2],
            "first_token_agree": self_top1,
            "max_abs": round4(f64::from(worst[1].max)),
            "kl": round4(worst[1].kl),
        });
        let cases: Vec<Value> = (0..prompts.len())
            .map(|i| summary(PROMPTS[i], &prompts[i], &llama[i], &llama32[i]))
            .collect();
        llama_cpp::write_fixture(FIXTURE, &head, &cases);
    }
    assert!(
        agree[0] >= MIN_AGREE && agree[0] >= agree[2],
        "greedy agreement {} (llama.cpp with itself: {})",
        agree[0],
        agree[2]
    );
    assert!(
        worst[0].max < MAX_ABS,
        "max |logit difference| {}",
        worst[0].max
    );
    assert!(worst[0].kl < MAX_KL, "KL {}", worst[0].kl);
    assert!(top1 >= MIN_TOP1, "first token agrees on {top1}");
    assert!(worst[0].overlap >= 8, "top-10 overlap {}", worst[0].overlap);
}
