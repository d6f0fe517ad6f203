//! The prompt builder: request + context chain -> chat messages -> token sequence.
//!
//! Pure functions, so every node builds the same tokens (`docs/drivers.md`). The model is
//! reached only through [`PromptCodec`], which tests replace with a fake.

use aikernel_engine::template::ChatMessage;
use aikernel_schema::{ErrorCode, Node, Schema};

use crate::error::DriverError;
use crate::types::{ContextEntry, ContextKind, InferenceRequest};

/// Fixed protocol system text; the schema instruction and extra context follow it.
pub const SYSTEM_TEXT: &str = "You are a careful assistant answering requests from smart contracts. Reply with the answer only, no explanation.";

/// Prefix of the user turn made from a `Feed` entry.
pub const FEED_PREFIX: &str = "Context: ";

/// Rendering and tokenization of chat messages (the model's chat template + tokenizer).
pub trait PromptCodec {
    /// Renders the conversation with the generation prompt appended and tokenizes it
    /// (special tokens in the rendered text are parsed; BOS added if the model wants it).
    fn tokenize_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, DriverError>;
    /// The context window in tokens.
    fn context_length(&self) -> usize;
    /// Texts of the control tokens the tokenizer parses in rendered text (e.g.
    /// `<|im_end|>`), longest first; they are neutralised in message contents.
    fn control_texts(&self) -> &[String] {
        &[]
    }
}

/// The zero-width space inserted after the first character of a control-token text found
/// in a message's content, so the text stays readable but can never become that token.
pub const NEUTRALISER: char = '\u{200B}';

/// `text` with every occurrence of each of `controls` broken by [`NEUTRALISER`] after its
/// first character. Applied, in `controls` order, to every message content: text supplied by
/// dapps and users can never forge chat turns or end the prompt early.
pub fn neutralise(text: &str, controls: &[String]) -> String {
    let mut out = text.to_owned();
    for control in controls {
        let Some(first) = control.chars().next() else {
            continue;
        };
        if control.len() <= first.len_utf8() || !out.contains(control.as_str()) {
            continue;
        }
        let (head, tail) = control.split_at(first.len_utf8());
        out = out.replace(control.as_str(), &format!("{head}{NEUTRALISER}{tail}"));
    }
    out
}

/// A built prompt, or the deterministic error every node reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Built {
    /// The prompt to generate from.
    Prompt {
        /// The parsed schema.
        schema: Schema,
        /// The messages, after truncation.
        messages: Vec<ChatMessage>,
        /// The token sequence.
        tokens: Vec<u32>,
        /// How many of the oldest context turns were dropped.
        dropped: usize,
    },
    /// The request is answered with this error output.
    Error(ErrorCode),
}

/// The schema instruction appended to the system text, e.g.
/// `Answer with exactly one of: Team A, Team B.`
pub fn schema_instruction(schema: &Schema) -> String {
    match schema.root() {
        None => "Answer in plain text.".to_owned(),
        Some(Node::Text { max_bytes }) => {
            format!("Answer in plain text of at most {max_bytes} bytes.")
        }
        Some(Node::Choice(options)) => {
            format!("Answer with exactly one of: {}.", options.join(", "))
        }
        Some(Node::Int { min, max }) => format!("Answer with an integer between {min} and {max}."),
        Some(Node::Bool) => "Answer with true or false.".to_owned(),
        Some(Node::Address) => {
            "Answer with an Ethereum address: 0x followed by 40 lowercase hex digits.".to_owned()
        }
        Some(node) => format!("Answer with {}.", describe(node)),
    }
}

/// A short description of a node's textual form (inside composites strings are quoted).
fn describe(node: &Node) -> String {
    match node {
        Node::Text { max_bytes } => format!("a quoted string of at most {max_bytes} bytes"),
        Node::Choice(options) => {
            let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
            format!("one of {}", quoted.join(", "))
        }
        Node::Int { min, max } => format!("an integer between {min} and {max}"),
        Node::Bool => "true or false".to_owned(),
        Node::Address => "an address (0x and 40 lowercase hex digits)".to_owned(),
        Node::Tuple(items) => {
            let parts: Vec<String> = items.iter().map(describe).collect();
            format!(
                "a list of {} items [a, b, ...] that are, in order: {}",
                items.len(),
                parts.join("; ")
            )
        }
        Node::Array { max_len, element } => format!(
            "a list [a, b, ...] of at most {max_len} items, each {}",
            describe(element)
        ),
    }
}

/// The text of a `Result` entry: its ABI output decoded per that prompt's schema when the
/// schema is a single simple value, else `0x` + lowercase hex of the output.
pub fn result_text(schema_bytes: &[u8], output: &[u8]) -> String {
    let hex_text = || format!("0x{}", hex::encode(output));
    let Ok(schema) = Schema::parse(schema_bytes) else {
        return hex_text();
    };
    let word = |i: usize| output.get(i * 32..(i + 1) * 32);
    let simple = match schema.root() {
        None | Some(Node::Text { .. }) => abi_string(output),
        Some(Node::Choice(options)) if output.len() == 32 => word_u64(word(0))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| options.get(i).cloned()),
        Some(Node::Int { min, .. }) if output.len() == 32 => word_i64(word(0), *min < 0),
        Some(Node::Bool) if output.len() == 32 => match word_u64(word(0)) {
            Some(0) => Some("false".to_owned()),
            Some(1) => Some("true".to_owned()),
            _ => None,
        },
        Some(Node::Address) if output.len() == 32 => word(0)
            .filter(|w| w[..12].iter().all(|&b| b == 0))
            .map(|w| format!("0x{}", hex::encode(&w[12..]))),
        _ => None,
    };
    simple.unwrap_or_else(hex_text)
}

/// A word that is a u64 (high 24 bytes zero).
fn word_u64(w: Option<&[u8]>) -> Option<u64> {
    let w = w?;
    if w[..24].iter().any(|&b| b != 0) {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    Some(u64::from_be_bytes(b))
}

/// A word that is a sign-extended (or, unsigned, zero-extended) i64, as decimal text.
fn word_i64(w: Option<&[u8]>, signed: bool) -> Option<String> {
    let w = w?;
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    let v = i64::from_be_bytes(b);
    let fill = if signed && v < 0 { 0xff } else { 0 };
    if w[..24].iter().any(|&x| x != fill) {
        return None;
    }
    Some(v.to_string())
}

/// `abi.decode(output, (string))` when it is exactly that encoding of UTF-8 text.
fn abi_string(output: &[u8]) -> Option<String> {
    let offset = word_u64(output.get(..32))?;
    if offset != 32 {
        return None;
    }
    let len = usize::try_from(word_u64(output.get(32..64))?).ok()?;
    let padded = len.div_ceil(32) * 32;
    if output.len() != 64 + padded {
        return None;
    }
    String::from_utf8(output[64..64 + len].to_vec()).ok()
}

/// The message for one context entry. Non-UTF-8 prompt and feed bytes are rendered with
/// U+FFFD replacements (`String::from_utf8_lossy`).
pub fn context_message(entry: &ContextEntry) -> ChatMessage {
    match entry.kind {
        ContextKind::Prompt => ChatMessage::new("user", String::from_utf8_lossy(&entry.data)),
        ContextKind::Result => {
            ChatMessage::new("assistant", result_text(&entry.schema, &entry.data))
        }
        ContextKind::Feed => ChatMessage::new(
            "user",
            format!("{FEED_PREFIX}{}", String::from_utf8_lossy(&entry.data)),
        ),
    }
}

/// Builds the prompt for `request` under rules 1 and 2 ([`Layout::SystemOnly`]).
pub fn build(request: &InferenceRequest, codec: &dyn PromptCodec) -> Result<Built, DriverError> {
    build_in(request, codec, Layout::SystemOnly)
}

/// Builds the prompt for `request` with the extra context placed by `layout`.
///
/// Order of checks: schema (`InvalidSchema`), input and extra context UTF-8
/// (`InvalidInput`), then the window: the smallest `k` such that the prompt with context
/// turns `k..` fits (`tokens + max_tokens <= context_length`) is used; if none fits, even
/// with no context, `InputTooLong`. Example turns ([`Layout::ExamplesAsTurns`]) are part of
/// the dapp's instructions and are never dropped.
pub fn build_in(
    request: &InferenceRequest,
    codec: &dyn PromptCodec,
    layout: Layout,
) -> Result<Built, DriverError> {
    let Ok(schema) = Schema::parse(&request.schema) else {
        return Ok(Built::Error(ErrorCode::InvalidSchema));
    };
    let Some(parts) = Parts::of(request, layout) else {
        return Ok(Built::Error(ErrorCode::InvalidInput));
    };
    let instruction = schema_instruction(&schema);
    let turns: Vec<ChatMessage> = request.context.iter().map(context_message).collect();
    fit(
        codec,
        schema,
        &parts.system(&instruction),
        &parts.examples,
        &turns,
        parts.input,
        request.max_tokens,
    )
}

/// Where the dapp's extra context goes in the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Rules 1 and 2: all of it is appended to the system message.
    SystemOnly,
    /// Rule 3: every example pair in it ([`split_examples`]) becomes a user turn and an
    /// assistant turn right after the system message, before the context chain, as a chat
    /// model sees worked examples; the rest is appended to the system message.
    ExamplesAsTurns,
}

/// The line that starts an example's input in the extra context (rule 3).
pub const EXAMPLE_INPUT: &str = "Example input: ";
/// The line that must follow it, with the example's answer.
pub const EXAMPLE_ANSWER: &str = "Example answer: ";

/// Splits `extra` into its example pairs and the rest (rule 3). An example is a line that
/// starts with [`EXAMPLE_INPUT`] followed directly by a line that starts with
/// [`EXAMPLE_ANSWER`]; the text after each prefix, as written, is the user turn and the
/// assistant turn. Lines are split at `\n` only. Every other line (an input line with no
/// answer line after it, too) stays in the rest, in order, joined by `\n`.
pub fn split_examples(extra: &str) -> (String, Vec<ChatMessage>) {
    let lines: Vec<&str> = extra.split('\n').collect();
    let mut rest: Vec<&str> = Vec::with_capacity(lines.len());
    let mut examples = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let pair = lines[i].strip_prefix(EXAMPLE_INPUT).zip(
            lines
                .get(i + 1)
                .and_then(|next| next.strip_prefix(EXAMPLE_ANSWER)),
        );
        if let Some((input, answer)) = pair {
            examples.push(ChatMessage::new("user", input));
            examples.push(ChatMessage::new("assistant", answer));
            i += 2;
        } else {
            rest.push(lines[i]);
            i += 1;
        }
    }
    (rest.join("\n"), examples)
}

/// The request's input and extra context, checked to be UTF-8, the extra context split by
/// the layout.
#[derive(Debug, Clone)]
pub(crate) struct Parts<'a> {
    /// The new user message.
    pub(crate) input: &'a str,
    /// The extra context appended to the system message.
    pub(crate) extra: String,
    /// Example turns after the system message (rule 3; empty otherwise).
    pub(crate) examples: Vec<ChatMessage>,
}

impl<'a> Parts<'a> {
    /// `None` when the input or the extra context is not UTF-8 (`InvalidInput`).
    pub(crate) fn of(request: &'a InferenceRequest, layout: Layout) -> Option<Parts<'a>> {
        let input = std::str::from_utf8(&request.input).ok()?;
        let extra = std::str::from_utf8(&request.extra_context).ok()?;
        let (extra, examples) = match layout {
            Layout::SystemOnly => (extra.to_owned(), Vec::new()),
            Layout::ExamplesAsTurns => split_examples(extra),
        };
        Some(Parts {
            input,
            extra,
            examples,
        })
    }

    /// The system message: `SYSTEM_TEXT`, the instruction, then the extra context.
    pub(crate) fn system(&self, instruction: &str) -> String {
        let mut system = format!("{SYSTEM_TEXT}\n{instruction}");
        if !self.extra.is_empty() {
            system.push('\n');
            system.push_str(&self.extra);
        }
        system
    }
}

/// Step 6-8 of the rule: the messages `[system, examples, turns[k..], input]`, neutralised
/// and tokenized, for the smallest `k` that leaves `max_tokens` in the window.
pub(crate) fn fit(
    codec: &dyn PromptCodec,
    schema: Schema,
    system: &str,
    examples: &[ChatMessage],
    turns: &[ChatMessage],
    input: &str,
    max_tokens: u32,
) -> Result<Built, DriverError> {
    let window = codec.context_length();
    for dropped in 0..=turns.len() {
        let mut messages = Vec::with_capacity(examples.len() + turns.len() - dropped + 2);
        messages.push(ChatMessage::new("system", system));
        messages.extend_from_slice(examples);
        messages.extend_from_slice(&turns[dropped..]);
        messages.push(ChatMessage::new("user", input));
        for m in &mut messages {
            m.content = neutralise(&m.content, codec.control_texts());
        }
        let tokens = codec.tokenize_chat(&messages)?;
        if tokens.len().saturating_add(max_tokens as usize) <= window {
            return Ok(Built::Prompt {
                schema,
                messages,
                tokens,
                dropped,
            });
        }
    }
    Ok(Built::Error(ErrorCode::InputTooLong))
}

#[cfg(test)]
mod tests;
