//! Compiles the host build of the CUDA kernels (`kernels/host.cpp`, which includes the same
//! `.cuh` sources nvcc compiles) with the system C++ compiler, with IEEE f32 arithmetic:
//! no contraction into FMA, no fast math, no excess precision, SSE2 on x86-64.

fn main() {
    println!("cargo:rerun-if-changed=kernels");
    let mut b = cc::Build::new();
    b.cpp(true)
        .file("kernels/host.cpp")
        .include("kernels")
        .opt_level(2)
        .flag_if_supported("-std=c++17")
        .flag("-ffp-contract=off")
        .flag("-fno-fast-math")
        .flag_if_supported("-fexcess-precision=standard")
        .flag_if_supported("-fno-unsafe-math-optimizations")
        .warnings(true)
        .extra_warnings(true);
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        b.flag("-msse2").flag("-mfpmath=sse");
    }
    b.compile("aikernel_cuda_host");
    mock_libraries(&b);
}

/// The CPU stand-ins for the CUDA driver and NVRTC (`kernels/mock_cuda.cpp`) as shared
/// libraries in OUT_DIR, for the launch path's tests (`AK_MOCK_CUDA_DIR`). Only on Linux; a
/// compiler that cannot build them leaves the directory empty and those tests fail naming it.
fn mock_libraries(b: &cc::Build) {
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    println!("cargo:rustc-env=AK_MOCK_CUDA_DIR={out}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let cxx = b.get_compiler();
    for (lib, defs) in [
        ("libak_mock_cuda.so", &[][..]),
        ("libak_mock_nvrtc_fail.so", &["-DAK_MOCK_NVRTC_FAIL"][..]),
    ] {
        let status = std::process::Command::new(cxx.path())
            .args([
                "-std=c++17",
                "-O1",
                "-shared",
                "-fPIC",
                "-ffp-contract=off",
                "-Ikernels",
            ])
            .args(defs)
            .arg("kernels/mock_cuda.cpp")
            .arg("-o")
            .arg(format!("{out}/{lib}"))
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            println!("cargo:warning=could not build the CUDA stand-in {lib}");
        }
    }
}
