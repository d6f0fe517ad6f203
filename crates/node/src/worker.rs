//! The compute thread: runs drivers apart from the async runtime, one request at a time
//! (the engine uses its own threads inside a request).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aikernel_drivers::{InferenceOutput, InferenceRequest, PrefixStats};
use tokio::sync::oneshot;

use crate::NodeError;
use crate::models::Drivers;

/// One computation and where its answer goes.
struct Task {
    model_id: u64,
    request: InferenceRequest,
    reply: oneshot::Sender<Result<Computation, NodeError>>,
}

/// What one computation gave.
#[derive(Debug)]
pub struct Computation {
    /// The driver's answer.
    pub output: InferenceOutput,
    /// How long the driver took.
    pub took: Duration,
    /// The model's prefix cache afterwards (counters since the node started), if it has one.
    pub prefix_total: Option<PrefixStats>,
    /// What this computation did in it: prompt tokens reused and computed.
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
            .finish_non_exhaustive()
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
                        Some(driver) => {
                            let before = driver.prefix_stats();
                            let started = Instant::now();
                            driver
                                .run(&task.request)
                                .map(|output| {
                                    let took = started.elapsed();
                                    let prefix_total = driver.prefix_stats();
                                    let prefix = prefix_total
                                        .zip(before)
                                        .map(|(after, before)| after.since(&before))
                                        .unwrap_or_default();
                                    Computation {
                                        output,
                                        took,
                                        prefix_total,
                                        prefix,
                                    }
                                })
                                .map_err(NodeError::from)
                        }
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

    /// Runs `request` on model `model_id` and waits for the answer.
    pub async fn compute(
        &self,
        model_id: u64,
        request: InferenceRequest,
    ) -> Result<Computation, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.tasks
            .send(Task {
                model_id,
                request,
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
