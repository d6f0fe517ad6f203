//! The default model for the real-model tests: `AIKERNEL_MODEL`, else where setup installs it.
#![allow(clippy::expect_used)]

use std::path::PathBuf;

use aikernel_drivers::LlmDriver;

/// `$AIKERNEL_MODEL`, else `~/.cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub(crate) fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("AIKERNEL_MODEL") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/aikernel/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Loads the default model with `threads` engine threads; a missing file says how to get it.
pub(crate) fn load(threads: usize) -> LlmDriver {
    let path = model_path();
    assert!(
        path.exists(),
        "model file {} is missing: run ./scripts/setup.sh or set AIKERNEL_MODEL",
        path.display()
    );
    LlmDriver::load(&path, threads).expect("load model")
}
