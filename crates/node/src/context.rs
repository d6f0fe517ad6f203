//! Rebuilds a prompt's exact driver input from chain data alone: the request, and the
//! `(requester, topic)` context entries `[0, index)` checked against the recorded root
//! (`docs/protocol.md`, "Context chains"). Nodes and `aikernel verify` share this code,
//! because disagreeing here is as fatal as disagreeing on arithmetic.

use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolEvent, SolValue};

use aikernel_chain::bindings::{ContextManager::ContextAppended, IAIKernel};
use aikernel_drivers::{ContextEntry, ContextKind, InferenceRequest};

use crate::NodeError;
use crate::context_log::ContextLogs;
use crate::contracts::Contracts;

/// Why off-chain data could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No copy anywhere the node can look: not stored locally, and every source answered
    /// that it has no such data (or there is no source). The request's answer is the
    /// deterministic error `InputUnavailable`.
    #[error("not found: {0}")]
    NotFound(String),
    /// The lookup itself failed (a local disk error, a gateway that did not answer or
    /// failed): try again later.
    #[error("{0}")]
    Failed(String),
}

/// Fetches off-chain data (prompt inputs, fed entries) by its sha256.
pub trait DataResolver: Send + Sync {
    /// The bytes whose sha256 is `hash`, verified.
    fn resolve(&self, hash: &[u8; 32]) -> Result<Vec<u8>, ResolveError>;
}

/// Resolves `hash` for a request: an unavailable blob becomes
/// [`NodeError::InputUnavailable`], a failed lookup [`NodeError::Data`] (transient).
fn resolve_data(resolver: &dyn DataResolver, hash: B256) -> Result<Vec<u8>, NodeError> {
    resolver.resolve(&hash.0).map_err(|e| match e {
        ResolveError::NotFound(reason) => NodeError::InputUnavailable { hash, reason },
        ResolveError::Failed(reason) => NodeError::Data { hash, reason },
    })
}

/// A prompt as the kernel recorded it.
#[derive(Clone)]
pub struct PromptRecord {
    /// The prompt id.
    pub id: U256,
    /// The request as submitted.
    pub request: IAIKernel::Request,
    /// Who submitted it (owner of the context chain).
    pub requester: Address,
    /// Length of the context chain before the prompt's own entry.
    pub context_len: u64,
    /// Root of the chain at that length.
    pub context_root: B256,
}

impl PromptRecord {
    /// The request's identity (docs/protocol.md): what this prompt id stands for now. A
    /// reorg that gives the id to another request changes it.
    pub fn identity(&self) -> B256 {
        aikernel_chain::protocol::request_identity(self.id, &self.request, self.context_root)
    }
}

impl std::fmt::Debug for PromptRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptRecord")
            .field("id", &self.id)
            .field("model_id", &self.request.modelId)
            .field("requester", &self.requester)
            .field("context_len", &self.context_len)
            .field("context_root", &self.context_root)
            .finish_non_exhaustive()
    }
}

/// Reads a prompt's record.
pub async fn load_record(contracts: &Contracts, id: U256) -> Result<PromptRecord, NodeError> {
    let request = contracts
        .kernel
        .requestOf(id)
        .call()
        .await
        .map_err(|e| NodeError::call("requestOf", &e))?;
    let ctx = contracts
        .kernel
        .contextOf(id)
        .call()
        .await
        .map_err(|e| NodeError::call("contextOf", &e))?;
    Ok(PromptRecord {
        id,
        request,
        requester: ctx.requester,
        context_len: ctx.index,
        context_root: ctx.root,
    })
}

/// Builds the driver request for `record`: resolves off-chain data and the context chain.
/// Data that exists nowhere the node can look is [`NodeError::InputUnavailable`]: the
/// caller answers with that deterministic error instead of failing.
pub async fn build_request(
    contracts: &Contracts,
    record: &PromptRecord,
    resolver: &dyn DataResolver,
    log_range: u64,
    cache: Option<&ContextLogs>,
) -> Result<InferenceRequest, NodeError> {
    let r = &record.request;
    let input = if r.inputHash == B256::ZERO {
        r.input.to_vec()
    } else {
        resolve_data(resolver, r.inputHash)?
    };
    let context = rebuild_context(contracts, record, resolver, log_range, cache).await?;
    Ok(InferenceRequest {
        prompt_id: record.id.to_be_bytes::<32>(),
        input,
        extra_context: r.extraContext.to_vec(),
        schema: r.schema.to_vec(),
        max_tokens: r.maxTokens,
        temperature_milli: r.temperature,
        seed: r.seed,
        context,
    })
}

/// One raw `ContextAppended` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub(crate) index: u64,
    pub(crate) kind: u8,
    pub(crate) prompt_id: U256,
    pub(crate) data: Vec<u8>,
    pub(crate) data_hash: B256,
}

/// The context entries `[0, record.context_len)`, verified against `record.context_root`.
/// With `cache`, only blocks not read before for this chain are scanned (see
/// [`ContextLogs`]); without, every block since the deployment.
pub async fn rebuild_context(
    contracts: &Contracts,
    record: &PromptRecord,
    resolver: &dyn DataResolver,
    log_range: u64,
    cache: Option<&ContextLogs>,
) -> Result<Vec<ContextEntry>, NodeError> {
    if record.context_len == 0 {
        return Ok(Vec::new());
    }
    let filter = Filter::new()
        .address(contracts.deployment.context)
        .event_signature(ContextAppended::SIGNATURE_HASH)
        .topic1(record.requester.into_word())
        .topic2(record.request.topic);
    let filter = &filter;
    let scan = |from: u64, to: u64| async move {
        let logs = contracts.logs(filter, from, to, log_range).await?;
        logs.iter()
            .map(|log| {
                let event = log
                    .log_decode::<ContextAppended>()
                    .map_err(|e| {
                        NodeError::Context(format!("undecodable ContextAppended log: {e}"))
                    })?
                    .inner
                    .data;
                Ok(RawEntry {
                    index: event.index,
                    kind: event.kind,
                    prompt_id: event.promptId,
                    data: event.data.to_vec(),
                    data_hash: event.dataHash,
                })
            })
            .collect::<Result<Vec<_>, NodeError>>()
    };
    let head = contracts.head().await?;
    let local;
    let cache = if let Some(cache) = cache {
        cache
    } else {
        local = ContextLogs::new();
        &local
    };
    let entries = cache
        .entries(
            (record.requester, record.request.topic),
            record.context_len,
            record.context_root,
            (contracts.deployment.start_block, head),
            scan,
        )
        .await
        .map_err(|e| match e {
            NodeError::Context(m) => NodeError::Context(format!("{m} (prompt {})", record.id)),
            other => other,
        })?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        out.push(to_driver_entry(contracts, entry, resolver, cache).await?);
    }
    Ok(out)
}

/// `root' = keccak256(abi.encode(root, keccak256(abi.encode(kind, promptId, keccak256(data), dataHash))))`.
pub(crate) fn chain_root(root: B256, e: &RawEntry) -> B256 {
    let entry = keccak256(
        (
            U256::from(e.kind),
            e.prompt_id,
            keccak256(&e.data),
            e.data_hash,
        )
            .abi_encode(),
    );
    keccak256((root, entry).abi_encode())
}

async fn to_driver_entry(
    contracts: &Contracts,
    e: RawEntry,
    resolver: &dyn DataResolver,
    cache: &ContextLogs,
) -> Result<ContextEntry, NodeError> {
    let kind = ContextKind::from_u8(e.kind).ok_or_else(|| {
        NodeError::Context(format!(
            "context entry {} has unknown kind {}",
            e.index, e.kind
        ))
    })?;
    let data = if e.data.is_empty() && e.data_hash != B256::ZERO {
        resolve_data(resolver, e.data_hash)?
    } else {
        e.data
    };
    let schema = if kind == ContextKind::Result {
        cache
            .schema_of(e.prompt_id, || async {
                Ok(contracts
                    .kernel
                    .requestOf(e.prompt_id)
                    .call()
                    .await
                    .map_err(|err| NodeError::call("requestOf (context result)", &err))?
                    .schema
                    .to_vec())
            })
            .await?
    } else {
        Vec::new()
    };
    Ok(ContextEntry {
        kind,
        prompt_id: e.prompt_id.to_be_bytes::<32>(),
        data,
        schema,
    })
}

#[cfg(test)]
mod tests {
    use alloy::providers::{Provider, ProviderBuilder};

    use super::*;

    struct Fixed(Result<Vec<u8>, ResolveError>);

    impl DataResolver for Fixed {
        fn resolve(&self, _hash: &[u8; 32]) -> Result<Vec<u8>, ResolveError> {
            self.0.clone()
        }
    }

    #[tokio::test]
    async fn missing_off_chain_input_is_input_unavailable_and_a_failed_lookup_is_not() {
        // No RPC is needed for a prompt without context: the endpoint is never called.
        let provider = ProviderBuilder::new()
            .connect_http("http://127.0.0.1:1".parse().unwrap())
            .erased();
        let deployment = aikernel_chain::Deployment {
            chain_id: 1,
            start_block: 0,
            eai: Address::ZERO,
            models: Address::ZERO,
            scheduler: Address::ZERO,
            gpu: Address::ZERO,
            context: Address::ZERO,
            kernel: Address::ZERO,
            treasury: Address::ZERO,
        };
        let contracts = Contracts::new(provider, deployment);
        let hash = B256::repeat_byte(0x66);
        let record = PromptRecord {
            id: U256::from(1u8),
            request: IAIKernel::Request {
                modelId: U256::from(1u8),
                topic: B256::ZERO,
                input: alloy::primitives::Bytes::new(),
                inputHash: hash,
                extraContext: alloy::primitives::Bytes::new(),
                schema: alloy::primitives::Bytes::new(),
                maxTokens: 4,
                temperature: 0,
                seed: 0,
                callback: Address::ZERO,
                callbackGasLimit: 0,
                committeeSize: 1,
            },
            requester: Address::ZERO,
            context_len: 0,
            context_root: B256::ZERO,
        };
        let build = |r: Result<Vec<u8>, ResolveError>| {
            let (contracts, record) = (&contracts, &record);
            async move { build_request(contracts, record, &Fixed(r), 100, None).await }
        };
        let err = build(Err(ResolveError::NotFound("404".into())))
            .await
            .unwrap_err();
        assert!(
            matches!(err, NodeError::InputUnavailable { hash: h, .. } if h == hash),
            "{err}"
        );
        assert!(!err.is_transient());
        let err = build(Err(ResolveError::Failed("gateway down".into())))
            .await
            .unwrap_err();
        assert!(matches!(err, NodeError::Data { .. }), "{err}");
        assert!(err.is_transient(), "a failed lookup is retried");
        let ok = build(Ok(b"hello".to_vec())).await.unwrap();
        assert_eq!(ok.input, b"hello");
    }

    #[test]
    fn root_rule_matches_the_solidity_encoding() {
        let e = RawEntry {
            index: 0,
            kind: 1,
            prompt_id: U256::from(9u8),
            data: b"hi".to_vec(),
            data_hash: B256::ZERO,
        };
        let mut words = Vec::new();
        words.extend_from_slice(&U256::from(1u8).to_be_bytes::<32>());
        words.extend_from_slice(&U256::from(9u8).to_be_bytes::<32>());
        words.extend_from_slice(keccak256(b"hi").as_slice());
        words.extend_from_slice(&[0u8; 32]);
        let entry = keccak256(&words);
        let mut pair = vec![0u8; 32];
        pair.extend_from_slice(entry.as_slice());
        assert_eq!(chain_root(B256::ZERO, &e), keccak256(&pair));
    }
}
