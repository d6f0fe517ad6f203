//! The whole forward pass of the CUDA kernels, run on the host (`forward::HostDevice`: the
//! same per-output functions the GPU kernels run, launch by launch in the order a GPU step
//! launches them), against the engine's own forward pass (scalar kernel): logits bit-identical
//! on tiny synthetic models of every architecture (Llama with Llama 3 RoPE factors, Qwen 2
//! biases, Qwen 3 Q/K norms, Gemma 3 sliding windows, post-norms, GELU and soft-capping), every
//! weight type, the real SmolLM2-135M; each sequence's logits the same alone or batched, in one
//! prefill or in chunks.
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

use aikernel_cuda::forward::{Kernel, MatmulTile};
use aikernel_engine::Model;
use aikernel_engine::quantize::QuantType;
use common::engine::{
    as_f16, bits, compare_steps, compare_steps_on, host_forward, load, past_shared_attention,
    quantized,
};
use tiny_arch::Family;

/// Prefill of two sequences of different lengths together, then two decode steps of both,
/// then a third sequence joining while the others decode.
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

/// The scenario at the default matmul tile (one token per thread for models this small),
/// with every thread taking 3 or 8 tokens, and in tensor-core tiles (16 rows by 8 tokens, a
/// block's or a warp's, which the host build computes row by row): the same bits as the
/// engine each time.
fn check(m: &Model, name: &str) {
    let steps = scenario(m.config().vocab_size);
    for tile in [
        MatmulTile::DEFAULT,
        MatmulTile::Fixed(3),
        MatmulTile::Fixed(8),
        MatmulTile::Mma,
        MatmulTile::MmaWarp,
    ] {
        let mut f = host_forward(m, 3, 64);
        f.set_matmul_tile(tile).unwrap();
        compare_steps_on(m, &format!("{name}, {tile:?}"), &steps, &mut f);
    }
}

#[test]
fn every_architecture_matches_the_engine() {
    for f in Family::ALL {
        check(&load(&tiny_arch::tiny(f)), f.name());
    }
    check(&load(&tiny_arch::tiny_llama3_unscaled()), "llama3 unscaled");
    check(&load(&tiny::tiny_llama(2)), "llama f32");
    // Windows of 4: the scenario's sequences run past them.
    check(&load(&tiny_gemma::tiny_gemma3(3)), "gemma3 f32");
    check(
        &quantized(&tiny_gemma::tiny_gemma3(3), QuantType::Q8_0, false),
        "gemma3 q8_0",
    );
}

#[test]
fn every_weight_type_matches_the_engine() {
    let llama = tiny::tiny_llama(2);
    check(&as_f16(&llama), "llama f16");
    for t in [
        QuantType::Q8_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
    ] {
        check(&quantized(&llama, t, false), t.name());
    }
    // Rows of 256 for the K-quants (the tiny llama's are 64 wide).
    let wide = tiny_arch::tiny(Family::Llama3);
    for t in [
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q4_K_M,
    ] {
        check(&quantized(&wide, t, true), t.name());
    }
}

#[test]
fn a_sequence_is_the_same_alone_batched_and_chunked() {
    let m = load(&tiny_gemma::tiny_gemma3(3));
    let prompt: Vec<u32> = (0..11).map(|i| (i * 37 + 5) % 260).collect();
    let others = [
        vec![9u32, 8, 7],
        (0..17).map(|i| i * 3 + 1).collect::<Vec<u32>>(),
    ];
    let alone = {
        let mut f = host_forward(&m, 3, 64);
        let a = f.step(&[(0, &prompt)]).unwrap();
        let b = f.step(&[(0, &[42])]).unwrap();
        [bits(&a[0]), bits(&b[0])]
    };
    // In a batch of three, the sequence in the middle slot, the others of other lengths.
    let batched = {
        let mut f = host_forward(&m, 3, 64);
        let a = f
            .step(&[(1, &others[0]), (0, &prompt), (2, &others[1])])
            .unwrap();
        let b = f.step(&[(2, &[5]), (1, &[6]), (0, &[42])]).unwrap();
        [bits(&a[1]), bits(&b[2])]
    };
    assert_eq!(alone, batched, "batched logits differ from alone");
    // Prefilled in chunks of 4, 4 and 3 (the last chunk's logits are the prompt's).
    let chunked = {
        let mut f = host_forward(&m, 1, 64);
        f.step(&[(0, &prompt[..4])]).unwrap();
        f.step(&[(0, &prompt[4..8])]).unwrap();
        let a = f.step(&[(0, &prompt[8..])]).unwrap();
        let b = f.step(&[(0, &[42])]).unwrap();
        [bits(&a[0]), bits(&b[0])]
    };
    assert_eq!(alone, chunked, "chunked prefill differs from one step");
    // And the engine agrees with all three.
    compare_steps(
        &m,
        "gemma3 alone",
        1,
        &[vec![(0, prompt.clone())], vec![(0, vec![42])]],
    );
}

#[test]
fn smollm2_matches_the_engine() {
    let path = aikernel_engine::paths::model();
    assert!(
        path.exists(),
        "SmolLM2-135M-Instruct not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        path.display()
    );
    let m = Model::load(&path).unwrap();
    let tok = m.tokenizer();
    let a = tok.encode("The capital of France is", true);
    let b = tok.encode("def fibonacci(n):", true);
    let steps = vec![
        vec![(0, a), (1, b)],
        vec![(0, vec![12]), (1, vec![198])],
        vec![(1, vec![220])],
    ];
    compare_steps(&m, "SmolLM2-135M Q4_1", 2, &steps);
}

#[test]
fn the_default_tile_keeps_launches_wide_and_odd_tiles_are_refused() {
    let t = MatmulTile::DEFAULT;
    // A warp per (row, tile): SmolLM2's 576-row projections at batch 32 take 8 tokens a warp
    // (73728 threads), at batch 8 take 4 (36864; 8 would leave 18432); one token decodes one
    // at a time; its 49152-row head takes 8.
    assert_eq!(t.for_shape(576, 32), 8);
    assert_eq!(t.for_shape(576, 8), 4);
    assert_eq!(t.for_shape(576, 1), 1);
    assert_eq!(t.for_shape(49152, 32), 8);
    assert_eq!(t.for_shape(4096, 1), 1);
    assert_eq!(MatmulTile::Fixed(5).for_shape(10, 3), 5);
    // Tensor-core tiles where the device has them, every matrix is quantized and a launch has
    // 8 tokens or more; `Mma` takes them always.
    let mma = aikernel_cuda::host::TILE_MMA;
    assert_eq!(t.for_launch(576, 32, true), mma);
    assert_eq!(t.for_launch(576, 8, true), mma);
    assert_eq!(t.for_launch(576, 7, true), t.for_shape(576, 7));
    assert_eq!(t.for_launch(576, 32, false), 8);
    assert_eq!(MatmulTile::Fixed(4).for_launch(576, 32, true), 4);
    assert_eq!(MatmulTile::Mma.for_launch(10, 1, false), mma);
    // A warp a tile where the launch has at least 8192 tiles: output heads (SmolLM2's 49152
    // rows at batch 32 make 12288, at batch 8 3072; Gemma 3's 262_144 rows at 8 make 16384).
    let warp = aikernel_cuda::host::TILE_MMA_WARP;
    assert_eq!(t.for_launch(49152, 32, true), warp);
    assert_eq!(t.for_launch(49152, 8, true), mma);
    assert_eq!(t.for_launch(262_144, 8, true), warp);
    assert_eq!(t.for_launch(262_144, 7, true), t.for_shape(262_144, 7));
    assert_eq!(t.for_launch(262_144, 32, false), 8);
    assert_eq!(t.for_launch(16 * 8192, 8, true), warp);
    assert_eq!(t.for_launch(16 * 8191, 8, true), mma);
    assert_eq!(MatmulTile::MmaWarp.for_launch(10, 1, false), warp);
    assert_eq!(MatmulTile::Mma.for_launch(262_144, 32, true), mma);
    assert_eq!(aikernel_cuda::host::matmul_groups(576, 32, mma), 36 * 4 * 8);
    assert_eq!(aikernel_cuda::host::matmul_groups(17, 9, mma), 2 * 2 * 8);
    assert_eq!(aikernel_cuda::host::matmul_groups(17, 9, warp), 2 * 2);
    assert_eq!(
        aikernel_cuda::host::matmul_groups(49152, 32, warp),
        3072 * 4
    );
    assert_eq!(aikernel_cuda::host::matmul_groups(576, 32, 8), 576 * 4);
    let m = load(&tiny::tiny_llama(2));
    let mut f = host_forward(&m, 1, 8);
    for bad in [0, 9] {
        let err = f.set_matmul_tile(MatmulTile::Fixed(bad)).unwrap_err();
        assert!(err.to_string().contains("tile"), "{err}");
    }
}

#[test]
fn the_projections_of_one_input_share_its_quantization_and_launches_are_fused() {
    let m = quantized(&tiny::tiny_llama(2), QuantType::Q4_1, false);
    let c = m.config();
    let layers = c.n_layers;
    let mut f = host_forward(&m, 1, 16);
    f.set_matmul_tile(MatmulTile::Fixed(4)).unwrap();
    f.step(&[(0, &[1, 2, 3, 4, 5, 6])]).unwrap();
    let count = |k: Kernel| f.trace().iter().filter(|l| l.kernel == k).count();
    // Per layer: the two norms each quantize in their launch, Q/K/V in one matmul, the output
    // projection adds into the stream, gate/up in one matmul, the gating quantizes in its
    // launch, down adds into the stream. The head: norm and quantization, one matmul.
    assert_eq!(count(Kernel::NormQuant), 2 * layers + 1);
    assert_eq!(count(Kernel::GatedQuant), layers);
    assert_eq!(count(Kernel::Matmul), 4 * layers + 1);
    for k in [Kernel::RmsNorm, Kernel::Gated, Kernel::RmsNormAdd] {
        assert_eq!(count(k), 0, "{k:?}");
    }
    // RoPE of queries and keys and the cache writes: one launch a layer; the attention (scores,
    // softmax, value sums) one more. Heads of 16 are not whole blocks: their outputs quantize
    // in a launch of their own.
    assert_eq!(count(Kernel::RopeKv), layers);
    assert_eq!(count(Kernel::Attention), layers);
    assert_eq!(count(Kernel::Quantize), layers);
    // 10 launches a layer; the embedding; gather, norm and matmul of the head.
    assert_eq!(f.trace().len(), 10 * layers + 4);
    // Six tokens in tiles of four: two threads per weight row of Q, K and V together.
    let first = f
        .trace()
        .iter()
        .find(|l| l.kernel == Kernel::Matmul)
        .unwrap();
    let kv = c.n_embd / c.n_head * c.n_head_kv;
    assert_eq!(first.n, 2 * (c.n_embd + 2 * kv));
}

#[test]
fn gemmas_post_norms_add_into_the_stream_in_their_launch() {
    // Gemma 3 normalizes the attention's and the feed-forward's outputs before the residual
    // add: one launch each (the norm adding its rows into the stream, the add once a launch
    // of its own), which also takes the next sublayer's norm with its quantization (rows of
    // whole blocks, as here: width 64), except after the last layer, where the head gathers
    // its rows first; the logits as the engine's (the checks above).
    let m = quantized(&tiny_gemma::tiny_gemma3(3), QuantType::Q8_0, false);
    let layers = m.config().n_layers;
    let mut f = host_forward(&m, 2, 16);
    f.step(&[(0, &[1, 2, 3]), (1, &[4])]).unwrap();
    let count = |k: Kernel| f.trace().iter().filter(|l| l.kernel == k).count();
    assert_eq!(count(Kernel::AddNormQuant), 2 * layers - 1);
    assert_eq!(count(Kernel::RmsNormAdd), 1);
    // Norms of their own: the first layer's, and the head's.
    assert_eq!(count(Kernel::NormQuant), 2);
    // The per-head query and key norms go into the RoPE's launch: no plain norm is left.
    assert_eq!(count(Kernel::NormRopeKv), layers);
    assert_eq!(count(Kernel::RmsNorm) + count(Kernel::RopeKv), 0);
    // Each is followed by the next sublayer's projection, which reads the blocks it wrote.
    let t = f.trace();
    for (i, l) in t.iter().enumerate() {
        if l.kernel == Kernel::AddNormQuant {
            let next = t[i + 1].kernel;
            assert!(
                matches!(next, Kernel::Matmul | Kernel::MatmulMma),
                "{next:?}"
            );
        }
    }
}

#[test]
fn heads_of_whole_blocks_quantize_in_the_attention_launch() {
    // Heads of 64 (SmolLM2's width): 9 launches a layer, no quantize launch of their own.
    let m = quantized(&tiny_arch::tiny(Family::Llama3), QuantType::Q8_0, false);
    let layers = m.config().n_layers;
    let mut f = host_forward(&m, 1, 16);
    f.step(&[(0, &[1, 2, 3])]).unwrap();
    let count = |k: Kernel| f.trace().iter().filter(|l| l.kernel == k).count();
    assert_eq!(m.config().head_dim, 64);
    assert_eq!(count(Kernel::Quantize), 0);
    assert_eq!(count(Kernel::Attention), layers);
    assert_eq!(f.trace().len(), 9 * layers + 4);
}

#[test]
fn a_context_past_the_shared_attention_takes_the_long_attention() {
    // Every step after the long prefill sees more than ATTENTION_SHARED positions, so each
    // layer's attention is the long kernel's launch; the logits as the engine's (the host
    // build computes both kernels alike: their PTX is tested in tests/ptx.rs).
    let (m, steps, capacity) = past_shared_attention(tiny::tiny_llama(2));
    let mut f = host_forward(&m, 2, capacity);
    compare_steps_on(&m, "llama q4_1, past the shared attention", &steps, &mut f);
    let count = |k: Kernel| f.trace().iter().filter(|l| l.kernel == k).count();
    assert_eq!(count(Kernel::AttentionLong), m.config().n_layers);
    assert_eq!(count(Kernel::Attention), 0);
}

#[test]
fn rows_that_are_not_whole_blocks_take_the_separate_launches() {
    // Width 40 and FFN width 72: no activation blocks, so the norms and the gating have
    // launches of their own and the F32 weights read the values.
    let m = load(&tiny::tiny_llama_shaped(2, 40, 72));
    check(&m, "llama width 40");
    let mut f = host_forward(&m, 1, 16);
    f.step(&[(0, &[1, 2, 3])]).unwrap();
    let count = |k: Kernel| f.trace().iter().filter(|l| l.kernel == k).count();
    let layers = m.config().n_layers;
    assert_eq!(count(Kernel::RmsNorm), 2 * layers + 1);
    assert_eq!(count(Kernel::Gated), layers);
    for k in [Kernel::NormQuant, Kernel::GatedQuant, Kernel::Quantize] {
        assert_eq!(count(k), 0, "{k:?}");
    }
}

#[test]
fn tiles_parse_from_what_they_print() {
    for t in [
        MatmulTile::DEFAULT,
        MatmulTile::Auto { min_threads: 4096 },
        MatmulTile::Fixed(1),
        MatmulTile::Fixed(8),
        MatmulTile::Mma,
        MatmulTile::MmaWarp,
    ] {
        assert_eq!(t.to_string().parse::<MatmulTile>(), Ok(t));
    }
    assert_eq!("mma".parse::<MatmulTile>(), Ok(MatmulTile::Mma));
    assert_eq!("mma-warp".parse::<MatmulTile>(), Ok(MatmulTile::MmaWarp));
    assert_eq!("auto".parse::<MatmulTile>(), Ok(MatmulTile::DEFAULT));
    for bad in ["0", "9", "auto:", "auto:x", "fast", "mma-", "warp", ""] {
        let e = bad.parse::<MatmulTile>().unwrap_err();
        assert!(e.contains("expected auto"), "{bad}: {e}");
    }
}
