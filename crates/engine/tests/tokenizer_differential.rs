//! Differential test against a live llama.cpp `llama-tokenize` (skipped when the binary is
//! not built: scripts/build-llama-cpp.sh). Random strings from a pool of tricky pieces
//! (digits of several scripts, letters, marks, emoji, whitespace of every kind, special
//! tokens and their fragments, contractions), tokenized with the default model's vocabulary
//! under each supported pre-tokenizer: `smollm` as shipped, and `llama-bpe` and `gpt-2`
//! through copies of its metadata with `tokenizer.ggml.pre` replaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aikernel_engine::gguf::{GgufFile, GgufWriter, MetaValue};
use aikernel_engine::tokenizer::Tokenizer;

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

#[test]
fn random_strings_match_live_llama_cpp() {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let bin = std::env::var_os("LLAMA_TOKENIZE").map_or_else(
        || home.join(".cache/aikernel/llama.cpp/build/bin/llama-tokenize"),
        PathBuf::from,
    );
    let model_path = std::env::var_os("AIKERNEL_MODEL").map_or_else(
        || home.join(".cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        PathBuf::from,
    );
    if !bin.exists() || !model_path.exists() {
        eprintln!(
            "skipping: need {} and {}",
            bin.display(),
            model_path.display()
        );
        return;
    }
    let cases: usize = std::env::var("TOKENIZER_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let model = GgufFile::open(&model_path).unwrap();
    let dir = std::env::temp_dir().join(format!("aikernel-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let variants = [
        ("smollm", model_path.clone()),
        ("llama-bpe", vocab_only_copy(&model, "llama-bpe", &dir)),
        ("gpt-2", vocab_only_copy(&model, "gpt-2", &dir)),
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    for (pre, path) in &variants {
        let tok = Tokenizer::from_gguf(&GgufFile::open(path).unwrap()).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..cases {
            let len = 1 + rng.next() % 24;
            let text: String = (0..len)
                .map(|_| POOL[(rng.next() % POOL.len() as u64) as usize])
                .collect();
            for special in [true, false] {
                let want = llama_tokenize(&bin, path, &text, special);
                let got = tok.encode(&text, special);
                total += 1;
                if got != want {
                    failures.push(format!(
                        "{pre} special={special} {text:?}\n  llama.cpp {want:?}\n  ours      {got:?}"
                    ));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{} of {total} encodings identical", total - failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
