//! Inputs that used to crash the CLI, lose data or get registered, each now a clean error:
//! a closed stdout pipe (panicked with exit 101), `--threads 1000` (ran for minutes), a
//! header claiming 2^32 blocks (SIGABRT), `quantize` onto its own input (truncated it),
//! a failed `quantize` (left a truncated output), and `models register` of random bytes,
//! a truncated GGUF or a bad URI (registered as active). None needs a chain or a model
//! download.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aikernel_engine::gguf::MetaValue;

fn aikernel() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aikernel"));
    cmd.env_remove("AIKERNEL_KEY")
        .env_remove("AIKERNEL_RPC")
        .env_remove("AIKERNEL_DEPLOYMENT")
        .env_remove("AIKERNEL_MODEL")
        .env_remove("RUST_LOG");
    cmd
}

fn run(args: &[&str]) -> Output {
    aikernel().args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args` expecting failure with exit code `code`; returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "aikernel {args:?}: {err}");
    assert!(!err.contains("panicked"), "aikernel {args:?}: {err}");
    err
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The tiny valid model written to `dir/name`.
fn tiny_model(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, tiny::tiny_llama_bytes(1)).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- stdout closed by its reader ----

/// Runs `args` with stdout a pipe whose read end is already closed, so the first write
/// fails with EPIPE.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    aikernel()
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_stdout_exits_quietly() {
    let d = dir();
    let model = tiny_model(d.path(), "tiny.gguf");
    let out_file = d.path().join("q8.gguf");
    for args in [
        vec!["security", "--table"],
        vec!["security", "--json"],
        vec![
            "model",
            "run",
            "--model",
            s(&model),
            "--prompt",
            "hi",
            "--max-tokens",
            "2",
        ],
        vec![
            "model",
            "run",
            "--model",
            s(&model),
            "--prompt",
            "hi",
            "--json",
        ],
        vec![
            "model",
            "quantize",
            "--input",
            s(&model),
            "--output",
            s(&out_file),
            "--type",
            "q8-0",
        ],
    ] {
        let out = with_closed_stdout(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "aikernel {args:?}: {err}");
        assert!(err.is_empty(), "aikernel {args:?} printed: {err}");
    }
}

// ---- thread counts ----

#[test]
fn absurd_thread_counts_are_refused_naming_value_and_limit() {
    let d = dir();
    let model = tiny_model(d.path(), "tiny.gguf");
    let m = s(&model);
    for args in [
        vec![
            "model",
            "run",
            "--model",
            m,
            "--prompt",
            "hi",
            "--threads",
            "1000",
        ],
        vec![
            "model",
            "bench",
            "--model",
            m,
            "--threads",
            "1,1000",
            "--no-llama",
        ],
        vec!["verify", "1", "--threads", "1000"],
    ] {
        let err = fails(&args, 2);
        assert!(
            err.contains("1000") && err.contains("limit of"),
            "aikernel {args:?}: {err}"
        );
    }
    let err = fails(
        &[
            "model",
            "run",
            "--model",
            m,
            "--prompt",
            "hi",
            "--threads",
            "0",
        ],
        2,
    );
    assert!(err.contains("at least 1"), "{err}");
}

// ---- hostile model headers ----

#[test]
fn a_huge_block_count_is_an_error_not_an_abort() {
    let d = dir();
    let mut w = tiny::tiny_llama(1);
    w.add_metadata("llama.block_count", MetaValue::U32(u32::MAX));
    let path = d.path().join("huge.gguf");
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    let err = fails(&["model", "run", "--model", s(&path), "--prompt", "hi"], 1);
    assert!(err.contains("llama.block_count = 4294967295"), "{err}");
}

#[test]
fn a_missing_model_names_the_cause_once() {
    let err = fails(
        &[
            "model",
            "run",
            "--model",
            "/nonexistent/m.gguf",
            "--prompt",
            "hi",
        ],
        1,
    );
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

// ---- quantize ----

#[test]
fn quantize_refuses_to_write_over_its_input() {
    let d = dir();
    let model = tiny_model(d.path(), "tiny.gguf");
    let original = std::fs::read(&model).unwrap();
    let mut outputs = vec![model.clone(), d.path().join("sub/../tiny.gguf")];
    std::fs::create_dir(d.path().join("sub")).unwrap();
    #[cfg(unix)]
    {
        let link = d.path().join("link.gguf");
        std::os::unix::fs::symlink(&model, &link).unwrap();
        let hard = d.path().join("hard.gguf");
        std::fs::hard_link(&model, &hard).unwrap();
        outputs.extend([link, hard]);
    }
    for output in &outputs {
        let err = fails(
            &[
                "model",
                "quantize",
                "--input",
                s(&model),
                "--output",
                s(output),
                "--type",
                "q8-0",
            ],
            1,
        );
        assert!(err.contains("is the input"), "{}: {err}", output.display());
        assert_eq!(std::fs::read(&model).unwrap(), original);
    }
}

#[test]
fn a_failed_quantize_leaves_the_output_as_it_was() {
    let d = dir();
    // A NaN weight: quantizing has no scale for its block and fails part way.
    let mut bytes = tiny::tiny_llama_bytes(1);
    let nan = f32::NAN.to_le_bytes();
    let at = bytes.len() - 4;
    bytes[at..].copy_from_slice(&nan);
    let input = d.path().join("nan.gguf");
    std::fs::write(&input, &bytes).unwrap();
    let output = d.path().join("out.gguf");
    std::fs::write(&output, b"the previous output").unwrap();
    let err = fails(
        &[
            "model",
            "quantize",
            "--input",
            s(&input),
            "--output",
            s(&output),
            "--type",
            "q8-0",
        ],
        1,
    );
    assert!(err.contains("non-finite"), "{err}");
    assert_eq!(std::fs::read(&output).unwrap(), b"the previous output");
    let mut names: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["nan.gguf", "out.gguf"], "a temporary file was left");

    // The same command on a good input replaces the output.
    let good = tiny_model(d.path(), "tiny.gguf");
    let out = run(&[
        "model",
        "quantize",
        "--input",
        s(&good),
        "--output",
        s(&output),
        "--type",
        "q8-0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read(&output).unwrap().starts_with(b"GGUF"));
}

// ---- models register ----

/// `models register` of `file` with `extra` flags, pointed at a port nothing listens on and
/// a deployment file that does not exist: any error must come from checking the inputs.
fn register(file: &Path, extra: &[&str]) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let rpc = format!("http://127.0.0.1:{port}");
    let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let mut args = vec![
        "models",
        "register",
        "--rpc",
        &rpc,
        "--deployment",
        "/nonexistent/deployment.json",
        "--key",
        key,
        "--file",
        s(file),
    ];
    args.extend_from_slice(extra);
    let err = fails(&args, 1);
    assert!(
        !err.contains("deployment") && !err.contains("127.0.0.1"),
        "got as far as the chain: {err}"
    );
    err
}

#[test]
fn register_refuses_files_the_driver_cannot_run() {
    let d = dir();
    let random = d.path().join("random.gguf");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, noise).unwrap();
    let err = register(&random, &[]);
    assert!(
        err.contains("random.gguf") && err.contains("not a GGUF file"),
        "{err}"
    );

    let full = tiny::tiny_llama_bytes(1);
    let truncated = d.path().join("truncated.gguf");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let err = register(&truncated, &[]);
    assert!(
        err.contains("truncated.gguf") && err.contains("runs past the end"),
        "{err}"
    );

    let header_only = d.path().join("header.gguf");
    std::fs::write(&header_only, &full[..600]).unwrap();
    let err = register(&header_only, &[]);
    assert!(
        err.contains("header.gguf") && err.contains("cannot fit"),
        "{err}"
    );

    let mut w = tiny::tiny_llama(1);
    w.add_metadata("general.architecture", MetaValue::Str("gpt2".into()));
    let other = d.path().join("gpt2.gguf");
    std::fs::write(&other, w.to_bytes().unwrap()).unwrap();
    let err = register(&other, &[]);
    assert!(err.contains("architecture \"gpt2\""), "{err}");
}

#[test]
fn register_refuses_bad_uris_drivers_and_formats() {
    let d = dir();
    let model = tiny_model(d.path(), "tiny.gguf");
    for (uri, needle) in [
        ("not a uri", "not a uri"),
        ("ar://abc", "ar://abc"),
        ("/models/tiny.gguf", "no scheme"),
        ("file://relative/tiny.gguf", "absolute"),
        ("https:///tiny.gguf", "no host"),
    ] {
        let err = register(
            &model,
            &["--uri", "https://example.com/ok.gguf", "--uri", uri],
        );
        assert!(
            err.contains("--uri") && err.contains(needle),
            "{uri}: {err}"
        );
    }
    let err = register(&model, &["--driver", "llm-gpt"]);
    assert!(err.contains("llm-gpt"), "{err}");
    // A llama file under another family's name is refused before anything is sent.
    let err = register(&model, &["--driver", "llm-gemma3@2"]);
    assert!(
        err.contains("model file is llama but the registry entry's driver is llm-gemma3@2"),
        "{err}"
    );
    let err = register(&model, &["--format", "safetensors"]);
    assert!(err.contains("safetensors"), "{err}");
}

#[test]
fn register_of_a_valid_model_gets_as_far_as_the_chain() {
    let d = dir();
    let model = tiny_model(d.path(), "tiny.gguf");
    let out = run(&[
        "models",
        "register",
        "--deployment",
        "/nonexistent/deployment.json",
        "--key",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "--file",
        s(&model),
        "--uri",
        "https://example.com/tiny.gguf",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("/nonexistent/deployment.json"), "{err}");
}
