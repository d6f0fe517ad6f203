//! Pre-tokenizers: split text into words before BPE, reproducing llama.cpp's hand-written
//! matchers for the GPT-2 and Llama 3 regexes, and its digit-isolating first pass.
//!
//! GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
//! Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//!           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
//! Qwen 2: the Llama 3 regex with `\p{N}` for `\p{N}{1,3}`: every digit is its own word
//! (llama.cpp's `unicode_regex_split_custom_qwen2`; it does not set `ignore_merges`).
//! SmolLM (also StarCoder, Refact, Command-R, CodeShell, EXAONE, Minerva): first every
//! `\p{N}` code point becomes its own piece, then GPT-2 runs on each piece.
//!
//! Each pass works inside the pieces of the previous one: a lookahead never sees past the
//! end of its piece.

use std::ops::Range;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Which splitting rules a vocabulary uses (`tokenizer.ggml.pre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PreTokenizer {
    /// The GPT-2 regex alone.
    Gpt2,
    /// Every number code point alone, then GPT-2.
    DigitsThenGpt2,
    /// The Llama 3 regex.
    Llama3,
    /// The Llama 3 regex with single-digit numbers.
    Qwen2,
}

impl PreTokenizer {
    /// Maps a `tokenizer.ggml.pre` name as llama.cpp does; `None` when unsupported.
    pub(crate) fn from_name(name: &str) -> Option<(PreTokenizer, bool)> {
        // The bool is llama.cpp's `ignore_merges`: a word that is already a token is
        // emitted whole.
        Some(match name {
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => (PreTokenizer::DigitsThenGpt2, false),
            "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "mellum" | "modern-bert" => (PreTokenizer::Gpt2, false),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" => (PreTokenizer::Llama3, true),
            // llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2 names (not `megrez`, whose vocabulary
            // differs elsewhere too).
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" => (PreTokenizer::Qwen2, false),
            _ => return None,
        })
    }

    /// Splits `text` into byte ranges of words, in order, covering all of it.
    pub(crate) fn split(self, text: &str) -> Vec<Range<usize>> {
        let cpts: Vec<(usize, char)> = text.char_indices().collect();
        let all = 0..cpts.len();
        let whole = std::slice::from_ref(&all);
        let pieces = match self {
            PreTokenizer::Gpt2 => split_gpt2(&cpts, whole),
            PreTokenizer::DigitsThenGpt2 => split_gpt2(&cpts, &split_numbers(&cpts)),
            PreTokenizer::Llama3 => split_llama3(&cpts, whole, 3),
            PreTokenizer::Qwen2 => split_llama3(&cpts, whole, 1),
        };
        let byte_at = |i: usize| cpts.get(i).map_or(text.len(), |c| c.0);
        pieces
            .into_iter()
            .map(|r| byte_at(r.start)..byte_at(r.end))
            .collect()
    }
}

/// The character classes the pre-tokenizers look at.
#[derive(Clone, Copy, Default)]
#[allow(clippy::struct_excessive_bools)]
struct Class {
    letter: bool,
    number: bool,
    space: bool,
    /// False only past the end of the current piece.
    present: bool,
}

/// Unicode `White_Space` code points (what `\s` means in llama.cpp's matchers).
fn is_white_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

fn classify(c: char) -> Class {
    use GeneralCategory as G;
    let (letter, number) = if c.is_ascii() {
        (c.is_ascii_alphabetic(), c.is_ascii_digit())
    } else {
        let g = get_general_category(c);
        (
            matches!(
                g,
                G::UppercaseLetter
                    | G::LowercaseLetter
                    | G::TitlecaseLetter
                    | G::ModifierLetter
                    | G::OtherLetter
            ),
            matches!(g, G::DecimalNumber | G::LetterNumber | G::OtherNumber),
        )
    };
    Class {
        letter,
        number,
        space: is_white_space(c),
        present: true,
    }
}

/// Every `\p{N}` code point becomes a piece; the runs between them stay pieces too.
fn split_numbers(cpts: &[(usize, char)]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &(_, c)) in cpts.iter().enumerate() {
        if classify(c).number {
            if start < i {
                out.push(start..i);
            }
            out.push(i..i + 1);
            start = i + 1;
        }
    }
    if start < cpts.len() {
        out.push(start..cpts.len());
    }
    out
}

/// A cursor over one piece: code points outside it read as absent.
struct Piece<'a> {
    cpts: &'a [(usize, char)],
    range: Range<usize>,
    out: &'a mut Vec<Range<usize>>,
    prev_end: usize,
}

impl Piece<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        self.range.contains(&pos).then(|| self.cpts[pos].1)
    }

    fn class(&self, pos: usize) -> Class {
        self.cpt(pos).map(classify).unwrap_or_default()
    }

    /// Emits the word ending at `end`; returns its length.
    fn emit(&mut self, end: usize) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            self.out.push(self.prev_end..end);
        }
        self.prev_end = end;
        len
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `pos` (ASCII case folded when `fold`): its length.
    fn contraction(&self, pos: usize, fold: bool) -> Option<usize> {
        if self.cpt(pos) != Some('\'') {
            return None;
        }
        let lower = |c: Option<char>| c.map(|c| if fold { c.to_ascii_lowercase() } else { c });
        let next = lower(self.cpt(pos + 1))?;
        if matches!(next, 's' | 't' | 'm' | 'd') {
            return Some(2);
        }
        let next2 = lower(self.cpt(pos + 2))?;
        matches!((next, next2), ('r' | 'v', 'e') | ('l', 'l')).then_some(3)
    }

    fn count_spaces(&self, pos: usize) -> usize {
        (pos..self.range.end)
            .take_while(|&p| self.class(p).space)
            .count()
    }

    fn is_other(c: Class) -> bool {
        !(c.space || c.letter || c.number) && c.present
    }
}

fn split_gpt2(cpts: &[(usize, char)], pieces: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(pieces.len());
    for range in pieces {
        let mut p = Piece {
            cpts,
            range: range.clone(),
            out: &mut out,
            prev_end: range.start,
        };
        let mut pos = range.start;
        while pos < range.end {
            if let Some(n) = p.contraction(pos, false) {
                pos += p.emit(pos + n);
                continue;
            }
            let space = p.cpt(pos) == Some(' ');
            let c2 = if space {
                p.class(pos + 1)
            } else {
                p.class(pos)
            };
            let run = |p: &Piece<'_>, mut q: usize, keep: fn(Class) -> bool| {
                while keep(p.class(q)) {
                    q += 1;
                }
                q
            };
            if c2.letter {
                pos = run(&p, pos + usize::from(space) + 1, |c| c.letter);
                p.emit(pos);
                continue;
            }
            if c2.number {
                pos = run(&p, pos + usize::from(space) + 1, |c| c.number);
                p.emit(pos);
                continue;
            }
            if Piece::is_other(c2) {
                pos = run(&p, pos + usize::from(space) + 1, Piece::is_other);
                p.emit(pos);
                continue;
            }
            let n = p.count_spaces(pos);
            if n > 1 && p.cpt(pos + n).is_some() {
                pos += n - 1;
            } else if n > 0 {
                pos += n;
            } else {
                pos += 1;
            }
            p.emit(pos);
        }
    }
    out
}

/// The Llama 3 matcher; numbers are cut every `max_digits` code points (3; Qwen 2: 1).
fn split_llama3(
    cpts: &[(usize, char)],
    pieces: &[Range<usize>],
    max_digits: usize,
) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(pieces.len());
    for range in pieces {
        let mut p = Piece {
            cpts,
            range: range.clone(),
            out: &mut out,
            prev_end: range.start,
        };
        let mut pos = range.start;
        while pos < range.end {
            if let Some(n) = p.contraction(pos, true) {
                pos += p.emit(pos + n);
                continue;
            }
            let cpt = p.cpt(pos);
            let class = p.class(pos);
            let newline = matches!(cpt, Some('\r' | '\n'));
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(newline || class.number) && (class.letter || p.class(pos + 1).letter) {
                pos += 1;
                while p.class(pos).letter {
                    pos += 1;
                }
                p.emit(pos);
                continue;
            }
            // \p{N}{1,3} (Qwen 2: \p{N})
            if class.number {
                let mut start = pos;
                while p.class(pos).number {
                    pos += 1;
                    if pos - start >= max_digits {
                        p.emit(pos);
                        start = pos;
                    }
                }
                p.emit(pos);
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let space = cpt == Some(' ');
            let c2 = if space { p.class(pos + 1) } else { class };
            if !(c2.space || c2.letter || c2.number) && class.present {
                pos += usize::from(space);
                while Piece::is_other(p.class(pos)) {
                    pos += 1;
                }
                while matches!(p.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                p.emit(pos);
                continue;
            }
            let n = p.count_spaces(pos);
            let last_newline = (pos..pos + n)
                .rev()
                .find(|&q| matches!(p.cpt(q), Some('\r' | '\n')));
            if let Some(q) = last_newline {
                pos = q + 1; // \s*[\r\n]+
            } else if n > 1 && p.cpt(pos + n).is_some() {
                pos += n - 1; // \s+(?!\S)
            } else if n > 0 {
                pos += n; // \s+
            } else {
                pos += 1;
            }
            p.emit(pos);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::PreTokenizer;

    fn words(pre: PreTokenizer, text: &str) -> Vec<&str> {
        pre.split(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn gpt2_words() {
        let w = words(PreTokenizer::Gpt2, "Hello world's  end 123!!\n\n x");
        assert_eq!(
            w,
            [
                "Hello", " world", "'s", " ", " end", " 123", "!!", "\n\n", " x"
            ]
        );
    }

    #[test]
    fn smollm_isolates_digits() {
        let w = words(PreTokenizer::DigitsThenGpt2, "pi 3.14 = x²");
        assert_eq!(w, ["pi", " ", "3", ".", "1", "4", " =", " x", "²"]);
    }

    #[test]
    fn qwen2_words_split_every_digit() {
        let pre = PreTokenizer::from_name("qwen2").unwrap();
        assert_eq!(pre, (PreTokenizer::Qwen2, false));
        let w = words(PreTokenizer::Qwen2, "I'M 12345 .hi\r\n  ok  x1y ٣4²");
        assert_eq!(
            w,
            [
                "I", "'M", " ", "1", "2", "3", "4", "5", " .", "hi", "\r\n", " ", " ok", " ", " x",
                "1", "y", " ", "٣", "4", "²"
            ]
        );
        // Everything but digits splits as Llama 3 does.
        let text = "Hello, world's\tend!!\n\n  (a)  ";
        assert_eq!(
            words(PreTokenizer::Qwen2, text),
            words(PreTokenizer::Llama3, text)
        );
    }

    #[test]
    fn llama3_words() {
        let w = words(PreTokenizer::Llama3, "I'M 12345 .hi\r\n  ok  ");
        assert_eq!(
            w,
            [
                "I", "'M", " ", "123", "45", " .", "hi", "\r\n", " ", " ok", "  "
            ]
        );
    }
}
