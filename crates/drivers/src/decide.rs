//! Prompt rule 2: typed decisions by comparing whole answers (`docs/drivers.md`).
//!
//! For a CHOICE, BOOL or INT root, rule 1 decodes greedily under the schema's constraint:
//! it commits to the first token of the first plausible answer and never compares the
//! answers themselves, so it follows the options' order and the model's bias toward a
//! label. Rule 2 scores every candidate answer's complete token sequence (its text, then
//! the end-of-turn token) with the engine's fixed arithmetic and picks the best:
//! - **orderings**: CHOICE options are listed in the instruction in a canonical order (by
//!   their bytes) and in its reverse, BOOL as "true or false" and "false or true"; each
//!   candidate's score is the sum over both prompts, so the order in which a dapp lists its
//!   options cannot change the answer;
//! - **calibration** (`llm-llama@2-calibrated` only): from each candidate's score the score
//!   it gets after a content-free input (`N/A`, no context turns, same system message) is
//!   subtracted, to remove a preference for a label that does not depend on the question
//!   (on the default model it hurts: `docs/drivers.md` has the measurements);
//! - **INT**: a range of at most [`EXHAUSTIVE_MAX`] values scores every value; a wider one,
//!   up to [`BUCKET_SPAN_MAX`], scores [`BUCKETS`] evenly spaced values and answers the
//!   expected value under the softmax of their scores; wider ranges (prices, amounts that
//!   are read from the input) keep rule 1's constrained decoding.
//!
//! Everything is a pure function of the request and the model, so every node and the
//! verifier compute the same bits; the content-free scores are cached per prompt only
//! because they repeat.

use std::collections::HashMap;
use std::sync::Mutex;

use aikernel_engine::template::ChatMessage;
use aikernel_schema::{Node, Schema, Value};
use sha2::{Digest, Sha256};

use crate::error::DriverError;
use crate::prompt::{Built, Layout, Parts, PromptCodec, context_message, fit, schema_instruction};
use crate::types::InferenceRequest;

/// INT ranges of at most this many values are scored value by value.
pub const EXHAUSTIVE_MAX: i64 = 21;
/// Evenly spaced values scored for a wider INT range.
pub const BUCKETS: i64 = 11;
/// INT ranges wider than this (max - min) keep constrained greedy decoding.
pub const BUCKET_SPAN_MAX: i64 = 100_000;
/// The content-free input used for calibration.
pub const CONTENT_FREE_INPUT: &str = "N/A";

/// How a typed answer is decided. On chain a model's driver name selects one:
/// `llm-llama` is [`Decoding::Greedy`] (prompt rule 1), `llm-llama@2` is
/// [`Decoding::Ordered`] (prompt rule 2), `llm-llama@2-calibrated` is
/// [`Decoding::Calibrated`], and the same suffixes for every family (`llm-gemma3@2`;
/// [`crate::DriverSpec`]). `Scored` exists so that `aikernel eval` can measure what
/// each part of rule 2 adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decoding {
    /// Constrained greedy decoding (rule 1).
    Greedy,
    /// Whole-answer scoring in the dapp's option order, uncalibrated.
    Scored,
    /// Whole-answer scoring over the canonical order and its reverse, uncalibrated (rule 2).
    Ordered,
    /// Both orderings, calibrated by a content-free input (rule 2, calibrated).
    Calibrated,
}

/// A prompt rule: how typed answers are decided and where the dapp's extra context goes.
/// A model's driver name in the registry selects one (`rule_for_driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PromptRule {
    /// How CHOICE, BOOL and INT answers are decided.
    pub decoding: Decoding,
    /// Where the extra context goes.
    pub layout: Layout,
}

impl From<Decoding> for PromptRule {
    /// `decoding` with the extra context in the system message (rules 1 and 2).
    fn from(decoding: Decoding) -> PromptRule {
        PromptRule {
            decoding,
            layout: Layout::SystemOnly,
        }
    }
}

impl Decoding {
    /// Every variant, mildest first.
    pub const ALL: [Decoding; 4] = [
        Decoding::Greedy,
        Decoding::Scored,
        Decoding::Ordered,
        Decoding::Calibrated,
    ];

    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Decoding::Greedy => "greedy",
            Decoding::Scored => "scored",
            Decoding::Ordered => "ordered",
            Decoding::Calibrated => "calibrated",
        }
    }

    /// The variant called `name`.
    pub fn from_name(name: &str) -> Option<Decoding> {
        Decoding::ALL.into_iter().find(|d| d.name() == name)
    }

    fn both_orders(self) -> bool {
        matches!(self, Decoding::Ordered | Decoding::Calibrated)
    }

    fn calibrates(self) -> bool {
        self == Decoding::Calibrated
    }
}

/// What the candidates are and how the winner becomes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Candidates {
    /// CHOICE: the option texts, by index.
    Choice(Vec<String>),
    /// BOOL: "true" (index 0), "false" (index 1).
    Bool,
    /// INT, every value of the range.
    IntAll(Vec<i64>),
    /// INT, evenly spaced values; the answer is their expected value.
    IntBuckets {
        values: Vec<i64>,
        min: i64,
        max: i64,
    },
}

impl Candidates {
    /// The candidates of a schema rule 2 decides, `None` for the others.
    fn of(schema: &Schema) -> Option<Candidates> {
        match schema.root()? {
            Node::Choice(options) => Some(Candidates::Choice(options.clone())),
            Node::Bool => Some(Candidates::Bool),
            Node::Int { min, max } => {
                let span = i128::from(*max) - i128::from(*min);
                if span < i128::from(EXHAUSTIVE_MAX) {
                    Some(Candidates::IntAll((*min..=*max).collect()))
                } else if span <= i128::from(BUCKET_SPAN_MAX) {
                    let values = (0..BUCKETS)
                        .map(|j| {
                            let step = span * i128::from(j) / i128::from(BUCKETS - 1);
                            (i128::from(*min) + step) as i64
                        })
                        .collect();
                    Some(Candidates::IntBuckets {
                        values,
                        min: *min,
                        max: *max,
                    })
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    fn texts(&self) -> Vec<String> {
        match self {
            Candidates::Choice(options) => options.clone(),
            Candidates::Bool => vec!["true".to_owned(), "false".to_owned()],
            Candidates::IntAll(values) | Candidates::IntBuckets { values, .. } => {
                values.iter().map(i64::to_string).collect()
            }
        }
    }

    /// The canonical order of the candidates (CHOICE: by bytes, then index; others: as
    /// listed), which also breaks exact ties: the first in it wins.
    fn canonical(&self) -> Vec<usize> {
        let texts = self.texts();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        if matches!(self, Candidates::Choice(_)) {
            order.sort_by(|&a, &b| texts[a].as_bytes().cmp(texts[b].as_bytes()).then(a.cmp(&b)));
        }
        order
    }

    /// The orderings whose prompts are scored, as candidate indices in listed order.
    fn orderings(&self, decoding: Decoding) -> Vec<Vec<usize>> {
        let listed: Vec<usize> = (0..self.texts().len()).collect();
        let orderable = matches!(self, Candidates::Choice(_) | Candidates::Bool);
        if !orderable || !decoding.both_orders() {
            return vec![listed];
        }
        let canonical = self.canonical();
        let mut reversed = canonical.clone();
        reversed.reverse();
        vec![canonical, reversed]
    }

    /// The schema instruction with the candidates listed in `order`.
    fn instruction(&self, schema: &Schema, order: &[usize]) -> String {
        let texts = self.texts();
        let listed: Vec<&str> = order.iter().map(|&i| texts[i].as_str()).collect();
        match self {
            Candidates::Choice(_) => format!("Answer with exactly one of: {}.", listed.join(", ")),
            Candidates::Bool => format!("Answer with {}.", listed.join(" or ")),
            _ => schema_instruction(schema),
        }
    }

    /// The value for the winning scores.
    fn value(&self, scores: &[f32]) -> (Value, usize) {
        let best = self.best(scores);
        let value = match self {
            Candidates::Choice(_) => Value::Choice(best as u8),
            Candidates::Bool => Value::Bool(best == 0),
            Candidates::IntAll(values) => Value::Int(values[best]),
            Candidates::IntBuckets { values, min, max } => {
                Value::Int(expected_value(values, scores, *min, *max))
            }
        };
        (value, best)
    }

    /// The index of the highest score; exact ties go to the first in canonical order.
    fn best(&self, scores: &[f32]) -> usize {
        let mut best = None::<usize>;
        for i in self.canonical() {
            if best.is_none_or(|b| scores[i] > scores[b]) {
                best = Some(i);
            }
        }
        best.unwrap_or(0)
    }
}

/// `round_half_even(sum(w_j * v_j) / sum(w_j))` clamped to `[min, max]`, with
/// `w_j = expf(s_j - max(s))` in f32 and the sums in f64 in bucket order.
fn expected_value(values: &[i64], scores: &[f32], min: i64, max: i64) -> i64 {
    let top = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let (mut num, mut den) = (0f64, 0f64);
    for (&v, &s) in values.iter().zip(scores) {
        let w = f64::from(libm::expf(s - top));
        num += w * v as f64;
        den += w;
    }
    let mean = (num / den).round_ties_even();
    (mean as i64).clamp(min, max)
}

/// The scores of one prompt's candidates and the trace of the logits behind them.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    /// Score of each candidate, by candidate index.
    pub(crate) log_probs: Vec<f32>,
    /// The engine's hash of every logit computed.
    pub(crate) trace: [u8; 32],
}

/// What rule 2 needs from the model: its prompt codec, the token sequence of an answer,
/// and scores of candidate continuations.
pub(crate) trait Scorer: PromptCodec {
    /// The tokens of `text` as the model's answer, followed by its end-of-turn token.
    fn answer_tokens(&self, text: &str) -> Vec<u32>;
    /// Scores `continuations` after `prompt`.
    fn score(&self, prompt: &[u32], continuations: &[Vec<u32>]) -> Result<Scored, DriverError>;
}

/// A decided answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decided {
    /// The value, the winner's answer tokens, and the trace of every logit computed.
    Value {
        value: Value,
        tokens: Vec<u32>,
        trace: [u8; 32],
    },
    /// A deterministic error output (the prompt does not fit, the answers do not fit in
    /// `max_tokens`).
    Error(aikernel_schema::ErrorCode),
}

/// A content-free prompt's tokens and the continuations scored after it.
type CalibrationKey = (Vec<u32>, Vec<Vec<u32>>);

/// Content-free scores, keyed by the prompt's tokens and the continuations.
#[derive(Debug, Default)]
pub(crate) struct CalibrationCache {
    entries: Mutex<HashMap<CalibrationKey, Scored>>,
}

/// Most content-free prompts remembered before the cache starts over.
const CACHE_ENTRIES: usize = 256;

impl CalibrationCache {
    fn get_or_score(
        &self,
        scorer: &dyn Scorer,
        prompt: &[u32],
        continuations: &[Vec<u32>],
    ) -> Result<Scored, DriverError> {
        let key = (prompt.to_vec(), continuations.to_vec());
        if let Some(hit) = self.lock().get(&key) {
            return Ok(hit.clone());
        }
        let scored = scorer.score(prompt, continuations)?;
        let mut entries = self.lock();
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(key, scored.clone());
        Ok(scored)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CalibrationKey, Scored>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Scores `answers` (by candidate index) after `prompt`, passing them to the model in
/// `canonical` order; through `cache` when given.
fn score_canonically(
    scorer: &dyn Scorer,
    prompt: &[u32],
    answers: &[Vec<u32>],
    canonical: &[usize],
    cache: Option<&CalibrationCache>,
) -> Result<Scored, DriverError> {
    let ordered: Vec<Vec<u32>> = canonical.iter().map(|&i| answers[i].clone()).collect();
    let scored = match cache {
        Some(cache) => cache.get_or_score(scorer, prompt, &ordered)?,
        None => scorer.score(prompt, &ordered)?,
    };
    let mut log_probs = vec![0f32; answers.len()];
    for (k, &i) in canonical.iter().enumerate() {
        log_probs[i] = scored.log_probs[k];
    }
    Ok(Scored {
        log_probs,
        trace: scored.trace,
    })
}

/// Decides `request` by rule 2 (in the variant `decoding`, with the extra context placed by
/// `layout`), or `None` when its schema is not one rule 2 decides (or `decoding` is greedy).
pub(crate) fn decide(
    request: &InferenceRequest,
    schema: &Schema,
    rule: PromptRule,
    scorer: &dyn Scorer,
    cache: &CalibrationCache,
) -> Result<Option<Decided>, DriverError> {
    let PromptRule { decoding, layout } = rule;
    if decoding == Decoding::Greedy {
        return Ok(None);
    }
    let Some(candidates) = Candidates::of(schema) else {
        return Ok(None);
    };
    let Some(parts) = Parts::of(request, layout) else {
        return Ok(Some(Decided::Error(
            aikernel_schema::ErrorCode::InvalidInput,
        )));
    };
    let answers: Vec<Vec<u32>> = candidates
        .texts()
        .iter()
        .map(|t| scorer.answer_tokens(t))
        .collect();
    if answers
        .iter()
        .any(|a| a.len() > request.max_tokens as usize)
    {
        return Ok(Some(Decided::Error(
            aikernel_schema::ErrorCode::OutputIncomplete,
        )));
    }
    let turns: Vec<ChatMessage> = request.context.iter().map(context_message).collect();
    // Scored in canonical order, so the trace too is the same whatever order the dapp
    // listed its options in.
    let canonical = candidates.canonical();
    let mut totals = vec![0f32; answers.len()];
    let mut trace = Sha256::new();
    for order in candidates.orderings(decoding) {
        let system = parts.system(&candidates.instruction(schema, &order));
        let prompt = match fit(
            scorer,
            schema.clone(),
            &system,
            &parts.examples,
            &turns,
            parts.input,
            request.max_tokens,
        )? {
            Built::Prompt { tokens, .. } => tokens,
            Built::Error(code) => return Ok(Some(Decided::Error(code))),
        };
        let scored = score_canonically(scorer, &prompt, &answers, &canonical, None)?;
        trace.update(scored.trace);
        let baseline = if decoding.calibrates() {
            let free = match fit(
                scorer,
                schema.clone(),
                &system,
                &parts.examples,
                &[],
                CONTENT_FREE_INPUT,
                request.max_tokens,
            )? {
                Built::Prompt { tokens, .. } => tokens,
                Built::Error(code) => return Ok(Some(Decided::Error(code))),
            };
            let free = score_canonically(scorer, &free, &answers, &canonical, Some(cache))?;
            trace.update(free.trace);
            Some(free.log_probs)
        } else {
            None
        };
        for (i, total) in totals.iter_mut().enumerate() {
            let s = match &baseline {
                Some(b) => scored.log_probs[i] - b[i],
                None => scored.log_probs[i],
            };
            *total += s;
        }
    }
    let (value, best) = candidates.value(&totals);
    let tokens = match (&candidates, &value) {
        // The expected value need not be one of the scored values.
        (Candidates::IntBuckets { .. }, Value::Int(v)) => scorer.answer_tokens(&v.to_string()),
        _ => answers[best].clone(),
    };
    Ok(Some(Decided::Value {
        value,
        tokens,
        trace: trace.finalize().into(),
    }))
}

#[cfg(test)]
mod tests;
