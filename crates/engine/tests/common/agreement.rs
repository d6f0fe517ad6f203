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
    let mut child = Command::new(bin)
        .arg(model)
        .arg(N_GEN.to_string())
        .arg("1")
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
