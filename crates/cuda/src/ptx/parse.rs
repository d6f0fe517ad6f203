//! PTX text to [`Entry`]s: each `.entry` function's parameters, registers and instructions,
//! with labels resolved. Only the subset NVRTC emits for `kernels/ak_forward.cuh` is
//! understood; anything else is a [`PtxError::Unsupported`] naming the line, never a guess.

use std::collections::HashMap;

use super::PtxError;

/// An operand or register type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    B8,
    S8,
    U8,
    B16,
    S16,
    U16,
    B32,
    S32,
    U32,
    B64,
    S64,
    U64,
    F32,
    Pred,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "b8" => Ty::B8,
            "s8" => Ty::S8,
            "u8" => Ty::U8,
            "b16" => Ty::B16,
            "s16" => Ty::S16,
            "u16" => Ty::U16,
            "b32" => Ty::B32,
            "s32" => Ty::S32,
            "u32" => Ty::U32,
            "b64" => Ty::B64,
            "s64" => Ty::S64,
            "u64" => Ty::U64,
            "f32" => Ty::F32,
            "pred" => Ty::Pred,
            _ => return None,
        })
    }

    /// Width in bits (a predicate is one bit).
    pub(crate) fn bits(self) -> u32 {
        match self {
            Ty::B8 | Ty::S8 | Ty::U8 => 8,
            Ty::B16 | Ty::S16 | Ty::U16 => 16,
            Ty::B32 | Ty::S32 | Ty::U32 | Ty::F32 => 32,
            Ty::B64 | Ty::S64 | Ty::U64 => 64,
            Ty::Pred => 1,
        }
    }

    pub(crate) fn signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }
}

/// A special register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Tid,
    Ntid,
    Ctaid,
    Nctaid,
}

/// An instruction operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opnd {
    Reg(u16),
    Imm(u64),
    Special(Special),
    /// `[reg+off]`.
    Addr(u16, i64),
    /// `[symbol+off]`: a shared array's address plus the offset.
    Abs(u64),
    /// `[name_param_k]`.
    Param(u16),
    /// `{lo, hi}`.
    Pair(u16, u16),
    /// `{a, b, c, d}`: a fragment of a warp's matrix product.
    Quad([u16; 4]),
    /// A branch target, as an instruction index.
    Label(u32),
}

/// A comparison of `setp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Either operand NaN.
    Nan,
    /// Neither operand NaN.
    Num,
}

/// The operation of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Mov(Ty),
    Add(Ty),
    Sub(Ty),
    MulLo(Ty),
    MulWide(Ty),
    MadLo(Ty),
    Div(Ty),
    Rem(Ty),
    Min(Ty),
    Max(Ty),
    Neg(Ty),
    Sqrt,
    And(Ty),
    Or(Ty),
    Xor(Ty),
    Not(Ty),
    Shl(Ty),
    Shr(Ty),
    Bfi,
    Prmt,
    Dp4a {
        a_signed: bool,
        b_signed: bool,
    },
    /// `cvt.<rnd>.<dst>.<src>`; `rzi` for float to integer truncation.
    Cvt {
        dst: Ty,
        src: Ty,
    },
    /// `cvt.f32.f16`: binary16 (in a 16-bit register) to f32, exact.
    CvtF32F16,
    Cvta,
    Setp(Cmp, Ty),
    Selp(Ty),
    LdParam(Ty),
    LdGlobal(Ty),
    StGlobal(Ty),
    /// `ld.shared` / `st.shared`: the block's shared memory.
    LdShared(Ty),
    StShared(Ty),
    /// `bar.sync 0`: every thread of the block waits for the others.
    Barrier,
    /// `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 d, a, b, c`: the warp's 32 lanes
    /// together compute D = A·B + C of signed bytes in int32, each lane holding a fragment of
    /// every matrix (`super::exec::mma`).
    MmaS8,
    Bra,
    Ret,
}

impl Op {
    /// Whether the operation writes one register, its first operand (`mma` writes the four
    /// of its first operand, through `super::lower::Program::mma`).
    pub(crate) fn has_destination(self) -> bool {
        !matches!(
            self,
            Op::Ret | Op::Barrier | Op::Bra | Op::StGlobal(_) | Op::StShared(_) | Op::MmaS8
        )
    }
}

/// One instruction: an optional predicate guard, the operation and its operands.
#[derive(Debug, Clone)]
pub(crate) struct Inst {
    pub(crate) guard: Option<(u16, bool)>,
    pub(crate) op: Op,
    pub(crate) ops: Vec<Opnd>,
    /// Line in the PTX text (1-based), for errors.
    pub(crate) line: u32,
}

/// One `.entry` function.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: String,
    /// The parameters' types, in order.
    pub(crate) params: Vec<Ty>,
    /// Width in bits of each register, by index.
    pub(crate) regs: Vec<u32>,
    pub(crate) code: Vec<Inst>,
    /// Bytes of shared memory per block (its `.shared` arrays, at offsets from 0).
    pub(crate) shared: usize,
}

/// A parse or support error at `line`.
fn err(line: usize, what: impl Into<String>) -> PtxError {
    PtxError::Unsupported {
        line,
        what: what.into(),
    }
}

/// Every `.entry` of a PTX module.
pub(crate) fn parse_module(text: &str) -> Result<Vec<Entry>, PtxError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut entries = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = strip(lines[i]);
        if let Some(rest) = l
            .strip_prefix(".visible .entry ")
            .or(l.strip_prefix(".entry "))
        {
            let name = rest.trim_end_matches('(').trim().to_owned();
            let (e, next) = parse_entry(&lines, i + 1, name)?;
            entries.push(e);
            i = next;
        } else {
            i += 1;
        }
    }
    Ok(entries)
}

fn strip(l: &str) -> &str {
    l.split("//").next().unwrap_or("").trim()
}

/// Registers by name, with their widths.
#[derive(Default)]
struct Regs {
    /// `%rs` -> width, from `.reg .b16 %rs<N>;`.
    widths: HashMap<String, u32>,
    index: HashMap<String, u16>,
    list: Vec<u32>,
}

impl Regs {
    fn get(&mut self, name: &str, line: usize) -> Result<u16, PtxError> {
        if let Some(&r) = self.index.get(name) {
            return Ok(r);
        }
        let prefix: String = name.chars().take_while(|c| !c.is_ascii_digit()).collect();
        if prefix.len() == name.len() || !name[prefix.len()..].bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(line, format!("register {name:?}")));
        }
        let w = *self
            .widths
            .get(&prefix)
            .ok_or_else(|| err(line, format!("register {name} is not declared")))?;
        let r = u16::try_from(self.list.len()).map_err(|_| err(line, "too many registers"))?;
        self.list.push(w);
        self.index.insert(name.to_owned(), r);
        Ok(r)
    }
}

fn parse_entry(lines: &[&str], mut i: usize, name: String) -> Result<(Entry, usize), PtxError> {
    let mut params = Vec::new();
    let mut param_index: HashMap<String, u16> = HashMap::new();
    // Parameters up to `)`.
    while i < lines.len() {
        let l = strip(lines[i]);
        i += 1;
        if l.starts_with(')') {
            break;
        }
        if let Some(rest) = l.strip_prefix(".param .") {
            let mut it = rest.trim_end_matches(',').split_whitespace();
            let ty = it
                .next()
                .and_then(Ty::parse)
                .ok_or_else(|| err(i, format!("parameter type in {l:?}")))?;
            let pname = it.next().ok_or_else(|| err(i, "parameter name"))?;
            let k = u16::try_from(params.len()).map_err(|_| err(i, "too many parameters"))?;
            param_index.insert(pname.to_owned(), k);
            params.push(ty);
        } else if !l.is_empty() {
            return Err(err(i, format!("unexpected {l:?} in the parameter list")));
        }
    }
    // Body: `{` ... `}` (no nested blocks in what NVRTC emits for these kernels).
    let mut regs = Regs::default();
    let mut labels: HashMap<String, u32> = HashMap::new();
    let mut shared = Shared::default();
    let mut raw: Vec<(usize, &str)> = Vec::new();
    let mut depth = 0;
    while i < lines.len() {
        let l = strip(lines[i]);
        i += 1;
        match l {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            "" => {}
            _ if l.starts_with(".reg ") => {
                // `.reg .b32 %r<118>;`
                let mut it = l.trim_end_matches(';').split_whitespace().skip(1);
                let ty = it
                    .next()
                    .and_then(|t| Ty::parse(t.trim_start_matches('.')))
                    .ok_or_else(|| err(i, format!("register type in {l:?}")))?;
                let decl = it.next().ok_or_else(|| err(i, "register name"))?;
                let prefix = decl.split('<').next().unwrap_or(decl);
                regs.widths.insert(prefix.to_owned(), ty.bits());
            }
            // Loop-unrolling hints: no effect on what runs.
            _ if l.starts_with(".pragma ") => {}
            // Programmatic dependent launch (`AK_GRID_WAIT`): let the next kernel start, wait
            // for the one before. The interpreter runs a launch after the one before it has
            // finished, so both are already true.
            _ if l.starts_with("griddepcontrol.") => {}
            _ if l.starts_with(".shared ") => shared.declare(l, i)?,
            _ if l.starts_with('.') => return Err(err(i, format!("directive {l:?}"))),
            _ if l.ends_with(':') => {
                let at = u32::try_from(raw.len()).map_err(|_| err(i, "too long"))?;
                labels.insert(l.trim_end_matches(':').to_owned(), at);
            }
            _ => raw.push((i, l)),
        }
    }
    let mut code = Vec::with_capacity(raw.len());
    for (line, text) in raw {
        let names = Names {
            labels: &labels,
            params: &param_index,
            shared: &shared.at,
        };
        code.push(parse_inst(line, text, &mut regs, &names)?);
    }
    Ok((
        Entry {
            name,
            params,
            regs: regs.list,
            code,
            shared: shared.bytes,
        },
        i,
    ))
}

/// The `.shared` arrays of an entry, laid out one after another.
#[derive(Default)]
struct Shared {
    /// Name -> offset.
    at: HashMap<String, u64>,
    bytes: usize,
}

impl Shared {
    /// `.shared .align 4 .b8 name[16384];` or one value, `.shared .align 4 .f32 name;`.
    fn declare(&mut self, l: &str, line: usize) -> Result<(), PtxError> {
        let bad = || err(line, format!("shared declaration {l:?}"));
        let words: Vec<&str> = l.trim_end_matches(';').split_whitespace().collect();
        let [".shared", ".align", align, ty, decl] = words[..] else {
            return Err(bad());
        };
        let align: usize = align.parse().map_err(|_| bad())?;
        let elem = ty
            .strip_prefix('.')
            .and_then(Ty::parse)
            .filter(|t| *t != Ty::Pred)
            .ok_or_else(bad)?;
        let elem = (elem.bits() / 8) as usize;
        let (name, count) = match decl.strip_suffix(']').and_then(|d| d.split_once('[')) {
            Some((name, n)) => (name, n.parse::<usize>().map_err(|_| bad())?),
            None => (decl, 1),
        };
        let len = count.checked_mul(elem).ok_or_else(bad)?;
        if align == 0 || !align.is_power_of_two() || self.at.contains_key(name) {
            return Err(bad());
        }
        let off = self.bytes.next_multiple_of(align);
        self.at.insert(name.to_owned(), off as u64);
        self.bytes = off + len;
        Ok(())
    }
}

/// The names an operand may take besides registers.
struct Names<'a> {
    labels: &'a HashMap<String, u32>,
    params: &'a HashMap<String, u16>,
    shared: &'a HashMap<String, u64>,
}

/// Splits operands at top-level commas (not inside `{}` or `[]`).
fn split_operands(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, c) in s.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..k].trim());
                start = k + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

fn parse_imm(s: &str) -> Option<u64> {
    if let Some(h) = s.strip_prefix("0f").or(s.strip_prefix("0F")) {
        return u32::from_str_radix(h, 16).ok().map(u64::from);
    }
    if let Some(h) = s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        return u64::from_str_radix(h.trim_end_matches('U'), 16).ok();
    }
    let d = s.trim_end_matches('U');
    d.parse::<i64>()
        .ok()
        .map(|v| v as u64)
        .or_else(|| d.parse::<u64>().ok())
}

fn parse_opnd(s: &str, line: usize, regs: &mut Regs, names: &Names<'_>) -> Result<Opnd, PtxError> {
    if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        if let Some(&k) = names.params.get(inner) {
            return Ok(Opnd::Param(k));
        }
        let (base, off) = match inner.split_once('+') {
            Some((b, o)) => (
                b.trim(),
                o.trim()
                    .parse::<i64>()
                    .map_err(|_| err(line, format!("address offset in {s:?}")))?,
            ),
            None => (inner.trim(), 0),
        };
        if let Some(&at) = names.shared.get(base) {
            return Ok(Opnd::Abs(at.wrapping_add(off as u64)));
        }
        if !base.starts_with('%') {
            return Err(err(line, format!("address {s:?}")));
        }
        return Ok(Opnd::Addr(regs.get(base, line)?, off));
    }
    if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
        return match parts[..] {
            [lo, hi] => Ok(Opnd::Pair(regs.get(lo, line)?, regs.get(hi, line)?)),
            [a, b, c, d] => Ok(Opnd::Quad([
                regs.get(a, line)?,
                regs.get(b, line)?,
                regs.get(c, line)?,
                regs.get(d, line)?,
            ])),
            _ => Err(err(line, format!("vector operand {s:?}"))),
        };
    }
    let special = match s {
        "%tid.x" => Some(Special::Tid),
        "%ntid.x" => Some(Special::Ntid),
        "%ctaid.x" => Some(Special::Ctaid),
        "%nctaid.x" => Some(Special::Nctaid),
        _ => None,
    };
    if let Some(sp) = special {
        return Ok(Opnd::Special(sp));
    }
    if s.starts_with('%') {
        return Ok(Opnd::Reg(regs.get(s, line)?));
    }
    if let Some(&at) = names.labels.get(s) {
        return Ok(Opnd::Label(at));
    }
    if let Some(&at) = names.shared.get(s) {
        return Ok(Opnd::Imm(at));
    }
    parse_imm(s)
        .map(Opnd::Imm)
        .ok_or_else(|| err(line, format!("operand {s:?}")))
}

fn ty_at(parts: &[&str], k: usize, line: usize) -> Result<Ty, PtxError> {
    parts
        .get(k)
        .and_then(|t| Ty::parse(t))
        .ok_or_else(|| err(line, format!("type in {}", parts.join("."))))
}

/// The operation of an opcode such as `mul.wide.u16` (split at dots).
fn parse_op(p: &[&str], line: usize) -> Result<Op, PtxError> {
    let last = |l| ty_at(p, p.len() - 1, l);
    let float_rn = |op: Op| -> Result<Op, PtxError> {
        // f32 arithmetic must carry `.rn` (round to nearest even, no contraction) and nothing
        // else (`.ftz`, `.sat`, `.approx` change the result).
        if p.len() == 3 && p[1] == "rn" {
            Ok(op)
        } else {
            Err(err(line, format!("f32 arithmetic {}", p.join("."))))
        }
    };
    let op = match p[0] {
        "mov" if p.len() == 2 => Op::Mov(last(line)?),
        "add" | "sub" | "mul" | "div" if p.last() == Some(&"f32") => {
            let op = match p[0] {
                "add" => Op::Add(Ty::F32),
                "sub" => Op::Sub(Ty::F32),
                "mul" => Op::MulLo(Ty::F32),
                _ => Op::Div(Ty::F32),
            };
            float_rn(op)?
        }
        "sqrt" => float_rn(Op::Sqrt)?,
        "add" if p.len() == 2 => Op::Add(last(line)?),
        "sub" if p.len() == 2 => Op::Sub(last(line)?),
        "mul" if p.len() == 3 && p[1] == "lo" => Op::MulLo(last(line)?),
        "mul" if p.len() == 3 && p[1] == "wide" => Op::MulWide(last(line)?),
        "mad" if p.len() == 3 && p[1] == "lo" => Op::MadLo(last(line)?),
        "div" if p.len() == 2 => Op::Div(last(line)?),
        "rem" if p.len() == 2 => Op::Rem(last(line)?),
        "min" if p.len() == 2 => Op::Min(last(line)?),
        "max" if p.len() == 2 => Op::Max(last(line)?),
        "neg" if p.len() == 2 => Op::Neg(last(line)?),
        "and" if p.len() == 2 => Op::And(last(line)?),
        "or" if p.len() == 2 => Op::Or(last(line)?),
        "xor" if p.len() == 2 => Op::Xor(last(line)?),
        "not" if p.len() == 2 => Op::Not(last(line)?),
        "shl" if p.len() == 2 => Op::Shl(last(line)?),
        "shr" if p.len() == 2 => Op::Shr(last(line)?),
        "bfi" if p == ["bfi", "b32"] => Op::Bfi,
        "prmt" if p == ["prmt", "b32"] => Op::Prmt,
        "dp4a" if p.len() == 3 => Op::Dp4a {
            a_signed: ty_at(p, 1, line)?.signed(),
            b_signed: ty_at(p, 2, line)?.signed(),
        },
        "cvt" if p == ["cvt", "f32", "f16"] => Op::CvtF32F16,
        "cvt" => {
            // cvt.dst.src (integer widths), cvt.rn.f32.<int>, cvt.rzi.<int>.f32.
            let (rnd, dst, src) = match p.len() {
                3 => (None, ty_at(p, 1, line)?, ty_at(p, 2, line)?),
                4 => (Some(p[1]), ty_at(p, 2, line)?, ty_at(p, 3, line)?),
                _ => return Err(err(line, format!("conversion {}", p.join(".")))),
            };
            let ok = matches!(
                (rnd, dst == Ty::F32, src == Ty::F32),
                (None, false, false) | (Some("rn"), true, false) | (Some("rzi"), false, true)
            );
            if !ok {
                return Err(err(line, format!("conversion {}", p.join("."))));
            }
            Op::Cvt { dst, src }
        }
        "cvta" if p == ["cvta", "to", "global", "u64"] => Op::Cvta,
        "setp" if p.len() == 3 => {
            let c = match p[1] {
                "eq" => Cmp::Eq,
                "ne" => Cmp::Ne,
                "lt" => Cmp::Lt,
                "le" => Cmp::Le,
                "gt" => Cmp::Gt,
                "ge" => Cmp::Ge,
                "nan" => Cmp::Nan,
                "num" => Cmp::Num,
                _ => return Err(err(line, format!("comparison {}", p.join(".")))),
            };
            Op::Setp(c, last(line)?)
        }
        "selp" if p.len() == 2 => Op::Selp(last(line)?),
        "ld" if p.len() == 3 && p[1] == "param" => Op::LdParam(last(line)?),
        "ld" if p.len() == 3 && p[1] == "global" => Op::LdGlobal(last(line)?),
        "st" if p.len() == 3 && p[1] == "global" => Op::StGlobal(last(line)?),
        "ld" if p.len() == 3 && p[1] == "shared" => Op::LdShared(last(line)?),
        "st" if p.len() == 3 && p[1] == "shared" => Op::StShared(last(line)?),
        "bar" if p == ["bar", "sync"] => Op::Barrier,
        "mma"
            if p == [
                "mma", "sync", "aligned", "m16n8k32", "row", "col", "s32", "s8", "s8", "s32",
            ] =>
        {
            Op::MmaS8
        }
        "bra" if p == ["bra"] || p == ["bra", "uni"] => Op::Bra,
        "ret" if p.len() == 1 => Op::Ret,
        _ => return Err(err(line, format!("instruction {}", p.join(".")))),
    };
    Ok(op)
}

fn parse_inst(
    line: usize,
    text: &str,
    regs: &mut Regs,
    names: &Names<'_>,
) -> Result<Inst, PtxError> {
    let body = text
        .strip_suffix(';')
        .ok_or_else(|| err(line, format!("{text:?} does not end with ';'")))?
        .trim();
    let (guard, body) = match body.strip_prefix('@') {
        Some(g) => {
            let (p, rest) = g
                .split_once(char::is_whitespace)
                .ok_or_else(|| err(line, "guard without instruction"))?;
            let (neg, p) = p.strip_prefix('!').map_or((false, p), |q| (true, q));
            (Some((regs.get(p, line)?, neg)), rest.trim())
        }
        None => (None, body),
    };
    let (opcode, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let parts: Vec<&str> = opcode.split('.').collect();
    let op = parse_op(&parts, line)?;
    let ops = split_operands(rest)
        .into_iter()
        .map(|o| parse_opnd(o, line, regs, names))
        .collect::<Result<Vec<_>, _>>()?;
    let want = match op {
        Op::Ret => 0,
        Op::Bra | Op::Barrier => 1,
        Op::Mov(_)
        | Op::Neg(_)
        | Op::Not(_)
        | Op::Sqrt
        | Op::Cvt { .. }
        | Op::CvtF32F16
        | Op::Cvta
        | Op::LdParam(_)
        | Op::LdGlobal(_)
        | Op::StGlobal(_)
        | Op::LdShared(_)
        | Op::StShared(_) => 2,
        Op::MadLo(_) | Op::Prmt | Op::Dp4a { .. } | Op::Selp(_) | Op::MmaS8 => 4,
        Op::Bfi => 5,
        _ => 3,
    };
    if op == Op::Barrier && ops.first() != Some(&Opnd::Imm(0)) {
        return Err(err(line, format!("barrier {rest:?} (only bar.sync 0)")));
    }
    if ops.len() != want {
        return Err(err(
            line,
            format!("{opcode} takes {want} operands, found {}", ops.len()),
        ));
    }
    Ok(Inst {
        guard,
        op,
        ops,
        line: u32::try_from(line).map_err(|_| err(line, "line number"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PTX: &str = "
.version 9.5
.target sm_90
.address_size 64

.visible .entry k(
\t.param .u64 k_param_0,
\t.param .f32 k_param_1
)
{
\t.reg .pred \t%p<2>;
\t.reg .b32 \t%r<4>;
\t.reg .b64 \t%rd<3>;
\t.reg .f32 \t%f<3>;

\tld.param.u64 \t%rd1, [k_param_0];
\tmov.u32 \t%r1, %tid.x;
\tsetp.ge.s64 \t%p1, %rd1, 4;
\t@%p1 bra \t$L__BB0_2;
\tld.global.f32 \t%f1, [%rd1+-4];
\tmov.b32 \t%r2, {%r1, %r1};
$L__BB0_2:
\tret;
}
";

    #[test]
    fn parses_params_registers_labels_and_operands() {
        let e = &parse_module(PTX).unwrap()[0];
        assert_eq!(e.name, "k");
        assert_eq!(e.params, vec![Ty::U64, Ty::F32]);
        assert_eq!(e.code.len(), 7);
        assert_eq!(e.code[3].op, Op::Bra);
        assert_eq!(e.code[3].guard, Some((e.code[2].ops[0].reg(), false)));
        assert_eq!(e.code[3].ops[0], Opnd::Label(6));
        assert!(matches!(e.code[4].ops[1], Opnd::Addr(_, -4)));
        assert_eq!(e.code[0].ops[1], Opnd::Param(0));
        assert_eq!(e.code[1].ops[1], Opnd::Special(Special::Tid));
    }

    #[test]
    fn grid_dependency_control_runs_as_nothing() {
        // A forward kernel's first instructions (AK_GRID_WAIT): kept out of the code, the
        // branch target after them still the `ret`.
        let text = PTX.replace(
            "\tld.param.u64",
            "\tgriddepcontrol.launch_dependents;\n\tgriddepcontrol.wait;\n\tld.param.u64",
        );
        let e = &parse_module(&text).unwrap()[0];
        assert_eq!(e.code.len(), 7);
        assert_eq!(e.code[3].ops[0], Opnd::Label(6));
        assert_eq!(e.code[6].op, Op::Ret);
    }

    #[test]
    fn refuses_what_it_does_not_model() {
        for (inst, what) in [
            ("fma.rn.f32 %f1, %f1, %f1, %f1;", "instruction fma.rn.f32"),
            ("add.f32 %f1, %f1, %f1;", "f32 arithmetic add.f32"),
            ("add.ftz.f32 %f1, %f1, %f1;", "f32 arithmetic add.ftz.f32"),
            (
                "div.approx.f32 %f1, %f1, %f1;",
                "f32 arithmetic div.approx.f32",
            ),
            ("ex2.approx.f32 %f1, %f1;", "instruction ex2.approx.f32"),
            (
                "atom.global.add.u32 %r1, [%rd1], 1;",
                "instruction atom.global.add.u32",
            ),
            ("cvt.rn.f16.f32 %r1, %f1;", "type in cvt.rn.f16.f32"),
            ("add.s32 %r1, %r1;", "add.s32 takes 3 operands, found 2"),
        ] {
            let text = PTX.replace("\tret;", &format!("\t{inst}\n\tret;"));
            match parse_module(&text) {
                Err(PtxError::Unsupported { what: w, line }) => {
                    assert!(w.contains(what), "{inst}: {w}");
                    assert_eq!(line, 23, "{inst}");
                }
                other => panic!("{inst}: {other:?}"),
            }
        }
    }

    impl Opnd {
        fn reg(self) -> u16 {
            match self {
                Opnd::Reg(r) => r,
                _ => panic!("not a register"),
            }
        }
    }
}
