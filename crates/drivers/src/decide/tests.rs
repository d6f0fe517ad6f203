//! Rule 2 with a fake model whose scores have a known position bias, a known label bias
//! and a known right answer, so each part of the rule is seen doing its job.

use std::cell::Cell;

use super::*;
use aikernel_schema::ErrorCode;

/// Renders `role:content|` per message, one token per byte. An answer is its bytes then
/// token 0. Scores: +3 for the option the input names after "Correct: ", +1 for the option
/// listed first in the prompt's instruction (position bias), +2 for "false" (label bias).
/// For INT candidates, the score is `-|v - target|/10` where the input says "Target: N".
struct FakeModel {
    window: usize,
    scorings: Cell<usize>,
}

impl FakeModel {
    fn new() -> FakeModel {
        FakeModel {
            window: 4096,
            scorings: Cell::new(0),
        }
    }
}

impl PromptCodec for FakeModel {
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

fn text_of(tokens: &[u32]) -> String {
    tokens.iter().map(|&t| char::from(t as u8)).collect()
}

impl Scorer for FakeModel {
    fn answer_tokens(&self, text: &str) -> Vec<u32> {
        let mut t: Vec<u32> = text.bytes().map(u32::from).collect();
        t.push(0);
        t
    }

    fn score(&self, prompt: &[u32], continuations: &[Vec<u32>]) -> Result<Scored, DriverError> {
        self.scorings.set(self.scorings.get() + 1);
        let prompt = text_of(prompt);
        let user = prompt.rsplit("user:").next().unwrap_or("").to_owned();
        let listed = prompt
            .split("one of: ")
            .nth(1)
            .or_else(|| prompt.split("Answer with ").nth(1))
            .unwrap_or("")
            .to_owned();
        let log_probs = continuations
            .iter()
            .map(|c| {
                let answer = text_of(&c[..c.len() - 1]);
                if let Ok(v) = answer.parse::<i64>() {
                    let target: i64 = user
                        .split("Target: ")
                        .nth(1)
                        .and_then(|t| t.trim_end_matches('|').parse().ok())
                        .unwrap_or(0);
                    return -((v - target).abs() as f32) / 10.0;
                }
                let mut s = 0f32;
                if user.contains(&format!("Correct: {answer}")) {
                    s += 3.0;
                }
                if listed.starts_with(&answer) {
                    s += 1.0;
                }
                if answer == "false" {
                    s += 2.0;
                }
                s
            })
            .collect();
        let mut h = Sha256::new();
        h.update(prompt.as_bytes());
        Ok(Scored {
            log_probs,
            trace: h.finalize().into(),
        })
    }
}

fn request(input: &str, schema: &Schema, max_tokens: u32) -> InferenceRequest {
    InferenceRequest {
        input: input.as_bytes().to_vec(),
        schema: schema.encode(),
        max_tokens,
        ..InferenceRequest::default()
    }
}

fn run(model: &FakeModel, input: &str, schema: &Schema, decoding: Decoding) -> Decided {
    let cache = CalibrationCache::default();
    decide(
        &request(input, schema, 16),
        schema,
        decoding.into(),
        model,
        &cache,
    )
    .unwrap()
    .unwrap()
}

fn value(d: &Decided) -> Value {
    match d {
        Decided::Value { value, .. } => value.clone(),
        Decided::Error(code) => panic!("error output {code:?}"),
    }
}

fn choice(options: &[&str]) -> Schema {
    Schema::new(Node::choice(options.iter().copied())).unwrap()
}

#[test]
fn scoring_in_the_given_order_follows_the_position_bias() {
    let m = FakeModel::new();
    // No right answer in the input: the first-listed option wins whatever it is.
    let ab = value(&run(
        &m,
        "Who wins?",
        &choice(&["Ajax", "Zwolle"]),
        Decoding::Scored,
    ));
    let ba = value(&run(
        &m,
        "Who wins?",
        &choice(&["Zwolle", "Ajax"]),
        Decoding::Scored,
    ));
    assert_eq!(ab, Value::Choice(0));
    assert_eq!(ba, Value::Choice(0));
}

#[test]
fn both_orderings_make_the_answer_independent_of_the_option_order() {
    let m = FakeModel::new();
    for decoding in [Decoding::Ordered, Decoding::Calibrated] {
        let options = ["Ajax", "Benfica", "Celtic", "Dynamo"];
        for correct in options {
            let input = format!("Who wins? Correct: {correct}");
            // Every rotation of the options gives the same option text.
            for r in 0..options.len() {
                let mut rotated = options.to_vec();
                rotated.rotate_left(r);
                let Value::Choice(i) = value(&run(&m, &input, &choice(&rotated), decoding)) else {
                    panic!("not a choice");
                };
                assert_eq!(rotated[i as usize], correct, "{decoding:?} rotation {r}");
            }
        }
        // Without a right answer, the position bias cancels out and the tie goes to the
        // first option in byte order, whatever the listed order.
        let Value::Choice(i) = value(&run(&m, "Who?", &choice(&["Zwolle", "Ajax"]), decoding))
        else {
            panic!("not a choice");
        };
        assert_eq!(i, 1, "{decoding:?}");
    }
}

#[test]
fn calibration_removes_the_label_bias() {
    let m = FakeModel::new();
    let schema = Schema::new(Node::Bool).unwrap();
    // "false" gets +2 on every input: uncalibrated, a true statement by a margin of 3 vs
    // 2 + 1 (position) can still lose; calibrated, only the input's evidence counts.
    let input = "Is 2 + 2 equal to 4? Correct: true";
    assert_eq!(
        value(&run(&m, input, &schema, Decoding::Calibrated)),
        Value::Bool(true)
    );
    assert_eq!(
        value(&run(
            &m,
            "Is fire cold? Correct: false",
            &schema,
            Decoding::Calibrated
        )),
        Value::Bool(false)
    );
    // Ordered but uncalibrated: true scores 3+1 (listed first) + 3 = 7, false 2+2+1 = 5 ...
    // while with no evidence the label bias decides: false.
    assert_eq!(
        value(&run(&m, "Is it?", &schema, Decoding::Ordered)),
        Value::Bool(false)
    );
    // ... and calibration turns that into an exact tie, broken toward "true" (listed first).
    assert_eq!(
        value(&run(&m, "Is it?", &schema, Decoding::Calibrated)),
        Value::Bool(true)
    );
}

#[test]
fn small_int_ranges_score_every_value() {
    let m = FakeModel::new();
    let schema = Schema::new(Node::int(1, 10)).unwrap();
    let d = run(&m, "Target: 7", &schema, Decoding::Scored);
    assert_eq!(value(&d), Value::Int(7));
    let Decided::Value { tokens, .. } = d else {
        unreachable!()
    };
    assert_eq!(tokens, vec![u32::from(b'7'), 0]);
}

#[test]
fn wide_int_ranges_answer_the_expected_value_of_their_buckets() {
    let m = FakeModel::new();
    let schema = Schema::new(Node::int(300, 850)).unwrap();
    // Buckets 300, 355, ..., 850; scores peak at the target and fall off symmetrically,
    // so the expected value lands near it (not at the range minimum).
    let Value::Int(v) = value(&run(&m, "Target: 575", &schema, Decoding::Scored)) else {
        panic!("not an int");
    };
    assert_eq!(v, 575);
    let Value::Int(high) = value(&run(&m, "Target: 850", &schema, Decoding::Scored)) else {
        panic!("not an int");
    };
    assert!((800..=850).contains(&high), "{high}");
    // Wider than the bucket span: left to constrained decoding.
    let huge = Schema::new(Node::int(0, 10_000_000)).unwrap();
    let cache = CalibrationCache::default();
    let r = request("Target: 5", &huge, 16);
    assert!(
        decide(&r, &huge, Decoding::Calibrated.into(), &m, &cache)
            .unwrap()
            .is_none()
    );
}

#[test]
fn expected_value_rounds_half_to_even_and_stays_in_range() {
    assert_eq!(expected_value(&[0, 1], &[0.0, 0.0], 0, 1), 0); // 0.5 -> 0
    assert_eq!(expected_value(&[1, 2], &[0.0, 0.0], 1, 2), 2); // 1.5 -> 2
    assert_eq!(expected_value(&[10, 20], &[-100.0, 0.0], 10, 20), 20);
    assert_eq!(expected_value(&[10, 20], &[0.0, -100.0], 10, 15), 10);
}

#[test]
fn greedy_text_and_composite_schemas_are_left_to_constrained_decoding() {
    let m = FakeModel::new();
    let cache = CalibrationCache::default();
    for schema in [
        Schema::free_text(),
        Schema::new(Node::text(64)).unwrap(),
        Schema::new(Node::Address).unwrap(),
        Schema::new(Node::tuple([Node::Bool, Node::int(0, 9)])).unwrap(),
    ] {
        let r = request("x", &schema, 16);
        assert!(
            decide(&r, &schema, Decoding::Calibrated.into(), &m, &cache)
                .unwrap()
                .is_none()
        );
    }
    let b = Schema::new(Node::Bool).unwrap();
    let r = request("x", &b, 16);
    assert!(
        decide(&r, &b, Decoding::Greedy.into(), &m, &cache)
            .unwrap()
            .is_none()
    );
}

#[test]
fn answers_longer_than_max_tokens_and_bad_input_are_error_outputs() {
    let m = FakeModel::new();
    let cache = CalibrationCache::default();
    let schema = choice(&["approve", "reject"]);
    // "approve" + end = 8 tokens.
    let short = request("?", &schema, 7);
    assert_eq!(
        decide(&short, &schema, Decoding::Calibrated.into(), &m, &cache).unwrap(),
        Some(Decided::Error(ErrorCode::OutputIncomplete))
    );
    let mut bad = request("?", &schema, 16);
    bad.input = vec![0xff, 0xfe];
    assert_eq!(
        decide(&bad, &schema, Decoding::Calibrated.into(), &m, &cache).unwrap(),
        Some(Decided::Error(ErrorCode::InvalidInput))
    );
    let small = FakeModel {
        window: 40,
        scorings: Cell::new(0),
    };
    assert_eq!(
        decide(
            &request("?", &schema, 16),
            &schema,
            Decoding::Calibrated.into(),
            &small,
            &cache
        )
        .unwrap(),
        Some(Decided::Error(ErrorCode::InputTooLong))
    );
}

#[test]
fn content_free_scores_are_computed_once_per_prompt_and_the_trace_covers_all() {
    let m = FakeModel::new();
    let cache = CalibrationCache::default();
    let schema = Schema::new(Node::Bool).unwrap();
    let first = decide(
        &request("Is it? Correct: true", &schema, 16),
        &schema,
        Decoding::Calibrated.into(),
        &m,
        &cache,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        m.scorings.get(),
        4,
        "two orderings, each with its content-free prompt"
    );
    let again = decide(
        &request("Is it? Correct: true", &schema, 16),
        &schema,
        Decoding::Calibrated.into(),
        &m,
        &cache,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        m.scorings.get(),
        6,
        "content-free scores come from the cache"
    );
    assert_eq!(first, again, "cached or not, the same answer and trace");
    let Decided::Value {
        trace: calibrated, ..
    } = first
    else {
        unreachable!()
    };
    let Decided::Value { trace: ordered, .. } = decide(
        &request("Is it? Correct: true", &schema, 16),
        &schema,
        Decoding::Ordered.into(),
        &m,
        &cache,
    )
    .unwrap()
    .unwrap() else {
        unreachable!()
    };
    assert_ne!(calibrated, ordered);
}

#[test]
fn decodings_have_names() {
    for d in Decoding::ALL {
        assert_eq!(Decoding::from_name(d.name()), Some(d));
    }
    assert_eq!(Decoding::from_name("beam"), None);
}
