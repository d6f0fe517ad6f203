//! Chat templates: the Jinja template in `tokenizer.chat_template`, rendered with
//! minijinja the way Hugging Face `apply_chat_template` does (`trim_blocks`,
//! `lstrip_blocks`, Python string methods such as `.strip()`, `raise_exception`, and
//! `strftime_now`).
//!
//! `strftime_now` never reads the clock: a prompt's bits may not depend on the day a node
//! renders it. It formats one fixed instant, [`TEMPLATE_DATE`] (26 July 2024, 00:00 UTC, the
//! date Llama 3.x templates fall back to when the function is missing), so a template
//! renders the same text whether or not it checks `strftime_now is defined`.

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

/// The instant `strftime_now` formats: `(year, month 1-12, day, weekday 0 = Sunday, day of
/// the year 1-366)`; the time of day is 00:00:00.
pub const TEMPLATE_DATE: (i32, u32, u32, u32, u32) = (2024, 7, 26, 5, 208);

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Formats [`TEMPLATE_DATE`] with a C `strftime` format. The specifiers chat templates use
/// are supported (`%d %e %m %y %Y %b %B %h %a %A %j %H %M %S %F %D %%`); any other is an
/// error naming it, never a guess.
fn strftime_fixed(format: &str) -> Result<String, minijinja::Error> {
    let (year, month, day, weekday, yday) = TEMPLATE_DATE;
    let (month_name, day_name) = (MONTHS[month as usize - 1], WEEKDAYS[weekday as usize]);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next();
        let piece = match spec {
            Some('d') => format!("{day:02}"),
            Some('e') => format!("{day:2}"),
            Some('m') => format!("{month:02}"),
            Some('y') => format!("{:02}", year % 100),
            Some('Y') => year.to_string(),
            Some('b' | 'h') => month_name[..3].to_owned(),
            Some('B') => month_name.to_owned(),
            Some('a') => day_name[..3].to_owned(),
            Some('A') => day_name.to_owned(),
            Some('j') => format!("{yday:03}"),
            Some('H' | 'M' | 'S') => "00".to_owned(),
            Some('F') => format!("{year}-{month:02}-{day:02}"),
            Some('D') => format!("{month:02}/{day:02}/{:02}", year % 100),
            Some('%') => "%".to_owned(),
            other => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: unsupported format specifier %{}",
                        other.map(String::from).unwrap_or_default()
                    ),
                ));
            }
        };
        out.push_str(&piece);
    }
    Ok(out)
}

/// The vocabulary texts of the BOS and EOS tokens, which templates print as `bos_token` and
/// `eos_token` (empty strings when the model has none).
pub fn special_token_texts(g: &GgufFile) -> Result<(String, String), GgufError> {
    let ids = ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]
        .map(|key| g.meta(key).map(|_| g.meta_u32(key)).transpose());
    let [bos, eos] = ids;
    let (bos, eos) = (bos?, eos?);
    if bos.is_none() && eos.is_none() {
        return Ok((String::new(), String::new()));
    }
    let tokens = g.meta_str_array("tokenizer.ggml.tokens")?;
    let text = |id: Option<u32>| {
        id.and_then(|id| tokens.get(id as usize))
            .map(|s| (*s).to_owned())
            .unwrap_or_default()
    };
    Ok((text(bos), text(eos)))
}

impl ChatTemplate {
    /// Loads `tokenizer.chat_template`, with `bos_token`/`eos_token` taken from the
    /// vocabulary (empty strings when the model has none).
    pub fn from_gguf(g: &GgufFile) -> Result<ChatTemplate, TemplateError> {
        let source = g.meta_str(CHAT_TEMPLATE_KEY)?;
        let (bos, eos) = special_token_texts(g)?;
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
        env.add_function("strftime_now", |format: String| strftime_fixed(&format));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str) -> Result<String, TemplateError> {
        ChatTemplate::new(source, "<s>", "</s>")?.render(&[ChatMessage::new("user", "hi")], true)
    }

    #[test]
    fn strftime_now_formats_the_fixed_date_and_never_the_clock() {
        // The Llama 3.x idiom: the function's date and the template's own fallback agree.
        let src = "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y') }}\
                   {% else %}26 Jul 2024{% endif %}";
        assert_eq!(render(src).unwrap(), "26 Jul 2024");
        assert_eq!(
            render("{{ strftime_now('%A %e %B %y, %j, %F %H:%M:%S %D %a %h %m %%') }}").unwrap(),
            "Friday 26 July 24, 208, 2024-07-26 00:00:00 07/26/24 Fri Jul 07 %"
        );
    }

    #[test]
    fn an_unsupported_strftime_specifier_is_an_error_naming_it() {
        let err = render("{{ strftime_now('%Z') }}").unwrap_err();
        assert!(err.to_string().contains("%Z"), "{err}");
        let err = render("{{ strftime_now('100%') }}").unwrap_err();
        assert!(err.to_string().contains("specifier"), "{err}");
    }

    #[test]
    fn raise_exception_fails_the_render_with_its_message() {
        let err = render("{{ raise_exception('only user and assistant roles') }}").unwrap_err();
        assert!(
            err.to_string().contains("only user and assistant roles"),
            "{err}"
        );
    }
}
