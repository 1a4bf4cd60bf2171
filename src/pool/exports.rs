//! The napi classes of the Pool: `NativePool` lives in the environment that
//! owns the pool; `PoolWorker` lives in each worker thread's environment and
//! finds the pool through a process-wide registry of handles (native objects
//! cannot cross environments).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{Cancelled, PoolCore, Task};
use crate::bridge::port::Port;
use crate::bridge::value::{Completion, Outcome, Value};
use crate::scheduler::Local;

static NEXT_HANDLE: AtomicU32 = AtomicU32::new(1);
static POOLS: Mutex<Option<HashMap<u32, Weak<PoolCore>>>> = Mutex::new(None);

fn lookup(handle: u32) -> Option<Arc<PoolCore>> {
    POOLS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()?
        .get(&handle)?
        .upgrade()
}

/// The scheduler side of one Pool (internal; see `Pool` in index.d.ts).
#[napi]
pub struct NativePool {
    core: Arc<PoolCore>,
    handle: u32,
}

/// Counters of a pool.
#[napi(object)]
pub struct NativePoolStats {
    pub queued: u32,
    pub running: u32,
    pub completed: f64,
    pub failed: f64,
    pub stolen: f64,
    pub stolen_by_worker: Vec<f64>,
    pub parks: f64,
    pub wakes: f64,
}

#[napi]
impl NativePool {
    /// Creates a pool whose results complete on `port`.
    #[napi(constructor)]
    pub fn new(port: &Port) -> Self {
        let core = Arc::new(PoolCore::new(port.inner().clone()));
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        POOLS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(handle, Arc::downgrade(&core));
        NativePool { core, handle }
    }

    /// The handle workers attach with.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Queues task `id` (its serialized argument is copied once). False once closed.
    #[napi]
    pub fn submit(&self, id: u32, payload: &[u8], name: Option<String>) -> bool {
        self.core
            .submit(id, payload.to_vec(), name.map(|n| Arc::from(n.as_str())))
    }

    /// -1 too late, 0 cancelled before it started, else the thread id of the
    /// worker running it (which JavaScript then replaces).
    #[napi]
    pub fn cancel(&self, id: u32) -> i64 {
        match self.core.cancel(id) {
            Cancelled::TooLate => -1,
            Cancelled::BeforeStart => 0,
            Cancelled::Running(worker) => worker as i64,
        }
    }

    /// Rejects the tasks running on a worker that died; returns how many.
    #[napi]
    pub fn worker_died(&self, thread_id: u32, message: String) -> u32 {
        self.core.worker_died(thread_id, &message)
    }

    /// Refuses further submissions and wakes every parked worker.
    #[napi]
    pub fn close(&self) {
        self.core.sched.close();
    }

    #[napi]
    pub fn stats(&self) -> NativePoolStats {
        let c = self.core.sched.counters();
        NativePoolStats {
            queued: self.core.sched.queued() as u32,
            running: self.core.running() as u32,
            completed: self.core.completed() as f64,
            failed: self.core.failed() as f64,
            stolen: c.stolen as f64,
            stolen_by_worker: self
                .core
                .sched
                .stolen_by_worker()
                .into_iter()
                .map(|n| n as f64)
                .collect(),
            parks: c.parks as f64,
            wakes: c.wakes as f64,
        }
    }
}

impl Drop for NativePool {
    fn drop(&mut self) {
        self.core.sched.close();
        if let Some(map) = POOLS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            map.remove(&self.handle);
        }
    }
}

/// A task handed to a worker's JavaScript.
#[napi(object)]
pub struct TakenTask {
    pub id: u32,
    pub payload: Buffer,
    pub name: Option<String>,
}

/// A worker thread's end of the scheduler (internal).
#[napi]
pub struct PoolWorker {
    core: Arc<PoolCore>,
    local: Option<Local<Task>>,
    thread_id: u32,
}

#[napi]
impl PoolWorker {
    /// Attaches the calling worker thread to pool `handle`. `wake_id` is an
    /// operation id open on this environment's `port`: completing it wakes
    /// the worker's runtime once it has parked.
    #[napi(constructor)]
    pub fn new(handle: u32, port: &Port, wake_id: u32, thread_id: u32) -> Result<Self> {
        let core = lookup(handle)
            .ok_or_else(|| Error::new(Status::InvalidArg, "the pool no longer exists"))?;
        let port = port.inner().clone();
        let local = core.sched.register(Arc::new(move || {
            port.complete(Completion {
                id: wake_id,
                outcome: Outcome::Ok(Value::Undefined),
            })
        }));
        Ok(PoolWorker {
            core,
            local: Some(local),
            thread_id,
        })
    }

    /// The next task, waiting at most `wait_micros` in native code; `null`
    /// means the worker has parked and will be woken through its port.
    #[napi]
    pub fn take(&self, wait_micros: u32) -> Option<TakenTask> {
        let local = self.local.as_ref()?;
        let wait = Duration::from_micros(wait_micros as u64);
        loop {
            let task = self
                .core
                .sched
                .find_or_wait(local, wait)
                .or_else(|| self.core.sched.park(local))?;
            if self.core.start(&task, self.thread_id) {
                return Some(TakenTask {
                    id: task.id,
                    payload: Buffer::from(task.payload),
                    name: task.name.map(|n| n.to_string()),
                });
            }
            // Cancelled while queued: drop it and look again.
        }
    }

    /// Delivers task `id`'s serialized result (`failed` = it threw).
    #[napi]
    pub fn complete(&self, id: u32, failed: bool, payload: &[u8]) {
        self.core.complete(id, failed, payload.to_vec());
    }

    /// Leaves the pool (idle timeout); queued tasks in this worker's deque go
    /// back to the injector.
    #[napi]
    pub fn detach(&mut self) {
        if let Some(local) = self.local.take() {
            self.core.sched.unregister(local);
        }
    }
}

impl Drop for PoolWorker {
    fn drop(&mut self) {
        self.detach();
    }
}
