//! Which registers a thread may read before it writes them.
//!
//! A GPU leaves registers undefined at a thread's start; the interpreter starts them at zero.
//! Zeroing every register of a kernel for every thread costs more than running most threads
//! (the matmul has thousands), so [`read_before_written`] finds, by a forward data-flow
//! analysis over the code's basic blocks, the registers some path may read before any
//! unguarded write to them; only those are zeroed. Any other register's start value cannot be
//! observed, so skipping its reset changes no result.

use super::lower::{PAIR, Program, Target};
use super::parse::Op;

/// A set of registers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Set(Vec<u64>);

impl Set {
    fn empty(n: usize) -> Set {
        Set(vec![0; n.div_ceil(64)])
    }

    fn full(n: usize) -> Set {
        Set(vec![u64::MAX; n.div_ceil(64)])
    }

    fn has(&self, r: usize) -> bool {
        self.0[r / 64] & (1 << (r % 64)) != 0
    }

    fn add(&mut self, r: usize) {
        self.0[r / 64] |= 1 << (r % 64);
    }

    fn intersect(&mut self, other: &Set) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }
}

/// Where control may go after instruction `k`.
fn successors(p: &Program, k: usize) -> Vec<usize> {
    let inst = &p.code[k];
    let next = (k + 1 < p.code.len()).then_some(k + 1);
    match (inst.op, inst.target, inst.guard) {
        (Op::Bra, Target::Label(t), None) => vec![t as usize],
        (Op::Bra, Target::Label(t), Some(_)) => next.into_iter().chain([t as usize]).collect(),
        (Op::Ret, _, None) => Vec::new(),
        _ => next.into_iter().collect(),
    }
}

/// The registers (slots below `regs`) instruction `k` reads.
fn reads(p: &Program, k: usize, regs: usize) -> Vec<usize> {
    let inst = &p.code[k];
    let mut out = Vec::new();
    if let Some((g, _)) = inst.guard {
        out.push(g as usize);
    }
    if let Target::Reg(r, _) = inst.target {
        out.push(r as usize);
    }
    if inst.op == Op::MmaS8 {
        let m = &p.mma[inst.dst as usize];
        out.extend(m.a.iter().chain(&m.b).chain(&m.c).map(|&r| r as usize));
    }
    for s in &inst.src[..usize::from(inst.values)] {
        if s.slot & PAIR != 0 {
            let pair = p.pairs[(s.slot & !PAIR) as usize];
            out.extend([pair.lo as usize, pair.hi as usize]);
        } else {
            out.push(s.slot as usize);
        }
    }
    out.retain(|&r| r < regs);
    out
}

/// The registers instruction `k` always writes (its destinations, where it has no guard).
fn writes(p: &Program, k: usize) -> Vec<usize> {
    let inst = &p.code[k];
    if inst.guard.is_some() {
        return Vec::new();
    }
    if inst.op == Op::MmaS8 {
        return p.mma[inst.dst as usize].d.map(|r| r as usize).to_vec();
    }
    if inst.op.has_destination() {
        vec![inst.dst as usize]
    } else {
        Vec::new()
    }
}

/// The registers among the first `regs` slots of `p` that some path may read before writing.
pub(crate) fn read_before_written(p: &Program, regs: usize) -> Vec<u32> {
    let n = p.code.len();
    if n == 0 {
        return Vec::new();
    }
    // Basic blocks: start at 0, at every branch target, after every branch and `ret`.
    let mut leader = vec![false; n];
    leader[0] = true;
    for k in 0..n {
        if let Target::Label(t) = p.code[k].target
            && let Some(l) = leader.get_mut(t as usize)
        {
            *l = true;
        }
        if matches!(p.code[k].op, Op::Bra | Op::Ret) && k + 1 < n {
            leader[k + 1] = true;
        }
    }
    let starts: Vec<usize> = (0..n).filter(|&k| leader[k]).collect();
    let block_of = |k: usize| starts.partition_point(|&s| s <= k) - 1;
    let ends: Vec<usize> = starts
        .iter()
        .enumerate()
        .map(|(b, _)| starts.get(b + 1).copied().unwrap_or(n))
        .collect();
    let succs: Vec<Vec<usize>> = ends
        .iter()
        .map(|&e| {
            // A branch to the end of the code leaves it, like `ret`.
            let next = successors(p, e - 1).into_iter().filter(|&s| s < n);
            next.map(block_of).collect()
        })
        .collect();
    // Must-written sets at each block's entry: the entry block starts with none, the others
    // at "everything" and shrink to the intersection over their predecessors.
    let mut input: Vec<Set> = (0..starts.len()).map(|_| Set::full(regs)).collect();
    input[0] = Set::empty(regs);
    let out_of = |b: usize, input: &Set| {
        let mut s = input.clone();
        for k in starts[b]..ends[b] {
            for d in writes(p, k) {
                s.add(d);
            }
        }
        s
    };
    let mut changed = true;
    while changed {
        changed = false;
        for b in 0..starts.len() {
            let out = out_of(b, &input[b]);
            for &s in &succs[b] {
                let mut next = input[s].clone();
                next.intersect(&out);
                if next != input[s] {
                    input[s] = next;
                    changed = true;
                }
            }
        }
    }
    let mut unwritten = Set::empty(regs);
    for (b, start) in starts.iter().enumerate() {
        let mut written = input[b].clone();
        for k in *start..ends[b] {
            for r in reads(p, k, regs) {
                if !written.has(r) {
                    unwritten.add(r);
                }
            }
            for d in writes(p, k) {
                written.add(d);
            }
        }
    }
    (0..regs)
        .filter(|&r| unwritten.has(r))
        .filter_map(|r| u32::try_from(r).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::lower::Program;
    use super::super::lower::tests::module;
    use super::super::parse::parse_module;

    /// The registers of entry `k` that may be read before written, by name.
    fn unwritten(body: &str) -> Vec<String> {
        let ptx = module(body);
        let e = &parse_module(&ptx).unwrap()[0];
        let p = Program::lower(e).unwrap();
        // Every register of these bodies is some instruction's destination: name slots by
        // the destinations of the instructions, in order.
        let mut names = vec![String::new(); e.regs.len()];
        let insts = body.lines().map(str::trim).filter(|l| !l.ends_with(':'));
        for (inst, text) in p.code.iter().zip(insts) {
            let words: Vec<&str> = text.split_whitespace().collect();
            let at = usize::from(words[0].starts_with('@')) + 1;
            if let Some(dst) = words.get(at).filter(|w| w.ends_with(',')) {
                names[inst.dst as usize] = dst.trim_end_matches(',').to_owned();
            }
        }
        p.unwritten
            .iter()
            .map(|&r| names[r as usize].clone())
            .collect()
    }

    #[test]
    fn straight_code_writes_before_it_reads() {
        let body = "\tmov.u32 \t%r1, %tid.x;\n\tadd.s32 \t%r2, %r1, 1;\n\tret;";
        assert!(unwritten(body).is_empty());
    }

    #[test]
    fn a_read_on_some_path_before_the_write_is_found() {
        // %r1 is written only when %p1 holds (a guarded write, and a branch around a write):
        // both reads of it may see the start value.
        let body = "\tmov.u32 \t%r2, %tid.x;\n\tsetp.eq.s32 \t%p1, %r2, 0;\n\
                    \t@%p1 mov.u32 \t%r1, 5;\n\tadd.s32 \t%r3, %r1, 1;\n\
                    \t@%p1 bra \t$L__1;\n\tmov.u32 \t%r4, 7;\n$L__1:\n\
                    \tadd.s32 \t%r5, %r4, %r3;\n\tret;";
        assert_eq!(unwritten(body), vec!["%r1", "%r4"]);
    }

    #[test]
    fn a_loop_carries_what_was_written_before_it() {
        // %r1 is written before the loop and again inside it; %r3 only in the loop's body
        // after its read, so the first iteration reads it unwritten.
        let body = "\tmov.u32 \t%r1, 0;\n$L__loop:\n\tadd.s32 \t%r2, %r1, %r3;\n\
                    \tadd.s32 \t%r1, %r1, 1;\n\tmov.u32 \t%r3, %r2;\n\
                    \tsetp.lt.s32 \t%p1, %r1, 4;\n\t@%p1 bra \t$L__loop;\n\tret;";
        assert_eq!(unwritten(body), vec!["%r3"]);
    }
}
