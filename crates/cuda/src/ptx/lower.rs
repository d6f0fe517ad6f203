//! An [`Entry`] lowered for the interpreter ([`Program`]): every operand resolved once, at
//! load, to a slot of one register file (the entry's registers, then the special registers,
//! then the constants its code uses) with the mask of the type it is read as, and every
//! address, parameter and branch target to a [`Target`]. Running an instruction then reads
//! slots instead of decoding operands; the shapes a `.rn`-only forward kernel may take are
//! checked here, so a malformed instruction is refused when the module loads, naming its line.

use std::collections::HashMap;

use super::PtxError;
use super::parse::{Entry, Inst, Op, Opnd, Special, Ty};
use super::timing::latency;
use super::unwritten::read_before_written;

/// A slot with this bit set is an index into [`Program::pairs`], not the register file.
pub(crate) const PAIR: u32 = 1 << 31;

/// A source operand: a slot of the register file, read as `value & mask`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Src {
    pub(crate) slot: u32,
    pub(crate) mask: u64,
}

/// A `{lo, hi}` operand read as one value of `2 * half` bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) half: u32,
}

/// The register-file slots of one `mma` instruction's fragments: each lane's share of D (the
/// result), A, B and C.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mma {
    pub(crate) d: [u32; 4],
    pub(crate) a: [u32; 4],
    pub(crate) b: [u32; 2],
    pub(crate) c: [u32; 4],
}

/// What an instruction addresses besides its register operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    None,
    /// `[reg+off]`.
    Reg(u32, i64),
    /// `[symbol+off]`: a shared address.
    Abs(u64),
    /// `[name_param_k]`.
    Param(u16),
    /// A branch target, as an instruction index.
    Label(u32),
}

/// One instruction, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Micro {
    pub(crate) op: Op,
    /// The guard predicate's slot and whether it is negated.
    pub(crate) guard: Option<(u32, bool)>,
    /// The destination slot (unused by stores, branches, barriers and `ret`; for `mma`, its
    /// index in [`Program::mma`]).
    pub(crate) dst: u32,
    /// The destination register's width as a mask: every result is cut to it.
    pub(crate) dst_mask: u64,
    /// The value operands after the destination (for a store, the value stored).
    pub(crate) src: [Src; 4],
    /// How many of `src` the operation reads.
    pub(crate) values: u8,
    pub(crate) target: Target,
    /// The register-file slots it reads (guard, values with pairs split, address register):
    /// `Program::reads[first..first + count]`, for the timing model.
    pub(crate) reads: (u32, u8),
    /// Cycles until its result can be read ([`latency`]).
    pub(crate) latency: u32,
    /// Whether it starts a basic block (the first instruction, a branch target, or after a
    /// branch, barrier or `ret`): the timing model schedules each block on its own.
    pub(crate) leader: bool,
    /// Line in the PTX text, for errors.
    pub(crate) line: u32,
}

/// An entry lowered for [`super::exec::run`].
#[derive(Debug, Clone)]
pub(crate) struct Program {
    /// The parameters' types, in order.
    pub(crate) params: Vec<Ty>,
    /// Bytes of shared memory per block.
    pub(crate) shared: usize,
    pub(crate) code: Vec<Micro>,
    pub(crate) pairs: Vec<Pair>,
    /// The fragments of each `mma` instruction, in code order.
    pub(crate) mma: Vec<Mma>,
    /// The slots each instruction reads ([`Micro::reads`]).
    pub(crate) reads: Vec<u32>,
    /// A thread's register file at its start: registers zeroed, the special registers (filled
    /// by each run), then the constants.
    pub(crate) template: Vec<u64>,
    /// The slot of `%tid.x`; `%ntid.x`, `%ctaid.x` and `%nctaid.x` follow it.
    pub(crate) specials: usize,
    /// The registers some path may read before writing ([`read_before_written`]): the only
    /// ones a thread's start must zero.
    pub(crate) unwritten: Vec<u32>,
}

/// The low `bits` bits.
fn low_mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The types the value operands after the destination are read as, in order.
fn source_types(op: Op) -> [Ty; 4] {
    let all = |t: Ty| [t; 4];
    match op {
        Op::Shl(ty) | Op::Shr(ty) => [ty, Ty::U32, ty, ty],
        Op::Selp(ty) => [ty, ty, Ty::Pred, ty],
        Op::Bfi => [Ty::B32, Ty::B32, Ty::U32, Ty::U32],
        Op::Prmt | Op::Dp4a { .. } | Op::MmaS8 => all(Ty::B32),
        Op::Cvt { src, .. } => all(src),
        Op::CvtF32F16 => all(Ty::B16),
        Op::Cvta => all(Ty::U64),
        Op::Sqrt => all(Ty::F32),
        Op::Mov(ty)
        | Op::Add(ty)
        | Op::Sub(ty)
        | Op::MulLo(ty)
        | Op::MulWide(ty)
        | Op::MadLo(ty)
        | Op::Div(ty)
        | Op::Rem(ty)
        | Op::Min(ty)
        | Op::Max(ty)
        | Op::Neg(ty)
        | Op::And(ty)
        | Op::Or(ty)
        | Op::Xor(ty)
        | Op::Not(ty)
        | Op::Setp(_, ty)
        | Op::StGlobal(ty)
        | Op::StShared(ty)
        | Op::LdParam(ty)
        | Op::LdGlobal(ty)
        | Op::LdShared(ty) => all(ty),
        Op::Barrier | Op::Bra | Op::Ret => all(Ty::B64),
    }
}

/// Builds the register file's constant slots and the pair table while lowering.
struct Slots {
    template: Vec<u64>,
    consts: HashMap<u64, u32>,
    pairs: Vec<Pair>,
    specials: usize,
}

impl Slots {
    fn new(regs: usize) -> Slots {
        Slots {
            template: vec![0; regs + 4],
            consts: HashMap::new(),
            pairs: Vec::new(),
            specials: regs,
        }
    }

    fn constant(&mut self, v: u64, line: usize) -> Result<u32, PtxError> {
        if let Some(&s) = self.consts.get(&v) {
            return Ok(s);
        }
        let s = slot(self.template.len(), line)?;
        self.template.push(v);
        self.consts.insert(v, s);
        Ok(s)
    }

    /// A value operand read as `ty`.
    fn source(&mut self, o: Opnd, ty: Ty, line: usize) -> Result<Src, PtxError> {
        let slot = match o {
            Opnd::Reg(r) => u32::from(r),
            Opnd::Imm(v) => self.constant(v, line)?,
            Opnd::Special(s) => {
                let k = match s {
                    Special::Tid => 0,
                    Special::Ntid => 1,
                    Special::Ctaid => 2,
                    Special::Nctaid => 3,
                };
                slot(self.specials + k, line)?
            }
            Opnd::Pair(lo, hi) => {
                let k = slot(self.pairs.len(), line)?;
                self.pairs.push(Pair {
                    lo: u32::from(lo),
                    hi: u32::from(hi),
                    half: ty.bits() / 2,
                });
                k | PAIR
            }
            Opnd::Addr(..) | Opnd::Abs(_) | Opnd::Param(_) | Opnd::Label(_) | Opnd::Quad(_) => {
                return Err(unsupported(line, format!("{o:?} where a value is read")));
            }
        };
        Ok(Src {
            slot,
            mask: low_mask(ty.bits()),
        })
    }
}

fn unsupported(line: usize, what: String) -> PtxError {
    PtxError::Unsupported { line, what }
}

/// Slot `at`, refused when it would not fit beside [`PAIR`].
fn slot(at: usize, line: usize) -> Result<u32, PtxError> {
    u32::try_from(at)
        .ok()
        .filter(|s| s & PAIR == 0)
        .ok_or_else(|| {
            unsupported(
                line,
                "more registers and constants than the interpreter holds".into(),
            )
        })
}

impl Program {
    /// Lowers `e`; an instruction whose operands do not have the shape its operation needs
    /// (a branch without a label, a load without an address, a missing destination) is
    /// refused.
    pub(crate) fn lower(e: &Entry) -> Result<Program, PtxError> {
        let mut slots = Slots::new(e.regs.len());
        let mut code = Vec::with_capacity(e.code.len());
        let mut reads = Vec::new();
        let mut mma = Vec::new();
        for inst in &e.code {
            let line = inst.line as usize;
            let bad = |what: &str| unsupported(line, format!("{what} in {:?}", inst.op));
            let o = &inst.ops;
            if inst.op == Op::MmaS8 {
                let m = lower_mma(inst, &e.regs).map_err(&bad)?;
                let first = reads.len();
                reads.extend(m.a.iter().chain(&m.b).chain(&m.c));
                code.push(Micro {
                    op: inst.op,
                    guard: None,
                    dst: slot(mma.len(), line)?,
                    dst_mask: 0,
                    src: [Src::default(); 4],
                    values: 0,
                    target: Target::None,
                    reads: (slot(first, line)?, (reads.len() - first) as u8),
                    latency: latency(inst.op),
                    leader: false,
                    line: inst.line,
                });
                mma.push(m);
                continue;
            }
            // Where the operands after the destination start, and what the instruction
            // addresses.
            let (values, target) = match inst.op {
                Op::Ret | Op::Barrier => (&o[..0], Target::None),
                Op::Bra => match o.first() {
                    Some(&Opnd::Label(t)) => (&o[..0], Target::Label(t)),
                    _ => return Err(bad("a branch without a label")),
                },
                Op::StGlobal(_) => match o.first() {
                    Some(&Opnd::Addr(r, off)) => (&o[1..], Target::Reg(u32::from(r), off)),
                    _ => return Err(bad("a store without an address")),
                },
                Op::StShared(_) => match o.first() {
                    Some(&Opnd::Addr(r, off)) => (&o[1..], Target::Reg(u32::from(r), off)),
                    Some(&Opnd::Abs(a)) => (&o[1..], Target::Abs(a)),
                    _ => return Err(bad("a shared store without an address")),
                },
                Op::LdGlobal(_) => match o.get(1) {
                    Some(&Opnd::Addr(r, off)) => (&o[2..], Target::Reg(u32::from(r), off)),
                    _ => return Err(bad("a load without an address")),
                },
                Op::LdShared(_) => match o.get(1) {
                    Some(&Opnd::Addr(r, off)) => (&o[2..], Target::Reg(u32::from(r), off)),
                    Some(&Opnd::Abs(a)) => (&o[2..], Target::Abs(a)),
                    _ => return Err(bad("a shared load without an address")),
                },
                Op::LdParam(_) => match o.get(1) {
                    Some(&Opnd::Param(k)) => (&o[2..], Target::Param(k)),
                    _ => return Err(bad("a parameter load without a parameter")),
                },
                _ => (o.get(1..).unwrap_or(&[]), Target::None),
            };
            let writes = inst.op.has_destination();
            let (dst, dst_mask) = match o.first() {
                Some(&Opnd::Reg(r)) if writes => {
                    let bits = e.regs.get(usize::from(r)).copied();
                    (
                        u32::from(r),
                        low_mask(bits.ok_or_else(|| bad("an undeclared register"))?),
                    )
                }
                _ if writes => return Err(bad("no destination register")),
                _ => (0, 0),
            };
            if values.len() > 4 {
                return Err(bad("more than four operands"));
            }
            let mut src = [Src::default(); 4];
            for ((s, &v), ty) in src.iter_mut().zip(values).zip(source_types(inst.op)) {
                *s = slots.source(v, ty, line)?;
            }
            let guard = inst.guard.map(|(p, neg)| (u32::from(p), neg));
            let first = reads.len();
            reads.extend(guard.map(|g| g.0));
            for s in &src[..values.len()] {
                if s.slot & PAIR == 0 {
                    reads.push(s.slot);
                } else {
                    let p = slots.pairs[(s.slot & !PAIR) as usize];
                    reads.extend([p.lo, p.hi]);
                }
            }
            if let Target::Reg(r, _) = target {
                reads.push(r);
            }
            code.push(Micro {
                op: inst.op,
                guard,
                dst,
                dst_mask,
                src,
                values: values.len() as u8,
                target,
                reads: (slot(first, line)?, (reads.len() - first) as u8),
                latency: latency(inst.op),
                leader: false,
                line: inst.line,
            });
        }
        for k in 0..code.len() {
            let after_jump = k == 0 || matches!(code[k - 1].op, Op::Bra | Op::Barrier | Op::Ret);
            if after_jump {
                code[k].leader = true;
            }
            if let Target::Label(t) = code[k].target
                && let Some(m) = code.get_mut(t as usize)
            {
                m.leader = true;
            }
        }
        let mut p = Program {
            params: e.params.clone(),
            shared: e.shared,
            code,
            pairs: slots.pairs,
            mma,
            reads,
            template: slots.template,
            specials: slots.specials,
            unwritten: Vec::new(),
        };
        p.unwritten = read_before_written(&p, e.regs.len());
        Ok(p)
    }
}

/// The fragments of an `mma` instruction: four registers each for D, A and C, two for B, all
/// 32-bit, and no guard (every lane of the warp must execute it).
fn lower_mma(inst: &Inst, widths: &[u32]) -> Result<Mma, &'static str> {
    if inst.guard.is_some() {
        return Err("a guarded mma");
    }
    let quad = |k: usize| match inst.ops.get(k) {
        Some(&Opnd::Quad(r)) => Ok(r.map(u32::from)),
        _ => Err("an mma fragment that is not four registers"),
    };
    let b = match inst.ops.get(2) {
        Some(&Opnd::Pair(lo, hi)) => [lo, hi].map(u32::from),
        _ => return Err("an mma B fragment that is not two registers"),
    };
    let m = Mma {
        d: quad(0)?,
        a: quad(1)?,
        b,
        c: quad(3)?,
    };
    let all = m.d.iter().chain(&m.a).chain(&m.b).chain(&m.c);
    if all
        .into_iter()
        .any(|&r| widths.get(r as usize) != Some(&32))
    {
        return Err("an mma register that is not 32-bit");
    }
    Ok(m)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::PtxError;
    use super::super::parse::parse_module;
    use super::Program;

    /// A module with one entry `k(u64)` and registers `%p`, `%r` and `%rd`, around `body`
    /// (which starts on line 12).
    pub(crate) fn module(body: &str) -> String {
        format!(
            ".version 9.5\n.target sm_90\n.address_size 64\n\n.visible .entry k(\n\
             \t.param .u64 k_param_0\n)\n{{\n\t.reg .pred \t%p<3>;\n\t.reg .b32 \t%r<9>;\n\
             \t.reg .b64 \t%rd<3>;\n{body}\n}}\n"
        )
    }

    #[test]
    fn operands_of_the_wrong_shape_are_refused_at_load() {
        for (inst, what) in [
            ("bra \t%r1;", "a branch without a label"),
            ("ld.global.u32 \t%r1, %rd1;", "a load without an address"),
            ("st.global.u32 \t%rd1, %r1;", "a store without an address"),
            (
                "ld.param.u64 \t%rd1, %rd2;",
                "a parameter load without a parameter",
            ),
            ("add.s32 \t5, %r1, %r2;", "no destination register"),
            ("add.s32 \t%r1, [%rd1], %r2;", "where a value is read"),
            (
                "@%p1 mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 \t{%r1, %r2, %r3, %r4}, \
                 {%r1, %r2, %r3, %r4}, {%r1, %r2}, {%r1, %r2, %r3, %r4};",
                "a guarded mma",
            ),
            (
                "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 \t{%r1, %r2, %r3, %r4}, \
                 {%r1, %r2, %r3, %r4}, {%r1, %r2, %r3, %r4}, {%r1, %r2, %r3, %r4};",
                "B fragment",
            ),
            (
                "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 \t{%r1, %r2, %r3, %rd1}, \
                 {%r1, %r2, %r3, %r4}, {%r1, %r2}, {%r1, %r2, %r3, %r4};",
                "not 32-bit",
            ),
        ] {
            let ptx = module(&format!("\tmov.u32 \t%r1, 1;\n\t{inst}\n\tret;"));
            let e = &parse_module(&ptx).unwrap()[0];
            match Program::lower(e) {
                Err(PtxError::Unsupported { line, what: w }) => {
                    assert!(w.contains(what), "{inst}: {w}");
                    assert_eq!(line, 13, "{inst}");
                }
                other => panic!("{inst}: {other:?}"),
            }
        }
    }

    #[test]
    fn constants_and_special_registers_get_their_own_slots() {
        let ptx = module(
            "\tmov.u32 \t%r1, %tid.x;\n\tadd.s32 \t%r2, %r1, 7;\n\tmov.u32 \t%r3, 7;\n\tret;",
        );
        let p = Program::lower(&parse_module(&ptx).unwrap()[0]).unwrap();
        // Three registers, four special registers, one constant (7, used twice).
        assert_eq!(p.specials, 3);
        assert_eq!(p.template, vec![0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(p.code[0].src[0].slot, 3);
        assert_eq!(p.code[1].src[1].slot, 7);
        assert_eq!(p.code[2].src[0].slot, 7);
        assert_eq!(p.code[1].src[1].mask, 0xffff_ffff);
    }
}
