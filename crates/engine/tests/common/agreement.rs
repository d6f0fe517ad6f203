//! The comparison with llama.cpp's logits shared by the agreement tests of each model
//! (`llama_cpp_agreement` for the default model, `gemma3_llama_cpp` for Gemma 3 270M):
//! building and running `tests/llama_ref/llama_ref.c`, our greedy run, and the measures
//! (max and centred |Δlogit|, KL, top-1, top-10 overlap), on whole vocabularies (live) or
//! against the summary a fixture keeps (the `TOP_K` largest logits, log-sum-exp, mean).
#![allow(clippy::cast_precision_loss)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aikernel_engine::{GenerateOptions, Model, TokenConstraint, generate};
use serde_json::{Value, json};

/// Tokens compared per prompt.
pub(crate) const N_GEN: usize = 16;
/// First-step logits of llama.cpp kept per prompt in a fixture (the largest).
pub(crate) const TOP_K: usize = 32;

/// The llama.cpp checkout and build folder of `scripts/build-llama-cpp.sh`, when complete.
pub(crate) fn llama_cpp() -> Result<(PathBuf, PathBuf), String> {
    let cache = aikernel_engine::paths::llama_cpp_dir();
    let src = std::fs::read_dir(&cache)
        .map_err(|_| format!("{} does not exist", cache.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path().join("vendor/llama.cpp"))
        .find(|p| p.join("include/llama.h").exists())
        .ok_or_else(|| format!("no llama.cpp source under {}", cache.display()))?;
    let build = cache.join("build");
    for lib in libs(&build) {
        if !lib.exists() {
            return Err(format!("{} not built", lib.display()));
        }
    }
    Ok((src, build))
}

pub(crate) fn libs(build: &Path) -> [PathBuf; 4] {
    [
        build.join("src/libllama.a"),
        build.join("ggml/src/libggml.a"),
        build.join("ggml/src/libggml-cpu.a"),
        build.join("ggml/src/libggml-base.a"),
    ]
}

/// Compiles `llama_ref.c` into the test's scratch folder.
pub(crate) fn build_ref(src: &Path, build: &Path) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("llama_ref");
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/llama_ref/llama_ref.c");
    let status = Command::new("c++")
        .args(["-O2", "-x", "c"])
        .arg(&c)
        .args(["-x", "none"])
        .arg(format!("-I{}", src.join("include").display()))
        .arg(format!("-I{}", src.join("ggml/include").display()))
        .args(libs(build))
        .args(["-fopenmp", "-lpthread", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("running c++");
    assert!(status.success(), "compiling {} failed", c.display());
    out
}

/// Records the logits of every step (before any mask) and masks nothing.
#[derive(Default)]
pub(crate) struct Record(Vec<Vec<f32>>);

impl TokenConstraint for Record {
    fn mask(&mut self, logits: &mut [f32]) {
        self.0.push(logits.to_vec());
    }
    fn accept(&mut self, _token: u32) {}
    fn is_finished(&self) -> bool {
        false
    }
}

/// Greedy tokens and first-step logits.
pub(crate) type Output = (Vec<u32>, Vec<f32>);

/// llama.cpp's [`Output`] for each prompt.
pub(crate) fn run_ref(bin: &Path, model: &Path, prompts: &[Vec<u32>], mode: &str) -> Vec<Output> {
    run_ref_threads(bin, model, prompts, mode, 1)
}

/// [`run_ref`] on `threads` threads.
pub(crate) fn run_ref_threads(
    bin: &Path,
    model: &Path,
    prompts: &[Vec<u32>],
    mode: &str,
    threads: usize,
) -> Vec<Output> {
    let mut child = Command::new(bin)
        .arg(model)
        .arg(N_GEN.to_string())
        .arg(threads.to_string())
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running llama_ref");
    let mut input = String::new();
    for p in prompts {
        let ids: Vec<String> = p.iter().map(ToString::to_string).collect();
        input.push_str(&ids.join(" "));
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "llama_ref failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (toks, logits) = l.split_once('|').unwrap();
            (
                toks.split_whitespace()
                    .map(|t| t.parse().unwrap())
                    .collect(),
                logits
                    .split_whitespace()
                    .map(|t| t.parse().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// llama.cpp's own settings that the live tests run (`llama_ref.c`'s mode, threads): its
/// defaults on one and two threads, an f32 cache without flash attention (the first two are
/// the fixtures' `tokens` and `tokens_f32`), an f16 cache without flash attention, and the
/// weights used as stored instead of repacked for this CPU. They differ only in summation
/// order and rounding, so how far they are from each other is how far two correct engines
/// may be apart: llama.cpp's spread.
pub(crate) const SETTINGS: &[(&str, usize)] = &[
    ("default", 1),
    ("f32", 1),
    ("default", 2),
    ("noflash", 1),
    ("norepack", 1),
];

/// llama.cpp's answers under every one of [`SETTINGS`], in that order.
pub(crate) fn run_settings(bin: &Path, model: &Path, prompts: &[Vec<u32>]) -> Vec<Vec<Output>> {
    SETTINGS
        .iter()
        .map(|&(mode, threads)| {
            let out = run_ref_threads(bin, model, prompts, mode, threads);
            assert_eq!(
                out.len(),
                prompts.len(),
                "llama_ref {mode}: answers missing"
            );
            out
        })
        .collect()
}

/// How closely two runs over the same prompts agree: counts of prompts whose greedy tokens
/// and first token agree, and the worst first-step logit measures over the prompts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Agreement {
    /// Prompts whose `N_GEN` greedy tokens agree (through the first run's EOS).
    pub(crate) greedy: usize,
    /// Prompts whose first greedy token agrees.
    pub(crate) first: usize,
    /// Largest absolute first-step logit difference, any prompt and token.
    pub(crate) max: f32,
    /// Largest KL divergence of the first-step distributions, nats.
    pub(crate) kl: f64,
    /// Smallest top-10 overlap.
    pub(crate) overlap: usize,
}

impl Agreement {
    /// `a` against `b`, prompt by prompt.
    pub(crate) fn of(a: &[Output], b: &[Output], eos: Option<u32>) -> Self {
        assert_eq!(a.len(), b.len(), "runs over different prompt sets");
        let mut agreement = Agreement {
            greedy: 0,
            first: 0,
            max: 0.0,
            kl: 0.0,
            overlap: 10,
        };
        for (x, y) in a.iter().zip(b) {
            let d = diff(&x.1, &y.1);
            agreement.greedy += usize::from(same_tokens(&x.0, &y.0, eos));
            agreement.first += usize::from(d.top1);
            agreement.max = agreement.max.max(d.max);
            agreement.kl = agreement.kl.max(d.kl);
            agreement.overlap = agreement.overlap.min(d.overlap);
        }
        agreement
    }

    /// The loosest of several agreements, measure by measure.
    pub(crate) fn loosest(all: &[Agreement]) -> Self {
        Agreement {
            greedy: all.iter().map(|a| a.greedy).min().unwrap(),
            first: all.iter().map(|a| a.first).min().unwrap(),
            max: all.iter().map(|a| a.max).fold(0.0, f32::max),
            kl: all.iter().map(|a| a.kl).fold(0.0, f64::max),
            overlap: all.iter().map(|a| a.overlap).min().unwrap(),
        }
    }

    /// The median of several agreements, measure by measure (the lower middle one of an even
    /// count, for the counts; the upper one for the differences).
    pub(crate) fn median(all: &[Agreement]) -> Self {
        fn mid<T: Copy>(mut v: Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) -> T {
            v.sort_by(cmp);
            v[v.len() / 2]
        }
        let rev = |a: &usize, b: &usize| b.cmp(a);
        Agreement {
            greedy: mid(all.iter().map(|a| a.greedy).collect(), rev),
            first: mid(all.iter().map(|a| a.first).collect(), rev),
            max: mid(all.iter().map(|a| a.max).collect(), f32::total_cmp),
            kl: mid(all.iter().map(|a| a.kl).collect(), f64::total_cmp),
            overlap: mid(all.iter().map(|a| a.overlap).collect(), rev),
        }
    }

    /// The measures in which `self` (ours against llama.cpp, over `n` prompts) falls outside
    /// `spread` (llama.cpp's settings against each other), named; empty when within.
    /// - First token, KL and top-10 overlap, the distribution-level measures, must be within
    ///   the spread outright.
    /// - The count of prompts whose 16 greedy tokens agree is a noisy statistic (one near-tie
    ///   flipped anywhere in 16 steps changes it): it may fall short of the spread's by one
    ///   standard deviation of a binomial count at the spread's rate, `sqrt(n·p·(1−p))`
    ///   rounded down (2 for 11 of 20 or 21).
    /// - The largest single logit difference over the whole vocabulary is a tail statistic
    ///   (llama.cpp's own pairs range over a factor of 1.75 in it): it may exceed the
    ///   spread's by a quarter.
    pub(crate) fn outside(&self, spread: &Agreement, n: usize) -> Vec<String> {
        let p = spread.greedy as f64 / n as f64;
        let sd = libm::floor(libm::sqrt(n as f64 * p * (1.0 - p))) as usize;
        let max_bound = spread.max * 1.25;
        let mut out = Vec::new();
        if self.first < spread.first {
            out.push(format!(
                "first-token agreement {} < {}",
                self.first, spread.first
            ));
        }
        if self.kl > spread.kl {
            out.push(format!("KL {} > {}", self.kl, spread.kl));
        }
        if self.overlap < spread.overlap {
            out.push(format!(
                "top-10 overlap {} < {}",
                self.overlap, spread.overlap
            ));
        }
        if self.greedy + sd < spread.greedy {
            out.push(format!(
                "greedy agreement {} < {} - {sd}",
                self.greedy, spread.greedy
            ));
        }
        if self.max > max_bound {
            out.push(format!("max |logit difference| {} > {max_bound}", self.max));
        }
        out
    }
}

/// Our engine's place among llama.cpp's settings: each setting against each other (the
/// spread: the loosest pair, measure by measure) and ours against each setting (the median
/// over settings). Ours passes when its median is within the spread
/// ([`Agreement::outside`] states the rule): then we are as close to llama.cpp as
/// llama.cpp's own settings are to each other. Prints every pair.
pub(crate) fn compare_with_settings(
    ours: &[Output],
    llama: &[Vec<Output>],
    eos: Option<u32>,
) -> (Agreement, Agreement) {
    let name = |i: usize| format!("{}/{}t", SETTINGS[i].0, SETTINGS[i].1);
    let mut pairs = Vec::new();
    for i in 0..llama.len() {
        for j in i + 1..llama.len() {
            let a = Agreement::of(&llama[i], &llama[j], eos);
            eprintln!("llama.cpp {} ~ {}: {a:?}", name(i), name(j));
            pairs.push(a);
        }
    }
    let mut against = Vec::new();
    for (i, run) in llama.iter().enumerate() {
        let a = Agreement::of(run, ours, eos);
        eprintln!("llama.cpp {} ~ ours: {a:?}", name(i));
        against.push(a);
    }
    let (spread, median) = (Agreement::loosest(&pairs), Agreement::median(&against));
    eprintln!("llama.cpp's spread (loosest pair): {spread:?}");
    eprintln!("ours, median over its settings:    {median:?}");
    (spread, median)
}

/// What a live comparison holds our median to whatever llama.cpp's spread: the greedy and
/// first-token counts at least, the KL below (top-10 overlap at least 8 always).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Floors {
    pub(crate) greedy: usize,
    pub(crate) first: usize,
    pub(crate) kl: f64,
}

/// The live comparison of both agreement tests: llama.cpp (`bin`) under every one of
/// [`SETTINGS`] and our engine on the same `prompts` (token ids of `texts`), each prompt
/// printed against llama.cpp's defaults, then [`compare_with_settings`]; writes `fixture`
/// when asked to (`AIKERNEL_LLAMA_CPP_FIXTURES=write`), and asserts that our median is
/// within llama.cpp's spread ([`Agreement::outside`]) and above the `floors`.
pub(crate) fn check_live(
    bin: &Path,
    model: &Model,
    model_file: &Path,
    prompts: &[Vec<u32>],
    texts: &[(&str, bool)],
    fixture: &str,
    floors: &Floors,
) {
    let llama = run_settings(bin, model_file, prompts);
    let eos = model.tokenizer().eos_token_id();
    let ours: Vec<Output> = prompts.iter().map(|p| ours(model, p)).collect();
    for (i, (o, l)) in ours.iter().zip(&llama[0]).enumerate() {
        let d = diff(&l.1, &o.1);
        eprintln!(
            "prompt {i:2} tokens agree: {} | ours vs llama.cpp: max {:.3} centred {:.3} KL {:.5} top10 {}",
            same_tokens(&l.0, &o.0, eos),
            d.max,
            d.centred,
            d.kl,
            d.overlap
        );
    }
    let (spread, median) = compare_with_settings(&ours, &llama, eos);
    if super::llama_cpp::writing_fixtures() {
        let mut head = super::llama_cpp::head(Some(model_file));
        head["n_gen"] = N_GEN.into();
        head["top_k"] = TOP_K.into();
        head["llama_cpp_spread"] = json!({
            "settings": SETTINGS,
            "greedy_agree": spread.greedy,
            "first_token_agree": spread.first,
            "max_abs": round4(f64::from(spread.max)),
            "kl": round4(spread.kl),
            "top10_overlap": spread.overlap,
        });
        let cases: Vec<Value> = (0..prompts.len())
            .map(|i| summary(texts[i], &prompts[i], &llama[0][i], &llama[1][i]))
            .collect();
        super::llama_cpp::write_fixture(fixture, &head, &cases);
    }
    let outside = median.outside(&spread, prompts.len());
    assert!(
        outside.is_empty(),
        "further from llama.cpp than its own settings are from each other: {}",
        outside.join("; ")
    );
    assert!(
        median.greedy >= floors.greedy,
        "greedy agreement {}",
        median.greedy
    );
    assert!(
        median.first >= floors.first,
        "first token agrees on {}",
        median.first
    );
    assert!(median.kl < floors.kl, "KL {}", median.kl);
    assert!(median.overlap >= 8, "top-10 overlap {}", median.overlap);
}

/// KL divergence of softmax(q) from softmax(p), in nats.
pub(crate) fn kl_div(p: &[f32], q: &[f32]) -> f64 {
    let (lp, lq) = (log_sum_exp(p), log_sum_exp(q));
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let la = f64::from(a) - lp;
            libm::exp(la) * (la - (f64::from(b) - lq))
        })
        .sum()
}

pub(crate) fn top_k(l: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..l.len()).collect();
    idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Whether `b` continues like `a` for `N_GEN` tokens, or through `a`'s EOS when `a` stopped.
pub(crate) fn same_tokens(a: &[u32], b: &[u32], eos: Option<u32>) -> bool {
    let n = a
        .iter()
        .position(|&t| Some(t) == eos)
        .map_or(N_GEN, |p| p + 1)
        .min(N_GEN);
    a.len() >= n && b.len() >= n && a[..n] == b[..n]
}

/// Differences between two logit vectors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Diff {
    /// Largest absolute difference.
    pub(crate) max: f32,
    /// Largest difference after removing the mean difference (softmax ignores a shift).
    pub(crate) centred: f64,
    /// KL(a || b) of the softmaxes, nats.
    pub(crate) kl: f64,
    /// Whether the argmax agrees.
    pub(crate) top1: bool,
    /// Size of the intersection of the top-10 sets.
    pub(crate) overlap: usize,
}

pub(crate) fn diff(a: &[f32], b: &[f32]) -> Diff {
    assert_eq!(a.len(), b.len(), "vocabulary sizes differ");
    let shift = a.iter().zip(b).map(|(x, y)| f64::from(x - y)).sum::<f64>() / a.len() as f64;
    let (ta, tb) = (top_k(a, 10), top_k(b, 10));
    Diff {
        max: a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max),
        centred: a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(x - y) - shift).abs())
            .fold(0f64, f64::max),
        kl: kl_div(a, b),
        top1: ta[0] == tb[0],
        overlap: ta.iter().filter(|t| tb.contains(t)).count(),
    }
}

/// Our greedy tokens and first-step logits for one prompt.
pub(crate) fn ours(model: &Model, prompt: &[u32]) -> (Vec<u32>, Vec<f32>) {
    let opts = GenerateOptions {
        max_tokens: N_GEN as u32,
        ..GenerateOptions::default()
    };
    let mut rec = Record::default();
    let g = generate(model, prompt, &opts, Some(&mut rec)).unwrap();
    (g.tokens, rec.0.swap_remove(0))
}

pub(crate) fn log_sum_exp(l: &[f32]) -> f64 {
    let m = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    f64::from(m) + libm::log(l.iter().map(|&x| libm::exp(f64::from(x - m))).sum::<f64>())
}

pub(crate) fn mean(l: &[f32]) -> f64 {
    l.iter().map(|&x| f64::from(x)).sum::<f64>() / l.len() as f64
}

/// Four decimals: far below the tolerances, and short in the fixture.
pub(crate) fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

pub(crate) fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

/// What a fixture keeps of llama.cpp's answer to one prompt.
pub(crate) fn summary(
    (text, chat): (&str, bool),
    prompt: &[u32],
    llama: &Output,
    llama32: &Output,
) -> Value {
    let logits = &llama.1;
    let top: Vec<Value> = top_k(logits, TOP_K)
        .into_iter()
        .map(|t| json!([t, round4(f64::from(logits[t]))]))
        .collect();
    json!({
        "prompt": text,
        "chat": chat,
        "ids": prompt,
        "tokens": llama.0,
        "tokens_f32": llama32.0,
        "top": top,
        "lse": round4(log_sum_exp(logits)),
        "mean": round4(mean(logits)),
    })
}

/// Ours against the fixture's summary of llama.cpp's first-step logits: the maximum and
/// centred differences over llama.cpp's top tokens, the KL over those tokens plus the rest of
/// the vocabulary as one outcome, and the difference of the means.
pub(crate) fn diff_summary(case: &Value, ours: &[f32]) -> (Diff, f64) {
    let top: Vec<(usize, f64)> = case["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = usize::try_from(p[0].as_u64().unwrap()).unwrap();
            (id, p[1].as_f64().unwrap())
        })
        .collect();
    assert!(top.len() >= 10, "the fixture keeps fewer than 10 logits");
    let shift = mean(ours) - case["mean"].as_f64().unwrap();
    let (lp, lq) = (case["lse"].as_f64().unwrap(), log_sum_exp(ours));
    let (mut kl, mut p_top, mut q_top) = (0f64, 0f64, 0f64);
    let (mut max, mut centred) = (0f32, 0f64);
    for &(t, v) in &top {
        let ours = f64::from(ours[t]);
        max = max.max((ours - v).abs() as f32);
        centred = centred.max((ours - v - shift).abs());
        let (la, lb) = (v - lp, ours - lq);
        kl += libm::exp(la) * (la - lb);
        p_top += libm::exp(la);
        q_top += libm::exp(lb);
    }
    let (p_rest, q_rest) = ((1.0 - p_top).max(0.0), (1.0 - q_top).max(f64::MIN_POSITIVE));
    if p_rest > 0.0 {
        kl += p_rest * libm::log(p_rest / q_rest);
    }
    let theirs10: Vec<usize> = top[..10].iter().map(|&(t, _)| t).collect();
    let ours10 = top_k(ours, 10);
    let d = Diff {
        max,
        centred,
        kl,
        top1: ours10[0] == theirs10[0],
        overlap: ours10.iter().filter(|t| theirs10.contains(t)).count(),
    };
    (d, shift)
}
