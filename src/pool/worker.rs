//! A worker thread's end of the scheduler: the state of the one pool worker
//! that runs on this thread, and the functions its runtime
//! (`lib/pool/worker.js`) calls for every task.
//!
//! # Why a thread-local and free functions
//!
//! Every call of a method of a `#[napi]` class registers its receiver in
//! napi-rs's process-wide borrow table (one global mutex, taken twice per
//! call, by every thread). `take`, `arg`, `name` and `complete` run once per
//! task on every worker: as methods they spent about 30% of a worker's time
//! in that table and its lock, contended between the workers and the main
//! thread. So the worker's state lives in a thread-local of its own thread,
//! and those calls are plain functions. napi-rs still allocates a borrow
//! scope for every call of a function that takes arguments (not for one
//! that takes none): so `poolWorkerTake` takes none (its spin and wait are
//! given once, at attach), and `poolWorkerComplete` is a raw Node-API
//! function (`raw_complete`), which reads its three arguments itself.
//!
//! # States and shutdown
//!
//! `new PoolWorker(...)` attaches: it registers a deque with the pool's
//! scheduler and installs the state on the calling thread (one per thread;
//! a second attach is refused). The returned object owns the attachment:
//! `detach()`, or its finalizer when the environment goes away, unregisters
//! (queued tasks in its deque go back to the injector) and clears the
//! thread-local. A thread that exits without either drops the state with
//! its thread-locals, which unregisters too. Each call borrows the state
//! for its own duration only (none of them runs JavaScript while it holds
//! it); a call that finds it borrowed or absent gets an error, or for
//! `take`, "parked".

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::exports::{cancel_code, invalid, lookup, value_from_js, Core, PortTask};
use crate::bridge::port::{batch_to_js, to_js, Port, PortInner};
use crate::bridge::status::check;
use crate::bridge::value::{panic_outcome, Completion, Outcome, Value};
use crate::protocol::{TakeSignal, FIRST_TASK_SLOT};
use crate::scheduler::{Local, WaitPolicy};

const PARKED: u32 = TakeSignal::Parked as u32;
const YIELD: u32 = TakeSignal::Yield as u32;
const AWAY: u32 = TakeSignal::Away as u32;

thread_local! {
    /// The pool worker attached on this thread, if any.
    static ATTACHED: RefCell<Option<WorkerState>> = const { RefCell::new(None) };
    /// Tells attachments apart: a stale `PoolWorker` must not detach a newer one.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` on this thread's worker state.
fn with_worker<R>(f: impl FnOnce(&mut WorkerState) -> Result<R>) -> Result<R> {
    ATTACHED.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| invalid("the pool worker is in use"))?;
        match slot.as_mut() {
            Some(w) => f(w),
            None => Err(invalid("no pool worker is attached to this thread")),
        }
    })
}

/// Owns the attachment of this thread's pool worker (internal).
#[napi]
pub struct PoolWorker {
    generation: u64,
}

#[napi]
impl PoolWorker {
    /// Attaches the calling worker thread to pool `handle`. `wake_id` is an
    /// operation id open on this environment's `port`: completing it wakes
    /// the worker's runtime once it has parked. `spin_micros` and
    /// `wait_micros` bound every `poolWorkerTake()` (see there).
    #[napi(constructor)]
    pub fn new(
        handle: u32,
        port: &Port,
        wake_id: u32,
        thread_id: u32,
        spin_micros: u32,
        wait_micros: u32,
    ) -> Result<Self> {
        let core = lookup(handle).ok_or_else(|| invalid("the pool no longer exists"))?;
        ATTACHED.with(|cell| {
            let mut slot = cell
                .try_borrow_mut()
                .map_err(|_| invalid("the pool worker is in use"))?;
            if slot.is_some() {
                return Err(invalid("a pool worker is already attached to this thread"));
            }
            let wake_port = port.inner().clone();
            let local = core.sched.register(Arc::new(move || {
                wake_port.complete(Completion {
                    id: wake_id,
                    outcome: Outcome::Ok(Value::Undefined),
                })
            }));
            *slot = Some(WorkerState {
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
                spin_micros,
                wait_micros,
                waits: WaitPolicy::default(),
            });
            let generation = GENERATION.with(|g| {
                g.set(g.get() + 1);
                g.get()
            });
            Ok(PoolWorker { generation })
        })
    }

    /// Leaves the pool (idle timeout); queued tasks in this worker's deque go
    /// back to the injector.
    #[napi]
    pub fn detach(&self) {
        self.release();
    }
}

impl PoolWorker {
    fn release(&self) {
        if GENERATION.with(|g| g.get()) != self.generation {
            return; // a newer attachment, not ours
        }
        // Take the state out first, drop it after the borrow ends.
        let state = ATTACHED.with(|cell| cell.try_borrow_mut().ok().and_then(|mut s| s.take()));
        drop(state);
    }
}

impl Drop for PoolWorker {
    fn drop(&mut self) {
        self.release();
    }
}

/// Takes the next task, spinning at most the attachment's `spin_micros`
/// (only right after a task, and as the scheduler's spin policy allows) and
/// then waiting at most its `wait_micros` in native code, and returns its slot (this worker's
/// handle for it, at least `FIRST_TASK_SLOT`), or a `protocol::TakeSignal`:
/// parked (woken through its port), yield (its own subtasks' results wait
/// for its event loop) or away (see `TakeSignal::Away`). The task's
/// argument and export name are then read with `poolWorkerArg()` and
/// `poolWorkerName()`.
#[napi]
pub fn pool_worker_take() -> u32 {
    with_worker(|w| Ok(w.take(w.spin_micros, w.wait_micros))).unwrap_or(PARKED)
}

/// The argument of the task last taken (moved out: call once per task).
#[napi(ts_return_type = "unknown")]
pub fn pool_worker_arg(env: &Env) -> Result<Unknown<'_>> {
    let value = with_worker(|w| {
        Ok(w.current
            .as_mut()
            .map(|t| std::mem::replace(&mut t.payload, Value::Undefined))
            .unwrap_or(Value::Undefined))
    })?;
    // SAFETY: live env of this call.
    let raw = unsafe { to_js(env.raw(), value) }
        .map_err(|_| Error::new(Status::GenericFailure, "could not convert a task argument"))?;
    // SAFETY: `raw` was just created in this env.
    unsafe { Unknown::from_napi_value(env.raw(), raw) }
}

/// The export name of the task last taken (`null` for the default export).
#[napi]
pub fn pool_worker_name() -> Result<Option<String>> {
    with_worker(|w| {
        Ok(w.current
            .as_ref()
            .and_then(|t| t.name.as_ref())
            .map(|n| n.to_string()))
    })
}

/// `poolWorkerComplete(slot, failed, value)`: delivers the result of the
/// task in `slot`, a primitive or encoded bytes; with `failed`, a Buffer
/// holding the serialized exception. Returns true when the result is for a
/// task of this very environment (a subtask it forked): then
/// `poolWorkerTakeLocalResults` hands it over. Registered on the exports
/// by [`register_raw`].
fn complete_call(env: sys::napi_env, info: sys::napi_callback_info) -> Result<sys::napi_value> {
    let mut argc = 3usize;
    let mut argv = [ptr::null_mut(); 3];
    let mut slot = 0u32;
    let mut failed = false;
    // SAFETY: `env` and `info` are this callback's; the out-pointers are
    // valid locals, `argv` has room for `argc` values (Node fills missing
    // ones with undefined), and each getter's status is checked, so a wrong
    // type is an error, never a misread.
    let value = unsafe {
        check(
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            ),
            "unreadable arguments",
        )?;
        check(
            sys::napi_get_value_uint32(env, argv[0], &mut slot),
            "the slot must be a number",
        )?;
        check(
            sys::napi_get_value_bool(env, argv[1], &mut failed),
            "failed must be a boolean",
        )?;
        value_from_js(env, argv[2])?
    };
    let local = with_worker(|w| Ok(w.complete(slot, failed, value)))?;
    let mut out = ptr::null_mut();
    // SAFETY: live env; `out` is a valid local.
    let status = unsafe { sys::napi_get_boolean(env, local, &mut out) };
    check(status, "could not answer")?;
    Ok(out)
}

/// The raw Node-API callback of `poolWorkerComplete`: a failure or a panic
/// becomes a thrown JavaScript error, never an abort.
unsafe extern "C" fn raw_complete(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let result = std::panic::catch_unwind(|| complete_call(env, info)).unwrap_or_else(|payload| {
        match panic_outcome(payload) {
            Outcome::Err { message, .. } => Err(Error::new(Status::GenericFailure, message)),
            _ => Err(Error::new(Status::GenericFailure, "panic")),
        }
    });
    match result {
        Ok(v) => v,
        Err(err) => {
            // SAFETY: live env of this callback; the error is thrown into it.
            unsafe { JsError::from(err).throw_into(env) };
            ptr::null_mut()
        }
    }
}

/// Adds the raw functions to the module's exports.
#[napi(module_exports)]
pub fn register_raw(mut exports: Object, env: Env) -> Result<()> {
    let name = "poolWorkerComplete";
    let mut f = ptr::null_mut();
    // SAFETY: live env of module registration; `name` is valid for its
    // length; `raw_complete` matches `napi_callback` and needs no data.
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr().cast(),
            name.len() as isize,
            Some(raw_complete),
            ptr::null_mut(),
            &mut f,
        )
    };
    check(status, "could not create poolWorkerComplete")?;
    // SAFETY: `f` was just created in this env.
    let f = unsafe { Unknown::from_napi_value(env.raw(), f)? };
    exports.set_named_property(name, f)
}

/// The local results gathered by `poolWorkerComplete`, as a flat batch in
/// the completion path's format (`[id, status, value, ...]`).
#[napi(ts_return_type = "unknown[]")]
pub fn pool_worker_take_local_results(env: &Env) -> Result<Unknown<'_>> {
    let items = with_worker(|w| Ok(std::mem::take(&mut w.local_results)))?;
    // SAFETY: live env of this call, on its own thread.
    let raw = unsafe { batch_to_js(env.raw(), items) }
        .map_err(|_| Error::new(Status::GenericFailure, "could not convert results"))?;
    // SAFETY: `raw` was just created in this env.
    unsafe { Unknown::from_napi_value(env.raw(), raw) }
}

/// Sends a progress message from the task in `slot` to its caller. False
/// if the task is no longer running (finished or cancelled).
#[napi]
pub fn pool_worker_message(env: Env, slot: u32, value: Unknown) -> Result<bool> {
    // SAFETY: handles of the current call.
    let value = unsafe { value_from_js(env.raw(), value.value().value)? };
    with_worker(|w| {
        let Some((origin, id)) = w.running.get(&slot) else {
            return Ok(false);
        };
        w.core.count_copy(&value);
        Ok(w.core.message(origin, *id, value))
    })
}

/// Submits subtask `id` (an operation id of this worker's environment) onto
/// this worker's own deque (`away`: onto the injector, where another worker
/// runs it, never this one). False once the pool is closed.
#[napi]
pub fn pool_worker_submit(
    env: Env,
    id: u32,
    arg: Unknown,
    name: Option<String>,
    away: bool,
) -> Result<bool> {
    // SAFETY: handles of the current call.
    let payload = unsafe { value_from_js(env.raw(), arg.value().value)? };
    let name = name.map(|n| Arc::from(n.as_str()));
    with_worker(|w| {
        w.core.count_copy(&payload);
        if away {
            return Ok(w.core.submit_away(id, payload, &w.port, name));
        }
        let Some(local) = w.local.as_ref() else {
            return Ok(false);
        };
        Ok(w.core.submit_local(local, id, payload, &w.port, name))
    })
}

/// Cancels subtask `id` submitted from this environment: a
/// `protocol::TaskCancel` (negative), else the running worker's thread id.
#[napi]
pub fn pool_worker_cancel(id: u32) -> Result<i64> {
    with_worker(|w| Ok(cancel_code(w.core.cancel(&w.port, id))))
}

/// The state of the pool worker attached on this thread.
struct WorkerState {
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
    spin_micros: u32,
    wait_micros: u32,
    /// Whether to wait before parking (rule 6 of `scheduler/spin.rs`).
    waits: WaitPolicy,
}

impl WorkerState {
    fn take(&mut self, spin_micros: u32, wait_micros: u32) -> u32 {
        self.waits
            .resumed(Instant::now(), Duration::from_micros(wait_micros as u64));
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
                    let sched = &self.core.sched;
                    let mut found = sched.find_or_spin(local, spin);
                    let mut skipped = false;
                    if found.is_none() && !wait.is_zero() {
                        // Rule 6 of `scheduler/spin.rs`: wait only while
                        // waits tend to meet a task.
                        if self.waits.should_wait() {
                            found = sched.wait_for(local, wait);
                            self.waits.waited(found.is_some());
                        } else {
                            skipped = true;
                        }
                    }
                    match found.or_else(|| sched.park(local)) {
                        Some(task) => task,
                        None => {
                            if skipped {
                                self.waits.skipped(Instant::now());
                            }
                            return PARKED;
                        }
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

    fn complete(&mut self, slot: u32, failed: bool, value: Value) -> bool {
        let Some((origin, id)) = self.running.remove(&slot) else {
            return false;
        };
        if self
            .current
            .as_ref()
            .is_some_and(|t| t.id == id && Arc::ptr_eq(&t.origin, &origin))
        {
            self.current = None;
        }
        self.core.count_copy(&value);
        match self
            .core
            .complete(&origin, id, failed, value, Some(&self.port))
        {
            Some(done) => {
                self.local_results.push(done);
                true
            }
            None => false,
        }
    }
}

impl Drop for WorkerState {
    fn drop(&mut self) {
        if let Some(local) = self.local.take() {
            self.core.sched.unregister(local);
        }
    }
}
