//! Chat templates: the default model's exact rendering, pycompat methods, errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_cmp)]

mod common;

use aikernel_engine::gguf::{GgufFile, GgufWriter, MetaValue};
use aikernel_engine::template::{ChatMessage, ChatTemplate, TemplateError};

/// The default model's file (required: docs/testing.md).
fn model() -> GgufFile {
    GgufFile::open(&common::model_path()).unwrap()
}

#[test]
fn smollm2_default_system_prompt() {
    let g = model();
    let t = ChatTemplate::from_gguf(&g).unwrap();
    let out = t
        .render(&[ChatMessage::new("user", "What is 2+2?")], true)
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
         Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn smollm2_explicit_system_and_no_generation_prompt() {
    let g = model();
    let t = ChatTemplate::from_gguf(&g).unwrap();
    let msgs = [
        ChatMessage::new("system", "Answer with one word."),
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "Hello"),
    ];
    assert_eq!(
        t.render(&msgs, false).unwrap(),
        "<|im_start|>system\nAnswer with one word.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello<|im_end|>\n"
    );
}

#[test]
fn pycompat_and_tokens() {
    let src = "{{ bos_token }}{% for m in messages %}\n  {{ m.content.strip() | upper }}|{{ m.role.startswith('us') }}\n{% endfor %}{{ eos_token }}";
    let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
    let out = t
        .render(&[ChatMessage::new("user", "  hi  ")], false)
        .unwrap();
    // As Jinja2: trim_blocks eats the newline after the tag; the indent stays.
    assert_eq!(out, "<s>  HI|True\n</s>");
}

#[test]
fn errors_are_typed() {
    assert!(matches!(
        ChatTemplate::new("{% for %}", "", ""),
        Err(TemplateError::Syntax(_))
    ));
    let t = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
    let err = t.render(&[], false).unwrap_err();
    assert!(matches!(err, TemplateError::Render(_)));
    assert!(err.to_string().contains("no system role"), "{err}");
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", MetaValue::Str("llama".into()));
    let g = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert!(matches!(
        ChatTemplate::from_gguf(&g),
        Err(TemplateError::Gguf(_))
    ));
}
