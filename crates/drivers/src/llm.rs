//! The LLM driver: the deterministic engine plus schema-constrained decoding.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use aikernel_engine::template::{CHAT_TEMPLATE_KEY, ChatMessage, ChatTemplate};
use aikernel_engine::{
    GenerateOptions, Model, PrefixCache, PrefixStats, Reuse, ScoreOptions,
    score_continuations_with_cache,
};
use aikernel_schema::{ConstrainedDecoder, Schema, Vocab};
use sha2::{Digest, Sha256};

use crate::Driver;
use crate::answer::{Constraint, Prepared, ToGenerate};
use crate::completion::{self, END_OF_ANSWER};
use crate::decide::{CalibrationCache, Decided, Decoding, PromptRule, Scored, Scorer, decide};
use crate::error::DriverError;
use crate::gpu::GpuGenerator;
use crate::prompt::{Built, PromptCodec, build_in};
use crate::registry::{DriverSpec, Family};
use crate::types::{DriverIdentity, HardwareNeeds, InferenceOutput, InferenceRequest};

/// How prompts are written for the model.
#[derive(Debug)]
enum Format {
    /// The model's own chat template (`tokenizer.chat_template`).
    Chat(Box<ChatTemplate>),
    /// A base model without one: the completion layout ([`completion`]).
    Completion,
}

/// A GGUF model of any supported family ([`Family`]) behind the [`Driver`] interface.
#[derive(Debug)]
pub struct LlmDriver {
    pub(crate) model: Arc<Model>,
    format: Format,
    /// The token that ends an answer: the model's EOS under a chat template, the blank line
    /// under the completion layout.
    end: u32,
    vocab: Arc<Vocab>,
    pub(crate) threads: usize,
    identity: DriverIdentity,
    file_bytes: u64,
    controls: Vec<String>,
    /// The file's family, which the driver name says.
    family: Family,
    rule: PromptRule,
    calibration: CalibrationCache,
    /// Key/value caches of recent prompts, so a conversation's next turn prefills only its
    /// new tokens (never changes a bit; `docs/drivers.md`, "Prefix sharing").
    pub(crate) prefix: PrefixCache,
    /// Where generations run when the node computes on a GPU ([`LlmDriver::with_gpu`]).
    pub(crate) gpu: Option<GpuGenerator>,
}

impl LlmDriver {
    /// Loads the model at `path` (hashing the file) and builds the decoding vocabulary
    /// once; `threads` does not change any result. The driver answers by prompt rule 1 and
    /// is named after the file's family ([`LlmDriver::with_rule`] changes the rule); a node
    /// serving a registry entry uses [`LlmDriver::load_registered`].
    pub fn load(path: &Path, threads: usize) -> Result<LlmDriver, DriverError> {
        LlmDriver::open(path, threads, None)
    }

    /// Loads the model at `path` to serve a registry entry whose driver name is `driver`:
    /// an unknown name is refused ([`DriverError::UnknownDriver`]), and so is a file whose
    /// `general.architecture` is not the name's family ([`DriverError::FamilyMismatch`]),
    /// before the file is hashed. The driver answers by the name's prompt rule.
    pub fn load_registered(
        path: &Path,
        threads: usize,
        driver: &str,
    ) -> Result<LlmDriver, DriverError> {
        let spec = DriverSpec::parse(driver)?;
        Ok(LlmDriver::open(path, threads, Some(spec))?.with_rule(spec.rule))
    }

    /// Loads the model, checking its family against `spec` when there is one.
    fn open(
        path: &Path,
        threads: usize,
        spec: Option<DriverSpec>,
    ) -> Result<LlmDriver, DriverError> {
        let model = Model::load(path)?;
        let arch = model.config().arch.name();
        if let Some(spec) = spec {
            spec.check_arch(arch)?;
        }
        let family = Family::served(arch)?;
        let io = |source| DriverError::Io {
            path: path.display().to_string(),
            source,
        };
        let (file_sha256, file_bytes) = sha256_file(path).map_err(io)?;
        let format = if model.gguf().meta(CHAT_TEMPLATE_KEY).is_some() {
            Format::Chat(Box::new(model.chat_template()?))
        } else {
            Format::Completion
        };
        let tok = model.tokenizer();
        let n = tok.vocab_size() as u32;
        let tokens: Vec<Vec<u8>> = (0..n).map(|id| tok.token_bytes(id).to_vec()).collect();
        let special: Vec<bool> = (0..n).map(|id| tok.is_special(id)).collect();
        let end = match format {
            Format::Chat(_) => tok
                .eos_token_id()
                .ok_or_else(|| DriverError::Vocab("the model has no EOS token".into()))?,
            Format::Completion => (0..n)
                .find(|&id| {
                    !special[id as usize] && tokens[id as usize] == END_OF_ANSWER.as_bytes()
                })
                .ok_or_else(|| {
                    DriverError::Vocab(
                        "the model has no chat template and no single token for a blank line \
                         (\"\\n\\n\"), which ends answers in the completion layout"
                            .into(),
                    )
                })?,
        };
        // Longest first, then by text, so overlapping control texts neutralise the same way
        // on every node.
        let mut controls: Vec<String> = (0..n)
            .filter(|&id| special[id as usize])
            .filter_map(|id| String::from_utf8(tok.token_bytes(id).to_vec()).ok())
            .filter(|t| t.chars().count() >= 2)
            .collect();
        controls.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        controls.dedup();
        let vocab =
            Vocab::new(tokens, end, special).map_err(|e| DriverError::Vocab(e.to_string()))?;
        let name = model.gguf().meta_str("general.name").map_or_else(
            |_| {
                path.file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
            },
            str::to_owned,
        );
        let rule = PromptRule::from(Decoding::Greedy);
        let identity = DriverIdentity {
            driver: DriverSpec { family, rule }.name(),
            model: name,
            file_sha256,
            context_length: model.config().context_length as u32,
        };
        tracing::info!(model = %identity.model, sha256 = %hex::encode(file_sha256), "driver loaded");
        Ok(LlmDriver {
            model: Arc::new(model),
            format,
            end,
            vocab: Arc::new(vocab),
            threads: threads.max(1),
            identity,
            file_bytes,
            controls,
            family,
            rule,
            calibration: CalibrationCache::default(),
            prefix: PrefixCache::new(0),
            gpu: None,
        })
    }

    /// The driver keeping up to `budget_bytes` of recent prompts' key/value caches (0, the
    /// default, keeps none). Outputs do not depend on it; a conversation's next turn costs
    /// about what its new tokens cost.
    #[must_use]
    pub fn with_prefix_cache(mut self, budget_bytes: usize) -> LlmDriver {
        self.prefix = PrefixCache::new(budget_bytes);
        self
    }

    /// The driver generating on GPU 0 (the CUDA forward pass, same tokens and logits hash as
    /// the CPU engine), one sequence at a time. Scoring and the prefix cache stay on the CPU
    /// engine. Fails, naming what is missing, where there is no usable driver or device.
    pub fn with_gpu(self) -> Result<LlmDriver, DriverError> {
        self.with_gpu_batch(1)
    }

    /// [`LlmDriver::with_gpu`] with `slots` sequences of the whole context on the device, so
    /// a batch ([`Driver::run_batch`]) of up to `slots` generations decodes together.
    pub fn with_gpu_batch(mut self, slots: usize) -> Result<LlmDriver, DriverError> {
        self.gpu = Some(GpuGenerator::start(Arc::clone(&self.model), slots)?);
        tracing::info!(model = %self.identity.model, slots, "generating on the GPU");
        if self.prefix.budget() > 0 {
            tracing::info!(
                "the prefix cache serves scoring only: generations on the GPU prefill the whole prompt"
            );
        }
        Ok(self)
    }

    /// With generations on the GPU: each forward step's launches as one CUDA graph (`on`,
    /// the default), or each kernel launched on its own (an operator's `cuda_graphs = false`).
    /// Never changes an output; without a GPU, nothing to set.
    pub fn with_cuda_graphs(self, on: bool) -> Result<LlmDriver, DriverError> {
        if let Some(g) = &self.gpu {
            g.set_cuda_graphs(on)?;
            tracing::info!(model = %self.identity.model, on, "cuda graphs");
        }
        Ok(self)
    }

    /// [`LlmDriver::with_gpu_batch`] with the host build of the CUDA kernels standing in for
    /// GPU 0: the GPU path's launch sequence, slots and sampling loop, run on the CPU (far
    /// slower than the engine). For tests of a GPU node on machines without a GPU (the node's
    /// `gpu_stand_in` test hook); never an operator's fallback.
    pub fn with_gpu_stand_in_batch(mut self, slots: usize) -> Result<LlmDriver, DriverError> {
        self.gpu = Some(GpuGenerator::start_stand_in(
            Arc::clone(&self.model),
            slots,
        )?);
        tracing::info!(model = %self.identity.model, slots, "generating on the GPU path (host build standing in for the GPU)");
        Ok(self)
    }

    /// Whether generations run on the GPU path, and on the host build standing in for the
    /// GPU: `None` on the CPU engine, `Some(false)` on GPU 0, `Some(true)` on the stand-in.
    pub fn gpu_stand_in(&self) -> Option<bool> {
        self.gpu.as_ref().map(GpuGenerator::is_stand_in)
    }

    /// The prefix cache (its budget and counters).
    pub fn prefix_cache(&self) -> &PrefixCache {
        &self.prefix
    }

    /// Logs one prompt's use of the prefix cache.
    pub(crate) fn log_reuse(&self, what: &'static str, reuse: Reuse) {
        if self.prefix.budget() > 0 {
            tracing::debug!(
                what,
                reused = reuse.reused,
                computed = reuse.computed,
                "prefix cache"
            );
        }
    }

    /// The driver under prompt `rule` (rule 1, greedy, by default). For a registry driver
    /// name use [`LlmDriver::load_registered`]; the identity's driver name follows
    /// ([`DriverSpec::name`] of the file's family and `rule`).
    #[must_use]
    pub fn with_rule(mut self, rule: PromptRule) -> LlmDriver {
        self.rule = rule;
        self.identity.driver = DriverSpec {
            family: self.family,
            rule,
        }
        .name();
        self
    }

    /// The driver deciding typed answers by `decoding`, its layout unchanged.
    #[must_use]
    pub fn with_decoding(self, decoding: Decoding) -> LlmDriver {
        let layout = self.rule.layout;
        self.with_rule(PromptRule { decoding, layout })
    }

    /// How this driver decides typed answers.
    pub fn decoding(&self) -> Decoding {
        self.rule.decoding
    }

    /// This driver's prompt rule.
    pub fn rule(&self) -> PromptRule {
        self.rule
    }

    /// The model file's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The underlying model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// SHA-256 and size of a file, streamed.
fn sha256_file(path: &Path) -> std::io::Result<([u8; 32], u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((h.finalize().into(), total))
}

impl PromptCodec for LlmDriver {
    fn tokenize_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, DriverError> {
        // A chat template writes control tokens as text, to be parsed; the completion
        // layout has none, so nothing in it may become one.
        let (text, parse_special) = match &self.format {
            Format::Chat(template) => (
                template
                    .render(messages, true)
                    .map_err(|e| DriverError::Template(e.to_string()))?,
                true,
            ),
            Format::Completion => (completion::render(messages), false),
        };
        let tok = self.model.tokenizer();
        let mut out = Vec::new();
        if tok.add_bos()
            && let Some(bos) = tok.bos_token_id()
        {
            out.push(bos);
        }
        out.extend(tok.encode(&text, parse_special));
        Ok(out)
    }

    fn context_length(&self) -> usize {
        self.model.config().context_length
    }

    fn control_texts(&self) -> &[String] {
        &self.controls
    }
}

impl Scorer for LlmDriver {
    fn answer_tokens(&self, text: &str) -> Vec<u32> {
        let mut tokens = self.model.tokenizer().encode(text, false);
        tokens.push(self.end);
        tokens
    }

    fn score(&self, prompt: &[u32], continuations: &[Vec<u32>]) -> Result<Scored, DriverError> {
        let opts = ScoreOptions {
            threads: self.threads,
            ..ScoreOptions::default()
        };
        let (scores, reuse) = score_continuations_with_cache(
            &self.model,
            prompt,
            continuations,
            &opts,
            &self.prefix,
        )?;
        self.log_reuse("score", reuse);
        Ok(Scored {
            log_probs: scores.log_probs,
            trace: scores.logits_sha256,
        })
    }
}

impl Driver for LlmDriver {
    fn identity(&self) -> DriverIdentity {
        self.identity.clone()
    }

    fn hardware(&self) -> HardwareNeeds {
        let c = self.model.config();
        // K and V, f32, per layer and position.
        let kv_cache_bytes =
            (2 * c.n_layers * c.context_length * c.n_head_kv * c.head_dim * 4) as u64;
        let total = self.file_bytes + kv_cache_bytes;
        HardwareNeeds {
            min_memory_mib: total.div_ceil(1 << 20),
            file_bytes: self.file_bytes,
            kv_cache_bytes,
        }
    }

    fn run(&self, request: &InferenceRequest) -> Result<InferenceOutput, DriverError> {
        self.run_rule(request, self.rule)
    }

    fn run_batch(
        &self,
        requests: &[InferenceRequest],
    ) -> Vec<Result<InferenceOutput, DriverError>> {
        self.run_batch_rule(requests, self.rule)
    }

    fn prefix_stats(&self) -> Option<PrefixStats> {
        Some(self.prefix.stats())
    }
}

impl LlmDriver {
    /// Answers `request` deciding typed answers by `decoding` instead of the driver's own,
    /// with the driver's layout (`aikernel eval` compares them on one loaded model).
    pub fn run_with(
        &self,
        request: &InferenceRequest,
        decoding: Decoding,
    ) -> Result<InferenceOutput, DriverError> {
        let layout = self.rule.layout;
        self.run_rule(request, PromptRule { decoding, layout })
    }

    /// Answers `request` under prompt `rule` instead of the driver's own.
    pub fn run_rule(
        &self,
        request: &InferenceRequest,
        rule: PromptRule,
    ) -> Result<InferenceOutput, DriverError> {
        match self.prepare(request, rule)? {
            Prepared::Answered(out) => Ok(out),
            Prepared::Generate(g) => self.generate_one(g.tokens, g.opts, g.constraint),
        }
    }

    /// What answering `request` under `rule` takes: an answer already (decided by scoring,
    /// or an error output of a request that builds no prompt), or a generation to run.
    pub(crate) fn prepare(
        &self,
        request: &InferenceRequest,
        rule: PromptRule,
    ) -> Result<Prepared, DriverError> {
        if let Ok(schema) = Schema::parse(&request.schema)
            && let Some(decided) = decide(request, &schema, rule, self, &self.calibration)?
        {
            return Ok(Prepared::Answered(match decided {
                Decided::Value {
                    value,
                    tokens,
                    trace,
                } => InferenceOutput::value(value.abi_encode(), tokens, trace),
                Decided::Error(code) => InferenceOutput::error(code, Vec::new(), [0; 32]),
            }));
        }
        let (schema, tokens) = match build_in(request, self, rule.layout)? {
            Built::Error(code) => {
                return Ok(Prepared::Answered(InferenceOutput::error(
                    code,
                    Vec::new(),
                    [0; 32],
                )));
            }
            Built::Prompt {
                schema,
                tokens,
                dropped,
                ..
            } => {
                tracing::debug!(prompt_tokens = tokens.len(), dropped, "prompt built");
                (schema, tokens)
            }
        };
        let opts = GenerateOptions {
            max_tokens: request.max_tokens,
            temperature_milli: request.temperature_milli,
            seed: request.seed,
            prompt_id: request.prompt_id,
            threads: self.threads,
            stop_tokens: vec![self.end],
            ..GenerateOptions::default()
        };
        let constraint = Constraint {
            decoder: ConstrainedDecoder::new(&schema, Arc::clone(&self.vocab)),
            error: None,
        };
        Ok(Prepared::Generate(Box::new(ToGenerate {
            tokens,
            opts,
            constraint,
        })))
    }
}
