//! Differential test against llama.cpp's `llama-tokenize`. Random strings from a pool of
//! tricky pieces (digits of several scripts, letters, marks, emoji, whitespace of every kind,
//! special tokens and their fragments, contractions), tokenized with the default model's
//! vocabulary under each supported pre-tokenizer: `smollm` as shipped, and `llama-bpe`,
//! `gpt-2` and `qwen2` through copies of its metadata with `tokenizer.ggml.pre` replaced.
//!
//! llama.cpp's ids for the first `FIXTURE_CASES` strings are committed
//! (`fixtures/llama_cpp_tokenize_random.json`) and checked on every run; a live llama-tokenize
//! (scripts/build-llama-cpp.sh) is compared as well, over `TOKENIZER_DIFF_CASES` strings
//! (default 30), and skips only as docs/testing.md allows (key `llama-cpp`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aikernel_engine::gguf::{GgufFile, GgufWriter, MetaValue};
use aikernel_engine::tokenizer::Tokenizer;
use serde_json::{Value, json};

use common::llama_cpp;

/// The committed llama.cpp ids.
const FIXTURE: &str = "llama_cpp_tokenize_random.json";
/// Strings in the fixture.
const FIXTURE_CASES: usize = 30;

#[rustfmt::skip]
const POOL: &[&str] = &[
    "a", "Z", "the", " the", "Hello", "é", "e\u{301}", "ß", "ﬁ", "中", "文字", "の", "한",
    "ع", "ש", "क", "ไ", "Ж", "Ω", "0", "7", "42", "1234", "١", "٣", "²", "½", "Ⅻ", "１",
    "𝟙", " ", "  ", "\t", "\n", "\r\n", "\r", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}",
    "\u{200b}", "\u{200d}", "\u{feff}", "\u{1}", "\u{7f}", "\u{378}", "\u{e000}",
    "'s", "'S", "'ll", "'LL", "'re", "'Ve", "'", "\"", ".", ",", "!", "?", "...", "-", "_",
    "(", ")", "{", "}", "[", "]", "<", ">", "|", "<|", "|>", "<|im_start|>", "<|im_end|>",
    "<|endoftext|>", "<|im_start", "😀", "👍🏽", "👨‍👩‍👧", "🇩🇪", "❤️", "$", "€", "→", "∑",
    "fn", "let", "://", "@", "#", "%", "&", "*", "+", "=", "~", "`", "^", "\\",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn llama_tokenize(bin: &Path, model: &Path, text: &str, special: bool) -> Vec<u32> {
    let mut cmd = Command::new(bin);
    cmd.arg("-m").arg(model).args([
        "--stdin",
        "--no-escape",
        "--ids",
        "--log-disable",
        "--no-bos",
    ]);
    if !special {
        cmd.arg("--no-parse-special");
    }
    let mut child = cmd
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
    assert!(
        out.status.success(),
        "llama-tokenize failed on {}",
        model.display()
    );
    let s = String::from_utf8(out.stdout).unwrap();
    let list = s.trim().lines().last().unwrap().trim_matches(['[', ']']);
    list.split(", ")
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect()
}

/// The model's metadata (no tensors) with another pre-tokenizer.
fn vocab_only_copy(model: &GgufFile, pre: &str, dir: &Path) -> PathBuf {
    let mut w = GgufWriter::new();
    for (k, v) in model.metadata() {
        w.add_metadata(k.clone(), v.clone());
    }
    w.add_metadata("tokenizer.ggml.pre", MetaValue::Str(pre.into()));
    let path = dir.join(format!("vocab-{pre}.gguf"));
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    path
}

/// The `n` random strings, the same on every run.
fn texts(n: usize) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|_| {
            let len = 1 + rng.next() % 24;
            (0..len)
                .map(|_| POOL[(rng.next() % POOL.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// The model and its vocabulary-only copies with the other pre-tokenizers, in a scratch
/// folder removed on drop.
struct Variants {
    dir: PathBuf,
    files: Vec<(&'static str, PathBuf)>,
}

impl Variants {
    /// `name` keeps the scratch folders of concurrent tests apart.
    fn new(model_path: &Path, name: &str) -> Variants {
        let model = GgufFile::open(model_path).unwrap();
        let dir = std::env::temp_dir().join(format!("aikernel-tok-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = vec![
            ("smollm", model_path.to_path_buf()),
            ("llama-bpe", vocab_only_copy(&model, "llama-bpe", &dir)),
            ("gpt-2", vocab_only_copy(&model, "gpt-2", &dir)),
            ("qwen2", vocab_only_copy(&model, "qwen2", &dir)),
        ];
        Variants { dir, files }
    }

    fn tokenizers(&self) -> Vec<(&'static str, Tokenizer)> {
        self.files
            .iter()
            .map(|(pre, path)| {
                let tok = Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap();
                (*pre, tok)
            })
            .collect()
    }
}

impl Drop for Variants {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u32::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn random_strings_match_llama_cpp_fixture() {
    let model_path = common::model_path();
    let fixture = llama_cpp::read_fixture(FIXTURE);
    llama_cpp::check_model(&fixture, &model_path);
    let cases = fixture["cases"].as_array().unwrap();
    let texts = texts(FIXTURE_CASES);
    assert_eq!(
        cases
            .iter()
            .map(|c| c["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        texts,
        "{FIXTURE} is stale: rerun scripts/gen-llama-cpp-fixtures.sh"
    );
    let variants = Variants::new(&model_path, "fixture");
    let mut failures = Vec::new();
    let mut total = 0;
    for (pre, tok) in variants.tokenizers() {
        for (case, text) in cases.iter().zip(&texts) {
            for (key, special) in [("special", true), ("plain", false)] {
                let want = ids(&case[pre][key]);
                let got = tok.encode(text, special);
                total += 1;
                if got != want {
                    failures.push(format!(
                        "{pre} special={special} {text:?}\n  llama.cpp {want:?}\n  ours      {got:?}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} of {total} encodings identical to the committed llama.cpp ids",
        total - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn random_strings_match_live_llama_cpp() {
    let model_path = common::model_path();
    let Some(bin) = llama_cpp::bin("llama-tokenize", "LLAMA_TOKENIZE") else {
        return;
    };
    let write = llama_cpp::writing_fixtures();
    let n = if write {
        FIXTURE_CASES
    } else {
        std::env::var("TOKENIZER_DIFF_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(FIXTURE_CASES)
    };
    let texts = texts(n);
    let variants = Variants::new(&model_path, "live");
    let mut fixture: Vec<Value> = texts.iter().map(|t| json!({ "text": t })).collect();
    let mut failures = Vec::new();
    let mut total = 0;
    for ((pre, path), (_, tok)) in variants.files.iter().zip(variants.tokenizers()) {
        for (text, case) in texts.iter().zip(&mut fixture) {
            for (key, special) in [("special", true), ("plain", false)] {
                let want = llama_tokenize(&bin, path, text, special);
                let got = tok.encode(text, special);
                total += 1;
                if got != want {
                    failures.push(format!(
                        "{pre} special={special} {text:?}\n  llama.cpp {want:?}\n  ours      {got:?}"
                    ));
                }
                case[*pre][key] = json!(want);
            }
        }
    }
    eprintln!("{} of {total} encodings identical", total - failures.len());
    if write {
        llama_cpp::write_fixture(FIXTURE, &llama_cpp::head(Some(&model_path)), &fixture);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
