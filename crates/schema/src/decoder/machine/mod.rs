//! The byte-level incremental parser of the textual form (`docs/schema.md`): a [`State`] is a
//! small `Copy` value so the vocabulary walk can branch it cheaply.

use crate::schema::{MAX_DEPTH, Node, Schema};
use crate::text::choice_forms;

mod leaf;

use leaf::{int_complete, int_prefix_ok};

/// A schema flattened into an arena, with the textual forms of its options precomputed.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    nodes: Vec<CNode>,
}

#[derive(Debug, Clone)]
enum CNode {
    /// `raw`: top-level text (no quotes); `max == u32::MAX` for free text.
    Text {
        max: u32,
        raw: bool,
    },
    /// Sorted textual forms (raw at top level, JSON-quoted inside composites). Also BOOL.
    Lit {
        forms: Vec<Vec<u8>>,
        raw: bool,
    },
    Int {
        min: i64,
        max: i64,
        raw: bool,
    },
    Address,
    Tuple {
        items: Vec<u16>,
    },
    Array {
        max_len: u8,
        element: u16,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqPhase {
    /// Expects `[`.
    Start,
    /// After `[`: a value, or `]` for an array.
    Open,
    /// After `, `: a value.
    Next,
    /// A child frame is parsing a value.
    InValue,
    /// After a value: `,` or `]`.
    After,
    /// After `,`: a space.
    Comma,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Seq {
        node: u16,
        count: u8,
        phase: SeqPhase,
    },
    /// `phase`: 0 expects the opening quote, 1 body, 2 after a backslash.
    Text {
        node: u16,
        len: u32,
        need: u8,
        lo: u8,
        hi: u8,
        phase: u8,
    },
    Lit {
        node: u16,
        lo: u8,
        hi: u8,
        pos: u8,
    },
    Int {
        node: u16,
        neg: bool,
        digits: u8,
        mag: u64,
    },
    Addr {
        pos: u8,
    },
}

/// The parser state: the frames of the values being parsed, innermost last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    stack: [Frame; MAX_DEPTH],
    len: u8,
    /// The top-level value is closed; nothing may follow.
    done: bool,
}

impl Machine {
    pub(crate) fn new(schema: &Schema) -> Machine {
        let mut m = Machine { nodes: Vec::new() };
        match schema.root() {
            None => m.nodes.push(CNode::Text {
                max: u32::MAX,
                raw: true,
            }),
            Some(n) => {
                m.add(n, true);
            }
        }
        m
    }

    fn add(&mut self, node: &Node, top: bool) -> u16 {
        let id = self.nodes.len();
        self.nodes.push(CNode::Address);
        let c = match node {
            Node::Text { max_bytes } => CNode::Text {
                max: u32::from(*max_bytes),
                raw: top,
            },
            Node::Choice(options) => {
                let mut forms: Vec<Vec<u8>> = choice_forms(options, top)
                    .into_iter()
                    .map(|(f, _)| f)
                    .collect();
                forms.sort();
                CNode::Lit { forms, raw: top }
            }
            Node::Bool => CNode::Lit {
                forms: vec![b"false".to_vec(), b"true".to_vec()],
                raw: top,
            },
            Node::Int { min, max } => CNode::Int {
                min: *min,
                max: *max,
                raw: top,
            },
            Node::Address => CNode::Address,
            Node::Tuple(items) => {
                let items = items.iter().map(|n| self.add(n, false)).collect();
                CNode::Tuple { items }
            }
            Node::Array { max_len, element } => {
                let element = self.add(element, false);
                CNode::Array {
                    max_len: *max_len,
                    element,
                }
            }
        };
        self.nodes[id] = c;
        id as u16
    }

    /// The state before any byte.
    pub(crate) fn start(&self) -> State {
        let mut s = State {
            stack: [Frame::Addr { pos: 0 }; MAX_DEPTH],
            len: 0,
            done: false,
        };
        self.push(&mut s, 0);
        s
    }

    fn push(&self, s: &mut State, node: u16) {
        let f = match &self.nodes[node as usize] {
            CNode::Text { .. } => Frame::Text {
                node,
                len: 0,
                need: 0,
                lo: 0,
                hi: 0,
                phase: 1,
            },
            CNode::Lit { forms, .. } => Frame::Lit {
                node,
                lo: 0,
                hi: forms.len() as u8,
                pos: 0,
            },
            CNode::Int { .. } => Frame::Int {
                node,
                neg: false,
                digits: 0,
                mag: 0,
            },
            CNode::Address => Frame::Addr { pos: 0 },
            CNode::Tuple { .. } | CNode::Array { .. } => Frame::Seq {
                node,
                count: 0,
                phase: SeqPhase::Start,
            },
        };
        let f = match (f, &self.nodes[node as usize]) {
            (Frame::Text { node, .. }, CNode::Text { raw: false, .. }) => Frame::Text {
                node,
                len: 0,
                need: 0,
                lo: 0,
                hi: 0,
                phase: 0,
            },
            (f, _) => f,
        };
        s.stack[s.len as usize] = f;
        s.len += 1;
    }

    /// The innermost frame finished its value: hand control back to the parent.
    fn pop(s: &mut State) {
        s.len -= 1;
        if s.len == 0 {
            s.done = true;
        } else if let Frame::Seq { phase, .. } = &mut s.stack[s.len as usize - 1] {
            *phase = SeqPhase::After;
        }
    }

    /// Feeds one byte; false (and `s` unspecified) when the text would stop being a valid prefix.
    pub(crate) fn feed(&self, s: &mut State, b: u8) -> bool {
        loop {
            if s.done || s.len == 0 {
                return false;
            }
            let top = s.len as usize - 1;
            let frame = s.stack[top];
            match frame {
                Frame::Seq { node, count, phase } => {
                    let (arity, is_array, child) = match &self.nodes[node as usize] {
                        CNode::Tuple { items } => (
                            items.len(),
                            false,
                            items.get(count as usize).copied().unwrap_or(0),
                        ),
                        CNode::Array { max_len, element } => (*max_len as usize, true, *element),
                        _ => return false,
                    };
                    let set = |s: &mut State, count: u8, phase: SeqPhase| {
                        s.stack[top] = Frame::Seq { node, count, phase };
                    };
                    match phase {
                        SeqPhase::Start => {
                            if b != b'[' {
                                return false;
                            }
                            set(s, 0, SeqPhase::Open);
                            return true;
                        }
                        SeqPhase::Open | SeqPhase::Next => {
                            if phase == SeqPhase::Open && b == b']' && is_array {
                                Machine::pop(s);
                                return true;
                            }
                            set(s, count + 1, SeqPhase::InValue);
                            self.push(s, child);
                        }
                        SeqPhase::After => match b {
                            b',' if (count as usize) < arity => {
                                set(s, count, SeqPhase::Comma);
                                return true;
                            }
                            b']' if is_array || count as usize == arity => {
                                Machine::pop(s);
                                return true;
                            }
                            _ => return false,
                        },
                        SeqPhase::Comma => {
                            if b != b' ' {
                                return false;
                            }
                            set(s, count, SeqPhase::Next);
                            return true;
                        }
                        SeqPhase::InValue => return false,
                    }
                }
                Frame::Text { .. } => return self.feed_text(s, top, b),
                Frame::Lit { node, lo, hi, pos } => {
                    let CNode::Lit { forms, raw } = &self.nodes[node as usize] else {
                        return false;
                    };
                    let p = pos as usize;
                    let range = &forms[lo as usize..hi as usize];
                    let first = range.iter().position(|f| f.get(p) == Some(&b));
                    let Some(first) = first else { return false };
                    let n = range[first..]
                        .iter()
                        .take_while(|f| f.get(p) == Some(&b))
                        .count();
                    let (lo, hi) = (lo + first as u8, lo + (first + n) as u8);
                    s.stack[top] = Frame::Lit {
                        node,
                        lo,
                        hi,
                        pos: pos + 1,
                    };
                    if !raw && forms[lo as usize].len() == p + 1 {
                        Machine::pop(s);
                    }
                    return true;
                }
                Frame::Int {
                    node,
                    neg,
                    digits,
                    mag,
                } => {
                    let CNode::Int { min, max, raw } = self.nodes[node as usize] else {
                        return false;
                    };
                    if b.is_ascii_digit() {
                        if digits > 0 && mag == 0 || digits >= 19 {
                            return false;
                        }
                        let mag = mag * 10 + u64::from(b - b'0');
                        if !int_prefix_ok(min, max, neg, mag, true) {
                            return false;
                        }
                        s.stack[top] = Frame::Int {
                            node,
                            neg,
                            digits: digits + 1,
                            mag,
                        };
                        return true;
                    }
                    if b == b'-' && digits == 0 && !neg {
                        if min >= 0 {
                            return false;
                        }
                        s.stack[top] = Frame::Int {
                            node,
                            neg: true,
                            digits,
                            mag,
                        };
                        return true;
                    }
                    if raw || !int_complete(min, max, neg, digits, mag) {
                        return false;
                    }
                    Machine::pop(s);
                }
                Frame::Addr { pos } => {
                    let ok = match pos {
                        0 => b == b'0',
                        1 => b == b'x',
                        _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
                    };
                    if !ok {
                        return false;
                    }
                    s.stack[top] = Frame::Addr { pos: pos + 1 };
                    if pos + 1 == 42 {
                        Machine::pop(s);
                    }
                    return true;
                }
            }
        }
    }

    /// True when the text so far is a whole value (EOS may follow).
    pub(crate) fn is_complete(&self, s: &State) -> bool {
        if s.done {
            return true;
        }
        if s.len != 1 {
            return false;
        }
        match s.stack[0] {
            Frame::Text { need, phase, .. } => need == 0 && phase == 1 && self.is_raw(0),
            Frame::Lit { node, lo, pos, .. } => match &self.nodes[node as usize] {
                CNode::Lit { forms, .. } => forms[lo as usize].len() == pos as usize,
                _ => false,
            },
            Frame::Int {
                node,
                neg,
                digits,
                mag,
            } => match self.nodes[node as usize] {
                CNode::Int { min, max, .. } => int_complete(min, max, neg, digits, mag),
                _ => false,
            },
            _ => false,
        }
    }

    /// True in top-level text between characters with at least `room` bytes of budget left:
    /// then the allowed tokens do not depend on the text so far (the decoder caches them).
    pub(crate) fn is_steady_text(&self, s: &State, room: usize) -> bool {
        match s.stack[0] {
            Frame::Text {
                node,
                len,
                need: 0,
                phase: 1,
                ..
            } if s.len == 1 && !s.done => {
                matches!(self.nodes[node as usize], CNode::Text { max, raw: true } if (max - len) as usize >= room)
            }
            _ => false,
        }
    }

    fn is_raw(&self, node: usize) -> bool {
        matches!(self.nodes[node], CNode::Text { raw: true, .. })
    }

    /// True when no byte can follow (the value is closed or at its bound).
    pub(crate) fn is_closed(&self, s: &State) -> bool {
        s.done || (0..=255u8).all(|b| !self.feed(&mut s.clone(), b))
    }
}
