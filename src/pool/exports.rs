//! The napi side of the Pool: `NativePool` lives in the environment that
//! owns the pool; a worker thread's end (`worker.rs`) finds the pool through
//! a process-wide registry of handles (native objects cannot cross
//! environments).
//!
//! Primitive values (undefined, null, booleans, numbers, strings) cross as
//! themselves; anything else arrives here already serialized by v8 (a
//! Buffer), is copied once into the task, and is handed to the worker as an
//! external Buffer without another copy.

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::bridge::status::check;
use crate::protocol::TaskCancel;

use super::{Cancelled, Percentiles, PoolCore, Task};
use crate::bridge::buffers;
use crate::bridge::port::{Port, PortInner};
use crate::bridge::value::Value;

/// The pool's core with results going to environments' ports.
pub(super) type Core = PoolCore<PortInner>;
/// A task whose result goes to an environment's port.
pub(super) type PortTask = Task<PortInner>;

static NEXT_HANDLE: AtomicU32 = AtomicU32::new(1);
static POOLS: Mutex<Option<HashMap<u32, Weak<Core>>>> = Mutex::new(None);

pub(super) fn lookup(handle: u32) -> Option<Arc<Core>> {
    crate::lock::lock(&POOLS).as_ref()?.get(&handle)?.upgrade()
}

pub(super) fn invalid(what: &str) -> Error {
    Error::new(Status::InvalidArg, what.to_string())
}

/// Reads a primitive or a Buffer of serialized bytes into a [`Value`].
///
/// # Safety
/// `env` and `value` must be live handles of the current call.
pub(super) unsafe fn value_from_js(env: sys::napi_env, value: sys::napi_value) -> Result<Value> {
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
pub(super) fn cancel_code(c: Cancelled) -> i64 {
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
