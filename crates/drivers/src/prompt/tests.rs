//! Builder tests with a fake codec: one token per byte of a simple rendering.

use super::*;
use aikernel_schema::Value;

/// Renders `role:content|` per message and counts one token per byte.
struct Fake {
    window: usize,
}

impl PromptCodec for Fake {
    fn tokenize_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, DriverError> {
        let mut text = String::new();
        for m in messages {
            text.push_str(&m.role);
            text.push(':');
            text.push_str(&m.content);
            text.push('|');
        }
        Ok(text.bytes().map(u32::from).collect())
    }

    fn context_length(&self) -> usize {
        self.window
    }
}

fn entry(kind: ContextKind, data: &[u8], schema: &[u8]) -> ContextEntry {
    ContextEntry {
        kind,
        prompt_id: [0; 32],
        data: data.to_vec(),
        schema: schema.to_vec(),
    }
}

fn choice_schema() -> Schema {
    Schema::new(Node::choice(["Team A", "Team B"])).unwrap()
}

fn req(context: Vec<ContextEntry>, max_tokens: u32) -> InferenceRequest {
    InferenceRequest {
        input: b"Which team wins?".to_vec(),
        extra_context: b"Season 2026.".to_vec(),
        schema: choice_schema().encode(),
        max_tokens,
        context,
        ..InferenceRequest::default()
    }
}

fn history() -> Vec<ContextEntry> {
    let s = choice_schema().encode();
    vec![
        entry(ContextKind::Feed, b"A scored 30", &[]),
        entry(ContextKind::Prompt, b"first question", &[]),
        entry(ContextKind::Result, &Value::Choice(1).abi_encode(), &s),
        entry(ContextKind::Prompt, b"second question", &[]),
    ]
}

fn prompt(built: Built) -> (Vec<ChatMessage>, Vec<u32>, usize) {
    match built {
        Built::Prompt {
            messages,
            tokens,
            dropped,
            ..
        } => (messages, tokens, dropped),
        Built::Error(code) => panic!("unexpected error {code:?}"),
    }
}

#[test]
fn messages_in_order() {
    let (messages, tokens, dropped) =
        prompt(build(&req(history(), 4), &Fake { window: 10_000 }).unwrap());
    assert_eq!(dropped, 0);
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        ["system", "user", "user", "assistant", "user", "user"]
    );
    assert_eq!(
        messages[0].content,
        format!("{SYSTEM_TEXT}\nAnswer with exactly one of: Team A, Team B.\nSeason 2026.")
    );
    assert_eq!(messages[1].content, "Context: A scored 30");
    assert_eq!(messages[2].content, "first question");
    assert_eq!(messages[3].content, "Team B");
    assert_eq!(messages[4].content, "second question");
    assert_eq!(messages[5].content, "Which team wins?");
    assert_eq!(tokens, Fake { window: 0 }.tokenize_chat(&messages).unwrap());
}

#[test]
fn truncation_drops_oldest_whole_turns_first() {
    let fake = |window| Fake { window };
    let full = prompt(build(&req(history(), 4), &fake(10_000)).unwrap())
        .1
        .len();
    // Exactly fits: nothing dropped.
    let (_, _, d) = prompt(build(&req(history(), 4), &fake(full + 4)).unwrap());
    assert_eq!(d, 0);
    // One token short: the oldest turn (the feed) goes, and only it.
    let (m, _, d) = prompt(build(&req(history(), 4), &fake(full + 3)).unwrap());
    assert_eq!(d, 1);
    assert_eq!(m[1].content, "first question");
    assert_eq!(m.len(), 5);
    // Room for the system and input turns only: every context turn goes.
    let bare = prompt(build(&req(Vec::new(), 4), &fake(10_000)).unwrap())
        .1
        .len();
    let (m, _, d) = prompt(build(&req(history(), 4), &fake(bare + 4)).unwrap());
    assert_eq!(d, 4);
    assert_eq!(m.len(), 2);
    // Not even that: InputTooLong.
    let b = build(&req(history(), 4), &fake(bare + 3)).unwrap();
    assert_eq!(b, Built::Error(ErrorCode::InputTooLong));
    // max_tokens alone over the window.
    let b = build(&req(Vec::new(), 100_000), &fake(10_000)).unwrap();
    assert_eq!(b, Built::Error(ErrorCode::InputTooLong));
}

#[test]
fn request_errors() {
    let fake = Fake { window: 10_000 };
    let mut r = req(Vec::new(), 4);
    r.schema = vec![0x02, 0x00]; // a choice with no options
    assert_eq!(
        build(&r, &fake).unwrap(),
        Built::Error(ErrorCode::InvalidSchema)
    );
    let mut r = req(Vec::new(), 4);
    r.input = vec![b'a', 0xff];
    assert_eq!(
        build(&r, &fake).unwrap(),
        Built::Error(ErrorCode::InvalidInput)
    );
    let mut r = req(Vec::new(), 4);
    r.extra_context = vec![0xc3];
    assert_eq!(
        build(&r, &fake).unwrap(),
        Built::Error(ErrorCode::InvalidInput)
    );
    // The schema is checked first.
    r.schema = vec![0xee];
    assert_eq!(
        build(&r, &fake).unwrap(),
        Built::Error(ErrorCode::InvalidSchema)
    );
}

#[test]
fn result_entries_render_as_text() {
    let enc = |n: Node| Schema::new(n).unwrap().encode();
    assert_eq!(
        result_text(&enc(Node::int(-5, 5)), &Value::Int(-3).abi_encode()),
        "-3"
    );
    assert_eq!(
        result_text(&enc(Node::int(300, 850)), &Value::Int(712).abi_encode()),
        "712"
    );
    assert_eq!(
        result_text(&enc(Node::Bool), &Value::Bool(true).abi_encode()),
        "true"
    );
    assert_eq!(
        result_text(
            &enc(Node::Address),
            &Value::Address([0xab; 20]).abi_encode()
        ),
        format!("0x{}", "ab".repeat(20))
    );
    assert_eq!(
        result_text(&[], &Value::Text("héllo".into()).abi_encode()),
        "héllo"
    );
    assert_eq!(
        result_text(
            &enc(Node::text(50)),
            &Value::Text("x".repeat(40)).abi_encode()
        ),
        "x".repeat(40)
    );
    // Composite or malformed: hex of the output.
    let tuple = Value::Tuple(vec![Value::Bool(false), Value::Int(7)]);
    let schema = enc(Node::tuple([Node::Bool, Node::int(0, 9)]));
    let out = tuple.abi_encode();
    assert_eq!(
        result_text(&schema, &out),
        format!("0x{}", hex::encode(&out))
    );
    assert_eq!(
        result_text(&choice_schema().encode(), &Value::Choice(5).abi_encode()),
        format!("0x{}", hex::encode(Value::Choice(5).abi_encode()))
    );
    assert_eq!(result_text(&[0xee], &[1, 2]), "0x0102");
}

#[test]
fn instructions_per_schema() {
    let s = |n: Node| schema_instruction(&Schema::new(n).unwrap());
    assert_eq!(
        s(Node::int(300, 850)),
        "Answer with an integer between 300 and 850."
    );
    assert_eq!(s(Node::Bool), "Answer with true or false.");
    assert_eq!(
        schema_instruction(&Schema::free_text()),
        "Answer in plain text."
    );
    assert_eq!(
        s(Node::array(Node::int(0, 9), 3)),
        "Answer with a list [a, b, ...] of at most 3 items, each an integer between 0 and 9."
    );
}

#[test]
fn neutralise_breaks_every_control_text_and_nothing_else() {
    let controls = vec![
        "<|im_start|>".to_owned(),
        "<|im_end|>".to_owned(),
        "x".to_owned(),
    ];
    let out = neutralise("a<|im_end|>b<|im_start|>c<|im_end|>", &controls);
    assert_eq!(
        out,
        "a<\u{200B}|im_end|>b<\u{200B}|im_start|>c<\u{200B}|im_end|>"
    );
    assert_eq!(
        neutralise("plain x text", &controls),
        "plain x text",
        "one-char texts are left"
    );
    assert_eq!(
        neutralise("<|im_end", &controls),
        "<|im_end",
        "partial texts are left"
    );
}

const WITH_EXAMPLES: &[u8] = b"Season 2026.\nExample input: Lions or Mice?\nExample answer: Team A\nExample input: unanswered\nHome games count double.\nExample input: Mice or Lions?\nExample answer: Team B";

#[test]
fn example_pairs_are_split_from_the_rest_in_order() {
    let (rest, examples) = split_examples(std::str::from_utf8(WITH_EXAMPLES).unwrap());
    assert_eq!(
        rest,
        "Season 2026.\nExample input: unanswered\nHome games count double."
    );
    let turns: Vec<(&str, &str)> = examples
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    assert_eq!(
        turns,
        [
            ("user", "Lions or Mice?"),
            ("assistant", "Team A"),
            ("user", "Mice or Lions?"),
            ("assistant", "Team B"),
        ]
    );
    assert_eq!(
        split_examples("no examples"),
        ("no examples".into(), vec![])
    );
    assert_eq!(split_examples(""), (String::new(), vec![]));
    // An answer line with no input line before it is text.
    assert_eq!(
        split_examples("Example answer: x\nExample input: y").1,
        vec![]
    );
}

#[test]
fn rule_3_places_examples_after_the_system_message_and_never_drops_them() {
    let mut r = req(history(), 4);
    r.extra_context = WITH_EXAMPLES.to_vec();
    let (m, _, dropped) =
        prompt(build_in(&r, &Fake { window: 10_000 }, Layout::ExamplesAsTurns).unwrap());
    assert_eq!(dropped, 0);
    let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "system",
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "user",
            "assistant",
            "user",
            "user"
        ]
    );
    assert!(
        m[0].content
            .ends_with("Example input: unanswered\nHome games count double.")
    );
    assert!(!m[0].content.contains("Lions or Mice?"));
    assert_eq!(m[1].content, "Lions or Mice?");
    assert_eq!(
        m[5].content, "Context: A scored 30",
        "the context chain follows the examples"
    );

    // A tight window drops context turns, oldest first, and keeps the examples.
    let bare = prompt(build_in(&req(Vec::new(), 4), &fake(10_000), Layout::SystemOnly).unwrap())
        .1
        .len();
    let mut no_context = r.clone();
    no_context.context.clear();
    let needed = prompt(build_in(&no_context, &fake(10_000), Layout::ExamplesAsTurns).unwrap())
        .1
        .len();
    assert!(needed > bare);
    let (m, _, dropped) = prompt(build_in(&r, &fake(needed + 4), Layout::ExamplesAsTurns).unwrap());
    assert_eq!(dropped, 4);
    assert_eq!(m.len(), 6, "system, two example pairs, the input");
    assert_eq!(
        build_in(&r, &fake(needed + 3), Layout::ExamplesAsTurns).unwrap(),
        Built::Error(ErrorCode::InputTooLong)
    );
}

#[test]
fn rules_1_and_2_keep_example_lines_in_the_system_message() {
    let mut r = req(Vec::new(), 4);
    r.extra_context = WITH_EXAMPLES.to_vec();
    let (m, _, _) = prompt(build(&r, &fake(10_000)).unwrap());
    assert_eq!(m.len(), 2);
    assert!(
        m[0].content
            .ends_with(std::str::from_utf8(WITH_EXAMPLES).unwrap())
    );
    // Without example lines the two layouts build the same prompt.
    let plain = req(history(), 4);
    assert_eq!(
        build_in(&plain, &fake(10_000), Layout::ExamplesAsTurns).unwrap(),
        build(&plain, &fake(10_000)).unwrap()
    );
}

#[test]
fn example_turns_are_neutralised_like_every_message() {
    let mut r = req(Vec::new(), 4);
    r.extra_context = b"Example input: a<|im_end|>b\nExample answer: Team A".to_vec();
    let codec = Controls(fake(10_000));
    let (m, _, _) = prompt(build_in(&r, &codec, Layout::ExamplesAsTurns).unwrap());
    assert_eq!(m[1].content, format!("a<{NEUTRALISER}|im_end|>b"));
}

fn fake(window: usize) -> Fake {
    Fake { window }
}

/// [`Fake`] whose tokenizer parses `<|im_end|>`.
struct Controls(Fake);

impl PromptCodec for Controls {
    fn tokenize_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, DriverError> {
        self.0.tokenize_chat(messages)
    }

    fn context_length(&self) -> usize {
        self.0.context_length()
    }

    fn control_texts(&self) -> &[String] {
        static CONTROLS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        CONTROLS.get_or_init(|| vec!["<|im_end|>".to_owned()])
    }
}
