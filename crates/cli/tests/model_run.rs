//! `aikernel model run` as a user runs it: the text streams while the model generates, the
//! prompt can come from a file or standard input, and control tokens (`<|im_end|>`) never
//! show in the text. The tiny model needs no download; the default model shows the real
//! chat template's control tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use std::io::{Read as _, Write as _};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

fn aikernel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aikernel"));
    cmd.env_remove("AIKERNEL_MODEL").env_remove("RUST_LOG");
    cmd
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_prompt_comes_from_an_argument_a_file_or_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    std::fs::write(&model, tiny::tiny_llama_bytes(1)).unwrap();
    let m = model.to_str().unwrap();
    let base = [
        "model",
        "run",
        "--model-file",
        m,
        "--max-tokens",
        "6",
        "--json",
    ];
    let inline = json_of(
        &aikernel()
            .args(base)
            .args(["--prompt", "hello there"])
            .output()
            .unwrap(),
    );
    for key in [
        "text",
        "promptTokens",
        "tokens",
        "logitsSha256",
        "stopReason",
    ] {
        assert!(inline.get(key).is_some(), "{key} missing: {inline}");
    }
    let file = dir.path().join("prompt.txt");
    std::fs::write(&file, "hello there").unwrap();
    let from_file = json_of(
        &aikernel()
            .args(base)
            .args(["--prompt-file", file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(from_file, inline);
    let mut child = aikernel()
        .args(base)
        .args(["--prompt-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello there")
        .unwrap();
    assert_eq!(json_of(&child.wait_with_output().unwrap()), inline);
    // The old flag name still works; no prompt at all is a usage error.
    let old = aikernel()
        .args(["model", "run", "--model", m, "--max-tokens", "6", "--json"])
        .args(["--prompt", "hello there"])
        .output()
        .unwrap();
    assert_eq!(json_of(&old), inline);
    let none = aikernel()
        .args(["model", "run", "--model-file", m])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    // The tiny model's EOS is a control token: whatever is generated, the text has none.
    let text = inline["text"].as_str().unwrap();
    assert!(!text.contains("<|eos|>"), "{text:?}");
}

#[test]
fn a_chat_reply_ends_without_printing_its_control_token() {
    let out = aikernel()
        .args([
            "model",
            "run",
            "--chat",
            "--prompt",
            "Say hello.",
            "--max-tokens",
            "48",
        ])
        .arg("--json")
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(
        v["stopReason"], "Stop",
        "the reply should end with <|im_end|>: {v}"
    );
    let text = v["text"].as_str().unwrap();
    assert!(!text.is_empty() && !text.contains("<|"), "{text:?}");
    let human = aikernel()
        .args([
            "model",
            "run",
            "--chat",
            "--prompt",
            "Say hello.",
            "--max-tokens",
            "48",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8(human.stdout).unwrap();
    assert!(stdout.starts_with(&format!("{text}\n")), "{stdout:?}");
    assert!(!stdout.contains("<|im_end|>"), "{stdout:?}");
}

#[test]
fn text_streams_while_the_model_generates() {
    let mut child = aikernel()
        .args([
            "model",
            "run",
            "--prompt",
            "Once upon a time",
            "--max-tokens",
            "96",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    let started = Instant::now();
    stdout.read_exact(&mut first).unwrap();
    let running = child.try_wait().unwrap().is_none();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(
        running,
        "the first text arrived only when the process had exited ({:?})",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&rest);
    assert!(text.contains("tokens: ["), "{text}");
}

#[test]
fn model_info_describes_a_file_and_says_what_this_engine_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("tiny.gguf");
    std::fs::write(&ok, tiny::tiny_llama_bytes(2)).unwrap();
    let info = json_of(
        &aikernel()
            .args(["model", "info", "--json", ok.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(info["architecture"], "llama", "{info}");
    assert_eq!(info["supported"], true, "{info}");
    assert_eq!(info["sizes"]["layers"], 2, "{info}");
    assert_eq!(info["tensor_types"][0]["type"], "F32", "{info}");
    assert_eq!(info["tensor_types"][0]["tensors"], 2 + 2 * 9, "{info}");
    assert_eq!(info["tokenizer"]["pre"], "gpt-2", "{info}");
    assert!(info["chat_template"].as_str().is_some(), "{info}");

    // An architecture this build does not run is described, and the answer names it and
    // what is supported.
    let mut w = tiny::tiny_llama(1);
    w.add_metadata(
        "general.architecture",
        aikernel_engine::gguf::MetaValue::Str("mamba".into()),
    );
    let other = dir.path().join("mamba.gguf");
    std::fs::write(&other, w.to_bytes().unwrap()).unwrap();
    let info = json_of(
        &aikernel()
            .args(["model", "info", "--json", other.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(info["supported"], false, "{info}");
    let reason = info["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"mamba\"") && reason.contains("llama"),
        "{reason}"
    );
    let text = aikernel()
        .args(["model", "info", other.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("supported     no: ") && text.contains("architecture \"mamba\""),
        "{text}"
    );

    // The real second model: K-quant types, an SPM vocabulary, no chat template.
    let gemma = aikernel_engine::paths::gemma3_270m();
    let info = json_of(
        &aikernel()
            .args(["model", "info", "--json", gemma.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(info["architecture"], "gemma3", "{info}");
    assert_eq!(info["supported"], true, "{info}");
    assert_eq!(info["tokenizer"]["model"], "llama", "{info}");
    let types: Vec<&str> = info["tensor_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    for t in ["F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }

    // A file that is not GGUF is an error naming it.
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a model").unwrap();
    let out = aikernel()
        .args(["model", "info", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.gguf"));
}

#[test]
fn asking_for_the_cuda_kernel_names_what_is_missing_and_never_falls_back() {
    let run = |kernel: &str| {
        aikernel()
            .args([
                "--json", "model", "run", "--kernel", kernel, "--prompt", "hi",
            ])
            .args(["--max-tokens", "4"])
            .output()
            .unwrap()
    };
    let bench = aikernel()
        .args(["model", "bench", "--kernel", "cuda", "--no-llama"])
        .args(["--n-prompt", "4", "--n-gen", "2", "--batch", "1,2"])
        .output()
        .unwrap();
    let out = run("cuda");
    if aikernel_cuda::discover().is_ok() {
        // A GPU: the same generation as the CPU's.
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            bench.status.success(),
            "{}",
            String::from_utf8_lossy(&bench.stderr)
        );
        let cpu = run("scalar");
        assert_eq!(out.stdout, cpu.stdout);
        return;
    }
    for (what, out) in [("model run", &out), ("model bench", &bench)] {
        assert!(!out.status.success(), "{what} ran without a GPU");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cuda kernel"), "{what}: {err}");
        if matches!(
            aikernel_cuda::discover(),
            Err(aikernel_cuda::CudaError::DriverMissing { .. })
        ) {
            assert!(err.contains("libcuda.so.1"), "{what}: {err}");
        }
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}

#[test]
fn bench_measures_the_cpu_aggregate_at_each_batch_size() {
    let out = aikernel()
        .args([
            "--json",
            "model",
            "bench",
            "--kernel",
            "scalar",
            "--threads",
            "1",
        ])
        .args([
            "--n-prompt",
            "4",
            "--n-gen",
            "2",
            "--batch",
            "1,3",
            "--no-llama",
        ])
        .output()
        .unwrap();
    let v = json_of(&out);
    let rows = v["results"].as_array().unwrap();
    let at = |b: u64| {
        rows.iter()
            .find(|r| r["batch"] == b)
            .unwrap_or_else(|| panic!("no batch {b} row in {v}"))
    };
    // Batch 1 is the one-stream row (its aggregate is its decode); batch 3 is three streams
    // decoding together through the engine's batched forward pass.
    assert_eq!(at(1)["aggregateTokensPerS"], at(1)["tgTokensPerS"], "{v}");
    assert_eq!(at(3)["kernel"], "scalar", "{v}");
    assert!(at(3)["aggregateTokensPerS"].as_f64().unwrap() > 0.0, "{v}");
    // And the same three requests through the sampling loop (hashing and sampling counted).
    assert!(at(3)["loopTokensPerS"].as_f64().unwrap() > 0.0, "{v}");
    // The useful bytes read per token: the whole model (its head is its embedding: 96.7 MB
    // of tensors in the 98.4 MB file) once a step, shared by the streams of a batch.
    let per_token = |b: u64| {
        at(b)["readGBPerS"].as_f64().unwrap() / at(b)["aggregateTokensPerS"].as_f64().unwrap()
    };
    assert!((0.09..0.098).contains(&per_token(1)), "{v}");
    assert!(
        (per_token(3) * 3.0 / per_token(1) - 1.0).abs() < 0.01,
        "{v}"
    );
    // A tile the kernels cannot take is refused, naming what is allowed; so is a graph
    // setting other than on and off.
    for (flag, value, says) in [
        (
            "--cuda-tile",
            "auto,9",
            "expected auto, auto:<min threads>, 1 to 8, mma or mma-warp",
        ),
        (
            "--cuda-graphs",
            "on,sometimes",
            "\"sometimes\" is neither on nor off",
        ),
    ] {
        let bad = aikernel()
            .args(["model", "bench", "--kernel", "cuda", flag, value])
            .output()
            .unwrap();
        assert!(!bad.status.success());
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains(says), "{err}");
    }
}
