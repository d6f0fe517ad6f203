//! Byte-pair merging of one word, in llama.cpp's order: repeatedly merge the adjacent pair
//! with the lowest merge rank, leftmost first among equal ranks.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// A symbol id: a vocabulary token, or (at or above the vocabulary size) a merge result
/// that is not itself a token.
pub(crate) type Sym = u32;

/// Merge rules: (left, right) -> (rank, merged).
pub(crate) type Merges = HashMap<(Sym, Sym), (u32, Sym)>;

/// A queued merge candidate: (rank, left index, right index, left symbol, right symbol),
/// smallest first.
type Candidate = Reverse<(u32, usize, usize, Sym, Sym)>;

#[derive(Clone, Copy)]
struct Node {
    sym: Sym,
    prev: Option<usize>,
    next: Option<usize>,
    alive: bool,
}

/// Merges the initial symbols of one word and returns the final symbols in order.
pub(crate) fn merge_word(initial: &[Sym], merges: &Merges, out: &mut Vec<Sym>) {
    let n = initial.len();
    let mut nodes: Vec<Node> = initial
        .iter()
        .enumerate()
        .map(|(i, &sym)| Node {
            sym,
            prev: i.checked_sub(1),
            next: (i + 1 < n).then_some(i + 1),
            alive: true,
        })
        .collect();
    // (rank, left index) orders the queue; the symbols detect stale entries.
    let mut queue: BinaryHeap<Candidate> = BinaryHeap::new();
    let push = |queue: &mut BinaryHeap<_>, nodes: &[Node], l: Option<usize>, r: Option<usize>| {
        if let (Some(l), Some(r)) = (l, r) {
            let key = (nodes[l].sym, nodes[r].sym);
            if let Some(&(rank, _)) = merges.get(&key) {
                queue.push(Reverse((rank, l, r, key.0, key.1)));
            }
        }
    };
    for i in 1..n {
        push(&mut queue, &nodes, Some(i - 1), Some(i));
    }
    while let Some(Reverse((_, l, r, ls, rs))) = queue.pop() {
        let (left, right) = (nodes[l], nodes[r]);
        if !left.alive || !right.alive || left.sym != ls || right.sym != rs || left.next != Some(r)
        {
            continue;
        }
        let Some(&(_, merged)) = merges.get(&(ls, rs)) else {
            continue;
        };
        nodes[l].sym = merged;
        nodes[l].next = right.next;
        nodes[r].alive = false;
        if let Some(nx) = right.next {
            nodes[nx].prev = Some(l);
        }
        push(&mut queue, &nodes, nodes[l].prev, Some(l));
        push(&mut queue, &nodes, Some(l), nodes[l].next);
    }
    out.extend(nodes.iter().filter(|n| n.alive).map(|n| n.sym));
}
