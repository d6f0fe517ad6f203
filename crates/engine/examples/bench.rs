//! Engine throughput without the CLI: `cargo run --release -p aikernel-engine --example bench --
//! [MODEL] [THREADS] [N_PROMPT] [N_GEN] [REPS] [DEPTH]` (MODEL defaults to
//! `aikernel_engine::paths::model()`; DEPTH positions are prefilled untimed first).
//! Prints one line per repetition, then the resident and peak resident memory
//! (`AIKERNEL_KERNEL=scalar|avx2|avx512|auto` picks the kernel).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use aikernel_engine::{Kernel, Model, bench::bench_at};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .filter(|s| !s.is_empty())
        .map_or_else(aikernel_engine::paths::model, PathBuf::from);
    let num = |i: usize, d: usize| args.get(i).map_or(d, |s| s.parse().expect("number"));
    let (threads, n_prompt, n_gen, reps) = (num(1, 1), num(2, 64), num(3, 64), num(4, 3));
    let depth = num(5, 0);
    let kernel: Kernel = std::env::var("AIKERNEL_KERNEL")
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .expect("kernel name");
    let m = Model::load(&model).expect("model");
    for _ in 0..reps {
        let r = bench_at(&m, depth, n_prompt, n_gen, threads, kernel).expect("bench");
        println!(
            "{kernel} threads {} depth {} pp{} {:.1} t/s  tg{} {:.1} t/s",
            r.threads, r.depth, r.n_prompt, r.pp_tokens_per_s, r.n_gen, r.tg_tokens_per_s
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for key in ["VmRSS:", "VmHWM:"] {
        if let Some(l) = status.lines().find(|l| l.starts_with(key)) {
            println!("{}", l.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}
