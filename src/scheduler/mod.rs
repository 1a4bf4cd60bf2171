//! The work-stealing core of the Pool: a global injector, one deque per
//! worker, stealing, and parking. No napi types: `cargo test` covers it.
//!
//! # Worker states
//!
//! ```text
//!            find() got a task
//!   RUNNING <───────────────────────────────┐
//!      │ find() empty                        │
//!      ▼                                     │
//!   WAITING  bounded condvar wait (≤ `wait`) ─┤  notified by submit()
//!      │ still empty                         │
//!      ▼                                     │
//!   PARKED   returned to its own event loop ─┘  woken through its waker
//!            (nothing runs, nothing spins)       (a threadsafe function call
//!                                                 into that worker's environment)
//! ```
//!
//! A worker waits in native code only in WAITING, and only for a bounded
//! slice; then it parks: it is pushed on the `parked` list and returns to its
//! event loop. An idle pool therefore uses no CPU, and a parked worker never
//! holds its thread (so `terminate()` and process exit are never delayed).
//!
//! # The wake-up protocol, and the lost wake-up it rules out
//!
//! `idle` counts workers that are WAITING or PARKED.
//!
//! * Worker, before sleeping: `idle += 1` (SeqCst), *then* re-check the queues.
//! * Submitter: push the task, *then* read `idle` (SeqCst); if non-zero, lock
//!   the sleep state and notify one WAITING worker or wake one PARKED worker.
//!   A submitter that reads a non-zero `spinning` count first skips that
//!   wake: a SPINNING worker polls the queues, and before it stops spinning
//!   it increments `idle` and looks once more, so it sees any task pushed
//!   before the submitter's read.
//!
//! With both sides SeqCst, either the worker's re-check sees the task, or the
//! submitter's read sees the worker as idle and wakes it: a task can never sit
//! in a queue while every worker sleeps. The common case of a busy pool costs
//! the submitter a single atomic load — no lock per task.
//!
//! A woken worker may find nothing (another worker took the task): it parks
//! again. That spurious wake is the price of never losing one.
//!
//! # Spinning without shared writes
//!
//! A SPINNING worker looks at the queues only with loads (`looks_empty`:
//! its own deque, the injector, and each stealer's `is_empty`) and calls
//! `find` only when something seems there, so spinners do not bounce a
//! cache line between them and the submitter. They read the stealers from
//! a copy in their `Local`, refreshed when `generation` moves: writers bump
//! it (Release) after changing `stealers` under its lock, and a worker that
//! loads the new value (Acquire) re-reads the list under the lock. A stale
//! copy can only miss a worker that just registered (found on the next
//! refresh) or keep one that left (its deque was emptied into the injector).
//!
//! # Shutdown order
//!
//! 1. `close()` refuses new submissions (JavaScript stops calling `submit`).
//! 2. Workers drain what is queued; `is_drained()` tells the pool when.
//! 3. Each worker `unregister`s on exit; tasks left in its local deque go
//!    back to the injector, so a dying worker loses no queued task.

mod sleep;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use sleep::Sleep;
pub use sleep::Waker;

/// A worker's own deque. Owned by the worker's thread: crossbeam's `Worker`
/// is `Send` but not `Sync`, so only its owner pushes and pops.
pub struct Local<T> {
    index: usize,
    deque: Worker<T>,
    /// This worker's copy of the stealers, refreshed when `generation`
    /// moves: the spin loop then reads only cache lines that a submitter or
    /// a thief writes when there is work, never a lock word shared by every
    /// spinner (an `RwLock` read is a write to that word).
    victims: RefCell<Victims<T>>,
}

struct Victims<T> {
    generation: usize,
    stealers: Vec<Option<Stealer<T>>>,
}

impl<T> Local<T> {
    pub fn index(&self) -> usize {
        self.index
    }

    /// Pushes a task onto this worker's own deque (LIFO for the owner, FIFO
    /// for thieves), for tasks that fork tasks.
    pub fn push(&self, task: T) {
        self.deque.push(task);
    }
}

/// Counters, for `pool.stats()`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub submitted: u64,
    pub taken: u64,
    pub stolen: u64,
    pub parks: u64,
    pub wakes: u64,
}

pub struct Scheduler<T> {
    injector: Injector<T>,
    stealers: RwLock<Vec<Option<Stealer<T>>>>,
    /// Bumped (Release) after every change of `stealers`.
    generation: AtomicUsize,
    /// `stealers.len()`, readable without the lock.
    slots: AtomicUsize,
    sleep: Sleep,
    idle: AtomicUsize,
    /// Workers in the SPINNING phase: they will find new work themselves.
    spinning: AtomicUsize,
    closed: AtomicBool,
    submitted: AtomicU64,
    taken: AtomicU64,
    stolen: AtomicU64,
    stolen_by: RwLock<Vec<Arc<AtomicU64>>>,
}

impl<T: Send> Default for Scheduler<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send> Scheduler<T> {
    pub fn new() -> Self {
        Scheduler {
            injector: Injector::new(),
            stealers: RwLock::new(Vec::new()),
            generation: AtomicUsize::new(0),
            slots: AtomicUsize::new(0),
            sleep: Sleep::default(),
            idle: AtomicUsize::new(0),
            spinning: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            submitted: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            stolen: AtomicU64::new(0),
            stolen_by: RwLock::new(Vec::new()),
        }
    }

    /// Adds a worker; `waker` is called to wake it once it has parked.
    pub fn register(&self, waker: Waker) -> Local<T> {
        let deque = Worker::new_lifo();
        let mut stealers = self.stealers.write().unwrap_or_else(|e| e.into_inner());
        let index = match stealers.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None => {
                stealers.push(None);
                stealers.len() - 1
            }
        };
        stealers[index] = Some(deque.stealer());
        self.slots.store(stealers.len(), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        let victims = RefCell::new(Victims {
            generation: self.generation.load(Ordering::Acquire),
            stealers: stealers.clone(),
        });
        drop(stealers);
        let mut by = self.stolen_by.write().unwrap_or_else(|e| e.into_inner());
        while by.len() <= index {
            by.push(Arc::new(AtomicU64::new(0)));
        }
        by[index].store(0, Ordering::Relaxed);
        self.sleep.set_waker(index, waker);
        Local {
            index,
            deque,
            victims,
        }
    }

    /// Removes a worker; what is left in its deque goes back to the injector.
    pub fn unregister(&self, local: Local<T>) {
        self.stealers.write().unwrap_or_else(|e| e.into_inner())[local.index] = None;
        self.generation.fetch_add(1, Ordering::Release);
        if self.sleep.remove(local.index) {
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
        let mut moved = false;
        while let Some(t) = local.deque.pop() {
            self.injector.push(t);
            moved = true;
        }
        if moved {
            self.notify();
        }
    }

    /// Queues a task from outside the pool. False once closed.
    pub fn submit(&self, task: T) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        self.injector.push(task);
        self.submitted.fetch_add(1, Ordering::Relaxed);
        self.notify();
        true
    }

    /// Pushes a task forked by a running task onto its worker's own deque
    /// (the owner pops it first; idle workers may steal it), then wakes an
    /// idle worker to steal, if any.
    pub fn push_local(&self, local: &Local<T>, task: T) {
        local.deque.push(task);
        self.submitted.fetch_add(1, Ordering::Relaxed);
        if self.spinning.load(Ordering::SeqCst) == 0 {
            self.notify();
        }
    }

    /// Queues many tasks, then wakes as many sleepers as there are tasks
    /// (at most), once. False once closed.
    pub fn submit_many(&self, tasks: Vec<T>) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let n = tasks.len();
        for t in tasks {
            self.injector.push(t);
        }
        self.submitted.fetch_add(n as u64, Ordering::Relaxed);
        let workers = self.slots.load(Ordering::Relaxed);
        // Spinning workers will take tasks themselves: wake sleepers only
        // for the rest.
        let spinning = self.spinning.load(Ordering::SeqCst);
        for _ in 0..n.min(workers).saturating_sub(spinning) {
            if self.idle.load(Ordering::SeqCst) == 0 {
                break;
            }
            self.notify();
        }
        true
    }

    fn notify(&self) {
        if self.idle.load(Ordering::SeqCst) > 0 {
            if let Some(waker) = self.sleep.wake_one() {
                // It left PARKED: no longer idle. Call its waker outside the lock.
                self.idle.fetch_sub(1, Ordering::SeqCst);
                waker();
            }
        }
    }

    /// Wakes every sleeping worker (used at shutdown).
    pub fn notify_all(&self) {
        for waker in self.sleep.wake_all() {
            self.idle.fetch_sub(1, Ordering::SeqCst);
            if let Some(waker) = waker {
                waker();
            }
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Tasks queued and not yet taken by a worker (approximate while busy).
    pub fn queued(&self) -> usize {
        let mut n = self.injector.len();
        for s in self
            .stealers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
        {
            n += s.len();
        }
        n
    }

    /// Own deque first, then a batch from the injector, then the other workers.
    pub fn find(&self, local: &Local<T>) -> Option<T> {
        let task = local.deque.pop().or_else(|| self.steal(local));
        if task.is_some() {
            self.taken.fetch_add(1, Ordering::Relaxed);
        }
        task
    }

    fn steal(&self, local: &Local<T>) -> Option<T> {
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(&local.deque) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            self.refresh_victims(local);
            let victims = local.victims.borrow();
            let stealers = &victims.stealers;
            let n = stealers.len();
            for k in 1..n {
                let victim = (local.index + k) % n;
                if let Some(s) = &stealers[victim] {
                    let before = local.deque.len();
                    match s.steal_batch_and_pop(&local.deque) {
                        Steal::Success(t) => {
                            // A batch moved: the task returned plus what was
                            // added to our deque. Count tasks, not steals.
                            let moved = (local.deque.len() + 1).saturating_sub(before) as u64;
                            self.stolen.fetch_add(moved, Ordering::Relaxed);
                            if let Some(c) = self
                                .stolen_by
                                .read()
                                .unwrap_or_else(|e| e.into_inner())
                                .get(local.index)
                            {
                                c.fetch_add(moved, Ordering::Relaxed);
                            }
                            return Some(t);
                        }
                        Steal::Retry => retry = true,
                        Steal::Empty => {}
                    }
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Brings `local`'s copy of the stealers up to date.
    fn refresh_victims(&self, local: &Local<T>) {
        let generation = self.generation.load(Ordering::Acquire);
        let mut victims = local.victims.borrow_mut();
        if victims.generation != generation {
            let stealers = self.stealers.read().unwrap_or_else(|e| e.into_inner());
            // Read under the lock: a writer bumps it before releasing.
            victims.generation = self.generation.load(Ordering::Acquire);
            victims.stealers = stealers.clone();
        }
    }

    /// Whether every queue `local` may take from looks empty. Loads only (no
    /// lock, no epoch pin), for the spin loop; a task that arrives just after
    /// the look is seen on the next one, or by `find` before sleeping.
    fn looks_empty(&self, local: &Local<T>) -> bool {
        if !local.deque.is_empty() || !self.injector.is_empty() {
            return false;
        }
        self.refresh_victims(local);
        let victims = local.victims.borrow();
        victims.stealers.iter().flatten().all(|s| s.is_empty())
    }

    /// Finds a task, spinning at most `spin` (SPINNING), then waiting at most
    /// `wait` in native code (WAITING). `None` means the caller should `park`.
    pub fn find_or_wait(&self, local: &Local<T>, spin: Duration, wait: Duration) -> Option<T> {
        if let Some(t) = self.find(local) {
            return Some(t);
        }
        if !spin.is_zero() {
            // SPINNING, for at most `spin`: a sleeping thread takes tens of
            // microseconds to wake on a virtual machine, far longer than the
            // gap between two tasks of a busy caller. Bounded, and only right
            // after running a task, so an idle pool never spins. Submitters
            // that see a spinner do not wake a sleeper for the same task.
            self.spinning.fetch_add(1, Ordering::SeqCst);
            let start = Instant::now();
            while start.elapsed() < spin {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                if self.looks_empty(local) {
                    continue;
                }
                if let Some(t) = self.find(local) {
                    self.spinning.fetch_sub(1, Ordering::SeqCst);
                    return Some(t);
                }
            }
            // Announce idleness before leaving SPINNING, then look once more
            // (below): a submitter that skipped its wake because we were
            // spinning pushed before it read `spinning`, so we see its task.
            self.idle.fetch_add(1, Ordering::SeqCst);
            self.spinning.fetch_sub(1, Ordering::SeqCst);
            if let Some(t) = self.find(local) {
                self.idle.fetch_sub(1, Ordering::SeqCst);
                return Some(t);
            }
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
        if wait.is_zero() || self.is_closed() {
            return None;
        }
        self.idle.fetch_add(1, Ordering::SeqCst);
        let found = self.find(local).or_else(|| {
            self.sleep.wait(wait);
            self.find(local)
        });
        self.idle.fetch_sub(1, Ordering::SeqCst);
        found
    }

    /// Parks the worker (PARKED) unless work turned up in the meantime, in
    /// which case that task is returned and the worker stays RUNNING. After
    /// `park` returns `None` the worker returns to its event loop; its waker
    /// will be called when work arrives.
    pub fn park(&self, local: &Local<T>) -> Option<T> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        self.sleep.park(local.index);
        if let Some(t) = self.find(local) {
            // Work arrived between the last look and parking: stay awake.
            if self.sleep.unpark(local.index) {
                self.idle.fetch_sub(1, Ordering::SeqCst);
            }
            // else: a submitter already woke us (and decremented `idle`); that
            // wake will arrive as a spurious one.
            return Some(t);
        }
        None
    }

    pub fn counters(&self) -> Counters {
        let (parks, wakes) = self.sleep.counters();
        Counters {
            submitted: self.submitted.load(Ordering::Relaxed),
            taken: self.taken.load(Ordering::Relaxed),
            stolen: self.stolen.load(Ordering::Relaxed),
            parks,
            wakes,
        }
    }

    /// Tasks each worker stole from another worker's deque, by worker index.
    pub fn stolen_by_worker(&self) -> Vec<u64> {
        self.stolen_by
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests;
