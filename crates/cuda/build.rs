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
}
