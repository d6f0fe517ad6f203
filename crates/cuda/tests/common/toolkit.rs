//! The CUDA compilers setup installs (`aikernel_engine::paths::cuda_toolkit`): the PTX of the
//! forward kernels as NVRTC compiles it for the GPU, for the tests that run it without one.
#![allow(clippy::expect_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use aikernel_cuda::gpu::Nvrtc;

/// `libnvrtc.so.13` of the installed toolkit; a missing toolkit fails the test.
pub(crate) fn nvrtc_library() -> PathBuf {
    let lib = aikernel_engine::paths::cuda_toolkit().join("lib/libnvrtc.so.13");
    assert!(
        lib.exists(),
        "NVRTC not found at {}: run scripts/setup.sh (it installs the CUDA {} compilers from PyPI)",
        lib.display(),
        aikernel_engine::paths::CUDA_TOOLKIT_VERSION
    );
    lib
}

/// The forward kernels compiled by NVRTC for `arch`, with the options `GpuDevice` uses.
pub(crate) fn compile(arch: &str) -> String {
    let lib = nvrtc_library();
    let nv = Nvrtc::load_from(&[lib.to_str().expect("toolkit path is UTF-8")])
        .expect("load the toolkit's NVRTC");
    let ptx = nv
        .compile(arch)
        .expect("NVRTC compiles the forward kernels");
    String::from_utf8(ptx)
        .expect("PTX is text")
        .trim_end_matches('\0')
        .to_owned()
}

/// The forward kernels compiled for `compute_90` (an H200's architecture), once per test
/// binary.
pub(crate) fn ptx_sm90() -> &'static str {
    static PTX: OnceLock<String> = OnceLock::new();
    PTX.get_or_init(|| compile("compute_90"))
}
