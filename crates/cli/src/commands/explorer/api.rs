//! The explorer's JSON answers, read from the chain through the CLI's own readers (`prompt
//! show`'s history, `nodes list`'s and `models list`'s rows, `verify`'s re-run) and cached per
//! block: every browser asking within one block gets the same answer from one set of reads;
//! the history of a settled or refunded prompt, which cannot change, is kept for good.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::providers::Provider;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use aikernel_chain::bindings::GPUManagement;

use super::index::{End, Index};
use super::routes::{ApiError, Route};
use super::shape;
use crate::commands::verify::{VerifySetup, verify_prompt};
use crate::commands::{models, nodes, prompt};
use crate::rpc::{Kernel, explain};

/// How long a read of the chain's head block number is reused.
const HEAD_TTL: Duration = Duration::from_millis(500);
/// Finished prompts whose latency the median covers (the latest ones).
const LATENCY_SAMPLE: usize = 1000;
/// Hours of the prompts-per-hour chart.
const HOURS: u64 = 24;

/// What `verify` needs besides the prompt id.
pub(crate) struct VerifyOptions {
    /// JSON-RPC endpoint.
    pub(crate) rpc: String,
    /// The deployment file.
    pub(crate) deployment: PathBuf,
    /// Model cache (default: the node's).
    pub(crate) cache_dir: Option<PathBuf>,
    /// Engine threads.
    pub(crate) threads: usize,
}

/// Chain reads cached for one block.
#[derive(Default)]
struct Cache {
    /// The head block and when it was read.
    head: Option<(u64, Instant)>,
    /// The block `answers` belong to.
    block: u64,
    /// Answers by route, valid while the head is `block`.
    answers: HashMap<String, Value>,
    /// Histories of prompts that ended (they no longer change).
    ended: HashMap<U256, Value>,
    /// The prompt index.
    index: Index,
}

/// The explorer's state: the chain, its cache, and the verdicts of re-verifications.
pub(crate) struct Explorer {
    kernel: Kernel,
    verify: VerifyOptions,
    /// One reader at a time: a second request waits and then finds the first one's answer.
    cache: Mutex<Cache>,
    /// Verdicts by prompt (deterministic, so kept); the lock also runs one re-run at a time.
    verdicts: Mutex<HashMap<U256, Value>>,
}

impl Explorer {
    /// An explorer of `kernel`'s chain.
    pub(crate) fn new(kernel: Kernel, verify: VerifyOptions) -> Explorer {
        Explorer {
            kernel,
            verify,
            cache: Mutex::default(),
            verdicts: Mutex::default(),
        }
    }

    /// The JSON answer to an API route.
    pub(super) async fn answer(&self, route: &Route) -> Result<Value, ApiError> {
        if let Route::Verify(id) = route {
            return self.reverify(*id).await;
        }
        let mut cache = self.cache.lock().await;
        let head = self.head(&mut cache).await?;
        if cache.block != head {
            cache.block = head;
            cache.answers.clear();
        }
        let key = format!("{route:?}");
        if let Some(v) = cache.answers.get(&key) {
            return Ok(v.clone());
        }
        cache
            .index
            .update(&self.kernel, head)
            .await
            .map_err(|e| ApiError::chain(&e))?;
        let value = match route {
            Route::Prompts { offset, limit } => self.prompts(&mut cache, *offset, *limit).await?,
            Route::Prompt(id) => {
                let mut h = self.history(&mut cache, *id).await?;
                let timeline = shape::timeline(&h);
                h["timeline"] = json!(timeline);
                h
            }
            Route::Network => self.network(&mut cache, head).await?,
            Route::Nodes => {
                let rows = nodes::read_nodes(&self.kernel)
                    .await
                    .map_err(|e| ApiError::chain(&e))?;
                json!({ "nodes": rows.iter().map(nodes::node_json).collect::<Vec<_>>() })
            }
            Route::Models => {
                let rows = models::read_models(&self.kernel)
                    .await
                    .map_err(|e| ApiError::chain(&e))?;
                let list: Vec<Value> = rows
                    .iter()
                    .map(|(id, spec, active)| models::model_json(*id, spec, *active))
                    .collect();
                json!({ "models": list })
            }
            Route::Static(..) | Route::Verify(_) => {
                return Err(ApiError::Internal(format!("{route:?} is not an API route")));
            }
        };
        let value = json!({ "block": head, "data": value });
        cache.answers.insert(key, value.clone());
        Ok(value)
    }

    /// The head block number, read at most every [`HEAD_TTL`].
    async fn head(&self, cache: &mut Cache) -> Result<u64, ApiError> {
        if let Some((block, at)) = cache.head
            && at.elapsed() < HEAD_TTL
        {
            return Ok(block);
        }
        let block =
            self.kernel.provider.get_block_number().await.map_err(|e| {
                ApiError::Chain(format!("cannot read the chain's block number: {e}"))
            })?;
        cache.head = Some((block, Instant::now()));
        Ok(block)
    }

    /// Prompt `id`'s history with each member's agreement (kept for good once it ended).
    async fn history(&self, cache: &mut Cache, id: U256) -> Result<Value, ApiError> {
        if let Some(h) = cache.ended.get(&id) {
            return Ok(h.clone());
        }
        if !cache.index.prompts.contains_key(&id) {
            return Err(ApiError::NotFound(format!(
                "there is no prompt {id} on this kernel ({} submitted)",
                cache.index.total()
            )));
        }
        let mut h = prompt::show::read_json(&self.kernel, id)
            .await
            .map_err(|e| ApiError::chain(&e))?;
        shape::annotate_agreement(&mut h);
        if matches!(h["status"].as_str(), Some("settled" | "refunded")) {
            cache.ended.insert(id, h.clone());
        }
        Ok(h)
    }

    /// A page of the latest prompts.
    async fn prompts(
        &self,
        cache: &mut Cache,
        offset: usize,
        limit: usize,
    ) -> Result<Value, ApiError> {
        let ids = cache.index.page(offset, limit);
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            rows.push(shape::prompt_row(&self.history(cache, id).await?));
        }
        Ok(json!({
            "total": cache.index.total(),
            "offset": offset,
            "limit": limit,
            "prompts": rows,
        }))
    }

    /// Counts, prompts per hour, median latency and the EAI emission against its budget.
    async fn network(&self, cache: &mut Cache, head: u64) -> Result<Value, ApiError> {
        let chain = |e: anyhow::Error| ApiError::chain(&e);
        let now = cache.index.time(&self.kernel, head).await.map_err(chain)?;
        let entries: Vec<_> = cache.index.prompts.values().cloned().collect();
        let settled = entries
            .iter()
            .filter(|e| matches!(e.end, Some(End::Settled(_))))
            .count();
        let refunded = entries
            .iter()
            .filter(|e| matches!(e.end, Some(End::Refunded(_))))
            .count();
        let mut submitted_at = Vec::new();
        let mut latencies = Vec::new();
        for e in entries.iter().rev() {
            let at = cache
                .index
                .time(&self.kernel, e.block)
                .await
                .map_err(chain)?;
            if at + HOURS * 3600 < now && latencies.len() >= LATENCY_SAMPLE {
                break;
            }
            submitted_at.push(at);
            if let (Some(End::Settled(b)), true) = (e.end, latencies.len() < LATENCY_SAMPLE) {
                let end = cache.index.time(&self.kernel, b).await.map_err(chain)?;
                latencies.push(end.saturating_sub(at));
            }
        }
        let samples = latencies.len();
        let requesters: std::collections::BTreeSet<_> =
            entries.iter().map(|e| e.requester).collect();
        let gpu = GPUManagement::new(self.kernel.deployment.gpu, self.kernel.provider.clone());
        let read = |what: &'static str| {
            move |e: alloy::contract::Error| ApiError::chain(&explain(what, &e))
        };
        let emitted = gpu
            .emittedRewards()
            .call()
            .await
            .map_err(read("reading the emitted rewards"))?;
        let rate = gpu
            .initialRewardRate()
            .call()
            .await
            .map_err(read("reading the reward rate"))?;
        let halving = gpu
            .halvingPeriod()
            .call()
            .await
            .map_err(read("reading the halving period"))?;
        let start = gpu
            .rewardStart()
            .call()
            .await
            .map_err(read("reading the reward start"))?;
        // GPUManagement.startRewards: the whole emission is 2 * rate * halving.
        let budget = U256::from(rate) * U256::from(halving) * U256::from(2u8);
        Ok(json!({
            "chainId": self.kernel.deployment.chain_id,
            "kernel": self.kernel.deployment.kernel.to_string(),
            "rpc": self.verify.rpc,
            "block": head,
            "timestamp": now,
            "prompts": {
                "total": entries.len(),
                "settled": settled,
                "refunded": refunded,
                "pending": entries.len() - settled - refunded,
                "requesters": requesters.len(),
            },
            "promptsPerHour": shape::per_hour(&submitted_at, now, HOURS),
            "medianLatencySeconds": shape::median(&mut latencies),
            "latencySamples": samples,
            "emission": {
                "emitted": emitted.to_string(),
                "budget": budget.to_string(),
                "initialRate": rate.to_string(),
                "halvingPeriod": halving,
                "start": start,
            },
        }))
    }

    /// Re-runs settled prompt `id` as `aikernel verify` does (one at a time; verdicts kept).
    async fn reverify(&self, id: U256) -> Result<Value, ApiError> {
        let mut verdicts = self.verdicts.lock().await;
        if let Some(v) = verdicts.get(&id) {
            return Ok(v.clone());
        }
        let status = aikernel_chain::bindings::DecentralizedInference::new(
            self.kernel.deployment.kernel,
            self.kernel.provider.clone(),
        )
        .statusOf(id)
        .call()
        .await
        .map_err(|e| ApiError::chain(&explain(&format!("reading prompt {id}"), &e)))?;
        match aikernel_protocol::PromptStatus::try_from(status) {
            Ok(aikernel_protocol::PromptStatus::Settled) => {}
            Ok(aikernel_protocol::PromptStatus::None) => {
                return Err(ApiError::NotFound(format!(
                    "there is no prompt {id} on this kernel"
                )));
            }
            Ok(s) => {
                return Err(ApiError::Conflict(format!(
                    "prompt {id} is {}: only a settled prompt can be re-verified",
                    s.name()
                )));
            }
            Err(_) => {
                return Err(ApiError::Internal(format!(
                    "prompt {id} has status {status}"
                )));
            }
        }
        let setup = VerifySetup {
            rpc: &self.verify.rpc,
            deployment: &self.verify.deployment,
            cache_dir: self.verify.cache_dir.as_deref(),
            threads: self.verify.threads,
            progress: false,
        };
        let started = Instant::now();
        let verdict = verify_prompt(&setup, id)
            .await
            .map_err(|e| ApiError::Internal(crate::output::error_chain(&e)))?;
        let value = json!({
            "promptId": id.to_string(),
            "modelId": verdict.model_id,
            "settledHash": verdict.settled_hash.to_string(),
            "recomputedHash": verdict.recomputed_hash.to_string(),
            "honest": verdict.honest,
            "verdict": if verdict.honest { "HONEST" } else { "MISMATCH" },
            "tokens": verdict.tokens,
            "contextEntries": verdict.context_entries,
            "seconds": started.elapsed().as_secs_f64(),
        });
        tracing::info!(prompt = %id, honest = verdict.honest, "explorer: re-verified");
        verdicts.insert(id, value.clone());
        Ok(value)
    }
}
