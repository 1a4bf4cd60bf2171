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
//!   WAITING  bounded condvar wait (≤ `wait`) ─┤  notified by submit_many()
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
//! `idle` counts workers that are WAITING or PARKED; `spinning` those that
//! are SPINNING (both in `sleep.rs`, which holds every step below).
//!
//! * Worker, before sleeping: `idle += 1`, `fence(SeqCst)`, *then* look at
//!   the queues once more.
//! * Submitter (`submit_many`, and `unregister` returning a leaving
//!   worker's tasks): push the tasks, `fence(SeqCst)`, *then* read
//!   `spinning` and `idle`; while `idle` is non-zero, lock the sleep state
//!   and notify one WAITING worker or wake one PARKED worker. Seeing
//!   `spinning` workers, it skips that many wakes: a SPINNING worker polls
//!   the queues, and before it stops spinning it increments `idle`,
//!   decrements `spinning`, fences and looks once more.
//!
//! The two fences are ordered one way or the other. If the submitter's comes
//! first, the worker's look after its own fence sees the push; if the
//! worker's comes first, the submitter's reads after its fence see the
//! worker's `idle` increment (or `spinning` decrement) and it wakes someone.
//! Either way a task never sits in a queue while every worker sleeps. The
//! proof needs nothing of the queue but that a push is a write and a look is
//! a read of it: the fences, as in rayon's sleep module, give the order (the
//! injector's own atomics happen to be SeqCst today; we do not rely on it).
//! The loom model in `sleep.rs` checks it with a queue whose push is only
//! a Release store. The common case of a busy pool costs the submitter one
//! fence and a load or two — no lock per task.
//!
//! A woken worker may find nothing (another worker took the task): it parks
//! again. That spurious wake is the price of never losing one.
//!
//! # Local pushes
//!
//! A task forked by a running task goes onto its worker's own deque
//! (`push_local`) and only *hints* sleepers: no fence, one load of
//! `spinning` and `idle`, and a wake if they say so. A sleeper may overlook
//! such a task; that is allowed, because its owner runs it: a worker looks
//! at its own deque first, and never waits or parks while that deque holds
//! anything (`find` pops it before any wait or park). Other workers only
//! help by stealing. Tasks that the owner will *not* run — those left in
//! the deque of a worker that leaves the pool — go to the injector with the
//! full protocol (`unregister`).
//!
//! # How long to spin
//!
//! `spin.rs` decides: a worker spins only right after a task, and not while
//! the pool *holds* because most recent spins came up empty (a busy
//! machine, or tasks that come seldom) or other processes keep every core
//! busy. Whether anyone spins never matters to the protocol above: a
//! spinner is counted in `spinning`, and leaves SPINNING through
//! `stop_spinning`, whichever way its spin ends.
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
//! 1. `close()` refuses new submissions and wakes every sleeper; no worker
//!    blocks after it (JavaScript stops calling `submitBatch`).
//! 2. Workers drain what is queued; the pool knows when from its own count
//!    of pending tasks (JavaScript settles each one).
//! 3. Each worker `unregister`s on exit; tasks left in its local deque go
//!    back to the injector, so a dying worker loses no queued task.

mod sleep;
mod spin;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use sleep::Sleep;
pub use sleep::Waker;
pub use spin::WaitPolicy;
use spin::{Contention, SpinPolicy, Spun};

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
    /// How long this worker spins next (`spin.rs`).
    spin: SpinPolicy,
}

struct Victims<T> {
    generation: usize,
    stealers: Vec<Option<Stealer<T>>>,
}

/// Counters, for `pool.stats()`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub submitted: u64,
    pub taken: u64,
    pub stolen: u64,
    pub parks: u64,
    pub wakes: u64,
    /// Spins after a task (`spin.rs`), those that found a task, and times
    /// the pool stopped spinning and polling.
    pub spins: u64,
    pub spins_found: u64,
    pub holds: u64,
}

pub struct Scheduler<T> {
    injector: Injector<T>,
    stealers: RwLock<Vec<Option<Stealer<T>>>>,
    /// Bumped (Release) after every change of `stealers`.
    generation: AtomicUsize,
    /// `stealers.len()`, readable without the lock.
    registered: AtomicUsize,
    /// Who sleeps, and the counters submitters read (`sleep.rs`).
    sleep: Sleep,
    /// The spin policy's hold and counters (`spin.rs`).
    contention: Contention,
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
            registered: AtomicUsize::new(0),
            sleep: Sleep::default(),
            contention: Contention::default(),
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
        let mut stealers = crate::lock::write(&self.stealers);
        let index = match stealers.iter().position(|s| s.is_none()) {
            Some(i) => i,
            None => {
                stealers.push(None);
                stealers.len() - 1
            }
        };
        stealers[index] = Some(deque.stealer());
        self.registered.store(stealers.len(), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Release);
        let victims = RefCell::new(Victims {
            generation: self.generation.load(Ordering::Acquire),
            stealers: stealers.clone(),
        });
        drop(stealers);
        let mut by = crate::lock::write(&self.stolen_by);
        while by.len() <= index {
            by.push(Arc::new(AtomicU64::new(0)));
        }
        by[index].store(0, Ordering::Relaxed);
        self.sleep.set_waker(index, waker);
        Local {
            index,
            deque,
            victims,
            spin: SpinPolicy::default(),
        }
    }

    /// Removes a worker; what is left in its deque goes back to the injector.
    pub fn unregister(&self, local: Local<T>) {
        crate::lock::write(&self.stealers)[local.index] = None;
        self.generation.fetch_add(1, Ordering::Release);
        self.sleep.remove(local.index);
        // Its owner is leaving and will not run these: they go where every
        // worker looks, with the full wake-up protocol.
        let mut moved = 0;
        while let Some(t) = local.deque.pop() {
            self.injector.push(t);
            moved += 1;
        }
        if moved > 0 {
            self.sleep
                .tasks_injected(moved, self.registered.load(Ordering::Relaxed));
        }
    }

    /// Pushes a task forked by a running task onto its worker's own deque
    /// (the owner pops it first; idle workers may steal it), then wakes an
    /// idle worker to steal, if one is seen (see "Local pushes").
    pub fn push_local(&self, local: &Local<T>, task: T) {
        local.deque.push(task);
        self.submitted.fetch_add(1, Ordering::Relaxed);
        self.sleep.task_pushed_locally();
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
        self.sleep
            .tasks_injected(n, self.registered.load(Ordering::Relaxed));
        true
    }

    /// Refuses further submissions and wakes every sleeping worker.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.sleep.close();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Tasks queued and not yet taken by a worker (approximate while busy).
    pub fn queued(&self) -> usize {
        let mut n = self.injector.len();
        for s in crate::lock::read(&self.stealers).iter().flatten() {
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
                            if let Some(c) = crate::lock::read(&self.stolen_by).get(local.index) {
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
            let stealers = crate::lock::read(&self.stealers);
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

    /// Finds a task, spinning at most `spin` (SPINNING; not while the pool
    /// holds, see `spin.rs`), then waiting at most `wait` in native code
    /// (WAITING). `None` means the caller should `park`. (The pool's
    /// worker takes the two steps itself, between them asking its wait
    /// policy whether to wait: `pool/worker.rs`.)
    #[cfg(test)]
    pub fn find_or_wait(&self, local: &Local<T>, spin: Duration, wait: Duration) -> Option<T> {
        self.find_or_spin(local, spin)
            .or_else(|| self.wait_for(local, wait))
    }

    /// Looks for a task, then spins for one (as the spin policy allows).
    pub fn find_or_spin(&self, local: &Local<T>, spin: Duration) -> Option<T> {
        if let Some(t) = self.find(local) {
            return Some(t);
        }
        let c = &self.contention;
        let now = c.now_us();
        if !spin.is_zero() {
            c.look_at_machine(now);
        }
        if !spin.is_zero() && !c.held_at(now) {
            // SPINNING, for at most `spin`: a sleeping thread takes tens
            // of microseconds to wake on a virtual machine, far longer than
            // the gap between two tasks of a busy caller. Bounded, and only
            // right after running a task, so an idle pool never spins.
            // Submitters that see a spinner do not wake a sleeper for the
            // same task.
            self.sleep.start_spinning();
            let found = self.spin_for(local, spin);
            if let Some(t) = found {
                local.spin.spun(Spun::Found, c, c.now_us());
                self.sleep.spun_and_found();
                return Some(t);
            }
            // Announce idleness before leaving SPINNING, then look once more:
            // a submitter that skipped its wake because we were spinning
            // pushed before it read `spinning`, so we see its task.
            if let Some(t) = self.sleep.stop_spinning(|| self.find(local)) {
                local.spin.spun(Spun::Found, c, c.now_us());
                return Some(t);
            }
            local.spin.spun(Spun::Empty, c, c.now_us());
        }
        None
    }

    /// WAITING for at most `wait` (the sleep protocol's condvar); `None`
    /// when it passed, or at once when `wait` is zero or the pool closed.
    pub fn wait_for(&self, local: &Local<T>, wait: Duration) -> Option<T> {
        if wait.is_zero() || self.is_closed() {
            return None;
        }
        self.sleep.wait(wait, || self.find(local))
    }

    /// The spin loop: loads only, until a task is found, `budget` passes, or the clock jumps by more than `spin::GAP` between two looks
    /// (the thread was switched out: another thread wants this CPU).
    fn spin_for(&self, local: &Local<T>, budget: Duration) -> Option<T> {
        let start = Instant::now();
        let mut last = Duration::ZERO;
        loop {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
            let now = start.elapsed();
            if now - last > spin::GAP {
                return None;
            }
            last = now;
            if !self.looks_empty(local) {
                if let Some(t) = self.find(local) {
                    return Some(t);
                }
            }
            if now >= budget {
                return None;
            }
        }
    }

    /// Whether spins came up empty lately: the pool neither spins nor polls
    /// for results meanwhile (`spin.rs`, rule 5).
    pub fn contended(&self) -> bool {
        self.contention.held()
    }

    /// Parks the worker (PARKED) unless work turned up in the meantime, in
    /// which case that task is returned and the worker stays RUNNING. After
    /// `park` returns `None` the worker returns to its event loop; its waker
    /// will be called when work arrives.
    pub fn park(&self, local: &Local<T>) -> Option<T> {
        self.sleep.park(local.index, || self.find(local))
    }

    pub fn counters(&self) -> Counters {
        let (parks, wakes) = self.sleep.counters();
        Counters {
            submitted: self.submitted.load(Ordering::Relaxed),
            taken: self.taken.load(Ordering::Relaxed),
            stolen: self.stolen.load(Ordering::Relaxed),
            parks,
            wakes,
            spins: self.contention.spins.load(Ordering::Relaxed),
            spins_found: self.contention.found.load(Ordering::Relaxed),
            holds: self.contention.holds.load(Ordering::Relaxed)
                + self.contention.machine_holds.load(Ordering::Relaxed),
        }
    }

    /// Tasks each worker stole from another worker's deque, by worker index.
    pub fn stolen_by_worker(&self) -> Vec<u64> {
        crate::lock::read(&self.stolen_by)
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

#[cfg(test)]
mod tests;
