//! Where `aikernel model run|bench` computes: a CPU kernel of the engine, or the CUDA forward
//! pass on a GPU (`aikernel-accel`), the same tokens and logits either way. Asking for CUDA
//! where there is none is the error naming what is missing, never a CPU fallback.

use std::fmt;

use anyhow::Context;
use serde_json::{Value, json};

use aikernel_accel::{
    DeviceSlots, LOOP_PROMPT, aggregate_decode, bench_device, bench_shape, decode_read_bytes_per_s,
    loop_decode, model_spec, positions_needed,
};
use aikernel_cuda::forward::MatmulTile;
use aikernel_engine::kernels::Ctx;
use aikernel_engine::{
    CpuSlots, GenerateOptions, Generation, Kernel, Model, TokenConstraint, generate,
};

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

/// Parses `on` or `off` (`--cuda-graphs`).
pub(crate) fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    }
}

/// The `cuda` rows of `aikernel model bench`: per CUDA graph setting (`graphs`: on, off),
/// overlap setting with graphs on (`overlaps`: on, off; none: the device's default; with
/// graphs off kernels never overlap, one set of rows), matmul tile setting and depth, prompt
/// processing, one stream's decode and, per batch size, the aggregate decode of that many
/// streams.
pub(crate) fn cuda_rows(
    model: &Model,
    depths: &[usize],
    n_prompt: usize,
    n_gen: usize,
    batches: &[usize],
    (graphs, overlaps, tiles): (&[bool], &[bool], &[MatmulTile]),
) -> anyhow::Result<Vec<Value>> {
    let max_batch = batches.iter().copied().max().unwrap_or(1);
    let max_depth = depths.iter().copied().max().unwrap_or(0);
    let (slots, positions) = bench_shape(max_depth, n_prompt, n_gen, max_batch);
    let positions = positions.max(LOOP_PROMPT + n_gen);
    let mut dev = DeviceSlots::gpu(model, slots, positions)?;
    // The sampling loop's threads: every core (a GPU node's `threads`).
    let loop_threads = std::thread::available_parallelism().map_or(1, usize::from);
    // Warm-up (the first launches load the module's kernels).
    bench_device(model, &mut dev, 0, n_prompt.min(8), 2, 1).context("cuda warm-up")?;
    let mut rows = Vec::new();
    // With graphs off there is nothing to overlap, and without --cuda-overlap the device
    // keeps its default: one setting (None) each.
    let asked: Vec<Option<bool>> = if overlaps.is_empty() {
        vec![None]
    } else {
        overlaps.iter().copied().map(Some).collect()
    };
    let settings: Vec<(bool, Option<bool>)> = graphs
        .iter()
        .flat_map(|&g| {
            let o: &[Option<bool>] = if g { &asked } else { &[None] };
            o.iter().map(move |&o| (g, o))
        })
        .collect();
    for ((on, overlap), &tile) in settings
        .iter()
        .flat_map(|&s| tiles.iter().map(move |t| (s, t)))
    {
        dev.forward().device().set_graphs(on)?;
        if let Some(o) = overlap {
            dev.forward().device().set_overlap(o)?;
        }
        dev.forward().set_matmul_tile(tile)?;
        for &depth in depths {
            for &batch in batches {
                let r = bench_device(model, &mut dev, depth, n_prompt, n_gen, batch).with_context(
                    || {
                        format!(
                            "cuda bench at depth {depth}, batch {batch}, tile {tile}, graphs {}, \
                             overlap {}",
                            if on { "on" } else { "off" },
                            match overlap {
                                Some(true) => "on",
                                Some(false) => "off",
                                None => "default",
                            }
                        )
                    },
                )?;
                // The last step's launches: a batch step of `batch` streams.
                let launches = dev.forward().trace().len();
                let at = (depth, n_gen, batch, loop_threads);
                let through_loop = loop_at_depth_0(model, &mut dev, positions, at, "cuda")?;
                rows.push(json!({
                    "kernel": "cuda", "threads": Value::Null, "depth": r.depth, "batch": r.batch,
                    "cudaTile": tile.to_string(), "cudaGraphs": on,
                    "cudaOverlap": dev.forward().device().overlap(),
                    "ppTokensPerS": r.pp_tokens_per_s, "tgTokensPerS": r.tg_tokens_per_s,
                    "aggregateTokensPerS": r.aggregate_tokens_per_s,
                    "loopTokensPerS": through_loop, "loopThreads": loop_threads,
                    "launchesPerStep": launches,
                    "llamaPpTokensPerS": Value::Null, "llamaTgTokensPerS": Value::Null,
                    "ppRatio": Value::Null, "tgRatio": Value::Null,
                }));
            }
        }
    }
    Ok(rows)
}

/// The engine's aggregate decode of `batch` streams stepping together on `threads` threads of
/// `kernel` (the CPU figure the cuda rows are compared with): the same tokens and loop; and
/// at depth 0 the same through the sampling loop ([`loop_decode`]).
pub(crate) fn cpu_aggregate(
    model: &Model,
    kernel: Kernel,
    threads: usize,
    depth: usize,
    n_gen: usize,
    batch: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    let ctx = Ctx::new(threads, kernel).with_context(|| format!("--kernel {kernel}"))?;
    let mut slots = CpuSlots::new(model, ctx, batch);
    let capacity = model.config().context_length;
    let aggregate = aggregate_decode(model, &mut slots, capacity, depth, n_gen, batch)
        .with_context(|| format!("{kernel} aggregate at depth {depth}, batch {batch}"))?;
    let at = (depth, n_gen, batch, threads);
    let through_loop = loop_at_depth_0(model, &mut slots, capacity, at, &kernel.to_string())?;
    Ok((aggregate, through_loop))
}

/// [`loop_decode`]'s tokens/s on `slots` for a row at `(depth, n_gen, batch, threads)`:
/// measured at depth 0 only (its requests start from a short prompt), `None` elsewhere.
fn loop_at_depth_0<S>(
    model: &Model,
    slots: &mut S,
    capacity: usize,
    (depth, n_gen, batch, threads): (usize, usize, usize, usize),
    what: &str,
) -> anyhow::Result<Option<f64>>
where
    S: aikernel_engine::Slots,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    if depth != 0 {
        return Ok(None);
    }
    let l = loop_decode(model, slots, capacity, n_gen, batch, threads)
        .with_context(|| format!("{what} sampling loop at batch {batch}"))?;
    Ok(Some(l.tokens_per_s()))
}

/// Adds to each row (`depth`, `batch`, `aggregateTokensPerS`: all streams' decode over
/// `n_gen` steps) `readGBPerS`: the useful bytes those steps read (the weights once a step and
/// the key/value cache each stream attends, [`decode_read_bytes_per_s`]) per second, in
/// 10^9 bytes, to set against the memory's bandwidth.
pub(crate) fn add_read_rates<'r>(
    rows: impl IntoIterator<Item = &'r mut Value>,
    model: &Model,
    n_gen: usize,
) {
    let spec = model_spec(model);
    for r in rows {
        let at = |k: &str| r[k].as_u64().and_then(|v| usize::try_from(v).ok());
        if let (Some(depth), Some(batch), Some(tps)) =
            (at("depth"), at("batch"), r["aggregateTokensPerS"].as_f64())
        {
            r["readGBPerS"] =
                json!(decode_read_bytes_per_s(&spec, (depth, n_gen, batch), tps) / 1e9);
        }
    }
}

/// Adds to each cuda row the best CPU figure of its depth and batch (`cpu`: rows with
/// `depth` and `batch`) and the ratio of the two: for the aggregate decode
/// (`cpuAggregateTokensPerS`, `aggregateRatio`) and through the sampling loop
/// (`cpuLoopTokensPerS`, `loopRatio`).
pub(crate) fn compare_with_cpu(cuda: &mut [Value], cpu: &[Value]) {
    const PAIRS: [(&str, &str, &str); 2] = [
        (
            "aggregateTokensPerS",
            "cpuAggregateTokensPerS",
            "aggregateRatio",
        ),
        ("loopTokensPerS", "cpuLoopTokensPerS", "loopRatio"),
    ];
    for r in cuda {
        for (figure, best_key, ratio_key) in PAIRS {
            let best = cpu
                .iter()
                .filter(|c| c["depth"] == r["depth"] && c["batch"] == r["batch"])
                .filter_map(|c| c[figure].as_f64())
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let ratio = match (best, r[figure].as_f64()) {
                (Some(b), Some(g)) if b > 0.0 => Some(g / b),
                _ => None,
            };
            r[best_key] = json!(best);
            r[ratio_key] = json!(ratio);
        }
    }
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

    #[test]
    fn graph_settings_parse() {
        assert_eq!(parse_on_off("on"), Ok(true));
        assert_eq!(parse_on_off("OFF"), Ok(false));
        let e = parse_on_off("maybe").unwrap_err();
        assert!(e.contains("\"maybe\" is neither on nor off"), "{e}");
    }

    #[test]
    fn cuda_rows_get_the_best_cpu_aggregate_of_their_depth_and_batch() {
        let cpu = vec![
            json!({"depth": 0, "batch": 32, "aggregateTokensPerS": 100.0, "loopTokensPerS": 200.0}),
            json!({"depth": 0, "batch": 32, "aggregateTokensPerS": 250.0, "loopTokensPerS": 150.0}),
            json!({"depth": 0, "batch": 8, "aggregateTokensPerS": 90.0}),
            json!({"depth": 512, "batch": 32, "aggregateTokensPerS": 50.0}),
        ];
        let mut cuda = vec![
            json!({"depth": 0, "batch": 32, "aggregateTokensPerS": 5000.0, "loopTokensPerS": 3000.0}),
            json!({"depth": 0, "batch": 64, "aggregateTokensPerS": 7000.0}),
        ];
        compare_with_cpu(&mut cuda, &cpu);
        assert_eq!(cuda[0]["cpuAggregateTokensPerS"], json!(250.0));
        assert_eq!(cuda[0]["aggregateRatio"], json!(20.0));
        assert_eq!(cuda[0]["cpuLoopTokensPerS"], json!(200.0));
        assert_eq!(cuda[0]["loopRatio"], json!(15.0));
        // No CPU figure at batch 64: no ratio rather than a made-up one.
        assert_eq!(cuda[1]["cpuAggregateTokensPerS"], Value::Null);
        assert_eq!(cuda[1]["aggregateRatio"], Value::Null);
    }
}
