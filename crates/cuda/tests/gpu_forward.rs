//! The CUDA forward pass on the GPU against the engine's own forward pass, on models built in
//! code, so no model file is needed: the scenario of `tests/forward.rs` (two sequences of
//! different lengths prefilled together, decode steps, a third joining) on the tiny synthetic
//! models of every architecture and weight type, every logit's bits equal at every step.
//! Then a context longer than the attention keeps in shared memory. Where there is no GPU this
//! is the recorded skip `gpu`; `tests/forward.rs` and `tests/ptx.rs` run the same scenarios on
//! the host build and as interpreted PTX (the long attention's on hand-built launches).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny.rs"]
mod tiny;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_arch.rs"]
mod tiny_arch;
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../engine/tests/common/tiny_gemma.rs"]
mod tiny_gemma;

use aikernel_cuda::forward::{Forward, MatmulTile};
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::Model;
use aikernel_engine::quantize::QuantType;
use common::engine::{as_f16, compare_steps_on, load, past_shared_attention, quantized, spec};
use tiny_arch::Family;

fn scenario(vocab: usize) -> Vec<Vec<(usize, Vec<u32>)>> {
    let t = |seed: u32, n: usize| -> Vec<u32> {
        (0..n as u32)
            .map(|i| (seed * 31 + i * 17 + 3) % vocab as u32)
            .collect()
    };
    vec![
        vec![(0, t(1, 7)), (1, t(2, 3))],
        vec![(0, t(3, 1)), (1, t(4, 1))],
        vec![(1, t(5, 1)), (2, t(6, 9)), (0, t(7, 1))],
    ]
}

#[test]
fn every_architecture_and_weight_type_matches_the_engine_on_the_gpu() {
    if let Err(e) = aikernel_cuda::discover() {
        aikernel_testkit::skip_or_fail("gpu", &format!("no GPU to run the CUDA forward pass: {e}"));
        return;
    }
    let llama = tiny::tiny_llama(2);
    let wide = tiny_arch::tiny(Family::Llama3);
    let mut models: Vec<(String, Model)> = Family::ALL
        .iter()
        .map(|&f| (f.name().to_owned(), load(&tiny_arch::tiny(f))))
        .collect();
    models.push((
        "llama3 unscaled".into(),
        load(&tiny_arch::tiny_llama3_unscaled()),
    ));
    models.push(("llama f32".into(), load(&llama)));
    models.push(("gemma3 f32".into(), load(&tiny_gemma::tiny_gemma3(3))));
    models.push((
        "gemma3 q8_0".into(),
        quantized(&tiny_gemma::tiny_gemma3(3), QuantType::Q8_0, false),
    ));
    models.push(("llama f16".into(), as_f16(&llama)));
    for t in [
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
    ] {
        models.push((t.name().to_owned(), quantized(&llama, t, false)));
    }
    for t in [
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q4_K_M,
    ] {
        models.push((t.name().to_owned(), quantized(&wide, t, true)));
    }
    // At the default tiling (the tiny models' launches are too small for tensor-core tiles
    // of a warp each, which only output heads take), then tensor-core tiles of a block each
    // and of a warp each everywhere.
    for (name, m) in &models {
        for tile in [MatmulTile::DEFAULT, MatmulTile::Mma, MatmulTile::MmaWarp] {
            let gpu = GpuDevice::open().unwrap_or_else(|e| panic!("opening the GPU: {e}"));
            let mut fwd = Forward::new(gpu, spec(m), 3, 64).unwrap();
            fwd.set_matmul_tile(tile).unwrap();
            compare_steps_on(
                m,
                &format!("{name}, tiles {tile}"),
                &scenario(m.config().vocab_size),
                &mut fwd,
            );
            println!("{name}, tiles {tile}: bit-identical on the GPU");
        }
    }
}

#[test]
fn a_context_past_the_shared_attention_matches_the_engine_on_the_gpu() {
    if let Err(e) = aikernel_cuda::discover() {
        aikernel_testkit::skip_or_fail("gpu", &format!("no GPU to run the CUDA forward pass: {e}"));
        return;
    }
    let (m, steps, capacity) = past_shared_attention(tiny::tiny_llama(2));
    let gpu = GpuDevice::open().unwrap_or_else(|e| panic!("opening the GPU: {e}"));
    let mut fwd = Forward::new(gpu, spec(&m), 2, capacity).unwrap();
    compare_steps_on(
        &m,
        "llama q4_1, past the shared attention",
        &steps,
        &mut fwd,
    );
    println!("llama q4_1, {capacity} positions: bit-identical on the GPU");
}
