//! The engine's committed golden hashes replayed through the CUDA forward pass: on the host
//! build here (SmolLM2-135M Q4_1, each request alone and the four batched with two fillers),
//! and, where a GPU is present (`scripts/gpu-check.sh`; elsewhere the `gpu` skip), on the
//! GPU at batch sizes 1, 4 and 32 for SmolLM2 and 1 and 8 for Gemma 3 270M, writing
//! `golden.json` into `$AK_GPU_CHECK_OUT`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_cuda::forward::{Forward, HostDevice};
use aikernel_cuda::gpu::GpuDevice;
use aikernel_engine::Model;
use common::engine::spec;
use common::golden::{Case, cases, replay};

fn smollm2() -> Model {
    let path = aikernel_engine::paths::model();
    assert!(
        path.exists(),
        "SmolLM2-135M-Instruct not found at {}: set AIKERNEL_MODEL or run scripts/setup.sh",
        path.display()
    );
    Model::load(&path).unwrap()
}

fn capacity(cs: &[Case]) -> usize {
    cs.iter()
        .map(|c| c.prompt.len() + c.tokens.len())
        .max()
        .unwrap_or(1)
}

#[test]
fn smollm2_golden_hashes_on_the_host_build() {
    let m = smollm2();
    let cs = cases("golden_smollm2_q4_1.json");
    assert_eq!(cs.len(), 4);
    let want: Vec<&str> = cs.iter().map(|c| c.sha.as_str()).collect();
    let vocab = m.config().vocab_size as u32;
    let mut f = Forward::new(HostDevice::new(), spec(&m), 6, capacity(&cs) + 5).unwrap();
    assert_eq!(replay(&mut f, &cs, 1, 0, vocab), want, "alone");
    assert_eq!(
        replay(&mut f, &cs, 4, 2, vocab),
        want,
        "batched with fillers"
    );
}

/// Runs `fixture` on the GPU at each `(group, pad, graphs)` (CUDA graphs on or off),
/// returning JSON rows and whether all match.
fn gpu_rows(
    m: &Model,
    name: &str,
    fixture: &str,
    configs: &[(usize, usize, bool)],
) -> (Vec<String>, bool) {
    let cs = cases(fixture);
    let vocab = m.config().vocab_size as u32;
    let (mut rows, mut all) = (Vec::new(), true);
    for &(group, pad, graphs) in configs {
        let mut gpu =
            GpuDevice::open().unwrap_or_else(|e| panic!("no GPU for the golden check: {e}"));
        gpu.set_graphs(graphs).unwrap();
        // Fillers hold up to `3 + pad` prompt tokens and decode as long as the longest case.
        let mut f = Forward::new(gpu, spec(m), group + pad, capacity(&cs) + pad + 3).unwrap();
        let t = std::time::Instant::now();
        let got = replay(&mut f, &cs, group, pad, vocab);
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
    let m = smollm2();
    let (r, ok) = gpu_rows(
        &m,
        "SmolLM2-135M-Instruct Q4_1",
        "golden_smollm2_q4_1.json",
        &[
            (1, 0, true),
            (4, 0, true),
            (4, 28, true),
            (1, 0, false),
            (4, 28, false),
        ],
    );
    rows.extend(r);
    all &= ok;
    let gemma = aikernel_engine::paths::gemma3_270m();
    if gemma.exists() {
        let g = Model::load(&gemma).unwrap();
        let (r, ok) = gpu_rows(
            &g,
            "Gemma 3 270M Q4_K_M",
            "golden_gemma3_270m.json",
            &[(1, 0, true), (4, 4, true), (4, 4, false)],
        );
        rows.extend(r);
        all &= ok;
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
