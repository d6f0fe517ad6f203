//! The `llama` (with Llama 3.x RoPE frequency factors), `qwen2` and `qwen3` architectures on
//! tiny K-quant models built here (`common::tiny_arch`): their configuration, the refusal of
//! what they do not run, bit-identical logits on every kernel, 1, 2 and 3 threads, prefill
//! chunks and batched or alone, and agreement with llama.cpp: its whole first-step logits
//! under its default settings and with an f32 cache, its greedy tokens and `llama-tokenize`'s
//! ids (fixtures `llama_cpp_tiny_{llama3,qwen2,qwen3}.json`, and live; the live test skips
//! only as docs/testing.md allows, key `llama-cpp`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use aikernel_engine::gguf::{GgufFile, GgufWriter, MetaValue};
use aikernel_engine::{
    Arch, EngineError, GenerateOptions, Kernel, Model, generate, generate_batch,
};
use serde_json::{Value, json};

use common::agreement::{Diff, build_ref, diff, ids, llama_cpp, ours, run_ref, top_k};
use common::llama_cpp;
use common::tiny_arch::{self as tiny, Family};

fn load(w: &GgufWriter<'_>) -> Result<Model, EngineError> {
    Model::from_gguf(GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap())
}

#[test]
fn tiny_models_load_with_their_configuration() {
    let l = load(&tiny::tiny(Family::Llama3)).unwrap();
    let c = l.config();
    assert_eq!(
        (c.arch, c.head_dim, c.q_dim(), c.kv_dim()),
        (Arch::Llama, 64, 256, 128)
    );
    assert_eq!((c.rope_base, c.rope_freq_scale), (500_000.0, 1.0));
    let q2 = load(&tiny::tiny(Family::Qwen2)).unwrap();
    assert_eq!(q2.config().arch, Arch::Qwen2);
    let q3 = load(&tiny::tiny(Family::Qwen3)).unwrap();
    let c = q3.config();
    assert_eq!(
        (c.arch, c.head_dim, c.q_dim(), c.kv_dim()),
        (Arch::Qwen3, 96, 384, 192)
    );
    for m in [&l, &q2, &q3] {
        assert_eq!(m.config().sliding_window, None);
        assert_eq!(m.config().final_logit_softcap, None);
    }
    // Linear RoPE scaling as llama.cpp reads it: the type defaults to linear, `none` ignores
    // the factor, a factor of 0 means none.
    let scale = |ty: Option<&str>, factor: Option<f32>| {
        let mut w = tiny::tiny(Family::Qwen2);
        if let Some(t) = ty {
            w.add_metadata("qwen2.rope.scaling.type", MetaValue::Str(t.into()));
        }
        if let Some(f) = factor {
            w.add_metadata("qwen2.rope.scaling.factor", MetaValue::F32(f));
        }
        load(&w).unwrap().config().rope_freq_scale
    };
    assert_eq!(scale(None, Some(4.0)), 0.25);
    assert_eq!(scale(Some("linear"), Some(4.0)), 0.25);
    assert_eq!(scale(Some("none"), Some(4.0)), 1.0);
    assert_eq!(scale(Some("linear"), Some(0.0)), 1.0);
    assert_eq!(scale(Some("linear"), None), 1.0);
}

/// `w` with metadata `key` set to `value`.
fn with_meta(mut w: GgufWriter<'static>, key: &str, value: MetaValue) -> GgufWriter<'static> {
    w.add_metadata(key, value);
    w
}

/// `w` plus an F32 tensor of zeros.
fn with_tensor(mut w: GgufWriter<'static>, name: &str, len: u64) -> GgufWriter<'static> {
    w.add_tensor(
        name,
        &[len],
        aikernel_engine::gguf::GgmlType::F32,
        vec![0u8; 4 * len as usize],
    )
    .unwrap();
    w
}

#[test]
fn what_the_engine_does_not_run_is_refused_naming_it() {
    let unsupported = |w: GgufWriter<'static>, needle: &str| match load(&w) {
        Err(EngineError::Unsupported(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("{other:?}"),
    };
    // An architecture: the error lists the supported ones, the new ones among them.
    let w = with_meta(
        tiny::tiny(Family::Qwen2),
        "general.architecture",
        MetaValue::Str("phi3".into()),
    );
    let err = load(&w).unwrap_err().to_string();
    for name in ["\"phi3\"", "llama", "qwen2", "qwen3", "gemma3"] {
        assert!(err.contains(name), "{err}");
    }
    // RoPE scalings other than none/linear/factors, and partial rotary.
    unsupported(
        with_meta(
            tiny::tiny(Family::Llama3),
            "llama.rope.scaling.type",
            MetaValue::Str("yarn".into()),
        ),
        "\"yarn\"",
    );
    unsupported(
        with_meta(
            tiny::tiny(Family::Qwen2),
            "qwen2.rope.dimension_count",
            MetaValue::U32(32),
        ),
        "qwen2.rope.dimension_count",
    );
    // A tensor the architecture does not read: an FFN bias, Llama's factors in a Qwen file.
    unsupported(
        with_tensor(tiny::tiny(Family::Qwen3), "blk.1.ffn_up.bias", tiny::FF),
        "blk.1.ffn_up.bias",
    );
    unsupported(
        with_tensor(tiny::tiny(Family::Qwen2), "rope_freqs.weight", 32),
        "rope_freqs.weight",
    );
}

/// Token ids and the logits hash of greedy and sampled generation on every kernel this CPU
/// has, 1, 2 and 3 threads and prefill chunks; all must be equal. Returns them.
fn same_everywhere(m: &Model, prompt: &[u32]) -> Vec<(Vec<u32>, [u8; 32])> {
    let run = |kernel, threads, prefill_chunk, temperature_milli| {
        let opts = GenerateOptions {
            max_tokens: 6,
            temperature_milli,
            seed: 9,
            threads,
            prefill_chunk,
            kernel,
            ..GenerateOptions::default()
        };
        let g = generate(m, prompt, &opts, None).unwrap();
        (g.tokens, g.logits_sha256)
    };
    let want = vec![
        run(Kernel::Scalar, 1, None, 0),
        run(Kernel::Scalar, 1, None, 800),
    ];
    for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
        for threads in [1, 2, 3] {
            for chunk in [None, Some(1), Some(5)] {
                let got = vec![
                    run(kernel, threads, chunk, 0),
                    run(kernel, threads, chunk, 800),
                ];
                assert_eq!(got, want, "{kernel}, {threads} threads, chunk {chunk:?}");
            }
        }
    }
    want
}

#[test]
fn tiny_models_are_bit_identical_on_every_path() {
    let mut seen = Vec::new();
    for f in Family::ALL {
        let m = load(&tiny::tiny(f)).unwrap();
        let ps = prompts(f, &m);
        seen.push(same_everywhere(&m, &ps[0])[0].1);
        // Batched with the other prompts (greedy and sampled) as alone, on 2 threads.
        let reqs: Vec<(Vec<u32>, GenerateOptions)> = ps
            .iter()
            .flat_map(|p| {
                [0, 800].map(|temperature_milli| {
                    let opts = GenerateOptions {
                        max_tokens: 5,
                        temperature_milli,
                        seed: 3,
                        threads: 2,
                        ..GenerateOptions::default()
                    };
                    (p.clone(), opts)
                })
            })
            .collect();
        let alone: Vec<_> = reqs
            .iter()
            .map(|(p, o)| generate(&m, p, o, None).unwrap())
            .collect();
        assert_eq!(generate_batch(&m, &reqs).unwrap(), alone, "{}", f.name());
    }
    // Llama 3's RoPE factors are read: without them the logits differ.
    let m = load(&tiny::tiny_llama3_unscaled()).unwrap();
    let opts = GenerateOptions {
        max_tokens: 6,
        ..GenerateOptions::default()
    };
    let plain = generate(&m, &prompts(Family::Llama3, &m)[0], &opts, None).unwrap();
    assert_ne!(plain.logits_sha256, seen[0]);
}

/// The prompts fed to both engines: BOS (Llama 3) or nothing, then text; the longest runs
/// past the positions where Llama 3's factors change the angles.
fn prompts(f: Family, m: &Model) -> Vec<Vec<u32>> {
    [
        "Then the\nthing, the 12 others\n",
        "he",
        " the other thing is the theory, 2024",
    ]
    .iter()
    .map(|t| {
        let bos = (f == Family::Llama3).then_some(tiny::BOS);
        bos.into_iter()
            .chain(m.tokenizer().encode(t, false))
            .collect()
    })
    .collect()
}

/// The fixture of family `f`.
fn fixture_name(f: Family) -> String {
    format!("llama_cpp_tiny_{}.json", f.name())
}

/// The tiny model written to a scratch file (llama.cpp reads files; the fixture names its
/// sha256), loaded, and its prompts. `tag` keeps the files of concurrent tests apart.
fn tiny_file(f: Family, tag: &str) -> (std::path::PathBuf, Model, Vec<Vec<u32>>) {
    let path = std::env::temp_dir().join(format!(
        "aikernel-tiny-{}-{tag}-{}.gguf",
        f.name(),
        std::process::id()
    ));
    std::fs::write(&path, tiny::tiny(f).to_bytes().unwrap()).unwrap();
    let m = Model::load(&path).unwrap();
    let p = prompts(f, &m);
    (path, m, p)
}

/// Largest |Δlogit| allowed against llama.cpp, as for the default model
/// (`llama_cpp_agreement`). Both engines read the same quantized weights; they differ in
/// activation quantization (ours per 32 values, llama.cpp's Q8_K per 256 for K-quant
/// weights), the order of f32 sums, llama.cpp's f16 cache and RoPE's rounding. Measured
/// figures: docs/engine.md.
const MAX_ABS: f32 = 1.5;
/// Largest KL divergence (nats) of llama.cpp's first-step distribution from ours, as for the
/// default model.
const MAX_KL: f64 = 0.02;
/// Every prompt's first and second token in llama.cpp's logits are at least this far apart,
/// so that first-token agreement tests the arithmetic rather than a near tie (llama.cpp's own
/// settings differ by up to 0.15 on these models).
const MIN_GAP: f32 = 0.3;

/// llama.cpp's first-step logits (default settings, f32 cache) and greedy tokens per prompt.
struct Reference {
    logits: Vec<Vec<f32>>,
    logits_f32: Vec<Vec<f32>>,
    tokens: Vec<Vec<u32>>,
}

/// Ours against `r`: every prompt's first token the same, top-10 sets within one token, and
/// the worst `Diff`; also llama.cpp against itself (default against f32 cache).
fn compare(f: Family, m: &Model, prompts: &[Vec<u32>], r: &Reference) -> (Diff, Diff) {
    let (mut worst, mut own) = (Diff::default(), Diff::default());
    worst.overlap = 10;
    for (i, p) in prompts.iter().enumerate() {
        let (tokens, logits) = ours(m, p);
        let d = diff(&r.logits[i], &logits);
        let s = diff(&r.logits[i], &r.logits_f32[i]);
        let top2 = top_k(&r.logits[i], 2);
        let gap = r.logits[i][top2[0]] - r.logits[i][top2[1]];
        assert!(
            gap >= MIN_GAP,
            "{} prompt {i}: llama.cpp's first and second token are {gap} apart: a near tie \
             does not test agreement (choose another prompt)",
            f.name()
        );
        let same = tokens
            .iter()
            .zip(&r.tokens[i])
            .take_while(|(a, b)| a == b)
            .count();
        eprintln!(
            "{} prompt {i} ({} tokens): {d:?}; greedy tokens agree for {same}; llama.cpp's \
             default vs f32 cache: {s:?}",
            f.name(),
            p.len()
        );
        assert!(
            d.top1 && tokens[0] == r.tokens[i][0],
            "{} prompt {i}: {d:?}",
            f.name()
        );
        assert!(d.overlap >= 8, "{} prompt {i}: {d:?}", f.name());
        worst.max = worst.max.max(d.max);
        worst.kl = worst.kl.max(d.kl);
        worst.overlap = worst.overlap.min(d.overlap);
        own.max = own.max.max(s.max);
        own.kl = own.kl.max(s.kl);
    }
    (worst, own)
}

/// Texts tokenized by both engines with each tiny vocabulary (no BOS, no special tokens):
/// digit runs that the Llama 3 pre-tokenizer cuts in threes and Qwen 2's one by one, letters,
/// contractions, punctuation and whitespace runs.
const TOKENIZE: &[&str] = &[
    "12345 and 1234512 then 45, 123",
    " the 1234th thing\n\n 42 45 4512",
    "they'RE here:  the\t\tthe\r\n12\u{a0}3 ١٢٣ 12³ x45y",
];

/// `llama-tokenize`'s ids for `text` (no BOS, special tokens not parsed).
fn llama_tokenize(bin: &std::path::Path, model: &std::path::Path, text: &str) -> Vec<u32> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args([
            "--stdin",
            "--no-escape",
            "--ids",
            "--log-disable",
            "--no-bos",
        ])
        .arg("--no-parse-special")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "llama-tokenize failed");
    let s = String::from_utf8(out.stdout).unwrap();
    let list = s.trim().lines().last().unwrap().trim_matches(['[', ']']);
    list.split(", ")
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect()
}

/// Our ids for every `TOKENIZE` text against `want`'s.
fn check_tokenize(f: Family, m: &Model, want: &[Vec<u32>]) {
    assert_eq!(want.len(), TOKENIZE.len(), "{} fixture is stale", f.name());
    for (text, want) in TOKENIZE.iter().zip(want) {
        assert_eq!(
            &m.tokenizer().encode(text, false),
            want,
            "{} tokenizes {text:?} unlike llama.cpp",
            f.name()
        );
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn tiny_models_match_llama_cpp_fixtures() {
    let mut tokenized = Vec::new();
    for f in Family::ALL {
        let name = fixture_name(f);
        let (path, m, prompts) = tiny_file(f, "fixture");
        let fixture = llama_cpp::read_fixture(&name);
        llama_cpp::check_model(&fixture, &path);
        let _ = std::fs::remove_file(&path);
        let cases = fixture["cases"].as_array().unwrap();
        assert_eq!(cases.len(), prompts.len(), "{name} is stale");
        for (c, p) in cases.iter().zip(&prompts) {
            assert_eq!(&ids(&c["ids"]), p, "{name} is stale");
        }
        let r = Reference {
            logits: cases.iter().map(|c| floats(&c["logits"])).collect(),
            logits_f32: cases.iter().map(|c| floats(&c["logits_f32"])).collect(),
            tokens: cases.iter().map(|c| ids(&c["tokens"])).collect(),
        };
        let (worst, own) = compare(f, &m, &prompts, &r);
        eprintln!(
            "{}: worst {worst:?}, llama.cpp's own spread {own:?}",
            f.name()
        );
        assert!(worst.max < MAX_ABS, "{}: {worst:?}", f.name());
        assert!(worst.kl < MAX_KL, "{}: {worst:?}", f.name());
        let tok: Vec<Vec<u32>> = fixture["tokenize"]
            .as_array()
            .unwrap()
            .iter()
            .map(ids)
            .collect();
        check_tokenize(f, &m, &tok);
        tokenized.push(tok);
    }
    // The digit merges tell the pre-tokenizers apart: Llama 3's `123`/`45`, Qwen 2's digits.
    assert_ne!(tokenized[0][0], tokenized[1][0]);
    assert_eq!(tokenized[1], tokenized[2]);
}

#[test]
fn tiny_models_match_live_llama_cpp() {
    let (src, build) = match llama_cpp() {
        Ok(v) => v,
        Err(why) => {
            llama_cpp::unavailable(&why);
            return;
        }
    };
    let bin = build_ref(&src, &build);
    let Some(tokenize_bin) = llama_cpp::bin("llama-tokenize", "LLAMA_TOKENIZE") else {
        return;
    };
    for f in Family::ALL {
        let (path, m, prompts) = tiny_file(f, "live");
        let tok: Vec<Vec<u32>> = TOKENIZE
            .iter()
            .map(|t| llama_tokenize(&tokenize_bin, &path, t))
            .collect();
        check_tokenize(f, &m, &tok);
        let def = run_ref(&bin, &path, &prompts, "default");
        let f32c = run_ref(&bin, &path, &prompts, "f32");
        let r = Reference {
            logits: def.iter().map(|o| o.1.clone()).collect(),
            logits_f32: f32c.iter().map(|o| o.1.clone()).collect(),
            tokens: def.iter().map(|o| o.0.clone()).collect(),
        };
        let (worst, own) = compare(f, &m, &prompts, &r);
        eprintln!(
            "{}: worst {worst:?}, llama.cpp's own spread {own:?}",
            f.name()
        );
        if llama_cpp::writing_fixtures() {
            let mut head = llama_cpp::head(Some(&path));
            head["tokenize"] = json!(tok);
            let round = |l: &[f32]| -> Vec<f64> {
                l.iter()
                    .map(|&x| (f64::from(x) * 1e6).round() / 1e6)
                    .collect()
            };
            let cases: Vec<Value> = prompts
                .iter()
                .zip(def.iter().zip(&f32c))
                .map(|(p, (d, s))| {
                    json!({"ids": p, "tokens": d.0, "logits": round(&d.1), "logits_f32": round(&s.1)})
                })
                .collect();
            llama_cpp::write_fixture(&fixture_name(f), &head, &cases);
        }
        let _ = std::fs::remove_file(&path);
        assert!(worst.max < MAX_ABS, "{}: {worst:?}", f.name());
        assert!(worst.kl < MAX_KL, "{}: {worst:?}", f.name());
    }
}
