//! The timing model's estimate of SmolLM2-135M's decode step on an H200, without a GPU: the
//! forward kernels compiled by NVRTC for `compute_90` (the options `GpuDevice` uses, the CUDA
//! compilers setup installs) and run by the PTX interpreter, `batch` sequences of `depth`
//! positions each decoding one token together, the matmul tiled as `tile` says (`auto`, the
//! default; `mma`; 1 to 8 tokens a warp). An estimate from round figures, not a measurement
//! (docs/engine.md, "CUDA backend"): it prints each kernel's cycles and bounds and the step's
//! tokens per second with no gap between launches.
//!
//! ```sh
//! cargo run --release -p aikernel-cuda --example ptx_estimate -- 1,8,32,64 4 auto
//! ```
//!
//! Every step is interpreted instruction by instruction (a batch-32 step is about ten
//! billion PTX instructions: minutes on two cores), so contexts stay short; the attention's
//! share grows with the context.

use std::error::Error;

use aikernel_cuda::forward::{Forward, MatmulTile};
use aikernel_cuda::gpu::Nvrtc;
use aikernel_cuda::ptx::{GpuModel, PtxDevice};
use aikernel_engine::Model;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let batches: Vec<usize> = match args.first() {
        Some(list) => list
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("batch {b:?}: {e}"))
            })
            .collect::<Result<_, _>>()?,
        None => vec![1, 8, 32],
    };
    let depth: usize = match args.get(1) {
        Some(d) => d.parse().map_err(|e| format!("depth {d:?}: {e}"))?,
        None => 4,
    };
    let tile: MatmulTile = match args.get(2) {
        Some(t) => t.parse()?,
        None => MatmulTile::DEFAULT,
    };
    if batches.contains(&0) || depth == 0 {
        return Err("batch sizes and the depth must be at least 1".into());
    }
    let path = aikernel_engine::paths::model();
    let m = Model::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lib = aikernel_engine::paths::cuda_toolkit().join("lib/libnvrtc.so.13");
    let lib = lib.to_str().ok_or("the toolkit's path is not UTF-8")?;
    let ptx = String::from_utf8(Nvrtc::load_from(&[lib])?.compile("compute_90")?)?;
    let gpu = GpuModel::H200;
    let vocab = m.config().vocab_size as u32;
    println!(
        "SmolLM2-135M decode step on an {} by the timing model ({} positions deep, matmul \
         tiles {tile})",
        gpu.name, depth
    );
    for &batch in &batches {
        let mut dev = PtxDevice::new(&ptx)?;
        dev.set_both_orders(false);
        let mut fwd = Forward::new(dev, aikernel_accel::model_spec(&m), batch, depth + 1)?;
        fwd.set_matmul_tile(tile)?;
        let tokens = |s: usize, n: usize| -> Vec<u32> {
            (0..n as u32)
                .map(|i| (s as u32 * 7919 + i * 104_729 + 13) % vocab)
                .collect()
        };
        let prompts: Vec<Vec<u32>> = (0..batch).map(|s| tokens(s, depth)).collect();
        let seqs: Vec<(usize, &[u32])> = prompts
            .iter()
            .enumerate()
            .map(|(s, p)| (s, p.as_slice()))
            .collect();
        fwd.step(&seqs)?;
        fwd.device().clear_costs();
        fwd.device().set_model(Some(gpu));
        let next: Vec<Vec<u32>> = (0..batch).map(|s| tokens(s + batch, 1)).collect();
        let seqs: Vec<(usize, &[u32])> = next
            .iter()
            .enumerate()
            .map(|(s, t)| (s, t.as_slice()))
            .collect();
        let started = std::time::Instant::now();
        fwd.step(&seqs)?;
        let d = fwd.device();
        let costs = d.costs();
        let launches: u64 = costs.iter().map(|c| c.1.launches).sum();
        let micros = gpu.micros(d.cycles());
        println!(
            "batch {batch}: {micros:.1} us, {launches} launches, {:.0} tokens/s with no launch \
             gaps ({:.0} with 1 us a launch); {} PTX instructions in {:.1} s",
            batch as f64 / micros * 1e6,
            batch as f64 / (micros + launches as f64) * 1e6,
            costs.iter().map(|c| c.1.executed).sum::<u64>(),
            started.elapsed().as_secs_f64()
        );
        for (k, c) in costs {
            println!(
                "  {k:<20} {:>4} launches {:>8.1} us (latency {:.1}, issue {:.1}, memory {:.1})",
                c.launches,
                gpu.micros(c.cycles),
                gpu.micros(c.bounds.latency),
                gpu.micros(c.bounds.issue),
                gpu.micros(c.bounds.memory)
            );
        }
    }
    Ok(())
}
