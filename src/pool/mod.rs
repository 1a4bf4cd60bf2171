//! The Pool: the program's own JavaScript functions on Node worker threads,
//! scheduled by the work-stealing [`crate::scheduler::Scheduler`].
//!
//! # Data path
//!
//! `pool.run(arg)` serializes `arg` (v8 structured clone) and calls
//! `NativePool.submit(id, bytes)`: the bytes are copied once into a [`Task`]
//! pushed on the injector — no message to any worker. A worker thread's
//! runtime (`lib/pool-worker.js`) calls `PoolWorker.take()`, which pops its
//! own deque, takes a batch from the injector, or steals from another worker;
//! the payload is handed to JavaScript as an external Buffer (no copy). The
//! result bytes go back through `PoolWorker.complete()` onto the *origin*
//! environment's completion port, batched with every other completion.
//!
//! # Task states
//!
//! Each task has a [`JobCtl`]: QUEUED until a worker takes it (RUNNING), or
//! CANCELLED by an abort while queued (a worker that later pops it drops it).
//! `tasks` maps every unfinished task to the worker running it, so that a
//! worker that dies rejects exactly its own running tasks.
//!
//! # Shutdown order
//!
//! JavaScript closes the pool (no more submits), waits for outstanding tasks
//! (`close`) or rejects them (`destroy`), then terminates the workers. Each
//! worker's `PoolWorker` is dropped with its environment and unregisters,
//! returning any task still in its deque to the injector.

pub mod exports;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::bridge::job::{Cancel, JobCtl};
use crate::bridge::port::PortInner;
use crate::bridge::value::{Completion, Outcome, Value};
use crate::scheduler::Scheduler;

/// One call of `pool.run`. Primitive arguments travel as themselves (no
/// serializer on either side); everything else as v8 structured-clone bytes.
pub struct Task {
    pub id: u32,
    pub ctl: Arc<JobCtl>,
    pub payload: Value,
    pub name: Option<Arc<str>>,
}

#[derive(Clone)]
struct Entry {
    ctl: Arc<JobCtl>,
    /// The thread id of the worker running it, once taken.
    worker: Option<u32>,
    /// A copy of the argument while running, kept only when a worker runs
    /// several tasks at once: if one of them is aborted and the worker is
    /// replaced, the others are queued again instead of being lost.
    retained: Option<(Value, Option<Arc<str>>)>,
}

/// What `cancel` found.
pub enum Cancelled {
    TooLate,
    BeforeStart,
    /// Running on the worker with this thread id.
    Running(u32),
}

pub struct PoolCore {
    pub sched: Scheduler<Task>,
    origin: Arc<PortInner>,
    tasks: Mutex<HashMap<u32, Entry>>,
    retain: bool,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl PoolCore {
    /// `retain`: keep a copy of each running task's argument (for pools
    /// whose workers run several tasks at once; see [`Entry::retained`]).
    pub fn new(origin: Arc<PortInner>, retain: bool) -> Self {
        PoolCore {
            sched: Scheduler::new(),
            origin,
            tasks: Mutex::new(HashMap::new()),
            retain,
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Entry>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a batch of tasks (one lock, one wake-up round). False once closed.
    pub fn submit_batch(&self, batch: Vec<(u32, Value)>, name: Option<Arc<str>>) -> bool {
        if self.sched.is_closed() {
            return false;
        }
        let mut tasks = Vec::with_capacity(batch.len());
        {
            let mut map = self.lock();
            for (id, payload) in batch {
                let ctl = Arc::new(JobCtl::new());
                map.insert(
                    id,
                    Entry {
                        ctl: ctl.clone(),
                        worker: None,
                        retained: None,
                    },
                );
                tasks.push(Task {
                    id,
                    ctl,
                    payload,
                    name: name.clone(),
                });
            }
        }
        self.sched.submit_many(tasks)
    }

    /// Marks a taken task as running on `worker`; false if it was cancelled.
    pub fn start(&self, task: &Task, worker: u32) -> bool {
        if !task.ctl.start() {
            return false;
        }
        if let Some(e) = self.lock().get_mut(&task.id) {
            e.worker = Some(worker);
            if self.retain {
                e.retained = Some((task.payload.clone(), task.name.clone()));
            }
        }
        true
    }

    pub fn cancel(&self, id: u32) -> Cancelled {
        let mut tasks = self.lock();
        let Some(entry) = tasks.get(&id).cloned() else {
            return Cancelled::TooLate;
        };
        match entry.ctl.cancel() {
            Cancel::BeforeStart => {
                tasks.remove(&id);
                Cancelled::BeforeStart
            }
            Cancel::WhileRunning => {
                // JavaScript rejects now and replaces the worker; its result,
                // if it ever comes, is dropped.
                tasks.remove(&id);
                Cancelled::Running(entry.worker.unwrap_or(0))
            }
            Cancel::TooLate => Cancelled::TooLate,
        }
    }

    /// Delivers a task's result or (`failed`) its serialized exception.
    pub fn complete(&self, id: u32, failed: bool, value: Value) {
        if self.lock().remove(&id).is_none() {
            return; // cancelled, or its worker was declared dead
        }
        let outcome = if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
            Outcome::Rejected(value)
        } else {
            self.completed.fetch_add(1, Ordering::Relaxed);
            Outcome::Ok(value)
        };
        self.origin.complete(Completion { id, outcome });
    }

    /// Rejects every task running on the worker with thread id `worker`.
    pub fn worker_died(&self, worker: u32, message: &str) -> u32 {
        let dead: Vec<u32> = {
            let mut tasks = self.lock();
            let ids: Vec<u32> = tasks
                .iter()
                .filter(|(_, e)| e.worker == Some(worker))
                .map(|(&id, _)| id)
                .collect();
            for id in &ids {
                tasks.remove(id);
            }
            ids
        };
        for &id in &dead {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.origin.complete(Completion {
                id,
                outcome: Outcome::error("ERR_SPINDLE_WORKER_DIED", message.to_string()),
            });
        }
        dead.len() as u32
    }

    /// Queues again the tasks that were running on worker `worker` (which
    /// is being replaced after an abort) and whose arguments were retained;
    /// rejects the others. Returns how many were queued again.
    pub fn requeue_worker(&self, worker: u32) -> u32 {
        let mut again = Vec::new();
        let mut lost = Vec::new();
        {
            let mut tasks = self.lock();
            for (&id, e) in tasks.iter_mut() {
                if e.worker != Some(worker) {
                    continue;
                }
                match e.retained.take() {
                    Some((payload, name)) => {
                        let ctl = Arc::new(JobCtl::new());
                        e.ctl = ctl.clone();
                        e.worker = None;
                        again.push(Task {
                            id,
                            ctl,
                            payload,
                            name,
                        });
                    }
                    None => lost.push(id),
                }
            }
            for id in &lost {
                tasks.remove(id);
            }
        }
        for id in lost {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.origin.complete(Completion {
                id,
                outcome: Outcome::error(
                    "ERR_SPINDLE_WORKER_DIED",
                    "the worker running this task was replaced after another task's abort",
                ),
            });
        }
        let n = again.len() as u32;
        if !again.is_empty() {
            self.sched.submit_many(again);
        }
        n
    }

    pub fn running(&self) -> usize {
        self.lock().values().filter(|e| e.worker.is_some()).count()
    }

    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}
