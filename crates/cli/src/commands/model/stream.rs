//! `model run`'s live text: each token's text is written to stdout as soon as it is
//! generated, without control tokens (`<|im_end|>` and the like stand for no text), and
//! without splitting a UTF-8 character that spans two tokens.

use std::io::Write;

use aikernel_engine::TokenConstraint;
use aikernel_engine::tokenizer::Tokenizer;

use crate::output::unwind_stdout_failed;

/// The text of `tokens` as people read it: control tokens left out, bytes that are not UTF-8
/// shown as U+FFFD.
pub(super) fn visible_text(tokenizer: &Tokenizer, tokens: &[u32]) -> String {
    let visible: Vec<u32> = tokens
        .iter()
        .copied()
        .filter(|&t| !tokenizer.is_special(t))
        .collect();
    String::from_utf8_lossy(&tokenizer.decode(&visible)).into_owned()
}

/// Turns byte pieces into text pieces: whole characters only, a character cut between two
/// pieces held back until its end arrives, invalid bytes as U+FFFD (as
/// `String::from_utf8_lossy` over all the bytes would).
#[derive(Debug, Default)]
pub(super) struct Utf8Pieces {
    pending: Vec<u8>,
}

impl Utf8Pieces {
    /// Adds `bytes`; returns the text that is complete now.
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    text.push_str(s);
                    self.pending.clear();
                    return text;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    text.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    if let Some(bad) = e.error_len() {
                        text.push(char::REPLACEMENT_CHARACTER);
                        self.pending.drain(..valid + bad);
                    } else {
                        // A character cut short: wait for its next bytes.
                        self.pending.drain(..valid);
                        return text;
                    }
                }
            }
        }
    }

    /// The bytes still held back, as text (a cut character becomes U+FFFD).
    pub(super) fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// A no-op constraint (it masks nothing, so generation is unchanged) that sees each token as
/// it is chosen and, when `live`, writes its text to stdout at once.
pub(super) struct Stream<'t> {
    tokenizer: &'t Tokenizer,
    live: bool,
    pieces: Utf8Pieces,
    /// A failed stdout write; generation stops and the command ends quietly after it.
    failed: Option<std::io::Error>,
}

impl<'t> Stream<'t> {
    pub(super) fn new(tokenizer: &'t Tokenizer, live: bool) -> Self {
        Stream {
            tokenizer,
            live,
            pieces: Utf8Pieces::default(),
            failed: None,
        }
    }

    fn write(&mut self, text: &str) {
        if !self.live || self.failed.is_some() || text.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            self.failed = Some(e);
        }
    }

    /// Writes what is held back and ends the line; ends the command quietly if stdout failed.
    pub(super) fn finish(mut self) -> anyhow::Result<()> {
        let rest = self.pieces.finish();
        self.write(&rest);
        self.write("\n");
        match self.failed.take() {
            Some(e) => unwind_stdout_failed(e),
            None => Ok(()),
        }
    }
}

impl TokenConstraint for Stream<'_> {
    fn mask(&mut self, _logits: &mut [f32]) {}

    fn accept(&mut self, token: u32) {
        if self.tokenizer.is_special(token) {
            return;
        }
        let text = self.pieces.push(self.tokenizer.token_bytes(token));
        self.write(&text);
    }

    /// Only a closed stdout ends generation early: nobody reads the rest.
    fn is_finished(&self) -> bool {
        self.failed.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_characters_whole() {
        let mut p = Utf8Pieces::default();
        let e_acute = "é".as_bytes();
        assert_eq!(p.push(b"caf"), "caf");
        assert_eq!(p.push(&e_acute[..1]), "");
        assert_eq!(p.push(&e_acute[1..]), "é");
        assert_eq!(p.push(b" ok"), " ok");
        assert_eq!(p.finish(), "");
    }

    #[test]
    fn pieces_match_a_lossy_decode_of_everything() {
        let bytes: &[u8] = b"a\xff\xe2\x82b\xf0\x9f\x98\x80c\xe2";
        for cut in 0..=bytes.len() {
            let mut p = Utf8Pieces::default();
            let mut text = p.push(&bytes[..cut]);
            text += &p.push(&bytes[cut..]);
            text += &p.finish();
            assert_eq!(text, String::from_utf8_lossy(bytes), "cut at {cut}");
        }
        // One byte at a time, as a byte-level tokenizer emits them.
        let mut p = Utf8Pieces::default();
        let mut text: String = bytes.iter().map(|b| p.push(&[*b])).collect();
        text += &p.finish();
        assert_eq!(text, String::from_utf8_lossy(bytes));
    }
}
