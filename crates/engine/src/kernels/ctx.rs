//! The execution context: the resolved kernel and a persistent thread team, and the limits
//! on threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Kernel;
use super::team::Team;

/// Why an execution context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CtxError {
    /// No kernel has this name.
    #[error("unknown kernel {0:?} (expected one of: {names})", names = Kernel::ALL.map(Kernel::name).join(", "))]
    UnknownKernel(String),
    /// The requested kernel needs instructions this CPU does not have.
    #[error("kernel {0} is not supported by this CPU (`auto` picks one that is)")]
    KernelUnsupported(&'static str),
    /// A worker thread could not be started.
    #[error("thread pool: {0}")]
    Threads(#[from] std::io::Error),
    /// More threads than [`MAX_THREADS`] were asked for.
    #[error("{requested} threads requested, at most {MAX_THREADS} are allowed")]
    TooManyThreads {
        /// The count asked for.
        requested: usize,
    },
}

/// The most threads a context runs. Past the machine's cores, threads only wait on each
/// other; far past them, starting and joining them is all a step does.
pub const MAX_THREADS: usize = 256;

/// The most threads worth asking for on this machine: four per core, at most
/// [`MAX_THREADS`]. Front ends refuse counts above it (a typo such as `--threads 1000`
/// would otherwise run for minutes).
pub fn thread_limit() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    cores.saturating_mul(4).min(MAX_THREADS)
}

/// Execution context: kernel choice and a persistent thread team.
#[derive(Debug)]
pub struct Ctx {
    kernel: Kernel,
    team: Team,
}

impl Ctx {
    /// A context running `threads` threads (0 or 1: the calling thread only) with `kernel`
    /// (refused when this CPU lacks it; `Auto` picks the fastest supported one).
    /// More than [`MAX_THREADS`] threads are refused.
    pub fn new(threads: usize, kernel: Kernel) -> Result<Ctx, CtxError> {
        if threads > MAX_THREADS {
            return Err(CtxError::TooManyThreads { requested: threads });
        }
        Ok(Ctx {
            kernel: kernel.resolve()?,
            team: Team::new(threads)?,
        })
    }

    /// The concrete kernel this context runs (never `Auto`).
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Whether the AVX2 paths of attention and `expf` run (same bits as the scalar ones).
    pub(crate) fn simd(&self) -> bool {
        matches!(self.kernel, Kernel::Avx2 | Kernel::Avx512)
    }

    /// Matmul rows per kernel step: chunks handed to threads are a multiple of it.
    pub(super) fn row_group(&self) -> usize {
        match self.kernel {
            Kernel::Avx512 => 16,
            Kernel::Avx2 | Kernel::Neon | Kernel::Scalar | Kernel::Auto => 8,
        }
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.team.size()
    }

    /// Calls `f(i)` once for every `i` in `0..items`, spread over the team (each member
    /// claims the next unclaimed item). `f` must only write outputs owned by item `i`.
    pub(crate) fn parallel(&self, items: usize, f: impl Fn(usize) + Sync) {
        if self.team.size() == 1 || items <= 1 {
            (0..items).for_each(f);
            return;
        }
        let next = AtomicUsize::new(0);
        self.team.run(&|| {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items {
                    break;
                }
                f(i);
            }
        });
    }
}
