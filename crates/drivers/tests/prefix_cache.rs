//! Prefix sharing: a conversation's next prompt starts with the previous prompt's tokens
//! under every layout (chat template and completion layout, system-only and examples as
//! turns) until the oldest turns are dropped; and a driver with a prefix cache answers a
//! multi-turn conversation exactly as a driver without one while computing only the new
//! tokens. Needs the default model and Gemma 3 270M (`./scripts/setup.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_drivers::prompt::{Built, build_in};
use aikernel_drivers::{
    ContextEntry, ContextKind, DRIVER_NAME_V2, Driver, InferenceOutput, InferenceRequest, Layout,
    LlmDriver, PrefixStats, rule_for_driver,
};
use aikernel_schema::{Node, Schema};

const QUESTIONS: [&str; 5] = [
    "Which planet is the largest?",
    "And which is the smallest?",
    "Which of the two is closer to the sun?",
    "Name one moon of the first.",
    "Is it larger than our moon?",
];

const EXTRA: &str =
    "You help a quiz dapp.\nExample input: Capital of France?\nExample answer: Paris";

fn text_schema() -> Schema {
    Schema::new(Node::Text { max_bytes: 64 }).unwrap()
}

/// The request of turn `n` (0-based) after the earlier turns and their outputs.
fn turn(
    n: usize,
    schema: &Schema,
    earlier: &[InferenceOutput],
    max_tokens: u32,
) -> InferenceRequest {
    let mut context = Vec::new();
    for (i, out) in earlier.iter().enumerate().take(n) {
        let id = [i as u8 + 1; 32];
        context.push(ContextEntry {
            kind: ContextKind::Prompt,
            prompt_id: id,
            data: QUESTIONS[i].as_bytes().to_vec(),
            schema: schema.encode(),
        });
        context.push(ContextEntry {
            kind: ContextKind::Result,
            prompt_id: id,
            data: out.output.clone(),
            schema: schema.encode(),
        });
    }
    InferenceRequest {
        prompt_id: [n as u8 + 1; 32],
        input: QUESTIONS[n].as_bytes().to_vec(),
        extra_context: EXTRA.as_bytes().to_vec(),
        schema: schema.encode(),
        max_tokens,
        context,
        ..InferenceRequest::default()
    }
}

fn tokens(driver: &LlmDriver, request: &InferenceRequest, layout: Layout) -> (Vec<u32>, usize) {
    match build_in(request, driver, layout).unwrap() {
        Built::Prompt {
            tokens, dropped, ..
        } => (tokens, dropped),
        Built::Error(code) => panic!("{code:?}"),
    }
}

fn shared(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A conversation's prompts under `driver`: each starts with the previous one, and (what
/// the cache keeps) with the previous prompt followed by its generated tokens but the last.
/// The answers come from the system-only layout's runs; the example layout reuses them as
/// its context (sharing does not depend on what the answers say).
fn check_sharing(driver: &LlmDriver, name: &str) {
    let schema = text_schema();
    let mut outputs = Vec::new();
    let mut previous: Option<Vec<u32>> = None;
    for n in 0..3 {
        let request = turn(n, &schema, &outputs, 8);
        let (now, dropped) = tokens(driver, &request, Layout::SystemOnly);
        assert_eq!(dropped, 0);
        if let Some(before) = &previous {
            let answer: &InferenceOutput = &outputs[n - 1];
            assert!(answer.success, "{name}, turn {n}: {answer:?}");
            // The answer's tokens as generated are the answer as rendered in the next prompt.
            let mut held = before.clone();
            held.extend_from_slice(&answer.tokens[..answer.tokens.len() - 1]);
            assert!(
                now.starts_with(&held),
                "{name}, turn {n}: shares {} of {} ({} of the previous prompt)",
                shared(&held, &now),
                held.len(),
                before.len()
            );
        }
        outputs.push(driver.run(&request).unwrap());
        previous = Some(now);
    }
    let mut previous: Option<Vec<u32>> = None;
    for n in 0..3 {
        let request = turn(n, &schema, &outputs, 8);
        let (now, dropped) = tokens(driver, &request, Layout::ExamplesAsTurns);
        assert_eq!(dropped, 0);
        if let Some(before) = &previous {
            assert!(
                now.starts_with(before),
                "{name}, examples as turns, turn {n}"
            );
        }
        previous = Some(now);
    }
}

#[test]
fn a_conversations_next_prompt_starts_with_the_previous_one() {
    check_sharing(&common::load(2), "chat template (SmolLM2)");
    let gemma = LlmDriver::load(&aikernel_engine::paths::gemma3_270m(), 2).unwrap();
    check_sharing(&gemma, "completion layout (Gemma 3 270M)");
}

#[test]
fn dropping_the_oldest_turn_shares_only_the_system_message() {
    let driver = common::load(1);
    let schema = text_schema();
    let outputs: Vec<InferenceOutput> = (0..3)
        .map(|i| {
            InferenceOutput::value(
                aikernel_schema::Value::Text(format!("answer {i}")).abi_encode(),
                vec![],
                [0; 32],
            )
        })
        .collect();
    let window = driver.identity().context_length;
    let (two, _) = tokens(&driver, &turn(2, &schema, &outputs, 1), Layout::SystemOnly);
    let (three, _) = tokens(&driver, &turn(3, &schema, &outputs, 1), Layout::SystemOnly);
    // max_tokens so that turn 2 fits whole and turn 3 must drop its oldest turn.
    let max = window - two.len() as u32;
    assert!(three.len() > two.len());
    let (a, dropped_a) = tokens(
        &driver,
        &turn(2, &schema, &outputs, max),
        Layout::SystemOnly,
    );
    let (b, dropped_b) = tokens(
        &driver,
        &turn(3, &schema, &outputs, max),
        Layout::SystemOnly,
    );
    assert_eq!(dropped_a, 0);
    assert!(dropped_b > 0);
    let (system_only, _) = tokens(&driver, &turn(0, &schema, &[], 1), Layout::SystemOnly);
    let common = shared(&a, &b);
    assert!(common < system_only.len(), "{common}");
    assert!(
        common > system_only.len() / 2,
        "{common} of {}",
        system_only.len()
    );
}

/// Runs the conversation on a cold driver and a driver with a cache; returns the cache's
/// counters per turn.
fn conversation(
    cold: &LlmDriver,
    warm: &LlmDriver,
    schema: &Schema,
    turns: usize,
) -> Vec<PrefixStats> {
    let mut outputs = Vec::new();
    let mut per_turn = Vec::new();
    for n in 0..turns {
        let request = turn(n, schema, &outputs, 8);
        let before = warm.prefix_cache().stats();
        let want = cold.run(&request).unwrap();
        let got = warm.run(&request).unwrap();
        assert_eq!(got, want, "turn {n}");
        per_turn.push(warm.prefix_cache().stats().since(&before));
        outputs.push(want);
    }
    per_turn
}

#[test]
fn a_cached_driver_answers_a_conversation_as_a_cold_one_and_reuses_each_turn() {
    let cold = common::load(2);
    let warm = common::load(2).with_prefix_cache(64 << 20);
    // Rule 1, plain text: one prefill per turn; every turn after the first reuses at least
    // the whole previous prompt.
    let schema = text_schema();
    let mut outputs = Vec::new();
    let mut previous_len = 0;
    let mut held: Option<Vec<u32>> = None;
    for n in 0..3 {
        let request = turn(n, &schema, &outputs, 8);
        let (prompt, _) = tokens(&warm, &request, Layout::SystemOnly);
        let before = warm.prefix_cache().stats();
        let want = cold.run(&request).unwrap();
        let got = warm.run(&request).unwrap();
        assert_eq!(got, want, "turn {n}");
        let d = warm.prefix_cache().stats().since(&before);
        assert_eq!(d.lookups, 1);
        assert_eq!((d.tokens_reused + d.tokens_computed) as usize, prompt.len());
        if let Some(held) = &held {
            // The cache holds the previous prompt and its answer's tokens but the last: all
            // of the previous prompt is reused, and the answer as far as it re-tokenizes
            // the same.
            let want = shared(held, &prompt).min(prompt.len() - 1);
            assert_eq!(d.tokens_reused as usize, want, "turn {n}");
            assert!(want >= previous_len, "turn {n}");
        }
        let mut seq = prompt.clone();
        seq.extend_from_slice(&want.tokens[..want.tokens.len().saturating_sub(1)]);
        held = Some(seq);
        previous_len = prompt.len();
        outputs.push(want);
    }
    // Rule 2 (two option orders scored per turn): the same outputs, and after the first
    // turn each prompt reuses its own ordering's previous prompt.
    let rule2 = rule_for_driver(DRIVER_NAME_V2).unwrap();
    let cold = cold.with_rule(rule2);
    let warm = warm.with_rule(rule2).with_prefix_cache(64 << 20);
    let choice = Schema::new(Node::choice(["Jupiter", "Mercury"])).unwrap();
    let stats = conversation(&cold, &warm, &choice, 3);
    for n in 1..stats.len() {
        let (now, before) = (&stats[n], &stats[n - 1]);
        assert_eq!((now.lookups, now.hits), (2, 2), "turn {n}");
        // Both orderings' prompts of the previous turn, whole.
        assert_eq!(
            now.tokens_reused,
            before.tokens_reused + before.tokens_computed,
            "turn {n}: {now:?}"
        );
    }
}

/// A chat agent's 16-turn conversation (rule 1, plain-text answers of up to 48 tokens), on a
/// driver without and with a prefix cache: milliseconds per turn and prompt tokens reused.
/// `cargo test --release -p aikernel-drivers --test prefix_cache -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: a few minutes"]
fn bench_sixteen_turn_conversation() {
    let threads = std::env::var("AIKERNEL_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let cold = common::load(threads);
    let warm = common::load(threads).with_prefix_cache(256 << 20);
    let schema = Schema::new(Node::Text { max_bytes: 400 }).unwrap();
    let topics = [
        "the planets",
        "their moons",
        "the sun",
        "comets",
        "asteroids",
        "the Kuiper belt",
        "dwarf planets",
        "the Oort cloud",
        "eclipses",
        "tides",
        "seasons",
        "meteor showers",
        "space probes",
        "telescopes",
        "exoplanets",
        "black holes",
    ];
    let mut context: Vec<ContextEntry> = Vec::new();
    println!("turn  prompt_tokens  cold_ms  warm_ms  reused  computed");
    for (n, topic) in topics.iter().enumerate() {
        let input = format!("Tell me one surprising fact about {topic}, in two sentences.");
        let request = InferenceRequest {
            prompt_id: [n as u8 + 1; 32],
            input: input.as_bytes().to_vec(),
            schema: schema.encode(),
            max_tokens: 48,
            context: context.clone(),
            ..InferenceRequest::default()
        };
        let (prompt, _) = tokens(&warm, &request, Layout::SystemOnly);
        let started = std::time::Instant::now();
        let want = cold.run(&request).unwrap();
        let cold_ms = started.elapsed().as_millis();
        let before = warm.prefix_cache().stats();
        let started = std::time::Instant::now();
        let got = warm.run(&request).unwrap();
        let warm_ms = started.elapsed().as_millis();
        let d = warm.prefix_cache().stats().since(&before);
        assert_eq!(got, want, "turn {}", n + 1);
        println!(
            "{:>4}  {:>13}  {cold_ms:>7}  {warm_ms:>7}  {:>6}  {:>8}",
            n + 1,
            prompt.len(),
            d.tokens_reused,
            d.tokens_computed
        );
        for (kind, data) in [
            (ContextKind::Prompt, input.into_bytes()),
            (ContextKind::Result, want.output),
        ] {
            context.push(ContextEntry {
                kind,
                prompt_id: request.prompt_id,
                data,
                schema: schema.encode(),
            });
        }
    }
}
