//! A launch's grid run block by block ([`Grid`]), on one thread or, when there are several
//! blocks and cores, on several workers that each run a contiguous share of the blocks.
//!
//! Workers write to their own copies of the buffers ([`LaunchMemory`]). Their shares commit
//! together only when no byte one worker wrote was written or read by another, and no worker
//! faulted: then no block could have met another worker's writes in a run on one thread, and
//! the result is that run's. Otherwise the launch runs again on one thread, from the
//! unchanged buffers, and that run's result or error is the launch's, so every race, fault
//! and message is the one the one-thread run reports.
//!
//! A byte one thread reads before another thread of the launch writes it is a race the run
//! cannot see (the reader meets the old value, and a store checks only earlier writers). So a
//! launch may also run in the mirrored order ([`Order::Mirrored`]: blocks last first, each
//! phase's threads first first) from the same buffers, its writes dropped: every two threads
//! meet in opposite orders in the two runs, so a read and a write of one byte by two threads
//! that are not ordered by a barrier is, in one of them, a read or write of a byte another
//! thread wrote, and an error.

use std::ops::Range;

use super::PtxError;
use super::exec::{self, Pause, Place, Thread};
use super::lower::Program;
use super::memory::{BLOCK, Buf, LaunchMemory, Part, commit, overlap, traffic};
use super::timing::BARRIER;

/// Threads of a warp.
const WARP: usize = 32;

/// Instructions one thread may run before it counts as a loop that does not end.
const THREAD_LIMIT: u64 = 1 << 32;

/// What a launch executed: instructions over every thread, its longest block's serial
/// depth, and what the timing model (`super::timing`) needs: the longest block's cycles, the
/// warp instructions (each warp's busiest lane's instructions, summed) and the distinct
/// global bytes read and written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Ran {
    pub(super) executed: u64,
    pub(super) longest: u64,
    pub(super) cycles: u64,
    pub(super) warp_instructions: u64,
    pub(super) bytes: u64,
}

impl Ran {
    /// Two shares of a launch's blocks together.
    fn join(self, o: Ran) -> Ran {
        Ran {
            executed: self.executed + o.executed,
            longest: self.longest.max(o.longest),
            cycles: self.cycles.max(o.cycles),
            warp_instructions: self.warp_instructions + o.warp_instructions,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// The order a launch's blocks, and each phase's threads, run in. Both are orders a GPU may
/// take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    /// Blocks first first; each phase's threads last first, so threads writing what thread 0
    /// then reads (the usual missing barrier) are seen as a race.
    Usual,
    /// Blocks last first; each phase's threads first first.
    Mirrored,
}

/// One launch: its program, parameter values and number of blocks.
pub(super) struct Grid<'a> {
    pub(super) kernel: &'static str,
    pub(super) program: &'a Program,
    pub(super) params: &'a [u64],
    pub(super) blocks: u32,
    /// Whether threads are timed by the timing model (`super::timing`): `Ran::cycles` is 0
    /// otherwise.
    pub(super) timed: bool,
}

impl Grid<'_> {
    /// Runs the launch over `bufs` on up to `workers` threads, then, with `mirrored`, again
    /// in the mirrored order from the same buffers (its writes dropped), and commits the first
    /// run's writes; on an error in either `bufs` is unchanged.
    pub(super) fn run(
        &self,
        bufs: &mut [Option<Buf>],
        workers: usize,
        mirrored: bool,
    ) -> Result<Ran, PtxError> {
        let (mut ran, parts) = self.execute(bufs, workers, Order::Usual)?;
        if self.timed {
            ran.bytes = traffic(&parts);
        }
        if mirrored {
            self.execute(bufs, workers, Order::Mirrored)
                .map_err(|e| match e {
                    PtxError::Fault {
                        kernel,
                        thread,
                        line,
                        what,
                    } => PtxError::Fault {
                        kernel,
                        thread,
                        line,
                        what: format!(
                            "{what} (with blocks and threads run in the mirrored order; the \
                             usual order ran without a fault)"
                        ),
                    },
                    other => other,
                })?;
        }
        commit(bufs, parts);
        Ok(ran)
    }

    /// Runs the launch over `base` in `order` on up to `workers` threads: what it cost and
    /// what it wrote, `base` unchanged. Several workers' shares stand only when none faulted
    /// and none touched what another wrote; otherwise the launch runs again on one thread.
    fn execute(
        &self,
        base: &[Option<Buf>],
        workers: usize,
        order: Order,
    ) -> Result<(Ran, Vec<Part>), PtxError> {
        let workers = workers.min(self.blocks as usize);
        if workers > 1 {
            let shares = split(self.blocks, workers);
            let expected = shares.len();
            let runs: Vec<(Result<Ran, PtxError>, Part)> = std::thread::scope(|s| {
                let handles: Vec<_> = shares
                    .into_iter()
                    .map(|share| {
                        s.spawn(move || {
                            let mut mem = LaunchMemory::new(base);
                            let ran = self.run_blocks(share, order, &mut mem);
                            (ran, mem.into_part())
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            let complete = runs.len() == expected && runs.iter().all(|(r, _)| r.is_ok());
            let (ran, parts): (Vec<_>, Vec<_>) = runs.into_iter().unzip();
            if complete && !overlap(&parts) {
                let ran = ran.into_iter().flatten().fold(Ran::default(), Ran::join);
                return Ok((ran, parts));
            }
        }
        let mut mem = LaunchMemory::new(base);
        let ran = self.run_blocks(0..self.blocks, order, &mut mem)?;
        Ok((ran, vec![mem.into_part()]))
    }

    /// Runs blocks `blocks` one after another in `mem`, in `order`.
    fn run_blocks(
        &self,
        blocks: Range<u32>,
        order: Order,
        mem: &mut LaunchMemory<'_>,
    ) -> Result<Ran, PtxError> {
        let mut threads: Vec<Thread> = (0..BLOCK).map(|_| Thread::default()).collect();
        let mut ran = Ran::default();
        let blocks: Vec<u32> = match order {
            Order::Usual => blocks.collect(),
            Order::Mirrored => blocks.rev().collect(),
        };
        for ctaid in blocks {
            mem.shared.reset(self.program.shared);
            for t in &mut threads {
                t.reset(self.program);
            }
            // The block runs in phases: every thread still running goes on to its next barrier
            // or its end, in the usual order the last thread first. Any order is one a GPU may
            // take; this one makes the usual missing barrier visible (threads writing what
            // thread 0 then reads: thread 0 runs after them and meets their writes in its own
            // phase, where the first order would have it read stale memory without a trace).
            // The block's depth is each phase's longest thread, summed. In the timing model a
            // barrier releases its threads BARRIER cycles after the last one arrives.
            let mut running: Vec<u32> = match order {
                Order::Usual => (0..BLOCK).rev().collect(),
                Order::Mirrored => (0..BLOCK).collect(),
            };
            // A thread that reaches an `mma` waits there for its warp's other lanes: once the
            // threads running have all paused, each warp whose lanes all stand at the same
            // `mma` runs it, and they go on (in the same barrier phase) while the threads at
            // a barrier wait for them.
            let mut depth = 0;
            let (mut parked, mut arrived) = (Vec::new(), 0);
            while !running.is_empty() {
                let (mut waiting, mut at_mma, mut phase_longest) = (Vec::new(), Vec::new(), 0);
                for &tid in &running {
                    let at = Place {
                        tid,
                        ntid: BLOCK,
                        ctaid,
                        nctaid: self.blocks,
                    };
                    let t = &mut threads[tid as usize];
                    let before = t.count;
                    let fault = |line: u32, what: String| PtxError::Fault {
                        kernel: self.kernel,
                        thread: u64::from(ctaid) * u64::from(BLOCK) + u64::from(tid),
                        line,
                        what,
                    };
                    let pause = if self.timed {
                        exec::run::<true>(self.program, self.params, at, mem, t, THREAD_LIMIT)
                    } else {
                        exec::run::<false>(self.program, self.params, at, mem, t, THREAD_LIMIT)
                    }
                    .map_err(|s| fault(s.line, s.what))?;
                    phase_longest = phase_longest.max(t.count - before);
                    match pause {
                        Pause::Barrier => {
                            arrived = arrived.max(t.elapsed());
                            waiting.push(tid);
                        }
                        Pause::Warp => at_mma.push(tid),
                        Pause::Exit => arrived = arrived.max(t.elapsed()),
                    }
                }
                depth += phase_longest;
                if !at_mma.is_empty() {
                    self.run_mma(&mut threads, &at_mma, ctaid)?;
                    parked.append(&mut waiting);
                    running = at_mma;
                    continue;
                }
                waiting.append(&mut parked);
                match order {
                    Order::Usual => waiting.sort_unstable_by(|a, b| b.cmp(a)),
                    Order::Mirrored => waiting.sort_unstable(),
                }
                if !waiting.is_empty() && waiting.len() != BLOCK as usize {
                    return Err(PtxError::Fault {
                        kernel: self.kernel,
                        thread: u64::from(ctaid) * u64::from(BLOCK),
                        line: 0,
                        what: format!(
                            "{} of the block's {BLOCK} threads wait at a barrier the others \
                         left by returning",
                            waiting.len()
                        ),
                    });
                }
                for &tid in &waiting {
                    threads[tid as usize].wait_until(arrived + BARRIER);
                }
                arrived = 0;
                mem.shared.phase += 1;
                running = waiting;
            }
            ran = ran.join(Ran {
                executed: threads.iter().map(|t| t.count).sum(),
                longest: depth,
                cycles: threads.iter().map(Thread::elapsed).max().unwrap_or(0),
                warp_instructions: threads
                    .chunks(WARP)
                    .map(|w| w.iter().map(|t| t.count).max().unwrap_or(0))
                    .sum(),
                bytes: 0,
            });
        }
        Ok(ran)
    }
}

impl Grid<'_> {
    /// Runs the `mma` of every warp among `paused` (threads of block `ctaid` that paused at
    /// one), once all 32 of its lanes stand just after the same `mma`: the instruction is
    /// warp-wide, so a lane that returned, waits at a barrier or stands at another `mma` is
    /// a fault, as on a GPU, where it is undefined.
    fn run_mma(&self, threads: &mut [Thread], paused: &[u32], ctaid: u32) -> Result<(), PtxError> {
        let mut warps: Vec<usize> = paused.iter().map(|&t| t as usize / WARP).collect();
        warps.sort_unstable();
        warps.dedup();
        for w in warps {
            let lanes = &mut threads[w * WARP..(w + 1) * WARP];
            let at = exec::warp_instruction(&lanes[0]);
            let together = (w * WARP..(w + 1) * WARP).all(|tid| paused.contains(&(tid as u32)))
                && lanes.iter().all(|t| exec::warp_instruction(t) == at);
            if !together {
                let line = self.program.code.get(at).map_or(0, |m| m.line);
                return Err(PtxError::Fault {
                    kernel: self.kernel,
                    thread: u64::from(ctaid) * u64::from(BLOCK) + (w * WARP) as u64,
                    line,
                    what: format!(
                        "warp {w}'s lanes do not all execute this mma together (it is \
                         warp-wide: every lane must reach the same one)"
                    ),
                });
            }
            exec::mma(self.program, lanes, self.timed);
        }
        Ok(())
    }
}

/// `blocks` cut into `workers` contiguous shares, as even as they can be.
fn split(blocks: u32, workers: usize) -> Vec<Range<u32>> {
    let w = u32::try_from(workers).unwrap_or(u32::MAX).max(1);
    (0..w)
        .map(|k| {
            let at = |k: u32| (u64::from(blocks) * u64::from(k) / u64::from(w)) as u32;
            at(k)..at(k + 1)
        })
        .filter(|r| !r.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::lower::Program;
    use super::super::parse::parse_module;
    use super::{Grid, split};

    #[test]
    fn a_barrier_releases_the_block_after_its_slowest_thread() {
        // Thread 0 runs five dependent adds before the barrier; the others branch to it.
        let chain = (1..6)
            .map(|k| format!("\tadd.rn.f32 \t%f{}, %f{k}, %f{k};\n", k + 1))
            .collect::<Vec<_>>()
            .concat();
        let body = format!(
            "\tmov.u32 \t%r1, %tid.x;\n\tsetp.ne.s32 \t%p1, %r1, 0;\n\t@%p1 bra \t$L__BB0_2;\n\
             {chain}$L__BB0_2:\n\tbar.sync \t0;\n\tret;"
        );
        let ran = one_block(&body).unwrap();
        // mov 1, setp 5, bra 9, adds 10 .. 26, the barrier 27 (the others' at 10), released
        // 20 cycles later, ret 48.
        assert_eq!(ran.cycles, 48);
        assert_eq!(ran.executed, 10 + 255 * 5);
        // Warp 0 issues thread 0's ten instructions, the seven others five each.
        assert_eq!(ran.warp_instructions, 10 + 7 * 5);
        assert_eq!(ran.longest, 8 + 2, "phases: 8 instructions, then 2");
        assert_eq!(ran.bytes, 0);
    }

    /// A one-block launch of a kernel with registers `%p`, `%r` and `%f` around `body`.
    fn one_block(body: &str) -> Result<super::Ran, super::PtxError> {
        let ptx = format!(
            ".version 9.5\n.target sm_90\n.address_size 64\n\n.visible .entry k(\n\
             \t.param .u64 k_param_0\n)\n{{\n\t.reg .pred \t%p<3>;\n\t.reg .f32 \t%f<9>;\n\
             \t.reg .b32 \t%r<20>;\n{body}\n}}\n"
        );
        let p = Program::lower(&parse_module(&ptx).unwrap()[0]).unwrap();
        let grid = Grid {
            kernel: "k",
            program: &p,
            params: &[0],
            blocks: 1,
            timed: true,
        };
        grid.run(&mut [], 1, false)
    }

    const MMA: &str = "\tmma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 \t{%r2, %r3, %r4, %r5}, \
                       {%r6, %r7, %r8, %r9}, {%r10, %r11}, {%r2, %r3, %r4, %r5};\n";

    #[test]
    fn every_warp_runs_its_mma_and_goes_on_to_the_barrier() {
        // Warps 0 to 7 each run the mma (zero fragments) between two barriers; each lane adds
        // one to a result.
        let body = format!(
            "\tmov.u32 \t%r1, %tid.x;\n\tbar.sync \t0;\n{MMA}\tadd.s32 \t%r12, %r2, 1;\n\
             \tbar.sync \t0;\n\tret;"
        );
        let ran = one_block(&body).unwrap();
        assert_eq!(ran.executed, 256 * 6);
        // mov, the barrier's release, the mma, its result 32 cycles on, the add, the barrier.
        assert!(ran.cycles > 20 + 32, "{}", ran.cycles);
    }

    #[test]
    fn an_mma_that_some_lanes_skip_is_a_fault() {
        // Lane 3 of each warp branches around the mma: the other 31 wait for it in vain.
        let body = format!(
            "\tmov.u32 \t%r1, %tid.x;\n\tand.b32 \t%r13, %r1, 31;\n\
             \tsetp.eq.s32 \t%p1, %r13, 3;\n\t@%p1 bra \t$L__skip;\n{MMA}$L__skip:\n\tret;"
        );
        match one_block(&body) {
            Err(super::PtxError::Fault { line, what, .. }) => {
                assert!(what.contains("do not all execute this mma"), "{what}");
                assert_eq!(line, 16, "the mma's line");
            }
            other => panic!("{other:?}"),
        }
        // Lanes at two different mma instructions.
        let body = format!(
            "\tmov.u32 \t%r1, %tid.x;\n\tand.b32 \t%r13, %r1, 31;\n\
             \tsetp.eq.s32 \t%p1, %r13, 3;\n\t@%p1 bra \t$L__other;\n{MMA}\tret;\n\
             $L__other:\n{MMA}\tret;"
        );
        assert!(matches!(
            one_block(&body),
            Err(super::PtxError::Fault { .. })
        ));
    }

    #[test]
    fn shares_cover_every_block_once_in_order() {
        assert_eq!(split(10, 3), vec![0..3, 3..6, 6..10]);
        assert_eq!(split(2, 2), vec![0..1, 1..2]);
        assert_eq!(split(5, 1), vec![0..5]);
        for (blocks, workers) in [(1, 1), (7, 2), (100, 16), (3, 8)] {
            let s = split(blocks, workers);
            assert_eq!(s.first().map(|r| r.start), Some(0));
            assert_eq!(s.last().map(|r| r.end), Some(blocks));
            assert!(s.windows(2).all(|w| w[0].end == w[1].start));
        }
    }
}
