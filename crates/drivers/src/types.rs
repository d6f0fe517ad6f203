//! Request, output and identity types shared by every driver.

/// Kind of a context-chain entry (`docs/protocol.md`, "Context chains").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ContextKind {
    /// An earlier request's input (a user turn).
    Prompt = 0,
    /// An earlier request's settled output (an assistant turn).
    Result = 1,
    /// Data fed by the topic owner (a user turn prefixed `Context:`).
    Feed = 2,
}

impl ContextKind {
    /// The kind for an on-chain `uint8`; `None` for an unknown value.
    pub fn from_u8(kind: u8) -> Option<ContextKind> {
        match kind {
            0 => Some(ContextKind::Prompt),
            1 => Some(ContextKind::Result),
            2 => Some(ContextKind::Feed),
            _ => None,
        }
    }
}

/// One entry of the request's context chain, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// The entry kind.
    pub kind: ContextKind,
    /// The prompt the entry belongs to (zero for feeds).
    pub prompt_id: [u8; 32],
    /// Prompt: the input bytes (resolved when kept off-chain); Result: the ABI output;
    /// Feed: the fed bytes.
    pub data: Vec<u8>,
    /// For `Result` entries, the schema of that prompt (to render the output as text);
    /// ignored for the other kinds.
    pub schema: Vec<u8>,
}

/// One inference request, as the node read it from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InferenceRequest {
    /// The kernel's prompt id (big-endian `uint256`); keys the sampling RNG.
    pub prompt_id: [u8; 32],
    /// The input bytes (resolved when kept off-chain); must be UTF-8.
    pub input: Vec<u8>,
    /// Extra system context set by the dapp; must be UTF-8.
    pub extra_context: Vec<u8>,
    /// The output schema, compact encoding (`docs/schema.md`); empty is free text.
    pub schema: Vec<u8>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Temperature in thousandths; 0 is greedy.
    pub temperature_milli: u32,
    /// Sampling seed.
    pub seed: u64,
    /// The context chain entries `[0, length)` recorded with the prompt, oldest first.
    pub context: Vec<ContextEntry>,
}

/// What a driver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceOutput {
    /// The ABI-encoded value, or the 36-byte error output.
    pub output: Vec<u8>,
    /// Generated token ids (empty when no generation ran).
    pub tokens: Vec<u32>,
    /// The engine's logits hash (zero when no generation ran).
    pub logits_sha256: [u8; 32],
    /// False when `output` is an error output.
    pub success: bool,
}

impl InferenceOutput {
    /// A successful output.
    pub fn value(output: Vec<u8>, tokens: Vec<u32>, logits_sha256: [u8; 32]) -> InferenceOutput {
        InferenceOutput {
            output,
            tokens,
            logits_sha256,
            success: true,
        }
    }

    /// An error output for `code`, with whatever generation ran before it.
    pub fn error(
        code: aikernel_schema::ErrorCode,
        tokens: Vec<u32>,
        logits_sha256: [u8; 32],
    ) -> InferenceOutput {
        let output = code.output();
        InferenceOutput {
            output,
            tokens,
            logits_sha256,
            success: false,
        }
    }
}

/// Who answers: the node checks it against the model registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverIdentity {
    /// Driver name, e.g. `llm-llama`.
    pub driver: String,
    /// Model name (GGUF `general.name`, else the file name).
    pub model: String,
    /// SHA-256 of the model file.
    pub file_sha256: [u8; 32],
    /// Context window in tokens.
    pub context_length: u32,
}

/// What a machine needs to serve the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardwareNeeds {
    /// Minimum memory in MiB: the model file plus a full-context KV cache.
    pub min_memory_mib: u64,
    /// Model file size in bytes.
    pub file_bytes: u64,
    /// KV cache bytes for a full context window.
    pub kv_cache_bytes: u64,
}
