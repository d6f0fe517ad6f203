//! What `aikernel eval` measured, per group and decision rule, as a table or JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use aikernel_drivers::{Decoding, Driver, LlmDriver};
use aikernel_schema::{Node, Output, Value};

use super::cases::Case;
use crate::output::outln;

/// One case under one rule.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    id: String,
    group: String,
    decoding: Decoding,
    expected: Option<String>,
    answer: String,
    int: Option<i64>,
    range_min: Option<i64>,
    correct: bool,
    error: bool,
    seconds: f64,
    /// Choices: whether reversing the options gave the same option.
    consistent: Option<bool>,
}

impl Outcome {
    pub(crate) fn new(
        case: &Case,
        decoding: Decoding,
        output: &Output,
        seconds: f64,
        consistent: Option<bool>,
    ) -> Outcome {
        let (correct, error, int) = match output {
            Output::Value(v) => (
                case.expect.accepts(&case.schema, v),
                false,
                match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                },
            ),
            Output::Error(_) => (false, true, None),
        };
        let range_min = match case.schema.root() {
            Some(Node::Int { min, .. }) => Some(*min),
            _ => None,
        };
        Outcome {
            id: case.id.clone(),
            group: case.group.clone(),
            decoding,
            expected: case.expect.label(),
            answer: super::label(&case.schema, output),
            int,
            range_min,
            correct,
            error,
            seconds,
            consistent,
        }
    }
}

/// Figures of one group under one rule.
#[derive(Debug, Default, Clone)]
struct Tally {
    cases: usize,
    correct: usize,
    errors: usize,
    choices: usize,
    consistent: usize,
    seconds: f64,
    /// (expected, answered) -> count.
    confusion: BTreeMap<(String, String), usize>,
    ints: Vec<i64>,
    at_min: usize,
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        self.cases += 1;
        self.correct += usize::from(o.correct);
        self.errors += usize::from(o.error);
        self.seconds += o.seconds;
        if let Some(c) = o.consistent {
            self.choices += 1;
            self.consistent += usize::from(c);
        }
        if let Some(e) = &o.expected {
            *self
                .confusion
                .entry((e.clone(), o.answer.clone()))
                .or_default() += 1;
        }
        if let Some(v) = o.int {
            self.ints.push(v);
            self.at_min += usize::from(Some(v) == o.range_min);
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut ints = self.ints.clone();
        ints.sort_unstable();
        json!({
            "cases": self.cases,
            "correct": self.correct,
            "accuracy": ratio(self.correct, self.cases),
            "errors": self.errors,
            "orderConsistency": (self.choices > 0).then(|| ratio(self.consistent, self.choices)),
            "choiceCases": self.choices,
            "secondsPerCase": self.seconds / self.cases.max(1) as f64,
            "confusion": self.confusion.iter().map(|((e, a), n)| json!({"expected": e, "answered": a, "count": n})).collect::<Vec<_>>(),
            "ints": (!ints.is_empty()).then(|| json!({
                "min": ints[0],
                "median": ints[ints.len() / 2],
                "max": ints[ints.len() - 1],
                "atRangeMinimum": self.at_min,
                "values": ints,
            })),
        })
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

fn percent(n: usize, d: usize) -> String {
    format!("{n}/{d} {:.0}%", 100.0 * ratio(n, d))
}

/// The whole run.
#[derive(Debug)]
pub(crate) struct Report {
    model: String,
    file_sha256: String,
    files: Vec<PathBuf>,
    cases: usize,
    decodings: Vec<Decoding>,
    outcomes: Vec<Outcome>,
}

impl Report {
    pub(crate) fn new(
        driver: &LlmDriver,
        files: &[PathBuf],
        cases: &[Case],
        decodings: &[Decoding],
        outcomes: Vec<Outcome>,
    ) -> Report {
        let id = driver.identity();
        Report {
            model: id.model,
            file_sha256: hex::encode(id.file_sha256),
            files: files.to_vec(),
            cases: cases.len(),
            decodings: decodings.to_vec(),
            outcomes,
        }
    }

    /// Tallies by (group, rule) in first-seen group order, plus "all" per rule.
    fn tallies(&self) -> Vec<(String, Decoding, Tally)> {
        let mut groups: Vec<String> = Vec::new();
        for o in &self.outcomes {
            if !groups.contains(&o.group) {
                groups.push(o.group.clone());
            }
        }
        groups.push("all".to_owned());
        let mut out = Vec::new();
        for g in &groups {
            for &d in &self.decodings {
                let mut t = Tally::default();
                for o in self
                    .outcomes
                    .iter()
                    .filter(|o| o.decoding == d && (g == "all" || &o.group == g))
                {
                    t.add(o);
                }
                out.push((g.clone(), d, t));
            }
        }
        out
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        json!({
            "model": self.model,
            "fileSha256": self.file_sha256,
            "files": self.files,
            "cases": self.cases,
            "decodings": self.decodings.iter().map(|d| d.name()).collect::<Vec<_>>(),
            "groups": self.tallies().iter().map(|(g, d, t)| {
                let mut v = t.json();
                v["group"] = json!(g);
                v["decoding"] = json!(d.name());
                v
            }).collect::<Vec<_>>(),
            "outcomes": self.outcomes.iter().map(|o| json!({
                "id": o.id,
                "group": o.group,
                "decoding": o.decoding.name(),
                "expected": o.expected,
                "answer": o.answer,
                "correct": o.correct,
                "orderConsistent": o.consistent,
                "seconds": o.seconds,
            })).collect::<Vec<_>>(),
        })
    }

    pub(crate) fn print(&self) {
        outln!(
            "eval: {} cases from {} files, model {} (sha256 {}…)",
            self.cases,
            self.files.len(),
            self.model,
            &self.file_sha256[..12]
        );
        outln!();
        outln!(
            "{:<16} {:<11} {:>13} {:>17} {:>6} {:>8}",
            "group",
            "rule",
            "accuracy",
            "order-consistent",
            "errors",
            "s/case"
        );
        let tallies = self.tallies();
        for (g, d, t) in &tallies {
            let consistency = if t.choices > 0 {
                percent(t.consistent, t.choices)
            } else {
                "-".to_owned()
            };
            outln!(
                "{:<16} {:<11} {:>13} {:>17} {:>6} {:>8.2}",
                g,
                d.name(),
                percent(t.correct, t.cases),
                consistency,
                t.errors,
                t.seconds / t.cases.max(1) as f64
            );
        }
        for (g, d, t) in tallies.iter().filter(|(g, _, _)| g != "all") {
            if !t.ints.is_empty() {
                let mut ints = t.ints.clone();
                ints.sort_unstable();
                outln!(
                    "{g} ({}): integers min {} median {} max {}, {} of {} at the range minimum",
                    d.name(),
                    ints[0],
                    ints[ints.len() / 2],
                    ints[ints.len() - 1],
                    t.at_min,
                    ints.len()
                );
            }
            let labels: Vec<String> = t
                .confusion
                .iter()
                .filter(|((e, a), _)| e != a)
                .map(|((e, a), n)| format!("{e} -> {a}: {n}"))
                .collect();
            if !labels.is_empty() && labels.len() <= 12 {
                outln!("{g} ({}): wrong answers {}", d.name(), labels.join(", "));
            }
        }
    }
}
