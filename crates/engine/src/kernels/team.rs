//! A persistent team of worker threads for the forward pass's parallel steps.
//!
//! A decode step of a small model runs a few hundred short parallel steps; a fork/join per
//! step through a general pool costs more than the work. The team's workers spin briefly
//! between steps, then park.
//!
//! A job is a work-claiming loop (it takes items from a shared counter until none is left),
//! so it needs no particular number of members: the caller runs it, and every worker that
//! wakes while the job is open joins in. When the caller's own loop ends every item has been
//! claimed; it closes the job (no worker may join any more) and waits only for the workers
//! inside it. A worker that is descheduled when a step starts therefore never delays it,
//! which matters on a busy machine. When waiting for a worker inside a step still takes long
//! (it was descheduled while holding work), the caller runs the following steps alone for a
//! while (exponential back-off), since a second thread that the OS does not run only adds
//! waiting. Jobs only split independent outputs (the caller's rule);
//! the team adds no arithmetic of its own.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A job as a raw trait-object pointer whose lifetime `run` guarantees.
type JobPtr = *const (dyn Fn() + Sync);

/// Spin iterations before a waiting thread yields or parks (when every member has a core).
const SPINS: u32 = 20_000;

/// Spin iterations between two yields while waiting.
const YIELD_EVERY: u32 = 256;

/// A wait for workers longer than this, and longer than the caller's own part of the step,
/// counts as a stall (a descheduled worker).
const STALL: std::time::Duration = std::time::Duration::from_micros(500);
/// How long the caller runs steps alone after a first stall, doubling per further stall.
/// A time, not a count of steps: a count made a one-off stall of a millisecond cost
/// hundreds of milliseconds of one-thread work in a long prompt's prefill, whose steps are
/// a hundred times a decode step's.
const SOLO_MIN: std::time::Duration = std::time::Duration::from_millis(2);
/// Longest such window.
const SOLO_MAX: std::time::Duration = std::time::Duration::from_millis(256);

/// `state` bit: the current job accepts workers.
const OPEN: u64 = 1 << 31;
/// `state` bits: workers inside the current job.
const ACTIVE: u64 = OPEN - 1;
/// `state` shift of the job counter (epoch).
const EPOCH_SHIFT: u32 = 32;
/// One epoch in `state` (the counter wraps harmlessly: only changes are compared).
const EPOCH_ONE: u64 = 1 << EPOCH_SHIFT;

/// State shared by the caller and the workers.
struct Shared {
    /// Epoch of the current job (high half), `OPEN`, and the number of workers inside it.
    state: AtomicU64,
    /// Set on drop: workers exit.
    stop: AtomicBool,
    /// Set when a worker's job panicked; `run` panics in turn.
    panicked: AtomicBool,
    /// Spin iterations before waiting threads yield: `SPINS`, or 0 when the team has more
    /// members than the machine has cores (a spinning thread would take a worker's core).
    spins: u32,
    /// Where the current job's pointer lies (on `run`'s stack); written only while no
    /// worker is inside a job, read by workers once they are counted inside it. An atomic,
    /// not a lock: every worker reads it at the start of every step.
    job: AtomicPtr<JobPtr>,
}

/// A team of `threads - 1` workers plus the calling thread.
pub(crate) struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Held for the whole of `run`: one job at a time even if the team is shared.
    busy: Mutex<()>,
    /// When the caller runs steps alone (after stalls).
    solo: Mutex<Solo>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team")
            .field("threads", &(self.workers.len() + 1))
            .finish_non_exhaustive()
    }
}

impl Team {
    /// Starts `threads - 1` workers.
    pub(crate) fn new(threads: usize) -> std::io::Result<Team> {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            spins: if threads <= cores { SPINS } else { 0 },
            job: AtomicPtr::new(std::ptr::null_mut()),
        });
        let mut team = Team {
            shared,
            workers: Vec::new(),
            busy: Mutex::new(()),
            solo: Mutex::new(Solo::default()),
        };
        for id in 1..threads.max(1) {
            let sh = Arc::clone(&team.shared);
            // On error `team` is dropped, which stops the workers already started.
            team.workers.push(
                std::thread::Builder::new()
                    .name(format!("aikernel-{id}"))
                    .spawn(move || worker(&sh))?,
            );
        }
        Ok(team)
    }

    /// Members, the caller included.
    pub(crate) fn size(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs the work-claiming loop `f` on the calling thread and on every worker that joins
    /// while it runs; returns when the caller's `f` returned and every worker that joined
    /// has left. `f` must return only when no work is left to claim.
    pub(crate) fn run(&self, f: &(dyn Fn() + Sync)) {
        if self.workers.is_empty() {
            f();
            return;
        }
        let _busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        let alone = self
            .solo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .alone(std::time::Instant::now());
        if alone {
            f();
            return;
        }
        let sh = &*self.shared;
        // SAFETY: only the lifetime is erased. Workers dereference the pointer only after
        // joining the open job below, and this function does not return (so `f` outlives
        // every use) before the job is closed and every worker that joined has left.
        #[allow(clippy::transmute_ptr_to_ptr)] // only a lifetime changes; `as` cannot do it
        let ptr: JobPtr = unsafe {
            std::mem::transmute::<*const (dyn Fn() + Sync + '_), JobPtr>(std::ptr::from_ref(f))
        };
        // The pointer's own home for this step: `ptr` stays on this frame until we return.
        sh.job
            .store(std::ptr::from_ref(&ptr).cast_mut(), Ordering::Relaxed);
        // Next epoch, open. An add, not a store: a worker may be counted in for a moment
        // (it looked at a closed job and is about to leave), and its count must survive.
        sh.state.fetch_add(EPOCH_ONE | OPEN, Ordering::Release);
        for w in &self.workers {
            w.thread().unpark();
        }
        // Close and wait even if `f` panics: no worker may still use it afterwards.
        let guard = CloseAndWait(sh);
        let started = std::time::Instant::now();
        f();
        let ran = started.elapsed();
        let closed = std::time::Instant::now();
        drop(guard);
        self.solo
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .after_step(std::time::Instant::now(), closed.elapsed(), ran);
        assert!(
            !sh.panicked.swap(false, Ordering::AcqRel),
            "a worker thread panicked"
        );
    }
}

/// When the caller runs steps alone. A long wait for workers means one holding work was
/// descheduled (the machine is busy): the caller then runs every step alone for a window of
/// time, which doubles while stalls keep happening (up to [`SOLO_MAX`]) and halves with
/// every step that does not stall (down to [`SOLO_MIN`]). "Long" is against the caller's own
/// share of the step too: a worker finishing one long item (a long prompt's attention or
/// matmul chunk) after the caller is not a stall.
#[derive(Debug)]
struct Solo {
    /// The end of the current window, if one is open.
    until: Option<std::time::Instant>,
    /// The next window's length.
    window: std::time::Duration,
}

impl Default for Solo {
    fn default() -> Self {
        Solo {
            until: None,
            window: SOLO_MIN,
        }
    }
}

impl Solo {
    /// Whether a step starting at `now` runs on the caller alone.
    fn alone(&mut self, now: std::time::Instant) -> bool {
        match self.until {
            Some(until) if now < until => true,
            Some(_) => {
                self.until = None;
                false
            }
            None => false,
        }
    }

    /// Records a step run by the team, ended at `now`: the caller `waited` for workers
    /// after its own part, which `ran` that long.
    fn after_step(
        &mut self,
        now: std::time::Instant,
        waited: std::time::Duration,
        ran: std::time::Duration,
    ) {
        if waited > STALL.max(ran) {
            self.until = Some(now + self.window);
            self.window = (self.window * 2).min(SOLO_MAX);
        } else {
            self.window = (self.window / 2).max(SOLO_MIN);
        }
    }
}

/// Closes the current job and waits until no worker is inside it.
struct CloseAndWait<'a>(&'a Shared);

impl Drop for CloseAndWait<'_> {
    fn drop(&mut self) {
        let sh = self.0;
        sh.state.fetch_and(!OPEN, Ordering::AcqRel);
        let mut spins = 0u32;
        while sh.state.load(Ordering::Acquire) & ACTIVE != 0 {
            if spins < sh.spins && !spins.is_multiple_of(YIELD_EVERY) {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            spins += 1;
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // A new epoch (never an old one: a worker may have missed jobs) wakes the workers;
        // they see `stop` and exit. No job runs now (`&mut self`).
        self.shared.state.fetch_add(EPOCH_ONE, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

fn worker(sh: &Shared) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        let s = loop {
            let s = sh.state.load(Ordering::Acquire);
            if s >> EPOCH_SHIFT != seen {
                break s;
            }
            // Spin, yielding now and then (a thread sharing this core, the caller
            // included on a busy machine, gets to run), then park.
            if spins < sh.spins {
                spins += 1;
                if spins.is_multiple_of(YIELD_EVERY) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::park_timeout(std::time::Duration::from_millis(1));
            }
        };
        if sh.stop.load(Ordering::Acquire) {
            return;
        }
        if s & OPEN == 0 {
            // Already closed (this worker came late): wait for the next one.
            seen = s >> EPOCH_SHIFT;
            continue;
        }
        // Count in first, then look: one `fetch_add` per worker and step (a compare-exchange
        // loop here retried under contention from every worker at once). Inside if the job
        // then open is open, whichever epoch it is by now; otherwise count out again.
        let now = sh.state.fetch_add(1, Ordering::AcqRel);
        seen = if now & OPEN != 0 {
            now >> EPOCH_SHIFT
        } else {
            s >> EPOCH_SHIFT
        };
        if now & OPEN != 0 {
            // The acquire above makes `run`'s store of `job` visible.
            let slot = sh.job.load(Ordering::Relaxed);
            if !slot.is_null() {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // SAFETY: this worker is counted inside the open job, so `run` has not
                    // returned: the slot on its frame and the job it points to are alive,
                    // and the job is `Sync`.
                    let f = unsafe { &**slot };
                    f();
                }));
                if r.is_err() {
                    sh.panicked.store(true, Ordering::Release);
                }
            }
        }
        sh.state.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::{SOLO_MAX, SOLO_MIN, STALL, Solo, Team};

    /// A stall opens a window of `SOLO_MIN`; stalls in a row double it up to `SOLO_MAX`;
    /// clean steps halve it back; a long item of the caller's own is not a stall.
    #[test]
    fn stalls_open_solo_windows_that_back_off() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let stall = STALL + ms(1);
        let mut solo = Solo::default();
        assert!(!solo.alone(t0));
        // The caller ran 10 ms and waited 2 ms: a worker finishing a long item.
        solo.after_step(t0, ms(2), ms(10));
        assert!(!solo.alone(t0));
        solo.after_step(t0, stall, Duration::ZERO);
        assert!(solo.alone(t0 + SOLO_MIN.saturating_sub(ms(1))));
        assert!(!solo.alone(t0 + SOLO_MIN));
        // Stall after stall: each window twice the last, capped.
        let mut now = t0 + SOLO_MIN;
        let mut expect = SOLO_MIN * 2;
        for _ in 0..12 {
            solo.after_step(now, stall, Duration::ZERO);
            assert!(solo.alone(now + expect.saturating_sub(ms(1))));
            assert!(!solo.alone(now + expect));
            now += expect;
            expect = (expect * 2).min(SOLO_MAX);
        }
        assert_eq!(expect, SOLO_MAX);
        // Clean steps halve the next window back to the minimum.
        for _ in 0..12 {
            solo.after_step(now, Duration::ZERO, Duration::ZERO);
            assert!(!solo.alone(now));
        }
        solo.after_step(now, stall, Duration::ZERO);
        assert!(!solo.alone(now + SOLO_MIN));
    }

    /// Every item is claimed exactly once whatever joins, over many short jobs, and teams
    /// whose workers missed jobs still shut down.
    #[test]
    fn items_claimed_once_and_teams_shut_down() {
        for threads in [1, 2, 3, 8] {
            let team = Team::new(threads).unwrap();
            assert_eq!(team.size(), threads);
            for round in 0..300 {
                let items = round % 37;
                let next = AtomicUsize::new(0);
                let hits: Vec<AtomicUsize> = (0..items).map(|_| AtomicUsize::new(0)).collect();
                team.run(&|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items {
                            break;
                        }
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    }
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
            }
            drop(team);
            // A team dropped before any job (its workers saw nothing) shuts down too.
            drop(Team::new(threads).unwrap());
        }
    }
}
