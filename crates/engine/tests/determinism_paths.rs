//! Bit-identical output across thread counts, prefill chunk sizes, scalar vs SIMD kernels
//! and batched vs alone decoding, greedy and sampled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::{GenerateOptions, Generation, Kernel, Model, generate, generate_batch};

const PROMPTS: &[&str] = &[
    "The capital of France is",
    "Once upon a time, in a small village at the edge of a dark forest, there lived an old \
     clockmaker who repaired every clock in the valley. One winter night a stranger knocked on \
     his door carrying a broken pocket watch that ticked backwards, and asked",
];

fn run(m: &Model, prompt: &[u32], opts: &GenerateOptions) -> Generation {
    generate(m, prompt, opts, None).unwrap()
}

#[test]
fn all_paths_agree() {
    let m = Model::load(&common::model_path()).unwrap();
    for (pi, text) in PROMPTS.iter().enumerate() {
        let prompt = m.tokenizer().encode(text, true);
        for temp in [0u32, 800] {
            let base = GenerateOptions {
                max_tokens: 5,
                temperature_milli: temp,
                seed: 42,
                prompt_id: [pi as u8; 32],
                threads: 1,
                prefill_chunk: None,
                kernel: Kernel::Scalar,
                stop_tokens: Vec::new(),
            };
            let want = run(&m, &prompt, &base);
            assert_eq!(want.tokens.len(), 5);
            for threads in [2, 3, 8] {
                let got = run(
                    &m,
                    &prompt,
                    &GenerateOptions {
                        threads,
                        kernel: Kernel::Auto,
                        ..base.clone()
                    },
                );
                assert_eq!(got, want, "prompt {pi} temp {temp} threads {threads}");
            }
            for chunk in [1, 7, 64] {
                let got = run(
                    &m,
                    &prompt,
                    &GenerateOptions {
                        prefill_chunk: Some(chunk),
                        kernel: Kernel::Auto,
                        threads: 2,
                        ..base.clone()
                    },
                );
                assert_eq!(got, want, "prompt {pi} temp {temp} chunk {chunk}");
            }
            for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
                let got = run(
                    &m,
                    &prompt,
                    &GenerateOptions {
                        kernel,
                        ..base.clone()
                    },
                );
                assert_eq!(got, want, "prompt {pi} temp {temp} kernel {kernel}");
            }
        }
    }
}

#[test]
fn sampling_depends_on_seed_and_prompt_id() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m.tokenizer().encode(PROMPTS[1], true);
    let base = GenerateOptions {
        max_tokens: 8,
        temperature_milli: 1500,
        seed: 1,
        threads: 2,
        ..GenerateOptions::default()
    };
    let a = run(&m, &prompt, &base);
    let b = run(
        &m,
        &prompt,
        &GenerateOptions {
            seed: 2,
            ..base.clone()
        },
    );
    let c = run(
        &m,
        &prompt,
        &GenerateOptions {
            prompt_id: [9; 32],
            ..base.clone()
        },
    );
    assert_ne!(a.tokens, b.tokens, "seed must change the sample");
    assert_ne!(a.tokens, c.tokens, "prompt id must change the sample");
    assert_eq!(a, run(&m, &prompt, &base), "same inputs, same output");
}

#[test]
fn batched_equals_alone() {
    let m = Model::load(&common::model_path()).unwrap();
    let mut reqs = Vec::new();
    for (i, text) in PROMPTS.iter().enumerate() {
        let prompt = m.tokenizer().encode(text, true);
        let opts = GenerateOptions {
            max_tokens: 4 + i as u32 * 2,
            temperature_milli: 700 * i as u32,
            seed: 7,
            threads: 2,
            ..GenerateOptions::default()
        };
        reqs.push((prompt, opts));
    }
    let alone: Vec<Generation> = reqs.iter().map(|(p, o)| run(&m, p, o)).collect();
    let batch = generate_batch(&m, &reqs).unwrap();
    assert_eq!(batch, alone);
    let scalar: Vec<_> = reqs
        .iter()
        .map(|(p, o)| {
            (
                p.clone(),
                GenerateOptions {
                    kernel: Kernel::Scalar,
                    threads: 1,
                    ..o.clone()
                },
            )
        })
        .collect();
    assert_eq!(generate_batch(&m, &scalar).unwrap(), alone);
}
