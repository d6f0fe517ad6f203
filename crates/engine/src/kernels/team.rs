//! A persistent team of worker threads for the forward pass's parallel steps.
//!
//! A decode step of a small model runs a few hundred short parallel steps; a fork/join per
//! step through a general pool costs more than the work. The team's workers spin briefly on
//! an epoch counter between steps, then park. `run` hands every member the same job and
//! returns once all finished, so the job may borrow the caller's data. Jobs only split
//! independent outputs (the caller's rule); the team adds no arithmetic of its own.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

/// A job as a raw trait-object pointer whose lifetime `run` guarantees.
type JobPtr = *const (dyn Fn(usize) + Sync);

/// Spin iterations before a waiting thread yields or parks (when every member has a core).
const SPINS: u32 = 20_000;

/// State shared by the caller and the workers.
struct Shared {
    /// Bumped once per job; workers run the job when they see a new value.
    epoch: AtomicU64,
    /// Workers done with the current job.
    done: AtomicUsize,
    /// Set on drop: workers exit.
    stop: AtomicBool,
    /// Set when a worker's job panicked; `run` panics in turn.
    panicked: AtomicBool,
    /// Spin iterations before waiting threads yield: `SPINS`, or 0 when the team has more
    /// members than the machine has cores (a spinning thread would take a worker's core).
    spins: u32,
    /// The current job (written only while every worker is idle).
    job: std::sync::Mutex<Option<SendPtr>>,
}

/// The job pointer, sent to workers that only use it while `run` waits for them.
#[derive(Clone, Copy)]
struct SendPtr(JobPtr);

// SAFETY: the pointee is `Sync` (shared calls from several threads are allowed) and `run`
// keeps it alive until every worker reported done.
unsafe impl Send for SendPtr {}

/// A team of `threads - 1` workers plus the calling thread.
pub(crate) struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Held for the whole of `run`: one job at a time even if the team is shared.
    busy: std::sync::Mutex<()>,
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
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            spins: if std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
                >= threads
            {
                SPINS
            } else {
                0
            },
            job: std::sync::Mutex::new(None),
        });
        let mut workers = Vec::new();
        for id in 1..threads.max(1) {
            let sh = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("aikernel-{id}"))
                .spawn(move || worker(&sh, id));
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    drop(Team {
                        shared,
                        workers,
                        busy: std::sync::Mutex::new(()),
                    });
                    return Err(e);
                }
            }
        }
        Ok(Team {
            shared,
            workers,
            busy: std::sync::Mutex::new(()),
        })
    }

    /// Members, the caller included.
    pub(crate) fn size(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(member)` on every member (the caller is member 0) and returns when all
    /// returned.
    pub(crate) fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            f(0);
            return;
        }
        let _busy = self
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let sh = &*self.shared;
        // SAFETY: only the lifetime is erased. The pointer is read by workers after the
        // epoch bump below and used until they increment `done`; this function does not
        // return (and `f` is not dropped) before `done` counts every worker.
        #[allow(clippy::transmute_ptr_to_ptr)] // only a lifetime changes; `as` cannot do it
        let ptr: JobPtr = unsafe {
            std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), JobPtr>(std::ptr::from_ref(f))
        };
        *sh.job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(SendPtr(ptr));
        sh.done.store(0, Ordering::Relaxed);
        sh.epoch.fetch_add(1, Ordering::Release);
        for w in &self.workers {
            w.thread().unpark();
        }
        // A panic in `f` must not return before the workers finish with it.
        let guard = WaitAll {
            sh,
            n: self.workers.len(),
        };
        f(0);
        drop(guard);
        assert!(
            !sh.panicked.swap(false, Ordering::AcqRel),
            "a worker thread panicked"
        );
    }
}

/// Waits (also while unwinding) until every worker finished the current job.
struct WaitAll<'a> {
    sh: &'a Shared,
    n: usize,
}

impl Drop for WaitAll<'_> {
    fn drop(&mut self) {
        let mut spins = 0u32;
        while self.sh.done.load(Ordering::Acquire) < self.n {
            if spins < self.sh.spins {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::Release);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

fn worker(sh: &Shared, id: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        let epoch = loop {
            let e = sh.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            if spins < sh.spins {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(std::time::Duration::from_millis(1));
            }
        };
        seen = epoch;
        if sh.stop.load(Ordering::Acquire) {
            return;
        }
        let job = *sh
            .job
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(SendPtr(p)) = job {
            // A panicking job still counts as done so the caller never waits forever.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // SAFETY: `run` keeps the job alive until this worker increments `done`.
                let f = unsafe { &*p };
                f(id);
            }));
            if r.is_err() {
                sh.panicked.store(true, Ordering::Release);
            }
        }
        sh.done.fetch_add(1, Ordering::Release);
    }
}
