//! The compute thread: runs drivers apart from the async runtime, one batch at a time (the
//! engine uses its own threads inside a batch). A batch is requests of one model that the
//! driver may decode together ([`aikernel_drivers::Driver::run_batch`]); each request's
//! answer, or its failure, is its own.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aikernel_drivers::{Driver, InferenceOutput, InferenceRequest, PrefixStats};
use tokio::sync::oneshot;

use crate::NodeError;
use crate::models::Drivers;

/// One batch and where its answers go.
struct Task {
    model_id: u64,
    requests: Vec<InferenceRequest>,
    reply: oneshot::Sender<Result<Computation, NodeError>>,
}

/// What one batch gave.
#[derive(Debug)]
pub struct Computation {
    /// The driver's answer to each request, in order (a failure is that request's alone).
    pub outputs: Vec<Result<InferenceOutput, NodeError>>,
    /// How long the driver took for the whole batch.
    pub took: Duration,
    /// The model's prefix cache afterwards (counters since the node started), if it has one.
    pub prefix_total: Option<PrefixStats>,
    /// What this batch did in it: prompt tokens reused and computed.
    pub prefix: PrefixStats,
}

/// Handle to the compute thread.
#[derive(Debug, Clone)]
pub struct Worker {
    tasks: mpsc::Sender<Task>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("model_id", &self.model_id)
            .field("requests", &self.requests.len())
            .finish_non_exhaustive()
    }
}

/// Runs `requests` on `driver`, timing the batch and its use of the prefix cache.
fn run(driver: &dyn Driver, requests: &[InferenceRequest]) -> Computation {
    let before = driver.prefix_stats();
    let started = Instant::now();
    let outputs = driver
        .run_batch(requests)
        .into_iter()
        .map(|r| r.map_err(NodeError::from))
        .collect();
    let took = started.elapsed();
    let prefix_total = driver.prefix_stats();
    let prefix = prefix_total
        .zip(before)
        .map(|(after, before)| after.since(&before))
        .unwrap_or_default();
    Computation {
        outputs,
        took,
        prefix_total,
        prefix,
    }
}

impl Worker {
    /// Starts the compute thread over `drivers`.
    pub fn start(drivers: Arc<Drivers>) -> Result<Worker, NodeError> {
        let (tasks, rx) = mpsc::channel::<Task>();
        std::thread::Builder::new()
            .name("aikernel-compute".to_owned())
            .spawn(move || {
                for task in rx {
                    let result = match drivers.get(&task.model_id) {
                        None => Err(NodeError::Model {
                            id: task.model_id,
                            reason: "not served by this node".to_owned(),
                        }),
                        Some(driver) => Ok(run(driver.as_ref(), &task.requests)),
                    };
                    let _ = task.reply.send(result);
                }
            })
            .map_err(|source| NodeError::Io {
                path: "compute thread".into(),
                source,
            })?;
        Ok(Worker { tasks })
    }

    /// Runs `requests` on model `model_id` as one batch and waits for the answers; `Err`
    /// only when the batch could not run at all (a model this node does not serve, a stopped
    /// compute thread).
    pub async fn compute(
        &self,
        model_id: u64,
        requests: Vec<InferenceRequest>,
    ) -> Result<Computation, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.tasks
            .send(Task {
                model_id,
                requests,
                reply,
            })
            .map_err(|_| NodeError::Model {
                id: model_id,
                reason: "the compute thread has stopped".to_owned(),
            })?;
        answer.await.map_err(|_| NodeError::Model {
            id: model_id,
            reason: "the compute thread dropped the request".to_owned(),
        })?
    }
}
