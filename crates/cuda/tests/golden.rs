//! Every golden request of the engine's test suite replayed through the CUDA forward pass:
//! SmolLM2-135M Q4_1 (`golden_smollm2_q4_1.json`), SmolLM2 requantized to Q4_K_M by the
//! engine's quantizer (`golden_smollm2_q4_k_m.json`: Q4_K, Q6_K, Q5_0 and Q8_0 at real sizes),
//! Gemma 3 270M Q4_K_M (`golden_gemma3_270m.json`) and its 895-token prompt past the sliding
//! window (`golden_gemma3_270m_window.json`). On the host build here, each request alone and
//! batched with fillers; where a GPU is present (`scripts/gpu-check.sh`; elsewhere the `gpu`
//! skip), on the GPU at several batch sizes (1, 4 and 32 for SmolLM2), with CUDA graphs and
//! some again without, writing `golden.json` into `$AK_GPU_CHECK_OUT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_cuda::forward::{Forward, HostDevice};
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::Model;
use aikernel_engine::gguf::GgufFile;
use aikernel_engine::quantize::{QuantType, requantize_gguf};
use common::engine::spec;
use common::golden::{Case, cases, replay, window_case};

/// The model file at `path`, which setup installs (`what` names it, `hint` how to get it).
fn installed(path: &std::path::Path, what: &str, hint: &str) -> Model {
    assert!(
        path.exists(),
        "{what} not found at {}: {hint}",
        path.display()
    );
    Model::load(path).unwrap()
}

fn smollm2() -> Model {
    installed(
        &aikernel_engine::paths::model(),
        "SmolLM2-135M-Instruct",
        "set AIKERNEL_MODEL or run scripts/setup.sh",
    )
}

/// The default model requantized to the Q4_K_M mix, as the engine's `kquant_model` test does.
fn smollm2_q4_k_m() -> Model {
    let input = GgufFile::open(&aikernel_engine::paths::model()).unwrap();
    let mut bytes = Vec::new();
    requantize_gguf(&input, QuantType::Q4_K_M, &mut bytes).unwrap();
    Model::from_gguf(GgufFile::from_bytes(bytes).unwrap()).unwrap()
}

fn gemma3() -> Model {
    installed(
        &aikernel_engine::paths::gemma3_270m(),
        "Gemma 3 270M",
        "run scripts/setup.sh",
    )
}

fn capacity(cs: &[Case]) -> usize {
    cs.iter()
        .map(|c| c.prompt.len() + c.tokens.len())
        .max()
        .unwrap_or(1)
}

/// `cs` on the host build alone and in groups of `group` with `pad` fillers: the committed
/// hashes both ways.
fn host_build_matches(m: &Model, cs: &[Case], group: usize, pad: usize) {
    let want: Vec<&str> = cs.iter().map(|c| c.sha.as_str()).collect();
    let vocab = m.config().vocab_size as u32;
    let mut f = Forward::new(
        HostDevice::new(),
        spec(m),
        group + pad,
        capacity(cs) + pad + 3,
    )
    .unwrap();
    assert_eq!(replay(&mut f, cs, 1, 0, vocab), want, "alone");
    assert_eq!(
        replay(&mut f, cs, group, pad, vocab),
        want,
        "batched: {group} with {pad} fillers"
    );
}

#[test]
fn smollm2_golden_hashes_on_the_host_build() {
    let cs = cases("golden_smollm2_q4_1.json");
    assert_eq!(cs.len(), 4);
    host_build_matches(&smollm2(), &cs, 4, 2);
}

#[test]
fn smollm2_q4_k_m_golden_hashes_on_the_host_build() {
    let cs = cases("golden_smollm2_q4_k_m.json");
    assert_eq!(cs.len(), 3);
    host_build_matches(&smollm2_q4_k_m(), &cs, 3, 2);
}

#[test]
fn gemma3_golden_hashes_on_the_host_build() {
    let g = gemma3();
    let cs = cases("golden_gemma3_270m.json");
    assert_eq!(cs.len(), 2);
    host_build_matches(&g, &cs, 2, 2);
}

/// Batched with a filler only: each run prefills 895 tokens (about 110 s on the host build),
/// and the filler decoding beside it adds to what the request alone would show.
#[test]
fn gemma3_sliding_window_golden_hash_on_the_host_build() {
    let g = gemma3();
    let cs = [window_case()];
    let vocab = g.config().vocab_size as u32;
    let mut f = Forward::new(HostDevice::new(), spec(&g), 2, capacity(&cs) + 4).unwrap();
    assert_eq!(replay(&mut f, &cs, 1, 1, vocab), [cs[0].sha.clone()]);
}

/// Runs `cs` on the GPU at each `(group, pad, graphs)` (CUDA graphs on or off), returning
/// JSON rows and whether all match.
fn gpu_rows(
    m: &Model,
    name: &str,
    cs: &[Case],
    configs: &[(usize, usize, bool)],
) -> (Vec<String>, bool) {
    let vocab = m.config().vocab_size as u32;
    let (mut rows, mut all) = (Vec::new(), true);
    for &(group, pad, graphs) in configs {
        let mut gpu =
            GpuDevice::open().unwrap_or_else(|e| panic!("no GPU for the golden check: {e}"));
        gpu.set_graphs(graphs).unwrap();
        // Fillers hold up to `3 + pad` prompt tokens and decode as long as the longest case.
        let mut f = Forward::new(gpu, spec(m), group + pad, capacity(cs) + pad + 3).unwrap();
        let t = std::time::Instant::now();
        let got = replay(&mut f, cs, group, pad, vocab);
        let secs = t.elapsed().as_secs_f64();
        for (c, g) in cs.iter().zip(&got) {
            let ok = *g == c.sha;
            all &= ok;
            rows.push(format!(
                "{{\"model\": \"{name}\", \"batch\": {}, \"graphs\": {graphs}, \"text\": {:?}, \"want\": \"{}\", \"got\": \"{g}\", \"equal\": {ok}, \"seconds\": {secs:.3}}}",
                group + pad, c.text, c.sha
            ));
        }
    }
    (rows, all)
}

#[test]
fn golden_hashes_on_the_gpu() {
    if let Err(e) = aikernel_cuda::discover() {
        aikernel_testkit::skip_or_fail("gpu", &format!("no GPU to run the CUDA forward pass: {e}"));
        return;
    }
    let mut rows = Vec::new();
    let mut all = true;
    let mut run = |m: &Model, name: &str, cs: &[Case], configs: &[(usize, usize, bool)]| {
        let (r, ok) = gpu_rows(m, name, cs, configs);
        rows.extend(r);
        all &= ok;
    };
    // `AK_GPU_GOLDEN=gemma` (gpu-check.sh --gemma, a call after the whole check): Gemma's
    // requests alone, the SmolLM2 rows having run already.
    let gemma_only = std::env::var("AK_GPU_GOLDEN").is_ok_and(|v| v == "gemma");
    let gemma = aikernel_engine::paths::gemma3_270m();
    assert!(
        !gemma_only || gemma.exists(),
        "AK_GPU_GOLDEN=gemma, but {} is missing",
        gemma.display()
    );
    if !gemma_only {
        smollm2_rows(&mut run);
    }
    // Gemma 3 270M where its file is present (on the GPU machine after the bundle's Gemma
    // calls, `gpu-check.sh --gemma`: docs/engine.md, "A GPU machine without Rust").
    if gemma.exists() {
        let g = Model::load(&gemma).unwrap();
        run(
            &g,
            "Gemma 3 270M Q4_K_M",
            &cases("golden_gemma3_270m.json"),
            &[(1, 0, true), (2, 6, true), (2, 6, false)],
        );
        run(
            &g,
            "Gemma 3 270M Q4_K_M, 895-token prompt past the sliding window",
            &[window_case()],
            &[(1, 0, true), (1, 7, true), (1, 0, false)],
        );
    }
    let json = format!("[\n  {}\n]\n", rows.join(",\n  "));
    if let Some(dir) = std::env::var_os("AK_GPU_CHECK_OUT") {
        std::fs::write(std::path::Path::new(&dir).join("golden.json"), &json).unwrap();
    }
    println!("{json}");
    assert!(
        all,
        "GPU logits differ from the committed CPU hashes:\n{json}"
    );
}

/// The SmolLM2 requests of `golden_hashes_on_the_gpu` (Q4_1 alone, at 4 and at 32; Q4_K_M
/// alone and at 8), through `run`.
fn smollm2_rows(run: &mut impl FnMut(&Model, &str, &[Case], &[(usize, usize, bool)])) {
    let m = smollm2();
    run(
        &m,
        "SmolLM2-135M-Instruct Q4_1",
        &cases("golden_smollm2_q4_1.json"),
        &[
            (1, 0, true),
            (4, 0, true),
            (4, 28, true),
            (1, 0, false),
            (4, 28, false),
        ],
    );
    drop(m);
    run(
        &smollm2_q4_k_m(),
        "SmolLM2-135M-Instruct requantized to Q4_K_M",
        &cases("golden_smollm2_q4_k_m.json"),
        &[(1, 0, true), (3, 5, true), (3, 5, false)],
    );
}
