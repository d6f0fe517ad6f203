//! The completion layout: how a base model without a chat template is prompted
//! (`docs/drivers.md`, "Base models").
//!
//! A base model continues text; it has no turns. The same messages every rule builds
//! (system, example turns, context turns, the input) are written as a plain document in
//! which each answer starts on its own line after `Answer:` and ends with a blank line:
//!
//! ```text
//! {system}
//!
//! Input: {user turn}
//! Answer:
//! {assistant turn}
//!
//! Input: {input}
//! Answer:
//! ```
//!
//! An answer at the start of a line tokenizes as it does in running text (no leading space
//! to strip), and the blank line that closes every answer (`"\n\n"`, one token in the
//! vocabularies of the models we serve) is the end-of-answer token: generation stops there
//! and scored answers end with it, as chat answers end with the end-of-turn token.

use aikernel_engine::template::ChatMessage;

/// Starts a user turn's line.
pub const INPUT_LABEL: &str = "Input: ";
/// The line that opens every answer (the generation prompt ends with it).
pub const ANSWER_LINE: &str = "Answer:\n";
/// Closes every answer; its token is the end-of-answer token.
pub const END_OF_ANSWER: &str = "\n\n";

/// `messages` in the completion layout, ending where the answer begins.
pub fn render(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        match m.role.as_str() {
            "system" => {
                out.push_str(&m.content);
                out.push_str(END_OF_ANSWER);
            }
            "assistant" => {
                out.push_str(ANSWER_LINE);
                out.push_str(&m.content);
                out.push_str(END_OF_ANSWER);
            }
            _ => {
                out.push_str(INPUT_LABEL);
                out.push_str(&m.content);
                out.push('\n');
            }
        }
    }
    out.push_str(ANSWER_LINE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_become_a_document_ending_at_the_answer() {
        let text = render(&[
            ChatMessage::new("system", "Be brief."),
            ChatMessage::new("user", "Capital of Italy?"),
            ChatMessage::new("assistant", "Rome"),
            ChatMessage::new("user", "Context: a feed"),
            ChatMessage::new("user", "Capital of France?"),
        ]);
        assert_eq!(
            text,
            "Be brief.\n\nInput: Capital of Italy?\nAnswer:\nRome\n\nInput: Context: a feed\nInput: Capital of France?\nAnswer:\n"
        );
    }
}
