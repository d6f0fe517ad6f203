//! Model drivers: the `Driver` trait every model family implements, the LLM driver over
//! the deterministic engine, and the prompt builder every node must agree on.
//!
//! The byte-level rules (system text, context rendering, truncation) are in
//! `docs/drivers.md`; changing them is a protocol change.
#![forbid(unsafe_code)]

mod answer;
mod batch;
pub mod completion;
pub mod decide;
mod error;
mod gpu;
mod llm;
pub mod prompt;
mod registry;
mod types;

pub use aikernel_engine::PrefixStats;
pub use decide::{Decoding, PromptRule};
pub use error::DriverError;
pub use llm::LlmDriver;
pub use prompt::Layout;
pub use registry::{
    DRIVER_NAME, DRIVER_NAME_V2, DRIVER_NAME_V2_CALIBRATED, DRIVER_NAME_V3, DRIVER_NAMES,
    DriverSpec, Family, decoding_for_driver, driver_name, rule_for_driver,
};
pub use types::{
    ContextEntry, ContextKind, DriverIdentity, HardwareNeeds, InferenceOutput, InferenceRequest,
};

/// The standard interface between the node and a model.
///
/// `run` must be a pure function of the request: every honest node with the same model
/// file produces the same output bytes. Request-level problems (invalid schema, non-UTF-8
/// input, prompt too long) are answered with `Ok` and the protocol's error output;
/// `Err` is only for node-local failures, after which the node must not commit.
pub trait Driver: Send + Sync {
    /// Which driver and model this is.
    fn identity(&self) -> DriverIdentity;
    /// What the machine needs to serve this model.
    fn hardware(&self) -> HardwareNeeds;
    /// Answers one request.
    fn run(&self, request: &InferenceRequest) -> Result<InferenceOutput, DriverError>;
    /// Answers several requests, result `i` for request `i`: each the output [`Driver::run`]
    /// gives it alone (a driver may compute them together), and one request's failure is its
    /// own. The default runs them one by one.
    fn run_batch(
        &self,
        requests: &[InferenceRequest],
    ) -> Vec<Result<InferenceOutput, DriverError>> {
        requests.iter().map(|r| self.run(r)).collect()
    }
    /// The counters of the driver's prefix cache, if it has one (they never change an
    /// output; the node reports them).
    fn prefix_stats(&self) -> Option<PrefixStats> {
        None
    }
}
