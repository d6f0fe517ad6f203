//! Eval files: one labelled request per JSONL line (`evals/README.md`), turned into the
//! exact `InferenceRequest` a node would build from the dapp's chain prompt.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;

use aikernel_drivers::{ContextEntry, ContextKind, InferenceRequest};
use aikernel_schema::{Node, Schema, Value, parse_spec, parse_text};

/// One labelled case.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    /// `file:line id`, for messages.
    pub(crate) origin: String,
    pub(crate) id: String,
    pub(crate) group: String,
    pub(crate) schema: Schema,
    pub(crate) request: InferenceRequest,
    pub(crate) expect: Expect,
}

/// What counts as right.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// CHOICE: the option text.
    Choice(String),
    Bool(bool),
    /// INT in `[min, max]` (one number: `min == max`).
    Int {
        min: i64,
        max: i64,
    },
    /// TEXT: contains one of these (case-insensitive).
    ContainsAny(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    group: String,
    input: String,
    #[serde(default)]
    extra_context: String,
    schema: String,
    max_tokens: u32,
    expect: serde_json::Value,
    #[serde(default)]
    context: Vec<LineEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineEntry {
    kind: String,
    text: String,
    #[serde(default)]
    schema: Option<String>,
}

/// Reads every case of a JSONL file; an error names the file, the line and the problem.
pub(crate) fn read(path: &Path) -> anyhow::Result<Vec<Case>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let origin = format!("{}:{}", path.display(), i + 1);
        let case = parse(line, &origin).with_context(|| origin.clone())?;
        cases.push(case);
    }
    if cases.is_empty() {
        bail!("{} holds no cases", path.display());
    }
    Ok(cases)
}

fn parse(line: &str, origin: &str) -> anyhow::Result<Case> {
    let l: Line = serde_json::from_str(line).context("not an eval case")?;
    let schema = parse_spec(&l.schema).with_context(|| format!("schema {:?}", l.schema))?;
    let expect = expectation(&schema, &l.expect)?;
    let context = l
        .context
        .iter()
        .enumerate()
        .map(|(i, e)| entry(e).with_context(|| format!("context entry {i}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let request = InferenceRequest {
        prompt_id: alloy::primitives::keccak256(l.id.as_bytes()).0,
        input: l.input.into_bytes(),
        extra_context: l.extra_context.into_bytes(),
        schema: schema.encode(),
        max_tokens: l.max_tokens,
        temperature_milli: 0,
        seed: 0,
        context,
    };
    Ok(Case {
        origin: format!("{origin} {}", l.id),
        id: l.id,
        group: l.group,
        schema,
        request,
        expect,
    })
}

fn entry(e: &LineEntry) -> anyhow::Result<ContextEntry> {
    let (kind, data, schema) = match e.kind.as_str() {
        "prompt" => (ContextKind::Prompt, e.text.clone().into_bytes(), Vec::new()),
        "feed" => (ContextKind::Feed, e.text.clone().into_bytes(), Vec::new()),
        "result" => {
            let spec = e
                .schema
                .as_deref()
                .context("a result entry needs the schema of its prompt")?;
            let schema = parse_spec(spec).with_context(|| format!("schema {spec:?}"))?;
            let value = parse_text(&schema, e.text.as_bytes())
                .with_context(|| format!("result {:?} is not a value of {spec:?}", e.text))?;
            (ContextKind::Result, value.abi_encode(), schema.encode())
        }
        other => bail!("context kind {other:?}: expected prompt, result or feed"),
    };
    Ok(ContextEntry {
        kind,
        prompt_id: [0; 32],
        data,
        schema,
    })
}

fn expectation(schema: &Schema, expect: &serde_json::Value) -> anyhow::Result<Expect> {
    use serde_json::Value as J;
    match (schema.root(), expect) {
        (Some(Node::Choice(options)), J::String(s)) => {
            if !options.contains(s) {
                bail!("expected {s:?} is not one of the options {options:?}");
            }
            Ok(Expect::Choice(s.clone()))
        }
        (Some(Node::Bool), J::Bool(b)) => Ok(Expect::Bool(*b)),
        (Some(Node::Int { min, max }), J::Number(n)) => {
            let v = n.as_i64().context("expected an integer")?;
            in_range(v, v, *min, *max)
        }
        (Some(Node::Int { min, max }), J::Object(o)) => {
            let bound = |k: &str| {
                o.get(k)
                    .and_then(J::as_i64)
                    .with_context(|| format!("expected range needs an integer {k:?}"))
            };
            in_range(bound("min")?, bound("max")?, *min, *max)
        }
        (None | Some(Node::Text { .. }), J::Object(o)) => {
            let words = o
                .get("contains_any")
                .and_then(J::as_array)
                .context("text cases expect {\"contains_any\": [...]}")?;
            let words = words
                .iter()
                .map(|w| w.as_str().map(str::to_lowercase))
                .collect::<Option<Vec<_>>>()
                .context("contains_any holds strings")?;
            if words.is_empty() {
                bail!("contains_any is empty");
            }
            Ok(Expect::ContainsAny(words))
        }
        (_, other) => bail!("expected answer {other} does not fit the schema"),
    }
}

fn in_range(lo: i64, hi: i64, min: i64, max: i64) -> anyhow::Result<Expect> {
    if lo > hi || lo < min || hi > max {
        bail!("expected range {lo}..={hi} is not inside the schema's {min}..={max}");
    }
    Ok(Expect::Int { min: lo, max: hi })
}

impl Expect {
    /// Whether `value` is right.
    pub(crate) fn accepts(&self, schema: &Schema, value: &Value) -> bool {
        match (self, value) {
            (Expect::Choice(want), Value::Choice(i)) => option(schema, *i) == Some(want.as_str()),
            (Expect::Bool(want), Value::Bool(got)) => want == got,
            (Expect::Int { min, max }, Value::Int(v)) => min <= v && v <= max,
            (Expect::ContainsAny(words), Value::Text(t)) => {
                let t = t.to_lowercase();
                words.iter().any(|w| t.contains(w.as_str()))
            }
            _ => false,
        }
    }

    /// The expected label, for confusion tables (choices and bools).
    pub(crate) fn label(&self) -> Option<String> {
        match self {
            Expect::Choice(s) => Some(s.clone()),
            Expect::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// The text of option `i` of a choice schema.
pub(crate) fn option(schema: &Schema, i: u8) -> Option<&str> {
    match schema.root() {
        Some(Node::Choice(options)) => options.get(usize::from(i)).map(String::as_str),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(line: &str) -> anyhow::Result<Case> {
        parse(line, "t.jsonl:1")
    }

    #[test]
    fn a_case_becomes_the_request_a_node_would_build() {
        let c = case(
            r#"{"id":"x","group":"g","input":"Who?","schema":"choice:A|B","max_tokens":8,"expect":"B",
               "context":[{"kind":"feed","text":"f"},{"kind":"result","text":"A","schema":"choice:A|B"}]}"#,
        )
        .unwrap();
        assert_eq!(c.expect, Expect::Choice("B".into()));
        assert_eq!(c.request.max_tokens, 8);
        assert_eq!(c.request.context.len(), 2);
        assert_eq!(c.request.context[1].data, Value::Choice(0).abi_encode());
        assert!(c.expect.accepts(&c.schema, &Value::Choice(1)));
        assert!(!c.expect.accepts(&c.schema, &Value::Choice(0)));
    }

    #[test]
    fn ranges_numbers_and_words() {
        let r = case(r#"{"id":"x","group":"g","input":"?","schema":"int:300..850","max_tokens":8,"expect":{"min":700,"max":850}}"#).unwrap();
        assert!(r.expect.accepts(&r.schema, &Value::Int(700)));
        assert!(!r.expect.accepts(&r.schema, &Value::Int(699)));
        let t = case(r#"{"id":"x","group":"g","input":"?","schema":"text:64","max_tokens":8,"expect":{"contains_any":["Paris"]}}"#).unwrap();
        assert!(
            t.expect
                .accepts(&t.schema, &Value::Text("It is PARIS.".into()))
        );
    }

    #[test]
    fn bad_cases_say_what_is_wrong() {
        let err = |line: &str| format!("{:#}", case(line).unwrap_err());
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"choice:A|B","max_tokens":8,"expect":"C"}"#).contains("not one of the options"));
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"int:0..9","max_tokens":8,"expect":12}"#).contains("not inside"));
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"bool","max_tokens":8,"expect":"yes"}"#).contains("does not fit"));
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"choice:A","max_tokens":8,"expect":"A"}"#).contains("schema"));
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"bool","max_tokens":8,"expect":true,"typo":1}"#).contains("not an eval case"));
        assert!(err(r#"{"id":"x","group":"g","input":"?","schema":"bool","max_tokens":8,"expect":true,"context":[{"kind":"memo","text":"t"}]}"#).contains("memo"));
    }

    #[test]
    fn the_shipped_eval_sets_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../evals");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                let cases = read(&path).unwrap();
                assert!(cases.len() >= 10, "{}", path.display());
                files += 1;
            }
        }
        assert_eq!(
            files, 8,
            "one eval set per example dapp, and ai-dao-examples for worked examples"
        );
    }
}
