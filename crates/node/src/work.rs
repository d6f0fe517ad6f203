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
    /// The prompts being computed: one batch at a time (the compute thread is one).
    computing: Vec<U256>,
    compute_task: JoinSet<Vec<(U256, Result<(), NodeError>)>>,
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
            computing: Vec::new(),
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

    /// Takes the results of the batch that finished, if one did: each job's failure is
    /// logged on its own (the job is computed again when its commit step asks).
    fn collect_computation(&mut self) {
        while let Some(done) = self.compute_task.try_join_next() {
            let computing = std::mem::take(&mut self.computing);
            match done {
                Ok(results) => {
                    for (id, result) in results {
                        if let Err(e) = result {
                            tracing::error!(prompt = %id, error = %e, "computation failed; not committing");
                        }
                    }
                }
                Err(e) => {
                    for id in computing {
                        tracing::error!(prompt = %id, error = %e, "computation panicked; not committing");
                    }
                }
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

    /// Starts the next batch when the compute thread is free: the most urgent job and, up to
    /// `max_batch` in all, the most urgent others of its model.
    fn schedule_computation(&mut self, ctx: &Arc<Ctx>) {
        ctx.metrics
            .queue_depth
            .store(self.want_compute.len() as u64, Ordering::Relaxed);
        if !self.computing.is_empty() {
            return;
        }
        let batch = next_batch(&self.want_compute, ctx.config.batch_size());
        if batch.is_empty() {
            return;
        }
        for job in &batch {
            self.want_compute.remove(&job.id);
        }
        self.computing = batch.iter().map(|j| j.id).collect();
        let ctx = Arc::clone(ctx);
        self.compute_task
            .spawn(async move { crate::compute::compute(&ctx, &batch).await });
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

/// Up to `max` waiting jobs to compute together, most urgent first ([`priority`]): the most
/// urgent job and the most urgent others of its model.
fn next_batch(waiting: &HashMap<U256, Job>, max: usize) -> Vec<Job> {
    let mut jobs: Vec<&Job> = waiting.values().collect();
    jobs.sort_by(|a, b| priority(b).cmp(&priority(a)).then(a.id.cmp(&b.id)));
    let Some(model) = jobs.first().map(|j| j.model_id) else {
        return Vec::new();
    };
    jobs.into_iter()
        .filter(|j| j.model_id == model)
        .take(max.max(1))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, model_id: u64, deadline: u64) -> Job {
        Job {
            id: U256::from(id),
            model_id,
            fee: U256::from(1),
            assigned_block: 1,
            round: 0,
            identity: alloy::primitives::B256::ZERO,
            commit_deadline: deadline,
        }
    }

    #[test]
    fn a_batch_is_the_most_urgent_job_and_the_most_urgent_of_its_model() {
        let waiting: HashMap<U256, Job> = [
            job(1, 1, 500),
            job(2, 2, 100),
            job(3, 2, 300),
            job(4, 1, 50),
            job(5, 2, 200),
            job(6, 2, 0),
        ]
        .into_iter()
        .map(|j| (j.id, j))
        .collect();
        let ids = |batch: Vec<Job>| batch.iter().map(|j| j.id.to::<u64>()).collect::<Vec<_>>();
        assert_eq!(ids(next_batch(&waiting, 1)), [4]);
        assert_eq!(ids(next_batch(&waiting, 8)), [4, 1]);
        let mut rest = waiting.clone();
        rest.remove(&U256::from(4));
        rest.remove(&U256::from(1));
        // An unknown deadline comes last.
        assert_eq!(ids(next_batch(&rest, 8)), [2, 5, 3, 6]);
        assert_eq!(ids(next_batch(&rest, 2)), [2, 5]);
        assert!(next_batch(&HashMap::new(), 4).is_empty());
    }
}
