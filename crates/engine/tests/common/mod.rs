//! Shared by the engine's real-model tests: where the default model lies.
#![allow(dead_code)] // each test crate uses what it needs

use std::path::PathBuf;

/// `$AIKERNEL_MODEL`, else the default model in `$AIKERNEL_CACHE/models` (else
/// `~/.cache/aikernel/models`), where `scripts/setup.sh` puts it.
pub(crate) fn default_model() -> PathBuf {
    if let Some(p) = std::env::var_os("AIKERNEL_MODEL") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("AIKERNEL_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/aikernel"),
        PathBuf::from,
    );
    cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// [`default_model`], which must exist (the message says how to get it).
pub(crate) fn model_path() -> PathBuf {
    let p = default_model();
    assert!(
        p.exists(),
        "model not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        p.display()
    );
    p
}
