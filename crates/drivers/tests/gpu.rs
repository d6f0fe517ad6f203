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
