//! The default model for the real-model tests: `AIKERNEL_MODEL`, else where setup installs it.
#![allow(clippy::expect_used)]

use std::path::PathBuf;

use aikernel_drivers::LlmDriver;

/// `$AIKERNEL_MODEL`, else the default model in the cache (`$AIKERNEL_CACHE`, else
/// `~/.cache/aikernel`): the library's rule, [`aikernel_engine::paths::model`].
pub(crate) fn model_path() -> PathBuf {
    aikernel_engine::paths::model()
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
