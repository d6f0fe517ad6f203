//! What a prompt carries, checked before it is paid for: the input (inline or in the local
//! content store), the conversation topic, and whether the prompt fits the model's context.

use std::path::{Path, PathBuf};

use alloy::primitives::{B256, keccak256};
use anyhow::{Context as _, bail};

use aikernel_chain::bindings::{IAIKernel, ModelFileSystem::ModelSpec};
use aikernel_drivers::{InferenceRequest, LlmDriver, prompt::Built, rule_for_driver};
use aikernel_schema::ErrorCode;
use aikernel_store::ContentStore;

/// Longest inline input or extra context the kernel accepts, in bytes.
pub(super) const MAX_INPUT_BYTES: usize = 8192;

/// The conversation a prompt belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) struct Topic {
    /// The `topic` of the request.
    pub(super) value: B256,
    /// True when no --topic was given: a random topic, a conversation of its own.
    pub(super) fresh: bool,
}

impl Topic {
    /// `--topic` as given, else a fresh random topic.
    pub(super) fn new(topic: Option<&str>) -> anyhow::Result<Topic> {
        Ok(match topic {
            Some(t) => Topic {
                value: parse_topic(t)?,
                fresh: false,
            },
            None => Topic {
                value: random_topic(),
                fresh: true,
            },
        })
    }
}

/// 32 bytes no other prompt will have: keccak256 of the process's OS-seeded hash keys, the
/// time in nanoseconds and the process id.
fn random_topic() -> B256 {
    use std::hash::{BuildHasher as _, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = Vec::with_capacity(64);
    for i in 0..4u8 {
        seed.extend_from_slice(&RandomState::new().hash_one((i, nanos)).to_le_bytes());
    }
    seed.extend_from_slice(&nanos.to_le_bytes());
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    keccak256(seed)
}

/// `--topic`: 0x + 64 hex digits as is, any other text hashed with keccak256.
pub(super) fn parse_topic(topic: &str) -> anyhow::Result<B256> {
    if topic.is_empty() {
        bail!("--topic is empty (leave it out for a fresh conversation)");
    }
    if topic.starts_with("0x") && topic.len() == 66 {
        return topic
            .parse()
            .with_context(|| format!("--topic {topic} is not 32 bytes of hex"));
    }
    Ok(keccak256(topic.as_bytes()))
}

/// The prompt: `--input` inline (hash zero), or `--input-file` (`-`: standard input) put into
/// the content store (input empty, hash = its sha256). Input that is not UTF-8 is refused:
/// every node would answer it with InvalidInput and the fee would be spent.
pub(super) fn read_input(
    input: Option<&str>,
    input_file: Option<&Path>,
) -> anyhow::Result<(Vec<u8>, B256)> {
    match (input, input_file) {
        (Some(text), _) => {
            if text.is_empty() {
                bail!("--input is empty");
            }
            if text.len() > MAX_INPUT_BYTES {
                bail!(
                    "--input is {} bytes; the kernel takes at most {MAX_INPUT_BYTES} inline \
                     (use --input-file to keep a long input off chain)",
                    text.len()
                );
            }
            Ok((text.as_bytes().to_vec(), B256::ZERO))
        }
        (None, Some(path)) => {
            let bytes = crate::files::read_file_or_stdin(path)?;
            if bytes.is_empty() {
                bail!("--input-file {} is empty", path.display());
            }
            if let Err(e) = std::str::from_utf8(&bytes) {
                bail!(
                    "--input-file {} is not UTF-8 text (invalid byte at offset {}): nodes would \
                     answer InvalidInput and the fee would be spent",
                    path.display(),
                    e.valid_up_to()
                );
            }
            let dir = content_dir();
            let store = ContentStore::open(&dir)
                .with_context(|| format!("opening the content store {}", dir.display()))?;
            let hash = store
                .put(&bytes)
                .with_context(|| format!("storing the input in {}", dir.display()))?;
            Ok((Vec::new(), B256::from(hash)))
        }
        (None, None) => bail!("pass --input TEXT or --input-file PATH"),
    }
}

/// `$AIKERNEL_CACHE/content`, else `~/.cache/aikernel/content`: where nodes on this machine
/// look up off-chain inputs.
fn content_dir() -> PathBuf {
    aikernel_node::config::default_cache_dir().join("content")
}

/// How a prompt fits the model, when the model file is on this machine.
#[derive(Debug, Clone)]
pub(super) struct Fit {
    /// Tokens of the prompt without earlier turns of its conversation.
    pub(super) prompt_tokens: usize,
    /// The model's context length.
    pub(super) context_length: usize,
}

/// Builds the prompt the nodes will build (docs/drivers.md) without the conversation's
/// earlier turns, which nodes drop to make room: when even that does not fit with
/// `maxTokens`, every node answers InputTooLong and the fee is spent, so it is refused here.
/// `Ok(None)` when the model file is not on this machine (or not run by the LLM driver).
pub(super) fn check_fits(
    spec: &ModelSpec,
    request: &IAIKernel::Request,
) -> anyhow::Result<Option<Fit>> {
    let Some(rule) = rule_for_driver(&spec.driver) else {
        return Ok(None);
    };
    let Some(path) = local_model(spec) else {
        return Ok(None);
    };
    // A file of another family than the registered name is refused as nodes refuse it.
    let driver = LlmDriver::load_registered(&path, 1, &spec.driver)
        .with_context(|| format!("loading the model {} to check the prompt", path.display()))?;
    let context_length = driver.model().config().context_length;
    let mut inference = InferenceRequest {
        input: request.input.to_vec(),
        extra_context: request.extraContext.to_vec(),
        schema: request.schema.to_vec(),
        max_tokens: 0,
        ..InferenceRequest::default()
    };
    if !request.inputHash.is_zero() {
        // Off chain: the bytes are in this machine's content store (read_input put them there).
        let dir = content_dir();
        let store = ContentStore::open(&dir)
            .with_context(|| format!("opening the content store {}", dir.display()))?;
        match store.get(&request.inputHash.0) {
            Ok(Some(bytes)) => inference.input = bytes,
            _ => return Ok(None),
        }
    }
    // With no tokens to generate, the prompt alone: its length, or too long on its own.
    let prompt_tokens = match aikernel_drivers::prompt::build_in(&inference, &driver, rule.layout)?
    {
        Built::Prompt { tokens, .. } => tokens.len(),
        Built::Error(ErrorCode::InputTooLong) => bail!(
            "the prompt alone is longer than the model's context of {context_length} tokens: \
             every node would answer InputTooLong and the fee would be spent"
        ),
        Built::Error(code) => {
            bail!("every node would answer {code:?} to this request and the fee would be spent")
        }
    };
    let max_tokens = request.maxTokens as usize;
    if prompt_tokens + max_tokens > context_length {
        bail!(
            "the prompt is {prompt_tokens} tokens and --max-tokens {max_tokens} more, over the \
             model's context of {context_length} tokens: every node would answer InputTooLong \
             and the fee would be spent (lower --max-tokens to {} or less, or shorten the input)",
            context_length.saturating_sub(prompt_tokens)
        );
    }
    Ok(Some(Fit {
        prompt_tokens,
        context_length,
    }))
}

/// The model file on this machine: the verified copy in the node cache, else a `file://` URI
/// of the registration whose file has the registered content root.
fn local_model(spec: &ModelSpec) -> Option<PathBuf> {
    let root = spec.contentRoot.0;
    let cached =
        aikernel_store::cached_model_path(&aikernel_node::config::default_cache_dir(), &root);
    if cached.is_file() {
        return Some(cached);
    }
    spec.uris
        .iter()
        .filter_map(|uri| file_path(uri))
        .find(|path| {
            let Ok(meta) = std::fs::metadata(path) else {
                return false;
            };
            if meta.len() != spec.size {
                return false;
            }
            std::fs::File::open(path)
                .ok()
                .and_then(|f| {
                    aikernel_protocol::content::merkle_root(
                        std::io::BufReader::new(f),
                        spec.chunkSize,
                    )
                    .ok()
                })
                .is_some_and(|(r, _)| r == root)
        })
}

/// The path of a `file:///abs/path` (or `file://localhost/...`) URI, `%XX` escapes decoded.
fn file_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_or_hash() {
        let hex = format!("0x{}", "ab".repeat(32));
        assert_eq!(parse_topic(&hex).unwrap(), B256::repeat_byte(0xab));
        assert_eq!(parse_topic("chat:alice").unwrap(), keccak256("chat:alice"));
        assert!(parse_topic(&format!("0x{}", "zz".repeat(32))).is_err());
        assert!(parse_topic("").is_err());
    }

    #[test]
    fn no_topic_is_a_fresh_conversation_every_time() {
        let a = Topic::new(None).unwrap();
        let b = Topic::new(None).unwrap();
        assert!(a.fresh && b.fresh);
        assert_ne!(a.value, b.value);
        assert_ne!(a.value, B256::ZERO);
        let named = Topic::new(Some("chat")).unwrap();
        assert!(!named.fresh);
        assert_eq!(named.value, Topic::new(Some("chat")).unwrap().value);
    }

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_path("file:///m/a%20b.gguf"),
            Some(PathBuf::from("/m/a b.gguf"))
        );
        assert_eq!(
            file_path("file://localhost/m/x.gguf"),
            Some(PathBuf::from("/m/x.gguf"))
        );
        assert_eq!(file_path("https://x/m.gguf"), None);
        assert_eq!(file_path("file://rel/m.gguf"), None);
        assert_eq!(file_path("file:///bad%zz"), None);
    }
}
