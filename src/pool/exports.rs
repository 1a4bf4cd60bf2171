//! The napi classes of the Pool: `NativePool` lives in the environment that
//! owns the pool; `PoolWorker` lives in each worker thread's environment and
//! finds the pool through a process-wide registry of handles (native objects
//! cannot cross environments).
//!
//! Primitive values (undefined, null, booleans, numbers, strings) cross as
//! themselves; anything else arrives here already serialized by v8 (a
//! Buffer), is copied once into the task, and is handed to the worker as an
//! external Buffer without another copy.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::bridge::status::check;
use crate::protocol::{TakeSignal, TaskCancel, FIRST_TASK_SLOT};

use super::{Cancelled, Percentiles, PoolCore, Task};
use crate::bridge::buffers;
use crate::bridge::port::{batch_to_js, to_js, Port, PortInner};
use crate::bridge::value::{Completion, Outcome, Value};
use crate::scheduler::Local;

/// The pool's core with results going to environments' ports.
type Core = PoolCore<PortInner>;
/// A task whose result goes to an environment's port.
type PortTask = Task<PortInner>;

static NEXT_HANDLE: AtomicU32 = AtomicU32::new(1);
static POOLS: Mutex<Option<HashMap<u32, Weak<Core>>>> = Mutex::new(None);

fn lookup(handle: u32) -> Option<Arc<Core>> {
    crate::lock::lock(&POOLS).as_ref()?.get(&handle)?.upgrade()
}

fn invalid(what: &str) -> Error {
    Error::new(Status::InvalidArg, what.to_string())
}

/// Reads a primitive or a Buffer of serialized bytes into a [`Value`].
///
/// # Safety
/// `env` and `value` must be live handles of the current call.
unsafe fn value_from_js(env: sys::napi_env, value: sys::napi_value) -> Result<Value> {
    let mut kind = 0;
    // SAFETY: (the whole function) live handles per the contract;
    // out-pointers are valid locals; each getter is called only for its own
    // type, and every status is checked.
    unsafe {
        check(sys::napi_typeof(env, value, &mut kind), "unreadable value")?;
        Ok(match kind {
            sys::ValueType::napi_undefined => Value::Undefined,
            sys::ValueType::napi_null => Value::Null,
            sys::ValueType::napi_boolean => {
                let mut b = false;
                check(
                    sys::napi_get_value_bool(env, value, &mut b),
                    "unreadable boolean",
                )?;
                Value::Bool(b)
            }
            sys::ValueType::napi_number => {
                let mut n = 0.0;
                check(
                    sys::napi_get_value_double(env, value, &mut n),
                    "unreadable number",
                )?;
                Value::Number(n)
            }
            sys::ValueType::napi_string => Value::Str(String::from_napi_value(env, value)?),
            _ => {
                let mut is_array = false;
                check(
                    sys::napi_is_array(env, value, &mut is_array),
                    "unreadable value",
                )?;
                if is_array {
                    // [typeIndex, bytes]: a top-level binary value; or
                    // [SIDE, serialized, view, ...]: a serialized value with
                    // its large binary parts beside it (lib/pool/values.js).
                    let mut len = 0;
                    check(
                        sys::napi_get_array_length(env, value, &mut len),
                        "unreadable array",
                    )?;
                    let mut t = ptr::null_mut();
                    check(
                        sys::napi_get_element(env, value, 0, &mut t),
                        "unreadable tag",
                    )?;
                    let mut index = 0.0;
                    check(
                        sys::napi_get_value_double(env, t, &mut index),
                        "the tag must be a number",
                    )?;
                    let mut items = Vec::with_capacity(len as usize);
                    items.push(Value::Number(index));
                    for i in 1..len {
                        let mut bytes = ptr::null_mut();
                        check(
                            sys::napi_get_element(env, value, i, &mut bytes),
                            "unreadable part",
                        )?;
                        let view = buffers::typed_array_view(env, bytes)?;
                        items.push(Value::Bytes(view.bytes().to_vec()));
                    }
                    Value::List(items)
                } else {
                    // v8-serialized bytes (a Buffer).
                    Value::Bytes(buffers::typed_array_view(env, value)?.bytes().to_vec())
                }
            }
        })
    }
}

/// A task cancel's answer: the thread id (never negative) of the worker
/// running it, or a `protocol::TaskCancel` (negative).
fn cancel_code(c: Cancelled) -> i64 {
    match c {
        Cancelled::TooLate => TaskCancel::TooLate as i64,
        Cancelled::BeforeStart => TaskCancel::BeforeStart as i64,
        Cancelled::Running(worker) => worker as i64,
    }
}

/// The scheduler side of one Pool (internal; see `Pool` in index.d.ts).
#[napi]
pub struct NativePool {
    core: Arc<Core>,
    origin: Arc<PortInner>,
    handle: u32,
}

/// Percentiles of a latency distribution, in microseconds.
#[napi(object)]
pub struct LatencyStats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: f64,
}

impl From<Percentiles> for LatencyStats {
    fn from(p: Percentiles) -> Self {
        LatencyStats {
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
            max: p.max,
            count: p.count as f64,
        }
    }
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
    /// Time from submission to a worker starting the task.
    pub wait_time: LatencyStats,
    /// Time a task ran.
    pub run_time: LatencyStats,
    /// Busy time ÷ (workers × elapsed).
    pub utilization: f64,
    /// Bytes of arguments, results and messages copied into Rust.
    pub bytes_copied: f64,
    /// The adaptive spin (`scheduler/spin.rs`): spins after a task, those
    /// that found one, and the times the pool stopped spinning and polling
    /// because most spins came up empty or other processes kept every core
    /// busy.
    pub spins: f64,
    pub spins_found: f64,
    pub contention_holds: f64,
}

#[napi]
impl NativePool {
    /// Creates a pool whose results complete on `port`. `retain`: keep a
    /// copy of running tasks' arguments (workers that run several at once).
    #[napi(constructor)]
    pub fn new(port: &Port, retain: bool) -> Self {
        let core = Arc::new(Core::new(retain));
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        crate::lock::lock(&POOLS)
            .get_or_insert_with(HashMap::new)
            .insert(handle, Arc::downgrade(&core));
        NativePool {
            core,
            origin: port.inner().clone(),
            handle,
        }
    }

    /// The handle workers attach with.
    #[napi(getter)]
    pub fn handle(&self) -> u32 {
        self.handle
    }

    /// Queues the tasks `ids[i]` with arguments `args[i]` (primitives, or
    /// Buffers of v8-serialized bytes), all calling export `name`. False once
    /// the pool is closed.
    #[napi]
    pub fn submit_batch(
        &self,
        env: Env,
        ids: Vec<u32>,
        args: Vec<Unknown>,
        name: Option<String>,
    ) -> Result<bool> {
        if ids.len() != args.len() {
            return Err(invalid("ids and args differ in length"));
        }
        let mut batch = Vec::with_capacity(ids.len());
        for (id, arg) in ids.into_iter().zip(args) {
            // SAFETY: handles of the current call.
            let value = unsafe { value_from_js(env.raw(), arg.value().value)? };
            self.core.count_copy(&value);
            batch.push((id, value));
        }
        Ok(self
            .core
            .submit_batch(batch, &self.origin, name.map(|n| Arc::from(n.as_str()))))
    }

    /// A `protocol::TaskCancel` (negative), else the thread id of the
    /// worker running it (which JavaScript then replaces).
    #[napi]
    pub fn cancel(&self, id: u32) -> i64 {
        cancel_code(self.core.cancel(&self.origin, id))
    }

    /// Cancels task `id` if no worker has started it; true if it was.
    #[napi]
    pub fn cancel_queued(&self, id: u32) -> bool {
        self.core.cancel_queued(&self.origin, id)
    }

    /// The run-time (`run`) or wait-time histogram in nanoseconds: [count,
    /// mean, stddev, min, max, the value at each of `quantiles` (0..1)].
    #[napi]
    pub fn summary(&self, run: bool, quantiles: Vec<f64>) -> Vec<f64> {
        self.core.summary(run, &quantiles)
    }

    /// Empties the run-time (`run`) or wait-time histogram.
    #[napi]
    pub fn reset_histogram(&self, run: bool) {
        self.core.reset_histogram(run);
    }

    /// Rejects the tasks running on a worker that died; returns how many.
    #[napi]
    pub fn worker_died(&self, thread_id: u32, message: String) -> u32 {
        self.core.worker_died(thread_id, &message)
    }

    /// Queues again the tasks running on a worker replaced after an abort.
    #[napi]
    pub fn requeue_worker(&self, thread_id: u32) -> u32 {
        self.core.requeue_worker(thread_id)
    }

    /// Refuses further submissions and wakes every parked worker.
    #[napi]
    pub fn close(&self) {
        self.core.sched.close();
    }

    /// The thread ids of the workers running at least one task now
    /// (piscina's `idleThreads` is the live workers not among them).
    #[napi]
    pub fn busy_workers(&self) -> Vec<u32> {
        self.core.busy_workers()
    }

    /// Whether the workers have stopped spinning (most spins came up empty,
    /// or other processes keep every core busy: `scheduler/spin.rs`); the
    /// main thread then does not poll for results either.
    #[napi]
    pub fn contended(&self) -> bool {
        self.core.sched.contended()
    }

    /// `workers`: the live worker count, for utilization.
    #[napi]
    pub fn stats(&self, workers: u32) -> NativePoolStats {
        let c = self.core.sched.counters();
        let timing = self.core.timing(workers as usize);
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
            wait_time: timing.wait.into(),
            run_time: timing.run.into(),
            utilization: timing.utilization,
            bytes_copied: self.core.bytes_copied() as f64,
            spins: c.spins as f64,
            spins_found: c.spins_found as f64,
            contention_holds: c.holds as f64,
        }
    }
}

impl Drop for NativePool {
    fn drop(&mut self) {
        self.core.sched.close();
        if let Some(map) = crate::lock::lock(&POOLS).as_mut() {
            map.remove(&self.handle);
        }
    }
}

const PARKED: u32 = TakeSignal::Parked as u32;
const YIELD: u32 = TakeSignal::Yield as u32;
const AWAY: u32 = TakeSignal::Away as u32;

/// A worker thread's end of the scheduler (internal).
#[napi]
pub struct PoolWorker {
    core: Arc<Core>,
    port: Arc<PortInner>,
    local: Option<Local<PortTask>>,
    thread_id: u32,
    /// The last task taken, until its argument is read.
    current: Option<PortTask>,
    /// Running tasks by slot: (origin, id) of each.
    running: HashMap<u32, (Arc<PortInner>, u32)>,
    /// Results of subtasks this worker forked and completed itself, for
    /// `take_local_results` (delivered without a turn of the event loop).
    local_results: Vec<Completion>,
    /// Subtasks this worker forked with a signal, taken but not runnable
    /// here; put back on the injector before `take` returns.
    deferred: Vec<PortTask>,
    /// Whether a task began since the last `take`: only then may it spin
    /// (a worker woken for a task that another took must not: its empty
    /// spins would read as a busy machine to the spin policy).
    ran: bool,
    next_slot: u32,
}

#[napi]
impl PoolWorker {
    /// Attaches the calling worker thread to pool `handle`. `wake_id` is an
    /// operation id open on this environment's `port`: completing it wakes
    /// the worker's runtime once it has parked.
    #[napi(constructor)]
    pub fn new(handle: u32, port: &Port, wake_id: u32, thread_id: u32) -> Result<Self> {
        let core = lookup(handle).ok_or_else(|| invalid("the pool no longer exists"))?;
        let wake_port = port.inner().clone();
        let local = core.sched.register(Arc::new(move || {
            wake_port.complete(Completion {
                id: wake_id,
                outcome: Outcome::Ok(Value::Undefined),
            })
        }));
        Ok(PoolWorker {
            core,
            port: port.inner().clone(),
            local: Some(local),
            thread_id,
            current: None,
            running: HashMap::new(),
            local_results: Vec::new(),
            deferred: Vec::new(),
            next_slot: FIRST_TASK_SLOT,
            ran: false,
        })
    }

    /// Takes the next task, spinning at most `spin_micros` (only right
    /// after a task, and as the scheduler's spin policy allows) and then
    /// waiting at most `wait_micros` in native code, and
    /// returns its slot (this worker's handle for it, at least
    /// `FIRST_TASK_SLOT`), or a `protocol::TakeSignal`: parked (woken through
    /// its port), yield (its own subtasks' results wait for its event loop)
    /// or away (see `TakeSignal::Away`). The task's argument and export name
    /// are then read with `arg()` and `name()`.
    #[napi]
    pub fn take(&mut self, spin_micros: u32, wait_micros: u32) -> u32 {
        let spin_micros = if std::mem::take(&mut self.ran) {
            spin_micros
        } else {
            0
        };
        let r = self.take_inner(spin_micros, wait_micros);
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            self.core.sched.submit_many(deferred);
            if r == PARKED || r == YIELD {
                // Parked: unpark at once (the JS side retries on a timer).
                // (A parked worker is woken by the submit above anyway.)
                return AWAY;
            }
        }
        r
    }

    fn take_inner(&mut self, spin_micros: u32, wait_micros: u32) -> u32 {
        let mut spin = Duration::from_micros(spin_micros as u64);
        let mut wait = Duration::from_micros(wait_micros as u64);
        loop {
            let task = {
                let Some(local) = self.local.as_ref() else {
                    return PARKED;
                };
                if !self.deferred.is_empty() {
                    // Holding work for others: never wait or park here.
                    match self.core.sched.find(local) {
                        Some(task) => task,
                        None => return YIELD,
                    }
                } else if self.port.has_pending() {
                    // Results of this worker's own subtasks are waiting for
                    // its event loop: don't wait here, and don't park either.
                    match self.core.sched.find(local) {
                        Some(task) => task,
                        None => return YIELD,
                    }
                } else {
                    match self
                        .core
                        .sched
                        .find_or_wait(local, spin, wait)
                        .or_else(|| self.core.sched.park(local))
                    {
                        Some(task) => task,
                        None => return PARKED,
                    }
                }
            };
            spin = Duration::ZERO;
            wait = Duration::ZERO;
            if task.avoid_origin && Arc::ptr_eq(&task.origin, &self.port) {
                self.deferred.push(task);
                continue;
            }
            if let Some(slot) = self.begin(task) {
                return slot;
            }
            // Cancelled while queued: dropped; look again.
        }
    }

    /// Starts a taken task: its slot, or `None` if it was cancelled while queued.
    fn begin(&mut self, task: PortTask) -> Option<u32> {
        if !self.core.start(&task, self.thread_id) {
            return None;
        }
        let slot = self.next_slot;
        // Slots never reach a TakeSignal: they wrap back to the first.
        self.next_slot = self.next_slot.checked_add(1).unwrap_or(FIRST_TASK_SLOT);
        self.running.insert(slot, (task.origin.clone(), task.id));
        self.current = Some(task);
        self.ran = true;
        Some(slot)
    }

    /// The argument of the task last taken (moved out: call once per task).
    #[napi(ts_return_type = "unknown")]
    pub fn arg(&mut self, env: Env) -> Result<Unknown<'_>> {
        let value = self
            .current
            .as_mut()
            .map(|t| std::mem::replace(&mut t.payload, Value::Undefined))
            .unwrap_or(Value::Undefined);
        // SAFETY: live env of this call.
        let raw = unsafe { to_js(env.raw(), value) }
            .map_err(|_| Error::new(Status::GenericFailure, "could not convert a task argument"))?;
        // SAFETY: `raw` was just created in this env.
        unsafe { Unknown::from_napi_value(env.raw(), raw) }
    }

    /// The export name of the task last taken (`null` for the default export).
    #[napi]
    pub fn name(&self) -> Option<String> {
        self.current.as_ref()?.name.as_ref().map(|n| n.to_string())
    }

    /// Delivers the result of the task in `slot`: a primitive or encoded
    /// bytes; with `failed`, a Buffer holding the serialized exception.
    /// Returns true when the result is for a task of this very environment
    /// (a subtask it forked): then `take_local_results` hands it over.
    #[napi]
    pub fn complete(&mut self, env: Env, slot: u32, failed: bool, value: Unknown) -> Result<bool> {
        let Some((origin, id)) = self.running.remove(&slot) else {
            return Ok(false);
        };
        if self
            .current
            .as_ref()
            .is_some_and(|t| t.id == id && Arc::ptr_eq(&t.origin, &origin))
        {
            self.current = None;
        }
        // SAFETY: handles of the current call.
        let value = unsafe { value_from_js(env.raw(), value.value().value)? };
        self.core.count_copy(&value);
        match self
            .core
            .complete(&origin, id, failed, value, Some(&self.port))
        {
            Some(done) => {
                self.local_results.push(done);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The local results gathered by `complete`, as a flat batch in the
    /// completion path's format (`[id, status, value, ...]`).
    #[napi(ts_return_type = "unknown[]")]
    pub fn take_local_results(&mut self, env: Env) -> Result<Unknown<'_>> {
        let items = std::mem::take(&mut self.local_results);
        // SAFETY: live env of this call, on its own thread.
        let raw = unsafe { batch_to_js(env.raw(), items) }
            .map_err(|_| Error::new(Status::GenericFailure, "could not convert results"))?;
        // SAFETY: `raw` was just created in this env.
        unsafe { Unknown::from_napi_value(env.raw(), raw) }
    }

    /// Sends a progress message from the task in `slot` to its caller.
    /// False if the task is no longer running (finished or cancelled).
    #[napi]
    pub fn message(&self, env: Env, slot: u32, value: Unknown) -> Result<bool> {
        let Some((origin, id)) = self.running.get(&slot) else {
            return Ok(false);
        };
        // SAFETY: handles of the current call.
        let value = unsafe { value_from_js(env.raw(), value.value().value)? };
        self.core.count_copy(&value);
        Ok(self.core.message(origin, *id, value))
    }

    /// Submits subtask `id` (an operation id of this worker's environment)
    /// onto this worker's own deque. False once the pool is closed.
    #[napi]
    pub fn submit_local(
        &self,
        env: Env,
        id: u32,
        arg: Unknown,
        name: Option<String>,
    ) -> Result<bool> {
        let Some(local) = self.local.as_ref() else {
            return Ok(false);
        };
        // SAFETY: handles of the current call.
        let payload = unsafe { value_from_js(env.raw(), arg.value().value)? };
        self.core.count_copy(&payload);
        Ok(self.core.submit_local(
            local,
            id,
            payload,
            &self.port,
            name.map(|n| Arc::from(n.as_str())),
        ))
    }

    /// Submits subtask `id` (with an abort signal) onto the injector: another
    /// worker runs it, never this one. False once the pool is closed.
    #[napi]
    pub fn submit_away(
        &self,
        env: Env,
        id: u32,
        arg: Unknown,
        name: Option<String>,
    ) -> Result<bool> {
        // SAFETY: handles of the current call.
        let payload = unsafe { value_from_js(env.raw(), arg.value().value)? };
        self.core.count_copy(&payload);
        Ok(self
            .core
            .submit_away(id, payload, &self.port, name.map(|n| Arc::from(n.as_str()))))
    }

    /// Cancels subtask `id` submitted from this environment: a
    /// `protocol::TaskCancel` (negative), else the running worker's thread id.
    #[napi]
    pub fn cancel(&self, id: u32) -> i64 {
        cancel_code(self.core.cancel(&self.port, id))
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
