//! The napi side of the completion path: one [`Port`] per JavaScript
//! environment, created by `lib/native.js` when the addon is loaded there.
//!
//! The port owns a raw threadsafe function whose `call_js` drains the whole
//! completion queue, converts every completion to JavaScript values and calls
//! the environment's `onBatch(flat)` callback once, with a flat array
//! `[id, status, value, id, status, value, …]` (status: `protocol::CompletionStatus`).
//! See `mod.rs` for the liveness and teardown protocol.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::job::{Cancel, Jobs};
use super::queue::{CompletionQueue, Push};
use super::sink::{Sink, Teardown};
use super::value::{Completion, Outcome, Value};
use crate::protocol::{CancelOutcome, CompletionStatus};

/// How long environment teardown waits for running jobs to stop. Kernels poll
/// for cancellation every few milliseconds; this bound only guards against a
/// bug turning teardown into a hang.
const TEARDOWN_WAIT: Duration = Duration::from_secs(30);

struct RawTsfn(sys::napi_threadsafe_function);
// SAFETY: napi threadsafe functions are designed to be called from any thread;
// the handle is only used under the port's RwLock, which the finalizer takes
// for writing before the handle becomes invalid.
unsafe impl Send for RawTsfn {}
// SAFETY: as above.
unsafe impl Sync for RawTsfn {}

/// The shared state behind a [`Port`]; producers hold an `Arc` of it.
pub struct PortInner {
    queue: CompletionQueue<Completion>,
    tsfn: RwLock<Option<RawTsfn>>,
    pub jobs: Jobs,
    teardowns: Mutex<Vec<Weak<dyn Teardown>>>,
    /// For tests: the next completion converted on this port fails to
    /// convert, as if a JavaScript value could not be created for it.
    fail_next: AtomicBool,
}

impl PortInner {
    /// Delivers a completion to this environment (from any thread).
    pub fn complete(&self, completion: Completion) {
        if self.queue.push(completion) == Push::Wake {
            self.wake();
        }
    }

    fn wake(&self) {
        let guard = crate::lock::read(&self.tsfn);
        if let Some(tsfn) = guard.as_ref() {
            // SAFETY: the handle is valid while it is in the lock (the
            // finalizer removes it under the write lock before Node frees it).
            // A `napi_closing` status during teardown is expected and harmless.
            unsafe {
                sys::napi_call_threadsafe_function(
                    tsfn.0,
                    ptr::null_mut(),
                    sys::ThreadsafeFunctionCallMode::nonblocking,
                );
            }
        }
    }

    fn close(&self) {
        self.queue.close();
    }

    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }

    /// Registers `t` to be told when this environment is torn down (it is
    /// held weakly: dropping it unregisters it).
    pub fn on_teardown(&self, t: Weak<dyn Teardown>) {
        let mut list = crate::lock::lock(&self.teardowns);
        if list.len() >= 64 && list.len().is_power_of_two() {
            list.retain(|w| w.strong_count() > 0);
        }
        list.push(t);
    }

    fn run_teardowns(&self) {
        let list = std::mem::take(&mut *crate::lock::lock(&self.teardowns));
        for t in list.iter().filter_map(Weak::upgrade) {
            t.teardown();
        }
    }

    fn take_fail_next(&self) -> bool {
        self.fail_next.swap(false, Ordering::Relaxed)
    }

    /// Whether completions wait for this environment's event loop.
    pub fn has_pending(&self) -> bool {
        self.queue.has_pending()
    }
}

/// The producers' view of a port. The inherent methods above are the same
/// functions, so callers that hold a `PortInner` need not import the trait.
impl Sink for PortInner {
    #[inline]
    fn complete(&self, completion: Completion) {
        PortInner::complete(self, completion)
    }

    fn is_closed(&self) -> bool {
        PortInner::is_closed(self)
    }

    fn on_teardown(&self, t: Weak<dyn Teardown>) {
        PortInner::on_teardown(self, t)
    }
}

/// The completion port of one JavaScript environment (internal).
#[napi]
pub struct Port {
    inner: Arc<PortInner>,
}

/// Counters of the completion path, for tests and benchmarks.
#[napi(object)]
pub struct PortCounters {
    /// Completions delivered through this port.
    pub completions: f64,
    /// Times the event loop was woken (one per batch).
    pub wakes: f64,
    /// Operations still registered as in flight.
    pub inflight: u32,
}

/// Returns the status from the enclosing function unless it is `napi_ok`
/// (`status::ok`, for the delivery path's raw-status results).
macro_rules! check {
    ($e:expr) => {
        super::status::ok($e)?
    };
}

/// # Safety
/// Must run on the environment's thread with a live `env`.
unsafe fn str_value(env: sys::napi_env, s: &str) -> std::result::Result<sys::napi_value, i32> {
    let mut out = ptr::null_mut();
    // SAFETY: live env; the pointer/length pair describes valid UTF-8.
    check!(unsafe {
        sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out)
    });
    Ok(out)
}

/// Converts a [`Value`] into a JavaScript value.
///
/// # Safety
/// Must run on the environment's thread with a live `env` and an open handle scope.
pub(crate) unsafe fn to_js(
    env: sys::napi_env,
    value: Value,
) -> std::result::Result<sys::napi_value, i32> {
    let mut out = ptr::null_mut();
    // SAFETY: (the whole match) live env on its own thread per the
    // contract; all out-pointers are valid locals.
    unsafe {
        match value {
            Value::Undefined => check!(sys::napi_get_undefined(env, &mut out)),
            Value::Null => check!(sys::napi_get_null(env, &mut out)),
            Value::Bool(b) => check!(sys::napi_get_boolean(env, b, &mut out)),
            Value::Number(n) => check!(sys::napi_create_double(env, n, &mut out)),
            Value::BigInt(v) => {
                let sign = (v < 0) as i32;
                let mag = v.unsigned_abs();
                let words = [mag as u64, (mag >> 64) as u64];
                check!(sys::napi_create_bigint_words(
                    env,
                    sign,
                    2,
                    words.as_ptr(),
                    &mut out
                ));
            }
            Value::Str(s) => out = str_value(env, &s)?,
            Value::Bytes(bytes) => {
                out =
                    Buffer::to_napi_value(env, Buffer::from(bytes)).map_err(|e| e.status as i32)?
            }
            Value::List(items) => {
                check!(sys::napi_create_array_with_length(
                    env,
                    items.len(),
                    &mut out
                ));
                for (i, item) in items.into_iter().enumerate() {
                    let v = to_js(env, item)?;
                    check!(sys::napi_set_element(env, out, i as u32, v));
                }
            }
            Value::Object(fields) => {
                check!(sys::napi_create_object(env, &mut out));
                for (key, item) in fields {
                    let k = str_value(env, key)?;
                    let v = to_js(env, item)?;
                    check!(sys::napi_set_property(env, out, k, v));
                }
            }
        }
    }
    Ok(out)
}

/// # Safety
/// As for [`to_js`].
unsafe fn outcome_to_js(
    env: sys::napi_env,
    outcome: Outcome,
) -> std::result::Result<(u32, sys::napi_value), i32> {
    // SAFETY: forwarded contract.
    unsafe {
        match outcome {
            Outcome::Ok(v) => Ok((CompletionStatus::Ok as u32, to_js(env, v)?)),
            Outcome::Err { code, message } => {
                let code = str_value(env, code)?;
                let msg = str_value(env, &message)?;
                let mut err = ptr::null_mut();
                check!(sys::napi_create_error(env, code, msg, &mut err));
                Ok((CompletionStatus::Error as u32, err))
            }
            Outcome::Aborted => Ok((
                CompletionStatus::Aborted as u32,
                to_js(env, Value::Undefined)?,
            )),
            Outcome::Rejected(v) => Ok((CompletionStatus::Rejected as u32, to_js(env, v)?)),
            Outcome::Message(v) => Ok((CompletionStatus::Message as u32, to_js(env, v)?)),
        }
    }
}

/// What a completion becomes when its value cannot be converted: an
/// `ERR_SPINDLE_CONVERSION` error (status 1) for its own handler, so one bad
/// value rejects its own promise and the rest of the batch is delivered.
///
/// # Safety
/// As for [`to_js`].
unsafe fn conversion_error(env: sys::napi_env) -> std::result::Result<(u32, sys::napi_value), i32> {
    // SAFETY: forwarded contract; out-pointers are valid locals. A failed
    // napi call may have left an exception pending: clear it first, or
    // every later call would fail too.
    unsafe {
        let mut pending = false;
        sys::napi_is_exception_pending(env, &mut pending);
        if pending {
            let mut ignored = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut ignored);
        }
        let code = str_value(env, "ERR_SPINDLE_CONVERSION")?;
        let msg = str_value(
            env,
            "spindle: a result could not be converted to a JavaScript value",
        )?;
        let mut err = ptr::null_mut();
        check!(sys::napi_create_error(env, code, msg, &mut err));
        Ok((CompletionStatus::Error as u32, err))
    }
}

/// # Safety
/// As for [`to_js`].
pub(crate) unsafe fn batch_to_js(
    env: sys::napi_env,
    items: Vec<Completion>,
) -> std::result::Result<sys::napi_value, i32> {
    // SAFETY: forwarded contract.
    unsafe { batch_to_js_failing(env, items, false) }
}

/// [`batch_to_js`]; with `fail_first`, the first completion fails to
/// convert (the test hook of [`Port::fail_next_conversion`]).
///
/// # Safety
/// As for [`to_js`].
unsafe fn batch_to_js_failing(
    env: sys::napi_env,
    items: Vec<Completion>,
    mut fail_first: bool,
) -> std::result::Result<sys::napi_value, i32> {
    let mut arr = ptr::null_mut();
    // SAFETY: forwarded contract; indexes are within the array's length.
    unsafe {
        check!(sys::napi_create_array_with_length(
            env,
            items.len() * 3,
            &mut arr
        ));
        for (i, c) in items.into_iter().enumerate() {
            let base = (i * 3) as u32;
            let mut id = ptr::null_mut();
            check!(sys::napi_create_uint32(env, c.id, &mut id));
            let converted = if std::mem::take(&mut fail_first) {
                Err(sys::Status::napi_generic_failure)
            } else {
                outcome_to_js(env, c.outcome)
            };
            let (status, value) = match converted {
                Ok(pair) => pair,
                Err(_) => conversion_error(env)?,
            };
            let mut st = ptr::null_mut();
            check!(sys::napi_create_uint32(env, status, &mut st));
            check!(sys::napi_set_element(env, arr, base, id));
            check!(sys::napi_set_element(env, arr, base + 1, st));
            check!(sys::napi_set_element(env, arr, base + 2, value));
        }
    }
    Ok(arr)
}

/// The threadsafe function's `call_js`: drain and deliver one batch.
unsafe extern "C" fn call_js(
    env: sys::napi_env,
    js_cb: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() || js_cb.is_null() || context.is_null() {
        // The environment is being torn down; the queue is closed with it.
        return;
    }
    // SAFETY: `context` is the Arc<PortInner> leaked in `Port::new`; it is
    // released only in `finalize`, which Node runs after the last call_js.
    let inner = unsafe { &*(context as *const PortInner) };
    let items = inner.queue.take();
    if items.is_empty() {
        return;
    }
    // SAFETY: call_js runs on the environment's thread inside a handle scope.
    unsafe {
        let Ok(batch) = batch_to_js_failing(env, items, inner.take_fail_next()) else {
            let msg = c"spindle: could not convert a batch of completions";
            sys::napi_throw_error(env, ptr::null(), msg.as_ptr());
            return;
        };
        let mut recv = ptr::null_mut();
        sys::napi_get_undefined(env, &mut recv);
        // An exception thrown by the callback stays pending and Node reports
        // it as uncaught, as for any other callback.
        sys::napi_call_function(env, recv, js_cb, 1, &batch, ptr::null_mut());
    }
}

/// The threadsafe function's finalizer: runs once, when Node releases it.
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the strong Arc leaked for the threadsafe function in
    // `Port::new`; this is its only release.
    let inner = unsafe { Arc::from_raw(data as *const PortInner) };
    *crate::lock::write(&inner.tsfn) = None;
    inner.close();
}

/// The environment's cleanup hook: stop producers touching its memory.
unsafe extern "C" fn cleanup(arg: *mut c_void) {
    // SAFETY: `arg` is the strong Arc leaked for this hook in `Port::new`;
    // Node calls the hook once.
    let inner = unsafe { Arc::from_raw(arg as *const PortInner) };
    inner.close();
    inner.run_teardowns();
    inner.jobs.cancel_all_and_wait(TEARDOWN_WAIT);
}

#[napi]
impl Port {
    /// Creates the port of the calling environment; `on_batch` receives every
    /// batch of completions.
    #[napi(constructor)]
    pub fn new(env: Env, on_batch: Unknown) -> Result<Self> {
        let raw_env = env.raw();
        let inner = Arc::new(PortInner {
            queue: CompletionQueue::new(),
            tsfn: RwLock::new(None),
            jobs: Jobs::default(),
            teardowns: Mutex::new(Vec::new()),
            fail_next: AtomicBool::new(false),
        });
        let mut name = ptr::null_mut();
        let mut tsfn = ptr::null_mut();
        let ctx = Arc::into_raw(inner.clone()) as *mut c_void;
        // SAFETY: live env and function handle of this call; `ctx` is a
        // leaked strong Arc that `finalize` takes back.
        let status = unsafe {
            let label = "spindle.completions";
            sys::napi_create_string_utf8(
                raw_env,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            );
            sys::napi_create_threadsafe_function(
                raw_env,
                on_batch.value().value,
                ptr::null_mut(),
                name,
                0,
                1,
                ctx,
                Some(finalize),
                ctx,
                Some(call_js),
                &mut tsfn,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: creation failed, so `finalize` will never take it back.
            drop(unsafe { Arc::from_raw(ctx as *const PortInner) });
            return Err(Error::new(
                Status::GenericFailure,
                "could not create the completion port",
            ));
        }
        // SAFETY: `tsfn` was just created in this environment.
        unsafe { sys::napi_unref_threadsafe_function(raw_env, tsfn) };
        *crate::lock::write(&inner.tsfn) = Some(RawTsfn(tsfn));
        let hook_arg = Arc::into_raw(inner.clone()) as *mut c_void;
        // SAFETY: `hook_arg` is a leaked strong Arc that `cleanup` takes back.
        let status = unsafe { sys::napi_add_env_cleanup_hook(raw_env, Some(cleanup), hook_arg) };
        if status != sys::Status::napi_ok {
            // SAFETY: the hook was not registered, so nothing else owns it.
            drop(unsafe { Arc::from_raw(hook_arg as *const PortInner) });
            // Without the hook nothing would stop kernels and the reactor
            // from touching this environment's memory after V8 frees it
            // (`mod.rs`, "Teardown order"): refuse to make the port. Closing
            // the queue drops what a producer may already hold; the
            // threadsafe function is released so its finalizer frees the
            // rest.
            inner.close();
            // SAFETY: `tsfn` was created above in this environment and is
            // released once, here; `finalize` then clears it from the lock.
            unsafe {
                sys::napi_release_threadsafe_function(
                    tsfn,
                    sys::ThreadsafeFunctionReleaseMode::release,
                )
            };
            return Err(Error::new(
                Status::GenericFailure,
                "could not register the completion port's environment cleanup hook",
            ));
        }
        Ok(Port { inner })
    }

    /// Keeps the event loop alive (called when work becomes outstanding).
    #[napi(js_name = "ref")]
    pub fn refer(&self, env: Env) {
        self.with_tsfn(|t| {
            // SAFETY: called on the owning environment's thread with a valid handle.
            unsafe { sys::napi_ref_threadsafe_function(env.raw(), t) };
        });
    }

    /// Lets the event loop exit (called when no work is outstanding).
    #[napi]
    pub fn unref(&self, env: Env) {
        self.with_tsfn(|t| {
            // SAFETY: called on the owning environment's thread with a valid handle.
            unsafe { sys::napi_unref_threadsafe_function(env.raw(), t) };
        });
    }

    /// Cancels operation `id` (see `protocol::CancelOutcome`).
    #[napi]
    pub fn cancel(&self, id: u32) -> CancelOutcome {
        match self.inner.jobs.cancel(id) {
            Cancel::TooLate => CancelOutcome::TooLate,
            Cancel::BeforeStart => CancelOutcome::BeforeStart,
            Cancel::WhileRunning => CancelOutcome::WhileRunning,
        }
    }

    /// Starts polling: completions stop waking the event loop; JavaScript
    /// takes them with `poll()` on each turn until `endPolling()`.
    #[napi]
    pub fn begin_polling(&self) {
        self.inner.queue.begin_polling();
    }

    /// The completions that arrived while polling, as a flat batch, or null.
    #[napi(ts_return_type = "unknown[] | null")]
    pub fn poll(&self, env: Env) -> Result<Unknown<'_>> {
        // SAFETY: live env of this call, on its own thread.
        unsafe { batch_or_null(env.raw(), self.inner.queue.poll(), &self.inner) }
    }

    /// Stops polling; returns what arrived before the stop (a flat batch or
    /// null). Later completions wake the event loop again.
    #[napi(ts_return_type = "unknown[] | null")]
    pub fn end_polling(&self, env: Env) -> Result<Unknown<'_>> {
        // SAFETY: live env of this call, on its own thread.
        unsafe { batch_or_null(env.raw(), self.inner.queue.end_polling(), &self.inner) }
    }

    /// For tests: the next completion delivered on this port fails to
    /// convert to a JavaScript value (it must reject its own operation only).
    #[napi]
    pub fn fail_next_conversion(&self) {
        self.inner.fail_next.store(true, Ordering::Relaxed);
    }

    #[napi]
    pub fn counters(&self) -> PortCounters {
        let c = self.inner.queue.counters();
        PortCounters {
            completions: c.completions as f64,
            wakes: c.wakes as f64,
            inflight: self.inner.jobs.len() as u32,
        }
    }
}

/// `items` as a flat batch, or `null` when there are none.
/// # Safety
/// `env` must be the live environment of the current call, on its thread.
unsafe fn batch_or_null<'a>(
    env: sys::napi_env,
    items: Vec<Completion>,
    inner: &PortInner,
) -> Result<Unknown<'a>> {
    let mut raw = ptr::null_mut();
    // SAFETY: forwarded contract; `raw` is created in `env` just before it
    // is wrapped.
    unsafe {
        if items.is_empty() {
            sys::napi_get_null(env, &mut raw);
        } else {
            raw = batch_to_js_failing(env, items, inner.take_fail_next())
                .map_err(|_| Error::new(Status::GenericFailure, "could not convert completions"))?;
        }
        Unknown::from_napi_value(env, raw)
    }
}

impl Port {
    fn with_tsfn(&self, f: impl FnOnce(sys::napi_threadsafe_function)) {
        let guard = crate::lock::read(&self.inner.tsfn);
        if let Some(t) = guard.as_ref() {
            f(t.0);
        }
    }

    /// The shared state, for producers.
    pub fn inner(&self) -> &Arc<PortInner> {
        &self.inner
    }
}
