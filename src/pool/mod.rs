//! The Pool: the program's own JavaScript functions on Node worker threads,
//! scheduled by the work-stealing [`crate::scheduler::Scheduler`].
//!
//! # Data path
//!
//! `pool.run(arg)` serializes `arg` (v8 structured clone) and, once per tick,
//! calls `NativePool.submitBatch(ids, payloads, name)`: the bytes are copied
//! once into a [`Task`] each,
//! pushed on the injector — no message to any worker. A worker thread's
//! runtime (`lib/pool/worker.js`) calls `poolWorkerTake()` (`worker.rs`), which pops its
//! own deque, takes a batch from the injector, or steals from another worker;
//! the payload is handed to JavaScript as an external Buffer (no copy). The
//! result bytes go back through `poolWorkerComplete()` onto the *origin*
//! environment's completion port, batched with every other completion.
//!
//! # Tasks that fork tasks
//!
//! A task running on a worker may submit subtasks (`ctx.run`). They go onto
//! that worker's own deque (LIFO for its owner, so it runs its newest
//! children first; other workers steal the oldest), and their results
//! complete on the *worker's* port: every task records the port of the
//! environment that submitted it (its origin). Task keys are therefore
//! (origin, id): each environment numbers its operations independently.
//!
//! # Timing
//!
//! Each task records when it was submitted and when a worker started it;
//! wait and run times go into two HDR histograms (`hdrhistogram`), under one
//! short lock per task on the worker threads — no main-thread cost. Each of
//! `SHARDS` locks has its own histograms (by worker); they are merged when read.
//!
//! # Shards
//!
//! The map of unfinished tasks is split into `SHARDS` maps by id, each under
//! its own lock on its own cache line. Everything about one task (register,
//! start, cancel, complete) takes that task's shard only, so the argument
//! below ("one step under the map lock") holds per shard; scans over every
//! task (a dying worker's tasks, `running`, `busy_workers`) take the shards
//! one after another.
//!
//! # Task states
//!
//! A task's entry in `tasks` is its state: present without a worker while
//! QUEUED, with the worker running it once RUNNING, and absent once it was
//! cancelled (a worker that later pops it finds no entry and drops it) or
//! finished. So a worker that dies rejects exactly its own running tasks.
//! Starting (finding the entry, recording the worker) is one step under the
//! entry's shard lock, which `cancel` takes too: an abort never sees a
//! started task without its worker (it would answer "never started" while
//! the task runs on). (A per-task atomic state, allocated per task, did the
//! same job before; the entry alone is one allocation less per task.)
//!
//! A subtask forked with an abort signal (`submit_away`) goes onto the
//! injector marked `avoid_origin`: the worker that forked it must not run
//! it, since its signal lives on that worker's thread and could never fire
//! while the subtask blocked it. That worker sets such tasks aside while it
//! looks for other work, puts them back on the injector before `take`
//! returns, and (finding nothing else) returns to its event loop and looks
//! again on a timer; the pool starts another worker if it may grow.
//!
//! # Where results go
//!
//! [`PoolCore`] is generic over the [`Sink`] that a task's results go to:
//! the origin environment's `PortInner` in production (`exports.rs`, one
//! monomorphic instance, so the call is as direct as before), a recording
//! sink in the unit tests below, which drive cancel, requeue, worker death,
//! local completion and close without Node.
//!
//! # Shutdown order
//!
//! JavaScript closes the pool (no more submits), waits for outstanding tasks
//! (`close`) or rejects them (`destroy`), then terminates the workers. Each
//! worker's attachment (`worker.rs`) is dropped with its environment and unregisters,
//! returning any task still in its deque to the injector.

pub mod exports;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

use crate::bridge::sink::Sink;
use crate::bridge::value::{Completion, Outcome, Value};
use crate::scheduler::{Local, Scheduler};

/// Identifies a task: the environment that submitted it, and its id there.
type TaskId = (usize, u32);

fn task_id_of<S>(origin: &Arc<S>, id: u32) -> TaskId {
    (Arc::as_ptr(origin) as usize, id)
}

/// One call of `pool.run` (or `ctx.run` inside a task). Primitive arguments
/// travel as themselves; everything else as v8 structured-clone bytes.
pub struct Task<S> {
    pub id: u32,
    pub origin: Arc<S>,
    pub payload: Value,
    pub name: Option<Arc<str>>,
    /// A subtask with an abort signal: the worker that forked it must not
    /// run it (its signal could never fire while the subtask blocks that
    /// worker's thread); see `WorkerState::take` in `worker.rs`.
    pub avoid_origin: bool,
    submitted: Instant,
}

struct Entry<S> {
    origin: Arc<S>,
    /// The thread id of the worker running it, once taken.
    worker: Option<u32>,
    started: Option<Instant>,
    /// A copy of the argument while running, kept only when a worker runs
    /// several tasks at once: if one of them is aborted and the worker is
    /// replaced, the others are queued again instead of being lost.
    /// Boxed: kept for few pools, and the map's entries stay small.
    retained: Option<Box<(Value, Option<Arc<str>>)>>,
}

/// What `cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    TooLate,
    BeforeStart,
    /// Running on the worker with this thread id (always known: a task is
    /// started and its worker recorded in one step, under the map lock).
    Running(u32),
}

/// Wait/run-time distributions and busy time.
struct Timing {
    wait: Histogram<u64>,
    run: Histogram<u64>,
    busy_ns: u128,
    since: Instant,
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    let us = |ns: u64| ns as f64 / 1000.0;
    Percentiles {
        p50: us(h.value_at_quantile(0.5)),
        p90: us(h.value_at_quantile(0.9)),
        p99: us(h.value_at_quantile(0.99)),
        max: us(h.max()),
        count: h.len(),
    }
}

/// A snapshot of the pool's timing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimingStats {
    pub wait: Percentiles,
    pub run: Percentiles,
    /// Busy time ÷ (workers × elapsed), over the pool's life.
    pub utilization: f64,
}

/// The pool's shared state. `S` is where results go: the environment's
/// port in production (`exports.rs`), a recording sink in the tests.
pub struct PoolCore<S> {
    pub sched: Scheduler<Task<S>>,
    /// Every unfinished task, in `SHARDS` maps by id (see "Shards"). FxHash:
    /// the keys are this process's own (pointer, sequential id) pairs, not
    /// chosen by an attacker, and SipHash was a visible share of each
    /// task's cost.
    tasks: [CachePadded<Mutex<Tasks<S>>>; SHARDS],
    retain: bool,
    completed: AtomicU64,
    failed: AtomicU64,
    /// Bytes of task arguments, results and messages copied out of one
    /// thread's JavaScript memory into Rust (the only copy a binary payload
    /// makes on its way; the receiving side wraps that memory in place).
    bytes_copied: AtomicU64,
    /// Per worker (`worker % SHARDS`), merged when read.
    timing: [CachePadded<Mutex<Timing>>; SHARDS],
}

type Tasks<S> = FxHashMap<TaskId, Entry<S>>;

/// How many locks the task map and the timing are split into, each on its
/// own cache line: the main thread registers tasks while the workers start
/// and complete others, and one lock for all of them made every task's
/// start wait for a batch's registration (a fifth of a worker's time).
const SHARDS: usize = 16;

fn shard_of(id: u32) -> usize {
    id as usize % SHARDS
}

fn new_timing() -> Timing {
    Timing {
        wait: histogram(),
        run: histogram(),
        busy_ns: 0,
        since: Instant::now(),
    }
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

impl<S: Sink> PoolCore<S> {
    /// `retain`: keep a copy of each running task's argument (for pools
    /// whose workers run several tasks at once; see [`Entry::retained`]).
    pub fn new(retain: bool) -> Self {
        PoolCore {
            sched: Scheduler::new(),
            tasks: std::array::from_fn(|_| CachePadded::new(Mutex::new(FxHashMap::default()))),
            retain,
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            bytes_copied: AtomicU64::new(0),
            timing: std::array::from_fn(|_| CachePadded::new(Mutex::new(new_timing()))),
        }
    }

    /// The shard of the task map that holds task `id`.
    fn lock(&self, id: u32) -> MutexGuard<'_, Tasks<S>> {
        crate::lock::lock(&self.tasks[shard_of(id)])
    }

    fn timing_of(&self, worker: u32) -> MutexGuard<'_, Timing> {
        crate::lock::lock(&self.timing[worker as usize % SHARDS])
    }

    /// Every shard's timing, merged.
    fn merged_timing(&self) -> Timing {
        let mut all = new_timing();
        for shard in &self.timing {
            let t = crate::lock::lock(shard);
            // Same bounds in every shard: adding cannot fail.
            let _ = all.wait.add(&t.wait);
            let _ = all.run.add(&t.run);
            all.busy_ns += t.busy_ns;
            all.since = all.since.min(t.since);
        }
        all
    }

    fn register(
        &self,
        batch: Vec<(u32, Value)>,
        origin: &Arc<S>,
        name: Option<Arc<str>>,
    ) -> Vec<Task<S>> {
        let now = Instant::now();
        let mut tasks = Vec::with_capacity(batch.len());
        let mut entries: [Vec<(TaskId, Entry<S>)>; SHARDS] = Default::default();
        for (id, payload) in batch {
            entries[shard_of(id)].push((
                task_id_of(origin, id),
                Entry {
                    origin: origin.clone(),
                    worker: None,
                    started: None,
                    retained: None,
                },
            ));
            tasks.push(Task {
                id,
                origin: origin.clone(),
                payload,
                name: name.clone(),
                avoid_origin: false,
                submitted: now,
            });
        }
        // Registered before any of them is queued: a worker that takes one
        // finds its entry.
        for (shard, list) in self.tasks.iter().zip(entries) {
            if !list.is_empty() {
                crate::lock::lock(shard).extend(list);
            }
        }
        tasks
    }

    /// Queues a batch of tasks from outside the pool (one lock, one wake-up
    /// round); their results complete on `origin`. False once closed.
    pub fn submit_batch(
        &self,
        batch: Vec<(u32, Value)>,
        origin: &Arc<S>,
        name: Option<Arc<str>>,
    ) -> bool {
        if self.sched.is_closed() {
            return false;
        }
        let tasks = self.register(batch, origin, name);
        self.sched.submit_many(tasks)
    }

    /// Queues a subtask on the calling worker's own deque; its result
    /// completes on `origin` (the worker's port). False once closed.
    pub fn submit_local(
        &self,
        local: &Local<Task<S>>,
        id: u32,
        payload: Value,
        origin: &Arc<S>,
        name: Option<Arc<str>>,
    ) -> bool {
        if self.sched.is_closed() {
            return false;
        }
        for task in self.register(vec![(id, payload)], origin, name) {
            self.sched.push_local(local, task);
        }
        true
    }

    /// Queues a subtask that the forking worker must not run itself (it has
    /// an abort signal): on the injector, where the other workers find it.
    /// False once closed.
    pub fn submit_away(
        &self,
        id: u32,
        payload: Value,
        origin: &Arc<S>,
        name: Option<Arc<str>>,
    ) -> bool {
        if self.sched.is_closed() {
            return false;
        }
        let mut tasks = self.register(vec![(id, payload)], origin, name);
        for t in &mut tasks {
            t.avoid_origin = true;
        }
        self.sched.submit_many(tasks)
    }

    /// Marks a taken task as running on `worker`; false if it was cancelled.
    ///
    /// Finding the task's entry and recording its worker are one step
    /// under the shard lock, which `cancel` holds too: an abort sees either
    /// a queued task (and cancels it before it starts) or a running one
    /// whose worker is known (and that worker is replaced) — never a task
    /// that runs although its promise says it never started.
    pub fn start(&self, task: &Task<S>, worker: u32) -> bool {
        let now = Instant::now();
        {
            let mut map = self.lock(task.id);
            // No entry: cancelled while queued (the entry is the state).
            let Some(e) = map.get_mut(&task_id_of(&task.origin, task.id)) else {
                return false;
            };
            if e.worker.is_some() {
                return false; // started already (not reachable: a task is taken once)
            }
            #[cfg(test)]
            tests::start_hook();
            e.worker = Some(worker);
            e.started = Some(now);
            if self.retain {
                e.retained = Some(Box::new((task.payload.clone(), task.name.clone())));
            }
        }
        let waited = now.duration_since(task.submitted).as_nanos() as u64;
        let mut t = self.timing_of(worker);
        t.wait.saturating_record(waited.max(1));
        true
    }

    pub fn cancel(&self, origin: &Arc<S>, id: u32) -> Cancelled {
        let mut tasks = self.lock(id);
        let task_id = task_id_of(origin, id);
        // Removing the entry is the cancel: a worker that pops the task
        // later finds none and drops it; a result that comes later is
        // dropped too, and JavaScript replaces a running task's worker.
        match tasks.remove(&task_id) {
            None => Cancelled::TooLate,
            Some(Entry { worker: None, .. }) => Cancelled::BeforeStart,
            Some(Entry {
                worker: Some(worker),
                ..
            }) => Cancelled::Running(worker),
        }
    }

    /// Cancels task `id` only if no worker has started it (`close({ force })`):
    /// true if it was cancelled. (`start` records the worker under the same
    /// lock in the same step as it finds the entry, so "not started" is exact.)
    pub fn cancel_queued(&self, origin: &Arc<S>, id: u32) -> bool {
        let mut tasks = self.lock(id);
        let task_id = task_id_of(origin, id);
        match tasks.get(&task_id) {
            Some(e) if e.worker.is_none() => {
                tasks.remove(&task_id);
                true
            }
            _ => false,
        }
    }

    /// The run-time (`run`) or wait-time histogram, summarized in
    /// nanoseconds: [count, mean, stddev, min, max, then the value at each
    /// quantile of `quantiles`].
    pub fn summary(&self, run: bool, quantiles: &[f64]) -> Vec<f64> {
        let t = self.merged_timing();
        let h = if run { &t.run } else { &t.wait };
        if h.is_empty() {
            return vec![0.0; 5 + quantiles.len()];
        }
        let mut out = vec![
            h.len() as f64,
            h.mean(),
            h.stdev(),
            h.min() as f64,
            h.max() as f64,
        ];
        out.extend(
            quantiles
                .iter()
                .map(|&q| h.value_at_quantile(q.clamp(0.0, 1.0)) as f64),
        );
        out
    }

    /// Empties the run-time (`run`) or wait-time histogram.
    pub fn reset_histogram(&self, run: bool) {
        for shard in &self.timing {
            let mut t = crate::lock::lock(shard);
            if run {
                t.run.reset();
            } else {
                t.wait.reset();
            }
        }
    }

    /// Delivers a task's result or (`failed`) its serialized exception.
    ///
    /// When the result is for `here` (a subtask completed by the very worker
    /// that forked it), it is returned instead of being queued on the port:
    /// that worker delivers it at once, without a turn of its event loop.
    pub fn complete(
        &self,
        origin: &Arc<S>,
        id: u32,
        failed: bool,
        value: Value,
        here: Option<&Arc<S>>,
    ) -> Option<Completion> {
        let Some(entry) = self.lock(id).remove(&task_id_of(origin, id)) else {
            return None; // cancelled, or its worker was declared dead
        };
        if let (Some(started), Some(worker)) = (entry.started, entry.worker) {
            let ran = started.elapsed().as_nanos();
            let mut t = self.timing_of(worker);
            t.run.saturating_record((ran as u64).max(1));
            t.busy_ns += ran;
        }
        let outcome = if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
            Outcome::Rejected(value)
        } else {
            self.completed.fetch_add(1, Ordering::Relaxed);
            Outcome::Ok(value)
        };
        let completion = Completion { id, outcome };
        if here.is_some_and(|h| Arc::ptr_eq(h, &entry.origin)) {
            return Some(completion);
        }
        entry.origin.complete(completion);
        None
    }

    /// Delivers a progress message of running task `id` to its caller.
    pub fn message(&self, origin: &Arc<S>, id: u32, value: Value) -> bool {
        let target = self
            .lock(id)
            .get(&task_id_of(origin, id))
            .map(|e| e.origin.clone());
        match target {
            Some(port) => {
                port.complete(Completion {
                    id,
                    outcome: Outcome::Message(value),
                });
                true
            }
            None => false,
        }
    }

    /// Removes and returns the tasks running on worker `worker`.
    fn take_running_on(&self, worker: u32) -> Vec<(TaskId, Entry<S>)> {
        let mut out = Vec::new();
        for shard in &self.tasks {
            let mut tasks = crate::lock::lock(shard);
            let ids: Vec<TaskId> = tasks
                .iter()
                .filter(|(_, e)| e.worker == Some(worker))
                .map(|(&t, _)| t)
                .collect();
            out.extend(
                ids.into_iter()
                    .filter_map(|t| tasks.remove(&t).map(|e| (t, e))),
            );
        }
        out
    }

    fn reject(&self, id: u32, entry: &Entry<S>, message: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        entry.origin.complete(Completion {
            id,
            outcome: Outcome::error("ERR_SPINDLE_WORKER_DIED", message.to_string()),
        });
    }

    /// Rejects every task running on the worker with thread id `worker`.
    pub fn worker_died(&self, worker: u32, message: &str) -> u32 {
        let dead = self.take_running_on(worker);
        for ((_, id), entry) in &dead {
            self.reject(*id, entry, message);
        }
        dead.len() as u32
    }

    /// Queues again the tasks that were running on worker `worker` (which
    /// is being replaced after an abort) and whose arguments were retained;
    /// rejects the others. Returns how many were queued again.
    pub fn requeue_worker(&self, worker: u32) -> u32 {
        let mut again = Vec::new();
        for ((_, id), mut entry) in self.take_running_on(worker) {
            match entry.retained.take().map(|b| *b) {
                Some((payload, name)) => again.push((id, entry.origin.clone(), payload, name)),
                None => self.reject(
                    id,
                    &entry,
                    "the worker running this task was replaced after another task's abort",
                ),
            }
        }
        let n = again.len() as u32;
        for (id, origin, payload, name) in again {
            let tasks = self.register(vec![(id, payload)], &origin, name);
            self.sched.submit_many(tasks);
        }
        n
    }

    pub fn running(&self) -> usize {
        self.tasks
            .iter()
            .map(|shard| {
                crate::lock::lock(shard)
                    .values()
                    .filter(|e| e.worker.is_some())
                    .count()
            })
            .sum()
    }

    /// The thread ids of the workers running at least one task now.
    pub fn busy_workers(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::new();
        for shard in &self.tasks {
            ids.extend(crate::lock::lock(shard).values().filter_map(|e| e.worker));
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Counts the bytes copied to carry `value` (see `bytes_copied`).
    pub fn count_copy(&self, value: &Value) {
        let n = match value {
            Value::Bytes(b) => b.len(),
            Value::List(items) => items
                .iter()
                .map(|v| if let Value::Bytes(b) = v { b.len() } else { 0 })
                .sum(),
            _ => 0,
        };
        if n > 0 {
            self.bytes_copied.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    pub fn bytes_copied(&self) -> u64 {
        self.bytes_copied.load(Ordering::Relaxed)
    }

    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Wait/run percentiles and utilization with `workers` workers.
    pub fn timing(&self, workers: usize) -> TimingStats {
        let t = self.merged_timing();
        let elapsed = t.since.elapsed().as_nanos() as f64 * workers.max(1) as f64;
        TimingStats {
            wait: percentiles(&t.wait),
            run: percentiles(&t.run),
            utilization: if elapsed > 0.0 {
                (t.busy_ns as f64 / elapsed).min(1.0)
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::sink::Recorder;
    use crate::scheduler::Local;
    use std::cell::RefCell;
    use std::sync::mpsc;

    thread_local! {
        /// Runs inside `start`, once it found the entry, on the starting thread.
        static HOOK: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
    }

    pub(super) fn start_hook() {
        HOOK.with(|h| {
            if let Some(f) = h.borrow_mut().as_mut() {
                f()
            }
        });
    }

    type Core = PoolCore<Recorder>;

    /// A core, the sink of the environment that submits, and one worker.
    fn setup(retain: bool) -> (Core, Arc<Recorder>, Local<Task<Recorder>>) {
        let core = PoolCore::new(retain);
        let local = core.sched.register(Arc::new(|| {}));
        (core, Arc::new(Recorder::default()), local)
    }

    fn num(n: u32) -> Value {
        Value::Number(n as f64)
    }

    fn ok(id: u32, v: Value) -> Completion {
        Completion {
            id,
            outcome: Outcome::Ok(v),
        }
    }

    /// Takes every queued task through `local`, by id.
    fn take_all(core: &Core, local: &Local<Task<Recorder>>) -> Vec<Task<Recorder>> {
        let mut tasks: Vec<_> = std::iter::from_fn(|| core.sched.find(local)).collect();
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    fn died(c: &Completion) -> bool {
        matches!(
            c.outcome,
            Outcome::Err {
                code: "ERR_SPINDLE_WORKER_DIED",
                ..
            }
        )
    }

    /// An abort that lands between a worker finding the task's entry and the
    /// worker being recorded must find the task running on that worker.
    #[test]
    fn an_abort_racing_start_sees_the_running_worker() {
        let core = Arc::new(Core::new(false));
        let port = Arc::new(Recorder::default());
        let mut tasks = core.register(vec![(7, Value::Null)], &port, None);
        let task = tasks.pop().unwrap();
        let (to_canceller, go) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<Cancelled>();
        let c2 = core.clone();
        let p2 = port.clone();
        let canceller = std::thread::spawn(move || {
            go.recv().unwrap();
            done_tx.send(c2.cancel(&p2, 7)).unwrap();
        });
        HOOK.with(|h| {
            *h.borrow_mut() = Some(Box::new(move || {
                // The entry is found: let the abort run now, and give it time to
                // get as far as it can before the worker is recorded.
                to_canceller.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
            }))
        });
        assert!(core.start(&task, 42));
        HOOK.with(|h| *h.borrow_mut() = None);
        canceller.join().unwrap();
        assert_eq!(done.recv().unwrap(), Cancelled::Running(42));
    }

    #[test]
    fn cancel_before_start_and_after_finish() {
        let core = Core::new(false);
        let port = Arc::new(Recorder::default());
        let mut tasks = core.register(vec![(1, Value::Null), (2, Value::Null)], &port, None);
        let t2 = tasks.pop().unwrap();
        let t1 = tasks.pop().unwrap();
        assert_eq!(core.cancel(&port, 1), Cancelled::BeforeStart);
        assert!(!core.start(&t1, 3));
        assert!(core.start(&t2, 3));
        core.complete(&port, 2, false, Value::Null, None);
        assert_eq!(core.cancel(&port, 2), Cancelled::TooLate);
        assert_eq!(port.take(), vec![ok(2, Value::Null)]);
    }

    /// A task cancelled while it waits in the queue is never started, and
    /// only the others deliver results.
    #[test]
    fn cancelling_a_waiting_task_keeps_it_from_running() {
        let (core, port, local) = setup(false);
        let batch = (1..=3).map(|id| (id, num(id))).collect();
        assert!(core.submit_batch(batch, &port, None));
        assert_eq!(core.cancel(&port, 2), Cancelled::BeforeStart);
        assert_eq!(core.cancel(&port, 2), Cancelled::TooLate);
        let tasks = take_all(&core, &local);
        assert_eq!(tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2, 3]);
        let started: Vec<u32> = tasks
            .iter()
            .filter(|t| core.start(t, 9))
            .map(|t| t.id)
            .collect();
        assert_eq!(started, [1, 3]);
        assert_eq!(core.running(), 2);
        for id in started {
            assert_eq!(core.complete(&port, id, false, num(id * 10), None), None);
        }
        assert_eq!(port.take(), vec![ok(1, num(10)), ok(3, num(30))]);
        assert_eq!(core.completed(), 2);
        assert_eq!(core.running(), 0);
    }

    /// A running task's abort names its worker (JavaScript replaces it) and
    /// whatever that worker delivers later is dropped.
    #[test]
    fn cancelling_a_running_task_names_its_worker_and_drops_its_result() {
        let (core, port, local) = setup(false);
        assert!(core.submit_batch(vec![(5, Value::Null), (6, Value::Null)], &port, None));
        let tasks = take_all(&core, &local);
        assert!(core.start(&tasks[0], 17));
        assert_eq!(core.busy_workers(), [17]);
        // Not queued any more: `close({ force })` leaves it alone...
        assert!(!core.cancel_queued(&port, 5));
        // ... and cancels the one that has not started.
        assert!(core.cancel_queued(&port, 6));
        assert!(!core.start(&tasks[1], 17));
        assert_eq!(core.cancel(&port, 5), Cancelled::Running(17));
        assert_eq!(core.complete(&port, 5, false, num(1), None), None);
        assert!(!core.message(&port, 5, num(2)));
        assert!(port.take().is_empty());
        assert_eq!(core.running(), 0);
        assert!(core.busy_workers().is_empty());
        assert_eq!(core.completed(), 0);
    }

    /// A worker that dies rejects exactly the tasks it was running: not the
    /// ones running elsewhere, not the ones still queued.
    #[test]
    fn a_dead_worker_rejects_exactly_its_running_tasks() {
        let (core, port, local) = setup(false);
        let batch = (1..=4).map(|id| (id, num(id))).collect();
        assert!(core.submit_batch(batch, &port, None));
        let mut tasks = take_all(&core, &local);
        let queued = tasks.pop().unwrap();
        assert!(core.start(&tasks[0], 10));
        assert!(core.start(&tasks[1], 10));
        assert!(core.start(&tasks[2], 11));
        assert_eq!(core.busy_workers(), [10, 11]);
        assert_eq!(core.worker_died(10, "gone"), 2);
        let got = port.take();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(died), "{got:?}");
        let mut ids: Vec<u32> = got.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2]);
        assert_eq!(core.failed(), 2);
        // The dead worker's late results are dropped; the others go on.
        assert_eq!(core.complete(&port, 1, false, num(0), None), None);
        assert_eq!(core.worker_died(10, "again"), 0);
        assert!(core.start(&queued, 11));
        core.complete(&port, 3, false, num(3), None);
        core.complete(&port, 4, true, num(4), None);
        assert_eq!(
            port.take(),
            vec![
                ok(3, num(3)),
                Completion {
                    id: 4,
                    outcome: Outcome::Rejected(num(4))
                }
            ]
        );
        assert_eq!((core.completed(), core.failed()), (1, 3));
    }

    /// Tasks forked onto a worker's own deque survive that worker: they go
    /// back to the injector when it leaves, and another worker runs them.
    #[test]
    fn a_dead_workers_queued_subtasks_run_elsewhere() {
        let (core, port, local) = setup(false);
        let other = core.sched.register(Arc::new(|| {}));
        assert!(core.submit_local(&local, 1, num(1), &port, None));
        assert!(core.submit_local(&local, 2, num(2), &port, None));
        core.sched.unregister(local);
        let tasks = take_all(&core, &other);
        assert_eq!(tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2]);
        for t in &tasks {
            assert!(core.start(t, 2));
            core.complete(&port, t.id, false, t.payload.clone(), None);
        }
        assert_eq!(port.take(), vec![ok(1, num(1)), ok(2, num(2))]);
    }

    /// After an abort replaces a worker that ran several tasks at once, the
    /// others are queued again with their arguments (when retained) and run
    /// once; without retained arguments they are rejected.
    #[test]
    fn requeue_runs_retained_tasks_again_or_rejects_them() {
        let (core, port, local) = setup(true);
        assert!(core.submit_batch(vec![(1, num(11)), (2, num(22))], &port, None));
        for t in take_all(&core, &local) {
            assert!(core.start(&t, 7));
        }
        assert_eq!(core.requeue_worker(7), 2);
        assert!(port.take().is_empty());
        assert_eq!(core.running(), 0);
        let again = take_all(&core, &local);
        let args: Vec<(u32, Value)> = again.iter().map(|t| (t.id, t.payload.clone())).collect();
        assert_eq!(args, [(1, num(11)), (2, num(22))]);
        for t in &again {
            assert!(core.start(t, 8));
            core.complete(&port, t.id, false, num(t.id), None);
        }
        assert_eq!(port.take(), vec![ok(1, num(1)), ok(2, num(2))]);
        assert_eq!(core.requeue_worker(8), 0);

        let (core, port, local) = setup(false);
        assert!(core.submit_batch(vec![(3, num(3))], &port, None));
        for t in take_all(&core, &local) {
            assert!(core.start(&t, 7));
        }
        assert_eq!(core.requeue_worker(7), 0);
        let got = port.take();
        assert_eq!(got.len(), 1);
        assert!(died(&got[0]));
        assert!(core.sched.find(&local).is_none());
    }

    /// A subtask's result completed by the worker that forked it comes back
    /// to that worker directly; any other result goes to its origin's sink.
    #[test]
    fn a_result_for_the_completing_worker_is_returned_not_queued() {
        let (core, caller, local) = setup(false);
        let worker = Arc::new(Recorder::default());
        assert!(core.submit_batch(vec![(1, num(1))], &caller, None));
        assert!(core.submit_local(&local, 1, num(2), &worker, None));
        let tasks = take_all(&core, &local);
        assert_eq!(tasks.len(), 2);
        for t in &tasks {
            assert!(core.start(t, 4));
        }
        // Same id, different environments: two different tasks.
        assert_eq!(
            core.complete(&worker, 1, false, num(20), Some(&worker)),
            Some(ok(1, num(20)))
        );
        assert!(worker.take().is_empty());
        assert_eq!(
            core.complete(&caller, 1, false, num(10), Some(&worker)),
            None
        );
        assert_eq!(caller.take(), vec![ok(1, num(10))]);
        assert_eq!(core.completed(), 2);
    }

    #[test]
    fn messages_reach_the_caller_while_the_task_runs() {
        let (core, port, local) = setup(false);
        assert!(core.submit_batch(vec![(1, Value::Null)], &port, None));
        let t = core.sched.find(&local).unwrap();
        assert!(core.start(&t, 1));
        assert!(core.message(&port, 1, num(5)));
        core.complete(&port, 1, false, Value::Null, None);
        assert!(!core.message(&port, 1, num(6)));
        let message = Completion {
            id: 1,
            outcome: Outcome::Message(num(5)),
        };
        assert_eq!(port.take(), vec![message, ok(1, Value::Null)]);
    }

    /// A subtask with an abort signal goes to the injector, marked so that
    /// the worker that forked it leaves it to another.
    #[test]
    fn submit_away_marks_the_task() {
        let (core, port, local) = setup(false);
        assert!(core.submit_away(3, Value::Null, &port, None));
        let t = core.sched.find(&local).unwrap();
        assert!(t.avoid_origin && t.id == 3);
    }

    /// Once closed, nothing more is accepted; what was queued still runs.
    #[test]
    fn a_closed_pool_refuses_new_tasks_and_finishes_queued_ones() {
        let (core, port, local) = setup(false);
        assert!(core.submit_batch(vec![(1, Value::Null)], &port, None));
        core.sched.close();
        assert!(!core.submit_batch(vec![(2, Value::Null)], &port, None));
        assert!(!core.submit_local(&local, 3, Value::Null, &port, None));
        assert!(!core.submit_away(4, Value::Null, &port, None));
        for id in 2..=4 {
            assert_eq!(core.cancel(&port, id), Cancelled::TooLate);
        }
        let tasks = take_all(&core, &local);
        assert_eq!(tasks.len(), 1);
        assert!(core.start(&tasks[0], 1));
        core.complete(&port, 1, false, Value::Null, None);
        assert_eq!(port.take(), vec![ok(1, Value::Null)]);
        assert!(core.sched.find(&local).is_none());
    }

    /// Results for an environment that has gone are dropped by its sink;
    /// the core forgets the task all the same.
    #[test]
    fn results_for_a_closed_sink_are_dropped() {
        let (core, port, local) = setup(false);
        assert!(core.submit_batch(vec![(1, Value::Null)], &port, None));
        let t = core.sched.find(&local).unwrap();
        assert!(core.start(&t, 1));
        port.close();
        assert_eq!(core.complete(&port, 1, false, Value::Null, None), None);
        assert!(port.take().is_empty());
        assert_eq!(core.running(), 0);
    }
}
