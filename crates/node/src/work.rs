//! The node's work loop between two polls: note the chain's head and clock, rejoin a replaced
//! chain, collect the prompt steps and the computation that finished, start the next steps and
//! the most urgent computation, and keep house (stake, jail, earnings) now and then.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy::primitives::U256;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::NodeError;
use crate::clock::ClockWatch;
use crate::daemon::{Ctx, Step};
use crate::follow::{Follower, Head};
use crate::jobs::{Job, priority};
use crate::metrics;
use crate::{stake, upkeep};

/// How often housekeeping runs when nothing asks for it sooner.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);
/// The pause before another try at joining a replaced chain.
const REJOIN_RETRY: Duration = Duration::from_secs(5);

/// What the loop keeps between polls.
#[derive(Debug)]
pub(crate) struct WorkLoop {
    /// The event follower: the jobs and the head.
    pub(crate) follower: Follower,
    clock: ClockWatch,
    /// When to (try to) register on a replaced chain.
    rejoin_at: Option<Instant>,
    /// Running prompt steps.
    running: JoinSet<(Job, Result<Step, NodeError>)>,
    /// Prompts with a running step.
    busy: HashSet<U256>,
    /// Which prompt each running step belongs to, so a step that panics frees its prompt.
    step_of: HashMap<tokio::task::Id, U256>,
    /// The prompt being computed (one at a time: the compute thread is one).
    computing: Option<U256>,
    compute_task: JoinSet<(U256, Result<(), NodeError>)>,
    /// Jobs whose output is needed before their commit.
    want_compute: HashMap<U256, Job>,
    last_housekeeping: Instant,
}

impl WorkLoop {
    /// Opens the follower (from the checkpoint); housekeeping is due at once.
    pub(crate) async fn open(ctx: &Ctx) -> Result<WorkLoop, NodeError> {
        Ok(WorkLoop {
            follower: Follower::open(ctx).await?,
            clock: ClockWatch::new(ctx.config.chain_clock_tolerance_s),
            rejoin_at: None,
            running: JoinSet::new(),
            busy: HashSet::new(),
            step_of: HashMap::new(),
            computing: None,
            compute_task: JoinSet::new(),
            want_compute: HashMap::new(),
            last_housekeeping: Instant::now() - Duration::from_hours(1),
        })
    }

    /// One round after a successful poll that saw `head`; an error only for what the
    /// operator must fix (a model the replaced chain registers differently).
    pub(crate) async fn round(&mut self, ctx: &Arc<Ctx>, head: Head) -> Result<(), NodeError> {
        self.observe(ctx, head);
        self.rejoin_if_due(ctx).await?;
        self.collect_steps(ctx);
        self.collect_computation();
        self.spawn_steps(ctx, head);
        self.schedule_computation(ctx);
        self.housekeeping(ctx, head).await;
        Ok(())
    }

    /// Records the poll (health) and the chain clock's skew, and notes a replaced chain.
    fn observe(&mut self, ctx: &Ctx, head: Head) {
        let wall = metrics::unix_now();
        ctx.metrics.last_poll_unix.store(wall, Ordering::Relaxed);
        let (skew, change) = self.clock.observe(head.timestamp, wall);
        ctx.metrics
            .chain_clock_skew_s
            .store(skew, Ordering::Relaxed);
        if let Some(change) = change {
            crate::clock::log_change(change, ctx.config.chain_clock_tolerance_s);
        }
        if self.follower.take_reset() {
            self.rejoin_at = Some(Instant::now());
        }
    }

    /// Another chain: register there too (a restarted devnet knows nothing of us), retrying
    /// while it is still being set up (model, EAI for the node).
    async fn rejoin_if_due(&mut self, ctx: &Ctx) -> Result<(), NodeError> {
        if self.rejoin_at.is_none_or(|at| at > Instant::now()) {
            return Ok(());
        }
        match upkeep::rejoin(ctx).await {
            Ok(()) => {
                self.rejoin_at = None;
                ctx.stake_check_due.store(true, Ordering::Relaxed);
            }
            Err(e @ NodeError::Model { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "joining the new chain failed; retrying in 5 s");
                self.rejoin_at = Some(Instant::now() + REJOIN_RETRY);
            }
        }
        Ok(())
    }

    /// Takes the results of the prompt steps that finished: forgets finished jobs, queues
    /// the ones that need their output computed, logs failures (retried at the next poll).
    fn collect_steps(&mut self, ctx: &Ctx) {
        while let Some(done) = self.running.try_join_next_with_id() {
            let (task, job, step) = match done {
                Ok((task, (job, step))) => (task, job, step),
                Err(e) => {
                    if let Some(id) = self.step_of.remove(&e.id()) {
                        self.busy.remove(&id);
                        tracing::error!(prompt = %id, error = %e, "prompt step panicked; will retry");
                    }
                    continue;
                }
            };
            let Some(id) = self.step_of.remove(&task) else {
                continue;
            };
            self.busy.remove(&id);
            self.after_step(ctx, id, &job, step);
        }
    }

    fn after_step(&mut self, ctx: &Ctx, id: U256, job: &Job, step: Result<Step, NodeError>) {
        match step {
            Ok(Step::Done) if self.follower.job(id) == Some(job) => {
                if let Err(e) = self.follower.remove(ctx, id) {
                    tracing::warn!(prompt = %id, error = %e, "could not forget the job");
                }
            }
            Ok(Step::NeedCompute) => {
                if let Some(job) = self.follower.job(id) {
                    self.want_compute.insert(id, job.clone());
                }
            }
            // Done for a job that changed meanwhile (a new round's draw): another look.
            Ok(Step::Done | Step::Wait) => {}
            Err(e) if e.is_transient() => {
                tracing::warn!(prompt = %id, error = %e, "will retry");
            }
            Err(e) => tracing::error!(prompt = %id, error = %e, "prompt step failed"),
        }
    }

    /// Takes the result of the computation that finished, if one did.
    fn collect_computation(&mut self) {
        while let Some(done) = self.compute_task.try_join_next() {
            match (done, self.computing.take()) {
                (Ok((id, Err(e))), _) => {
                    tracing::error!(prompt = %id, error = %e, "computation failed; not committing");
                }
                (Err(e), Some(id)) => {
                    tracing::error!(prompt = %id, error = %e, "computation panicked; not committing");
                }
                _ => {}
            }
        }
        for id in self.follower.finished_jobs() {
            self.want_compute.remove(&id);
        }
    }

    /// Starts the next step of every job that has none running.
    fn spawn_steps(&mut self, ctx: &Arc<Ctx>, head: Head) {
        for job in self.follower.jobs() {
            let id = job.id;
            if self.busy.insert(id) {
                let ctx = Arc::clone(ctx);
                let job = job.clone();
                let task = self.running.spawn(async move {
                    let step = crate::duty::advance(&ctx, &job, head).await;
                    (job, step)
                });
                self.step_of.insert(task.id(), id);
            }
        }
    }

    /// Starts the most urgent computation when the compute thread is free.
    fn schedule_computation(&mut self, ctx: &Arc<Ctx>) {
        ctx.metrics
            .queue_depth
            .store(self.want_compute.len() as u64, Ordering::Relaxed);
        if self.computing.is_some() {
            return;
        }
        let Some(job) = self
            .want_compute
            .values()
            .max_by_key(|j| priority(j))
            .cloned()
        else {
            return;
        };
        self.want_compute.remove(&job.id);
        self.computing = Some(job.id);
        let ctx = Arc::clone(ctx);
        self.compute_task
            .spawn(async move { (job.id, crate::duty::compute(&ctx, &job).await) });
    }

    /// Housekeeping and the stake check, every 30 s or when the chain changed the node's
    /// standing.
    async fn housekeeping(&mut self, ctx: &Ctx, head: Head) {
        let due = ctx.stake_check_due.swap(false, Ordering::Relaxed);
        if !due && self.last_housekeeping.elapsed() <= HOUSEKEEPING_EVERY {
            return;
        }
        self.last_housekeeping = Instant::now();
        if let Err(e) = upkeep::housekeeping(ctx, head.timestamp).await {
            tracing::warn!(error = %e, "housekeeping failed");
        }
        if let Err(e) = stake::maintain(ctx, head.timestamp).await {
            tracing::warn!(error = %e, "checking the stake failed");
        }
    }
}
