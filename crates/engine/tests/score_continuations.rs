//! Scoring whole continuations on the real model: a continuation's score is the sum of its
//! tokens' log-probabilities (checked against scoring each token after the extended
//! prompt), the same bits on every thread count, prefill chunking, kernel and batch, and
//! the model prefers the obvious answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_engine::{Kernel, Model, ScoreOptions, score_continuations};

fn encode(m: &Model, text: &str) -> Vec<u32> {
    m.tokenizer().encode(text, false)
}

#[test]
fn a_score_is_the_sum_of_its_tokens_log_probabilities() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m.tokenizer().encode("The capital of France is", true);
    let answer = encode(&m, " Paris, of course");
    assert!(answer.len() >= 3, "{answer:?}");
    let opts = ScoreOptions::default();
    let whole = score_continuations(&m, &prompt, std::slice::from_ref(&answer), &opts).unwrap();
    let mut sum = 0f32;
    let mut extended = prompt.clone();
    for &t in &answer {
        let one = score_continuations(&m, &extended, &[vec![t]], &opts).unwrap();
        sum += one.log_probs[0];
        extended.push(t);
    }
    assert_eq!(whole.log_probs[0].to_bits(), sum.to_bits());
    assert!(whole.log_probs[0] < 0.0);
}

#[test]
fn scores_do_not_depend_on_threads_chunks_kernels_or_the_batch() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m
        .tokenizer()
        .encode("Question: Is fire hot? Answer (yes or no):", true);
    let options: Vec<Vec<u32>> = [" yes", " no", " maybe not at all", " 42"]
        .iter()
        .map(|o| encode(&m, o))
        .collect();
    let base = ScoreOptions {
        threads: 1,
        prefill_chunk: None,
        kernel: Kernel::Scalar,
    };
    let want = score_continuations(&m, &prompt, &options, &base).unwrap();
    let mut variants = vec![
        ScoreOptions {
            threads: 2,
            kernel: Kernel::Auto,
            ..base.clone()
        },
        ScoreOptions {
            threads: 3,
            prefill_chunk: Some(5),
            ..base.clone()
        },
        ScoreOptions {
            threads: 8,
            prefill_chunk: Some(1),
            kernel: Kernel::Auto,
        },
    ];
    for kernel in [Kernel::Avx2, Kernel::Avx512, Kernel::Neon] {
        if kernel.is_supported() {
            variants.push(ScoreOptions {
                kernel,
                ..base.clone()
            });
        }
    }
    for opts in &variants {
        let got = score_continuations(&m, &prompt, &options, opts).unwrap();
        assert_eq!(got, want, "{opts:?}");
    }
    // Alone or with others: the same score for each continuation.
    for (i, option) in options.iter().enumerate() {
        let alone = score_continuations(&m, &prompt, std::slice::from_ref(option), &base).unwrap();
        assert_eq!(
            alone.log_probs[0].to_bits(),
            want.log_probs[i].to_bits(),
            "option {i}"
        );
    }
    // The trace covers every logit: another set of continuations hashes differently.
    let fewer = score_continuations(&m, &prompt, &options[..2], &base).unwrap();
    assert_ne!(fewer.logits_sha256, want.logits_sha256);
}

#[test]
fn the_obvious_answer_scores_higher() {
    let m = Model::load(&common::model_path()).unwrap();
    let prompt = m.tokenizer().encode("The capital of France is", true);
    let options = vec![encode(&m, " Paris"), encode(&m, " Banana")];
    let s = score_continuations(&m, &prompt, &options, &ScoreOptions::default()).unwrap();
    assert!(s.log_probs[0] > s.log_probs[1], "{:?}", s.log_probs);
}

#[test]
fn bad_requests_are_errors_naming_the_problem() {
    let m = Model::load(&common::model_path()).unwrap();
    let opts = ScoreOptions::default();
    let prompt = m.tokenizer().encode("Hello", true);
    let err = |p: &[u32], c: &[Vec<u32>], o: &ScoreOptions| {
        score_continuations(&m, p, c, o).unwrap_err().to_string()
    };
    assert!(err(&[], &[vec![1]], &opts).contains("empty prompt"));
    assert!(err(&prompt, &[], &opts).contains("no continuation"));
    assert!(err(&prompt, &[vec![1], vec![]], &opts).contains("continuation 1 is empty"));
    let vocab = m.config().vocab_size as u32;
    assert!(err(&prompt, &[vec![vocab]], &opts).contains("outside vocabulary"));
    let long = vec![1u32; m.config().context_length];
    assert!(err(&prompt, &[long], &opts).contains("exceed the context"));
    let chunk0 = ScoreOptions {
        prefill_chunk: Some(0),
        ..opts.clone()
    };
    assert!(err(&prompt, &[vec![1]], &chunk0).contains("prefill chunk"));
}
