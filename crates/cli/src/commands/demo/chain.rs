//! Chain helpers of the demo: send a call with a gas margin, find the prompts a
//! transaction submitted, and wait for a prompt to settle and call back.

use std::time::{Duration, Instant};

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, TransactionReceipt};
use alloy::sol_types::SolEvent;
use anyhow::{Context as _, bail};
use indicatif::ProgressBar;
use serde::Serialize;

use aikernel_chain::bindings::DecentralizedInference::{
    self, CallbackDelivered, DecentralizedInferenceInstance, PromptSubmitted,
};
use aikernel_protocol::PromptStatus;

use crate::rpc;

/// What the demo needs to talk to the kernel.
pub(crate) struct Env {
    /// The admin's provider (the demo's user).
    pub(crate) provider: DynProvider,
    /// The kernel.
    pub(crate) kernel: DecentralizedInferenceInstance<DynProvider>,
    /// The default model.
    pub(crate) model_id: U256,
    /// The second model (Gemma 3 270M by default), asked by FantasySports.
    pub(crate) second_model_id: U256,
    /// GPUManagement (block rewards).
    pub(crate) gpu: Address,
    /// The demo user (anvil account 0).
    pub(crate) user: Address,
    /// First block of the deployment.
    pub(crate) start_block: u64,
    /// Spinner shown while waiting (hidden in JSON mode).
    pub(crate) spinner: ProgressBar,
}

/// One prompt as the demo saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptReport {
    pub(crate) prompt_id: U256,
    pub(crate) committee: Vec<Address>,
    pub(crate) settled: bool,
    pub(crate) output_hash: Option<B256>,
    pub(crate) callback_ok: bool,
    pub(crate) seconds_to_callback: f64,
}

/// Sends `call` with 30 % more gas than estimated (the state at inclusion, e.g. a pool
/// snapshot or a context chain, may differ from the estimate's) and waits for a successful
/// receipt.
pub(crate) async fn send<P, D>(
    what: &str,
    call: CallBuilder<P, D>,
) -> anyhow::Result<TransactionReceipt>
where
    P: Provider,
    D: CallDecoder,
{
    let gas = call
        .estimate_gas()
        .await
        .map_err(|e| rpc::explain(what, &e))?;
    let receipt = call
        .gas(gas + gas * 3 / 10)
        .send()
        .await
        .map_err(|e| rpc::explain(what, &e))?
        .get_receipt()
        .await
        .with_context(|| format!("{what}: waiting for the receipt"))?;
    if !receipt.status() {
        bail!("{what}: transaction {} reverted", receipt.transaction_hash);
    }
    Ok(receipt)
}

/// Prompt ids submitted in a transaction.
pub(crate) fn prompts_in(receipt: &TransactionReceipt) -> Vec<U256> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| log.log_decode::<PromptSubmitted>().ok())
        .map(|log| log.inner.data.promptId)
        .collect()
}

impl Env {
    /// Waits until prompt `id` is final; `since` is when its request was sent.
    pub(crate) async fn wait_prompt(
        &self,
        id: U256,
        since: Instant,
    ) -> anyhow::Result<PromptReport> {
        let deadline = Instant::now() + Duration::from_mins(10);
        let status = loop {
            let status = self
                .kernel
                .statusOf(id)
                .call()
                .await
                .map_err(|e| rpc::explain("statusOf", &e))?;
            let status = PromptStatus::try_from(status)?;
            let label = match status {
                PromptStatus::Committing => {
                    "committee drawn after submission, computing and committing"
                }
                PromptStatus::Revealing => "revealing",
                PromptStatus::Publishing => "decided, publishing the output",
                _ => "",
            };
            if status.is_final() {
                break status;
            }
            self.spinner.set_message(format!("prompt {id}: {label}"));
            if Instant::now() > deadline {
                bail!(
                    "prompt {id} did not settle within 10 minutes (status {status}); see the node logs"
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let seconds = since.elapsed().as_secs_f64();
        let committee = self
            .kernel
            .committeeOf(id)
            .call()
            .await
            .map_err(|e| rpc::explain("committeeOf", &e))?;
        let output_hash = if status == PromptStatus::Settled {
            let out = self
                .kernel
                .resultOf(id)
                .call()
                .await
                .map_err(|e| rpc::explain("resultOf", &e))?;
            Some(keccak256(&out))
        } else {
            None
        };
        let filter = Filter::new()
            .address(*self.kernel.address())
            .event_signature(CallbackDelivered::SIGNATURE_HASH)
            .topic1(id)
            .from_block(self.start_block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .context("reading CallbackDelivered logs")?;
        let callback_ok = logs
            .iter()
            .filter_map(|l| l.log_decode::<CallbackDelivered>().ok())
            .any(|l| l.inner.data.ok);
        Ok(PromptReport {
            prompt_id: id,
            committee,
            settled: status == PromptStatus::Settled,
            output_hash,
            callback_ok,
            seconds_to_callback: seconds,
        })
    }

    /// Every prompt `requester` submitted since `from_block`.
    pub(crate) async fn prompts_of(
        &self,
        requester: Address,
        from_block: u64,
    ) -> anyhow::Result<Vec<U256>> {
        let filter = Filter::new()
            .address(*self.kernel.address())
            .event_signature(PromptSubmitted::SIGNATURE_HASH)
            .topic2(requester.into_word())
            .from_block(from_block);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .context("reading PromptSubmitted logs")?;
        Ok(logs
            .iter()
            .filter_map(|l| l.log_decode::<PromptSubmitted>().ok())
            .map(|l| l.inner.data.promptId)
            .collect())
    }

    /// Binds the kernel.
    pub(crate) fn kernel_at(
        provider: DynProvider,
        kernel: Address,
    ) -> DecentralizedInferenceInstance<DynProvider> {
        DecentralizedInference::new(kernel, provider)
    }
}
