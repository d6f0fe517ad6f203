//! Generation on the CUDA forward pass (its host build, `HostDevice`, launch by launch what a
//! GPU step launches) through the engine's own sampling loop, against the engine's CPU
//! `generate` and `generate_batch` and the committed golden requests
//! (`crates/engine/tests/fixtures/golden_smollm2_q4_1.json`): the same tokens, logits SHA-256
//! and stop reason, alone, batched with fillers, chunked, and under a token constraint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aikernel_accel::{AccelError, DeviceSlots, positions_needed};
use aikernel_engine::{
    GenerateOptions, Generation, Model, StopReason, TokenConstraint, generate, generate_batch,
    generate_batch_constrained_on, generate_batch_on, generate_on,
};

fn smollm2() -> Model {
    let path = aikernel_engine::paths::model();
    assert!(
        path.exists(),
        "SmolLM2-135M-Instruct not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        path.display()
    );
    Model::load(&path).unwrap()
}

/// A committed golden request: its options, prompt, and the engine's recorded result.
struct Golden {
    prompt: Vec<u32>,
    opts: GenerateOptions,
    tokens: Vec<u32>,
    sha: String,
}

/// Positions a slot needs for the longest of `cases`.
fn capacity(m: &Model, cases: &[Golden]) -> usize {
    cases
        .iter()
        .map(|c| positions_needed(m, c.prompt.len(), c.opts.max_tokens))
        .max()
        .unwrap()
}

fn goldens() -> Vec<Golden> {
    // Compiled in, so a prebuilt test binary runs from any folder (scripts/gpu-bundle.sh).
    let text = include_str!("../../engine/tests/fixtures/golden_smollm2_q4_1.json");
    let json: serde_json::Value = serde_json::from_str(text).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
            .collect()
    };
    let num = |c: &serde_json::Value, k: &str| c[k].as_u64().unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| Golden {
            prompt: ids(&c["prompt_tokens"]),
            // As the engine's golden test runs them (`tests/common/golden.rs`).
            opts: GenerateOptions {
                max_tokens: num(c, "max_tokens") as u32,
                temperature_milli: num(c, "temperature_milli") as u32,
                seed: num(c, "seed"),
                prompt_id: [0xA5; 32],
                ..GenerateOptions::default()
            },
            tokens: ids(&c["tokens"]),
            sha: c["logits_sha256"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn check_golden(g: &Generation, want: &Golden, what: &str) {
    assert_eq!(g.tokens, want.tokens, "{what}: tokens");
    assert_eq!(
        hex::encode(g.logits_sha256),
        want.sha,
        "{what}: logits hash"
    );
}

#[test]
fn golden_requests_alone_match_the_engine() {
    let m = smollm2();
    let cases = goldens();
    assert_eq!(cases.len(), 4);
    let cap = capacity(&m, &cases);
    let mut slots = DeviceSlots::host(&m, 1, cap).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let cpu = generate(&m, &c.prompt, &c.opts, None).unwrap();
        let dev = generate_on(&m, &mut slots, &c.prompt, &c.opts, None).unwrap();
        assert_eq!(dev, cpu, "request {i}: cuda host build vs engine");
        check_golden(&dev, c, &format!("request {i}"));
    }
    // Prefilled in chunks of 5: the same generation.
    let c = &cases[1];
    let chunked = GenerateOptions {
        prefill_chunk: Some(5),
        ..c.opts.clone()
    };
    let dev = generate_on(&m, &mut slots, &c.prompt, &chunked, None).unwrap();
    check_golden(&dev, c, "chunked prefill");
}

#[test]
fn golden_requests_batched_with_fillers_match_the_engine() {
    let m = smollm2();
    let cases = goldens();
    let mut requests: Vec<(Vec<u32>, GenerateOptions)> = cases
        .iter()
        .map(|c| (c.prompt.clone(), c.opts.clone()))
        .collect();
    // Fillers of other lengths, sampled and greedy, one asking for nothing, one stopping early.
    requests.insert(
        1,
        (
            vec![1, 504, 3458, 282],
            GenerateOptions {
                max_tokens: 5,
                temperature_milli: 900,
                seed: 7,
                ..GenerateOptions::default()
            },
        ),
    );
    requests.push((
        vec![28, 29, 30, 31, 32, 33, 34],
        GenerateOptions {
            max_tokens: 0,
            ..GenerateOptions::default()
        },
    ));
    requests.push((
        vec![9, 8, 7],
        GenerateOptions {
            max_tokens: 16,
            prefill_chunk: Some(2),
            ..GenerateOptions::default()
        },
    ));
    let cap = requests
        .iter()
        .map(|(p, o)| positions_needed(&m, p.len(), o.max_tokens))
        .max()
        .unwrap();
    let cpu = generate_batch(&m, &requests).unwrap();
    // One slot more than requests: a free slot changes nothing.
    let mut slots = DeviceSlots::host(&m, requests.len() + 1, cap).unwrap();
    let dev = generate_batch_on(&m, &mut slots, &requests).unwrap();
    assert_eq!(dev, cpu, "batched: cuda host build vs engine");
    let goldens_in_batch = [0, 2, 3, 4];
    for (c, &i) in cases.iter().zip(&goldens_in_batch) {
        check_golden(&dev[i], c, &format!("batched request {i}"));
    }
    assert_eq!(dev[5].stop_reason, StopReason::Length);
    assert!(dev[5].tokens.is_empty());
}

/// Allows only tokens of a fixed list, finishing after `n` tokens (as the engine's
/// `sample_rules` test).
struct OnlyThese {
    allowed: Vec<u32>,
    taken: Vec<u32>,
    n: usize,
}

impl TokenConstraint for OnlyThese {
    fn mask(&mut self, logits: &mut [f32]) {
        for (i, l) in logits.iter_mut().enumerate() {
            if !self.allowed.contains(&(i as u32)) {
                *l = f32::NEG_INFINITY;
            }
        }
    }
    fn accept(&mut self, token: u32) {
        self.taken.push(token);
    }
    fn is_finished(&self) -> bool {
        self.taken.len() >= self.n
    }
}

#[test]
fn a_constraint_decides_the_same_tokens() {
    let m = smollm2();
    let prompt = m.tokenizer().encode("My favourite number is", true);
    let allowed: Vec<u32> = ["1", "2", "3"]
        .iter()
        .map(|t| m.tokenizer().token_id(t).unwrap())
        .collect();
    let opts = GenerateOptions {
        max_tokens: 10,
        temperature_milli: 900,
        seed: 5,
        ..GenerateOptions::default()
    };
    let only = || OnlyThese {
        allowed: allowed.clone(),
        taken: Vec::new(),
        n: 3,
    };
    let (mut a, mut b) = (only(), only());
    let cpu = generate(&m, &prompt, &opts, Some(&mut a)).unwrap();
    let mut slots = DeviceSlots::host(&m, 1, positions_needed(&m, prompt.len(), 10)).unwrap();
    let dev = generate_on(&m, &mut slots, &prompt, &opts, Some(&mut b)).unwrap();
    assert_eq!(dev, cpu);
    assert_eq!(dev.stop_reason, StopReason::Constraint);
    assert_eq!(a.taken, b.taken);
}

#[test]
fn a_constrained_batch_decides_each_sequence_as_alone() {
    let m = smollm2();
    let digits: Vec<u32> = ["1", "2", "3"]
        .iter()
        .map(|t| m.tokenizer().token_id(t).unwrap())
        .collect();
    let requests: Vec<(Vec<u32>, GenerateOptions)> = [
        ("My favourite number is", 10, 900),
        ("The sky is", 4, 0),
        ("Count with me:", 6, 600),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(text, max_tokens, temperature_milli))| {
        let opts = GenerateOptions {
            max_tokens,
            temperature_milli,
            seed: 5 + i as u64,
            ..GenerateOptions::default()
        };
        (m.tokenizer().encode(text, true), opts)
    })
    .collect();
    // Requests 0 and 2 are constrained to digits, finishing after 3 and 2 tokens.
    let only = |n| OnlyThese {
        allowed: digits.clone(),
        taken: Vec::new(),
        n,
    };
    let mut alone = [Some(only(3)), None, Some(only(2))];
    let want: Vec<Generation> = requests
        .iter()
        .zip(&mut alone)
        .map(|((p, o), c)| generate(&m, p, o, c.as_mut().map(|c| c as _)).unwrap())
        .collect();
    assert_eq!(want[0].stop_reason, StopReason::Constraint);
    let cap = requests
        .iter()
        .map(|(p, o)| positions_needed(&m, p.len(), o.max_tokens))
        .max()
        .unwrap();
    let mut slots = DeviceSlots::host(&m, requests.len(), cap).unwrap();
    let mut batch = [Some(only(3)), None, Some(only(2))];
    let mut dyns: Vec<Option<&mut dyn TokenConstraint>> = batch
        .iter_mut()
        .map(|c| c.as_mut().map(|c| c as &mut dyn TokenConstraint))
        .collect();
    let got = generate_batch_constrained_on(&m, &mut slots, &requests, &mut dyns).unwrap();
    assert_eq!(got, want);
    for (a, b) in alone.iter().zip(&batch) {
        assert_eq!(a.as_ref().map(|c| &c.taken), b.as_ref().map(|c| &c.taken));
    }
}

#[test]
fn requests_the_session_cannot_hold_are_errors() {
    let m = smollm2();
    let mut slots = DeviceSlots::host(&m, 1, 8).unwrap();
    let opts = GenerateOptions {
        max_tokens: 4,
        ..GenerateOptions::default()
    };
    // More positions than a slot holds: the forward pass refuses, nothing panics.
    let long: Vec<u32> = (1..=9).collect();
    let e = generate_on(&m, &mut slots, &long, &opts, None).unwrap_err();
    assert!(matches!(e, AccelError::Forward(_)), "{e}");
    // More requests than slots.
    let two = vec![(vec![1, 2], opts.clone()), (vec![3, 4], opts.clone())];
    let e = generate_batch_on(&m, &mut slots, &two).unwrap_err();
    assert!(e.to_string().contains("slots"), "{e}");
    // The engine's own checks still apply.
    let e = generate_on(&m, &mut slots, &[], &opts, None).unwrap_err();
    assert!(matches!(e, AccelError::Engine(_)), "{e}");
}

/// Here (no NVIDIA driver) the GPU backend is an error naming what is missing; on a GPU
/// machine it opens. Never a panic.
#[test]
fn the_gpu_backend_opens_or_names_what_is_missing() {
    let m = smollm2();
    match DeviceSlots::gpu(&m, 1, 64) {
        Ok(mut s) => {
            let opts = GenerateOptions {
                max_tokens: 4,
                ..GenerateOptions::default()
            };
            let g = generate_on(&m, &mut s, &[1, 2, 3], &opts, None);
            assert!(g.is_ok(), "{g:?}");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("cuda kernel"), "{msg}");
            if aikernel_cuda::discover().is_err() {
                assert!(matches!(e, AccelError::Unavailable(_)), "{msg}");
            }
        }
    }
}

#[test]
fn the_bench_measures_the_host_build() {
    let m = smollm2();
    let (slots, positions) = aikernel_accel::bench_shape(3, 4, 2, 2);
    let mut s = DeviceSlots::host(&m, slots, positions).unwrap();
    let r = aikernel_accel::bench_device(&m, &mut s, 3, 4, 2, 2).unwrap();
    assert_eq!((r.batch, r.n_prompt, r.n_gen, r.depth), (2, 4, 2, 3));
    assert!(r.pp_tokens_per_s > 0.0 && r.tg_tokens_per_s > 0.0 && r.aggregate_tokens_per_s > 0.0);
    // A batch the session cannot hold is refused, not run.
    assert!(aikernel_accel::bench_device(&m, &mut s, 3, 4, 2, 3).is_err());
}

#[test]
#[allow(clippy::float_cmp)] // whole bytes over exactly one second
fn the_bench_reads_the_model_once_a_step_and_the_attended_cache() {
    let m = smollm2();
    let spec = aikernel_accel::model_spec(&m);
    // SmolLM2's head is its embedding: a step reads nearly the whole file (its tensors; the
    // rest is the tokenizer and other metadata) and a row of the embedding per stream.
    let file = std::fs::metadata(aikernel_engine::paths::model())
        .unwrap()
        .len();
    let weights = spec.decode_step_bytes(&[]);
    assert!(
        weights < file && weights > file / 100 * 95,
        "{weights} of {file} bytes"
    );
    // 30 layers of 3 key/value heads of 64, binary16: 23,040 bytes of cache a position.
    let kv = 30 * 2 * 192 * 2;
    let row = spec.decode_step_bytes(&[0]) - weights;
    assert_eq!(spec.decode_step_bytes(&[5]), weights + row + 5 * kv);
    // Two steps of two streams from depth 3 (lengths 5, then 6) at 4 tokens/s: one second.
    let want = spec.decode_step_bytes(&[5, 5]) + spec.decode_step_bytes(&[6, 6]);
    let got = aikernel_accel::decode_read_bytes_per_s(&spec, (3, 2, 2), 4.0);
    assert_eq!(got, want as f64);
    assert_eq!(
        aikernel_accel::decode_read_bytes_per_s(&spec, (3, 0, 2), 4.0),
        0.0
    );
}

#[test]
fn the_sampling_loop_bench_generates_every_token() {
    let m = smollm2();
    let positions = aikernel_accel::LOOP_PROMPT + 3;
    let mut s = DeviceSlots::host(&m, 2, positions).unwrap();
    let r = aikernel_accel::loop_decode(&m, &mut s, positions, 3, 2, 2).unwrap();
    // No request stops early: the end of sequence is masked.
    assert_eq!(r.tokens, 6);
    assert!(r.tokens_per_s() > 0.0);
    // The engine's slots, measured the same way.
    let ctx = aikernel_engine::kernels::Ctx::new(2, aikernel_engine::Kernel::Auto).unwrap();
    let mut cpu = aikernel_engine::CpuSlots::new(&m, ctx, 2);
    let r = aikernel_accel::loop_decode(&m, &mut cpu, positions, 3, 2, 2).unwrap();
    assert_eq!(r.tokens, 6);
    // More positions or requests than the slots hold are refused, not run.
    let e = aikernel_accel::loop_decode(&m, &mut s, positions, 4, 2, 2).unwrap_err();
    assert!(e.to_string().contains("2 slots of 12 positions"), "{e}");
    assert!(aikernel_accel::loop_decode(&m, &mut s, positions, 3, 3, 2).is_err());
}

#[test]
fn a_worker_thread_generates_the_same() {
    let m = std::sync::Arc::new(smollm2());
    let c = &goldens()[2];
    let cap = positions_needed(&m, c.prompt.len(), c.opts.max_tokens);
    let w = aikernel_accel::SlotsWorker::start("host", std::sync::Arc::clone(&m), move |m| {
        DeviceSlots::host(m, 1, cap)
    })
    .unwrap();
    let (model, prompt, opts) = (std::sync::Arc::clone(&m), c.prompt.clone(), c.opts.clone());
    let g = w
        .run(move |s| generate_on(&model, s, &prompt, &opts, None))
        .unwrap()
        .unwrap();
    check_golden(&g, c, "worker");
    // Opening fails: the error comes back, the thread is gone.
    let e =
        aikernel_accel::SlotsWorker::<aikernel_cuda::forward::HostDevice>::start("host", m, |_| {
            Err(aikernel_engine::EngineError::BadInput("no device here".into()).into())
        })
        .unwrap_err();
    assert!(e.to_string().contains("no device here"), "{e}");
}

/// On a GPU (`scripts/gpu-check.sh`; elsewhere the `gpu` skip): the golden requests through
/// `GpuDevice` give the committed tokens and hashes, alone and batched with fillers.
#[test]
fn golden_generations_on_the_gpu() {
    if let Err(e) = aikernel_cuda::discover() {
        aikernel_testkit::skip_or_fail("gpu", &format!("no GPU to generate on: {e}"));
        return;
    }
    let m = smollm2();
    let cases = goldens();
    let cap = capacity(&m, &cases);
    let mut alone = DeviceSlots::gpu(&m, 1, cap).unwrap();
    for (i, c) in cases.iter().enumerate() {
        let g = generate_on(&m, &mut alone, &c.prompt, &c.opts, None).unwrap();
        check_golden(&g, c, &format!("gpu request {i}"));
    }
    drop(alone);
    let vocab = m.config().vocab_size as u32;
    for fillers in [0, 4, 28] {
        let mut requests: Vec<(Vec<u32>, GenerateOptions)> = cases
            .iter()
            .map(|c| (c.prompt.clone(), c.opts.clone()))
            .collect();
        requests.extend((0..fillers).map(|f: u32| {
            let prompt = (0..3 + f).map(|i| (i * 7919 + f * 31) % vocab).collect();
            let opts = GenerateOptions {
                max_tokens: 12,
                temperature_milli: 100 * (f % 8),
                seed: u64::from(f),
                ..GenerateOptions::default()
            };
            (prompt, opts)
        }));
        let cap = requests
            .iter()
            .map(|(p, o)| positions_needed(&m, p.len(), o.max_tokens))
            .max()
            .unwrap();
        let mut slots = DeviceSlots::gpu(&m, requests.len(), cap).unwrap();
        let got = generate_batch_on(&m, &mut slots, &requests).unwrap();
        for (i, c) in cases.iter().enumerate() {
            check_golden(
                &got[i],
                c,
                &format!("gpu batch of {}, request {i}", requests.len()),
            );
        }
    }
}
