//! Shared by the engine's real-model tests: where the default model lies, and the llama.cpp
//! reference (committed fixtures, or a live build).
#![allow(dead_code)] // each test crate uses what it needs

pub(crate) mod agreement;
pub(crate) mod golden;
pub(crate) mod llama_cpp;
pub(crate) mod tiny_arch;
pub(crate) mod tiny_gemma;

use std::path::PathBuf;

/// `$AIKERNEL_MODEL`, else the default model in `<cache>/models`, where `scripts/setup.sh`
/// puts it (the library's rule: [`aikernel_engine::paths::model`]).
pub(crate) fn default_model() -> PathBuf {
    aikernel_engine::paths::model()
}

/// [`default_model`], which must exist (the message says how to get it). A missing model
/// fails: it is not on the list of allowed skips (docs/testing.md).
pub(crate) fn model_path() -> PathBuf {
    let p = default_model();
    assert!(
        p.exists(),
        "model not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        p.display()
    );
    p
}

/// Gemma 3 270M (base, Q4_K_M) where `scripts/setup.sh` puts it, which must exist: like the
/// default model, a missing file fails (the message says how to get it).
pub(crate) fn gemma_path() -> PathBuf {
    let p = aikernel_engine::paths::gemma3_270m();
    assert!(
        p.exists(),
        "Gemma 3 270M not found at {}: run scripts/setup.sh",
        p.display()
    );
    p
}
