//! The one model-path rule (`aikernel_engine::paths`, used by the library, the CLI and every
//! test): `AIKERNEL_CACHE` moves the cache and with it the default model and llama.cpp,
//! `AIKERNEL_MODEL` names another model file, and an empty variable counts as unset.
//!
//! The environment is per process, so each case re-runs this test binary as a child with the
//! variables set (no test here changes its own environment).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use aikernel_engine::gguf::GgufFile;
use aikernel_engine::paths;

/// Set in the child: the case to check.
const CHILD: &str = "AIKERNEL_PATHS_TEST_CHILD";

/// A scratch folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("aikernel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `test` of this binary in a child with `vars` set (`None`: removed).
fn run_child(test: &str, vars: &[(&str, Option<&Path>)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1");
    for (k, v) in vars {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "child {test} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `AIKERNEL_CACHE` naming a folder whose `models/` holds a symlink to the model, the
/// library, the tests' helper and a model load all find the model there.
#[test]
fn aikernel_cache_moves_the_default_model() {
    if std::env::var_os(CHILD).is_some() {
        let cache = PathBuf::from(std::env::var_os("AIKERNEL_CACHE").unwrap());
        let want = cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
        assert_eq!(paths::cache_dir(), cache);
        assert_eq!(paths::default_model(), want);
        assert_eq!(
            paths::gemma3_270m(),
            cache.join("models/gemma-3-270m-q4_k_m.gguf")
        );
        assert_eq!(paths::model(), want);
        assert_eq!(common::model_path(), want);
        assert_eq!(paths::llama_cpp_dir(), cache.join("llama.cpp"));
        assert_eq!(
            paths::llama_cpp_bin("llama-bench"),
            cache.join("llama.cpp/build/bin/llama-bench")
        );
        assert!(want.symlink_metadata().unwrap().file_type().is_symlink());
        let g = GgufFile::open(&common::model_path()).unwrap();
        assert_eq!(g.meta_str("general.architecture").unwrap(), "llama");
        return;
    }
    let real = std::fs::canonicalize(common::model_path()).unwrap();
    let scratch = Scratch::new("cache");
    std::fs::create_dir_all(scratch.0.join("models")).unwrap();
    std::os::unix::fs::symlink(
        &real,
        scratch.0.join("models").join(paths::DEFAULT_MODEL_FILE),
    )
    .unwrap();
    run_child(
        "aikernel_cache_moves_the_default_model",
        &[
            ("AIKERNEL_CACHE", Some(&scratch.0)),
            ("AIKERNEL_MODEL", None),
            ("AIKERNEL_LLAMA_CACHE", None),
        ],
    );
}

/// `AIKERNEL_MODEL` wins over the cache; empty variables count as unset (`~/.cache/aikernel`);
/// `AIKERNEL_LLAMA_CACHE` moves llama.cpp alone.
#[test]
fn aikernel_model_overrides_and_empty_means_unset() {
    if std::env::var_os(CHILD).is_some() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        let cache = home.join(".cache/aikernel");
        assert_eq!(paths::cache_dir(), cache);
        assert_eq!(
            paths::default_model(),
            cache.join("models").join(paths::DEFAULT_MODEL_FILE)
        );
        let model = PathBuf::from(std::env::var_os("AIKERNEL_MODEL").unwrap());
        assert_eq!(paths::model(), model);
        assert_eq!(common::default_model(), model);
        assert_eq!(
            paths::llama_cpp_dir(),
            PathBuf::from(std::env::var_os("AIKERNEL_LLAMA_CACHE").unwrap())
        );
        return;
    }
    let scratch = Scratch::new("home");
    let model = scratch.0.join("elsewhere.gguf");
    let llama = scratch.0.join("llama");
    run_child(
        "aikernel_model_overrides_and_empty_means_unset",
        &[
            ("HOME", Some(&scratch.0)),
            ("AIKERNEL_CACHE", Some(Path::new(""))),
            ("AIKERNEL_MODEL", Some(&model)),
            ("AIKERNEL_LLAMA_CACHE", Some(&llama)),
        ],
    );
}
