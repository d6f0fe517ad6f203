//! The LLM driver's batches: requests answered by scoring, and requests that build no prompt,
//! are answered one by one; the schema-constrained generations of the rest decode together in
//! one batched generation (the prefix cache's on the CPU, the device's slots on the GPU), each
//! with its own decoder. Every output is the one [`LlmDriver::run_rule`] gives its request
//! alone; a batch that fails is answered one request at a time, so a failure stays with the
//! request that caused it.

use aikernel_engine::{
    GenerateOptions, Generation, TokenConstraint, generate_batch_with_cache, generate_with_cache,
};

use crate::answer::{Constraint, Prepared, ToGenerate, finish};
use crate::decide::PromptRule;
use crate::error::DriverError;
use crate::llm::LlmDriver;
use crate::types::{InferenceOutput, InferenceRequest};

/// A request's place in the batch: answered, or waiting for the batched generation.
enum Place {
    Answered(Result<InferenceOutput, DriverError>),
    Generating,
}

impl LlmDriver {
    /// [`crate::Driver::run_batch`] under prompt `rule`: output `i` is
    /// [`LlmDriver::run_rule`]'s for request `i`.
    pub fn run_batch_rule(
        &self,
        requests: &[InferenceRequest],
        rule: PromptRule,
    ) -> Vec<Result<InferenceOutput, DriverError>> {
        let mut places = Vec::with_capacity(requests.len());
        let mut pending: Vec<ToGenerate> = Vec::new();
        let mut pending_requests = Vec::new();
        for request in requests {
            places.push(match self.prepare(request, rule) {
                Ok(Prepared::Answered(out)) => Place::Answered(Ok(out)),
                Err(e) => Place::Answered(Err(e)),
                Ok(Prepared::Generate(g)) => {
                    pending.push(*g);
                    pending_requests.push(request);
                    Place::Generating
                }
            });
        }
        let generated = match self.generate_many(pending) {
            Ok(outs) => outs.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::warn!(error = %e, requests = pending_requests.len(), "the batched generation failed; answering its requests one by one");
                pending_requests
                    .iter()
                    .map(|r| self.run_rule(r, rule))
                    .collect::<Vec<_>>()
            }
        };
        let mut generated = generated.into_iter();
        places
            .into_iter()
            .map(|place| match place {
                Place::Answered(out) => out,
                Place::Generating => generated.next().unwrap_or_else(|| {
                    Err(aikernel_engine::EngineError::BadInput(
                        "the batched generation returned fewer results than requests".into(),
                    )
                    .into())
                }),
            })
            .collect()
    }

    /// Generates one prompt under its decoder: on the GPU when the driver has one, else on
    /// the CPU through the prefix cache.
    pub(crate) fn generate_one(
        &self,
        tokens: Vec<u32>,
        opts: GenerateOptions,
        mut constraint: Constraint,
    ) -> Result<InferenceOutput, DriverError> {
        let generation = if let Some(gpu) = &self.gpu {
            let (g, c) = gpu.generate(tokens, opts, constraint)?;
            constraint = c;
            g
        } else {
            let (g, reuse) = generate_with_cache(
                &self.model,
                &tokens,
                &opts,
                Some(&mut constraint),
                &self.prefix,
            )?;
            self.log_reuse("generate", reuse);
            g
        };
        Ok(finish(generation, constraint))
    }

    /// Generates every pending prompt, together when there are several; outputs in order.
    fn generate_many(&self, pending: Vec<ToGenerate>) -> Result<Vec<InferenceOutput>, DriverError> {
        if pending.len() <= 1 {
            return pending
                .into_iter()
                .map(|g| self.generate_one(g.tokens, g.opts, g.constraint))
                .collect();
        }
        let (requests, constraints): (Vec<(Vec<u32>, GenerateOptions)>, Vec<Constraint>) = pending
            .into_iter()
            .map(|g| ((g.tokens, g.opts), g.constraint))
            .unzip();
        tracing::debug!(sequences = requests.len(), "batched generation");
        let (generations, constraints) = match &self.gpu {
            Some(gpu) => gpu.generate_batch(&requests, constraints)?,
            None => self.generate_batch_cpu(&requests, constraints)?,
        };
        Ok(generations
            .into_iter()
            .zip(constraints)
            .map(|(g, c)| finish(g, c))
            .collect())
    }

    /// The batch on the CPU engine, each slot seeded from the prefix cache and stored back.
    fn generate_batch_cpu(
        &self,
        requests: &[(Vec<u32>, GenerateOptions)],
        mut constraints: Vec<Constraint>,
    ) -> Result<(Vec<Generation>, Vec<Constraint>), DriverError> {
        let mut dyns: Vec<Option<&mut dyn TokenConstraint>> = constraints
            .iter_mut()
            .map(|c| Some(c as &mut dyn TokenConstraint))
            .collect();
        let results = generate_batch_with_cache(&self.model, requests, &mut dyns, &self.prefix)?;
        let generations = results
            .into_iter()
            .map(|(g, reuse)| {
                self.log_reuse("generate", reuse);
                g
            })
            .collect();
        Ok((generations, constraints))
    }
}
