//! Chat templates: the Jinja template in `tokenizer.chat_template`, rendered with
//! minijinja the way Hugging Face `apply_chat_template` does (`trim_blocks`,
//! `lstrip_blocks`, Python string methods such as `.strip()`, `raise_exception`).

use minijinja::{Environment, ErrorKind, context};
use serde::Serialize;

use crate::gguf::{GgufError, GgufFile};

/// The metadata key holding the template.
pub const CHAT_TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// Why a template could not be loaded or rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The model has no usable template (or its tokens are malformed).
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The template does not parse.
    #[error("chat template does not compile: {0:#}")]
    Syntax(#[source] minijinja::Error),
    /// Rendering failed (including `raise_exception` in the template).
    #[error("chat template rendering failed: {0:#}")]
    Render(#[source] minijinja::Error),
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A compiled chat template with the special-token strings it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// Loads `tokenizer.chat_template`, with `bos_token`/`eos_token` taken from the
    /// vocabulary (empty strings when the model has none).
    pub fn from_gguf(g: &GgufFile) -> Result<ChatTemplate, TemplateError> {
        let source = g.meta_str(CHAT_TEMPLATE_KEY)?;
        let token_text = |key: &str| -> Result<String, GgufError> {
            if g.meta(key).is_none() {
                return Ok(String::new());
            }
            let id = g.meta_u32(key)? as usize;
            let tokens = g.meta_str_array("tokenizer.ggml.tokens")?;
            Ok(tokens.get(id).map(|s| (*s).to_owned()).unwrap_or_default())
        };
        let bos = token_text("tokenizer.ggml.bos_token_id")?;
        let eos = token_text("tokenizer.ggml.eos_token_id")?;
        ChatTemplate::new(source, bos, eos)
    }

    /// Compiles a template from source.
    pub fn new(
        source: &str,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
            },
        );
        env.add_template_owned(NAME, source.to_owned())
            .map_err(TemplateError::Syntax)?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Renders the conversation; with `add_generation_prompt` the text ends where the
    /// assistant's reply begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let tmpl = self.env.get_template(NAME).map_err(TemplateError::Render)?;
        tmpl.render(context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(TemplateError::Render)
    }
}
