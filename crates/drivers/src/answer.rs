//! What a request needs answered: an answer already, or a schema-constrained generation,
//! and how a finished generation becomes the output. The single path
//! ([`crate::LlmDriver::run_rule`]) and the batched one ([`crate::Driver::run_batch`]) share
//! it, so they answer alike.

use aikernel_engine::{GenerateOptions, Generation, TokenConstraint};
use aikernel_schema::{ConstrainedDecoder, DecodeError, ErrorCode};

use crate::types::InferenceOutput;

/// Adapts the schema decoder to the engine's constraint; remembers the first rejection.
pub(crate) struct Constraint {
    /// The schema's decoder.
    pub(crate) decoder: ConstrainedDecoder,
    /// The first token it refused.
    pub(crate) error: Option<DecodeError>,
}

impl TokenConstraint for Constraint {
    fn mask(&mut self, logits: &mut [f32]) {
        self.decoder.mask(logits);
    }

    fn accept(&mut self, token: u32) {
        if let Err(e) = self.decoder.accept(token)
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    fn is_finished(&self) -> bool {
        self.error.is_some() || self.decoder.is_finished()
    }
}

/// A request made ready to answer ([`LlmDriver::prepare`]).
pub(crate) enum Prepared {
    /// Answered without generating.
    Answered(InferenceOutput),
    /// A schema-constrained generation decides the answer.
    Generate(Box<ToGenerate>),
}

/// A generation to run for a request.
pub(crate) struct ToGenerate {
    /// The prompt.
    pub(crate) tokens: Vec<u32>,
    /// The request's sampling options.
    pub(crate) opts: GenerateOptions,
    /// The request's schema decoder.
    pub(crate) constraint: Constraint,
}

/// The answer of a finished generation under its schema decoder.
pub(crate) fn finish(generation: Generation, constraint: Constraint) -> InferenceOutput {
    let value = match constraint.error {
        Some(e) => Err(e),
        None => constraint.decoder.finish(),
    };
    match value {
        Ok(v) => {
            InferenceOutput::value(v.abi_encode(), generation.tokens, generation.logits_sha256)
        }
        Err(e) => {
            // maxTokens ran out before a whole value (or no token could continue it).
            tracing::debug!(error = %e, "incomplete output");
            InferenceOutput::error(INCOMPLETE, generation.tokens, generation.logits_sha256)
        }
    }
}

/// The error answered when generation ends before the value is complete (`docs/drivers.md`).
pub(crate) const INCOMPLETE: ErrorCode = ErrorCode::OutputIncomplete;
