//! The compute thread: runs drivers apart from the async runtime, one request at a time
//! (the engine uses its own threads inside a request).

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aikernel_drivers::{InferenceOutput, InferenceRequest};
use tokio::sync::oneshot;

use crate::NodeError;
use crate::models::Drivers;

/// One computation and where its answer goes.
struct Task {
    model_id: u64,
    request: InferenceRequest,
    reply: oneshot::Sender<Result<(InferenceOutput, Duration), NodeError>>,
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
                            let started = Instant::now();
                            driver
                                .run(&task.request)
                                .map(|out| (out, started.elapsed()))
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
    ) -> Result<(InferenceOutput, Duration), NodeError> {
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
