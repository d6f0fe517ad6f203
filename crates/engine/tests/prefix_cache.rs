//! The prefix cache never changes a bit: generation (greedy and sampled) and continuation
//! scores computed from a warm cache, split anywhere (0, 1, around the key blocks of eight
//! positions, the whole prompt but one, the whole prompt, from an entry longer than the
//! shared part), equal a cold computation's on every kernel this CPU has, with 1 and 2
//! threads, on the tiny Llama and the tiny Gemma 3 (sliding window of 4) and once on the
//! real model; and the cache keeps its budget, least recently used out first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tiny.rs"]
mod tiny;

use aikernel_engine::gguf::{GgufFile, GgufWriter};
use aikernel_engine::model::KvCache;
use aikernel_engine::{
    GenerateOptions, Generation, Kernel, Model, PrefixCache, Reuse, ScoreOptions, Scores, generate,
    generate_with_cache, score_continuations, score_continuations_with_cache,
};

fn load(w: &GgufWriter<'_>) -> Model {
    Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()).unwrap()
}

/// `n` pseudo-random token ids below `below`.
fn tokens(n: usize, seed: u64, below: u32) -> Vec<u32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % u64::from(below)) as u32
        })
        .collect()
}

fn gen_opts(kernel: Kernel, threads: usize, temperature_milli: u32) -> GenerateOptions {
    GenerateOptions {
        max_tokens: 5,
        temperature_milli,
        seed: 9,
        threads,
        kernel,
        ..GenerateOptions::default()
    }
}

fn score_opts(kernel: Kernel, threads: usize) -> ScoreOptions {
    ScoreOptions {
        threads,
        kernel,
        ..ScoreOptions::default()
    }
}

/// Every kernel this CPU runs (`Auto` is one of them).
fn kernels() -> Vec<Kernel> {
    Kernel::ALL
        .into_iter()
        .filter(|&k| k != Kernel::Auto && k.is_supported())
        .collect()
}

/// A stored sequence and its key/value cache (none for a split at 0).
type Held = Option<(Vec<u32>, KvCache)>;

/// The sequence `prompt[..split]` (followed by `tail`, departing from the prompt at once,
/// when given: an entry longer than the part it shares with the prompt) and its key/value
/// cache, computed by a generation over it (scalar kernel, 1 thread: every kernel and
/// thread count must continue it to the same bits).
fn entry(model: &Model, prompt: &[u32], split: usize, tail: &[u32]) -> Held {
    if split == 0 {
        return None;
    }
    let mut seq = prompt[..split].to_vec();
    seq.extend_from_slice(tail);
    if let (Some(t), Some(&p)) = (seq.get_mut(split), prompt.get(split)) {
        *t = if p == 0 { 1 } else { p - 1 };
    }
    let opts = GenerateOptions {
        max_tokens: 1,
        kernel: Kernel::Scalar,
        ..GenerateOptions::default()
    };
    let cache = PrefixCache::new(usize::MAX);
    let (_, reuse) = generate_with_cache(model, &seq, &opts, None, &cache).unwrap();
    assert_eq!(reuse.reused, 0);
    assert_eq!(cache.sequences(), vec![seq.clone()]);
    // Looking up the sequence and one more token gives its whole cache.
    let mut longer = seq.clone();
    longer.push(0);
    let (kv, reuse) = cache.lookup(model, &longer);
    assert_eq!(reuse.reused, seq.len());
    Some((seq, kv))
}

/// A fresh prefix cache holding `entry`.
fn holding(entry: Option<&(Vec<u32>, KvCache)>) -> PrefixCache {
    let cache = PrefixCache::new(usize::MAX);
    if let Some((seq, kv)) = entry {
        cache.store(seq.clone(), kv.clone());
    }
    cache
}

/// A cache holding `prompt[..split]` (and `tail`, see [`entry`]).
fn warm(model: &Model, prompt: &[u32], split: usize, tail: &[u32]) -> PrefixCache {
    holding(entry(model, prompt, split, tail).as_ref())
}

/// Split points: 0, 1, each side of the block edges at 8, 16 and 24, the whole prompt but
/// one, the whole prompt.
fn splits(len: usize) -> Vec<usize> {
    let mut s = vec![0, 1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, len - 1, len];
    s.retain(|&x| x <= len);
    s.dedup();
    s
}

/// Every split on every kernel and thread count gives the cold bits.
fn warm_equals_cold(model: &Model, prompt: &[u32], continuations: &[Vec<u32>], vocab: u32) {
    let tail = tokens(11, 77, vocab);
    let entries: Vec<(usize, bool, Held)> = splits(prompt.len())
        .into_iter()
        .flat_map(|split| [(split, false), (split, true)])
        .map(|(split, longer)| {
            let tail: &[u32] = if longer { &tail } else { &[] };
            (split, longer, entry(model, prompt, split, tail))
        })
        .collect();
    for kernel in kernels() {
        for threads in [1, 2] {
            let cold_gen: Vec<Generation> = [0, 800]
                .iter()
                .map(|&t| generate(model, prompt, &gen_opts(kernel, threads, t), None).unwrap())
                .collect();
            let cold_score: Scores =
                score_continuations(model, prompt, continuations, &score_opts(kernel, threads))
                    .unwrap();
            for (split, longer, entry) in &entries {
                let (split, longer) = (*split, *longer);
                {
                    let at = format!("{kernel}, {threads} threads, split {split}, longer {longer}");
                    let want = Reuse {
                        reused: split.min(prompt.len() - 1),
                        computed: prompt.len() - split.min(prompt.len() - 1),
                    };
                    for (i, t) in [0, 800].into_iter().enumerate() {
                        let cache = holding(entry.as_ref());
                        let opts = gen_opts(kernel, threads, t);
                        let (g, reuse) =
                            generate_with_cache(model, prompt, &opts, None, &cache).unwrap();
                        assert_eq!(g, cold_gen[i], "generate, temperature {t}, {at}");
                        assert_eq!(reuse, want, "{at}");
                    }
                    let cache = holding(entry.as_ref());
                    let (s, reuse) = score_continuations_with_cache(
                        model,
                        prompt,
                        continuations,
                        &score_opts(kernel, threads),
                        &cache,
                    )
                    .unwrap();
                    assert_eq!(s.logits_sha256, cold_score.logits_sha256, "score, {at}");
                    let bits = |s: &Scores| s.log_probs.iter().map(|v| v.to_bits()).collect();
                    let (got, cold): (Vec<u32>, Vec<u32>) = (bits(&s), bits(&cold_score));
                    assert_eq!(got, cold, "score, {at}");
                    assert_eq!(reuse, want, "{at}");
                }
            }
        }
    }
}

#[test]
fn tiny_llama_warm_prefix_is_bit_identical_to_cold() {
    let model = load(&tiny::tiny_llama(2));
    let prompt = tokens(37, 3, 256);
    let continuations = vec![tokens(3, 5, 256), tokens(1, 6, 256), tokens(9, 7, 256)];
    warm_equals_cold(&model, &prompt, &continuations, 256);
}

#[test]
fn tiny_gemma3_warm_prefix_is_bit_identical_to_cold() {
    let model = load(&common::tiny_gemma::tiny_gemma3(2));
    let vocab = common::tiny_gemma::vocab_size() as u32;
    let prompt = tokens(30, 11, vocab);
    let continuations = vec![tokens(4, 12, vocab), tokens(2, 13, vocab)];
    warm_equals_cold(&model, &prompt, &continuations, vocab);
}

#[test]
fn the_next_turn_reuses_the_prompt_and_the_generated_tokens() {
    let model = load(&tiny::tiny_llama(2));
    let cache = PrefixCache::new(usize::MAX);
    let opts = gen_opts(Kernel::Auto, 1, 0);
    let turn1 = tokens(20, 21, 256);
    let (g1, reuse) = generate_with_cache(&model, &turn1, &opts, None, &cache).unwrap();
    assert_eq!(reuse.reused, 0);
    assert_eq!(g1.tokens.len(), 5, "{g1:?}");
    // The prompt and all but the last generated token are held (one entry).
    let mut held = turn1.clone();
    held.extend_from_slice(&g1.tokens[..4]);
    assert_eq!(cache.sequences(), vec![held.clone()]);
    // Turn 2: turn 1, its answer, then new tokens.
    let mut turn2 = turn1.clone();
    turn2.extend_from_slice(&g1.tokens);
    turn2.extend(tokens(6, 22, 256));
    let (g2, reuse) = generate_with_cache(&model, &turn2, &opts, None, &cache).unwrap();
    assert_eq!(reuse.reused, held.len());
    assert_eq!(g2, generate(&model, &turn2, &opts, None).unwrap());
    // Turn 2's entry replaced turn 1's, which it starts with.
    assert_eq!(cache.sequences().len(), 1);
    let s = cache.stats();
    assert_eq!((s.lookups, s.hits, s.entries), (2, 1, 1));
    assert_eq!(s.tokens_reused, held.len() as u64);
    assert_eq!(
        s.tokens_computed,
        (turn1.len() + turn2.len() - held.len()) as u64
    );
    // A prompt the cache already covers is not stored twice.
    let score = score_opts(Kernel::Auto, 1);
    score_continuations_with_cache(&model, &turn1, &[vec![1]], &score, &cache).unwrap();
    assert_eq!(cache.sequences().len(), 1);
}

#[test]
fn budget_evicts_least_recently_used_and_zero_disables() {
    let model = load(&tiny::tiny_llama(2));
    let opts = GenerateOptions {
        max_tokens: 1,
        ..GenerateOptions::default()
    };
    let [a, b, c] = [31, 35, 37].map(|seed| tokens(16, seed, 256));
    let probe = PrefixCache::new(usize::MAX);
    generate_with_cache(&model, &a, &opts, None, &probe).unwrap();
    let one = probe.stats().bytes as usize;
    assert!(one > 0);

    // Room for two entries of this length.
    let cache = PrefixCache::new(2 * one + one / 2);
    generate_with_cache(&model, &a, &opts, None, &cache).unwrap();
    generate_with_cache(&model, &b, &opts, None, &cache).unwrap();
    // Touch a: b is now the least recently used.
    let (_, reuse) = cache.lookup(&model, &a);
    assert_eq!(reuse.reused, a.len() - 1);
    generate_with_cache(&model, &c, &opts, None, &cache).unwrap();
    assert_eq!(cache.sequences(), vec![c.clone(), a.clone()]);
    let s = cache.stats();
    assert_eq!((s.entries, s.evictions), (2, 1));
    assert!(s.bytes as usize <= cache.budget());

    // An entry larger than the whole budget is not stored.
    let small = PrefixCache::new(one - 1);
    generate_with_cache(&model, &a, &opts, None, &small).unwrap();
    assert_eq!(small.stats().entries, 0);

    // Budget 0: nothing is stored, nothing reused, the same bits.
    let off = PrefixCache::new(0);
    let (g1, _) = generate_with_cache(&model, &a, &opts, None, &off).unwrap();
    let (g2, reuse) = generate_with_cache(&model, &a, &opts, None, &off).unwrap();
    assert_eq!((g1, reuse.reused), (g2, 0));
    assert_eq!(off.stats().entries, 0);
    off.clear();
    cache.clear();
    assert_eq!(cache.stats().bytes, 0);
}

#[test]
fn real_model_warm_prefix_is_bit_identical_to_cold() {
    let model = Model::load(&common::model_path()).unwrap();
    let tok = model.tokenizer();
    let prompt = tok.encode(
        "<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nName a \
         prime number larger than ten and say why it is prime.<|im_end|>\n<|im_start|>assistant\n",
        true,
    );
    let continuations = vec![tok.encode("Eleven", false), tok.encode("13", false)];
    let kernel = Kernel::Auto;
    let opts = GenerateOptions {
        max_tokens: 4,
        kernel,
        ..GenerateOptions::default()
    };
    let cold = generate(&model, &prompt, &opts, None).unwrap();
    let cold_score =
        score_continuations(&model, &prompt, &continuations, &score_opts(kernel, 2)).unwrap();
    for split in [1, 8, 17, prompt.len() - 1, prompt.len()] {
        let cache = warm(&model, &prompt, split, &[]);
        let (g, _) = generate_with_cache(&model, &prompt, &opts, None, &cache).unwrap();
        assert_eq!(g, cold, "split {split}");
        let cache = warm(&model, &prompt, split, &tokens(5, 1, 1000));
        let (s, _) = score_continuations_with_cache(
            &model,
            &prompt,
            &continuations,
            &score_opts(kernel, 2),
            &cache,
        )
        .unwrap();
        assert_eq!(s, cold_score, "split {split}");
    }
}
