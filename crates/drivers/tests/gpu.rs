//! The LLM driver generating on the GPU (`LlmDriver::with_gpu`, the node's `device = "cuda"`):
//! where a GPU is found, the same outputs as on the CPU; elsewhere an error naming what is
//! missing, never a panic and never a driver that quietly computes on the CPU.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aikernel_cuda::CudaError;
use aikernel_drivers::{Driver, InferenceRequest};
use aikernel_schema::{Node, Schema};

#[test]
fn the_gpu_driver_answers_as_the_cpu_one_or_names_what_is_missing() {
    let schema = Schema::new(Node::int(300, 850)).unwrap();
    let req = InferenceRequest {
        prompt_id: [7; 32],
        input: b"Credit score of a careful saver with no debt:".to_vec(),
        schema: schema.encode(),
        max_tokens: 8,
        ..InferenceRequest::default()
    };
    match common::load(1).with_gpu() {
        Ok(gpu) => {
            let cpu = common::load(1);
            assert_eq!(gpu.run(&req).unwrap(), cpu.run(&req).unwrap());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains("cuda kernel"), "{msg}");
            if matches!(
                aikernel_cuda::discover(),
                Err(CudaError::DriverMissing { .. })
            ) {
                assert!(msg.contains("libcuda.so.1"), "{msg}");
            }
        }
    }
}

/// A batch on the GPU (more generations than slots: decoded in turns) answers each request
/// as the CPU driver's `run` does; without a GPU, the same error as `with_gpu`.
#[test]
fn a_gpu_batch_answers_as_the_cpu_one_or_names_what_is_missing() {
    let request = |id: u8, input: &str, node: Node, max_tokens: u32, temp: u32| InferenceRequest {
        prompt_id: [id; 32],
        input: input.as_bytes().to_vec(),
        schema: Schema::new(node).unwrap().encode(),
        max_tokens,
        temperature_milli: temp,
        seed: u64::from(id),
        ..InferenceRequest::default()
    };
    let requests = [
        request(
            1,
            "Credit score of a careful saver:",
            Node::int(300, 850),
            8,
            0,
        ),
        request(2, "Name a large planet.", Node::text(48), 12, 0),
        request(3, "A short greeting:", Node::text(64), 20, 700),
        request(4, "Is water wet?", Node::Bool, 8, 0),
        request(5, "A colour?", Node::text(6), 30, 300),
    ];
    match common::load(1).with_gpu_batch(2) {
        Ok(gpu) => {
            let cpu = common::load(1);
            let got: Vec<_> = gpu
                .run_batch(&requests)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            let want: Vec<_> = requests.iter().map(|r| cpu.run(r).unwrap()).collect();
            assert_eq!(got, want);
            // Each kernel launched on its own instead of CUDA graphs: the same answers.
            let gpu = gpu.with_cuda_graphs(false).unwrap();
            let again: Vec<_> = gpu
                .run_batch(&requests)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(again, want);
        }
        Err(e) => assert!(e.to_string().contains("cuda kernel"), "{e}"),
    }
}
