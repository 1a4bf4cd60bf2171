//! The sleep protocol: SPINNING, WAITING and PARKED workers, the counters
//! submitters read, permits and wakers. The queues themselves are not here:
//! each worker-side step takes a `find` closure that looks in them, so the
//! protocol is model-checked with a stand-in queue (the `loom_model` tests
//! below) and runs with crossbeam's deques in production (`mod.rs`). The
//! argument for why no wake-up is lost is in `mod.rs`; the fences it rests
//! on are the two `fence(SeqCst)` calls here, one on each side.
//!
//! # Counters
//!
//! * `idle`: workers WAITING or PARKED, or between announcing it and their
//!   last look. A worker increments it before its last look; whoever takes
//!   a worker off the parked list decrements it for that worker; a WAITING
//!   worker decrements it itself when its wait ends.
//! * `spinning`: workers SPINNING. A submitter that sees one skips a wake,
//!   because a spinner takes one more look after it stops spinning.
//!
//! # Permits
//!
//! `permits` closes the window between a worker announcing itself idle and
//! actually blocking: a notification that finds no one blocked leaves a
//! permit, and the next `wait` consumes it instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use crate::sync::{
    fence, lock, wait_timeout_while, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
};

/// Wakes one parked worker (a threadsafe-function call into its environment).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    wakers: Vec<Option<Waker>>,
    parked: Vec<usize>,
    waiting: usize,
    permits: usize,
    /// Set by `close`: no worker blocks from then on.
    closed: bool,
    parks: u64,
    wakes: u64,
}

#[derive(Default)]
pub(super) struct Sleep {
    state: Mutex<State>,
    cond: Condvar,
    idle: AtomicUsize,
    spinning: AtomicUsize,
}

impl Sleep {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn set_waker(&self, index: usize, waker: Waker) {
        let mut s = self.lock();
        while s.wakers.len() <= index {
            s.wakers.push(None);
        }
        s.wakers[index] = Some(waker);
    }

    /// Forgets a worker (it is leaving the pool); if it was parked, it no
    /// longer counts as idle.
    pub fn remove(&self, index: usize) {
        let was_parked = {
            let mut s = self.lock();
            if let Some(w) = s.wakers.get_mut(index) {
                *w = None;
            }
            let was = s.parked.iter().position(|&i| i == index);
            if let Some(p) = was {
                s.parked.swap_remove(p);
            }
            was.is_some()
        };
        if was_parked {
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
    }

    // ─── Submitter side ──────────────────────────────────────────────────

    /// Called after pushing `n` tasks where any worker may take them (the
    /// injector): wakes up to `n` sleepers, at most `workers`, fewer the
    /// spinners (they find the tasks themselves).
    pub fn tasks_injected(&self, n: usize, workers: usize) {
        // Orders the pushes before the loads of `spinning` and `idle`,
        // against the worker's fence between its announcement and its last
        // look (`mod.rs`). Without it, nothing in the memory model stops
        // these loads from reading values older than a worker's
        // announcement while that worker's look misses the push.
        fence(Ordering::SeqCst);
        let spinning = self.spinning.load(Ordering::SeqCst);
        for _ in 0..n.min(workers).saturating_sub(spinning) {
            if !self.wake_one_idle() {
                break;
            }
        }
    }

    /// Called after pushing onto the caller's own deque: wakes a sleeper
    /// to steal, if one is seen and nobody spins. A hint only (no fence): a
    /// sleeper may overlook the task, and then its owner runs it (`mod.rs`,
    /// "Local pushes").
    pub fn task_pushed_locally(&self) {
        if self.spinning.load(Ordering::Relaxed) == 0 {
            self.wake_one_idle();
        }
    }

    /// Wakes one idle worker if `idle` says there is one; false if not.
    fn wake_one_idle(&self) -> bool {
        if self.idle.load(Ordering::SeqCst) == 0 {
            return false;
        }
        if let Some(waker) = self.wake_one() {
            // It left PARKED: no longer idle. Call its waker outside the lock.
            self.idle.fetch_sub(1, Ordering::SeqCst);
            waker();
        }
        true
    }

    /// Wakes one sleeper: a WAITING one if any (cheap), else a PARKED one,
    /// whose waker is returned for the caller to invoke outside the lock.
    fn wake_one(&self) -> Option<Waker> {
        let mut s = self.lock();
        if s.waiting > s.permits {
            s.permits += 1;
            drop(s);
            self.cond.notify_one();
            return None;
        }
        if let Some(index) = s.parked.pop() {
            s.wakes += 1;
            return s.wakers.get(index).cloned().flatten();
        }
        // Someone is between announcing itself idle and sleeping: leave a
        // permit (bounded by the number of workers).
        if s.permits < s.wakers.len() {
            s.permits += 1;
        }
        None
    }

    /// Wakes everyone (at shutdown): every WAITING worker returns, every
    /// PARKED one is taken off the list and its waker called, and no worker
    /// blocks from now on (one that announced itself idle but has not
    /// blocked yet would otherwise wait out its whole slice).
    pub fn close(&self) {
        let wakers: Vec<Option<Waker>> = {
            let mut s = self.lock();
            s.closed = true;
            s.permits = s.waiting;
            let parked = std::mem::take(&mut s.parked);
            s.wakes += parked.len() as u64;
            parked
                .iter()
                .map(|&i| s.wakers.get(i).cloned().flatten())
                .collect()
        };
        self.cond.notify_all();
        for waker in wakers {
            self.idle.fetch_sub(1, Ordering::SeqCst);
            if let Some(waker) = waker {
                waker();
            }
        }
    }

    // ─── Worker side ─────────────────────────────────────────────────────

    /// Enters SPINNING (only loads of the queues until `stop_spinning`).
    pub fn start_spinning(&self) {
        self.spinning.fetch_add(1, Ordering::SeqCst);
    }

    /// Leaves SPINNING with a task in hand.
    pub fn spun_and_found(&self) {
        self.spinning.fetch_sub(1, Ordering::SeqCst);
    }

    /// Leaves SPINNING with nothing found: announces idleness first, then
    /// looks once more with `find` (a submitter that skipped its wake
    /// because we were spinning pushed before it read `spinning`).
    pub fn stop_spinning<T>(&self, find: impl FnOnce() -> Option<T>) -> Option<T> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        self.spinning.fetch_sub(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let found = find();
        self.idle.fetch_sub(1, Ordering::SeqCst);
        found
    }

    /// WAITING: announces idleness, looks with `find`, and if nothing is
    /// there blocks for at most `limit` (or until notified) and looks again.
    pub fn wait<T>(&self, limit: Duration, mut find: impl FnMut() -> Option<T>) -> Option<T> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        // The worker's fence: see `tasks_injected`.
        fence(Ordering::SeqCst);
        let found = find().or_else(|| {
            self.block(limit);
            find()
        });
        self.idle.fetch_sub(1, Ordering::SeqCst);
        found
    }

    /// Blocks for at most `limit` unless a permit is available.
    fn block(&self, limit: Duration) {
        let mut s = self.lock();
        if s.closed {
            return;
        }
        if s.permits > 0 {
            s.permits -= 1;
            return;
        }
        s.waiting += 1;
        let (mut s, _) = wait_timeout_while(&self.cond, s, limit, |s| s.permits == 0);
        s.waiting -= 1;
        if s.permits > 0 {
            s.permits -= 1;
        }
    }

    /// PARKED: announces idleness, goes on the parked list, and looks once
    /// more with `find`. With a task in hand the worker takes itself off
    /// the list again and stays RUNNING; `None` means it is parked and its
    /// waker will be called when work arrives.
    pub fn park<T>(&self, index: usize, find: impl FnOnce() -> Option<T>) -> Option<T> {
        self.idle.fetch_add(1, Ordering::SeqCst);
        {
            let mut s = self.lock();
            s.parked.push(index);
            s.parks += 1;
        }
        fence(Ordering::SeqCst);
        let found = find()?;
        // Work arrived between the last look and parking: stay awake.
        let still_listed = {
            let mut s = self.lock();
            match s.parked.iter().position(|&i| i == index) {
                Some(p) => {
                    s.parked.swap_remove(p);
                    true
                }
                None => false,
            }
        };
        if still_listed {
            self.idle.fetch_sub(1, Ordering::SeqCst);
        }
        // else: a submitter already took us off the list (and decremented
        // `idle`); its wake will arrive as a spurious one.
        Some(found)
    }

    /// Workers counted idle now (for tests).
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::SeqCst)
    }

    pub fn counters(&self) -> (u64, u64) {
        let s = self.lock();
        (s.parks, s.wakes)
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! The protocol against a stand-in queue: a count of tasks, pushed with
    //! Release and taken with an Acquire CAS (weaker than crossbeam's
    //! injector, so the fences above carry the proof, not the queue).
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::{Arc as LArc, Condvar as LCondvar, Mutex as LMutex};

    #[derive(Default)]
    struct World {
        sleep: Sleep,
        queued: AtomicUsize,
        done: AtomicUsize,
        closed: AtomicBool,
    }

    impl World {
        fn take(&self) -> Option<()> {
            let mut n = self.queued.load(Ordering::Acquire);
            while n > 0 {
                match self
                    .queued
                    .compare_exchange(n, n - 1, Ordering::Acquire, Ordering::Acquire)
                {
                    Ok(_) => return Some(()),
                    Err(now) => n = now,
                }
            }
            None
        }

        fn submit(&self, workers: usize) {
            self.queued.fetch_add(1, Ordering::Release);
            self.sleep.tasks_injected(1, workers);
        }
    }

    /// A worker's event loop: woken (its waker called) or not yet.
    #[derive(Default)]
    struct Loop {
        woken: LMutex<bool>,
        cond: LCondvar,
    }

    impl Loop {
        fn wake(&self) {
            *self.woken.lock().unwrap() = true;
            self.cond.notify_one();
        }

        fn sleep_until_woken(&self) {
            let mut w = self.woken.lock().unwrap();
            while !*w {
                w = self.cond.wait(w).unwrap();
            }
            *w = false;
        }
    }

    /// The worker of `mod.rs`: spin (optionally), wait (optionally), park,
    /// and sleep in its event loop until woken; stops once the pool closes.
    /// The worker that runs the last of `tasks` closes the pool.
    fn worker(world: &World, lp: &Loop, index: usize, spin: bool, wait: bool, tasks: usize) {
        loop {
            let found = world.take().or_else(|| {
                let spun = if spin {
                    world.sleep.start_spinning();
                    match world.take() {
                        Some(t) => {
                            world.sleep.spun_and_found();
                            Some(t)
                        }
                        None => world.sleep.stop_spinning(|| world.take()),
                    }
                } else {
                    None
                };
                spun.or_else(|| {
                    if wait && !world.closed.load(Ordering::Acquire) {
                        world.sleep.wait(Duration::from_millis(1), || world.take())
                    } else {
                        None
                    }
                })
                .or_else(|| world.sleep.park(index, || world.take()))
            });
            if found.is_some() {
                if world.done.fetch_add(1, Ordering::AcqRel) + 1 == tasks {
                    world.closed.store(true, Ordering::Release);
                    world.sleep.close();
                }
                continue;
            }
            if world.closed.load(Ordering::Acquire) {
                return;
            }
            lp.sleep_until_woken();
        }
    }

    /// Runs `tasks` submissions from the main thread against workers
    /// configured by `modes` (spin, wait). A lost wake-up shows as a
    /// deadlock that loom reports: every worker asleep in its event loop
    /// while a task sits in the queue.
    fn run(modes: &'static [(bool, bool)], tasks: usize) {
        loom::model(move || {
            let world = LArc::new(World::default());
            let loops: Vec<LArc<Loop>> = modes.iter().map(|_| LArc::default()).collect();
            for (i, lp) in loops.iter().enumerate() {
                let lp = lp.clone();
                world.sleep.set_waker(i, Arc::new(move || lp.wake()));
            }
            let handles: Vec<_> = modes
                .iter()
                .enumerate()
                .map(|(i, &(spin, wait))| {
                    let world = world.clone();
                    let lp = loops[i].clone();
                    loom::thread::spawn(move || worker(&world, &lp, i, spin, wait, tasks))
                })
                .collect();
            for _ in 0..tasks {
                world.submit(modes.len());
            }
            for h in handles {
                h.join().unwrap();
            }
            assert_eq!(world.queued.load(Ordering::Acquire), 0);
            assert_eq!(world.done.load(Ordering::Acquire), tasks);
        });
    }

    #[test]
    fn a_parking_worker_never_misses_a_task() {
        run(&[(false, false)], 1);
    }

    #[test]
    fn a_waiting_worker_never_misses_a_task() {
        run(&[(false, true)], 1);
    }

    #[test]
    fn a_spinning_worker_never_misses_a_task() {
        run(&[(true, false)], 1);
    }

    #[test]
    fn a_worker_that_spins_then_waits_never_misses_a_task() {
        run(&[(true, true)], 1);
    }

    #[test]
    fn two_workers_two_tasks_no_lost_wake() {
        run(&[(false, true), (false, false)], 2);
    }
}
