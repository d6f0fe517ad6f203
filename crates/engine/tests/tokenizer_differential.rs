//! Differential test against a live llama.cpp `llama-tokenize` (skipped when the binary is
//! not built: scripts/build-llama-cpp.sh). Random strings from a pool of tricky pieces:
//! digits of several scripts, letters, marks, emoji, whitespace of every kind, special
//! tokens and their fragments, contractions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::tokenizer::Tokenizer;

const POOL: &[&str] = &[
    "a",
    "Z",
    "the",
    " the",
    "Hello",
    "é",
    "e\u{301}",
    "ß",
    "ﬁ",
    "中",
    "文字",
    "の",
    "한",
    "ع",
    "ש",
    "क",
    "ไ",
    "Ж",
    "Ω",
    "0",
    "7",
    "42",
    "١",
    "٣",
    "²",
    "½",
    "Ⅻ",
    "１",
    "𝟙",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{85}",
    "\u{200b}",
    "\u{200d}",
    "\u{feff}",
    "\u{1}",
    "\u{7f}",
    "\u{378}",
    "\u{e000}",
    "'s",
    "'S",
    "'ll",
    "'re",
    "'",
    "\"",
    ".",
    ",",
    "!",
    "?",
    "...",
    "-",
    "_",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "<",
    ">",
    "|",
    "<|",
    "|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "🇩🇪",
    "❤️",
    "$",
    "€",
    "→",
    "∑",
    "fn",
    "let",
    "://",
    "@",
    "#",
    "%",
    "&",
    "*",
    "+",
    "=",
    "~",
    "`",
    "^",
    "\\",
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

fn llama_tokenize(bin: &PathBuf, model: &PathBuf, text: &str, special: bool) -> Vec<u32> {
    let mut cmd = Command::new(bin);
    cmd.arg("-m")
        .arg(model)
        .args(["--stdin", "--no-escape", "--ids", "--log-disable"]);
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
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    let list = s.trim().lines().last().unwrap().trim_matches(['[', ']']);
    list.split(", ")
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().unwrap())
        .collect()
}

#[test]
fn random_strings_match_live_llama_cpp() {
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let bin = std::env::var_os("LLAMA_TOKENIZE").map_or_else(
        || home.join(".cache/aikernel/llama.cpp/build/bin/llama-tokenize"),
        PathBuf::from,
    );
    let model = std::env::var_os("AIKERNEL_MODEL").map_or_else(
        || home.join(".cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        PathBuf::from,
    );
    if !bin.exists() || !model.exists() {
        eprintln!("skipping: need {} and {}", bin.display(), model.display());
        return;
    }
    let cases: usize = std::env::var("TOKENIZER_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let tok = Tokenizer::from_gguf(&GgufFile::open(&model).unwrap()).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    for _ in 0..cases {
        let len = 1 + rng.next() % 24;
        let text: String = (0..len)
            .map(|_| POOL[(rng.next() % POOL.len() as u64) as usize])
            .collect();
        for special in [true, false] {
            let want = llama_tokenize(&bin, &model, &text, special);
            let got = tok.encode(&text, special);
            if got != want {
                failures.push(format!(
                    "special={special} {text:?}\n  llama.cpp {want:?}\n  ours      {got:?}"
                ));
            }
        }
    }
    eprintln!(
        "{} of {} encodings identical",
        cases * 2 - failures.len(),
        cases * 2
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
