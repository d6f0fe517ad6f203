//! Where `aikernel model run|bench` computes: a CPU kernel of the engine, or the CUDA forward
//! pass on a GPU (`aikernel-accel`), the same tokens and logits either way. Asking for CUDA
//! where there is none is the error naming what is missing, never a CPU fallback.

use std::fmt;

use anyhow::Context;
use serde_json::{Value, json};

use aikernel_accel::{DeviceSlots, bench_device, bench_shape, positions_needed};
use aikernel_engine::{GenerateOptions, Generation, Kernel, Model, TokenConstraint, generate};

/// A `--kernel` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compute {
    /// One of the engine's CPU kernels.
    Cpu(Kernel),
    /// The CUDA forward pass on GPU 0.
    Cuda,
}

impl fmt::Display for Compute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compute::Cpu(k) => k.fmt(f),
            Compute::Cuda => f.write_str("cuda"),
        }
    }
}

/// Parses a kernel name for clap (the engine lists the CPU names and says which are unknown).
pub(crate) fn parse_compute(s: &str) -> Result<Compute, String> {
    if s.eq_ignore_ascii_case("cuda") {
        return Ok(Compute::Cuda);
    }
    s.parse::<Kernel>()
        .map(Compute::Cpu)
        .map_err(|e| format!("{e} (or cuda)"))
}

/// Generates on `compute`: the engine's `generate` on a CPU kernel, or its sampling loop on
/// the CUDA forward pass (one slot holding the prompt and the generated tokens).
pub(crate) fn generate_on(
    compute: Compute,
    model: &Model,
    prompt: &[u32],
    opts: &GenerateOptions,
    constraint: Option<&mut dyn TokenConstraint>,
) -> anyhow::Result<Generation> {
    match compute {
        Compute::Cpu(kernel) => {
            let opts = GenerateOptions {
                kernel,
                ..opts.clone()
            };
            Ok(generate(model, prompt, &opts, constraint)?)
        }
        Compute::Cuda => {
            let capacity = positions_needed(model, prompt.len(), opts.max_tokens);
            let mut slots = DeviceSlots::gpu(model, 1, capacity)?;
            Ok(aikernel_engine::generate_on(
                model, &mut slots, prompt, opts, constraint,
            )?)
        }
    }
}

/// The `cuda` rows of `aikernel model bench`: per depth, prompt processing, one stream's
/// decode and, per batch size, the aggregate decode of that many streams.
pub(crate) fn cuda_rows(
    model: &Model,
    depths: &[usize],
    n_prompt: usize,
    n_gen: usize,
    batches: &[usize],
) -> anyhow::Result<Vec<Value>> {
    let max_batch = batches.iter().copied().max().unwrap_or(1);
    let max_depth = depths.iter().copied().max().unwrap_or(0);
    let (slots, positions) = bench_shape(max_depth, n_prompt, n_gen, max_batch);
    let mut dev = DeviceSlots::gpu(model, slots, positions)?;
    // Warm-up (the first launches load the module's kernels).
    bench_device(model, &mut dev, 0, n_prompt.min(8), 2, 1).context("cuda warm-up")?;
    let mut rows = Vec::new();
    for &depth in depths {
        for &batch in batches {
            let r = bench_device(model, &mut dev, depth, n_prompt, n_gen, batch)
                .with_context(|| format!("cuda bench at depth {depth}, batch {batch}"))?;
            rows.push(json!({
                "kernel": "cuda", "threads": Value::Null, "depth": r.depth, "batch": r.batch,
                "ppTokensPerS": r.pp_tokens_per_s, "tgTokensPerS": r.tg_tokens_per_s,
                "aggregateTokensPerS": r.aggregate_tokens_per_s,
                "llamaPpTokensPerS": Value::Null, "llamaTgTokensPerS": Value::Null,
                "ppRatio": Value::Null, "tgRatio": Value::Null,
            }));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_parse_cuda_included() {
        assert_eq!(parse_compute("cuda"), Ok(Compute::Cuda));
        assert_eq!(parse_compute("CUDA"), Ok(Compute::Cuda));
        assert_eq!(parse_compute("scalar"), Ok(Compute::Cpu(Kernel::Scalar)));
        assert_eq!(Compute::Cuda.to_string(), "cuda");
        assert_eq!(Compute::Cpu(Kernel::Auto).to_string(), "auto");
        let e = parse_compute("tpu").unwrap_err();
        assert!(e.contains("cuda"), "{e}");
    }
}
