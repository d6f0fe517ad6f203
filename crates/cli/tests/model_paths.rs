//! `aikernel model` finds its files by the library's one rule (`aikernel_engine::paths`): with
//! `AIKERNEL_CACHE` set, the default model and llama.cpp's llama-bench come from that cache,
//! never from `~/.cache/aikernel`. Needs the model (a symlink to it is put in a scratch cache).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aikernel_engine::paths;

/// A scratch cache holding `models/<default model>` as a symlink to the real model and a
/// stand-in `llama.cpp/build/bin/llama-bench`; removed on drop.
struct Cache(PathBuf);

impl Cache {
    fn new(name: &str) -> Cache {
        let real = paths::model();
        assert!(
            real.exists(),
            "model not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
            real.display()
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("model-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("models")).unwrap();
        std::os::unix::fs::symlink(
            std::fs::canonicalize(real).unwrap(),
            dir.join("models").join(paths::DEFAULT_MODEL_FILE),
        )
        .unwrap();
        let bin = dir.join("llama.cpp/build/bin");
        std::fs::create_dir_all(&bin).unwrap();
        let fake = bin.join("llama-bench");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho '[{\"n_threads\":1,\"n_prompt\":8,\"n_gen\":0,\"avg_ts\":123.0},\
             {\"n_threads\":1,\"n_prompt\":0,\"n_gen\":4,\"avg_ts\":45.0}]'\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(dir.join("home")).unwrap();
        Cache(dir)
    }

    /// `aikernel` with this cache, a `HOME` without one, and no other path variables.
    fn aikernel(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_aikernel"))
            .args(args)
            .env("AIKERNEL_CACHE", &self.0)
            .env("HOME", self.0.join("home"))
            .env_remove("AIKERNEL_MODEL")
            .env_remove("AIKERNEL_LLAMA_CACHE")
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    fn model(&self) -> PathBuf {
        self.0.join("models").join(paths::DEFAULT_MODEL_FILE)
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn model_run_and_bench_use_aikernel_cache() {
    let cache = Cache::new("run");
    let text = ok(&cache.aikernel(&["model", "run", "--prompt", "Hi", "--max-tokens", "2"]));
    assert!(!text.trim().is_empty());

    let out = ok(&cache.aikernel(&[
        "--json",
        "model",
        "bench",
        "--n-prompt",
        "8",
        "--n-gen",
        "4",
        "--threads",
        "1",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(Path::new(v["model"].as_str().unwrap()), cache.model());
    // The stand-in llama-bench in the cache answered.
    let row = &v["results"][0];
    assert_eq!(field(row, "llama_pp_tokens_per_s"), 123.0);
    assert_eq!(field(row, "llama_tg_tokens_per_s"), 45.0);
}

/// A field of a JSON object by its snake_case name, whatever the case style of the output.
fn field<'a>(v: &'a serde_json::Value, snake: &str) -> &'a serde_json::Value {
    let norm = |k: &str| k.replace('_', "").to_lowercase();
    v.as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| norm(k) == norm(snake))
        .map_or_else(|| panic!("no field {snake} in {v}"), |(_, x)| x)
}

#[test]
fn a_cache_without_the_model_is_named_in_the_error() {
    let cache = Cache::new("missing");
    std::fs::remove_file(cache.model()).unwrap();
    let out = cache.aikernel(&["model", "run", "--prompt", "Hi", "--max-tokens", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&cache.model().display().to_string()),
        "the error should name {}: {err}",
        cache.model().display()
    );
}
