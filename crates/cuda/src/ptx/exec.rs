//! One GPU thread of an [`Entry`], instruction by instruction, with the semantics the PTX ISA
//! gives each operation: integer operations wrap at their width, `.rn` f32 operations round
//! once to nearest even with subnormals kept (what Rust's `f32` operations do), and an f32
//! result that is NaN is the GPU's canonical NaN (`0x7fffffff`).

// The interpreter implements PTX's exact IEEE comparisons: `==` on f32 is the point.
#![allow(clippy::float_cmp)]

use std::cmp::Ordering::{Equal, Greater, Less};

use super::lower::{PAIR, Pair, Program, Target};
use super::parse::{Cmp, Op, Ty};

/// The GPU's canonical f32 NaN.
const CANONICAL_NAN: u32 = 0x7fff_ffff;

/// Global memory as a thread sees it. Errors are messages; the caller adds the place.
pub(crate) trait Memory {
    /// `bytes` bytes at `addr`, little-endian, zero-extended.
    fn load(&mut self, addr: u64, bytes: usize, thread: u64) -> Result<u64, String>;
    /// The low `bytes` bytes of `value` at `addr`.
    fn store(&mut self, addr: u64, bytes: usize, value: u64, thread: u64) -> Result<(), String>;
    /// `bytes` bytes at `addr` of the block's shared memory, read by thread `tid` of the block.
    fn load_shared(&mut self, addr: u64, bytes: usize, tid: u32) -> Result<u64, String>;
    /// The low `bytes` bytes of `value` at `addr` of the block's shared memory.
    fn store_shared(&mut self, addr: u64, bytes: usize, value: u64, tid: u32)
    -> Result<(), String>;
}

/// One thread's state between barriers.
#[derive(Debug, Default)]
pub(crate) struct Thread {
    regs: Vec<u64>,
    /// The program whose constants `regs` holds (its template's address), if any.
    holds: Option<usize>,
    pc: usize,
    /// Instructions executed so far.
    pub(crate) count: u64,
    /// The timing model (`super::timing`): the cycle each register's value is ready at.
    ready: Vec<u64>,
    /// The latest cycle an instruction of the thread issued at.
    clock: u64,
    /// The first issue slot of the basic block running, and the instructions it has issued.
    base: u64,
    issued: u64,
    /// The cycle it started at: cycles are counted on from earlier runs of this state, so
    /// that no start needs to clear `ready` (every value in it is at most `horizon`).
    start: u64,
    /// The latest cycle in `ready` or `clock`.
    horizon: u64,
}

impl Thread {
    /// Back to the program's first instruction with zeroed registers. A thread that last ran
    /// `p` keeps its constants and zeroes only the registers `p` may read before writing
    /// ([`Program::unwritten`]): no other register's start value can be observed.
    pub(crate) fn reset(&mut self, p: &Program) {
        let id = p.template.as_ptr() as usize;
        if self.holds == Some(id) && self.regs.len() == p.template.len() {
            for &r in &p.unwritten {
                self.regs[r as usize] = 0;
            }
        } else {
            self.regs.clear();
            self.regs.extend_from_slice(&p.template);
            self.ready.clear();
            self.ready.resize(p.template.len(), 0);
            self.holds = Some(id);
        }
        self.pc = 0;
        self.count = 0;
        // Every register is ready at the start.
        self.start = self.horizon;
        self.clock = self.start;
    }

    /// Cycles since the start (the timing model's).
    pub(crate) fn elapsed(&self) -> u64 {
        self.clock - self.start
    }

    /// Holds the thread until `elapsed` cycles after its start (a barrier releasing it).
    pub(crate) fn wait_until(&mut self, elapsed: u64) {
        self.clock = self.clock.max(self.start + elapsed);
        self.horizon = self.horizon.max(self.clock);
    }
}

/// Where a thread's [`run`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pause {
    /// At its `ret` or the end of its code.
    Exit,
    /// At a `bar.sync`: it continues after it once every thread of the block is there.
    Barrier,
    /// Just after an `mma`, which it has issued: it continues once the warp's lanes have
    /// reached it together and [`mma`] has run it for them.
    Warp,
}

/// Where a thread sits in the grid (one dimension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub(crate) tid: u32,
    pub(crate) ntid: u32,
    pub(crate) ctaid: u32,
    pub(crate) nctaid: u32,
}

impl Place {
    fn global(self) -> u64 {
        u64::from(self.ctaid) * u64::from(self.ntid) + u64::from(self.tid)
    }
}

/// Why a thread stopped early: the PTX line and what went wrong.
#[derive(Debug)]
pub(crate) struct Stop {
    pub(crate) line: u32,
    pub(crate) what: String,
}

fn mask(v: u64, bits: u32) -> u64 {
    if bits >= 64 {
        v
    } else {
        v & ((1u64 << bits) - 1)
    }
}

/// `v`'s low `bits` bits as a signed number.
fn sx(v: u64, bits: u32) -> i64 {
    if bits >= 64 {
        v as i64
    } else {
        let s = 64 - bits;
        ((v << s) as i64) >> s
    }
}

fn f(v: u64) -> f32 {
    f32::from_bits(v as u32)
}

/// An f32 result's bits, NaN canonical as the GPU writes it.
fn fbits(x: f32) -> u64 {
    u64::from(if x.is_nan() {
        CANONICAL_NAN
    } else {
        x.to_bits()
    })
}

/// PTX `max.f32`/`min.f32`: a NaN operand yields the other; two NaNs the canonical NaN;
/// `+0` is above `-0`.
fn fminmax(a: f32, b: f32, max: bool) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => u64::from(CANONICAL_NAN),
        (true, false) => u64::from(b.to_bits()),
        (false, true) => u64::from(a.to_bits()),
        _ if a == b && a == 0.0 => {
            // Both zeros: max takes +0 unless both are -0; min the other way.
            let neg = if max {
                a.is_sign_negative() && b.is_sign_negative()
            } else {
                a.is_sign_negative() || b.is_sign_negative()
            };
            u64::from(if neg { 0x8000_0000u32 } else { 0 })
        }
        _ => {
            let pick_a = if max { a > b } else { a < b };
            u64::from(if pick_a { a.to_bits() } else { b.to_bits() })
        }
    }
}

#[inline]
fn compare(c: Cmp, ty: Ty, a: u64, b: u64) -> Result<bool, String> {
    if ty == Ty::F32 {
        let (x, y) = (f(a), f(b));
        // The plain comparisons are ordered: false when either operand is NaN.
        return Ok(match c {
            Cmp::Eq => x == y,
            Cmp::Ne => x != y && !x.is_nan() && !y.is_nan(),
            Cmp::Lt => x < y,
            Cmp::Le => x <= y,
            Cmp::Gt => x > y,
            Cmp::Ge => x >= y,
            Cmp::Nan => x.is_nan() || y.is_nan(),
            Cmp::Num => !x.is_nan() && !y.is_nan(),
        });
    }
    let bits = ty.bits();
    let ord = if ty.signed() {
        sx(a, bits).cmp(&sx(b, bits))
    } else {
        mask(a, bits).cmp(&mask(b, bits))
    };
    Ok(match c {
        Cmp::Eq => ord == Equal,
        Cmp::Ne => ord != Equal,
        Cmp::Lt if matches!(ty, Ty::B16 | Ty::B32 | Ty::B64) => {
            return Err(format!("ordered comparison of untyped {ty:?}"));
        }
        Cmp::Lt => ord == Less,
        Cmp::Le => ord != Greater,
        Cmp::Gt => ord == Greater,
        Cmp::Ge => ord != Less,
        Cmp::Nan | Cmp::Num => return Err(format!("nan/num comparison of {ty:?}")),
    })
}

/// `cvt` between the types it was parsed with (integer widths, integer to f32 rounding to
/// nearest even, f32 to integer truncating, saturating, NaN to 0).
#[inline]
fn convert(dst: Ty, src: Ty, v: u64) -> u64 {
    if src == Ty::F32 {
        let x = f(v);
        let r: i128 = match dst {
            Ty::S8 => i128::from(x as i8),
            Ty::U8 => i128::from(x as u8),
            Ty::S16 => i128::from(x as i16),
            Ty::U16 => i128::from(x as u16),
            Ty::S32 => i128::from(x as i32),
            Ty::U32 => i128::from(x as u32),
            Ty::S64 => i128::from(x as i64),
            _ => i128::from(x as u64),
        };
        return mask(r as u64, dst.bits());
    }
    let wide = if src.signed() {
        sx(v, src.bits()) as u64
    } else {
        mask(v, src.bits())
    };
    if dst == Ty::F32 {
        let x = if src.signed() {
            wide as i64 as f32
        } else {
            wide as f32
        };
        return u64::from(x.to_bits());
    }
    mask(wide, dst.bits())
}

/// `cvt.f32.f16`: every binary16 value is exact in f32 (a subnormal becomes a normal); a
/// NaN becomes the canonical NaN, as every f32 NaN result here.
fn f16_to_f32(h: u64) -> u64 {
    let h = (h & 0xffff) as u32;
    let sign = (h & 0x8000) << 16;
    let (e, m) = ((h >> 10) & 0x1f, h & 0x3ff);
    u64::from(match (e, m) {
        (0, 0) => sign,
        // m · 2^-24, exact.
        (0, m) => sign | (m as f32 * f32::from_bits(0x3380_0000)).to_bits(),
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => CANONICAL_NAN,
        _ => sign | ((e + 112) << 23) | (m << 13),
    })
}

fn dp4a(a: u64, b: u64, c: u64, a_signed: bool, b_signed: bool) -> u64 {
    let byte = |v: u64, k: u32, signed: bool| -> i64 {
        let x = (v >> (8 * k)) & 0xff;
        if signed { sx(x, 8) } else { x as i64 }
    };
    let mut s = sx(c, 32);
    for k in 0..4 {
        s = s.wrapping_add(byte(a, k, a_signed) * byte(b, k, b_signed));
    }
    mask(s as u64, 32)
}

fn prmt(a: u64, b: u64, c: u64) -> u64 {
    let bytes = (mask(a, 32) | (mask(b, 32) << 32)).to_le_bytes();
    let mut d = 0u64;
    for k in 0..4 {
        let sel = (c >> (4 * k)) & 0xf;
        let mut x = u64::from(bytes[(sel & 7) as usize]);
        if sel & 8 != 0 {
            x = if x & 0x80 != 0 { 0xff } else { 0 };
        }
        d |= x << (8 * k);
    }
    d
}

fn bfi(a: u64, b: u64, pos: u64, len: u64) -> u64 {
    let (pos, len) = (pos & 0xff, len & 0xff);
    let mut out = mask(b, 32);
    for k in 0..len {
        if pos + k >= 32 {
            break;
        }
        let bit = (a >> k) & 1;
        out = (out & !(1 << (pos + k))) | (bit << (pos + k));
    }
    out
}

/// Runs thread `t` of `p` from where it stopped ([`Thread::reset`] for the start) to its `ret`
/// (or the end of its code) or its next barrier, reading parameters from `params` and memory
/// through `mem`. The thread's instruction count grows by what it executed; with `TIMED`, its
/// cycles by the timing model's (`super::timing`).
pub(crate) fn run<const TIMED: bool>(
    p: &Program,
    params: &[u64],
    at: Place,
    mem: &mut impl Memory,
    t: &mut Thread,
    limit: u64,
) -> Result<Pause, Stop> {
    let thread = at.global();
    let Thread {
        regs,
        pc: saved_pc,
        count: saved_count,
        ready,
        clock: saved_clock,
        base: saved_base,
        issued: saved_issued,
        horizon: saved_horizon,
        ..
    } = t;
    let regs = regs.as_mut_slice();
    let ready = ready.as_mut_slice();
    let sp = p.specials;
    regs[sp..sp + 4].copy_from_slice(&[at.tid, at.ntid, at.ctaid, at.nctaid].map(u64::from));
    // In locals while running, written back where the thread pauses (after a fault the
    // thread is not run again).
    let (mut pc, mut count) = (*saved_pc, *saved_count);
    let (mut clock, mut horizon) = (*saved_clock, *saved_horizon);
    let (mut base, mut issued) = (*saved_base, *saved_issued);
    while let Some(inst) = p.code.get(pc) {
        count += 1;
        pc += 1;
        // A basic block starts after every instruction of the last one issued; in it an
        // instruction issues once every register it reads is ready (a guarded-off one too: the
        // guard is known only then), and no sooner than its place in the block allows, one a
        // cycle: what the compiler's scheduling of the block can reach.
        let mut issue = 0;
        if TIMED {
            if inst.leader {
                (base, issued) = (clock + 1, 0);
            }
            let (first, n) = (inst.reads.0 as usize, usize::from(inst.reads.1));
            issue = p.reads[first..first + n]
                .iter()
                .fold(base + issued, |c, &s| c.max(ready[s as usize]));
            issued += 1;
            clock = clock.max(issue);
        }
        let stop = |what: String| Stop {
            line: inst.line,
            what,
        };
        if let Some((g, neg)) = inst.guard
            && (regs[g as usize] != 0) == neg
        {
            continue;
        }
        // Value operand `k` after the destination, cut to the type it is read as.
        let read = |k: usize, regs: &[u64]| -> u64 {
            let s = inst.src[k];
            if s.slot & PAIR == 0 {
                regs[s.slot as usize] & s.mask
            } else {
                let Pair { lo, hi, half } = p.pairs[(s.slot & !PAIR) as usize];
                (mask(regs[lo as usize], half) | (mask(regs[hi as usize], half) << half)) & s.mask
            }
        };
        let address = |regs: &[u64]| -> u64 {
            match inst.target {
                Target::Reg(r, off) => regs[r as usize].wrapping_add(off as u64),
                Target::Abs(a) => a,
                Target::None | Target::Param(_) | Target::Label(_) => 0,
            }
        };
        let value: u64 = match inst.op {
            Op::Ret | Op::Barrier | Op::MmaS8 => {
                (*saved_pc, *saved_count) = (pc, count);
                (*saved_clock, *saved_horizon) = (clock, horizon.max(clock));
                (*saved_base, *saved_issued) = (base, issued);
                return Ok(match inst.op {
                    Op::Ret => Pause::Exit,
                    Op::Barrier => Pause::Barrier,
                    _ => Pause::Warp,
                });
            }
            Op::Bra => {
                // Only a branch goes back, so checking the limit at each taken branch finds
                // every loop that does not end.
                if count > limit {
                    return Err(stop(format!(
                        "more than {limit} instructions (a loop that does not end?)"
                    )));
                }
                if let Target::Label(t) = inst.target {
                    pc = t as usize;
                }
                continue;
            }
            Op::StGlobal(ty) => {
                let (addr, bytes) = aligned(address(regs), ty).map_err(stop)?;
                mem.store(addr, bytes, read(0, regs), thread)
                    .map_err(stop)?;
                continue;
            }
            Op::LdGlobal(ty) => {
                let (addr, bytes) = aligned(address(regs), ty).map_err(stop)?;
                let v = mem.load(addr, bytes, thread).map_err(stop)?;
                if ty.signed() {
                    sx(v, ty.bits()) as u64
                } else {
                    v
                }
            }
            Op::StShared(ty) => {
                let (addr, bytes) = aligned(shared_addr(inst.target, regs), ty).map_err(stop)?;
                mem.store_shared(addr, bytes, read(0, regs), at.tid)
                    .map_err(stop)?;
                continue;
            }
            Op::LdShared(ty) => {
                let (addr, bytes) = aligned(shared_addr(inst.target, regs), ty).map_err(stop)?;
                let v = mem.load_shared(addr, bytes, at.tid).map_err(stop)?;
                if ty.signed() {
                    sx(v, ty.bits()) as u64
                } else {
                    v
                }
            }
            Op::LdParam(ty) => {
                let Target::Param(k) = inst.target else {
                    return Err(stop("parameter load without a parameter".into()));
                };
                let v = *params
                    .get(usize::from(k))
                    .ok_or_else(|| stop(format!("parameter {k} was not passed")))?;
                mask(v, ty.bits())
            }
            Op::Mov(_) | Op::Cvta => read(0, regs),
            Op::Add(Ty::F32) => fbits(f(read(0, regs)) + f(read(1, regs))),
            Op::Sub(Ty::F32) => fbits(f(read(0, regs)) - f(read(1, regs))),
            Op::MulLo(Ty::F32) => fbits(f(read(0, regs)) * f(read(1, regs))),
            Op::Div(Ty::F32) => fbits(f(read(0, regs)) / f(read(1, regs))),
            Op::Sqrt => fbits(libm::sqrtf(f(read(0, regs)))),
            Op::Neg(Ty::F32) => read(0, regs) ^ 0x8000_0000,
            Op::Max(Ty::F32) | Op::Min(Ty::F32) => fminmax(
                f(read(0, regs)),
                f(read(1, regs)),
                matches!(inst.op, Op::Max(_)),
            ),
            Op::Add(ty) => mask(read(0, regs).wrapping_add(read(1, regs)), ty.bits()),
            Op::Sub(ty) => mask(read(0, regs).wrapping_sub(read(1, regs)), ty.bits()),
            Op::MulLo(ty) => mask(read(0, regs).wrapping_mul(read(1, regs)), ty.bits()),
            Op::MadLo(ty) => mask(
                read(0, regs)
                    .wrapping_mul(read(1, regs))
                    .wrapping_add(read(2, regs)),
                ty.bits(),
            ),
            Op::MulWide(ty) => {
                let (a, b) = (read(0, regs), read(1, regs));
                let p = if ty.signed() {
                    sx(a, ty.bits()).wrapping_mul(sx(b, ty.bits())) as u64
                } else {
                    a.wrapping_mul(b)
                };
                mask(p, 2 * ty.bits())
            }
            Op::Div(ty) | Op::Rem(ty) => {
                let (a, b) = (read(0, regs), read(1, regs));
                if b == 0 {
                    return Err(stop("integer division by zero".into()));
                }
                let div = matches!(inst.op, Op::Div(_));
                let r = if ty.signed() {
                    let (x, y) = (sx(a, ty.bits()), sx(b, ty.bits()));
                    (if div {
                        x.wrapping_div(y)
                    } else {
                        x.wrapping_rem(y)
                    }) as u64
                } else if div {
                    a / b
                } else {
                    a % b
                };
                mask(r, ty.bits())
            }
            Op::Min(ty) | Op::Max(ty) => {
                let (a, b) = (read(0, regs), read(1, regs));
                let a_less = if ty.signed() {
                    sx(a, ty.bits()) < sx(b, ty.bits())
                } else {
                    a < b
                };
                if a_less == matches!(inst.op, Op::Min(_)) {
                    a
                } else {
                    b
                }
            }
            Op::Neg(ty) => mask(read(0, regs).wrapping_neg(), ty.bits()),
            Op::And(_) => read(0, regs) & read(1, regs),
            Op::Or(_) => read(0, regs) | read(1, regs),
            Op::Xor(_) => read(0, regs) ^ read(1, regs),
            Op::Not(ty) => mask(!read(0, regs), ty.bits()),
            Op::Shl(ty) | Op::Shr(ty) => {
                let (a, n) = (read(0, regs), read(1, regs));
                let bits = u64::from(ty.bits());
                if matches!(inst.op, Op::Shl(_)) {
                    if n >= bits {
                        0
                    } else {
                        mask(a << n, ty.bits())
                    }
                } else if ty.signed() {
                    mask((sx(a, ty.bits()) >> n.min(bits - 1)) as u64, ty.bits())
                } else if n >= bits {
                    0
                } else {
                    a >> n
                }
            }
            Op::Bfi => bfi(read(0, regs), read(1, regs), read(2, regs), read(3, regs)),
            Op::Prmt => prmt(read(0, regs), read(1, regs), read(2, regs)),
            Op::Dp4a { a_signed, b_signed } => dp4a(
                read(0, regs),
                read(1, regs),
                read(2, regs),
                a_signed,
                b_signed,
            ),
            Op::Cvt { dst, src } => convert(dst, src, read(0, regs)),
            Op::CvtF32F16 => f16_to_f32(read(0, regs)),
            Op::Setp(c, ty) => {
                u64::from(compare(c, ty, read(0, regs), read(1, regs)).map_err(stop)?)
            }
            Op::Selp(_) => {
                if read(2, regs) != 0 {
                    read(0, regs)
                } else {
                    read(1, regs)
                }
            }
        };
        regs[inst.dst as usize] = value & inst.dst_mask;
        if TIMED {
            let done = issue + u64::from(inst.latency);
            ready[inst.dst as usize] = done;
            horizon = horizon.max(done);
        }
    }
    (*saved_pc, *saved_count) = (pc, count);
    (*saved_clock, *saved_horizon) = (clock, horizon.max(clock));
    (*saved_base, *saved_issued) = (base, issued);
    Ok(Pause::Exit)
}

/// The instruction a thread paused at [`Pause::Warp`] issued last (its `mma`).
pub(crate) fn warp_instruction(t: &Thread) -> usize {
    t.pc.wrapping_sub(1)
}

/// Runs the `mma` the 32 `lanes` of a warp have issued (each paused at [`Pause::Warp`] just
/// after the same instruction, which the caller has checked): D = A·B + C over the 16x32
/// signed bytes of A, 32x8 of B and 16x8 int32 of C, each lane holding its share of every
/// fragment as the PTX ISA lays out `mma.m16n8k32` for `.s8` (lane l, g = l / 4, t = l % 4:
/// a0..a3 rows g, g+8, g, g+8 at columns 4t.. (a0, a1) and 16+4t.. (a2, a3); b0, b1 rows 4t..
/// and 16+4t.. of column g; c0..c3 rows g, g, g+8, g+8 at columns 2t, 2t+1), byte i of a word
/// its i-th value. Sums wrap at 32 bits (no `.satfinite`). Every input is read before any
/// result is written, so D may be C's registers. In the timing model the warp issues it once
/// its last lane has, and the results are ready [`super::timing::MMA`] cycles later.
pub(crate) fn mma(p: &Program, lanes: &mut [Thread], timed: bool) {
    let inst = &p.code[warp_instruction(&lanes[0])];
    let m = p.mma[inst.dst as usize];
    let byte = |w: u64, i: usize| i64::from((w >> (8 * i)) as u8 as i8);
    let (mut a, mut b, mut c) = ([[0i64; 32]; 16], [[0i64; 8]; 32], [[0i64; 8]; 16]);
    for (l, t) in lanes.iter().enumerate() {
        let (g, q) = (l / 4, l % 4);
        for (r, &s) in m.a.iter().enumerate() {
            let w = t.regs[s as usize];
            for i in 0..4 {
                a[g + 8 * (r % 2)][4 * q + 16 * (r / 2) + i] = byte(w, i);
            }
        }
        for (r, &s) in m.b.iter().enumerate() {
            let w = t.regs[s as usize];
            for i in 0..4 {
                b[4 * q + 16 * r + i][g] = byte(w, i);
            }
        }
        for (r, &s) in m.c.iter().enumerate() {
            c[g + 8 * (r / 2)][2 * q + r % 2] = sx(t.regs[s as usize], 32);
        }
    }
    let issued = lanes.iter().map(Thread::elapsed).max().unwrap_or(0);
    for (l, t) in lanes.iter_mut().enumerate() {
        let (g, q) = (l / 4, l % 4);
        for (r, &s) in m.d.iter().enumerate() {
            let (row, col) = (g + 8 * (r / 2), 2 * q + r % 2);
            let sum = (0..32).fold(c[row][col], |acc, k| acc + a[row][k] * b[k][col]);
            t.regs[s as usize] = mask(sum as u64, 32);
        }
        if timed {
            t.clock = t.clock.max(t.start + issued);
            let done = t.clock + u64::from(inst.latency);
            for &s in &m.d {
                t.ready[s as usize] = done;
            }
            t.horizon = t.horizon.max(done);
        }
    }
}

/// An access of a `ty` value at `addr` and its size in bytes: refused unless `addr` is a
/// multiple of the size, as the PTX ISA requires (a GPU faults; buffers start 256-aligned on
/// the device and at multiples of 2^40 here, so an offset's alignment is the address's).
fn aligned(addr: u64, ty: Ty) -> Result<(u64, usize), String> {
    let bytes = u64::from(ty.bits() / 8);
    if !addr.is_multiple_of(bytes) {
        return Err(format!(
            "a {bytes}-byte access at address {addr:#x}, which is not a multiple of {bytes}"
        ));
    }
    Ok((addr, bytes as usize))
}

/// A shared access's address: `[reg+off]` (a 32-bit shared address) or `[symbol+off]`.
fn shared_addr(t: Target, regs: &[u64]) -> u64 {
    match t {
        Target::Reg(r, off) => mask(regs[r as usize].wrapping_add(off as u64), 32),
        Target::Abs(a) => a,
        Target::None | Target::Param(_) | Target::Label(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_operations_follow_the_isa() {
        // prmt: selectors 0-7 pick bytes of {b, a}; bit 3 replicates the sign.
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x3210), 0x4433_2211);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x7654), 0x8877_6655);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x0007), 0x1111_1188);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x000f), 0x1111_11ff);
        assert_eq!(prmt(0x4433_2211, 0x8877_6655, 0x0009), 0x1111_1100);
        // bfi: 4 bits of a into b at 8.
        assert_eq!(bfi(0xabcd, 0xffff_ffff, 8, 4), 0xffff_fdff);
        assert_eq!(bfi(0xf, 0, 30, 4), 0xc000_0000);
        // dp4a with unsigned and signed bytes.
        assert_eq!(
            dp4a(0xff01_0203, 0x0101_01ff, 10, false, true),
            10 + 255 + 1 + 2 - 3
        );
        assert_eq!(
            dp4a(0xff01_0203, 0x0101_01ff, 10, true, true),
            10 - 1 + 1 + 2 - 3
        );
        assert_eq!(dp4a(0, 0, 0xffff_ffff, true, true), 0xffff_ffff);
    }

    #[test]
    fn conversions_and_comparisons_follow_the_isa() {
        let nan = u64::from(f32::NAN.to_bits());
        assert_eq!(convert(Ty::S32, Ty::F32, nan), 0);
        assert_eq!(
            convert(Ty::S32, Ty::F32, u64::from(1e10f32.to_bits())),
            0x7fff_ffff
        );
        assert_eq!(
            convert(Ty::S32, Ty::F32, u64::from((-2.7f32).to_bits())),
            0xffff_fffe
        );
        assert_eq!(
            convert(Ty::F32, Ty::S16, 0xffff),
            u64::from((-1.0f32).to_bits())
        );
        assert_eq!(
            convert(Ty::F32, Ty::U32, 0xffff_ffff),
            u64::from(4_294_967_296_f32.to_bits())
        );
        // 16777217 rounds to even.
        assert_eq!(
            convert(Ty::F32, Ty::S32, 16_777_217),
            u64::from(16_777_216f32.to_bits())
        );
        assert_eq!(convert(Ty::S64, Ty::S32, 0xffff_fffe), u64::MAX - 1);
        assert_eq!(convert(Ty::U16, Ty::U32, 0x1234_5678), 0x5678);
        let one = u64::from(1.0f32.to_bits());
        assert!(!compare(Cmp::Ne, Ty::F32, nan, one).unwrap());
        assert!(compare(Cmp::Nan, Ty::F32, nan, one).unwrap());
        assert!(!compare(Cmp::Lt, Ty::F32, nan, one).unwrap());
        assert!(compare(Cmp::Lt, Ty::S32, 0xffff_ffff, 1).unwrap());
        assert!(!compare(Cmp::Lt, Ty::U32, 0xffff_ffff, 1).unwrap());
        assert!(compare(Cmp::Lt, Ty::B32, 0, 1).is_err());
    }

    #[test]
    fn binary16_converts_exactly() {
        let cases: [(u64, u32); 8] = [
            (0x0000, 0x0000_0000),
            (0x8000, 0x8000_0000),
            (0x3c00, 1.0f32.to_bits()),
            (0xc000, (-2.0f32).to_bits()),
            (0x7bff, 65504.0f32.to_bits()),
            // The smallest subnormal, 2^-24, and the largest, 1023 · 2^-24.
            (0x0001, 0x3380_0000),
            (0x83ff, (-1023.0f32 / 16_777_216.0).to_bits()),
            (0xfc00, 0xff80_0000),
        ];
        for (h, want) in cases {
            assert_eq!(f16_to_f32(h), u64::from(want), "{h:#06x}");
        }
        assert_eq!(f16_to_f32(0x7e01), u64::from(CANONICAL_NAN));
        // Only the low 16 bits are the value.
        assert_eq!(f16_to_f32(0xffff_3c00), u64::from(1.0f32.to_bits()));
    }

    /// Global memory of `n` bytes at address 0; no shared memory.
    struct Flat(Vec<u8>);

    impl Memory for Flat {
        fn load(&mut self, addr: u64, bytes: usize, _: u64) -> Result<u64, String> {
            let mut v = [0u8; 8];
            let at = addr as usize;
            v[..bytes].copy_from_slice(self.0.get(at..at + bytes).ok_or("out of range")?);
            Ok(u64::from_le_bytes(v))
        }
        fn store(&mut self, addr: u64, bytes: usize, value: u64, _: u64) -> Result<(), String> {
            let at = addr as usize;
            self.0
                .get_mut(at..at + bytes)
                .ok_or("out of range")?
                .copy_from_slice(&value.to_le_bytes()[..bytes]);
            Ok(())
        }
        fn load_shared(&mut self, _: u64, _: usize, _: u32) -> Result<u64, String> {
            Err("no shared memory".into())
        }
        fn store_shared(&mut self, _: u64, _: usize, _: u64, _: u32) -> Result<(), String> {
            Err("no shared memory".into())
        }
    }

    #[test]
    fn a_reused_thread_starts_from_zeroed_registers() {
        // Block 0 sets %r1 to 5; block 1 leaves it unwritten, so it must store the start
        // value, 0, although the same thread state ran block 0 (and kept its registers).
        let body = "\tld.param.u64 \t%rd1, [k_param_0];\n\tmov.u32 \t%r2, %ctaid.x;\n\
                    \tsetp.eq.s32 \t%p1, %r2, 0;\n\t@%p1 mov.u32 \t%r1, 5;\n\
                    \tmul.wide.u32 \t%rd2, %r2, 4;\n\tadd.s64 \t%rd1, %rd1, %rd2;\n\
                    \tst.global.u32 \t[%rd1], %r1;\n\tret;";
        let ptx = super::super::lower::tests::module(body);
        let p = Program::lower(&super::super::parse::parse_module(&ptx).unwrap()[0]).unwrap();
        assert_eq!(p.unwritten.len(), 1, "only %r1");
        let (mut mem, mut t) = (Flat(vec![0xaa; 8]), Thread::default());
        for ctaid in 0..2 {
            t.reset(&p);
            let at = Place {
                tid: 0,
                ntid: 1,
                ctaid,
                nctaid: 2,
            };
            assert_eq!(
                run::<true>(&p, &[0], at, &mut mem, &mut t, 100).unwrap(),
                Pause::Exit
            );
            assert_eq!(t.count, 8);
        }
        assert_eq!(mem.0, [5, 0, 0, 0, 0, 0, 0, 0]);
    }

    /// `body` in an entry `k(u64)` with f32, 32-bit and 64-bit registers.
    fn timed_program(body: &str) -> Program {
        let ptx = format!(
            ".version 9.5\n.target sm_90\n.address_size 64\n\n.visible .entry k(\n\
             \t.param .u64 k_param_0\n)\n{{\n\t.reg .pred \t%p<3>;\n\t.reg .f32 \t%f<9>;\n\t.reg .b32 \t%r<9>;\n\
             \t.reg .b64 \t%rd<3>;\n{body}\n}}\n"
        );
        Program::lower(&super::super::parse::parse_module(&ptx).unwrap()[0]).unwrap()
    }

    /// Runs `p` as one thread over 8 bytes at address 0: its elapsed cycles.
    fn cycles(p: &Program) -> u64 {
        let (mut mem, mut t) = (Flat(vec![0; 8]), Thread::default());
        t.reset(p);
        let at = Place {
            tid: 0,
            ntid: 1,
            ctaid: 0,
            nctaid: 1,
        };
        assert_eq!(
            run::<true>(p, &[0], at, &mut mem, &mut t, 100).unwrap(),
            Pause::Exit
        );
        t.elapsed()
    }

    #[test]
    fn instructions_wait_for_the_registers_they_read() {
        // One basic block. ld.param issues at 1 (ready at 5); the load waits for its address
        // (5, ready at 405); the first add waits for the load (405), the second for the first
        // (409); the third reads only the load's value, so it issues at 405 too (the block is
        // scheduled by its data, as a compiler would); the store waits for the second add
        // (413), which is the block's last issue: ret issued long before.
        let p = timed_program(
            "\tld.param.u64 \t%rd1, [k_param_0];\n\tld.global.f32 \t%f1, [%rd1];\n\
             \tadd.rn.f32 \t%f2, %f1, %f1;\n\tadd.rn.f32 \t%f3, %f2, %f2;\n\
             \tadd.rn.f32 \t%f4, %f1, %f1;\n\tst.global.f32 \t[%rd1], %f3;\n\tret;",
        );
        assert_eq!(cycles(&p), 413);
        // A chain of dependent adds costs their latency each; independent ones a cycle each.
        let chain = (1..8)
            .map(|k| format!("\tadd.rn.f32 \t%f{}, %f{k}, %f{k};\n", k + 1))
            .collect::<Vec<_>>()
            .concat();
        let apart = (2..9)
            .map(|k| format!("\tadd.rn.f32 \t%f{k}, %f1, %f1;\n"))
            .collect::<Vec<_>>()
            .concat();
        assert_eq!(cycles(&timed_program(&format!("{chain}\tret;"))), 1 + 6 * 4);
        assert_eq!(cycles(&timed_program(&format!("{apart}\tret;"))), 8);
        // A guarded-off instruction still waits for its guard.
        let guarded = timed_program(
            "\tld.param.u64 \t%rd1, [k_param_0];\n\tld.global.u32 \t%r1, [%rd1];\n\
             \tsetp.ne.s32 \t%p1, %r1, 0;\n\t@%p1 add.s32 \t%r2, %r1, 1;\n\tret;",
        );
        assert_eq!(cycles(&guarded), 5 + 400 + 4);
    }

    #[test]
    fn misaligned_accesses_are_faults() {
        // A 4-byte load at address 2, as a GPU would refuse it; the same at 4 is fine.
        let p = timed_program(
            "\tld.param.u64 \t%rd1, [k_param_0];\n\tld.global.u32 \t%r1, [%rd1+2];\n\tret;",
        );
        let (mut mem, mut t) = (Flat(vec![0; 8]), Thread::default());
        t.reset(&p);
        let at = Place {
            tid: 0,
            ntid: 1,
            ctaid: 0,
            nctaid: 1,
        };
        let e = run::<false>(&p, &[0], at, &mut mem, &mut t, 100).unwrap_err();
        assert!(e.what.contains("not a multiple of 4"), "{}", e.what);
        assert_eq!(e.line, 14);
        t.reset(&p);
        assert!(run::<false>(&p, &[2], at, &mut mem, &mut t, 100).is_ok());
        assert_eq!(aligned(6, Ty::U16).unwrap(), (6, 2));
        assert!(aligned(6, Ty::U64).is_err());
    }

    /// `tid · mul + add` in 32 bits (a fragment register's value in the mma tests).
    fn word(tid: u32, mul: i32, add: i32) -> u32 {
        tid.wrapping_mul(mul as u32).wrapping_add(add as u32)
    }

    /// The multipliers and addends of the 14 registers of the mma test: a0..a3, b0, b1,
    /// c0..c3.
    const FRAGMENTS: [(i32, i32); 10] = [
        (-1_640_531_535, 1),
        (-2_048_144_777, 3),
        (374_761_393, 5),
        (668_265_263, 7),
        (1_274_126_177, 11),
        (-1_028_477_379, 13),
        (1_000_003, -5),
        (-7_919, 17),
        (104_729, -1_000_000),
        (65_537, 2_147_483_000),
    ];

    #[test]
    fn an_mma_computes_the_warps_product_from_the_isas_fragments() {
        // Each lane sets its fragments from its thread index, the warp runs the mma, and every
        // result is compared with D = A·B + C built from the PTX ISA's tables read the other
        // way: A[row][k] is byte k % 4 of register 2·(k / 16) + row / 8 of lane
        // 4·(row % 8) + (k % 16) / 4; B[k][col] byte k % 4 of register k / 16 of lane
        // 4·col + (k % 16) / 4; D[row][col] (and C) register 2·(row / 8) + col % 2 of lane
        // 4·(row % 8) + col / 2.
        let sets = FRAGMENTS
            .iter()
            .enumerate()
            .map(|(k, (m, a))| format!("\tmad.lo.s32 \t%r{}, %r1, {m}, {a};", k + 2))
            .collect::<Vec<_>>()
            .join("\n");
        let p = timed_program(&format!(
            "\tmov.u32 \t%r1, %tid.x;\n{sets}\n\tmma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 \
             \t{{%r12, %r13, %r14, %r15}}, {{%r2, %r3, %r4, %r5}}, {{%r6, %r7}}, \
             {{%r8, %r9, %r10, %r11}};\n\tadd.s32 \t%r16, %r12, 1;\n\tret;"
        ));
        let mut lanes: Vec<Thread> = (0..32).map(|_| Thread::default()).collect();
        let mut mem = Flat(Vec::new());
        for (tid, t) in lanes.iter_mut().enumerate() {
            t.reset(&p);
            let at = Place {
                tid: tid as u32,
                ntid: 32,
                ctaid: 0,
                nctaid: 1,
            };
            // Lane 5 is late: the warp issues the mma when it does.
            if tid == 5 {
                t.wait_until(100);
            }
            let pause = run::<true>(&p, &[0], at, &mut mem, t, 100).unwrap();
            assert_eq!(pause, Pause::Warp);
        }
        mma(&p, &mut lanes, true);
        let reg = |lane: usize, r: usize| -> u32 {
            let (m, a) = FRAGMENTS[r];
            word(lane as u32, m, a)
        };
        let byte = |w: u32, i: usize| i64::from((w >> (8 * i)) as u8 as i8);
        let d = p.mma[0].d;
        for row in 0..16 {
            for col in 0..8 {
                let lane = 4 * (row % 8) + col / 2;
                let r = 2 * (row / 8) + col % 2;
                let mut want = i64::from(reg(lane, 6 + r) as i32);
                for k in 0..32 {
                    let a = byte(
                        reg(4 * (row % 8) + (k % 16) / 4, 2 * (k / 16) + row / 8),
                        k % 4,
                    );
                    let b = byte(reg(4 * col + (k % 16) / 4, 4 + k / 16), k % 4);
                    want += a * b;
                }
                let got = lanes[lane].regs[d[r] as usize];
                assert_eq!(got, u64::from(want as i32 as u32), "D[{row}][{col}]");
            }
        }
        // Issued at lane 5's cycle for every lane; results 32 cycles later.
        let issued = lanes[5].elapsed();
        assert!(issued >= 100);
        for t in &lanes {
            assert_eq!(t.elapsed(), issued);
            assert_eq!(
                t.ready[d[0] as usize],
                t.clock + u64::from(super::super::timing::MMA)
            );
        }
        // The lanes go on after it: the add reads a result.
        for (tid, t) in lanes.iter_mut().enumerate() {
            let at = Place {
                tid: tid as u32,
                ntid: 32,
                ctaid: 0,
                nctaid: 1,
            };
            assert_eq!(
                run::<true>(&p, &[0], at, &mut mem, t, 100).unwrap(),
                Pause::Exit
            );
            assert!(t.elapsed() >= issued + 32);
        }
    }

    #[test]
    fn a_loops_iterations_do_not_overlap() {
        // Each iteration's block starts after the last one's: its load waits for the last
        // iteration's add. Block 0 ends at 2; iterations issue their load at 5, 406 and 807,
        // their add 400 cycles later; ret at 1208.
        let p = timed_program(
            "\tld.param.u64 \t%rd1, [k_param_0];\n\tmov.u32 \t%r1, 0;\n$L__BB0_1:\n\
             \tld.global.f32 \t%f1, [%rd1];\n\tadd.rn.f32 \t%f2, %f1, %f1;\n\
             \tadd.s32 \t%r1, %r1, 1;\n\tsetp.lt.s32 \t%p1, %r1, 3;\n\
             \t@%p1 bra \t$L__BB0_1;\n\tret;",
        );
        assert_eq!(cycles(&p), 1208);
    }

    #[test]
    fn a_reused_thread_times_each_run_from_its_own_start() {
        // A load left in flight by one run does not delay the next run's first instruction.
        let p = timed_program(
            "\tld.param.u64 \t%rd1, [k_param_0];\n\tld.global.f32 \t%f1, [%rd1];\n\tret;",
        );
        let (mut mem, mut t) = (Flat(vec![0; 8]), Thread::default());
        let at = Place {
            tid: 0,
            ntid: 1,
            ctaid: 0,
            nctaid: 1,
        };
        for _ in 0..3 {
            t.reset(&p);
            run::<true>(&p, &[0], at, &mut mem, &mut t, 100).unwrap();
            assert_eq!(t.elapsed(), 5);
        }
        t.reset(&p);
        t.wait_until(100);
        assert_eq!(t.elapsed(), 100);
    }

    #[test]
    fn float_results_are_the_gpus() {
        assert_eq!(
            fbits(f32::INFINITY - f32::INFINITY),
            u64::from(CANONICAL_NAN)
        );
        assert_eq!(fminmax(f32::NAN, 2.0, true), u64::from(2.0f32.to_bits()));
        assert_eq!(fminmax(-0.0, 0.0, true), 0);
        assert_eq!(fminmax(-0.0, 0.0, false), 0x8000_0000);
        // A subnormal product stays (no flush to zero).
        let tiny = f32::from_bits(0x0080_0000) * 0.5;
        assert_eq!(fbits(tiny), 0x0040_0000);
    }
}
