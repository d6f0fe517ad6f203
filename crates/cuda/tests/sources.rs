//! The kernel sources as NVRTC would get them: every quoted include resolves to another
//! embedded source, and nothing in them breaks the determinism rules (no atomics, no warp
//! shuffles or block reductions, no fused or fast-math intrinsics, no CUDA math library
//! transcendentals). Barriers are allowed: the matmul's lanes meet at `__syncthreads` to hand
//! their terms to the one thread that adds them in order, which orders work without
//! reordering any sum.

use aikernel_cuda::KERNEL_SOURCES;

#[test]
fn includes_resolve_within_the_embedded_sources() {
    for (name, src) in KERNEL_SOURCES {
        for line in src
            .lines()
            .filter(|l| l.trim_start().starts_with("#include \""))
        {
            let inc = line.split('"').nth(1).unwrap_or_default();
            assert!(
                KERNEL_SOURCES.iter().any(|(n, _)| *n == inc),
                "{name} includes {inc}, which is not embedded"
            );
        }
    }
}

#[test]
fn no_construct_that_breaks_determinism() {
    scan(KERNEL_SOURCES);
}

#[test]
#[should_panic(expected = "`expf(` in")]
fn a_library_transcendental_is_caught() {
    scan(&[(
        "bad.cuh",
        "AK_FN float f(float x) { return expf(x) + ak_expf(x); }",
    )]);
}

fn scan(sources: &[(&str, &str)]) {
    let forbidden = [
        "atomic",
        "__shfl",
        "__reduce",
        "fmaf",
        "__fma",
        "__expf",
        "__logf",
        "__powf",
        "__fdividef",
        "__sinf",
        "__cosf",
        "__tanf",
        "expf(",
        "tanhf(",
        "exp(",
        "sqrtf(",
        "__frcp",
        "__frsqrt",
        "rsqrtf",
    ];
    for (name, src) in sources {
        for (i, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for f in forbidden {
                // Only a whole name counts: our own functions (ak_expf, ak_fwd_attn_exp) end
                // in the same letters.
                let bad = code.match_indices(f).any(|(at, _)| {
                    !code[..at]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                assert!(!bad, "{name}:{}: `{f}` in `{}`", i + 1, line.trim());
            }
        }
    }
}
