//! Computing jobs' outputs, several at once: each job's request is rebuilt from chain data,
//! the requests of one model run as one batch on the compute thread
//! ([`crate::worker::Worker::compute`]), and each output is kept on disk keyed by its
//! request's identity. A job's failure (its chain data, its request, its driver call) is its
//! own: the batch's other jobs are computed and stored all the same.

use std::collections::BTreeMap;

use alloy::primitives::{B256, U256, keccak256};

use aikernel_drivers::InferenceRequest;
use aikernel_schema::ErrorCode;

use crate::NodeError;
use crate::context;
use crate::daemon::Ctx;
use crate::jobs::{Computed, Job};
use crate::metrics::Metrics;

/// A job's request, ready for the driver.
struct Ready {
    id: U256,
    identity: B256,
    request: InferenceRequest,
}

/// What a job needs before the driver runs.
enum Prepared {
    /// Its output for this identity is stored already.
    Stored,
    /// Its output is known without the driver (data that exists nowhere).
    Answered(B256, Computed),
    /// Its request, for the driver of model `.0`.
    Run(u64, Ready),
}

/// Computes the jobs' outputs from chain data and keeps them on disk, keyed by each
/// request's identity; one result per job, in order. Off-chain data that exists nowhere the
/// node can look gives the deterministic `InputUnavailable` error output (docs/protocol.md),
/// never silence.
pub async fn compute(ctx: &Ctx, jobs: &[Job]) -> Vec<(U256, Result<(), NodeError>)> {
    let mut results = Vec::with_capacity(jobs.len());
    let mut by_model: BTreeMap<u64, Vec<Ready>> = BTreeMap::new();
    for job in jobs {
        match prepare(ctx, job).await {
            Ok(Prepared::Stored) => results.push((job.id, Ok(()))),
            Ok(Prepared::Answered(identity, computed)) => {
                results.push((job.id, save(ctx, job.id, identity, computed)));
            }
            Ok(Prepared::Run(model_id, ready)) => by_model.entry(model_id).or_default().push(ready),
            Err(e) => results.push((job.id, Err(e))),
        }
    }
    for (model_id, batch) in by_model {
        results.extend(run_batch(ctx, model_id, batch).await);
    }
    results
}

/// Reads the job's request and identity from the chain; a stored output ends it there.
async fn prepare(ctx: &Ctx, job: &Job) -> Result<Prepared, NodeError> {
    let record = context::load_record(&ctx.contracts, job.id).await?;
    let identity = record.identity();
    if ctx.store.output(job.id, identity)?.is_some() {
        return Ok(Prepared::Stored);
    }
    let built = context::build_request(
        &ctx.contracts,
        &record,
        ctx.resolver.as_ref(),
        ctx.config.log_range,
        Some(&ctx.context_logs),
    )
    .await;
    match built {
        Ok(request) => {
            let model_id: u64 = record.request.modelId.saturating_to();
            let ready = Ready {
                id: job.id,
                identity,
                request,
            };
            Ok(Prepared::Run(model_id, ready))
        }
        Err(NodeError::InputUnavailable { hash, reason }) => {
            tracing::warn!(prompt = %job.id, data = %hash, %reason, "input unavailable: answering with the InputUnavailable error");
            let computed = Computed {
                output: ErrorCode::InputUnavailable.output(),
                trace: B256::ZERO,
            };
            Ok(Prepared::Answered(identity, computed))
        }
        Err(e) => Err(e),
    }
}

/// Runs one model's requests as one batch and stores each output.
async fn run_batch(
    ctx: &Ctx,
    model_id: u64,
    batch: Vec<Ready>,
) -> Vec<(U256, Result<(), NodeError>)> {
    let size = batch.len();
    let (keys, requests): (Vec<(U256, B256, usize)>, Vec<InferenceRequest>) = batch
        .into_iter()
        .map(|r| ((r.id, r.identity, r.request.context.len()), r.request))
        .unzip();
    if size > 1 {
        tracing::info!(model = model_id, batch = size, "computing a batch");
    }
    let run = match ctx.worker.compute(model_id, requests).await {
        Ok(run) => run,
        Err(e) => {
            // The batch could not run at all: every job gets the reason.
            let reason = match e {
                NodeError::Model { reason, .. } => reason,
                other => other.to_string(),
            };
            let failed = |id| {
                let reason = reason.clone();
                (
                    id,
                    Err(NodeError::Model {
                        id: model_id,
                        reason,
                    }),
                )
            };
            return keys.into_iter().map(|(id, _, _)| failed(id)).collect();
        }
    };
    let tokens: usize = run.outputs.iter().flatten().map(|o| o.tokens.len()).sum();
    ctx.metrics.computed(tokens as u64, run.took);
    ctx.metrics.batched(size as u64);
    if let Some(total) = run.prefix_total {
        ctx.metrics.prefix_cache(model_id, total);
    }
    if size > 1 {
        tracing::info!(
            model = model_id,
            batch = size,
            tokens,
            ms = run.took.as_millis() as u64,
            "batch done"
        );
    }
    keys.into_iter()
        .zip(run.outputs)
        .map(|((id, identity, context_entries), out)| {
            let out = match out {
                Ok(out) => out,
                Err(e) => return (id, Err(e)),
            };
            // In a batch of several, the time and the prefix cache's numbers are the batch's.
            tracing::info!(
                prompt = %id,
                batch = size,
                tokens = out.tokens.len(),
                context_entries,
                prompt_tokens_reused = run.prefix.tokens_reused,
                prompt_tokens_computed = run.prefix.tokens_computed,
                ms = run.took.as_millis() as u64,
                success = out.success,
                output_hash = %keccak256(&out.output),
                "computed"
            );
            let computed = Computed {
                output: out.output,
                trace: B256::from(out.logits_sha256),
            };
            (id, save(ctx, id, identity, computed))
        })
        .collect()
}

/// Keeps prompt `id`'s output for `identity` on disk.
fn save(ctx: &Ctx, id: U256, identity: B256, computed: Computed) -> Result<(), NodeError> {
    let computed = as_kept(ctx, computed);
    ctx.store.save_output(id, identity, &computed)?;
    Metrics::inc(&ctx.metrics.prompts_computed);
    Ok(())
}

/// The output as this node keeps it: a test build's `lie` hook changes it.
#[cfg(feature = "test-hooks")]
fn as_kept(ctx: &Ctx, computed: Computed) -> Computed {
    crate::byzantine::lie(ctx, computed)
}

/// The output as this node keeps it.
#[cfg(not(feature = "test-hooks"))]
fn as_kept(_ctx: &Ctx, computed: Computed) -> Computed {
    computed
}
